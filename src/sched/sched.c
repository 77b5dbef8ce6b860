/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scheduler front end: the registry of schedulers, the life cycle of a
 * struct sched_state, input validation, and the connection bookkeeping shared
 * by every scheduler (counters and the IPVS OVERLOAD rule). The scheduling
 * rules themselves live in the sched_*.c files next to this one. No I/O, no
 * globals other than the constant registry, no logging.
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_internal.h"

/* Order is the order of help text and error messages. */
static const struct sched_ops *const registry[] = {
	&sched_random_ops, &sched_rr_ops,   &sched_wrr_ops, &sched_lc_ops,   &sched_wlc_ops,
	&sched_sed_ops,	   &sched_nq_ops,   &sched_fo_ops,  &sched_ovf_ops,  &sched_lblc_ops,
	&sched_lblcr_ops,  &sched_dh_ops,   &sched_sh_ops,  &sched_mh_ops,   &sched_twos_ops,
	&sched_maglev_ops,
};

#define REGISTRY_LEN (sizeof(registry) / sizeof(registry[0]))

/* The table sizes IPVS mh can be built with (CONFIG_IP_VS_MH_TAB_INDEX 8..17). */
static const uint32_t mh_primes[] = { 251,   509,   1021,  2039,  4093,
				       8191,  16381, 32749, 65521, 131071 };

const struct sched_info *sched_info_get(size_t i)
{
	return i < REGISTRY_LEN ? &registry[i]->info : NULL;
}

static const struct sched_ops *ops_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < REGISTRY_LEN; i++)
		if (strcmp(registry[i]->info.name, name) == 0)
			return registry[i];
	return NULL;
}

const struct sched_info *sched_info_find(const char *name)
{
	const struct sched_ops *ops = ops_find(name);

	return ops ? &ops->info : NULL;
}

/* Trial division: only called on configuration, n <= 2^24. */
bool sched_is_prime(uint32_t n)
{
	if (n < 2)
		return false;
	if (n % 2 == 0)
		return n == 2;
	for (uint32_t d = 3; (uint64_t)d * d <= n; d += 2)
		if (n % d == 0)
			return false;
	return true;
}

static int config_fill(const struct sched_config *in, struct sched_config *out)
{
	struct sched_config c = { 0 };
	bool mh_ok = false;

	if (in)
		c = *in;
	if (c.flags & ~(uint32_t)SCHED_F_ALL)
		return -EINVAL;
	if (!c.maglev_table_size)
		c.maglev_table_size = SCHED_MAGLEV_DEFAULT_SIZE;
	if (c.maglev_table_size < SCHED_MAGLEV_MIN_SIZE ||
	    c.maglev_table_size > SCHED_MAGLEV_MAX_SIZE || !sched_is_prime(c.maglev_table_size))
		return -EINVAL;
	if (!c.mh_table_size)
		c.mh_table_size = SCHED_MH_DEFAULT_SIZE;
	for (size_t i = 0; i < sizeof(mh_primes) / sizeof(mh_primes[0]); i++)
		mh_ok |= c.mh_table_size == mh_primes[i];
	if (!mh_ok)
		return -EINVAL;
	if (!c.lblc_max_entries)
		c.lblc_max_entries = 16 * 1024;
	if (!c.lblc_expiration_ns)
		c.lblc_expiration_ns = 24ull * 3600 * 1000000000ull;
	*out = c;
	return 0;
}

/* IPVS CONFIG_IP_VS_MH_TAB_INDEX for a table size; 0 if not an mh prime. */
unsigned int sched_mh_tab_index(uint32_t size)
{
	for (size_t i = 0; i < sizeof(mh_primes) / sizeof(mh_primes[0]); i++)
		if (mh_primes[i] == size)
			return 8 + (unsigned int)i;
	return 0;
}

static int dests_check(const struct sched_dest *dests, size_t n)
{
	if (n > SCHED_DESTS_MAX)
		return -E2BIG;
	if (n && !dests)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (dests[i].family != AF_INET && dests[i].family != AF_INET6)
			return -EAFNOSUPPORT;
		if (dests[i].weight > SCHED_WEIGHT_MAX || dests[i].last_weight > SCHED_WEIGHT_MAX)
			return -ERANGE;
	}
	return 0;
}

/*
 * Create the state of one service's scheduler.
 *
 * name: a registered scheduler name (NULL = SCHED_DEFAULT_NAME); cfg may be
 * NULL (all defaults); dests/n_dests: the endpoint array, borrowed (see
 * struct sched_dest). On success *ret_state owns the new state.
 * Errors: -EINVAL unknown name or bad config, -E2BIG too many destinations,
 * -EAFNOSUPPORT bad family, -ERANGE weight above SCHED_WEIGHT_MAX, -ENOMEM,
 * or a scheduler's prepare error (mh: more destinations than table slots).
 */
int sched_new(const char *name, const struct sched_config *cfg, struct sched_dest *dests,
	      size_t n_dests, struct sched_state **ret_state)
{
	const struct sched_ops *ops = ops_find(name ? name : SCHED_DEFAULT_NAME);
	struct sched_state *st;
	int r;

	if (!ops || !ret_state)
		return -EINVAL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->ops = ops;
	r = config_fill(cfg, &st->cfg);
	if (r < 0)
		goto err;
	st->rng = st->cfg.seed;
	r = sched_set_dests(st, dests, n_dests);
	if (r < 0)
		goto err;
	*ret_state = st;
	return 0;
err:
	sched_free(st);
	return r;
}

/* Free the state (NULL is fine). The dest array is the caller's. Returns NULL. */
struct sched_state *sched_free(struct sched_state *st)
{
	if (!st)
		return NULL;
	if (st->ops->destroy)
		st->ops->destroy(st);
	free(st);
	return NULL;
}

/*
 * Point the state at a new endpoint array (the endpoint set changed) and
 * rebuild, as IPVS does on a destination change: rr keeps its cursor when
 * still in range, wrr goes back to the head and realigns its current
 * weight, the tables of dh/sh/mh/maglev are rebuilt, lblc/lblcr keep their
 * cache entries whose servers are still present (matched by identity).
 * Errors as sched_new(); on failure the state keeps working with the
 * previous array and tables, so that array must still be valid.
 */
int sched_set_dests(struct sched_state *st, struct sched_dest *dests, size_t n_dests)
{
	struct sched_dest *old = st->dests;
	size_t old_n = st->n_dests;
	int r;

	r = dests_check(dests, n_dests);
	if (r < 0)
		return r;
	st->dests = dests;
	st->n_dests = n_dests;
	r = st->ops->prepare(st);
	if (r < 0) {
		st->dests = old;
		st->n_dests = old_n;
		return r;
	}
	st->generation++;
	return 0;
}

/* Rebuild after weights, last_weight or addresses changed in place. */
int sched_prepare(struct sched_state *st)
{
	return sched_set_dests(st, st->dests, st->n_dests);
}

/*
 * Pick the destination for a new flow: its index in the dest array, or
 * -ENOENT when the service has no destinations, -EHOSTUNREACH when none can
 * take the flow (all quiesced or overloaded, or a hashing scheduler's slot is
 * unavailable and fallback is off). flow is read by the schedulers with
 * SCHED_CAP_HASH or SCHED_CAP_CACHE (others accept NULL). now_ns is
 * CLOCK_MONOTONIC in ns; only lblc/lblcr read it. Does not allocate
 * (lblc/lblcr: bounded cache growth) and does not touch the counters: call
 * sched_conn_take() once the connection is bound to the destination.
 */
int sched_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	if (!st->n_dests)
		return -ENOENT;
	return st->ops->pick(st, flow, now_ns);
}

static inline uint32_t sat_inc(uint32_t v)
{
	return v == UINT32_MAX ? v : v + 1;
}

/*
 * A connection was bound to dests[idx]: count it as active or inactive and
 * apply the IPVS rule (ip_vs_bind_dest): with an upper threshold set, the
 * destination becomes OVERLOAD when active + inactive >= u_threshold.
 */
void sched_conn_take(struct sched_state *st, size_t idx, bool active)
{
	struct sched_dest *d;

	if (idx >= st->n_dests)
		return;
	d = &st->dests[idx];
	if (active)
		d->active_conns = sat_inc(d->active_conns);
	else
		d->inactive_conns = sat_inc(d->inactive_conns);
	if (d->u_threshold &&
	    (uint64_t)d->active_conns + d->inactive_conns >= d->u_threshold)
		d->overloaded = true;
	if (st->ops->conn_changed)
		st->ops->conn_changed(st, idx);
}

/*
 * A connection left dests[idx]. IPVS (ip_vs_unbind_dest) clears OVERLOAD when
 * the total drops below l_threshold, or below 3/4 of u_threshold when
 * l_threshold is 0, and always when no threshold is set. A drop below zero is
 * a caller bug and is ignored.
 */
void sched_conn_drop(struct sched_state *st, size_t idx, bool active)
{
	struct sched_dest *d;
	uint64_t total;

	if (idx >= st->n_dests)
		return;
	d = &st->dests[idx];
	if (active && d->active_conns)
		d->active_conns--;
	else if (!active && d->inactive_conns)
		d->inactive_conns--;
	total = (uint64_t)d->active_conns + d->inactive_conns;
	if (d->l_threshold) {
		if (total < d->l_threshold)
			d->overloaded = false;
	} else if (d->u_threshold) {
		if (total * 4 < (uint64_t)d->u_threshold * 3)
			d->overloaded = false;
	} else {
		d->overloaded = false;
	}
	if (st->ops->conn_changed)
		st->ops->conn_changed(st, idx);
}

/* The caller changed dests[idx]'s counters or overloaded flag directly. */
void sched_dest_refresh(struct sched_state *st, size_t idx)
{
	if (idx < st->n_dests && st->ops->conn_changed)
		st->ops->conn_changed(st, idx);
}

/* Can dests[idx] take a new flow (weight > 0 and not OVERLOAD)? */
bool sched_dest_is_available(const struct sched_dest *d)
{
	return sched_avail(d);
}

const char *sched_name(const struct sched_state *st)
{
	return st->ops->info.name;
}

/* The effective configuration, defaults filled in. Valid as long as st. */
const struct sched_config *sched_get_config(const struct sched_state *st)
{
	return &st->cfg;
}

/*
 * Bumped by every successful sched_new/set_dests/prepare: indices remembered
 * under one generation may be stale under the next.
 */
uint64_t sched_generation(const struct sched_state *st)
{
	return st->generation;
}

/* Heap bytes owned by the state (not counting the caller's dest array). */
size_t sched_memory(const struct sched_state *st)
{
	size_t m = sizeof(*st);

	if (st->ops->memory)
		m += st->ops->memory(st);
	return m;
}

/*
 * The lookup table of a table-based scheduler (dh, sh: 256 slots; mh: the mh
 * prime; maglev: the maglev prime), as destination indices or SCHED_NO_DEST.
 * The array is owned by the state and valid until the next prepare,
 * set_dests or free. A kernel data plane can load it as is (nft map, BPF
 * array). -EOPNOTSUPP for other schedulers.
 */
int sched_table(const struct sched_state *st, const uint32_t **ret_table, size_t *ret_len)
{
	struct sched_table_view v;
	int r;

	if (st->ops == &sched_maglev_ops)
		r = sched_maglev_table(st, &v);
	else if (st->ops == &sched_mh_ops)
		r = sched_mh_table(st, &v);
	else if (st->ops == &sched_sh_ops)
		r = sched_sh_table(st, &v);
	else if (st->ops == &sched_dh_ops)
		r = sched_dh_table(st, &v);
	else
		return -EOPNOTSUPP;
	if (r < 0)
		return r;
	*ret_table = v.table;
	*ret_len = v.len;
	return 0;
}

/*
 * Raw maglev lookup, as a kernel data plane does it: table[hash % M], no
 * availability check. hash is sched_flow_hash() or the data plane's own.
 * Returns the index, -ENOENT when the slot is empty (no destination with
 * weight > 0), -EOPNOTSUPP when st is not maglev.
 */
int sched_maglev_lookup(const struct sched_state *st, uint64_t hash)
{
	struct sched_table_view v;
	uint32_t idx;

	if (st->ops != &sched_maglev_ops)
		return -EOPNOTSUPP;
	if (sched_maglev_table(st, &v) < 0 || !v.len)
		return -ENOENT;
	idx = v.table[hash % v.len];
	return idx == SCHED_NO_DEST ? -ENOENT : (int)idx;
}

const char *sched_ipvs_name(const char *name)
{
	static const char *const kernel[] = { "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
					      "sh", "sed", "nq", "fo", "ovf", "mh", "twos" };

	if (!name)
		return "rr";
	for (size_t i = 0; i < sizeof(kernel) / sizeof(kernel[0]); i++)
		if (!strcmp(name, kernel[i]))
			return kernel[i];
	return strcmp(name, "maglev") ? "rr" : "mh";
}
