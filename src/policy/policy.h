/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-node policy view: for every service port, which endpoints each kind
 * of traffic may use on this node, and what happens to a packet (forward,
 * drop, reject; masquerade or not).  This is kube-proxy's
 * CategorizeEndpoints plus the proxiers' per-traffic-kind rules, as a pure
 * function of (objects, node name, options): no I/O, no clock, no globals.
 * See ../shared/guide/kubernetes-semantics.md sections 1-3 for the rules and
 * docs/architecture.md for where this sits.
 */
#ifndef KROUTE_POLICY_POLICY_H
#define KROUTE_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "model/model.h"
#include "policy/lb.h"

/* One endpoint of one service port, as kube-proxy's endpoint info has it. */
struct ep {
	struct addr addr;
	uint16_t port;
	char key[ADDR_PORT_STRLEN]; /* "ip:port": identity and sort key */
	bool ready, serving, terminating, is_local;
	const char *node_name;      /* borrowed from the slice; may be NULL */
	const char *zone;           /* borrowed; may be NULL */
	char *const *zone_hints;    /* borrowed */
	size_t n_zone_hints;
	char *const *node_hints;    /* borrowed */
	size_t n_node_hints;
};

/* A set of endpoints; nil means "this service never uses this kind of endpoint". */
struct ep_set {
	const struct ep **v; /* owned array of borrowed pointers */
	size_t n;
	bool nil;
};

enum topology_mode {
	TOPOLOGY_NONE,
	TOPOLOGY_PREFER_SAME_NODE,
	TOPOLOGY_PREFER_SAME_ZONE,
};

struct categorize_in {
	bool itp_local;             /* internalTrafficPolicy: Local */
	bool etp_local;             /* externalTrafficPolicy: Local */
	bool externally_accessible; /* nodePort, LB ingress IP or externalIP */
	const char *node_name;      /* this node; may be NULL or "" */
	const char *zone;           /* this node's zone label; may be NULL */
	bool prefer_same_node_gate; /* feature gate PreferSameTrafficDistribution */
};

struct categorized {
	struct ep_set cluster;
	struct ep_set local;
	struct ep_set all;          /* every endpoint reachable from this node */
	bool has_any;               /* a usable endpoint exists somewhere */
	enum topology_mode topology;
};

/*
 * kube-proxy's CategorizeEndpoints over eps (sorted by key, deduplicated).
 * out's sets point into eps; release them with categorized_done().
 */
void policy_categorize(const struct ep *eps, size_t n, const struct categorize_in *in,
		       struct categorized *out);
void categorized_done(struct categorized *c);

enum route_kind {
	ROUTE_CLUSTER_IP,
	ROUTE_NODE_PORT,
	ROUTE_LOAD_BALANCER,
	ROUTE_EXTERNAL_IP,
};

enum route_action {
	ACTION_FORWARD,
	ACTION_DROP,
	ACTION_REJECT,
};

struct route {
	enum route_kind kind;
	bool allocated;            /* false: the API server has not assigned the address yet */
	struct addr addr;          /* for NodePort: the node IP shown (family 0 = every local IP) */
	uint16_t port;
	enum traffic_policy policy;
	enum route_action action;
	bool uses_local;           /* endpoints: the port's local set, else its cluster set */
	bool masquerade;
	bool preserves_source_ip;
	struct cidr *source_ranges; /* owned: the service's ranges of this route's family; LB only */
	size_t n_source_ranges;
	char *reason;              /* owned: one sentence */
};

struct port_view {
	const struct service *svc;  /* borrowed from the cluster */
	const struct svc_port *port; /* borrowed */
	int family;                 /* AF_INET / AF_INET6 */
	struct ep *eps;             /* owned: deduplicated, sorted */
	size_t n_eps;
	struct categorized cat;
	struct route *routes;       /* owned */
	size_t n_routes;
	char **notes;               /* owned: things a user should know (ignored fields...) */
	size_t n_notes;
	struct lb_choice lb;        /* scheduler and weights for this service */
	uint64_t id;                /* unique per build: unchanged id = unchanged port view */
};

struct policy_opts {
	bool masquerade_all;
	const struct cidr *cluster_cidrs; /* local-traffic detector; none = no-op detector */
	size_t n_cluster_cidrs;
	bool prefer_same_node_gate;       /* default true (beta, on by default since 1.33) */
	const char *service_proxy_name;   /* only services with this proxy-name label; NULL = unlabelled */
	struct lb_default lb;             /* --scheduler / --scheduler-flags */
};

struct node_view {
	char *node_name;            /* owned */
	const struct node *node;    /* borrowed; NULL when no Node object names it */
	const char *zone;           /* borrowed from node labels; NULL when unknown */
	struct port_view *ports;    /* owned; sorted by service key, port, family */
	size_t n_ports, cap_ports;
	size_t n_skipped_other_proxy; /* services left to another proxy (service-proxy-name) */
	struct strmap other_proxy;  /* their keys (owned), so an update counts them per change */
	uint64_t next_id;           /* the id the next port view built gets */
	size_t n_rebuilt;           /* port views built by the last build or update */
	/*
	 * What the last build or update changed, for a data plane that wants
	 * to touch only that.  generation counts them.  changed_all: every port
	 * view is new (a build).  Otherwise ports[rebuilt_at[0 .. n_rebuilt)]
	 * are the new port views (ids never seen before) and gone_ids[0 ..
	 * n_gone) the ids that left; every other port view is as it was.  A
	 * data plane whose last sync did not see generation - 1 must walk.
	 */
	uint64_t generation;
	bool changed_all;
	size_t *rebuilt_at;         /* owned */
	uint64_t *gone_ids;         /* owned */
	size_t n_gone, cap_gone;
};

void policy_opts_init(struct policy_opts *o);
/* Builds the view for node_name; never fails (OOM aborts).  Free with node_view_free(). */
struct node_view *policy_build_view(const struct cluster *c, const char *node_name,
				    const struct policy_opts *opts);
void node_view_free(struct node_view *v);

/*
 * The view after the objects changed, rebuilt only where it can differ: the
 * port views of services named in dirty_services ("ns/name" keys) are built
 * again from c (and dropped when the service is gone); every other port view
 * moves over unchanged, keeping its id, so a data plane can skip it.  all
 * (or old == NULL) builds everything again, with ids that never repeat old's.
 * Callers pass all when this node's own Node object changed (zone, addresses)
 * or the options did.  A partial update costs the dirty services only
 * (binary searches; one block copy of the array when a service's number of
 * port views changes), never a walk of the others.  Consumes old.  Must run while the objects old borrows
 * from are still alive (store.h: before store_delta_done()).
 */
struct node_view *policy_update_view(struct node_view *old, const struct cluster *c,
				     const char *node_name, const struct policy_opts *opts,
				     const struct strmap *dirty_services, bool all);

/*
 * The port views of one service ("ns/name"): ports[*first ..] for the count
 * returned (0: none, *first is where they would go).  A binary search: the
 * view is sorted by service.
 */
size_t policy_view_service_ports(const struct node_view *v, const char *svc_key, size_t *first);

/* The endpoints a route sends to. */
static inline const struct ep_set *route_endpoints(const struct port_view *pv,
						   const struct route *r)
{
	return r->uses_local ? &pv->cat.local : &pv->cat.cluster;
}

/*
 * The name of one endpoint set of a port view (local or cluster), as the
 * userspace proxy names its services and its status file shows them:
 * "ns/name:port/PROTO/4|6/local|cluster".  Owned by the caller.
 */
char *port_view_set_key(const struct port_view *pv, bool local);

const char *route_kind_name(enum route_kind k);
const char *route_action_name(enum route_action a);
const char *topology_mode_name(enum topology_mode m); /* NULL for none */

#endif
