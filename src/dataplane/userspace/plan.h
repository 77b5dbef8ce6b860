/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The userspace proxy's service table, built from a node view: which
 * addresses kroute0 must hold, which sockets to listen on, which endpoint
 * set (a "proxy service", with its scheduler) each listener sends to, and
 * which flows the kernel must drop.  Pure: no I/O, no clock; the caller
 * passes the node's addresses.  dp_userspace.c applies it.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_PLAN_H
#define KROUTE_DATAPLANE_USERSPACE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/strmap.h"
#include "policy/policy.h"
#include "sched/sched.h"

#define US_NO_SVC SIZE_MAX

struct us_plan_ep {
	struct addr addr;
	uint16_t port;
	uint32_t weight;            /* from kroute.io/endpoint-weights, default 1 */
	char key[ADDR_PORT_STRLEN]; /* "ip:port" */
};

/* One endpoint set with its scheduler: the unit that counts connections. */
struct us_plan_svc {
	char *key;                  /* owned: "ns/name:port/TCP/4/local"; identity across syncs */
	char *name;                 /* owned: "ns/name:port" for people */
	int family;                 /* AF_INET / AF_INET6 */
	int proto;                  /* IPPROTO_TCP / IPPROTO_UDP */
	const char *sched_name;     /* static, from the registry */
	struct sched_config cfg;
	struct us_plan_ep *eps;     /* owned, in the view's order */
	size_t n_eps;
	uint64_t affinity_timeout_ns; /* 0 = no session affinity */
};

struct us_plan_listener {
	int proto;                  /* IPPROTO_TCP / IPPROTO_UDP */
	struct addr addr;
	uint16_t port;
	enum route_kind kind;
	size_t svc;                 /* index into svcs: the route's set; US_NO_SVC when it drops */
	/*
	 * External routes with externalTrafficPolicy Local: pods and the node
	 * itself reach all cluster endpoints through this set (kube-proxy's
	 * short-circuit); US_NO_SVC otherwise.
	 */
	size_t svc_cluster;
	bool preserve_external;     /* external clients keep their IP (etp Local) */
	char *name;                 /* owned: "ns/name:port clusterIP 10.96.0.10:80/TCP" */
	char *where;                /* owned: "10.96.0.10:80/TCP", the key of ls_index */
};

/* A flow the kernel drops (nft): kube-proxy's DROP outcomes. */
struct us_plan_drop {
	int proto;
	struct addr addr;           /* family 0: every local address (NodePort) */
	int family;
	uint16_t port;
	bool external_only;         /* spare pod (cluster CIDR) and node-local sources */
	const struct cidr *allow;   /* borrowed from the view: loadBalancerSourceRanges */
	size_t n_allow;             /* > 0: drop sources outside allow (and not local) */
};

struct us_plan {
	struct us_plan_svc *svcs;
	size_t n_svcs, cap_svcs;
	struct us_plan_listener *ls;
	size_t n_ls, cap_ls;
	struct us_plan_drop *drops;
	size_t n_drops, cap_drops;
	struct addr *vips;          /* for kroute0: sorted, unique */
	size_t n_vips, cap_vips;
	char **notes;               /* owned: things the operator should know */
	size_t n_notes, cap_notes;
	struct strmap svc_index;    /* key -> index + 1 */
	struct strmap ls_index;     /* where -> index + 1: one listener per address, port, proto */
};

struct us_plan_in {
	const struct node_view *view;
	const struct addr *nodeport_addrs; /* local addresses that take NodePorts */
	size_t n_nodeport_addrs;
	bool masquerade_all;
};

void us_plan_build(const struct us_plan_in *in, struct us_plan *ret);
void us_plan_done(struct us_plan *p);

/*
 * The nft script (one transaction) that replaces table inet kroute_userspace:
 * the drops, and the socket-mark rule that delivers replies to transparent
 * (source-preserving) sockets.  Returns an owned string.
 */
char *us_plan_nft(const struct us_plan *p, const struct cidr *cluster_cidrs, size_t n_cluster_cidrs,
		  uint32_t tproxy_mark);

#define US_NFT_TABLE "kroute_userspace"

#endif
