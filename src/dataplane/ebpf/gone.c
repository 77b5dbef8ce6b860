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

static bool has_id(const uint32_t *ids, size_t n, uint32_t id)
{
	return n && bsearch(&id, ids, n, sizeof(*ids), id_cmp);
}

/* ids sorted, each once; returns how many. */
static size_t sort_unique(uint32_t *ids, size_t n)
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
		    (!among || has_id(among, n_among, p->svcs[i].v.id)))
			ids[n++] = p->svcs[i].v.id;
	*ret = ids;
	return sort_unique(ids, n);
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
	n = sort_unique(taken, n);
	n_from = udp_ids(from, taken, n, &from_ids);
	free(taken);
	n = 0;
	for (size_t i = 0; i < df->n_slot_del; i++)
		if (has_id(from_ids, n_from, df->slot_del[i].e.k.id))
			cand[n++] = df->slot_del[i].old;
	for (size_t i = 0; i < df->n_slot_up; i++)
		if (df->slot_up[i].had_old && has_id(from_ids, n_from, df->slot_up[i].e.k.id))
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

		if (!has_id(to_ids, n_to, to->slots[i].k.id))
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
