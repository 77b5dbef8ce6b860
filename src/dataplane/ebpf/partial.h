/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One sync's plan (pure), planned in time of what changed: when the mirror
 * applied the view one update ago, only the port views the view's change
 * record names (policy.h: generation, changed_all, rebuilt_at, gone_ids)
 * are planned, and only their entries are diffed, as the nftables mode's
 * partial sync does.  What each port view put in the maps (plan.h's
 * records) and how many UDP slots hold each endpoint (gone.h) are tracked
 * for that, and which port views claim each services key (a key two
 * services claim goes to the first in the view's order; the source ranges
 * of both are written).  Everything else walks the whole node
 * (ebpf_plan_build): a full sync, a rebuild of the view (changed_all), a
 * generation gap (a sync skipped or failed), other NodePort addresses, or a
 * Maglev table that did not fit (which tables fit depends on the order the
 * whole node is planned in).  Either way the result is the same plan.
 */
#ifndef KROUTE_DATAPLANE_EBPF_PARTIAL_H
#define KROUTE_DATAPLANE_EBPF_PARTIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/ebpf/gone.h"
#include "dataplane/ebpf/plan.h"

struct diag;
struct node_view;

/* Services key -> the ids of the port views claiming it (a multimap; open addressing). */
struct ebpf_claimants {
	struct ebpf_claimant {
		struct kr_svc_key k;
		uint64_t rec;         /* 0: empty */
	} *v;
	size_t cap, n;
};

/* What the mirror holds per port view, and the view it was planned from. */
struct ebpf_track {
	struct ebpf_claimants claimants;
	struct ebpf_pv_rec *recs;     /* sorted by port view id */
	size_t n_recs, cap_recs;
	struct ebpf_ep_refs udp_refs; /* endpoint -> slots of UDP sets holding it */
	struct addr *np;              /* the NodePort addresses planned with */
	size_t n_np;
	uint64_t view_gen, view_next_id;
	bool capped;                  /* a Maglev table did not fit */
	bool valid;                   /* false: the next sync walks */
};

/* One sync's plan. */
struct ebpf_step {
	bool partial;                 /* planned from the change record (else walked) */
	bool unchanged;               /* partial, and the view is the one applied: the mirror stays */
	struct ebpf_plan plan;        /* the maps after the sync (the next mirror; not when unchanged) */
	struct ebpf_plan before, after; /* partial: the changed port views' entries, before and after */
	const struct ebpf_plan *from, *to; /* what diff is between (before/after, or prev/plan) */
	struct ebpf_diff diff;
	struct kr_backend *gone;      /* the UDP endpoints the sync removes (gone.h) */
	size_t n_gone;
	size_t planned;               /* port views planned */
	size_t looked_at;             /* port views (and gone ids) looked at */
	/* for ebpf_step_commit */
	struct ebpf_build_info info;
	uint64_t view_gen, view_next_id;
	struct addr *np;
	size_t n_np;
};

void ebpf_track_init(struct ebpf_track *t);
void ebpf_track_done(struct ebpf_track *t);

/*
 * Plans v into s (initialised here).  prev: what the maps hold (the mirror,
 * or on a full sync the maps read back); walk: plan the whole node (a full
 * sync).  A partial plan needs prev to be the mirror t describes, and
 * updates t already (a sync that then fails must call ebpf_track_reset).
 */
void ebpf_step_plan(struct ebpf_track *t, const struct node_view *v,
		    const struct ebpf_plan_opts *o, const struct ebpf_plan *prev, bool walk,
		    struct ebpf_ids *ids, struct ebpf_step *s, struct diag *d);
/* The kernel took s: t follows it and *mirror becomes s's plan (moved). */
void ebpf_step_commit(struct ebpf_track *t, struct ebpf_step *s, struct ebpf_plan *mirror);
void ebpf_step_done(struct ebpf_step *s);
/* The next sync walks. */
void ebpf_track_reset(struct ebpf_track *t);

#endif
