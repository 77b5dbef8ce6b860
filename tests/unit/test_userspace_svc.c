/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy services (src/dataplane/userspace/svc.c) without sockets: live
 * connection counts that least-connection schedulers read, counts and
 * endpoints kept across an update, removal marks, revival within the grace
 * period, the grace-period close decision, bounded retry (tried endpoints
 * are avoided), ejection after failed connects, "panic" picks when every endpoint is ejected, and the
 * ejection message reaching the log queue rather than stderr.
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "dataplane/userspace/plan.h"
#include "dataplane/userspace/proxy.h"
#include "dataplane/userspace/worker.h"

#define S 1000000000ull

static struct us_plan_ep mk_ep(const char *ip, uint32_t weight)
{
	struct us_plan_ep e = { .port = 8080, .weight = weight };

	assert_int_equal(addr_parse(ip, &e.addr), 0);
	addr_port_format(&e.addr, e.port, e.key);
	return e;
}

static struct us_plan_svc mk_svc(const char *sched, struct us_plan_ep *eps, size_t n)
{
	return (struct us_plan_svc){
		.key = (char *)"ns/web:80/TCP/4/cluster",
		.name = (char *)"ns/web:80",
		.family = AF_INET,
		.proto = IPPROTO_TCP,
		.sched_name = sched,
		.eps = eps,
		.n_eps = n,
	};
}

/* A data plane with just what services use: the ejection time and the log queue. */
static void dp_init(struct us_dp *dp)
{
	*dp = (struct us_dp){ .eject_ns = 10 * S };
	assert_int_equal(us_logq_init(&dp->logq, 0), 0);
}

static const struct sched_flow flow = { .family = AF_INET, .proto = IPPROTO_TCP, .sport = 4000, .dport = 80 };

static void test_lc_counts_live_connections(void **state)
{
	struct us_dp dp;
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1", 1), mk_ep("10.0.0.2", 1) };
	struct us_plan_svc ps = mk_svc("lc", eps, 2);
	struct us_svc *s;
	struct us_ep *a, *b, *c;

	(void)state;
	dp_init(&dp);
	s = us_svc_new(&dp, &ps);
	us_svc_update(s, &ps, 1 * S);
	a = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	assert_string_equal(a->key, "10.0.0.1:8080"); /* ties: list order */
	b = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	assert_string_equal(b->key, "10.0.0.2:8080");
	c = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	assert_string_equal(c->key, "10.0.0.1:8080");
	assert_int_equal(a->active, 2);
	/* Releasing one on each leaves .1 with one connection and .2 with none: .2 is next. */
	us_svc_release(c);
	us_svc_release(b);
	c = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	assert_string_equal(c->key, "10.0.0.2:8080");

	/* An update that keeps both endpoints keeps the objects and their counts. */
	us_svc_update(s, &ps, 2 * S);
	assert_ptr_equal(s->cur[0], a);
	assert_int_equal(s->cur[0]->active, 1);
	assert_int_equal(s->dests[0].active_conns, 1);
	assert_int_equal(s->dests[1].active_conns, 1);
	us_svc_release(a);
	us_svc_release(c);
	assert_int_equal(s->dests[0].active_conns, 0);
	assert_int_equal(s->dests[1].active_conns, 0);
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

/*
 * The grace-period close decision the workers' tick applies to every
 * relayed connection (us_tcp_tick): a connection to a removed endpoint is
 * closed exactly when the grace period has passed since its removal, not
 * before, not never; a revived endpoint's connections are not closed; and
 * workers look for such connections until the last removal's grace period
 * (plus the tick slack) is over.
 */
static void test_grace_period_close(void **state)
{
	const uint64_t grace = 3 * S, slack = S / 5;
	struct us_dp dp;
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1", 1), mk_ep("10.0.0.2", 1) };
	struct us_plan_svc both = mk_svc("rr", eps, 2), only2 = mk_svc("rr", eps + 1, 1);
	struct us_svc *s;
	struct us_ep *a, *b;

	(void)state;
	dp_init(&dp);
	s = us_svc_new(&dp, &both);
	us_svc_update(s, &both, 1 * S);
	a = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	b = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	assert_string_equal(a->key, "10.0.0.1:8080");
	/* Nothing removed yet: nothing to close, nothing to look for. */
	assert_false(us_ep_grace_over(a, grace, 100 * S));
	assert_false(us_grace_scan_due(atomic_load(&dp.last_removal_ns), grace, slack, 1 * S));

	us_svc_update(s, &only2, 5 * S);
	assert_true(us_grace_scan_due(atomic_load(&dp.last_removal_ns), grace, slack, 5 * S));
	assert_false(us_ep_grace_over(a, grace, 5 * S));		/* not at once */
	assert_false(us_ep_grace_over(a, grace, 8 * S - 1));	/* not a moment early */
	assert_true(us_ep_grace_over(a, grace, 8 * S));		/* when the period ends */
	assert_true(us_ep_grace_over(a, grace, 60 * S));		/* and after */
	assert_true(us_grace_scan_due(atomic_load(&dp.last_removal_ns), grace, slack, 8 * S + slack));
	assert_false(us_grace_scan_due(atomic_load(&dp.last_removal_ns), grace, slack, 8 * S + slack + 1));
	/* The endpoint that stayed is never closed. */
	assert_false(us_ep_grace_over(b, grace, 60 * S));

	/* Revived within the period: its connections stay, however long. */
	us_svc_update(s, &both, 7 * S);
	assert_false(us_ep_grace_over(a, grace, 60 * S));
	/* Removed again: the period counts from the new removal. */
	us_svc_update(s, &only2, 20 * S);
	assert_false(us_ep_grace_over(a, grace, 22 * S));
	assert_true(us_ep_grace_over(a, grace, 23 * S));

	us_svc_release(a);
	us_svc_release(b);
	us_svc_update(s, &only2, 30 * S);
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

static void test_removal_and_revival(void **state)
{
	struct us_dp dp;
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1", 1), mk_ep("10.0.0.2", 1) };
	struct us_plan_svc both = mk_svc("rr", eps, 2), only2 = mk_svc("rr", eps + 1, 1);
	struct us_svc *s;
	struct us_ep *a, *n;

	(void)state;
	dp_init(&dp);
	s = us_svc_new(&dp, &both);
	us_svc_update(s, &both, 1 * S);
	a = us_svc_pick(s, &flow, NULL, 0, 1 * S);
	assert_string_equal(a->key, "10.0.0.1:8080");
	us_svc_update(s, &only2, 5 * S);
	/* The connection's endpoint is marked for the grace-period close. */
	assert_true(atomic_load(&a->removed));
	assert_int_equal(atomic_load(&a->removed_ns), 5 * S);
	assert_int_equal(atomic_load(&dp.last_removal_ns), 5 * S);
	assert_int_equal(a->idx, -1);
	assert_int_equal(s->n_gone, 1);
	n = us_svc_pick(s, &flow, NULL, 0, 5 * S);
	assert_string_equal(n->key, "10.0.0.2:8080");
	us_svc_release(n);
	/* Back before its connections closed: the same object, no longer removed. */
	us_svc_update(s, &both, 6 * S);
	assert_ptr_equal(s->cur[0], a);
	assert_false(atomic_load(&a->removed));
	assert_int_equal(s->n_gone, 0);
	assert_int_equal(s->dests[0].active_conns, 1);
	/* Removed again and released: collected at the next update. */
	us_svc_update(s, &only2, 7 * S);
	us_svc_release(a);
	us_svc_update(s, &only2, 8 * S);
	assert_int_equal(s->n_gone, 0);
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

static void test_retry_and_ejection(void **state)
{
	struct us_dp dp;
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1", 1), mk_ep("10.0.0.2", 1), mk_ep("10.0.0.3", 0) };
	struct us_plan_svc ps = mk_svc("rr", eps, 3);
	struct us_svc *s;
	struct us_ep *tried[2], *e;
	uint64_t t = 100 * S;

	(void)state;
	dp_init(&dp);
	s = us_svc_new(&dp, &ps);
	us_svc_update(s, &ps, t);
	/* A retry never gets an endpoint it already tried, nor a quiesced (weight 0) one. */
	for (int i = 0; i < 6; i++) {
		tried[0] = us_svc_pick(s, &flow, NULL, 0, t);
		e = us_svc_pick(s, &flow, tried, 1, t);
		assert_non_null(e);
		assert_ptr_not_equal(e, tried[0]);
		assert_string_not_equal(e->key, "10.0.0.3:8080");
		tried[1] = e;
		assert_null(us_svc_pick(s, &flow, tried, 2, t));
		us_svc_release(tried[0]);
		us_svc_release(tried[1]);
	}
	/* Three failed connects eject .1: no new flows until its time is up. */
	e = s->cur[0];
	us_svc_failed(e, ECONNREFUSED, t);
	us_svc_failed(e, ECONNREFUSED, t);
	assert_int_equal(s->n_ejected, 0);
	us_svc_failed(e, ECONNREFUSED, t);
	assert_int_equal(s->n_ejected, 1);
	assert_int_equal(s->dests[0].weight, 0);
	assert_int_equal(atomic_load(&dp.ctr.ejections), 1);
	for (int i = 0; i < 5; i++) {
		struct us_ep *p = us_svc_pick(s, &flow, NULL, 0, t + S);

		assert_string_equal(p->key, "10.0.0.2:8080");
		us_svc_release(p);
	}
	/* Every usable endpoint out: the ejected one is tried rather than nothing. */
	tried[0] = s->cur[1];
	e = us_svc_pick(s, &flow, tried, 1, t + S);
	assert_non_null(e);
	assert_string_equal(e->key, "10.0.0.1:8080");
	us_svc_release(e);
	/* When the ejection ends, .1 takes flows again with its weight back. */
	e = us_svc_pick(s, &flow, tried, 1, t + 10 * S);
	assert_string_equal(e->key, "10.0.0.1:8080");
	assert_int_equal(s->n_ejected, 0);
	assert_int_equal(s->dests[0].weight, 1);
	us_svc_succeeded(e);
	assert_int_equal(e->health.consecutive_failures, 0);
	us_svc_release(e);
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

/* Panic with several ejected endpoints: the one whose ejection ends first, not the first listed. */
static void test_panic_picks_soonest_ejection_end(void **state)
{
	struct us_dp dp;
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1", 1), mk_ep("10.0.0.2", 1) };
	struct us_plan_svc ps = mk_svc("rr", eps, 2);
	struct us_svc *s;
	struct us_ep *e;
	uint64_t t = 100 * S;

	(void)state;
	dp_init(&dp);
	s = us_svc_new(&dp, &ps);
	us_svc_update(s, &ps, t);
	for (int i = 0; i < 3; i++)
		us_svc_failed(s->cur[1], ECONNREFUSED, t);         /* .2 out until t + 10 s */
	for (int i = 0; i < 3; i++)
		us_svc_failed(s->cur[0], ECONNREFUSED, t + 2 * S); /* .1 out until t + 12 s */
	assert_int_equal(s->n_ejected, 2);
	assert_true(s->cur[1]->health.ejected_until_ns < s->cur[0]->health.ejected_until_ns);
	e = us_svc_pick(s, &flow, NULL, 0, t + 3 * S);
	assert_non_null(e);
	assert_string_equal(e->key, "10.0.0.2:8080");
	us_svc_release(e);
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

struct lines {
	char v[8][US_LOGQ_LINE];
	size_t n;
};

static void collect(const char *line, void *arg)
{
	struct lines *l = arg;

	if (l->n < 8)
		snprintf(l->v[l->n], sizeof(l->v[0]), "%s", line);
	l->n++;
}

/*
 * A proxy thread's ejection goes to the data plane's queue, for the agent
 * to log, and nothing is written to stderr from the calling thread (which
 * holds the service lock at that moment).
 */
static void test_ejection_message_goes_to_the_queue(void **state)
{
	struct us_dp dp;
	struct us_plan_ep eps[] = { mk_ep("10.0.0.1", 1), mk_ep("10.0.0.2", 1) };
	struct us_plan_svc ps = mk_svc("rr", eps, 2);
	struct us_svc *s;
	struct lines got = { .n = 0 };
	char path[] = "/tmp/kroute-test-stderr-XXXXXX";
	int saved = dup(STDERR_FILENO), cap = mkstemp(path);
	struct stat st;

	(void)state;
	assert_true(saved >= 0 && cap >= 0);
	unlink(path);
	dp_init(&dp);
	s = us_svc_new(&dp, &ps);
	us_svc_update(s, &ps, 100 * S);
	fflush(stderr);
	assert_int_equal(dup2(cap, STDERR_FILENO), STDERR_FILENO);
	for (int i = 0; i < 3; i++)
		us_svc_failed(s->cur[0], ECONNREFUSED, 100 * S);
	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	assert_int_equal(fstat(cap, &st), 0);
	assert_int_equal(st.st_size, 0); /* nothing printed by the failing thread */
	close(cap);
	close(saved);
	assert_int_equal(us_logq_drain(&dp.logq, collect, &got), 1);
	assert_string_equal(got.v[0],
			    "userspace: ns/web:80: endpoint 10.0.0.1:8080 ejected for 10.0s after 3 failed connects in a row (last: Connection refused)");
	us_svc_unref(s);
	us_logq_done(&dp.logq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lc_counts_live_connections),
		cmocka_unit_test(test_removal_and_revival),
		cmocka_unit_test(test_grace_period_close),
		cmocka_unit_test(test_retry_and_ejection),
		cmocka_unit_test(test_panic_picks_soonest_ejection_end),
		cmocka_unit_test(test_ejection_message_goes_to_the_queue),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
