/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The schedulers that need no connection ranking: random (kube-proxy's
 * iptables/nftables behaviour), rr and wrr (ip_vs_rr.c, ip_vs_wrr.c) and
 * twos (ip_vs_twos.c). "Available" is always weight > 0 and not OVERLOAD.
 * random and twos draw from the state's splitmix64 PRNG, seeded by the
 * caller, never from rand() or the kernel.
 */
#include <stdlib.h>

#include "sched/sched_internal.h"

/* ---- random: uniform over available destinations ---- */

/*
 * A dense list of the available destinations plus each one's position in
 * it: a pick is one draw and one load, an availability flip is one append or
 * swap-remove. Weights other than 0 do not matter, as in kube-proxy, which
 * has no weights.
 */
struct random_state {
	uint32_t *list;		/* available destination indices, any order */
	uint32_t *pos;		/* per dest: position in list, or SCHED_NO_DEST */
	uint32_t count;
	size_t cap;
};

static void random_add(struct random_state *s, size_t idx)
{
	s->pos[idx] = s->count;
	s->list[s->count++] = (uint32_t)idx;
}

static void random_del(struct random_state *s, size_t idx)
{
	uint32_t p = s->pos[idx], last = s->list[--s->count];

	s->list[p] = last;
	s->pos[last] = p;
	s->pos[idx] = SCHED_NO_DEST;
}

static int random_prepare(struct sched_state *st)
{
	struct random_state *s = st->priv;
	size_t n = st->n_dests;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		st->priv = s;
	}
	if (s->cap < n) {
		uint32_t *list = malloc(n * sizeof(*list));
		uint32_t *pos = malloc(n * sizeof(*pos));

		if (!list || !pos) {
			free(list);
			free(pos);
			return -ENOMEM;
		}
		free(s->list);
		free(s->pos);
		s->list = list;
		s->pos = pos;
		s->cap = n;
	}
	s->count = 0;
	for (size_t i = 0; i < n; i++) {
		s->pos[i] = SCHED_NO_DEST;
		if (sched_avail(&st->dests[i]))
			random_add(s, i);
	}
	return 0;
}

static void random_changed(struct sched_state *st, size_t idx)
{
	struct random_state *s = st->priv;
	bool avail = sched_avail(&st->dests[idx]);

	if (avail && s->pos[idx] == SCHED_NO_DEST)
		random_add(s, idx);
	else if (!avail && s->pos[idx] != SCHED_NO_DEST)
		random_del(s, idx);
}

static int random_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	const struct random_state *s = st->priv;

	if (!s->count)
		return -EHOSTUNREACH;
	return (int)s->list[sched_rand_below(&st->rng, s->count)];
}

static size_t random_memory(const struct sched_state *st)
{
	const struct random_state *s = st->priv;

	return s ? sizeof(*s) + s->cap * 2 * sizeof(uint32_t) : 0;
}

static void random_destroy(struct sched_state *st)
{
	struct random_state *s = st->priv;

	if (s) {
		free(s->list);
		free(s->pos);
	}
	free(s);
	st->priv = NULL;
}

static size_t fenwick_memory(const struct sched_state *st)
{
	const struct sched_fenwick *f = st->priv;

	return f ? sizeof(*f) + ((size_t)f->size + 1) * sizeof(*f->sum) +
			   (size_t)f->size * sizeof(*f->val)
		 : 0;
}

static void fenwick_destroy(struct sched_state *st)
{
	struct sched_fenwick *f = st->priv;

	if (f)
		sched_fenwick_done(f);
	free(f);
	st->priv = NULL;
}

const struct sched_ops sched_random_ops = {
	.info = { "random", "uniform over available endpoints (kube-proxy iptables/nftables)",
		  SCHED_CAP_RANDOM },
	.prepare = random_prepare,
	.pick = random_pick,
	.conn_changed = random_changed,
	.memory = random_memory,
	.destroy = random_destroy,
};

/* ---- rr: ip_vs_rr.c ---- */

struct rr_state {
	long cursor; /* last picked index; -1 = the list head */
};

static int rr_prepare(struct sched_state *st)
{
	struct rr_state *s = st->priv;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		s->cursor = -1;
		st->priv = s;
	}
	/*
	 * IPVS keeps the cursor across changes (moving it back when its
	 * destination is deleted); an index past the new end restarts.
	 */
	if (s->cursor >= (long)st->n_dests)
		s->cursor = -1;
	return 0;
}

/*
 * Next available destination after the cursor, wrapping around once; the
 * cursor's own destination is tried last. Starting from the head, one pass.
 */
static int rr_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	struct rr_state *s = st->priv;
	size_t n = st->n_dests;
	size_t start = s->cursor < 0 ? 0 : (size_t)s->cursor + 1;

	for (size_t k = 0; k < n; k++) {
		size_t i = start + k;

		if (i >= n)
			i -= n;
		if (sched_avail(&st->dests[i])) {
			s->cursor = (long)i;
			return (int)i;
		}
	}
	return -EHOSTUNREACH;
}

static size_t small_memory(const struct sched_state *st);

static void free_priv(struct sched_state *st)
{
	free(st->priv);
	st->priv = NULL;
}

const struct sched_ops sched_rr_ops = {
	.info = { "rr", "round robin over available endpoints (IPVS rr)", 0 },
	.prepare = rr_prepare,
	.pick = rr_pick,
	.memory = small_memory,
	.destroy = free_priv,
};

/* ---- wrr: ip_vs_wrr.c ---- */

struct wrr_state {
	long cl;	/* current index; -1 = the list head */
	int cw;		/* current weight */
	int mw;		/* max weight - (di - 1), so that the last pass is cw = 1 */
	int di;		/* gcd of the positive weights */
	bool init;
};

/*
 * ip_vs_wrr_dest_changed() for one set of weights: the cursor goes back to
 * the head, cw is kept when still valid and otherwise reset or realigned to
 * the new gcd.
 */
static void wrr_changed(struct wrr_state *s, uint32_t g, uint32_t maxw)
{
	s->cl = -1;
	s->di = g ? (int)g : 1;
	s->mw = (int)maxw - (s->di - 1);
	if (s->cw > s->mw || !s->cw)
		s->cw = s->mw;
	else if (s->di > 1)
		s->cw = (s->cw / s->di) * s->di + 1;
}

/*
 * The first prepare replays how an IPVS wrr service comes to have these
 * destinations: created empty (cw = 0), then one "ipvsadm -a" per
 * destination, each added at the head of the list, so in reverse array
 * order, each followed by dest_changed(). With positive weights this leaves
 * cw = 1, so a fresh service starts with the last pass (every destination
 * once, in order) before the heavy-first passes; that is what Linux 6.1
 * does. Later prepares are one dest_changed() with the whole new set.
 */
static int wrr_prepare(struct sched_state *st)
{
	struct wrr_state *s = st->priv;
	uint32_t g = 0, maxw = 0;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		st->priv = s;
	}
	for (size_t k = st->n_dests; k-- > 0;) {
		uint32_t w = st->dests[k].weight;

		if (w > 0)
			g = g ? sched_gcd32(w, g) : w;
		if (w > maxw)
			maxw = w;
		if (!s->init)
			wrr_changed(s, g, maxw);
	}
	if (s->init || !st->n_dests)
		wrr_changed(s, g, maxw);
	s->init = true;
	return 0;
}

/*
 * Scan from the cursor for the next destination with weight >= cw that is
 * not OVERLOAD; at the end of each pass lower cw by di, wrapping to mw. The
 * stop logic ends the search once every destination was checked with
 * cw = 1 (the "last pass"), as in ip_vs_wrr_schedule().
 */
static int wrr_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	struct wrr_state *s = st->priv;
	long n = (long)st->n_dests;
	long dest = s->cl, last = s->cl, stop = -2;
	bool last_pass = false, restarted = false;

	if (s->mw == 0)
		return -EHOSTUNREACH;
	for (;;) {
		for (long i = dest + 1; i < n; i++) {
			const struct sched_dest *d = &st->dests[i];

			if (!d->overloaded && (int)d->weight >= s->cw) {
				s->cl = i;
				return (int)i;
			}
			if (i == stop) {
				s->cl = i;
				return -EHOSTUNREACH;
			}
		}
		dest = -1;
		s->cw -= s->di;
		if (s->cw <= 0) {
			s->cw = s->mw;
			if (last_pass || last == -1) {
				s->cl = -1;
				return -EHOSTUNREACH;
			}
			restarted = true;
		}
		last_pass = s->cw <= s->di;
		if (last_pass && restarted && last != -1)
			stop = last;
	}
}

const struct sched_ops sched_wrr_ops = {
	.info = { "wrr", "weighted round robin, heaviest first (IPVS wrr)", SCHED_CAP_WEIGHTS },
	.prepare = wrr_prepare,
	.pick = wrr_pick,
	.memory = small_memory,
	.destroy = free_priv,
};

/* ---- twos: ip_vs_twos.c ---- */

/* Fenwick tree of the weights of available destinations. */
static int twos_prepare(struct sched_state *st)
{
	struct sched_fenwick *f = st->priv;
	bool fresh = !f;
	int r;

	if (fresh) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
	}
	r = sched_fenwick_reset(f, st->n_dests);
	if (r < 0) {
		if (fresh)
			free(f);
		return r;
	}
	for (size_t i = 0; i < st->n_dests; i++)
		f->val[i] = sched_avail(&st->dests[i]) ? st->dests[i].weight : 0;
	sched_fenwick_finish(f);
	st->priv = f;
	return 0;
}

static void twos_changed(struct sched_state *st, size_t idx)
{
	const struct sched_dest *d = &st->dests[idx];

	sched_fenwick_set(st->priv, idx, sched_avail(d) ? d->weight : 0);
}

/*
 * total = sum of available weights + 1; r1, r2 uniform in [0, total). Walking
 * the list and subtracting weights, choice k is the first available
 * destination where r_k drops to <= 0, i.e. the first whose prefix sum
 * reaches max(r_k, 1). Choice 2 wins only with a strictly lower
 * overhead/weight. IPVS draws with prandom_u32() % total; we draw without
 * modulo bias.
 */
static int twos_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	const struct sched_fenwick *f = st->priv;
	uint32_t total, r1, r2;
	size_t c1, c2;
	const struct sched_dest *d1, *d2;

	if (!f->total)
		return -EHOSTUNREACH;
	total = (uint32_t)f->total + 1;
	r1 = sched_rand_below(&st->rng, total);
	r2 = sched_rand_below(&st->rng, total);
	sched_fenwick_find2(f, r1 ? r1 : 1, r2 ? r2 : 1, &c1, &c2);
	d1 = &st->dests[c1];
	d2 = &st->dests[c2];
	if ((uint64_t)d2->weight * sched_overhead(d1) > (uint64_t)d1->weight * sched_overhead(d2))
		return (int)c2;
	return (int)c1;
}

const struct sched_ops sched_twos_ops = {
	.info = { "twos", "weighted power of two choices, lower overhead/weight wins (IPVS twos)",
		  SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS | SCHED_CAP_RANDOM },
	.prepare = twos_prepare,
	.pick = twos_pick,
	.conn_changed = twos_changed,
	.memory = fenwick_memory,
	.destroy = fenwick_destroy,
};

static size_t small_memory(const struct sched_state *st)
{
	if (!st->priv)
		return 0;
	return st->ops == &sched_rr_ops ? sizeof(struct rr_state) : sizeof(struct wrr_state);
}
