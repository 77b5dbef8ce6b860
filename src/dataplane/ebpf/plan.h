/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ebpf mode's planner: a node's view -> the contents of the services and
 * slots maps (bpf/maps.h), as sorted arrays, and the differ between two such
 * plans (what a sync writes).  Pure: no BPF syscalls; the loader (loader.c)
 * applies the changes.
 *
 * Every key a socket on this node may connect to is a services entry: the
 * cluster IP (its route's endpoint set and action), and, for in-cluster
 * clients, each NodePort on the node's NodePort addresses, each external
 * and load-balancer IP: those go to the cluster set (kube-proxy
 * short-circuits pod and node traffic to external addresses the same way).
 * An endpoint set gets an id (stable while the set's key, "ns/name:port/
 * PROTO/4|local", stays in the view) and count slots: one per endpoint for
 * random picks (an endpoint that stays keeps its slot), or the scheduler
 * library's Maglev table for kroute.io/scheduler: maglev.
 */
#ifndef KROUTE_DATAPLANE_EBPF_PLAN_H
#define KROUTE_DATAPLANE_EBPF_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/strmap.h"
#include "dataplane/ebpf/bpf/maps.h"

struct node_view;
struct diag;

struct ebpf_svc_entry {
	struct kr_svc_key k;
	struct kr_svc v;
};

struct ebpf_slot_entry {
	struct kr_slot_key k;
	struct kr_backend v;
};

/* Both maps' contents, each sorted by key (ebpf_svc_cmp, ebpf_slot_cmp), and the source ranges' keys. */
struct ebpf_plan {
	struct ebpf_svc_entry *svcs;
	size_t n_svcs, cap_svcs;
	struct ebpf_slot_entry *slots;
	size_t n_slots, cap_slots;
	struct kr_range_key *ranges;  /* kr_src_ranges (tc.c writes them), sorted by ebpf_range_cmp */
	size_t n_ranges, cap_ranges;
	size_t drop_services; /* entries flagged KR_SVC_DROP */
};

/* Endpoint-set ids across syncs: set key -> id (owned keys), and the next id. */
struct ebpf_ids {
	struct strmap by_key;
	uint32_t next;
	struct strmap warned; /* services told their scheduler falls back to random */
};

struct ebpf_plan_opts {
	const struct addr *nodeport_addrs; /* addresses NodePorts answer on (both families) */
	size_t n_nodeport_addrs;
};

void ebpf_ids_init(struct ebpf_ids *ids);
void ebpf_ids_done(struct ebpf_ids *ids);
void ebpf_plan_init(struct ebpf_plan *p);
void ebpf_plan_done(struct ebpf_plan *p);
int ebpf_svc_cmp(const void *a, const void *b);
int ebpf_slot_cmp(const void *a, const void *b);
int ebpf_range_cmp(const void *a, const void *b);
/* The slots of set id in p (contiguous: sorted by id, then slot); p may be NULL. */
const struct ebpf_slot_entry *ebpf_plan_set_slots(const struct ebpf_plan *p, uint32_t id,
						  size_t *n);
/* Sorts both arrays (after filling a plan by hand, or reading the kernel). */
void ebpf_plan_sort(struct ebpf_plan *p);

/*
 * Builds out (initialised by the caller) from v.  prev, the plan applied
 * last (NULL: none), keeps endpoints in their slots.  ids is updated: new
 * sets get new ids, sets gone lose theirs.  Warnings (a scheduler the mode
 * cannot run, a Maglev table that does not fit) go to d.
 */
void ebpf_plan_build(const struct node_view *v, const struct ebpf_plan_opts *o,
		     const struct ebpf_plan *prev, struct ebpf_ids *ids, struct ebpf_plan *out,
		     struct diag *d);

/* One claim of a services key: the entry it would write, its place in its build (first wins). */
struct ebpf_claim {
	struct ebpf_svc_entry e;
	size_t seq;
};

/*
 * What one port view put in a plan, so that a partial sync (partial.h) can
 * take it out again without planning the others: every services key it
 * claims (won or not: a key two services claim goes to the first in the
 * view's order), its endpoint sets (ids and keys; their slots are those of
 * the ids) and its source ranges.
 */
struct ebpf_pv_rec {
	uint64_t id;                  /* the port view's (policy.h) */
	const struct service *svc;    /* the port view's place in the view's order (borrowed) */
	const void *port;
	int family;
	struct ebpf_claim *claims;
	size_t n_claims, cap_claims;
	uint32_t set_ids[2];          /* cluster and local at most */
	char *set_keys[2];            /* owned */
	size_t n_sets;
	struct kr_range_key *ranges;
	size_t n_ranges, cap_ranges;
	bool udp;                     /* its sets' endpoints are UDP endpoints (gone.h) */
};

/* Which of two port views' claims comes first in the view (the one that keeps a key both claim). */
int ebpf_claim_order(const struct ebpf_pv_rec *ra, const struct ebpf_claim *a,
		     const struct ebpf_pv_rec *rb, const struct ebpf_claim *b);

void ebpf_pv_rec_done(struct ebpf_pv_rec *r);

/* What a build saw besides the plan. */
struct ebpf_build_info {
	struct ebpf_pv_rec *recs;     /* one per port view planned, in the order planned (owned) */
	size_t n_recs;
	bool capped;                  /* a Maglev table did not fit the slots map (random picks) */
};

void ebpf_build_info_done(struct ebpf_build_info *info);

/* ebpf_plan_build, and each port view's record in info (initialised by the caller). */
void ebpf_plan_build_recs(const struct node_view *v, const struct ebpf_plan_opts *o,
			  const struct ebpf_plan *prev, struct ebpf_ids *ids, struct ebpf_plan *out,
			  struct ebpf_build_info *info, struct diag *d);

/*
 * Plans only v->ports[at[0 .. n_at)] (the port views a view update built)
 * into out, as ebpf_plan_build would plan them in the whole node: their
 * services entries (as if no other port view claimed their keys), slots
 * and ranges, sorted.  slot_base: the slots the other port views
 * hold (for the Maglev size check).  A set ids knows keeps its id, a new
 * one takes the next; ids->by_key is left alone: *used (initialised here)
 * gets the planned sets' keys -> ids, for ebpf_ids_update.
 */
void ebpf_plan_some(const struct node_view *v, const size_t *at, size_t n_at,
		    const struct ebpf_plan_opts *o, const struct ebpf_plan *prev,
		    struct ebpf_ids *ids, size_t slot_base, struct ebpf_plan *out,
		    struct ebpf_build_info *info, struct strmap *used, struct diag *d);
/* After ebpf_plan_some: the sets named in drop lose their ids unless used has them; used joins (consumed). */
void ebpf_ids_update(struct ebpf_ids *ids, char *const *drop, size_t n_drop, struct strmap *used);
/* used's keys freed (a partial plan given up). */
void ebpf_ids_used_done(struct strmap *used);

/* One change to one map entry, with the value it replaces (to undo it). */
enum ebpf_op_kind { EBPF_OP_UPDATE, EBPF_OP_DELETE };

struct ebpf_svc_op {
	enum ebpf_op_kind kind;
	struct ebpf_svc_entry e;   /* the key and the new value (update) */
	bool had_old;
	struct kr_svc old;
};

struct ebpf_slot_op {
	enum ebpf_op_kind kind;
	struct ebpf_slot_entry e;
	bool had_old;
	struct kr_backend old;
};

/*
 * What turns from into to, in the order it must be applied so that a
 * program never sees a service whose slots are missing: slot updates, then
 * service updates and deletes, then slot deletes.
 */
struct ebpf_diff {
	struct ebpf_slot_op *slot_up;    /* updates of slots */
	size_t n_slot_up, cap_slot_up;
	struct ebpf_svc_op *svc;         /* service updates and deletes */
	size_t n_svc, cap_svc;
	struct ebpf_slot_op *slot_del;   /* deletes of slots */
	size_t n_slot_del, cap_slot_del;
};

void ebpf_diff(const struct ebpf_plan *from, const struct ebpf_plan *to, struct ebpf_diff *ret);
void ebpf_diff_done(struct ebpf_diff *d);
static inline size_t ebpf_diff_size(const struct ebpf_diff *d)
{
	return d->n_slot_up + d->n_svc + d->n_slot_del;
}

#endif
