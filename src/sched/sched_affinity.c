/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ClientIP session affinity wrapped around any scheduler; the rules are in
 * sched_affinity.h. Entries remember the destination by identity (family,
 * address, port) plus the index it had: a lookup checks that index first
 * (O(1) while the endpoint array is unchanged) and searches the array only
 * when the endpoint moved, so entries survive endpoint changes and even a
 * new scheduler state. No I/O, no allocation after sched_affinity_new().
 */
#include <stdlib.h>
#include <string.h>

#include "sched/sched_affinity.h"
#include "sched/sched_internal.h"

#define WAYS 8
#define AFF_K1 0x217974696e696666ull /* "kroute-affinity!", mixed with the seed */
#define AFF_K0 0x612d6574756f726bull

struct aff_entry {
	uint64_t expires;		/* 0 = empty; valid while now < expires */
	uint32_t hint;			/* dest index when last seen */
	uint16_t d_port;
	uint8_t c_family;
	uint8_t d_family;
	uint8_t c_addr[16];
	uint8_t d_addr[16];
};

struct sched_affinity {
	uint64_t timeout;
	uint64_t k0, k1;
	uint32_t flags;
	uint32_t bucket_mask;
	struct aff_entry *e;		/* (bucket_mask + 1) * WAYS entries */
};

/*
 * Create an affinity table. timeout_ns > 0; max_entries 1..2^24 (rounded up
 * to a power of two times 8); flags: enum sched_affinity_flag; seed keys the
 * bucket hash (a fixed seed makes eviction order reproducible).
 * Errors: -EINVAL, -ENOMEM.
 */
int sched_affinity_new(uint64_t timeout_ns, size_t max_entries, uint32_t flags, uint64_t seed,
		       struct sched_affinity **ret_aff)
{
	struct sched_affinity *aff;
	size_t buckets = 1;

	if (!timeout_ns || !max_entries || max_entries > SCHED_AFFINITY_MAX_ENTRIES ||
	    (flags & ~(uint32_t)SCHED_AFFINITY_IPVS_COMPAT) || !ret_aff)
		return -EINVAL;
	while (buckets * WAYS < max_entries)
		buckets <<= 1;
	aff = calloc(1, sizeof(*aff));
	if (!aff)
		return -ENOMEM;
	aff->e = calloc(buckets * WAYS, sizeof(*aff->e));
	if (!aff->e) {
		free(aff);
		return -ENOMEM;
	}
	aff->timeout = timeout_ns;
	aff->flags = flags;
	aff->bucket_mask = (uint32_t)(buckets - 1);
	aff->k0 = AFF_K0 ^ seed;
	aff->k1 = AFF_K1;
	*ret_aff = aff;
	return 0;
}

struct sched_affinity *sched_affinity_free(struct sched_affinity *aff)
{
	if (aff)
		free(aff->e);
	free(aff);
	return NULL;
}

static struct aff_entry *bucket_of(const struct sched_affinity *aff, const struct sched_flow *f)
{
	uint8_t buf[17];
	size_t alen = sched_addr_len(f->family);
	uint64_t h;

	buf[0] = f->family;
	memcpy(buf + 1, f->saddr, alen);
	h = sched_siphash(aff->k0, aff->k1, buf, 1 + alen, 1, 3);
	return &aff->e[(h & aff->bucket_mask) * WAYS];
}

static bool same_client(const struct aff_entry *en, const struct sched_flow *f)
{
	return en->c_family == f->family &&
	       memcmp(en->c_addr, f->saddr, sched_addr_len(f->family)) == 0;
}

static bool same_dest(const struct aff_entry *en, const struct sched_dest *d)
{
	return en->d_family == d->family && en->d_port == d->port &&
	       memcmp(en->d_addr, d->addr, sched_addr_len(d->family)) == 0;
}

static struct aff_entry *find(const struct sched_affinity *aff, const struct sched_flow *f,
			      uint64_t now)
{
	struct aff_entry *b = bucket_of(aff, f);

	for (int w = 0; w < WAYS; w++)
		if (now < b[w].expires && same_client(&b[w], f))
			return &b[w];
	return NULL;
}

/* The entry's destination index in st's current array, or -1. */
static long resolve(const struct aff_entry *en, const struct sched_state *st)
{
	if (en->hint < st->n_dests && same_dest(en, &st->dests[en->hint]))
		return en->hint;
	for (size_t i = 0; i < st->n_dests; i++)
		if (same_dest(en, &st->dests[i]))
			return (long)i;
	return -1;
}

static bool reusable(const struct sched_affinity *aff, const struct sched_dest *d)
{
	if (aff->flags & SCHED_AFFINITY_IPVS_COMPAT)
		return true;
	return sched_avail(d);
}

/*
 * The destination the client's entry sends it to, without side effects:
 * index, or -ENOENT when there is no usable entry (none, expired, gone, or
 * not reusable). For explain output.
 */
int sched_affinity_lookup(const struct sched_affinity *aff, const struct sched_state *st,
			  const struct sched_flow *flow, uint64_t now_ns)
{
	const struct aff_entry *en = find(aff, flow, now_ns);
	long idx;

	if (!en)
		return -ENOENT;
	idx = resolve(en, st);
	if (idx < 0 || !reusable(aff, &st->dests[idx]))
		return -ENOENT;
	return (int)idx;
}

/*
 * Pick with affinity: reuse the client's entry if usable (and extend it to
 * now + timeout), else sched_pick() and record the result. Returns the index
 * or sched_pick()'s error; on error nothing is recorded. Does not allocate.
 */
int sched_affinity_pick(struct sched_affinity *aff, struct sched_state *st,
			const struct sched_flow *flow, uint64_t now_ns)
{
	struct aff_entry *en = find(aff, flow, now_ns);
	const struct sched_dest *d;
	long idx;
	int r;

	if (en) {
		idx = resolve(en, st);
		if (idx >= 0 && reusable(aff, &st->dests[idx])) {
			en->hint = (uint32_t)idx;
			en->expires = now_ns + aff->timeout;
			return (int)idx;
		}
	}
	r = sched_pick(st, flow, now_ns);
	if (r < 0)
		return r;
	if (!en) {
		struct aff_entry *b = bucket_of(aff, flow);

		en = &b[0];
		for (int w = 0; w < WAYS; w++) {
			if (now_ns >= b[w].expires) {
				en = &b[w];
				break;
			}
			if (b[w].expires < en->expires)
				en = &b[w];
		}
	}
	d = &st->dests[r];
	memset(en, 0, sizeof(*en));
	en->c_family = flow->family;
	memcpy(en->c_addr, flow->saddr, sched_addr_len(flow->family));
	en->d_family = d->family;
	en->d_port = d->port;
	memcpy(en->d_addr, d->addr, sched_addr_len(d->family));
	en->hint = (uint32_t)r;
	en->expires = now_ns + aff->timeout;
	return r;
}

/* Forget every client (e.g. the Service's affinity was turned off and on). */
void sched_affinity_clear(struct sched_affinity *aff)
{
	memset(aff->e, 0, ((size_t)aff->bucket_mask + 1) * WAYS * sizeof(*aff->e));
}

/* Unexpired entries at now_ns: O(capacity), for tests and metrics. */
size_t sched_affinity_count(const struct sched_affinity *aff, uint64_t now_ns)
{
	size_t n = 0, cap = sched_affinity_capacity(aff);

	for (size_t i = 0; i < cap; i++)
		n += now_ns < aff->e[i].expires;
	return n;
}

size_t sched_affinity_capacity(const struct sched_affinity *aff)
{
	return ((size_t)aff->bucket_mask + 1) * WAYS;
}

size_t sched_affinity_memory(const struct sched_affinity *aff)
{
	return sizeof(*aff) + sched_affinity_capacity(aff) * sizeof(*aff->e);
}
