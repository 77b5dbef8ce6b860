/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of ClientIP session affinity over the schedulers: the client
 * keeps its destination until timeout after its last new flow, then is
 * picked again; quiesced, overloaded and removed destinations end the
 * affinity (and IPVS-compatible mode keeps it while the destination exists);
 * the table is bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "sched/sched.h"
#include "sched/sched_affinity.h"

#define NS 1000000000ull
#define TIMEOUT (10 * NS)

static void dests_v4(struct sched_dest *d, size_t n)
{
	memset(d, 0, n * sizeof(*d));
	for (size_t i = 0; i < n; i++) {
		d[i].family = AF_INET;
		d[i].addr[0] = 10;
		d[i].addr[3] = (uint8_t)(1 + i);
		d[i].port = 8080;
		d[i].weight = 1;
	}
}

static struct sched_flow client(uint32_t ip, uint16_t sport)
{
	struct sched_flow f = { .family = AF_INET, .proto = 6, .sport = sport, .dport = 80 };

	f.saddr[0] = 192;
	f.saddr[1] = 168;
	f.saddr[2] = (uint8_t)(ip >> 8);
	f.saddr[3] = (uint8_t)ip;
	f.daddr[0] = 10;
	f.daddr[1] = 96;
	f.daddr[3] = 1;
	return f;
}

static void test_holds_until_timeout(void **state)
{
	struct sched_dest d[3];
	struct sched_state *st;
	struct sched_affinity *aff;
	struct sched_flow x = client(1, 1000), y = client(2, 1000);
	uint64_t t = 100 * NS;

	dests_v4(d, 3);
	assert_int_equal(sched_new("rr", NULL, d, 3, &st), 0);
	assert_int_equal(sched_affinity_new(TIMEOUT, 1024, 0, 1, &aff), 0);

	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &y, t), 1);
	/* new connections of x (other source ports) stay on 0 while rr moves on */
	for (uint16_t p = 0; p < 10; p++) {
		x.sport = p;
		assert_int_equal(sched_affinity_pick(aff, st, &x, t + p * NS), 0);
	}
	assert_int_equal(sched_affinity_lookup(aff, st, &x, t + 9 * NS), 0);
	assert_int_equal(sched_affinity_count(aff, t + 9 * NS), 2);
	/* last use t+9s: still held at t+18.9s, gone at t+19s */
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 18 * NS + NS / 2), 0);
	/* y was last used at t: expired at t+10s exactly -> rr picks the next (2) */
	assert_int_equal(sched_affinity_lookup(aff, st, &y, t + TIMEOUT), -ENOENT);
	assert_int_equal(sched_affinity_pick(aff, st, &y, t + TIMEOUT), 2);
	/* each reuse extends: 18.5 -> 28.5, 28 -> 38, 37 -> 47, 46 -> 56 */
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 28 * NS), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 37 * NS), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 46 * NS), 0);
	/* now let both lapse: rr continues after 2 with 0, then 1, then 2 */
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 70 * NS), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &y, t + 70 * NS), 1);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 80 * NS - 1), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t + 90 * NS - 1), 2);

	sched_affinity_clear(aff);
	assert_int_equal(sched_affinity_count(aff, t + 90 * NS), 0);
	assert_int_equal(sched_affinity_lookup(aff, st, &x, t + 90 * NS), -ENOENT);
	sched_affinity_free(aff);
	sched_free(st);
}

static void test_unavailable_and_moved(void **state)
{
	struct sched_dest d[3], e[2];
	struct sched_state *st;
	struct sched_affinity *aff, *compat;
	struct sched_flow x = client(1, 1000);
	uint64_t t = NS;

	dests_v4(d, 3);
	assert_int_equal(sched_new("rr", NULL, d, 3, &st), 0);
	assert_int_equal(sched_affinity_new(TIMEOUT, 64, 0, 1, &aff), 0);
	assert_int_equal(sched_affinity_new(TIMEOUT, 64, SCHED_AFFINITY_IPVS_COMPAT, 1, &compat),
			 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 0);
	assert_int_equal(sched_affinity_pick(compat, st, &x, t), 1);

	/* quiesce 0 and 1: kroute re-picks, IPVS-compatible mode keeps them */
	d[0].weight = 0;
	d[1].weight = 0;
	assert_int_equal(sched_prepare(st), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 2);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 2);
	assert_int_equal(sched_affinity_pick(compat, st, &x, t), 1);
	d[0].weight = 1;
	d[1].weight = 1;
	assert_int_equal(sched_prepare(st), 0);

	/* OVERLOAD likewise */
	d[2].overloaded = true;
	sched_dest_refresh(st, 2);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 0);
	d[2].overloaded = false;
	sched_dest_refresh(st, 2);

	/* the destination moves to another index: found by identity */
	e[0] = d[1];
	e[1] = d[0];
	assert_int_equal(sched_set_dests(st, e, 2), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 1);
	assert_int_equal(sched_affinity_pick(compat, st, &x, t), 0);
	/* ... and removed: re-picked */
	assert_int_equal(sched_set_dests(st, e, 1), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), 0);
	assert_int_equal(sched_affinity_pick(compat, st, &x, t), 0);

	/* no destination at all: the error passes through, nothing recorded */
	assert_int_equal(sched_set_dests(st, e, 0), 0);
	assert_int_equal(sched_affinity_pick(aff, st, &x, t), -ENOENT);

	sched_affinity_free(compat);
	sched_affinity_free(aff);
	sched_free(st);
}

static void test_bounded(void **state)
{
	struct sched_dest d[4];
	struct sched_state *st;
	struct sched_affinity *aff;
	uint64_t t = NS;
	int kept = 0;

	assert_int_equal(sched_affinity_new(0, 16, 0, 1, &aff), -EINVAL);
	assert_int_equal(sched_affinity_new(TIMEOUT, 0, 0, 1, &aff), -EINVAL);
	assert_int_equal(sched_affinity_new(TIMEOUT, 16, 1u << 5, 1, &aff), -EINVAL);

	dests_v4(d, 4);
	assert_int_equal(sched_new("random", NULL, d, 4, &st), 0);
	assert_int_equal(sched_affinity_new(TIMEOUT, 16, 0, 1, &aff), 0);
	assert_int_equal(sched_affinity_capacity(aff), 16);
	for (uint32_t c = 0; c < 1000; c++) {
		struct sched_flow f = client(c, 1);

		assert_true(sched_affinity_pick(aff, st, &f, t + c) >= 0);
	}
	assert_int_equal(sched_affinity_count(aff, t + 1000), 16);
	assert_true(sched_affinity_memory(aff) < 4096);
	/* the most recent clients are the ones kept (LRU within a bucket) */
	for (uint32_t c = 984; c < 1000; c++) {
		struct sched_flow f = client(c, 1);

		kept += sched_affinity_lookup(aff, st, &f, t + 1000) >= 0;
	}
	assert_true(kept >= 8);
	sched_affinity_free(aff);
	sched_free(st);
}

/* Affinity composes with every scheduler, and never targets weight 0. */
static void test_every_scheduler(void **state)
{
	const struct sched_info *info;

	for (size_t i = 0; (info = sched_info_get(i)); i++) {
		struct sched_dest d[5];
		struct sched_state *st;
		struct sched_affinity *aff;
		struct sched_config cfg = { .seed = 9, .maglev_table_size = 251 };

		dests_v4(d, 5);
		d[3].weight = 0;
		assert_int_equal(sched_new(info->name, &cfg, d, 5, &st), 0);
		assert_int_equal(sched_affinity_new(TIMEOUT, 256, 0, 2, &aff), 0);
		for (uint32_t c = 0; c < 50; c++) {
			struct sched_flow f = client(c, 1);
			int first = sched_affinity_pick(aff, st, &f, NS);

			if (first < 0)
				continue; /* dh/sh/mh slot unavailable */
			assert_int_not_equal(first, 3);
			for (uint16_t p = 2; p < 6; p++) {
				f.sport = p;
				f.daddr[3] = (uint8_t)p; /* lblc/dh key changes, affinity wins */
				assert_int_equal(sched_affinity_pick(aff, st, &f, NS + p), first);
			}
		}
		sched_affinity_free(aff);
		sched_free(st);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_holds_until_timeout),
		cmocka_unit_test(test_unavailable_and_moved),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_every_scheduler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
