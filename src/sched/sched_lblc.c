/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Locality-based least connection, lblc (ip_vs_lblc.c) and lblcr with
 * replication (ip_vs_lblcr.c). Both cache, per destination IP of the flow,
 * the server(s) chosen for it, and fall back to a wlc pick (the tournament
 * tree of sched_tree.c) when the cached choice is gone or overloaded in the
 * lblc sense: active > weight while some server has active * 2 < weight.
 *
 * The cache is bounded (cfg.lblc_max_entries, default 16384 = IPVS's
 * 16 x 1024 buckets soft limit, here a hard one) and kept with the IPVS
 * timings, driven by the caller's clock instead of a kernel timer: a check
 * every 60 s; every 30th check drops entries unused for lblc_expiration
 * (default 24 h); when the cache is full, entries unused for 6 min are
 * dropped (at most once a second), and if that frees nothing the new choice
 * is simply not cached, as IPVS does when it cannot allocate an entry.
 *
 * Deviations from IPVS, on purpose:
 * - a cached server with the OVERLOAD flag is not reused (IPVS lblc only
 *   checks weight and the lblc-sense overload); every kroute scheduler skips
 *   OVERLOAD destinations;
 * - lblcr sets hold at most LBLCR_SET_MAX servers; adding to a full set
 *   first removes its most loaded member;
 * - when the endpoint array changes, cached servers are found again by
 *   identity (64-bit SipHash of family, address, port) and servers that left
 *   are dropped from the cache at once instead of lingering as "unavailable".
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

#define LBLC_TAB_BITS 10
#define LBLC_TAB_SIZE (1u << LBLC_TAB_BITS)
#define LBLCR_SET_MAX 8

#define NSEC 1000000000ull
#define CHECK_EXPIRE_INTERVAL (60 * NSEC)
#define ENTRY_TIMEOUT (6 * 60 * NSEC)
#define COUNT_FOR_FULL_EXPIRATION 30
#define FULL_GC_MIN_INTERVAL (1 * NSEC)
#define POOL_MIN 64u

#define NONE SCHED_NO_DEST

struct lblc_entry {
	uint64_t lastuse;
	uint64_t lastmod;		/* lblcr: when the set last changed */
	uint32_t next;			/* bucket chain or free list; NONE ends it */
	uint8_t family;
	uint8_t n_set;			/* lblc: 0 or 1 */
	uint8_t addr[16];		/* the flow's destination IP */
	uint32_t set[LBLCR_SET_MAX];	/* dest indices, most recently added first */
};

struct lblc_state {
	uint32_t bucket[LBLC_TAB_SIZE];
	struct lblc_entry *pool;	/* grows by doubling up to max */
	uint32_t cap, used, max, entries, free_head;
	uint32_t counter;
	bool clock_started;
	uint64_t last_check, last_full_gc;
	struct sched_tree wlc;
	uint8_t *half;			/* per dest: active * 2 < weight */
	uint32_t n_half;
	uint64_t *keys;			/* identity of each dest at the last prepare */
	size_t n_keys;
};

struct key_idx {
	uint64_t key;
	uint32_t idx;
};

static int key_idx_cmp(const void *a, const void *b)
{
	const struct key_idx *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static uint32_t find_key(const struct key_idx *map, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (map[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && map[lo].key == key ? map[lo].idx : NONE;
}

/* Both modules hash the folded address with hash_32() (current kernels). */
static inline uint32_t bucket_of(uint8_t family, const uint8_t *addr)
{
	return sched_hash_32(sched_addr_fold(family, addr), LBLC_TAB_BITS);
}

static inline bool half_loaded(const struct sched_dest *d)
{
	return (uint64_t)d->active_conns * 2 < d->weight;
}

/* "Overloaded" in the lblc sense (is_overloaded() in both modules). */
static inline bool lblc_overloaded(const struct lblc_state *s, const struct sched_dest *d)
{
	return d->active_conns > d->weight && s->n_half > 0;
}

/* Carry cache entries over to the new dest array by identity. */
static void remap(struct lblc_state *s, const struct key_idx *map, size_t n_map)
{
	for (uint32_t b = 0; b < LBLC_TAB_SIZE; b++) {
		for (uint32_t e = s->bucket[b]; e != NONE; e = s->pool[e].next) {
			struct lblc_entry *en = &s->pool[e];
			uint8_t k = 0;

			for (uint8_t j = 0; j < en->n_set; j++) {
				uint32_t old = en->set[j];
				uint32_t idx = old < s->n_keys ? find_key(map, n_map, s->keys[old])
							       : NONE;

				if (idx != NONE)
					en->set[k++] = idx;
			}
			en->n_set = k;
		}
	}
}

static int lblc_prepare(struct sched_state *st)
{
	struct lblc_state *s = st->priv;
	size_t n = st->n_dests;
	struct key_idx *map = NULL;
	uint64_t *keys = NULL;
	uint8_t *half = NULL;
	bool fresh = !s;
	int r = -ENOMEM;

	if (fresh) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return -ENOMEM;
		memset(s->bucket, 0xff, sizeof(s->bucket));
		s->free_head = NONE;
		s->counter = 1;
	}
	keys = malloc((n ? n : 1) * sizeof(*keys));
	map = malloc((n ? n : 1) * sizeof(*map));
	half = malloc(n ? n : 1);
	if (!keys || !map || !half)
		goto err;
	r = sched_tree_build(&s->wlc, SCHED_RANK_WLC, st->dests, n);
	if (r < 0)
		goto err;

	s->n_half = 0;
	for (size_t i = 0; i < n; i++) {
		keys[i] = sched_dest_key(&st->dests[i]);
		map[i] = (struct key_idx){ keys[i], (uint32_t)i };
		half[i] = half_loaded(&st->dests[i]);
		s->n_half += half[i];
	}
	qsort(map, n, sizeof(*map), key_idx_cmp);
	remap(s, map, n);
	s->max = st->cfg.lblc_max_entries;
	free(s->keys);
	free(s->half);
	s->keys = keys;
	s->n_keys = n;
	s->half = half;
	free(map);
	st->priv = s;
	return 0;
err:
	free(keys);
	free(map);
	free(half);
	if (fresh) {
		sched_tree_done(&s->wlc);
		free(s);
	}
	return r;
}

static void lblc_changed(struct sched_state *st, size_t idx)
{
	struct lblc_state *s = st->priv;
	uint8_t h = half_loaded(&st->dests[idx]);

	sched_tree_update(&s->wlc, st->dests, idx);
	if (h != s->half[idx]) {
		s->n_half += h ? 1 : -1u;
		s->half[idx] = h;
	}
}

static void entry_free(struct lblc_state *s, uint32_t e)
{
	s->pool[e].next = s->free_head;
	s->free_head = e;
	s->entries--;
}

/* Drop entries unused for `idle` ns, at most `goal` of them (0 = no limit). */
static uint32_t collect(struct lblc_state *s, uint64_t now, uint64_t idle, uint32_t goal)
{
	uint32_t dropped = 0;

	for (uint32_t b = 0; b < LBLC_TAB_SIZE; b++) {
		uint32_t *link = &s->bucket[b];

		while (*link != NONE) {
			uint32_t e = *link;

			if (now - s->pool[e].lastuse >= idle && now >= s->pool[e].lastuse) {
				*link = s->pool[e].next;
				entry_free(s, e);
				if (++dropped == goal)
					return dropped;
			} else {
				link = &s->pool[e].next;
			}
		}
	}
	return dropped;
}

/* The periodic part of ip_vs_lblc_check_expire(), run from pick. */
static void periodic_check(struct sched_state *st, struct lblc_state *s, uint64_t now)
{
	if (!s->clock_started) {
		s->clock_started = true;
		s->last_check = now;
		return;
	}
	if (now - s->last_check < CHECK_EXPIRE_INTERVAL || now < s->last_check)
		return;
	s->last_check = now;
	if (s->counter % COUNT_FOR_FULL_EXPIRATION == 0) {
		(void)collect(s, now, st->cfg.lblc_expiration_ns, 0);
		s->counter = 1;
	} else {
		s->counter++;
	}
}

/* A free entry, growing the pool or collecting idle entries; NONE if full. */
static uint32_t entry_alloc(struct lblc_state *s, uint64_t now)
{
	uint32_t e;

	if (s->free_head == NONE && s->used == s->cap && s->cap < s->max) {
		uint32_t cap = s->cap ? s->cap * 2 : POOL_MIN;
		struct lblc_entry *pool;

		if (cap > s->max)
			cap = s->max;
		pool = realloc(s->pool, (size_t)cap * sizeof(*pool));
		if (pool) {
			s->pool = pool;
			s->cap = cap;
		}
	}
	if (s->free_head == NONE && s->used == s->cap &&
	    (!s->last_full_gc || now - s->last_full_gc >= FULL_GC_MIN_INTERVAL)) {
		s->last_full_gc = now ? now : 1;
		(void)collect(s, now, ENTRY_TIMEOUT, s->max / 2);
	}
	if (s->free_head != NONE) {
		e = s->free_head;
		s->free_head = s->pool[e].next;
	} else if (s->used < s->cap) {
		e = s->used++;
	} else {
		return NONE;
	}
	s->entries++;
	return e;
}

static struct lblc_entry *entry_find(struct lblc_state *s, uint32_t b,
				     const struct sched_flow *flow)
{
	size_t alen = sched_addr_len(flow->family);

	for (uint32_t e = s->bucket[b]; e != NONE; e = s->pool[e].next) {
		struct lblc_entry *en = &s->pool[e];

		if (en->family == flow->family && memcmp(en->addr, flow->daddr, alen) == 0)
			return en;
	}
	return NULL;
}

static void entry_new(struct lblc_state *s, uint32_t b, const struct sched_flow *flow,
		      uint32_t dest, uint64_t now)
{
	uint32_t e = entry_alloc(s, now);
	struct lblc_entry *en;

	if (e == NONE)
		return;
	en = &s->pool[e];
	memset(en, 0, sizeof(*en));
	en->family = flow->family;
	memcpy(en->addr, flow->daddr, sched_addr_len(flow->family));
	en->lastuse = now;
	en->lastmod = now;
	en->n_set = 1;
	en->set[0] = dest;
	en->next = s->bucket[b];
	s->bucket[b] = e;
}

static int lblc_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now)
{
	struct lblc_state *s = st->priv;
	uint32_t b = bucket_of(flow->family, flow->daddr);
	struct lblc_entry *en;
	uint32_t d;

	periodic_check(st, s, now);
	en = entry_find(s, b, flow);
	if (en) {
		en->lastuse = now;
		if (en->n_set) {
			const struct sched_dest *x = &st->dests[en->set[0]];

			if (sched_avail(x) && !lblc_overloaded(s, x))
				return (int)en->set[0];
		}
	}
	d = sched_tree_best(&s->wlc);
	if (d == NONE)
		return -EHOSTUNREACH;
	if (en) {
		en->set[0] = d;
		en->n_set = 1;
	} else {
		entry_new(s, b, flow, d, now);
	}
	return (int)d;
}

/* ip_vs_dest_set_min(): the wlc-least member, skipping OVERLOAD. */
static uint32_t set_min(const struct sched_state *st, const struct lblc_entry *en)
{
	uint32_t least = NONE;

	for (uint8_t j = 0; j < en->n_set; j++) {
		const struct sched_dest *x = &st->dests[en->set[j]];

		if (x->overloaded)
			continue;
		if (least == NONE) {
			if (x->weight > 0)
				least = en->set[j];
			continue;
		}
		if (sched_overhead(&st->dests[least]) * x->weight >
		    sched_overhead(x) * st->dests[least].weight)
			least = en->set[j];
	}
	return least;
}

/* ip_vs_dest_set_max(): the wlc-most loaded member with weight > 0. */
static uint32_t set_max(const struct sched_state *st, const struct lblc_entry *en)
{
	uint32_t most = NONE;

	for (uint8_t j = 0; j < en->n_set; j++) {
		const struct sched_dest *x = &st->dests[en->set[j]];

		if (!x->weight)
			continue;
		if (most == NONE ||
		    sched_overhead(&st->dests[most]) * x->weight <
			    sched_overhead(x) * st->dests[most].weight)
			most = en->set[j];
	}
	return most;
}

static void set_erase(struct lblc_entry *en, uint32_t d, uint64_t now)
{
	for (uint8_t j = 0; j < en->n_set; j++) {
		if (en->set[j] != d)
			continue;
		memmove(&en->set[j], &en->set[j + 1],
			(size_t)(en->n_set - j - 1) * sizeof(en->set[0]));
		en->n_set--;
		en->lastmod = now;
		return;
	}
}

static void set_insert(const struct sched_state *st, struct lblc_entry *en, uint32_t d,
		       uint64_t now)
{
	for (uint8_t j = 0; j < en->n_set; j++)
		if (en->set[j] == d)
			return;
	if (en->n_set == LBLCR_SET_MAX) {
		uint32_t m = set_max(st, en);

		set_erase(en, m != NONE ? m : en->set[en->n_set - 1], now);
	}
	memmove(&en->set[1], &en->set[0], (size_t)en->n_set * sizeof(en->set[0]));
	en->set[0] = d;
	en->n_set++;
	en->lastmod = now;
}

static int lblcr_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now)
{
	struct lblc_state *s = st->priv;
	uint32_t b = bucket_of(flow->family, flow->daddr);
	struct lblc_entry *en;
	uint32_t d;

	periodic_check(st, s, now);
	en = entry_find(s, b, flow);
	if (en) {
		en->lastuse = now;
		d = set_min(st, en);
		/* A set unchanged for lblcr_expiration sheds its most loaded member. */
		if (en->n_set > 1 && now > en->lastmod + st->cfg.lblc_expiration_ns) {
			uint32_t m = set_max(st, en);

			if (m != NONE)
				set_erase(en, m, now);
		}
		if (d != NONE && !lblc_overloaded(s, &st->dests[d]))
			return (int)d;
		d = sched_tree_best(&s->wlc);
		if (d == NONE)
			return -EHOSTUNREACH;
		set_insert(st, en, d, now);
		return (int)d;
	}
	d = sched_tree_best(&s->wlc);
	if (d == NONE)
		return -EHOSTUNREACH;
	entry_new(s, b, flow, d, now);
	return (int)d;
}

static size_t lblc_memory(const struct sched_state *st)
{
	const struct lblc_state *s = st->priv;

	if (!s)
		return 0;
	return sizeof(*s) + (size_t)s->cap * sizeof(*s->pool) +
	       sched_tree_memory(&s->wlc) +
	       s->n_keys * (sizeof(*s->keys) + sizeof(*s->half));
}

static void lblc_destroy(struct sched_state *st)
{
	struct lblc_state *s = st->priv;

	if (s) {
		sched_tree_done(&s->wlc);
		free(s->pool);
		free(s->half);
		free(s->keys);
	}
	free(s);
	st->priv = NULL;
}

const struct sched_ops sched_lblc_ops = {
	.info = { "lblc", "locality-based least connection: cache per destination IP, else wlc "
			  "(IPVS lblc)",
		  SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS | SCHED_CAP_CACHE },
	.prepare = lblc_prepare,
	.pick = lblc_pick,
	.conn_changed = lblc_changed,
	.memory = lblc_memory,
	.destroy = lblc_destroy,
};

const struct sched_ops sched_lblcr_ops = {
	.info = { "lblcr", "lblc with a replicated server set per destination IP (IPVS lblcr)",
		  SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS | SCHED_CAP_CACHE },
	.prepare = lblc_prepare,
	.pick = lblcr_pick,
	.conn_changed = lblc_changed,
	.memory = lblc_memory,
	.destroy = lblc_destroy,
};
