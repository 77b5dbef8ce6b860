/* SPDX-License-Identifier: Apache-2.0 */
/* The UDP endpoints a sync removed; see gone.h.  Pure. */
#include "dataplane/ebpf/gone.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static int backend_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct kr_backend));
}

static int id_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

bool ebpf_has_id(const uint32_t *ids, size_t n, uint32_t id)
{
	return n && bsearch(&id, ids, n, sizeof(*ids), id_cmp);
}

size_t ebpf_ids_sort_unique(uint32_t *ids, size_t n)
{
	size_t m = 0;

	if (n)
		qsort(ids, n, sizeof(*ids), id_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || ids[m - 1] != ids[i])
			ids[m++] = ids[i];
	return m;
}

/*
 * The ids of the endpoint sets UDP services of p forward to (only those in
 * among[0..n_among) when among is given: one pass, no sort of them all).
 */
static size_t udp_ids(const struct ebpf_plan *p, const uint32_t *among, size_t n_among,
		      uint32_t **ret)
{
	uint32_t *ids = xcalloc(p->n_svcs ? p->n_svcs : 1, sizeof(*ids));
	size_t n = 0;

	for (size_t i = 0; i < p->n_svcs; i++)
		if (p->svcs[i].k.proto == IPPROTO_UDP && p->svcs[i].v.count &&
		    (!among || ebpf_has_id(among, n_among, p->svcs[i].v.id)))
			ids[n++] = p->svcs[i].v.id;
	*ret = ids;
	return ebpf_ids_sort_unique(ids, n);
}

size_t ebpf_gone_udp(const struct ebpf_plan *from, const struct ebpf_plan *to,
		     const struct ebpf_diff *df, struct kr_backend **ret)
{
	struct kr_backend *cand;
	size_t n = 0, m = 0, n_from, n_to;
	uint32_t *taken, *from_ids, *to_ids;
	bool *alive;

	*ret = NULL;
	for (size_t i = 0; i < df->n_slot_up && !n; i++)
		n = df->slot_up[i].had_old;
	if (!df->n_slot_del && !n)
		return 0; /* endpoints only added */
	n = 0;
	/* candidates: the old values of the slots of UDP sets the diff deletes or overwrites */
	cand = xcalloc(df->n_slot_del + df->n_slot_up, sizeof(*cand));
	taken = xcalloc(df->n_slot_del + df->n_slot_up, sizeof(*taken));
	for (size_t i = 0; i < df->n_slot_del; i++)
		taken[n++] = df->slot_del[i].e.k.id;
	for (size_t i = 0; i < df->n_slot_up; i++)
		if (df->slot_up[i].had_old)
			taken[n++] = df->slot_up[i].e.k.id;
	n = ebpf_ids_sort_unique(taken, n);
	n_from = udp_ids(from, taken, n, &from_ids);
	free(taken);
	n = 0;
	for (size_t i = 0; i < df->n_slot_del; i++)
		if (ebpf_has_id(from_ids, n_from, df->slot_del[i].e.k.id))
			cand[n++] = df->slot_del[i].old;
	for (size_t i = 0; i < df->n_slot_up; i++)
		if (df->slot_up[i].had_old && ebpf_has_id(from_ids, n_from, df->slot_up[i].e.k.id))
			cand[n++] = df->slot_up[i].old;
	free(from_ids);
	if (!n) {
		free(cand);
		return 0;
	}
	qsort(cand, n, sizeof(*cand), backend_cmp);
	for (size_t i = 0; i < n; i++)
		if (!m || backend_cmp(&cand[m - 1], &cand[i]))
			cand[m++] = cand[i];
	/* one pass over the new slots of UDP sets: a candidate still in one stays */
	n_to = udp_ids(to, NULL, 0, &to_ids);
	alive = xcalloc(m, sizeof(*alive));
	for (size_t i = 0; i < to->n_slots; i++) {
		const struct kr_backend *hit;

		if (!ebpf_has_id(to_ids, n_to, to->slots[i].k.id))
			continue;
		hit = bsearch(&to->slots[i].v, cand, m, sizeof(*cand), backend_cmp);
		if (hit)
			alive[hit - cand] = true;
	}
	free(to_ids);
	n = 0;
	for (size_t i = 0; i < m; i++)
		if (!alive[i])
			cand[n++] = cand[i];
	free(alive);
	if (!n) {
		free(cand);
		return 0;
	}
	*ret = cand;
	return n;
}

size_t ebpf_hash_bytes(const void *key, size_t size)
{
	const unsigned char *p = key;
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)(h ^ h >> 29);
}

static size_t be_hash(const struct kr_backend *be)
{
	return ebpf_hash_bytes(be, sizeof(*be)); /* the planner zeroes the padding */
}

static struct ebpf_ep_ref *ref_find(const struct ebpf_ep_refs *r, const struct kr_backend *be)
{
	size_t mask = r->cap - 1;

	for (size_t i = be_hash(be) & mask;; i = (i + 1) & mask)
		if (!r->v[i].used || !memcmp(&r->v[i].be, be, sizeof(*be)))
			return &r->v[i];
}

/* Doubles the table (or halves its load by dropping the endpoints no slot holds). */
static void ref_grow(struct ebpf_ep_refs *r)
{
	struct ebpf_ep_refs next = { .cap = r->cap ? r->cap * 2 : 64 };

	next.v = xcalloc(next.cap, sizeof(*next.v));
	for (size_t i = 0; i < r->cap; i++)
		if (r->v[i].used && r->v[i].n) {
			*ref_find(&next, &r->v[i].be) = r->v[i];
			next.used++;
		}
	free(r->v);
	*r = next;
}

void ebpf_ep_refs_done(struct ebpf_ep_refs *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

void ebpf_ep_refs_add(struct ebpf_ep_refs *r, const struct kr_backend *be, int delta)
{
	struct ebpf_ep_ref *e;

	if ((r->used + 1) * 2 > r->cap)
		ref_grow(r);
	e = ref_find(r, be);
	if (!e->used) {
		e->used = true;
		e->be = *be;
		r->used++;
	}
	e->n = (uint32_t)((int64_t)e->n + delta);
}

uint32_t ebpf_ep_refs_get(const struct ebpf_ep_refs *r, const struct kr_backend *be)
{
	return r->cap ? ref_find(r, be)->n : 0;
}

size_t ebpf_gone_udp_refs(const struct ebpf_diff *df, const uint32_t *udp_ids, size_t n_udp,
			  const struct ebpf_ep_refs *alive, struct kr_backend **ret)
{
	struct kr_backend *cand = xcalloc(df->n_slot_del + df->n_slot_up + 1, sizeof(*cand));
	size_t n = 0, m = 0;

	for (size_t i = 0; i < df->n_slot_del; i++)
		if (ebpf_has_id(udp_ids, n_udp, df->slot_del[i].e.k.id))
			cand[n++] = df->slot_del[i].old;
	for (size_t i = 0; i < df->n_slot_up; i++)
		if (df->slot_up[i].had_old && ebpf_has_id(udp_ids, n_udp, df->slot_up[i].e.k.id))
			cand[n++] = df->slot_up[i].old;
	if (n)
		qsort(cand, n, sizeof(*cand), backend_cmp);
	for (size_t i = 0; i < n; i++)
		if ((!m || backend_cmp(&cand[m - 1], &cand[i])) && !ebpf_ep_refs_get(alive, &cand[i]))
			cand[m++] = cand[i];
	if (!m) {
		free(cand);
		cand = NULL;
	}
	*ret = cand;
	return m;
}
