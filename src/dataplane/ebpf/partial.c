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
	if (!t->valid || t->capped || t->n_contested || !same_addrs(t, o))
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

/* The slots of set id in p (contiguous: sorted by id, then slot). */
static const struct ebpf_slot_entry *set_slots(const struct ebpf_plan *p, uint32_t id, size_t *n)
{
	size_t lo = 0, hi = p->n_slots, start;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->slots[mid].k.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	start = lo;
	while (lo < p->n_slots && p->slots[lo].k.id == id)
		lo++;
	*n = lo - start;
	return p->slots + start;
}

static int id_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool has_id(const uint32_t *ids, size_t n, uint32_t id)
{
	return n && bsearch(&id, ids, n, sizeof(*ids), id_cmp);
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

/* The entries the gone port views' records name, out of the mirror; false when one is missing. */
static bool take_before(const struct ebpf_plan *mirror, struct ebpf_pv_rec *const *gone,
			size_t n_gone, struct ebpf_plan *out)
{
	for (size_t g = 0; g < n_gone; g++) {
		const struct ebpf_pv_rec *r = gone[g];

		for (size_t i = 0; i < r->n_keys; i++) {
			const struct ebpf_svc_entry *e = bsearch(&r->keys[i], mirror->svcs, mirror->n_svcs,
								 sizeof(*e), ebpf_svc_cmp);

			if (!e)
				return false;
			VEC_PUSH(out->svcs, out->n_svcs, out->cap_svcs, *e);
		}
		for (size_t s = 0; s < r->n_sets; s++) {
			size_t n;
			const struct ebpf_slot_entry *sl = set_slots(mirror, r->set_ids[s], &n);

			for (size_t i = 0; i < n; i++)
				VEC_PUSH(out->slots, out->n_slots, out->cap_slots, sl[i]);
		}
		for (size_t i = 0; i < r->n_ranges; i++)
			VEC_PUSH(out->ranges, out->n_ranges, out->cap_ranges, r->ranges[i]);
	}
	ebpf_plan_sort(out);
	if (out->n_ranges) { /* a range a service lists twice */
		size_t m = 1;

		for (size_t i = 1; i < out->n_ranges; i++)
			if (ebpf_range_cmp(&out->ranges[i], &out->ranges[m - 1]))
				out->ranges[m++] = out->ranges[i];
		out->n_ranges = m;
	}
	out->drop_services = socket_drops(out);
	return true;
}

/* The new port views' plan fits in place of the gone ones': no key another port view holds, no capped table. */
static bool fits(const struct ebpf_plan *mirror, const struct ebpf_step *s)
{
	if (s->info.capped)
		return false;
	for (size_t i = 0; i < s->info.n_recs; i++)
		if (s->info.recs[i].contested)
			return false;
	for (size_t i = 0; i < s->after.n_svcs; i++)
		if (bsearch(&s->after.svcs[i], mirror->svcs, mirror->n_svcs, sizeof(*mirror->svcs),
			    ebpf_svc_cmp) &&
		    !bsearch(&s->after.svcs[i], s->before.svcs, s->before.n_svcs,
			     sizeof(*s->before.svcs), ebpf_svc_cmp))
			return false;
	return true;
}

/* The ids of the UDP sets among the records; sorted, each once. */
static size_t udp_set_ids(struct ebpf_pv_rec *const *gone, size_t n_gone,
			  const struct ebpf_build_info *info, uint32_t **ret)
{
	uint32_t *ids = xcalloc(2 * (n_gone + info->n_recs) + 1, sizeof(*ids));
	size_t n = 0, m = 0;

	for (size_t g = 0; g < n_gone; g++)
		for (size_t s = 0; gone[g]->udp && s < gone[g]->n_sets; s++)
			ids[n++] = gone[g]->set_ids[s];
	for (size_t r = 0; r < info->n_recs; r++)
		for (size_t s = 0; info->recs[r].udp && s < info->recs[r].n_sets; s++)
			ids[n++] = info->recs[r].set_ids[s];
	if (n)
		qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || ids[m - 1] != ids[i])
			ids[m++] = ids[i];
	*ret = ids;
	return m;
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
	size_t n_gone = 0, n_drop = 0, n_udp;
	struct strmap used;
	bool ok = true;

	if (v->generation == t->view_gen) {
		s->unchanged = true;
		goto out;
	}
	s->looked_at = v->n_rebuilt + v->n_gone;
	for (size_t i = 0; ok && i < v->n_gone; i++)
		ok = (gone[n_gone++] = find_rec(t, v->gone_ids[i])) != NULL;
	ok = ok && take_before(mirror, gone, n_gone, &s->before);
	if (!ok)
		goto out;
	ebpf_plan_some(v, v->rebuilt_at, v->n_rebuilt, o, mirror, ids,
		       mirror->n_slots - s->before.n_slots, &s->after, &s->info, &used, d);
	s->planned = v->n_rebuilt;
	if (!fits(mirror, s)) {
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
	n_udp = udp_set_ids(gone, n_gone, &s->info, &udp_ids);
	for (size_t i = 0; i < s->before.n_slots; i++)
		if (has_id(udp_ids, n_udp, s->before.slots[i].k.id))
			ebpf_ep_refs_add(&t->udp_refs, &s->before.slots[i].v, -1);
	for (size_t i = 0; i < s->after.n_slots; i++)
		if (has_id(udp_ids, n_udp, s->after.slots[i].k.id))
			ebpf_ep_refs_add(&t->udp_refs, &s->after.slots[i].v, 1);
	ebpf_diff(&s->before, &s->after, &s->diff);
	s->n_gone = ebpf_gone_udp_refs(&s->diff, udp_ids, n_udp, &t->udp_refs, &s->gone);
	free(udp_ids);
	replace_recs(t, gone, n_gone, &s->info);
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
		t->n_contested = 0;
		ebpf_ep_refs_done(&t->udp_refs);
		for (size_t i = 0; i < t->n_recs; i++) {
			const struct ebpf_pv_rec *r = &t->recs[i];

			t->n_contested += r->contested;
			for (size_t k = 0; r->udp && k < r->n_sets; k++) {
				size_t n;
				const struct ebpf_slot_entry *sl = set_slots(&s->plan, r->set_ids[k], &n);

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
