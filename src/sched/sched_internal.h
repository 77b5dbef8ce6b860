/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the scheduler implementations in src/sched: the state
 * layout, the ops table each scheduler fills in, the hashes (SipHash, the
 * kernel's hsiphash and hash_32), the PRNG, and two index structures (a
 * tournament tree for the least-connection family, a Fenwick tree for
 * weighted draws). Not for use outside src/sched and its unit tests.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sched/sched.h"

/*
 * The ops table of one scheduler. prepare and pick are mandatory.
 *
 * prepare	(Re)build private state from st->dests. Called by sched_new(),
 *		sched_set_dests() and sched_prepare(); may be called many times.
 *		On failure the previous private state must remain usable.
 * pick		Return a destination index, -EHOSTUNREACH when none can take the
 *		flow. Called only with st->n_dests > 0. Must not allocate, except
 *		lblc/lblcr cache growth (bounded).
 * conn_changed	Optional. The counters or the overloaded flag of dests[idx]
 *		changed (sched_conn_take/drop, sched_dest_refresh).
 * memory	Optional. Bytes of private heap memory, for sched_memory().
 * destroy	Optional. Free private state; must accept st->priv == NULL.
 */
struct sched_ops {
	struct sched_info info;
	int (*prepare)(struct sched_state *st);
	int (*pick)(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns);
	void (*conn_changed)(struct sched_state *st, size_t idx);
	size_t (*memory)(const struct sched_state *st);
	void (*destroy)(struct sched_state *st);
};

struct sched_state {
	const struct sched_ops *ops;
	struct sched_dest *dests;	/* borrowed, see struct sched_dest */
	size_t n_dests;
	struct sched_config cfg;	/* defaults filled in */
	uint64_t rng;			/* splitmix64 state */
	uint64_t generation;		/* bumped by every successful prepare */
	void *priv;			/* owned by ops */
};

extern const struct sched_ops sched_random_ops, sched_rr_ops, sched_wrr_ops, sched_twos_ops;
extern const struct sched_ops sched_lc_ops, sched_wlc_ops, sched_sed_ops, sched_nq_ops;
extern const struct sched_ops sched_fo_ops, sched_ovf_ops;
extern const struct sched_ops sched_lblc_ops, sched_lblcr_ops;
extern const struct sched_ops sched_dh_ops, sched_sh_ops, sched_mh_ops, sched_maglev_ops;

/* Table access for sched_table(); set by the table-based schedulers. */
struct sched_table_view {
	const uint32_t *table;
	size_t len;
};
int sched_dh_table(const struct sched_state *st, struct sched_table_view *ret_view);
int sched_sh_table(const struct sched_state *st, struct sched_table_view *ret_view);
int sched_mh_table(const struct sched_state *st, struct sched_table_view *ret_view);
int sched_maglev_table(const struct sched_state *st, struct sched_table_view *ret_view);
unsigned int sched_mh_tab_index(uint32_t size);

/* ---- destination helpers ---- */

/* The IPVS availability rule for new flows. */
static inline bool sched_avail(const struct sched_dest *d)
{
	return d->weight > 0 && !d->overloaded;
}

/* ip_vs_dest_conn_overhead(): an active connection costs 256 inactive ones. */
static inline uint64_t sched_overhead(const struct sched_dest *d)
{
	return ((uint64_t)d->active_conns << 8) + d->inactive_conns;
}

static inline size_t sched_addr_len(uint8_t family)
{
	return family == AF_INET6 ? 16 : 4;
}

/* Does the flow's protocol carry ports at the usual offset (TCP, UDP, SCTP)? */
static inline bool sched_proto_has_ports(uint8_t proto)
{
	return proto == 6 || proto == 17 || proto == 132;
}

static inline uint32_t sched_load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/*
 * IPVS folds an address to 32 bits in host order: the IPv4 address itself,
 * or the XOR of the four 32-bit words of an IPv6 address.
 */
static inline uint32_t sched_addr_fold(uint8_t family, const uint8_t *addr)
{
	if (family == AF_INET6)
		return sched_load_be32(addr) ^ sched_load_be32(addr + 4) ^
		       sched_load_be32(addr + 8) ^ sched_load_be32(addr + 12);
	return sched_load_be32(addr);
}

static inline uint32_t sched_gcd32(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* ---- hashes (sched_hash.c) ---- */

uint32_t sched_ipvs_hsiphash(uint64_t key, uint32_t v);
uint64_t sched_dest_hash(const struct sched_dest *d, uint64_t k0, uint64_t k1);
uint64_t sched_dest_key(const struct sched_dest *d);

/* The kernel's hash_32(): multiply by GOLDEN_RATIO_32 and keep the top bits. */
static inline uint32_t sched_hash_32(uint32_t v, unsigned int bits)
{
	return (uint32_t)(v * 0x61C88647u) >> (32 - bits);
}

/* ---- PRNG: splitmix64, state in the scheduler state ---- */

static inline uint64_t sched_rand64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0, without modulo bias (Lemire's method). */
static inline uint32_t sched_rand_below(uint64_t *s, uint32_t n)
{
	uint64_t m = (uint64_t)(uint32_t)sched_rand64(s) * n;
	uint32_t lo = (uint32_t)m;

	if (lo < n) {
		uint32_t t = (uint32_t)-n % n;

		while (lo < t) {
			m = (uint64_t)(uint32_t)sched_rand64(s) * n;
			lo = (uint32_t)m;
		}
	}
	return (uint32_t)(m >> 32);
}

/* ---- tournament tree for the least-connection family (sched_tree.c) ---- */

enum sched_rank {
	SCHED_RANK_LC,		/* min overhead */
	SCHED_RANK_WLC,		/* min overhead / weight */
	SCHED_RANK_SED,		/* min (active + 1) / weight */
	SCHED_RANK_NQ,		/* first idle, else SED */
	SCHED_RANK_FO,		/* max weight */
	SCHED_RANK_OVF,		/* max weight among active <= weight */
};

/*
 * node[1] is the root, leaves live at node[leaves + i]. Each node holds the
 * index of the best destination of its subtree, or SCHED_NO_DEST. Ties go to
 * the left (earlier) child, so the root is the first best destination in list
 * order: exactly what the IPVS linear scans return.
 */
struct sched_tree_key {
	uint64_t num;
	uint64_t den;
};

struct sched_tree {
	uint32_t *node;
	struct sched_tree_key *key;	/* per leaf: rank value as num/den */
	uint32_t leaves;
	enum sched_rank rank;
};

int sched_tree_build(struct sched_tree *t, enum sched_rank rank, const struct sched_dest *d,
		     size_t n);
void sched_tree_update(struct sched_tree *t, const struct sched_dest *d, size_t idx);
void sched_tree_done(struct sched_tree *t);

static inline size_t sched_tree_memory(const struct sched_tree *t)
{
	return (size_t)t->leaves * (2 * sizeof(*t->node) + sizeof(*t->key));
}

static inline uint32_t sched_tree_best(const struct sched_tree *t)
{
	return t->node ? t->node[1] : SCHED_NO_DEST;
}

/* ---- Fenwick tree over per-destination values (sched_tree.c) ---- */

struct sched_fenwick {
	uint64_t *sum;		/* 1-based partial sums over size slots */
	uint32_t *val;		/* current value per slot */
	uint32_t n;		/* values in use */
	uint32_t size;		/* power of two >= n */
	uint64_t total;
};

int sched_fenwick_reset(struct sched_fenwick *f, size_t n);
void sched_fenwick_finish(struct sched_fenwick *f);
void sched_fenwick_set(struct sched_fenwick *f, size_t idx, uint32_t v);
void sched_fenwick_find2(const struct sched_fenwick *f, uint64_t r1, uint64_t r2,
			 size_t *ret_i1, size_t *ret_i2);
void sched_fenwick_done(struct sched_fenwick *f);
