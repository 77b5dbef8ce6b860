/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The userspace proxy's log queue (src/dataplane/userspace/logq.c): lines
 * come out in the order they went in, the queue keeps at most its bound,
 * the lines it could not keep are counted and reported once, long lines are
 * cut, and the eventfd is readable exactly while lines wait; pushes from
 * several threads at once all arrive.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>

#include <cmocka.h>

#include "dataplane/userspace/logq.h"

struct lines {
	char **v;
	size_t n;
};

static void collect(const char *line, void *arg)
{
	struct lines *l = arg;

	l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->v[l->n++] = strdup(line);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void test_order_bound_and_drops(void **state)
{
	struct us_logq q;
	struct lines got = { 0 };

	(void)state;
	assert_int_equal(us_logq_init(&q, 4), 0);
	assert_false(readable(q.efd));
	assert_int_equal(us_logq_drain(&q, collect, &got), 0);
	for (int i = 0; i < 7; i++)
		us_logq_push(&q, "line %d", i);
	assert_true(readable(q.efd));
	/* Four kept in order, then one line for the three that did not fit. */
	assert_int_equal(us_logq_drain(&q, collect, &got), 5);
	assert_string_equal(got.v[0], "line 0");
	assert_string_equal(got.v[3], "line 3");
	assert_string_equal(got.v[4],
			    "userspace: 3 messages from proxy threads were dropped (more than 4 between two reads)");
	assert_false(readable(q.efd));
	lines_free(&got);
	/* The count starts again; the ring wraps. */
	us_logq_push(&q, "after");
	us_logq_push(&q, "%s", "again");
	assert_int_equal(us_logq_drain(&q, collect, &got), 2);
	assert_string_equal(got.v[0], "after");
	assert_string_equal(got.v[1], "again");
	lines_free(&got);
	us_logq_done(&q);
}

static void test_long_line_is_cut(void **state)
{
	struct us_logq q;
	struct lines got = { 0 };
	char *big = malloc(US_LOGQ_LINE * 2);

	(void)state;
	memset(big, 'x', US_LOGQ_LINE * 2 - 1);
	big[US_LOGQ_LINE * 2 - 1] = '\0';
	assert_int_equal(us_logq_init(&q, 0), 0);
	us_logq_push(&q, "%s", big);
	assert_int_equal(us_logq_drain(&q, collect, &got), 1);
	assert_int_equal(strlen(got.v[0]), US_LOGQ_LINE - 1);
	lines_free(&got);
	free(big);
	us_logq_done(&q);
}

#define PUSHERS 4
#define PER_PUSHER 50

static void *pusher(void *arg)
{
	struct us_logq *q = arg;

	for (int i = 0; i < PER_PUSHER; i++)
		us_logq_push(q, "%d", i);
	return NULL;
}

static void test_threads(void **state)
{
	struct us_logq q;
	struct lines got = { 0 };
	pthread_t t[PUSHERS];

	(void)state;
	assert_int_equal(us_logq_init(&q, PUSHERS * PER_PUSHER), 0);
	for (int i = 0; i < PUSHERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, pusher, &q), 0);
	for (int i = 0; i < PUSHERS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(us_logq_drain(&q, collect, &got), PUSHERS * PER_PUSHER);
	lines_free(&got);
	us_logq_done(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_bound_and_drops),
		cmocka_unit_test(test_long_line_is_cut),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
