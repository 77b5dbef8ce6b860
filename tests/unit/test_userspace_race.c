/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy services used from several threads at once, as the workers and the
 * agent use them: picks, failed and successful connects (passive health),
 * releases, and endpoint-set updates, concurrently on one service.  The
 * assertions check the bookkeeping; the point of the test is a
 * ThreadSanitizer build, which reports any field one thread reads while
 * another writes it without the service lock or an atomic:
 *
 *	meson setup build-tsan -Db_sanitize=thread -Db_lundef=false
 *	meson test -C build-tsan test_userspace_race
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>

#include <cmocka.h>

#include "core/util.h"
#include "dataplane/userspace/plan.h"
#include "dataplane/userspace/proxy.h"
#include "dataplane/userspace/worker.h"

#define S 1000000000ull
#define ROUNDS 20000

static struct us_plan_ep mk_ep(const char *ip)
{
	struct us_plan_ep e = { .port = 8080, .weight = 1 };

	assert_int_equal(addr_parse(ip, &e.addr), 0);
	addr_port_format(&e.addr, e.port, e.key);
	return e;
}

struct worker_arg {
	struct us_svc *svc;
	bool failing;               /* this "worker"'s connects fail; the other's succeed */
	unsigned long picks;
};

static void *worker(void *p)
{
	struct worker_arg *a = p;
	const struct sched_flow f = { .family = AF_INET, .proto = IPPROTO_TCP, .sport = 1, .dport = 80 };

	for (unsigned i = 0; i < ROUNDS; i++) {
		uint64_t now = (uint64_t)i * 1000000; /* 1 ms a round: ejections start and end */
		struct us_ep *ep = us_svc_pick(a->svc, &f, NULL, 0, now);

		if (!ep)
			continue;
		a->picks++;
		if (a->failing)
			us_svc_failed(ep, ECONNREFUSED, now);
		else
			us_svc_succeeded(ep);
		us_svc_release(ep);
	}
	return NULL;
}

static void test_concurrent_picks_and_health(void **state)
{
	struct us_dp dp = { .eject_ns = 5000000 }; /* 5 ms */
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1"), mk_ep("10.0.0.2"), mk_ep("10.0.0.3") };
	struct us_plan_svc all = {
		.key = (char *)"t/web:80/TCP/4/cluster", .name = (char *)"t/web:80",
		.family = AF_INET, .proto = IPPROTO_TCP, .sched_name = "lc", .eps = eps, .n_eps = 3,
	};
	struct us_plan_svc two = all;
	struct worker_arg args[2];
	pthread_t t[2];
	struct us_svc *s;

	(void)state;
	two.n_eps = 2;
	assert_int_equal(us_logq_init(&dp.logq, 0), 0);
	s = us_svc_new(&dp, &all);
	us_svc_update(s, &all, 0);
	for (int i = 0; i < 2; i++) {
		args[i] = (struct worker_arg){ .svc = s, .failing = i == 0 };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	/* The agent's part: the endpoint set changes back and forth meanwhile. */
	for (unsigned i = 0; i < 200; i++)
		us_svc_update(s, i % 2 ? &two : &all, (uint64_t)i * S);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	assert_true(args[0].picks > 0 && args[1].picks > 0);
	/* Every flow was released: no connection is still counted. */
	for (size_t i = 0; i < s->n_cur; i++)
		assert_int_equal(s->cur[i]->active, 0);
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_picks_and_health),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
