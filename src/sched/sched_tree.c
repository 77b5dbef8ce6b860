/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Index structures that turn the O(n) IPVS scans into O(1) picks with
 * O(log n) updates, without changing their results.
 *
 * The tournament tree keeps, per subtree, the first best destination in list
 * order under one of the least-connection rankings. IPVS scans the list and
 * replaces its candidate only with a strictly better one, so it returns the
 * first best destination; a tournament whose ties go to the left child
 * returns the same one, because each ranking is a strict weak order (a
 * comparison of keys or of exact rationals, never a float).
 *
 * The Fenwick tree keeps prefix sums of per-destination values (weights, or
 * 1 per available destination) for the weighted walks of twos and random.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

static bool tree_eligible(enum sched_rank rank, const struct sched_dest *d)
{
	if (!sched_avail(d))
		return false;
	if (rank == SCHED_RANK_OVF && d->active_conns > d->weight)
		return false;
	return true;
}

/*
 * Every ranking is "smallest num/den wins", compared by cross-multiplying
 * in 64 bits as IPVS does (num <= 2^40, den <= 2^16):
 *   lc   overhead / 1              wlc  overhead / weight
 *   sed  (active + 1) / weight     nq   0 / 1 when idle, else as sed
 *   fo, ovf   1 / weight (the highest weight wins)
 * nq's idle destinations all tie at 0, so the first idle one wins, as the
 * kernel returns the first idle destination at once. The keys live in a
 * compact array so an update touches 16 bytes per level, not two dests.
 */
static struct sched_tree_key tree_key(enum sched_rank rank, const struct sched_dest *d)
{
	switch (rank) {
	case SCHED_RANK_LC:
		return (struct sched_tree_key){ sched_overhead(d), 1 };
	case SCHED_RANK_WLC:
		return (struct sched_tree_key){ sched_overhead(d), d->weight };
	case SCHED_RANK_NQ:
		if (!d->active_conns)
			return (struct sched_tree_key){ 0, 1 };
		/* fall through */
	case SCHED_RANK_SED:
		return (struct sched_tree_key){ (uint64_t)d->active_conns + 1, d->weight };
	case SCHED_RANK_FO:
	case SCHED_RANK_OVF:
		break;
	}
	return (struct sched_tree_key){ 1, d->weight };
}

static inline uint32_t tree_combine(const struct sched_tree *t, uint32_t left, uint32_t right)
{
	const struct sched_tree_key *a, *b;

	if (left == SCHED_NO_DEST)
		return right;
	if (right == SCHED_NO_DEST)
		return left;
	a = &t->key[left];
	b = &t->key[right];
	/* The later (right) one wins only when strictly better. */
	return a->num * b->den > b->num * a->den ? right : left;
}

/*
 * Build (or rebuild) the tree over d[0..n). Reuses the arrays when they are
 * large enough. Returns 0 or -ENOMEM (the old tree is then left untouched).
 */
int sched_tree_build(struct sched_tree *t, enum sched_rank rank, const struct sched_dest *d,
		     size_t n)
{
	uint32_t leaves = 1;

	while (leaves < n)
		leaves <<= 1;
	if (!t->node || t->leaves != leaves) {
		uint32_t *node = calloc(2 * (size_t)leaves, sizeof(*node));
		struct sched_tree_key *key = calloc(leaves, sizeof(*key));

		if (!node || !key) {
			free(node);
			free(key);
			return -ENOMEM;
		}
		free(t->node);
		free(t->key);
		t->node = node;
		t->key = key;
		t->leaves = leaves;
	}
	t->rank = rank;
	for (uint32_t i = 0; i < leaves; i++) {
		bool ok = i < n && tree_eligible(rank, &d[i]);

		t->node[leaves + i] = ok ? i : SCHED_NO_DEST;
		if (ok)
			t->key[i] = tree_key(rank, &d[i]);
	}
	for (uint32_t i = leaves - 1; i >= 1; i--)
		t->node[i] = tree_combine(t, t->node[2 * i], t->node[2 * i + 1]);
	return 0;
}

/* Re-rank d[idx] after its counters or flags changed: O(log n). */
void sched_tree_update(struct sched_tree *t, const struct sched_dest *d, size_t idx)
{
	uint32_t i;
	bool ok;

	if (!t->node || idx >= t->leaves)
		return;
	ok = tree_eligible(t->rank, &d[idx]);
	if (ok)
		t->key[idx] = tree_key(t->rank, &d[idx]);
	i = t->leaves + (uint32_t)idx;
	t->node[i] = ok ? (uint32_t)idx : SCHED_NO_DEST;
	for (i >>= 1; i >= 1; i >>= 1) {
		uint32_t old = t->node[i];

		t->node[i] = tree_combine(t, t->node[2 * i], t->node[2 * i + 1]);
		/*
		 * Same winner, and not the destination that changed: nothing
		 * above can change either.
		 */
		if (t->node[i] == old && old != (uint32_t)idx)
			return;
	}
}

void sched_tree_done(struct sched_tree *t)
{
	free(t->node);
	free(t->key);
	t->node = NULL;
	t->key = NULL;
	t->leaves = 0;
}

/*
 * Size the tree for n values, all zero. The caller then writes f->val[0..n)
 * and calls sched_fenwick_finish(). The tree covers a power of two of
 * slots (the rest stay 0) so the search needs no bounds check.
 * Returns 0 or -ENOMEM (tree unchanged).
 */
int sched_fenwick_reset(struct sched_fenwick *f, size_t n)
{
	uint32_t size = 1;

	while (size < n)
		size <<= 1;
	if (!f->sum || f->size != size) {
		uint64_t *sum = calloc((size_t)size + 1, sizeof(*sum));
		uint32_t *val = calloc(size, sizeof(*val));

		if (!sum || !val) {
			free(sum);
			free(val);
			return -ENOMEM;
		}
		free(f->sum);
		free(f->val);
		f->sum = sum;
		f->val = val;
		f->size = size;
	}
	f->n = (uint32_t)n;
	memset(f->val, 0, (size_t)f->size * sizeof(*f->val));
	memset(f->sum, 0, ((size_t)f->size + 1) * sizeof(*f->sum));
	f->total = 0;
	return 0;
}

/* Compute the partial sums from f->val in linear time. */
void sched_fenwick_finish(struct sched_fenwick *f)
{
	f->total = 0;
	for (size_t i = 0; i < f->size; i++) {
		f->total += f->val[i];
		f->sum[i + 1] = f->val[i];
	}
	for (size_t i = 1; i <= f->size; i++) {
		size_t parent = i + (i & -i);

		if (parent <= f->size)
			f->sum[parent] += f->sum[i];
	}
}

void sched_fenwick_set(struct sched_fenwick *f, size_t idx, uint32_t v)
{
	uint64_t delta;

	if (idx >= f->n || f->val[idx] == v)
		return;
	/* Unsigned wrap-around makes "add a negative delta" work. */
	delta = (uint64_t)v - f->val[idx];
	f->total += delta;
	f->val[idx] = v;
	for (size_t i = idx + 1; i <= f->size; i += i & -i)
		f->sum[i] += delta;
}

/*
 * For each of r1 and r2: the smallest index i whose prefix sum val[0..i]
 * reaches r (1 <= r <= total), or f->n when r is out of range. Binary
 * lifting written with masks so it compiles to conditional moves; the two
 * searches (twos draws two) are interleaved so the CPU overlaps their
 * chains of dependent loads.
 */
void sched_fenwick_find2(const struct sched_fenwick *f, uint64_t r1, uint64_t r2,
			 size_t *ret_i1, size_t *ret_i2)
{
	size_t p1 = 0, p2 = 0;
	bool ok1 = r1 && r1 <= f->total, ok2 = r2 && r2 <= f->total;

	/* r = 0 never moves right: an out-of-range search stays in bounds. */
	r1 = ok1 ? r1 : 0;
	r2 = ok2 ? r2 : 0;

	for (size_t step = f->size; step; step >>= 1) {
		uint64_t v1 = f->sum[p1 + step], v2 = f->sum[p2 + step];
		uint64_t t1 = -(uint64_t)(v1 < r1), t2 = -(uint64_t)(v2 < r2);

		p1 += step & t1;
		r1 -= v1 & t1;
		p2 += step & t2;
		r2 -= v2 & t2;
	}
	*ret_i1 = ok1 ? p1 : f->n;
	*ret_i2 = ok2 ? p2 : f->n;
}

void sched_fenwick_done(struct sched_fenwick *f)
{
	free(f->sum);
	free(f->val);
	f->sum = NULL;
	f->val = NULL;
	f->n = 0;
	f->size = 0;
	f->total = 0;
}
