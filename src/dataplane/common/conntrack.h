/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Stale UDP conntrack entries, for every data plane that DNATs in the kernel
 * (iptables, nftables, IPVS).  UDP has no connection to reset: a conntrack
 * entry DNATed to an endpoint that is gone, or created while a service had
 * no endpoints (and so matched no DNAT), keeps steering a client's datagrams
 * into the void until it times out.  After each successful sync, the data
 * plane hands this module the view it applied; the module compares it with
 * the UDP service ports it recorded at the previous sync and deletes exactly
 * those entries with the conntrack tool (`conntrack -D -f ipv4|ipv6 -p udp
 * ...`), as kube-proxy's conntrack cleanup does.  It knows nothing of how
 * the data plane programs the kernel.
 */
#ifndef KROUTE_DATAPLANE_COMMON_CONNTRACK_H
#define KROUTE_DATAPLANE_COMMON_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/strmap.h"

struct node_view;
struct diag;

/* One UDP service port as last applied. */
struct conntrack_udp_port {
	char *key;           /* "ns/name:port:number/family" */
	struct addr *vips;   /* service IPs this port answers on (cluster, external, LB) */
	size_t n_vips;
	uint16_t port, node_port;
	struct addr *eps;    /* endpoint IPs */
	size_t n_eps;
};

/* The UDP service ports of one IP family as the last successful sync applied them. */
struct conntrack_udp_mirror {
	struct conntrack_udp_port *ports;
	size_t n;
	struct strmap index;  /* key -> 1 + position in ports */
};

void conntrack_udp_mirror_init(struct conntrack_udp_mirror *m);
void conntrack_udp_mirror_done(struct conntrack_udp_mirror *m);

/*
 * Call after v was applied for family (AF_INET or AF_INET6): runs
 * `conntrack -D` (program: the conntrack tool; NULL skips deleting) for
 * each UDP flow that v leaves stale against m: flows DNATed to an endpoint
 * a port lost, and flows to a port's addresses recorded while it had no
 * endpoints and it has some now.  Then m becomes v's UDP ports.  An empty m
 * (first sync) deletes nothing.  Each run is bounded (10 s).  Returns 0;
 * -ENOENT when the program cannot be run (a warning is added to d; the
 * caller should then stop passing it); another -errno (e.g. -ETIMEDOUT)
 * when one run failed this time: warned, the rest of this round skipped,
 * and the mirror still moves on to v.
 */
int conntrack_flush_stale_udp(struct conntrack_udp_mirror *m, const struct node_view *v,
			      int family, const char *program, struct diag *d);

#endif
