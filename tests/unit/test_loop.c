/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop (core/loop.h): fd callbacks, timers in deadline order,
 * registrations removed during a dispatch round, signals through the
 * signalfd, and kernel calls that fail: a registration that did not happen
 * must be an error.  timerfd_settime and sigprocmask are wrapped (linker
 * --wrap, see tests/meson.build) so a test can make them fail.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/util.h"

static int fail_settime, fail_sigprocmask;

int __real_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
			   struct itimerspec *old_value);
int __wrap_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
			   struct itimerspec *old_value);
int __real_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int __wrap_sigprocmask(int how, const sigset_t *set, sigset_t *old);

int __wrap_timerfd_settime(int fd, int flags, const struct itimerspec *new_value,
			   struct itimerspec *old_value)
{
	if (fail_settime) {
		errno = fail_settime;
		return -1;
	}
	return __real_timerfd_settime(fd, flags, new_value, old_value);
}

int __wrap_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	if (fail_sigprocmask) {
		errno = fail_sigprocmask;
		return -1;
	}
	return __real_sigprocmask(how, set, old);
}

/* What the callbacks saw, in order. */
static char trace[256];

static void note(const char *what)
{
	strncat(trace, what, sizeof(trace) - strlen(trace) - 1);
}

struct pipe_cb {
	int fds[2];
	const char *name;
	struct loop_fd *reg;
	struct pipe_cb *victim;     /* removed by this callback (may be itself) */
	struct loop_timer *victim_timer;
	uint32_t events;
};

static void on_pipe(struct loop *l, int fd, uint32_t events, void *userdata)
{
	struct pipe_cb *p = userdata;
	char c;

	assert_int_equal(fd, p->fds[0]);
	p->events = events;
	assert_int_equal(read(fd, &c, 1), 1);
	note(p->name);
	if (p->victim)
		loop_remove_fd(l, p->victim->reg);
	if (p->victim_timer)
		loop_timer_free(p->victim_timer);
}

static void pipe_open(struct loop *l, struct pipe_cb *p, const char *name)
{
	*p = (struct pipe_cb){ .name = name };
	assert_int_equal(pipe2(p->fds, O_CLOEXEC | O_NONBLOCK), 0);
	assert_int_equal(loop_add_fd(l, p->fds[0], EPOLLIN, on_pipe, p, &p->reg), 0);
}

static void pipe_close(struct pipe_cb *p)
{
	close(p->fds[0]);
	close(p->fds[1]);
}

static void test_fd_callback(void **state)
{
	struct loop *l;
	struct pipe_cb p;

	(void)state;
	trace[0] = '\0';
	assert_int_equal(loop_new(&l), 0);
	pipe_open(l, &p, "p");
	/* Nothing readable: a round with a zero timeout calls nothing. */
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_string_equal(trace, "");
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(loop_run_once(l, 1000), 0);
	assert_string_equal(trace, "p");
	assert_true(p.events & EPOLLIN);
	/* Removed: a write is no longer delivered. */
	loop_remove_fd(l, p.reg);
	assert_int_equal(write(p.fds[1], "y", 1), 1);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_string_equal(trace, "p");
	loop_free(l);
	pipe_close(&p);
}

struct timer_cb {
	const char *name;
	uint64_t rearm_at;          /* re-armed by its own callback when set */
	struct loop_timer *t;
};

static void on_timer(struct loop *l, struct loop_timer *t, void *userdata)
{
	struct timer_cb *tc = userdata;

	assert_ptr_equal(t, tc->t);
	note(tc->name);
	if (tc->rearm_at) {
		loop_timer_arm(t, tc->rearm_at);
		tc->rearm_at = 0;
	}
}

static void test_timers_in_order(void **state)
{
	struct loop *l;
	struct timer_cb tc[5] = { { .name = "a" }, { .name = "b" }, { .name = "c" }, { .name = "d" },
				  { .name = "e" } };
	uint64_t now = mono_ns(), t0;

	(void)state;
	trace[0] = '\0';
	assert_int_equal(loop_new(&l), 0);
	for (size_t i = 0; i < ARRAY_SIZE(tc); i++)
		tc[i].t = loop_timer_new(l, on_timer, &tc[i]);
	/* Armed out of order; b and d share a deadline (b armed first); e is disarmed again. */
	loop_timer_arm(tc[2].t, now - 1000);
	loop_timer_arm(tc[0].t, now - 3000);
	loop_timer_arm(tc[1].t, now - 2000);
	loop_timer_arm(tc[3].t, now - 2000);
	loop_timer_arm(tc[4].t, now - 5000);
	loop_timer_disarm(tc[4].t);
	assert_int_equal(loop_run_once(l, 1000), 0);
	assert_string_equal(trace, "abdc");

	/* One-shot: nothing fires again. */
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_string_equal(trace, "abdc");

	/* A future deadline: the round waits for it (through the timerfd), not longer. */
	t0 = mono_ns();
	loop_timer_arm(tc[4].t, t0 + 30 * 1000000ull);
	assert_int_equal(loop_run_once(l, 5000), 0);
	assert_string_equal(trace, "abdce");
	assert_true(mono_ns() - t0 >= 30 * 1000000ull);
	assert_true(mono_ns() - t0 < 3000 * 1000000ull);

	/* Re-armed into the past by its own callback: next round, not this one (no starvation). */
	tc[0].rearm_at = 1;
	loop_timer_arm(tc[0].t, 1);
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_string_equal(trace, "abdcea");
	assert_int_equal(loop_run_once(l, 0), 0);
	assert_string_equal(trace, "abdceaa");
	loop_free(l);
}

/*
 * Two fds readable in one round: whichever runs first removes the other,
 * and frees a timer due in the same round.  The removed ones must not run
 * (the sanitizer build also catches a use after free).
 */
static void test_remove_during_dispatch(void **state)
{
	struct loop *l;
	struct pipe_cb a, b;
	struct timer_cb tc = { .name = "t" };

	(void)state;
	trace[0] = '\0';
	assert_int_equal(loop_new(&l), 0);
	pipe_open(l, &a, "a");
	pipe_open(l, &b, "b");
	a.victim = &b;
	b.victim = &a;
	tc.t = loop_timer_new(l, on_timer, &tc);
	loop_timer_arm(tc.t, 1);
	a.victim_timer = b.victim_timer = tc.t;
	assert_int_equal(write(a.fds[1], "x", 1), 1);
	assert_int_equal(write(b.fds[1], "x", 1), 1);
	assert_int_equal(loop_run_once(l, 1000), 0);
	assert_true(streq(trace, "a") || streq(trace, "b"));
	/* The survivor still works; removing itself from its own callback is fine too. */
	{
		struct pipe_cb *alive = streq(trace, "a") ? &a : &b;

		alive->victim = alive;
		alive->victim_timer = NULL;
		assert_int_equal(write(alive->fds[1], "y", 1), 1);
		assert_int_equal(loop_run_once(l, 1000), 0);
		assert_int_equal(strlen(trace), 2);
		assert_int_equal(write(alive->fds[1], "z", 1), 1);
		assert_int_equal(loop_run_once(l, 0), 0);
		assert_int_equal(strlen(trace), 2);
	}
	loop_free(l);
	pipe_close(&a);
	pipe_close(&b);
}

static void nop_fd(struct loop *l, int fd, uint32_t events, void *userdata)
{
	fail_msg("a registration that failed was dispatched");
}

/* A registration the kernel refused is an error, and nothing is left registered. */
static void test_failed_registration(void **state)
{
	char path[] = "/tmp/kroute-test-loop-XXXXXX";
	struct loop *l;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(loop_new(&l), 0);
	/* epoll cannot watch a regular file (EPERM). */
	assert_int_equal(loop_add_fd(l, fd, EPOLLIN, nop_fd, NULL, NULL), -EPERM);
	assert_int_equal(loop_add_fd(l, -1, EPOLLIN, nop_fd, NULL, NULL), -EBADF);
	assert_int_equal(loop_run_once(l, 0), 0);
	loop_free(l);
	close(fd);
}

/* A timer the timerfd cannot be armed for stops the loop with the error, not a silent hang. */
static void test_failed_timer_arm(void **state)
{
	struct loop *l;
	struct timer_cb tc = { .name = "t" };

	(void)state;
	trace[0] = '\0';
	assert_int_equal(loop_new(&l), 0);
	tc.t = loop_timer_new(l, on_timer, &tc);
	loop_timer_arm(tc.t, mono_ns() + 3600 * 1000000000ull);
	fail_settime = EINVAL;
	assert_int_equal(loop_run_once(l, 0), -EINVAL);
	assert_int_equal(loop_run(l), -EINVAL);
	fail_settime = 0;
	assert_int_equal(loop_run_once(l, 0), 0);
	loop_free(l);
}

static void on_sig(struct loop *l, int fd, uint32_t events, void *userdata)
{
	int sig;

	while ((sig = loop_read_signal(fd)) > 0) {
		note(sig == SIGUSR1 ? "1" : "?");
		loop_exit(l, 7);
	}
	assert_int_equal(sig, 0);
}

static void test_signals(void **state)
{
	struct loop *l;
	sigset_t mask, now;

	(void)state;
	trace[0] = '\0';
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	assert_int_equal(loop_new(&l), 0);

	/* Blocking the signals failed: an error, and the mask is as it was. */
	fail_sigprocmask = EINVAL;
	assert_int_equal(loop_add_signals(l, &mask, on_sig, NULL), -EINVAL);
	fail_sigprocmask = 0;
	assert_int_equal(sigprocmask(SIG_BLOCK, NULL, &now), 0);
	assert_false(sigismember(&now, SIGUSR1));

	assert_int_equal(loop_add_signals(l, &mask, on_sig, NULL), 0);
	assert_int_equal(loop_add_signals(l, &mask, on_sig, NULL), -EBUSY);
	assert_int_equal(raise(SIGUSR1), 0);
	assert_int_equal(loop_run(l), 7);
	assert_string_equal(trace, "1");
	loop_free(l);
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &mask, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fd_callback),
		cmocka_unit_test(test_timers_in_order),
		cmocka_unit_test(test_remove_during_dispatch),
		cmocka_unit_test(test_failed_registration),
		cmocka_unit_test(test_failed_timer_arm),
		cmocka_unit_test(test_signals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
