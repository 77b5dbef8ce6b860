/* SPDX-License-Identifier: Apache-2.0 */
/* One sync's plan, in time of what changed when the view says what; see partial.h.  Pure. */
#include "dataplane/ebpf/partial.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "policy/policy.h"

void ebpf_track_init(struct ebpf_track *t)
{
	memset(t, 0, sizeof(*t));
}

static size_t key_hash(const struct kr_svc_key *k)
{
	return ebpf_hash_bytes(k, sizeof(*k)); /* the planner zeroes the padding */
}

static void claimants_done(struct ebpf_claimants *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}

static void claimants_add(struct ebpf_claimants *m, const struct kr_svc_key *k, uint64_t rec);

static void claimants_grow(struct ebpf_claimants *m)
{
	struct ebpf_claimants next = { .cap = m->cap ? m->cap * 2 : 1024 };

	next.v = xcalloc(next.cap, sizeof(*next.v));
	for (size_t i = 0; i < m->cap; i++)
		if (m->v[i].rec)
			claimants_add(&next, &m->v[i].k, m->v[i].rec);
	free(m->v);
	*m = next;
}

/* One more claimant of k (a key has as many entries as claimants). */
static void claimants_add(struct ebpf_claimants *m, const struct kr_svc_key *k, uint64_t rec)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap)
		claimants_grow(m);
	for (i = key_hash(k) & (m->cap - 1); m->v[i].rec; i = (i + 1) & (m->cap - 1))
		;
	m->v[i].k = *k;
	m->v[i].rec = rec;
	m->n++;
}

/* Removes rec's entry for k (backward-shift deletion, as strmap.c: no tombstones). */
static void claimants_del(struct ebpf_claimants *m, const struct kr_svc_key *k, uint64_t rec)
{
	size_t mask = m->cap - 1, hole;

	if (!m->cap)
		return;
	for (hole = key_hash(k) & mask; m->v[hole].rec; hole = (hole + 1) & mask)
		if (m->v[hole].rec == rec && !memcmp(&m->v[hole].k, k, sizeof(*k)))
			break;
	if (!m->v[hole].rec)
		return;
	m->v[hole].rec = 0;
	m->n--;
	for (size_t j = (hole + 1) & mask; m->v[j].rec; j = (j + 1) & mask) {
		size_t home = key_hash(&m->v[j].k) & mask;
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);

		if (!stays) {
			m->v[hole] = m->v[j];
			m->v[j].rec = 0;
			hole = j;
		}
	}
}

/* The ids of k's claimants into *ret (grown as needed); returns how many. */
static size_t claimants_of(const struct ebpf_claimants *m, const struct kr_svc_key *k,
			   uint64_t **ret, size_t *cap)
{
	size_t n = 0, mask = m->cap - 1;

	if (!m->cap)
		return 0;
	for (size_t i = key_hash(k) & mask; m->v[i].rec; i = (i + 1) & mask)
		if (!memcmp(&m->v[i].k, k, sizeof(*k)))
			VEC_PUSH(*ret, n, *cap, m->v[i].rec);
	return n;
}

static void free_recs(struct ebpf_track *t)
{
	for (size_t i = 0; i < t->n_recs; i++)
		ebpf_pv_rec_done(&t->recs[i]);
	free(t->recs);
	t->recs = NULL;
	t->n_recs = t->cap_recs = 0;
}

void ebpf_track_done(struct ebpf_track *t)
{
	free_recs(t);
	ebpf_ep_refs_done(&t->udp_refs);
	claimants_done(&t->claimants);
	free(t->np);
	memset(t, 0, sizeof(*t));
}

void ebpf_track_reset(struct ebpf_track *t)
{
	t->valid = false;
}

void ebpf_step_done(struct ebpf_step *s)
{
	ebpf_plan_done(&s->plan);
	ebpf_plan_done(&s->before);
	ebpf_plan_done(&s->after);
	ebpf_diff_done(&s->diff);
	ebpf_build_info_done(&s->info);
	free(s->gone);
	free(s->np);
	memset(s, 0, sizeof(*s));
}

static bool same_addrs(const struct ebpf_track *t, const struct ebpf_plan_opts *o)
{
	if (t->n_np != o->n_nodeport_addrs)
		return false;
	for (size_t i = 0; i < t->n_np; i++)
		if (!addr_eq(&t->np[i], &o->nodeport_addrs[i]))
			return false;
	return true;
}

/*
 * Whether the view's change record says everything that changed since the
 * mirror's sync (as the nftables mode's sync.c asks): the mirror applied the
 * view one update ago (or this very view), and that update rebuilt only
 * some port views.
 */
static bool changes_known(const struct ebpf_track *t, const struct node_view *v,
			  const struct ebpf_plan_opts *o)
{
	if (!t->valid || t->capped || !same_addrs(t, o))
		return false;
	/* an update gives each port view it builds the next id: a view of another lineage differs */
	if (v->generation == t->view_gen)
		return v->next_id == t->view_next_id;
	return v->generation == t->view_gen + 1 && !v->changed_all &&
	       v->next_id == t->view_next_id + v->n_rebuilt;
}

static struct ebpf_pv_rec *find_rec(const struct ebpf_track *t, uint64_t id)
{
	size_t lo = 0, hi = t->n_recs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->recs[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n_recs && t->recs[lo].id == id ? &t->recs[lo] : NULL;
}

static int rec_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ebpf_pv_rec *)a)->id, y = ((const struct ebpf_pv_rec *)b)->id;

	return (x > y) - (x < y);
}

/* The first of base[lo .. n) not below key. */
static size_t lower_bound(const char *base, size_t lo, size_t n, size_t size, const void *key,
			  int (*cmp)(const void *, const void *))
{
	while (lo < n) {
		size_t mid = lo + (n - lo) / 2;

		if (cmp(base + mid * size, key) < 0)
			lo = mid + 1;
		else
			n = mid;
	}
	return lo;
}

/*
 * base without del's keys, with add's entries (add replaces an equal key),
 * all sorted by cmp: block copies between the changed keys, found by
 * binary search, so the cost beyond the changes is one memcpy of base.
 */
static void *merge(const void *base_, size_t nb, const void *del_, size_t nd, const void *add_,
		   size_t na, size_t size, int (*cmp)(const void *, const void *), size_t *ret_n)
{
	const char *base = base_, *del = del_, *add = add_;
	char *out = xmalloc((nb + na + 1) * size);
	size_t i = 0, j = 0, k = 0, n = 0;

	while (j < nd || k < na) {
		int c = j == nd ? 1 : k == na ? -1 : cmp(del + j * size, add + k * size);
		const void *key = c < 0 ? del + j * size : add + k * size;
		size_t at = lower_bound(base, i, nb, size, key, cmp);

		if (at > i) /* base is NULL when empty */
			memcpy(out + n * size, base + i * size, (at - i) * size);
		n += at - i;
		i = at;
		if (i < nb && !cmp(base + i * size, key))
			i++;
		if (c >= 0)
			memcpy(out + n++ * size, add + k++ * size, size);
		if (c <= 0)
			j++;
	}
	if (nb > i)
		memcpy(out + n * size, base + i * size, (nb - i) * size);
	*ret_n = n + nb - i;
	return out;
}

static size_t socket_drops(const struct ebpf_plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n_svcs; i++)
		n += p->svcs[i].k.scope == KR_SCOPE_SOCKET && (p->svcs[i].v.flags & KR_SVC_DROP);
	return n;
}

/* The slots of the gone port views' sets, out of the mirror. */
static void take_slots(const struct ebpf_plan *mirror, struct ebpf_pv_rec *const *gone,
		       size_t n_gone, struct ebpf_plan *out)
{
	for (size_t g = 0; g < n_gone; g++)
		for (size_t s = 0; s < gone[g]->n_sets; s++) {
			size_t n;
			const struct ebpf_slot_entry *sl = ebpf_plan_set_slots(mirror, gone[g]->set_ids[s], &n);

			for (size_t i = 0; i < n; i++)
				VEC_PUSH(out->slots, out->n_slots, out->cap_slots, sl[i]);
		}
	if (out->n_slots)
		qsort(out->slots, out->n_slots, sizeof(*out->slots), ebpf_slot_cmp);
}

/* The ids of the UDP sets among the records; sorted, each once. */
static size_t udp_set_ids(struct ebpf_pv_rec *const *gone, size_t n_gone,
			  const struct ebpf_build_info *info, uint32_t **ret)
{
	uint32_t *ids = xcalloc(2 * (n_gone + info->n_recs) + 1, sizeof(*ids));
	size_t n = 0;

	for (size_t g = 0; g < n_gone; g++)
		for (size_t s = 0; gone[g]->udp && s < gone[g]->n_sets; s++)
			ids[n++] = gone[g]->set_ids[s];
	for (size_t r = 0; r < info->n_recs; r++)
		for (size_t s = 0; info->recs[r].udp && s < info->recs[r].n_sets; s++)
			ids[n++] = info->recs[r].set_ids[s];
	*ret = ids;
	return ebpf_ids_sort_unique(ids, n);
}

/* The records without the gone ones, with the new ones (kept sorted by id). */
static void replace_recs(struct ebpf_track *t, struct ebpf_pv_rec *const *gone, size_t n_gone,
			 struct ebpf_build_info *info)
{
	size_t out = 0, g = 0;
	uint64_t *ids = xcalloc(n_gone + 1, sizeof(*ids));

	for (size_t i = 0; i < n_gone; i++)
		ids[i] = gone[i]->id;
	/* gone is in the view's gone order: the ids are compared sorted */
	for (size_t i = 1; i < n_gone; i++)
		for (size_t k = i; k && ids[k - 1] > ids[k]; k--) {
			uint64_t x = ids[k];

			ids[k] = ids[k - 1];
			ids[k - 1] = x;
		}
	for (size_t i = 0; i < t->n_recs; i++) {
		if (g < n_gone && t->recs[i].id == ids[g]) {
			ebpf_pv_rec_done(&t->recs[i]);
			g++;
			continue;
		}
		if (out != i)
			t->recs[out] = t->recs[i];
		out++;
	}
	free(ids);
	t->n_recs = out;
	/* the new port views' ids are above every id before */
	if (info->n_recs > 1)
		qsort(info->recs, info->n_recs, sizeof(*info->recs), rec_cmp);
	for (size_t i = 0; i < info->n_recs; i++)
		VEC_PUSH(t->recs, t->n_recs, t->cap_recs, info->recs[i]);
	free(info->recs);
	info->recs = NULL;
	info->n_recs = 0;
}

static void add_claims(struct ebpf_track *t, const struct ebpf_pv_rec *r, bool add)
{
	for (size_t i = 0; i < r->n_claims; i++)
		if (add)
			claimants_add(&t->claimants, &r->claims[i].e.k, r->id);
		else
			claimants_del(&t->claimants, &r->claims[i].e.k, r->id);
}

static bool rec_has_range(const struct ebpf_pv_rec *r, const struct kr_range_key *k)
{
	for (size_t i = 0; i < r->n_ranges; i++)
		if (!ebpf_range_cmp(&r->ranges[i], k))
			return true;
	return false;
}

/*
 * The services entries of the touched keys before (the mirror's) and after
 * (each key's first claimant in the view's order), and the ranges of the
 * gone and new port views that no other port view also writes.
 */
static void touched_entries(const struct ebpf_track *t, const struct ebpf_plan *mirror,
			    struct kr_svc_key *keys, size_t n_keys, struct kr_range_key *ranges,
			    size_t n_ranges, size_t n_old_ranges, uint64_t first_new,
			    struct ebpf_step *s)
{
	uint64_t *ids = NULL;
	size_t cap = 0;

	if (n_keys)
		qsort(keys, n_keys, sizeof(*keys), ebpf_svc_cmp); /* the key leads the entry */
	for (size_t i = 0; i < n_keys; i++) {
		const struct ebpf_pv_rec *wr = NULL;
		const struct ebpf_claim *wc = NULL;
		const struct ebpf_svc_entry *m;
		struct ebpf_svc_entry probe = { .k = keys[i] };
		size_t n;

		if (i && !memcmp(&keys[i], &keys[i - 1], sizeof(*keys)))
			continue;
		m = bsearch(&probe, mirror->svcs, mirror->n_svcs, sizeof(*m), ebpf_svc_cmp);
		if (m)
			VEC_PUSH(s->before.svcs, s->before.n_svcs, s->before.cap_svcs, *m);
		n = claimants_of(&t->claimants, &keys[i], &ids, &cap);
		for (size_t c = 0; c < n; c++) {
			const struct ebpf_pv_rec *r = find_rec(t, ids[c]);

			for (size_t k = 0; r && k < r->n_claims; k++)
				if (!memcmp(&r->claims[k].e.k, &keys[i], sizeof(keys[i])) &&
				    (!wc || ebpf_claim_order(r, &r->claims[k], wr, wc) < 0)) {
					wr = r;
					wc = &r->claims[k];
				}
		}
		if (wc)
			VEC_PUSH(s->after.svcs, s->after.n_svcs, s->after.cap_svcs, wc->e);
	}
	/* a range another port view (one that stays) writes too stays as it is */
	for (size_t i = 0; i < n_ranges; i++) {
		struct ebpf_plan *p = i < n_old_ranges ? &s->before : &s->after;
		bool kept = false;
		size_t n = claimants_of(&t->claimants, &ranges[i].svc, &ids, &cap);

		for (size_t c = 0; c < n && !kept; c++) {
			const struct ebpf_pv_rec *r = ids[c] < first_new ? find_rec(t, ids[c]) : NULL;

			kept = r && rec_has_range(r, &ranges[i]);
		}
		if (!kept)
			VEC_PUSH(p->ranges, p->n_ranges, p->cap_ranges, ranges[i]);
	}
	free(ids);
	for (int k = 0; k < 2; k++) {
		struct ebpf_plan *p = k ? &s->after : &s->before;
		size_t m = 0;

		if (p->n_ranges)
			qsort(p->ranges, p->n_ranges, sizeof(*p->ranges), ebpf_range_cmp);
		for (size_t i = 0; i < p->n_ranges; i++) /* a range listed twice */
			if (!m || ebpf_range_cmp(&p->ranges[i], &p->ranges[m - 1]))
				p->ranges[m++] = p->ranges[i];
		p->n_ranges = m;
		p->drop_services = socket_drops(p);
	}
}

/*
 * The partial plan; false (t, ids and s as they were, bar s's counters)
 * when it cannot stand for a walk.
 */
static bool try_partial(struct ebpf_track *t, const struct node_view *v,
			const struct ebpf_plan_opts *o, const struct ebpf_plan *mirror,
			struct ebpf_ids *ids, struct ebpf_step *s, struct diag *d)
{
	struct ebpf_pv_rec **gone = xcalloc(v->n_gone + 1, sizeof(*gone));
	char **drop = xcalloc(2 * v->n_gone + 1, sizeof(*drop));
	uint32_t next_id = ids->next, *udp_ids;
	size_t n_gone = 0, n_drop = 0, n_udp, n_keys = 0, cap_keys = 0, n_ranges = 0, cap_ranges = 0;
	size_t n_old_ranges;
	struct kr_svc_key *keys = NULL;
	struct kr_range_key *ranges = NULL;
	struct strmap used;
	bool ok = true;

	if (v->generation == t->view_gen) {
		s->unchanged = true;
		goto out;
	}
	s->looked_at = v->n_rebuilt + v->n_gone;
	for (size_t i = 0; ok && i < v->n_gone; i++)
		ok = (gone[n_gone++] = find_rec(t, v->gone_ids[i])) != NULL;
	if (!ok)
		goto out;
	take_slots(mirror, gone, n_gone, &s->before);
	ebpf_plan_some(v, v->rebuilt_at, v->n_rebuilt, o, mirror, ids,
		       mirror->n_slots - s->before.n_slots, &s->after, &s->info, &used, d);
	s->planned = v->n_rebuilt;
	if (s->info.capped) {
		ids->next = next_id; /* as if never planned: a walk gives the same ids */
		ebpf_ids_used_done(&used);
		ebpf_build_info_done(&s->info);
		ok = false;
		goto out;
	}
	for (size_t g = 0; g < n_gone; g++)
		for (size_t k = 0; k < gone[g]->n_sets; k++)
			drop[n_drop++] = gone[g]->set_keys[k];
	ebpf_ids_update(ids, drop, n_drop, &used);

	/* the keys and ranges the gone and the new port views claim; the claimants after */
	for (size_t g = 0; g < n_gone; g++) {
		for (size_t k = 0; k < gone[g]->n_claims; k++)
			VEC_PUSH(keys, n_keys, cap_keys, gone[g]->claims[k].e.k);
		for (size_t k = 0; k < gone[g]->n_ranges; k++)
			VEC_PUSH(ranges, n_ranges, cap_ranges, gone[g]->ranges[k]);
		add_claims(t, gone[g], false);
	}
	n_old_ranges = n_ranges;
	for (size_t r = 0; r < s->info.n_recs; r++) {
		const struct ebpf_pv_rec *rec = &s->info.recs[r];

		for (size_t k = 0; k < rec->n_claims; k++)
			VEC_PUSH(keys, n_keys, cap_keys, rec->claims[k].e.k);
		for (size_t k = 0; k < rec->n_ranges; k++)
			VEC_PUSH(ranges, n_ranges, cap_ranges, rec->ranges[k]);
		add_claims(t, rec, true);
	}
	n_udp = udp_set_ids(gone, n_gone, &s->info, &udp_ids);
	replace_recs(t, gone, n_gone, &s->info);
	/* the planned port views' own entries and ranges give way to each key's first claimant */
	s->after.n_svcs = s->after.n_ranges = 0;
	touched_entries(t, mirror, keys, n_keys, ranges, n_ranges, n_old_ranges,
			v->next_id - v->n_rebuilt, s);
	free(keys);
	free(ranges);

	/* the next mirror: the mirror with before's entries replaced by after's */
	s->plan.svcs = merge(mirror->svcs, mirror->n_svcs, s->before.svcs, s->before.n_svcs,
			     s->after.svcs, s->after.n_svcs, sizeof(*s->plan.svcs), ebpf_svc_cmp,
			     &s->plan.n_svcs);
	s->plan.cap_svcs = s->plan.n_svcs;
	s->plan.slots = merge(mirror->slots, mirror->n_slots, s->before.slots, s->before.n_slots,
			      s->after.slots, s->after.n_slots, sizeof(*s->plan.slots), ebpf_slot_cmp,
			      &s->plan.n_slots);
	s->plan.cap_slots = s->plan.n_slots;
	s->plan.ranges = merge(mirror->ranges, mirror->n_ranges, s->before.ranges, s->before.n_ranges,
			       s->after.ranges, s->after.n_ranges, sizeof(*s->plan.ranges),
			       ebpf_range_cmp, &s->plan.n_ranges);
	s->plan.cap_ranges = s->plan.n_ranges;
	s->plan.drop_services = mirror->drop_services - s->before.drop_services +
				s->after.drop_services;

	/* the UDP endpoints' counts after the sync, then which of those it removed are gone */
	for (size_t i = 0; i < s->before.n_slots; i++)
		if (ebpf_has_id(udp_ids, n_udp, s->before.slots[i].k.id))
			ebpf_ep_refs_add(&t->udp_refs, &s->before.slots[i].v, -1);
	for (size_t i = 0; i < s->after.n_slots; i++)
		if (ebpf_has_id(udp_ids, n_udp, s->after.slots[i].k.id))
			ebpf_ep_refs_add(&t->udp_refs, &s->after.slots[i].v, 1);
	ebpf_diff(&s->before, &s->after, &s->diff);
	s->n_gone = ebpf_gone_udp_refs(&s->diff, udp_ids, n_udp, &t->udp_refs, &s->gone);
	free(udp_ids);
out:
	free(gone);
	free(drop);
	if (!ok) {
		ebpf_plan_done(&s->before);
		ebpf_plan_done(&s->after);
	}
	return ok;
}

void ebpf_step_plan(struct ebpf_track *t, const struct node_view *v,
		    const struct ebpf_plan_opts *o, const struct ebpf_plan *prev, bool walk,
		    struct ebpf_ids *ids, struct ebpf_step *s, struct diag *d)
{
	memset(s, 0, sizeof(*s));
	s->view_gen = v->generation;
	s->view_next_id = v->next_id;
	s->n_np = o->n_nodeport_addrs;
	s->np = xcalloc(s->n_np + 1, sizeof(*s->np));
	if (s->n_np)
		memcpy(s->np, o->nodeport_addrs, s->n_np * sizeof(*s->np));
	if (!walk && changes_known(t, v, o) && try_partial(t, v, o, prev, ids, s, d)) {
		s->partial = true;
		s->from = &s->before;
		s->to = &s->after;
		return;
	}
	ebpf_plan_build_recs(v, o, prev, ids, &s->plan, &s->info, d);
	s->planned += v->n_ports;
	s->looked_at += v->n_ports;
	s->from = prev;
	s->to = &s->plan;
	ebpf_diff(prev, &s->plan, &s->diff);
	s->n_gone = ebpf_gone_udp(prev, &s->plan, &s->diff, &s->gone);
}

void ebpf_step_commit(struct ebpf_track *t, struct ebpf_step *s, struct ebpf_plan *mirror)
{
	if (!s->partial) {
		/* a walk: every record and count afresh */
		free_recs(t);
		t->recs = s->info.recs;
		t->n_recs = t->cap_recs = s->info.n_recs;
		s->info.recs = NULL;
		s->info.n_recs = 0;
		if (t->n_recs > 1)
			qsort(t->recs, t->n_recs, sizeof(*t->recs), rec_cmp);
		t->capped = s->info.capped;
		ebpf_ep_refs_done(&t->udp_refs);
		claimants_done(&t->claimants);
		for (size_t i = 0; i < t->n_recs; i++) {
			const struct ebpf_pv_rec *r = &t->recs[i];

			add_claims(t, r, true);
			for (size_t k = 0; r->udp && k < r->n_sets; k++) {
				size_t n;
				const struct ebpf_slot_entry *sl = ebpf_plan_set_slots(&s->plan, r->set_ids[k], &n);

				for (size_t j = 0; j < n; j++)
					ebpf_ep_refs_add(&t->udp_refs, &sl[j].v, 1);
			}
		}
		free(t->np);
		t->np = s->np;
		t->n_np = s->n_np;
		s->np = NULL;
	}
	if (!s->unchanged) {
		ebpf_plan_done(mirror);
		*mirror = s->plan;
		ebpf_plan_init(&s->plan);
	}
	t->view_gen = s->view_gen;
	t->view_next_id = s->view_next_id;
	t->valid = true;
}
