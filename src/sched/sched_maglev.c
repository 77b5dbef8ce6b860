/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4) with a
 * configurable prime table size M (default 65537, the paper's). The built
 * table, an array of M destination indices, is the product: the userspace
 * proxy looks flows up in it, and kernel data planes load it as an nft map or
 * a BPF array.
 *
 * Table construction:
 * - Members are the destinations with weight > 0, taken in the order of their
 *   identity (family, address bytes, port), not array order, so the table
 *   depends only on the set of (endpoint, weight) and every node builds the
 *   same one.
 * - Backend i's permutation: offset = h1 % M, skip = h2 % (M - 1) + 1, with
 *   h1/h2 = SipHash-1-3 of (family, port, address) under the fixed keys
 *   "kroute-maglev-o!" and "kroute-maglev-s!". M prime makes every skip
 *   coprime with M, so each permutation visits every slot.
 * - Weights: rounds over the members in order; each round adds its weight to
 *   a member's credit, and a member whose credit reaches the largest weight
 *   W spends W to claim the next still-empty slot of its permutation (the
 *   cumulative-weight scheme of Katran's MaglevHashV2). With equal weights
 *   every member claims once per round, so slot counts differ by at most 1;
 *   in general member i gets M * w_i / sum(w) slots to within one.
 *
 * Lookup: slot = sched_flow_hash(flow) % M. A destination that became
 * unavailable after the build (weight set to 0 in place, or OVERLOAD) is
 * skipped by probing the following slots (slot + 1, slot + 2, ... mod M),
 * which is deterministic per flow; a rebuild drops weight-0 destinations
 * from the table, so kernel tables never point at them.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

#define MAGLEV_KO0 0x6d2d6574756f726bull /* "kroute-maglev-o!" */
#define MAGLEV_KO1 0x216f2d76656c6761ull
#define MAGLEV_KS0 0x6d2d6574756f726bull /* "kroute-maglev-s!" */
#define MAGLEV_KS1 0x21732d76656c6761ull

enum {
	MEMBER_NONE,		/* no slots in the table (weight 0 at build time) */
	MEMBER_DOWN,		/* has slots, unavailable now */
	MEMBER_UP,		/* has slots, available now */
};

struct maglev_state {
	uint32_t m;
	uint32_t *table;	/* m destination indices, or SCHED_NO_DEST */
	uint8_t *member;	/* per dest: MEMBER_* */
	size_t n_member_cap;
	uint32_t n_avail;	/* members that are available right now */
};

static int dest_cmp(const void *a, const void *b, void *arg)
{
	const struct sched_dest *d = arg;
	const struct sched_dest *x = &d[*(const uint32_t *)a], *y = &d[*(const uint32_t *)b];
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(x->addr, y->addr, sched_addr_len(x->family));
	if (c)
		return c;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	/* Duplicates keep array order, so the sort is deterministic. */
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

/*
 * Fill table[0..m) from the members listed in order[0..k). scratch needs
 * 4*k uint32 and (m+63)/64 uint64.
 */
static void maglev_populate(const struct sched_dest *d, const uint32_t *order, uint32_t k,
			    uint32_t m, uint32_t *table, uint32_t *scratch, uint64_t *bitmap)
{
	uint32_t *next = scratch, *skip = scratch + k, *weight = scratch + 2 * k;
	uint32_t *credit = scratch + 3 * k;
	uint32_t wmax = 0, filled = 0;

	for (uint32_t j = 0; j < k; j++) {
		const struct sched_dest *x = &d[order[j]];

		next[j] = (uint32_t)(sched_dest_hash(x, MAGLEV_KO0, MAGLEV_KO1) % m);
		skip[j] = (uint32_t)(sched_dest_hash(x, MAGLEV_KS0, MAGLEV_KS1) % (m - 1)) + 1;
		weight[j] = x->weight;
		credit[j] = 0;
		if (x->weight > wmax)
			wmax = x->weight;
	}
	memset(bitmap, 0, (m + 63) / 64 * sizeof(*bitmap));
	for (;;) {
		for (uint32_t j = 0; j < k; j++) {
			uint32_t c;

			credit[j] += weight[j];
			if (credit[j] < wmax)
				continue;
			credit[j] -= wmax;
			c = next[j];
			while (bitmap[c >> 6] & (1ull << (c & 63))) {
				c += skip[j];
				if (c >= m)
					c -= m;
			}
			bitmap[c >> 6] |= 1ull << (c & 63);
			table[c] = order[j];
			/* The claimed slot is full now: start the next turn past it. */
			c += skip[j];
			next[j] = c >= m ? c - m : c;
			if (++filled == m)
				return;
		}
	}
}

static int maglev_prepare(struct sched_state *st)
{
	struct maglev_state *s = st->priv;
	uint32_t m = st->cfg.maglev_table_size;
	size_t n = st->n_dests;
	uint32_t *order = NULL, *scratch = NULL, *table = NULL;
	uint64_t *bitmap = NULL;
	uint8_t *member = NULL;
	uint32_t k = 0;
	bool fresh = !s, new_table = false, new_member = false;
	int r = -ENOMEM;

	if (fresh) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		k += st->dests[i].weight > 0;
	if (k > m) {
		r = -EINVAL;
		goto err;
	}
	/* Reuse the arrays when they fit: a rebuild then allocates only scratch. */
	new_table = !s->table || s->m != m;
	new_member = !s->member || s->n_member_cap < n;
	table = new_table ? malloc((size_t)m * sizeof(*table)) : s->table;
	member = new_member ? malloc(n ? n : 1) : s->member;
	order = malloc((k ? k : 1) * sizeof(*order));
	scratch = malloc((4 * (size_t)k + 1) * sizeof(*scratch));
	bitmap = malloc((m + 63) / 64 * sizeof(*bitmap));
	if (!table || !member || !order || !scratch || !bitmap)
		goto err;

	k = 0;
	s->n_avail = 0;
	for (size_t i = 0; i < n; i++) {
		member[i] = MEMBER_NONE;
		if (!st->dests[i].weight)
			continue;
		order[k++] = (uint32_t)i;
		member[i] = sched_avail(&st->dests[i]) ? MEMBER_UP : MEMBER_DOWN;
		s->n_avail += member[i] == MEMBER_UP;
	}
	if (k) {
		qsort_r(order, k, sizeof(*order), dest_cmp, st->dests);
		maglev_populate(st->dests, order, k, m, table, scratch, bitmap);
	} else {
		for (uint32_t i = 0; i < m; i++)
			table[i] = SCHED_NO_DEST;
	}

	if (new_table)
		free(s->table);
	if (new_member) {
		free(s->member);
		s->n_member_cap = n;
	}
	s->table = table;
	s->member = member;
	s->m = m;
	st->priv = s;
	free(order);
	free(scratch);
	free(bitmap);
	return 0;
err:
	if (table && new_table)
		free(table);
	if (member && new_member)
		free(member);
	free(order);
	free(scratch);
	free(bitmap);
	if (fresh)
		free(s);
	return r;
}

/* Keep the count of available members current (OVERLOAD flips). */
static void maglev_changed(struct sched_state *st, size_t idx)
{
	struct maglev_state *s = st->priv;
	uint8_t now;

	if (s->member[idx] == MEMBER_NONE)
		return;
	now = sched_avail(&st->dests[idx]) ? MEMBER_UP : MEMBER_DOWN;
	if (now != s->member[idx])
		s->n_avail += now == MEMBER_UP ? 1 : -1u;
	s->member[idx] = now;
}

static int maglev_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	const struct maglev_state *s = st->priv;
	uint32_t slot = (uint32_t)(sched_flow_hash(flow) % s->m);
	uint32_t idx = s->table[slot];

	if (idx == SCHED_NO_DEST)
		return -EHOSTUNREACH;
	if (sched_avail(&st->dests[idx]))
		return (int)idx;
	if (!s->n_avail)
		return -EHOSTUNREACH;
	for (uint32_t k = 1; k < s->m; k++) {
		if (++slot == s->m)
			slot = 0;
		idx = s->table[slot];
		if (sched_avail(&st->dests[idx]))
			return (int)idx;
	}
	return -EHOSTUNREACH;
}

int sched_maglev_table(const struct sched_state *st, struct sched_table_view *ret_view)
{
	const struct maglev_state *s = st->priv;

	if (!s || !s->table)
		return -ENOENT;
	ret_view->table = s->table;
	ret_view->len = s->m;
	return 0;
}

static size_t maglev_memory(const struct sched_state *st)
{
	const struct maglev_state *s = st->priv;

	return s ? sizeof(*s) + (size_t)s->m * sizeof(*s->table) + s->n_member_cap : 0;
}

static void maglev_destroy(struct sched_state *st)
{
	struct maglev_state *s = st->priv;

	if (s) {
		free(s->table);
		free(s->member);
	}
	free(s);
	st->priv = NULL;
}

const struct sched_ops sched_maglev_ops = {
	.info = { "maglev", "Maglev consistent hashing of the 5-tuple, prime table (default 65537)",
		  SCHED_CAP_WEIGHTS | SCHED_CAP_HASH | SCHED_CAP_TABLE },
	.prepare = maglev_prepare,
	.pick = maglev_pick,
	.conn_changed = maglev_changed,
	.memory = maglev_memory,
	.destroy = maglev_destroy,
};
