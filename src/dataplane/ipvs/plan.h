/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPVS mode's planner: the per-node view (policy.h) as the kernel
 * objects kube-proxy's IPVS mode would make of it, for one IP family:
 *
 * - one virtual service per forwarding route and address: the cluster IP,
 *   each NodePort address (the node's addresses --nodeport-addresses
 *   selects), each load-balancer IP and externalIP, with the route's port
 *   and protocol; its real servers are the route's endpoints, forwarded by
 *   masquerading (IPVS NAT), weighted by kroute.io/endpoint-weights;
 * - its scheduler (the service's, mapped to the kernel's names: IPVS has
 *   no "random", so kroute's default becomes rr, as kube-proxy's default)
 *   with the sh/mh flags, and ClientIP affinity as persistence with the
 *   service's timeout;
 * - the addresses the kube-ipvs0 link holds (every cluster, external and
 *   load-balancer IP the view programs), so they are local to the node;
 * - the keys of the few filter and NAT rules IPVS cannot express (rules.h):
 *   routes that drop or reject, load-balancer source ranges, which
 *   addresses are masqueraded, and the hairpin (endpoint to itself) pairs.
 *
 * Pure: no I/O; the caller lists the node's addresses.
 */
#ifndef KROUTE_DATAPLANE_IPVS_PLAN_H
#define KROUTE_DATAPLANE_IPVS_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/strmap.h"

struct node_view;

#define IPVS_SCHED_NAMELEN 16  /* IP_VS_SCHEDNAME_MAXLEN */
#define IPVS_KEY_LEN 80        /* "udp [fd00::1]:53" */

/*
 * kroute's firewall marks: a fwmark virtual service per externalTrafficPolicy
 * Local port, for the pods' and the node's own traffic to its external
 * addresses, which goes to every endpoint (as kube-proxy's iptables mode
 * short-circuits it) while outside clients get the local ones.  The nft
 * rules set the mark; IPVS looks fwmark services up first.
 */
#define IPVS_FWMARK_BASE 0x20000000u
#define IPVS_FWMARK_MASK 0xf0000000u

/* What identifies a virtual service in the kernel. */
struct ipvs_svc_key {
	uint8_t family;        /* AF_INET / AF_INET6 */
	uint8_t proto;         /* IPPROTO_TCP, _UDP, _SCTP; 0 for a fwmark service */
	uint16_t port;
	struct addr addr;
	uint32_t fwmark;       /* a fwmark service (proto, port and addr unset); 0: none */
};

/* A virtual service's settings (IPVS_CMD_SET_SERVICE changes them in place). */
struct ipvs_svc_conf {
	char sched[IPVS_SCHED_NAMELEN];
	uint32_t flags;        /* IP_VS_SVC_F_PERSISTENT, _SCHED1, _SCHED2 */
	uint32_t timeout;      /* persistence, seconds (0 without) */
};

struct ipvs_dest {
	struct addr addr;
	uint16_t port;
	uint32_t weight;
	/* Mirror only: mono_ns when the dest left the plan and got weight 0; 0 = live. */
	uint64_t drain_since;
	uint32_t conns;        /* active + inactive connections as last read (draining dests) */
};

struct ipvs_svc {
	struct ipvs_svc_key key;
	struct ipvs_svc_conf conf;
	struct ipvs_dest *dests;  /* owned; sorted by address, port */
	size_t n_dests;
	char *owner;              /* owned: "ns/name:port/PROTO" for messages */
};

/* Virtual services by key: an array sorted by key and an index. */
struct ipvs_table {
	struct ipvs_svc *v;
	size_t n, cap;
	struct strmap idx;        /* ipvs_key_format() -> 1 + position (keys owned) */
};

/* One filter/NAT rule key: address, protocol, port (and a source range for source ranges). */
struct ipvs_rule_key {
	struct addr addr;
	uint8_t proto;
	uint16_t port;
	struct cidr src;          /* fw_allow: the allowed range; loopback: the endpoint's address */
	uint32_t mark;            /* shortcut: the fwmark service's mark */
};

struct ipvs_keys {
	struct ipvs_rule_key *v;
	size_t n, cap;
};

enum ipvs_rule_set {
	IPVS_SET_CLUSTER,   /* cluster IP ports that forward: masqueraded from outside the cluster CIDR */
	IPVS_SET_MASQ,      /* external ports that forward and masquerade (externalTrafficPolicy Cluster) */
	IPVS_SET_DROP,      /* routes that drop (Local policy, no local endpoint) */
	IPVS_SET_REJECT,    /* routes that reject (no endpoint anywhere) */
	IPVS_SET_FW,        /* load-balancer ports with source ranges */
	IPVS_SET_FW_ALLOW,  /* their allowed (port, source range) pairs */
	IPVS_SET_LOOPBACK,  /* endpoint address, protocol, port, same address: hairpin */
	IPVS_SET_SHORTCUT,  /* eTP Local external ports -> the mark of their fwmark service */
	IPVS_SET_N,
};

struct ipvs_plan {
	int family;
	struct ipvs_table svcs;
	struct addr *link_addrs;  /* for kube-ipvs0, sorted, unique */
	size_t n_link_addrs, cap_link_addrs;
	struct ipvs_keys sets[IPVS_SET_N];
	char **warnings;          /* owned: conflicts (two services on one address and port) */
	size_t n_warnings, cap_warnings;
};

struct ipvs_plan_opts {
	int family;
	/* Addresses that take NodePorts (already filtered by --nodeport-addresses). */
	const struct addr *nodeport_addrs;
	size_t n_nodeport_addrs;
	/* --ipvs-scheduler / --scheduler when a service names none the kernel has: rr. */
};

void ipvs_table_init(struct ipvs_table *t);
void ipvs_table_done(struct ipvs_table *t);
/* The service with key k, or NULL. */
struct ipvs_svc *ipvs_table_get(const struct ipvs_table *t, const struct ipvs_svc_key *k);
/* Adds s (moved in; its owner and dests now belong to t); s's key must be new. */
struct ipvs_svc *ipvs_table_add(struct ipvs_table *t, struct ipvs_svc *s);
/* Sorts by key and rebuilds the index (after adds in any order). */
void ipvs_table_sort(struct ipvs_table *t);
void ipvs_svc_done(struct ipvs_svc *s);
/* A deep copy of s into *ret. */
void ipvs_svc_copy(const struct ipvs_svc *s, struct ipvs_svc *ret);

void ipvs_key_format(const struct ipvs_svc_key *k, char buf[IPVS_KEY_LEN]);
int ipvs_key_cmp(const struct ipvs_svc_key *a, const struct ipvs_svc_key *b);
int ipvs_dest_cmp(const struct ipvs_dest *a, const struct ipvs_dest *b);

void ipvs_plan_init(struct ipvs_plan *p, int family);
void ipvs_plan_done(struct ipvs_plan *p);
/* Plans v's ports of o->family into p (initialised by the caller). */
void ipvs_plan_build(const struct node_view *v, const struct ipvs_plan_opts *o, struct ipvs_plan *p);

#endif
