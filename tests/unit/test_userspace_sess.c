/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The UDP session table (src/dataplane/userspace/sess_table.c): its hash is
 * keyed by a secret drawn per process, so two processes hash the same
 * client differently (an attacker cannot aim every session at one bucket);
 * and lookups find what was inserted, through growth and removals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dataplane/userspace/sess_table.h"
#include "dataplane/userspace/worker_int.h"

/* Listeners: identity only, never dereferenced. */
static struct us_wl *const wl = (struct us_wl *)0x1000;
static struct us_wl *const wl2 = (struct us_wl *)0x2000;

static uint64_t hash_of(const char *ip, uint16_t port)
{
	struct addr a;

	assert_int_equal(addr_parse(ip, &a), 0);
	return us_sess_hash(wl, &a, port);
}

/* The hash of one key, computed in a new process (which draws its own secret). */
static uint64_t hash_in_child(void)
{
	int p[2];
	uint64_t h = 0;
	pid_t pid;
	int status;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		h = hash_of("192.0.2.7", 5353);
		_exit(write(p[1], &h, sizeof(h)) == sizeof(h) ? 0 : 1);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &h, sizeof(h)), sizeof(h));
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return h;
}

/* Runs first: this process must not have drawn its secret before it forks. */
static void test_seeded_per_process(void **state)
{
	uint64_t a = hash_in_child(), b = hash_in_child(), mine = hash_of("192.0.2.7", 5353);

	(void)state;
	/* Three processes, three secrets: equal hashes would be a 1 in 2^64 accident. */
	assert_true(a != b);
	assert_true(a != mine && b != mine);
	/* Within one process the hash is stable, and depends on every part of the key. */
	assert_true(mine == hash_of("192.0.2.7", 5353));
	assert_true(mine != hash_of("192.0.2.7", 5354));
	assert_true(mine != hash_of("192.0.2.8", 5353));
}

#define N 5000

static void test_lookups(void **state)
{
	struct us_sess_table t;
	struct us_sess *v = calloc(N, sizeof(*v));
	struct addr a;

	(void)state;
	us_sess_table_init(&t);
	for (int i = 0; i < N; i++) {
		char ip[32];

		snprintf(ip, sizeof(ip), "10.%d.%d.1", i / 256, i % 256);
		assert_int_equal(addr_parse(ip, &v[i].client_addr), 0);
		v[i].client_port = (uint16_t)(1000 + i % 7);
		v[i].wl = wl;
		v[i].hash = us_sess_hash(wl, &v[i].client_addr, v[i].client_port);
		us_sess_table_insert(&t, &v[i]);
	}
	assert_int_equal(t.n, N);
	assert_true(t.cap >= N); /* it grew */
	for (int i = 0; i < N; i++)
		assert_ptr_equal(us_sess_table_find(&t, v[i].hash, wl, &v[i].client_addr,
						    v[i].client_port), &v[i]);
	/* Another listener, or another port, is another session. */
	assert_null(us_sess_table_find(&t, us_sess_hash(wl2, &v[0].client_addr, v[0].client_port),
				       wl2, &v[0].client_addr, v[0].client_port));
	assert_int_equal(addr_parse("10.0.0.1", &a), 0);
	assert_null(us_sess_table_find(&t, us_sess_hash(wl, &a, 999), wl, &a, 999));
	for (int i = 0; i < N; i += 2)
		us_sess_table_remove(&t, &v[i]);
	assert_int_equal(t.n, N / 2);
	for (int i = 0; i < N; i++)
		assert_ptr_equal(us_sess_table_find(&t, v[i].hash, wl, &v[i].client_addr,
						    v[i].client_port), i % 2 ? &v[i] : NULL);
	us_sess_table_done(&t);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seeded_per_process),
		cmocka_unit_test(test_lookups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
