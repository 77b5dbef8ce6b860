/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPVS hashing schedulers: dh (ip_vs_dh.c), sh (ip_vs_sh.c) and mh
 * (ip_vs_mh.c), with the kernel's table layouts, hash functions and fixed
 * keys, so a given flow lands on the same destination as under IPVS with the
 * same destination list. Our list order is the array order; the kernel's is
 * the reverse of the order destinations were added (each goes to the head),
 * and ipvsadm -Ln sorts its output, so it shows neither. Checked against
 * Linux 6.1 ip_vs under qemu: identical picks for sh (weights, sh-port,
 * sh-fallback), mh (weights, rshift, mh-port, mh-fallback, last_weight)
 * and dh. A hashed slot whose destination has
 * weight 0 or is OVERLOAD is "unavailable": the flow fails unless the
 * fallback flag makes the scheduler probe further, deterministically.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

#define HASH_TAB_BITS 8 /* CONFIG_IP_VS_DH_TAB_BITS, CONFIG_IP_VS_SH_TAB_BITS defaults */
#define HASH_TAB_SIZE (1u << HASH_TAB_BITS)
#define HASH_TAB_MASK (HASH_TAB_SIZE - 1)

/* The keys of generate_hash_secret() in ip_vs_mh.c (both words equal). */
#define MH_KEY1 2654435761ull
#define MH_KEY2 2654446892ull

struct hash_table {
	uint32_t len;
	uint32_t slot[]; /* destination index or SCHED_NO_DEST */
};

static int table_alloc(struct sched_state *st, uint32_t len, struct hash_table **ret_table)
{
	struct hash_table *t = st->priv;

	if (t && t->len == len) {
		*ret_table = t;
		return 0;
	}
	t = malloc(sizeof(*t) + (size_t)len * sizeof(t->slot[0]));
	if (!t)
		return -ENOMEM;
	t->len = len;
	*ret_table = t;
	return 0;
}

static void table_commit(struct sched_state *st, struct hash_table *t)
{
	if (st->priv != t)
		free(st->priv);
	st->priv = t;
}

static size_t table_memory(const struct sched_state *st)
{
	const struct hash_table *t = st->priv;

	return t ? sizeof(*t) + (size_t)t->len * sizeof(t->slot[0]) : 0;
}

static void table_destroy(struct sched_state *st)
{
	free(st->priv);
	st->priv = NULL;
}

static int table_view(const struct sched_state *st, struct sched_table_view *ret_view)
{
	const struct hash_table *t = st->priv;

	if (!t)
		return -ENOENT;
	ret_view->table = t->slot;
	ret_view->len = t->len;
	return 0;
}

static inline int slot_dest(const struct sched_state *st, uint32_t idx)
{
	if (idx == SCHED_NO_DEST || !sched_avail(&st->dests[idx]))
		return -EHOSTUNREACH;
	return (int)idx;
}

/* The source port, when the flag asks for it and the protocol has one. */
static inline uint16_t flow_port(const struct sched_flow *flow, bool use_port)
{
	return use_port && sched_proto_has_ports(flow->proto) ? flow->sport : 0;
}

/* ---- dh ---- */

/*
 * 256 buckets filled by cycling through the destinations in list order;
 * weights play no part (ip_vs_dh_assign).
 */
static int dh_prepare(struct sched_state *st)
{
	struct hash_table *t;
	int r = table_alloc(st, HASH_TAB_SIZE, &t);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < HASH_TAB_SIZE; i++)
		t->slot[i] = st->n_dests ? i % (uint32_t)st->n_dests : SCHED_NO_DEST;
	table_commit(st, t);
	return 0;
}

/*
 * Bucket hash_32(folded daddr, 8); no fallback in IPVS dh. (Kernels before
 * the switch to hash_32 used (addr * 2654435761) & 255; Linux 6.1 was
 * checked to use hash_32.)
 */
static int dh_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	const struct hash_table *t = st->priv;
	uint32_t h = sched_hash_32(sched_addr_fold(flow->family, flow->daddr), HASH_TAB_BITS);

	return slot_dest(st, t->slot[h]);
}

int sched_dh_table(const struct sched_state *st, struct sched_table_view *ret_view)
{
	return table_view(st, ret_view);
}

const struct sched_ops sched_dh_ops = {
	.info = { "dh", "destination hashing: 256-bucket table keyed by destination IP (IPVS dh)",
		  SCHED_CAP_HASH | SCHED_CAP_TABLE },
	.prepare = dh_prepare,
	.pick = dh_pick,
	.memory = table_memory,
	.destroy = table_destroy,
};

/* ---- sh ---- */

/*
 * 256 buckets tiled in list order, each destination taking `weight`
 * consecutive buckets (a weight-0 destination still takes one), repeating
 * the list until the table is full (ip_vs_sh_reassign).
 */
static int sh_prepare(struct sched_state *st)
{
	struct hash_table *t;
	size_t p = 0;
	uint32_t count = 0;
	int r = table_alloc(st, HASH_TAB_SIZE, &t);

	if (r < 0)
		return r;
	for (uint32_t i = 0; i < HASH_TAB_SIZE; i++) {
		if (!st->n_dests) {
			t->slot[i] = SCHED_NO_DEST;
			continue;
		}
		t->slot[i] = (uint32_t)p;
		if (++count >= st->dests[p].weight) {
			p = (p + 1) % st->n_dests;
			count = 0;
		}
	}
	table_commit(st, t);
	return 0;
}

/* ip_vs_sh_hashkey(): (offset + hash_32(port + folded saddr, 8)) & 255. */
static inline uint32_t sh_hashkey(uint32_t key, uint32_t offset)
{
	return (offset + sched_hash_32(key, HASH_TAB_BITS)) & HASH_TAB_MASK;
}

/*
 * With sh-fallback, an unavailable bucket makes the scheduler try
 * roffset = (i + ihash) % 256 for i = 0..255, bucket sh_hashkey(roffset), as
 * ip_vs_sh_get_fallback() does, stopping at an empty bucket.
 */
static int sh_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	const struct hash_table *t = st->priv;
	uint32_t key = (uint32_t)flow_port(flow, st->cfg.flags & SCHED_F_SH_PORT) +
		       sched_addr_fold(flow->family, flow->saddr);
	uint32_t ihash = sh_hashkey(key, 0);
	uint32_t idx = t->slot[ihash];

	if (!(st->cfg.flags & SCHED_F_SH_FALLBACK) || idx == SCHED_NO_DEST)
		return slot_dest(st, idx);
	if (sched_avail(&st->dests[idx]))
		return (int)idx;
	for (uint32_t off = 0; off < HASH_TAB_SIZE; off++) {
		uint32_t roffset = (off + ihash) % HASH_TAB_SIZE;

		idx = t->slot[sh_hashkey(key, roffset)];
		if (idx == SCHED_NO_DEST)
			break;
		if (sched_avail(&st->dests[idx]))
			return (int)idx;
	}
	return -EHOSTUNREACH;
}

int sched_sh_table(const struct sched_state *st, struct sched_table_view *ret_view)
{
	return table_view(st, ret_view);
}

const struct sched_ops sched_sh_ops = {
	.info = { "sh", "source hashing: 256 buckets tiled by weight, keyed by source IP (IPVS sh)",
		  SCHED_CAP_WEIGHTS | SCHED_CAP_HASH | SCHED_CAP_TABLE },
	.prepare = sh_prepare,
	.pick = sh_pick,
	.memory = table_memory,
	.destroy = table_destroy,
};

/* ---- mh ---- */

/* ip_vs_mh_hashkey(): hsiphash of (offset + port + folded address). */
static inline uint32_t mh_hashkey(uint64_t key, uint32_t fold, uint16_t port, uint32_t offset)
{
	return sched_ipvs_hsiphash(key, offset + port + fold);
}

/* The weight the mh table is built from: IPVS uses last_weight. */
static inline uint32_t mh_weight(const struct sched_dest *d)
{
	return d->weight ? d->weight : d->last_weight;
}

static int fls32(uint32_t v)
{
	return v ? 32 - __builtin_clz(v) : 0;
}

/*
 * ip_vs_mh_reassign(): g = gcd of the table weights, rshift = max(0,
 * fls(max/g) - TAB_BITS) with TAB_BITS = TAB_INDEX/2, turns = (w/g) >> rshift
 * (at least 1 when w > 0). Each destination's permutation starts at
 * offset = h1 % M and steps by skip = h2 % (M - 1) + 1. Going round the list,
 * each destination claims `turns` slots in a row, each the next still-empty
 * slot of its permutation, until all M slots are taken. All table weights 0
 * leaves the table empty.
 */
static int mh_prepare(struct sched_state *st)
{
	uint32_t m = st->cfg.mh_table_size;
	unsigned int tab_bits = sched_mh_tab_index(m) / 2;
	size_t n = st->n_dests;
	struct hash_table *t = NULL;
	uint32_t *perm = NULL, *skip = NULL, *turns = NULL;
	uint64_t *bitmap = NULL;
	uint32_t g = 0, maxw = 0, filled = 0, dt_count = 0;
	int rshift, r;

	if (n > m)
		return -EINVAL;
	r = table_alloc(st, m, &t);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		uint32_t w = mh_weight(&st->dests[i]);

		if (w > 0)
			g = g ? sched_gcd32(w, g) : w;
		if (w > maxw)
			maxw = w;
	}
	for (uint32_t i = 0; i < m; i++)
		t->slot[i] = SCHED_NO_DEST;
	if (g < 1)
		goto out;

	perm = malloc(n * sizeof(*perm));
	skip = malloc(n * sizeof(*skip));
	turns = malloc(n * sizeof(*turns));
	bitmap = calloc((m + 63) / 64, sizeof(*bitmap));
	if (!perm || !skip || !turns || !bitmap) {
		r = -ENOMEM;
		goto err;
	}
	rshift = fls32(maxw / g) - (int)tab_bits;
	if (rshift < 0)
		rshift = 0;
	for (size_t i = 0; i < n; i++) {
		const struct sched_dest *d = &st->dests[i];
		uint32_t fold = sched_addr_fold(d->family, d->addr);
		uint32_t w = mh_weight(d);

		perm[i] = mh_hashkey(MH_KEY1, fold, d->port, 0) % m;
		skip[i] = mh_hashkey(MH_KEY2, fold, d->port, 0) % (m - 1) + 1;
		turns[i] = (w / g) >> rshift;
		if (!turns[i])
			turns[i] = w != 0;
	}
	while (filled < m) {
		size_t i = 0;

		while (i < n) {
			uint32_t c;

			if (turns[i] < 1) {
				i++;
				continue;
			}
			c = perm[i];
			while (bitmap[c / 64] & (1ull << (c % 64))) {
				perm[i] += skip[i];
				if (perm[i] >= m)
					perm[i] -= m;
				c = perm[i];
			}
			bitmap[c / 64] |= 1ull << (c % 64);
			t->slot[c] = (uint32_t)i;
			if (++filled == m)
				goto out;
			if (++dt_count >= turns[i]) {
				dt_count = 0;
				i++;
			}
		}
	}
out:
	free(perm);
	free(skip);
	free(turns);
	free(bitmap);
	table_commit(st, t);
	return 0;
err:
	free(perm);
	free(skip);
	free(turns);
	free(bitmap);
	if (t != st->priv)
		free(t);
	return r;
}

/*
 * Slot hsiphash(port + folded saddr) % M. With mh-fallback, an unavailable
 * slot makes the scheduler rehash with offsets roffset = (i + ihash) % M,
 * i = 0..M-1, stopping at an empty slot (ip_vs_mh_get_fallback).
 */
static int mh_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	const struct hash_table *t = st->priv;
	uint32_t m = t->len;
	uint32_t fold = sched_addr_fold(flow->family, flow->saddr);
	uint16_t port = flow_port(flow, st->cfg.flags & SCHED_F_MH_PORT);
	uint32_t ihash = mh_hashkey(MH_KEY1, fold, port, 0) % m;
	uint32_t idx = t->slot[ihash];

	if (!(st->cfg.flags & SCHED_F_MH_FALLBACK) || idx == SCHED_NO_DEST)
		return slot_dest(st, idx);
	if (sched_avail(&st->dests[idx]))
		return (int)idx;
	for (uint32_t off = 0; off < m; off++) {
		uint32_t roffset = (off + ihash) % m;

		idx = t->slot[mh_hashkey(MH_KEY1, fold, port, roffset) % m];
		if (idx == SCHED_NO_DEST)
			break;
		if (sched_avail(&st->dests[idx]))
			return (int)idx;
	}
	return -EHOSTUNREACH;
}

int sched_mh_table(const struct sched_state *st, struct sched_table_view *ret_view)
{
	return table_view(st, ret_view);
}

const struct sched_ops sched_mh_ops = {
	.info = { "mh", "IPVS Maglev hashing of the source IP (optionally port), 4093-slot table",
		  SCHED_CAP_WEIGHTS | SCHED_CAP_HASH | SCHED_CAP_TABLE },
	.prepare = mh_prepare,
	.pick = mh_pick,
	.memory = table_memory,
	.destroy = table_destroy,
};
