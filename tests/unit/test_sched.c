/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the non-hashing schedulers in src/sched: exact IPVS sequences
 * (rr, wrr with gcd handling, lc/wlc/sed/nq/fo/ovf ties), a differential test
 * of the tournament-tree schedulers against transcriptions of the kernel's
 * linear scans, shares of random/rr/wrr/wlc/twos, the OVERLOAD threshold
 * rule, lblc/lblcr caching and expiry, and two properties for every
 * scheduler: weight 0 and OVERLOAD destinations never get new flows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched/sched.h"
#include "sched/sched_internal.h"

#define NS 1000000000ull

static void dest_v4(struct sched_dest *d, uint32_t ip, uint16_t port, uint32_t weight)
{
	memset(d, 0, sizeof(*d));
	d->family = AF_INET;
	d->addr[0] = ip >> 24;
	d->addr[1] = ip >> 16;
	d->addr[2] = ip >> 8;
	d->addr[3] = ip;
	d->port = port;
	d->weight = weight;
}

static void dests_v4(struct sched_dest *d, size_t n, const uint32_t *weights)
{
	for (size_t i = 0; i < n; i++)
		dest_v4(&d[i], 0x0a000001 + (uint32_t)i, 8080, weights ? weights[i] : 1);
}

static struct sched_flow flow_v4(uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport)
{
	struct sched_flow f = { .family = AF_INET, .proto = 6, .sport = sport, .dport = dport };

	f.saddr[0] = saddr >> 24;
	f.saddr[1] = saddr >> 16;
	f.saddr[2] = saddr >> 8;
	f.saddr[3] = saddr;
	f.daddr[0] = daddr >> 24;
	f.daddr[1] = daddr >> 16;
	f.daddr[2] = daddr >> 8;
	f.daddr[3] = daddr;
	return f;
}

static struct sched_state *new_sched(const char *name, struct sched_dest *d, size_t n)
{
	struct sched_state *st = NULL;
	struct sched_config cfg = { .seed = 42 };

	assert_int_equal(sched_new(name, &cfg, d, n, &st), 0);
	assert_non_null(st);
	return st;
}

static void expect_seq(struct sched_state *st, const int *seq, size_t n)
{
	struct sched_flow f = flow_v4(0xc0a80001, 1000, 0x0a600001, 80);

	for (size_t i = 0; i < n; i++) {
		int r = sched_pick(st, &f, 0);

		if (r != seq[i])
			fail_msg("%s pick %zu: got %d, want %d", sched_name(st), i, r, seq[i]);
	}
}

/* ---- lifecycle and validation ---- */

static void test_new_errors(void **state)
{
	struct sched_dest d[2];
	struct sched_state *st = NULL;
	struct sched_config cfg = { 0 };
	struct sched_flow f = flow_v4(1, 1, 2, 2);

	dests_v4(d, 2, NULL);
	assert_int_equal(sched_new("nope", NULL, d, 2, &st), -EINVAL);
	assert_null(st);
	d[1].weight = SCHED_WEIGHT_MAX + 1;
	assert_int_equal(sched_new("rr", NULL, d, 2, &st), -ERANGE);
	d[1].weight = 1;
	d[1].family = 99;
	assert_int_equal(sched_new("rr", NULL, d, 2, &st), -EAFNOSUPPORT);
	d[1].family = AF_INET;
	cfg.maglev_table_size = 65536;
	assert_int_equal(sched_new("maglev", &cfg, d, 2, &st), -EINVAL);
	cfg.maglev_table_size = 241; /* prime but below the minimum */
	assert_int_equal(sched_new("maglev", &cfg, d, 2, &st), -EINVAL);
	cfg.maglev_table_size = 0;
	cfg.mh_table_size = 4091;
	assert_int_equal(sched_new("mh", &cfg, d, 2, &st), -EINVAL);
	cfg.mh_table_size = 0;
	cfg.flags = 1u << 20;
	assert_int_equal(sched_new("sh", &cfg, d, 2, &st), -EINVAL);
	assert_null(st);

	/* NULL name is the default scheduler, random. */
	assert_int_equal(sched_new(NULL, NULL, d, 2, &st), 0);
	assert_string_equal(sched_name(st), "random");
	assert_int_equal(sched_get_config(st)->maglev_table_size, 65537);
	assert_int_equal(sched_get_config(st)->mh_table_size, 4093);
	assert_int_equal(sched_set_dests(st, NULL, 0), 0);
	assert_int_equal(sched_pick(st, &f, 0), -ENOENT);
	st = sched_free(st);
	assert_null(st);
	assert_null(sched_free(NULL));
}

static void test_registry(void **state)
{
	static const char *const names[] = { "random", "rr",  "wrr",   "lc", "wlc", "sed",
					     "nq",     "fo",  "ovf",   "lblc", "lblcr", "dh",
					     "sh",     "mh",  "twos",  "maglev" };
	size_t i;

	for (i = 0; sched_info_get(i); i++) {
		assert_true(i < sizeof(names) / sizeof(names[0]));
		assert_string_equal(sched_info_get(i)->name, names[i]);
		assert_non_null(sched_info_get(i)->summary);
		assert_ptr_equal(sched_info_find(names[i]), sched_info_get(i));
	}
	assert_int_equal(i, sizeof(names) / sizeof(names[0]));
	assert_null(sched_info_find("RR"));
	assert_true(sched_info_find("wlc")->caps & SCHED_CAP_CONNS);
	assert_true(sched_info_find("maglev")->caps & SCHED_CAP_TABLE);
	assert_false(sched_info_find("rr")->caps & SCHED_CAP_TABLE);
}

/* ---- rr ---- */

static void test_rr_order(void **state)
{
	struct sched_dest d[4];
	struct sched_state *st;
	static const int plain[] = { 0, 1, 2, 3, 0, 1, 2, 3, 0 };
	static const int skip[] = { 1, 3, 1, 3, 1 };

	dests_v4(d, 4, NULL);
	st = new_sched("rr", d, 4);
	expect_seq(st, plain, 9);
	/* Quiesced and overloaded destinations are skipped; the cursor stays on 0. */
	d[0].weight = 0;
	d[2].overloaded = true;
	assert_int_equal(sched_prepare(st), 0);
	expect_seq(st, skip, 5);
	d[1].weight = 0;
	d[3].weight = 0;
	assert_int_equal(sched_prepare(st), 0);
	{
		static const int none[] = { -EHOSTUNREACH, -EHOSTUNREACH };

		expect_seq(st, none, 2);
	}
	/* The cursor survives a shrink when still in range, else restarts. */
	dests_v4(d, 4, NULL);
	assert_int_equal(sched_prepare(st), 0);
	{
		static const int after[] = { 2, 3 }; /* the cursor stayed on 1 */

		expect_seq(st, after, 2);
	}
	assert_int_equal(sched_set_dests(st, d, 1), 0);
	{
		static const int one[] = { 0, 0, 0 };

		expect_seq(st, one, 3);
	}
	sched_free(st);
}

/* ---- wrr ---- */

/*
 * A fresh IPVS wrr service got its destinations one "ipvsadm -a" at a time,
 * which leaves cw = 1: the first pass gives every destination once, then
 * the heavy-first passes follow. Recorded the same way on Linux 6.1 (see
 * test_sched_hash.c, kernel cases).
 */
static void test_wrr_order(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	static const uint32_t w432[] = { 4, 3, 2 };
	/* cw = 1: A B C; then 4: A; 3: A B; 2: A B C; 1: A B C; 4: A; ... */
	static const int seq432[] = { 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2 };
	static const uint32_t w426[] = { 4, 2, 6 };
	/* di = 2, mw = 6 - 1 = 5. cw = 1: A B C; then 5: C; 3: A C; 1: A B C */
	static const int seq426[] = { 0, 1, 2, 2, 0, 2, 0, 1, 2, 2, 0, 2 };

	dests_v4(d, 3, w432);
	st = new_sched("wrr", d, 3);
	expect_seq(st, seq432, 18);
	sched_free(st);

	dests_v4(d, 3, w426);
	st = new_sched("wrr", d, 3);
	expect_seq(st, seq426, 12);
	sched_free(st);

	/*
	 * A weight change (ip_vs_wrr_dest_changed): the cursor goes back to the
	 * head and cw is realigned to the new gcd, (cw / di) * di + 1. After
	 * A B C A of 4,3,2 cw is 4; with 4,2,6 it becomes 5: C, then 3: A C,
	 * 1: A B C, 5: C, ...
	 */
	dests_v4(d, 3, w432);
	st = new_sched("wrr", d, 3);
	expect_seq(st, seq432, 4);
	for (int i = 0; i < 3; i++)
		d[i].weight = w426[i];
	assert_int_equal(sched_prepare(st), 0);
	{
		static const int seq[] = { 2, 0, 2, 0, 1, 2, 2, 0, 2, 0, 1, 2 };

		expect_seq(st, seq, 12);
	}
	sched_free(st);
}

static void test_wrr_overload_and_zero(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	static const uint32_t w[] = { 4, 3, 2 };
	/* A OVERLOAD: cw 1: B C; 4: -; 3: B; 2: B C; 1: B C; 4: -; 3: B */
	static const int seq[] = { 1, 2, 1, 1, 2, 1, 2, 1, 1, 2 };
	static const int none[] = { -EHOSTUNREACH, -EHOSTUNREACH };

	dests_v4(d, 3, w);
	d[0].overloaded = true;
	st = new_sched("wrr", d, 3);
	expect_seq(st, seq, 10);

	/* All OVERLOAD: the last pass (cw = 1) finds nothing, no endless loop. */
	d[1].overloaded = true;
	d[2].overloaded = true;
	assert_int_equal(sched_prepare(st), 0);
	expect_seq(st, none, 2);

	/* All weights 0: mw = 0, no destination. */
	for (int i = 0; i < 3; i++) {
		d[i].overloaded = false;
		d[i].weight = 0;
	}
	assert_int_equal(sched_prepare(st), 0);
	expect_seq(st, none, 2);
	sched_free(st);
}

/* ---- lc family: exact ties ---- */

static void set_conns(struct sched_state *st, struct sched_dest *d, size_t i, uint32_t act,
		      uint32_t inact)
{
	d[i].active_conns = act;
	d[i].inactive_conns = inact;
	sched_dest_refresh(st, i);
}

static void test_lc_ties(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	static const uint32_t w[] = { 100, 1, 1 };

	dests_v4(d, 3, w);
	st = new_sched("lc", d, 3);
	assert_int_equal(sched_pick(st, NULL, 0), 0); /* all zero: first */
	/* A: 2 active = 512; B: 1 active = 256; C: 256 inactive = 256 -> B (first min) */
	set_conns(st, d, 0, 2, 0);
	set_conns(st, d, 1, 1, 0);
	set_conns(st, d, 2, 0, 256);
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	set_conns(st, d, 2, 0, 255);
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	/* weight plays no part except 0 */
	d[2].weight = 0;
	assert_int_equal(sched_prepare(st), 0);
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	sched_free(st);
}

static void test_wlc_ties(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	static const uint32_t w[] = { 2, 1, 3 };

	dests_v4(d, 3, w);
	st = new_sched("wlc", d, 3);
	/* A 512/2 = 256, B 256/1 = 256, C 1024/3 = 341: tie A/B -> A */
	set_conns(st, d, 0, 2, 0);
	set_conns(st, d, 1, 1, 0);
	set_conns(st, d, 2, 4, 0);
	assert_int_equal(sched_pick(st, NULL, 0), 0);
	/* C 767/3 = 255.67 beats both */
	set_conns(st, d, 2, 2, 255);
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	/* A OVERLOAD is skipped, B (256) vs C (255.67) -> C; C weight 0 -> B */
	d[0].overloaded = true;
	sched_dest_refresh(st, 0);
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	d[2].weight = 0;
	assert_int_equal(sched_prepare(st), 0);
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	sched_free(st);
}

static void test_sed_nq(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	static const uint32_t w[] = { 1, 3, 10 };

	dests_v4(d, 3, w);
	st = new_sched("sed", d, 3);
	/* (a+1)/w: A 1/1, B 3/3 -> tie -> A; C (9+1)/10 = 1 tie too. Inactive ignored. */
	set_conns(st, d, 0, 0, 1000);
	set_conns(st, d, 1, 2, 0);
	set_conns(st, d, 2, 9, 0);
	assert_int_equal(sched_pick(st, NULL, 0), 0);
	set_conns(st, d, 2, 8, 0); /* 9/10 */
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	sched_free(st);

	dests_v4(d, 3, w);
	st = new_sched("nq", d, 3);
	/* first idle wins even against a better sed ratio */
	set_conns(st, d, 0, 1, 0);
	set_conns(st, d, 1, 0, 0);
	set_conns(st, d, 2, 0, 0);
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	/* idle but OVERLOAD or weight 0 does not count */
	d[1].overloaded = true;
	sched_dest_refresh(st, 1);
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	/* nobody idle: sed rule, A 2/1, B 3/3 (overloaded), C 5/10 -> C */
	d[1].overloaded = false;
	set_conns(st, d, 1, 2, 0);
	set_conns(st, d, 2, 4, 0);
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	set_conns(st, d, 2, 9, 0); /* C 10/10 = B 3/3 -> B first */
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	sched_free(st);
}

static void test_fo_ovf(void **state)
{
	struct sched_dest d[4];
	struct sched_state *st;
	static const uint32_t wfo[] = { 3, 5, 5, 1 };
	static const uint32_t wovf[] = { 3, 5, 1 };

	dests_v4(d, 4, wfo);
	st = new_sched("fo", d, 4);
	assert_int_equal(sched_pick(st, NULL, 0), 1); /* first of the highest */
	d[1].overloaded = true;
	sched_dest_refresh(st, 1);
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	d[2].overloaded = true;
	sched_dest_refresh(st, 2);
	assert_int_equal(sched_pick(st, NULL, 0), 0);
	sched_free(st);

	dests_v4(d, 3, wovf);
	st = new_sched("ovf", d, 3);
	set_conns(st, d, 1, 5, 0); /* active == weight still takes flows */
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	set_conns(st, d, 1, 6, 0); /* spills to the next highest weight */
	assert_int_equal(sched_pick(st, NULL, 0), 0);
	set_conns(st, d, 0, 4, 100000); /* only active connections count */
	assert_int_equal(sched_pick(st, NULL, 0), 2);
	set_conns(st, d, 2, 2, 0);
	assert_int_equal(sched_pick(st, NULL, 0), -EHOSTUNREACH);
	sched_free(st);
}

/* ---- differential test: trees vs the kernel's scans ---- */

static int ref_lc(const struct sched_dest *d, size_t n)
{
	int least = -1;
	uint64_t loh = 0;

	for (size_t i = 0; i < n; i++) {
		if (d[i].overloaded || d[i].weight == 0)
			continue;
		if (least < 0 || sched_overhead(&d[i]) < loh) {
			least = (int)i;
			loh = sched_overhead(&d[i]);
		}
	}
	return least < 0 ? -EHOSTUNREACH : least;
}

/* wlc (sed = 1 when overhead is active + 1) */
static int ref_wlc(const struct sched_dest *d, size_t n, int sed)
{
	size_t i;
	int least = -1;
	uint64_t loh = 0;

	for (i = 0; i < n; i++) {
		if (!d[i].overloaded && d[i].weight > 0) {
			least = (int)i;
			loh = sed ? d[i].active_conns + 1ull : sched_overhead(&d[i]);
			break;
		}
	}
	if (least < 0)
		return -EHOSTUNREACH;
	for (i++; i < n; i++) {
		uint64_t doh = sed ? d[i].active_conns + 1ull : sched_overhead(&d[i]);

		if (d[i].overloaded)
			continue;
		if (loh * d[i].weight > doh * d[least].weight) {
			least = (int)i;
			loh = doh;
		}
	}
	return least;
}

static int ref_nq(const struct sched_dest *d, size_t n)
{
	int least = -1;
	uint64_t loh = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t doh = d[i].active_conns + 1ull;

		if (d[i].overloaded || !d[i].weight)
			continue;
		if (d[i].active_conns == 0)
			return (int)i;
		if (least < 0 || loh * d[i].weight > doh * d[least].weight) {
			least = (int)i;
			loh = doh;
		}
	}
	return least < 0 ? -EHOSTUNREACH : least;
}

static int ref_fo(const struct sched_dest *d, size_t n)
{
	int h = -1;
	uint32_t hw = 0;

	for (size_t i = 0; i < n; i++) {
		if (!d[i].overloaded && d[i].weight > hw) {
			h = (int)i;
			hw = d[i].weight;
		}
	}
	return h < 0 ? -EHOSTUNREACH : h;
}

static int ref_ovf(const struct sched_dest *d, size_t n)
{
	int h = -1;
	uint32_t hw = 0;

	for (size_t i = 0; i < n; i++) {
		uint32_t w = d[i].weight;

		if (d[i].overloaded || d[i].active_conns > w || w == 0)
			continue;
		if (h < 0 || w > hw) {
			h = (int)i;
			hw = w;
		}
	}
	return h < 0 ? -EHOSTUNREACH : h;
}

static int ref_pick(const char *name, const struct sched_dest *d, size_t n)
{
	if (!strcmp(name, "lc"))
		return ref_lc(d, n);
	if (!strcmp(name, "wlc"))
		return ref_wlc(d, n, 0);
	if (!strcmp(name, "sed"))
		return ref_wlc(d, n, 1);
	if (!strcmp(name, "nq"))
		return ref_nq(d, n);
	if (!strcmp(name, "fo"))
		return ref_fo(d, n);
	return ref_ovf(d, n);
}

/*
 * Small value ranges make ties common (256 active-equivalents, equal
 * ratios), which is where a tree and a scan could disagree. 300 random
 * services per scheduler, 300 take/drop steps each, compared after every step.
 */
static void test_rank_matches_kernel_scan(void **state)
{
	static const char *const names[] = { "lc", "wlc", "sed", "nq", "fo", "ovf" };
	uint64_t rng = 7;

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		for (int round = 0; round < 300; round++) {
			size_t n = 1 + sched_rand_below(&rng, 40);
			struct sched_dest d[40];
			struct sched_state *st;

			for (size_t i = 0; i < n; i++) {
				dest_v4(&d[i], 0x0a000000 + (uint32_t)i, 80,
					sched_rand_below(&rng, 5));
				d[i].active_conns = sched_rand_below(&rng, 4);
				d[i].inactive_conns = sched_rand_below(&rng, 3) * 128;
				d[i].u_threshold = sched_rand_below(&rng, 3) ? 0
								: 2 + sched_rand_below(&rng, 6);
				d[i].overloaded = sched_rand_below(&rng, 10) == 0;
			}
			st = new_sched(names[k], d, n);
			for (int step = 0; step < 300; step++) {
				size_t i = sched_rand_below(&rng, (uint32_t)n);
				bool active = sched_rand_below(&rng, 2);
				int want = ref_pick(names[k], d, n);
				int got = sched_pick(st, NULL, 0);

				if (got != want)
					fail_msg("%s round %d step %d: got %d want %d", names[k],
						 round, step, got, want);
				if (sched_rand_below(&rng, 2))
					sched_conn_take(st, i, active);
				else
					sched_conn_drop(st, i, active);
			}
			sched_free(st);
		}
	}
}

/* The Fenwick search behind twos, against a linear prefix-sum walk. */
static void test_fenwick(void **state)
{
	struct sched_fenwick f = { 0 };
	uint64_t rng = 5;

	for (int round = 0; round < 200; round++) {
		size_t n = 1 + sched_rand_below(&rng, 70);

		assert_int_equal(sched_fenwick_reset(&f, n), 0);
		for (size_t i = 0; i < n; i++)
			f.val[i] = sched_rand_below(&rng, 4) ? sched_rand_below(&rng, 9) : 0;
		sched_fenwick_finish(&f);
		for (int step = 0; step < 50; step++) {
			uint64_t total = 0, r1, r2;
			size_t want1 = n, want2 = n, got1, got2, acc = 0;

			for (size_t i = 0; i < n; i++)
				total += f.val[i];
			assert_true(f.total == total);
			r1 = sched_rand_below(&rng, (uint32_t)total + 2); /* 0 and total+1 too */
			r2 = sched_rand_below(&rng, (uint32_t)total + 2);
			for (size_t i = 0; i < n; i++) {
				acc += f.val[i];
				if (want1 == n && r1 && r1 <= total && acc >= r1)
					want1 = i;
				if (want2 == n && r2 && r2 <= total && acc >= r2)
					want2 = i;
			}
			sched_fenwick_find2(&f, r1, r2, &got1, &got2);
			assert_int_equal(got1, want1);
			assert_int_equal(got2, want2);
			sched_fenwick_set(&f, sched_rand_below(&rng, (uint32_t)n),
					  sched_rand_below(&rng, 9));
		}
	}
	sched_fenwick_done(&f);
}

/* ---- connection bookkeeping and OVERLOAD ---- */

static void test_overload_rule(void **state)
{
	struct sched_dest d[2];
	struct sched_state *st;

	dests_v4(d, 2, NULL);
	d[0].u_threshold = 4;
	st = new_sched("wlc", d, 2);
	for (int i = 0; i < 3; i++)
		sched_conn_take(st, 0, i % 2);
	assert_false(d[0].overloaded);
	sched_conn_take(st, 0, false); /* total 4 >= u_threshold */
	assert_true(d[0].overloaded);
	assert_int_equal(d[0].active_conns, 1);
	assert_int_equal(d[0].inactive_conns, 3);
	assert_int_equal(sched_pick(st, NULL, 0), 1);
	sched_conn_drop(st, 0, false); /* 3: 3*4 < 4*3 is false */
	assert_true(d[0].overloaded);
	sched_conn_drop(st, 0, false); /* 2: 8 < 12 -> clear */
	assert_false(d[0].overloaded);

	/* explicit l_threshold */
	d[0].l_threshold = 2;
	sched_conn_take(st, 0, true);
	sched_conn_take(st, 0, true); /* 4 */
	assert_true(d[0].overloaded);
	sched_conn_drop(st, 0, true); /* 3 */
	sched_conn_drop(st, 0, true); /* 2: not < 2 */
	assert_true(d[0].overloaded);
	sched_conn_drop(st, 0, true); /* 1 */
	assert_false(d[0].overloaded);

	/* no threshold: set by hand, cleared by the next drop (IPVS unbind) */
	d[1].overloaded = true;
	sched_dest_refresh(st, 1);
	assert_int_equal(sched_pick(st, NULL, 0), 0);
	sched_conn_drop(st, 1, true); /* counter already 0: ignored, flag cleared */
	assert_int_equal(d[1].active_conns, 0);
	assert_false(d[1].overloaded);
	/* out-of-range index is ignored */
	sched_conn_take(st, 7, true);
	sched_free(st);
}

/* ---- shares ---- */

static void count_picks(struct sched_state *st, size_t n, int picks, int *count)
{
	uint64_t rng = 99;

	memset(count, 0, n * sizeof(*count));
	for (int i = 0; i < picks; i++) {
		uint32_t saddr = (uint32_t)sched_rand64(&rng);
		struct sched_flow f = flow_v4(saddr, (uint16_t)i, 0x0a600001, 80);
		int r = sched_pick(st, &f, 0);

		assert_true(r >= 0 && (size_t)r < n);
		count[r]++;
	}
}

static void test_random_uniform(void **state)
{
	struct sched_dest d[5];
	struct sched_state *st;
	static const uint32_t w[] = { 1, 100, 0, 1, 7 };
	int count[5];
	const int picks = 120000;

	dests_v4(d, 5, w);
	d[3].overloaded = true;
	st = new_sched("random", d, 5);
	count_picks(st, 5, picks, count);
	assert_int_equal(count[2], 0);
	assert_int_equal(count[3], 0);
	/*
	 * Uniform over the 3 available ones whatever their weight: expected
	 * 40000 each, sd = sqrt(120000 * 1/3 * 2/3) = 163; +-1000 is > 6 sd.
	 */
	for (int i = 0; i < 5; i += (i == 1 ? 3 : 1))
		assert_in_range(count[i], 39000, 41000);

	/* The same seed gives the same sequence; another seed does not. */
	{
		struct sched_state *a, *b, *c;
		struct sched_config ca = { .seed = 5 }, cc = { .seed = 6 };
		int same = 0, diff = 0;

		assert_int_equal(sched_new("random", &ca, d, 5, &a), 0);
		assert_int_equal(sched_new("random", &ca, d, 5, &b), 0);
		assert_int_equal(sched_new("random", &cc, d, 5, &c), 0);
		for (int i = 0; i < 100; i++) {
			int x = sched_pick(a, NULL, 0);

			same += x == sched_pick(b, NULL, 0);
			diff += x != sched_pick(c, NULL, 0);
		}
		assert_int_equal(same, 100);
		assert_true(diff > 30);
		sched_free(a);
		sched_free(b);
		sched_free(c);
	}
	/* OVERLOAD flips through conn_take are seen at once */
	d[0].u_threshold = 1;
	sched_conn_take(st, 0, true);
	count_picks(st, 5, 1000, count);
	assert_int_equal(count[0], 0);
	sched_free(st);
}

static void test_rr_wrr_wlc_shares(void **state)
{
	struct sched_dest d[4];
	struct sched_state *st;
	static const uint32_t w[] = { 1, 2, 3, 4 };
	int count[4];

	dests_v4(d, 4, NULL);
	st = new_sched("rr", d, 4);
	count_picks(st, 4, 4000, count);
	for (int i = 0; i < 4; i++)
		assert_int_equal(count[i], 1000); /* exact for rr */
	sched_free(st);

	dests_v4(d, 4, w);
	st = new_sched("wrr", d, 4);
	count_picks(st, 4, 10000, count);
	for (int i = 0; i < 4; i++)
		assert_int_equal(count[i], 1000 * (i + 1)); /* exact per full cycle of 10 */
	sched_free(st);

	/*
	 * wlc with every connection kept open converges to shares equal to the
	 * weights: after k picks the active counts stay within 1 of k*w/sum(w).
	 */
	dests_v4(d, 4, w);
	st = new_sched("wlc", d, 4);
	for (int i = 0; i < 10000; i++) {
		int r = sched_pick(st, NULL, 0);

		assert_true(r >= 0);
		sched_conn_take(st, (size_t)r, true);
	}
	for (int i = 0; i < 4; i++)
		assert_in_range(d[i].active_conns, 1000u * (i + 1) - 1, 1000u * (i + 1) + 1);
	sched_free(st);
}

static void test_twos(void **state)
{
	struct sched_dest d[2];
	struct sched_state *st;
	static const uint32_t w[] = { 1, 3 };
	int count[2];
	const int picks = 100000;

	/*
	 * With no connections choice 1 always stands, and IPVS's walk over
	 * [0, total] gives the first available destination one extra chance:
	 * P(A) = (1 + 1) / (4 + 1) = 0.4. sd = 155; tolerance 1000.
	 */
	dests_v4(d, 2, w);
	st = new_sched("twos", d, 2);
	count_picks(st, 2, picks, count);
	assert_in_range(count[0], 39000, 41000);
	/* A loaded, B idle: A only when both draws are A: 0.4^2 = 0.16. */
	set_conns(st, d, 0, 1, 0);
	count_picks(st, 2, picks, count);
	assert_in_range(count[0], 15000, 17000);
	/* weight 0 and OVERLOAD never chosen */
	d[1].weight = 0;
	assert_int_equal(sched_prepare(st), 0);
	count_picks(st, 2, 1000, count);
	assert_int_equal(count[0], 1000);
	d[0].overloaded = true;
	sched_dest_refresh(st, 0);
	assert_int_equal(sched_pick(st, NULL, 0), -EHOSTUNREACH);
	sched_free(st);
}

/* ---- every scheduler: weight 0 and OVERLOAD get no new flows ---- */

static void run_never_picks(const char *name, uint32_t flags, bool overload)
{
	struct sched_dest d[6];
	struct sched_state *st = NULL;
	struct sched_config cfg = { .flags = flags, .seed = 3, .maglev_table_size = 1021 };
	const size_t bad = 2;
	uint64_t rng = 11, now = 0;
	int open[64] = { 0 }, n_open = 0, hits = 0;

	dests_v4(d, 6, NULL);
	/* room for the 64 open connections under ovf's active <= weight */
	for (int i = 0; i < 6; i++)
		d[i].weight = 20;
	if (overload) {
		d[bad].u_threshold = 1;
		d[bad].active_conns = 1;
		d[bad].overloaded = true;
	} else {
		d[bad].weight = 0;
		d[bad].last_weight = 5; /* mh keeps its slots: lookups must still avoid it */
	}
	assert_int_equal(sched_new(name, &cfg, d, 6, &st), 0);
	for (int i = 0; i < 4000; i++) {
		struct sched_flow f = flow_v4(0xc0a80000 + sched_rand_below(&rng, 512),
					      (uint16_t)sched_rand64(&rng),
					      0x0a600000 + sched_rand_below(&rng, 64), 80);
		int r;

		now += NS / 10;
		r = sched_pick(st, &f, now);
		if (r == -EHOSTUNREACH)
			continue;
		assert_true(r >= 0 && r < 6);
		if ((size_t)r == bad)
			fail_msg("%s (flags %#x) picked the %s destination", name, flags,
				 overload ? "overloaded" : "quiesced");
		hits++;
		/* churn: keep up to 64 connections open */
		if (n_open == 64) {
			int j = (int)sched_rand_below(&rng, 64);

			sched_conn_drop(st, (size_t)open[j], true);
			open[j] = r;
		} else {
			open[n_open++] = r;
		}
		sched_conn_take(st, (size_t)r, true);
	}
	/* The hashing schedulers without fallback fail some flows; none fails all. */
	if (hits <= 2000)
		fail_msg("%s (flags %#x, %s): only %d of 4000 flows placed", name, flags,
			 overload ? "overload" : "quiesced", hits);
	sched_free(st);
}

static void test_all_skip_quiesced_and_overloaded(void **state)
{
	const struct sched_info *info;

	for (size_t i = 0; (info = sched_info_get(i)); i++) {
		run_never_picks(info->name, 0, false);
		run_never_picks(info->name, 0, true);
	}
	run_never_picks("sh", SCHED_F_SH_FALLBACK | SCHED_F_SH_PORT, false);
	run_never_picks("sh", SCHED_F_SH_FALLBACK | SCHED_F_SH_PORT, true);
	run_never_picks("mh", SCHED_F_MH_FALLBACK | SCHED_F_MH_PORT, false);
	run_never_picks("mh", SCHED_F_MH_FALLBACK | SCHED_F_MH_PORT, true);
}

/* ---- lblc / lblcr ---- */

static void test_lblc(void **state)
{
	struct sched_dest d[2];
	struct sched_state *st;
	struct sched_config cfg = { .lblc_expiration_ns = 600 * NS };
	struct sched_flow vip1 = flow_v4(0xc0a80001, 1, 0x0a600001, 80);
	struct sched_flow vip2 = flow_v4(0xc0a80001, 1, 0x0a600002, 80);
	uint64_t t = 1000 * NS;

	dests_v4(d, 2, NULL);
	assert_int_equal(sched_new("lblc", &cfg, d, 2, &st), 0);
	assert_int_equal(sched_pick(st, &vip1, t), 0); /* wlc tie -> first */
	sched_conn_take(st, 0, true);
	/* cached: vip1 stays on A although wlc would now say B */
	assert_int_equal(sched_pick(st, &vip1, t), 0);
	assert_int_equal(sched_pick(st, &vip2, t), 1);
	/* A: active 2 > weight 1, and B has active*2 < weight? B has 0 active, weight 1: yes */
	sched_conn_take(st, 0, true);
	sched_conn_take(st, 1, true); /* B active 1: 2 < 1 false -> nobody half loaded */
	assert_int_equal(sched_pick(st, &vip1, t), 0);
	d[1].weight = 4;
	assert_int_equal(sched_prepare(st), 0); /* B: 2 < 4 -> A is lblc-overloaded */
	assert_int_equal(sched_pick(st, &vip1, t), 1);
	assert_int_equal(sched_pick(st, &vip1, t), 1); /* re-cached on B */

	/* weight 0 on the cached server: re-pick */
	d[1].weight = 0;
	assert_int_equal(sched_prepare(st), 0);
	assert_int_equal(sched_pick(st, &vip1, t), 0);

	/* survives a dest array change by identity: B moves to index 0 */
	{
		struct sched_dest e[2] = { d[1], d[0] };

		e[0].weight = 1;
		e[1].active_conns = 0;
		assert_int_equal(sched_set_dests(st, e, 2), 0);
		/* vip2 was cached on B (now index 0); wlc alone would say index 1 (A, 0/1) */
		e[0].active_conns = 1;
		sched_dest_refresh(st, 0);
		assert_int_equal(sched_pick(st, &vip2, t), 0);
		assert_int_equal(sched_set_dests(st, d, 2), 0);
	}

	/*
	 * Expiry: entries unused for lblc_expiration go at the full check, every
	 * 30th 60 s check. vip2 -> B cached; after 31 min idle, B busy and A idle,
	 * a fresh wlc pick says A.
	 */
	d[0].active_conns = 0;
	d[1].active_conns = 0;
	d[1].weight = 1;
	assert_int_equal(sched_prepare(st), 0);
	assert_int_equal(sched_pick(st, &vip2, t), 1); /* still cached from before */
	d[1].active_conns = 1;
	sched_dest_refresh(st, 1);
	for (int i = 1; i <= 31; i++)
		(void)sched_pick(st, &vip1, t + (uint64_t)i * 60 * NS);
	assert_int_equal(sched_pick(st, &vip2, t + 31 * 60 * NS), 0);
	sched_free(st);
}

static void test_lblc_bounded(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	struct sched_config cfg = { .lblc_max_entries = 64 };
	size_t mem_small, mem;

	for (int k = 0; k < 2; k++) {
		dests_v4(d, 3, NULL);
		assert_int_equal(sched_new(k ? "lblcr" : "lblc", &cfg, d, 3, &st), 0);
		mem_small = sched_memory(st);
		for (uint32_t i = 0; i < 5000; i++) {
			struct sched_flow f = flow_v4(1, 1, 0x0b000000 + i, 80);

			assert_true(sched_pick(st, &f, (uint64_t)i * NS) >= 0);
		}
		mem = sched_memory(st);
		/* 64 entries of at most 128 bytes on top of the empty state */
		assert_true(mem > mem_small);
		assert_true(mem <= mem_small + 64 * 128);
		sched_free(st);
	}
}

static void test_lblcr(void **state)
{
	struct sched_dest d[2];
	struct sched_state *st;
	struct sched_config cfg = { .lblc_expiration_ns = 600 * NS };
	struct sched_flow vip = flow_v4(0xc0a80001, 1, 0x0a600001, 80);
	static const uint32_t w[] = { 1, 4 };
	uint64_t t = 5000 * NS;

	dests_v4(d, 2, w);
	assert_int_equal(sched_new("lblcr", &cfg, d, 2, &st), 0);
	assert_int_equal(sched_pick(st, &vip, t), 0); /* wlc: 0/1 vs 0/4, tie -> A */
	sched_conn_take(st, 0, true);
	sched_conn_take(st, 0, true);
	/* A: 2 > 1 and B 0*2 < 4: overloaded -> wlc adds B, set {B, A} */
	assert_int_equal(sched_pick(st, &vip, t), 1);
	/* set min: B 3 active = 768/4 = 192 vs A 0/1 -> A */
	sched_conn_drop(st, 0, true);
	sched_conn_drop(st, 0, true);
	for (int i = 0; i < 3; i++)
		sched_conn_take(st, 1, true);
	assert_int_equal(sched_pick(st, &vip, t), 0);
	/*
	 * Unchanged for more than lblcr_expiration: the most loaded member (B)
	 * is dropped, this pick still returns the min computed before (A).
	 */
	assert_int_equal(sched_pick(st, &vip, t + 601 * NS), 0);
	/* set is {A}: with A busier than B, still A (no overload in lblc sense) */
	sched_conn_take(st, 0, true);
	assert_int_equal(sched_pick(st, &vip, t + 602 * NS), 0);
	sched_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_errors),
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_rr_order),
		cmocka_unit_test(test_wrr_order),
		cmocka_unit_test(test_wrr_overload_and_zero),
		cmocka_unit_test(test_lc_ties),
		cmocka_unit_test(test_wlc_ties),
		cmocka_unit_test(test_sed_nq),
		cmocka_unit_test(test_fo_ovf),
		cmocka_unit_test(test_rank_matches_kernel_scan),
		cmocka_unit_test(test_fenwick),
		cmocka_unit_test(test_overload_rule),
		cmocka_unit_test(test_random_uniform),
		cmocka_unit_test(test_rr_wrr_wlc_shares),
		cmocka_unit_test(test_twos),
		cmocka_unit_test(test_all_skip_quiesced_and_overloaded),
		cmocka_unit_test(test_lblc),
		cmocka_unit_test(test_lblc_bounded),
		cmocka_unit_test(test_lblcr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
