/* SPDX-License-Identifier: Apache-2.0 */
/* When kroute run syncs: rate limit, periodic partial syncs, hourly full resync, retry backoff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon/sync_timer.h"

#define S 1000000000ull

static void test_schedule(void **state)
{
	struct sync_timer t;
	bool full;
	uint64_t now = 10000 * S;

	(void)state;
	sync_timer_init(&t, 1 * S, 30 * S);
	/* The first sync is due at once and is full. */
	assert_true(sync_timer_due(&t, now, &full));
	assert_true(full);
	sync_timer_done(&t, now, true, true);
	/* Nothing pending: nothing due before the sync period. */
	assert_false(sync_timer_due(&t, now + 5 * S, &full));
	assert_int_equal(sync_timer_deadline(&t), now + 30 * S);
	/* A change is held back by min-sync-period, then runs partial. */
	sync_timer_request(&t);
	assert_false(sync_timer_due(&t, now + S / 2, &full));
	assert_int_equal(sync_timer_deadline(&t), now + 1 * S);
	assert_true(sync_timer_due(&t, now + 1 * S, &full));
	assert_false(full);
	sync_timer_done(&t, now + 1 * S, false, true);
	/* The periodic sync is partial... */
	assert_true(sync_timer_due(&t, now + 31 * S, &full));
	assert_false(full);
	sync_timer_done(&t, now + 31 * S, false, true);
	/* ...and the full resync comes after an hour. */
	assert_true(sync_timer_due(&t, now + 3601 * S, &full));
	assert_true(full);
	sync_timer_done(&t, now + 3601 * S, true, true);
	now += 3601 * S;
	/* A failure: retried after min-sync-period, doubling, always full. */
	sync_timer_request(&t);
	assert_true(sync_timer_due(&t, now + 2 * S, &full));
	sync_timer_done(&t, now + 2 * S, false, false);
	assert_int_equal(sync_timer_deadline(&t), now + 3 * S);
	assert_true(sync_timer_due(&t, now + 3 * S, &full));
	assert_true(full);
	sync_timer_done(&t, now + 3 * S, true, false);
	assert_int_equal(sync_timer_deadline(&t), now + 5 * S);
	assert_false(sync_timer_due(&t, now + 4 * S, &full));
	assert_true(sync_timer_due(&t, now + 5 * S, &full));
	sync_timer_done(&t, now + 5 * S, true, true);
	assert_false(sync_timer_due(&t, now + 6 * S, &full));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
