/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run's start-up (daemon/run.c) when the kernel refuses a step of
 * setting up its event loop: the agent must stop with the error of the call
 * that failed, and never go on into a loop that cannot see signals or file
 * changes.  The system calls are wrapped (linker --wrap, see
 * tests/meson.build); epoll_wait counts its calls and fails, so an agent
 * that wrongly went on returns instead of waiting forever.
 *
 * The manifest given is invalid, so an agent that went on would fail its
 * first sync before any data plane work: nothing touches the host.
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
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "daemon/run.h"

static int fail_sigprocmask, fail_signalfd;
static int epoll_ctl_ok_calls = -1; /* calls that succeed before the rest fail; -1: all */
static int epoll_ctl_calls, epoll_wait_calls;

int __real_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int __wrap_sigprocmask(int how, const sigset_t *set, sigset_t *old);
int __real_signalfd(int fd, const sigset_t *mask, int flags);
int __wrap_signalfd(int fd, const sigset_t *mask, int flags);
int __real_inotify_init1(int flags);
int __wrap_inotify_init1(int flags);
int __real_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
int __wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout);

int __wrap_sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	if (fail_sigprocmask && set) {
		errno = fail_sigprocmask;
		return -1;
	}
	return __real_sigprocmask(how, set, old);
}

int __wrap_signalfd(int fd, const sigset_t *mask, int flags)
{
	if (fail_signalfd) {
		errno = fail_signalfd;
		return -1;
	}
	return __real_signalfd(fd, mask, flags);
}

/* Succeeds, and leaves errno as a successful call may: changed. */
int __wrap_inotify_init1(int flags)
{
	int fd = __real_inotify_init1(flags);

	if (fd >= 0)
		errno = ENOENT;
	return fd;
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (op == EPOLL_CTL_ADD && epoll_ctl_ok_calls >= 0 && epoll_ctl_calls++ >= epoll_ctl_ok_calls) {
		errno = ENOMEM;
		return -1;
	}
	return __real_epoll_ctl(epfd, op, fd, ev);
}

int __wrap_epoll_wait(int epfd, struct epoll_event *evs, int max, int timeout)
{
	epoll_wait_calls++;
	errno = EBADF;
	return -1;
}

static char dir[64], manifest[96], log_path[96];

static int setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kroute-test-run-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(manifest, sizeof(manifest), "%s/bad.yaml", dir);
	snprintf(log_path, sizeof(log_path), "%s/stderr", dir);
	f = fopen(manifest, "w");
	assert_non_null(f);
	fputs("kind: Service\nmetadata: [not, a, map]\n", f);
	fclose(f);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(manifest);
	unlink(log_path);
	rmdir(dir);
	return 0;
}

/* Runs "kroute run" with its stderr in *ret_err (owned); returns its exit status. */
static int run_agent(char **ret_err)
{
	/* No health or metrics servers: a unit test listens on no port of the host's netns. */
	char *argv[] = { "run", "--mode", "iptables", "--node", "node-1", "-f", manifest,
			 "--healthz-bind-address=", "--metrics-bind-address=", NULL };
	int saved = dup(2), fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	sigset_t agent_signals;
	char buf[8192];
	ssize_t n;
	int ret;

	assert_true(saved >= 0 && fd >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, 2), 2);
	close(fd);
	epoll_ctl_calls = epoll_wait_calls = 0;
	ret = run_main((int)ARRAY_SIZE(argv) - 1, argv);
	fflush(stderr);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	/* The agent blocks its signals for the signalfd; unblock them for the next case. */
	fail_sigprocmask = 0;
	sigemptyset(&agent_signals);
	sigaddset(&agent_signals, SIGTERM);
	sigaddset(&agent_signals, SIGINT);
	sigaddset(&agent_signals, SIGHUP);
	assert_int_equal(sigprocmask(SIG_UNBLOCK, &agent_signals, NULL), 0);
	fd = open(log_path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	close(fd);
	*ret_err = xstrdup(buf);
	return ret;
}

static void assert_contains(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("\"%s\" not in:\n%s", want, text);
}

/* Signals cannot be blocked: without a signalfd SIGTERM would kill, SIGHUP go unseen. */
static void test_sigprocmask_fails(void **state)
{
	char *err;

	(void)state;
	fail_sigprocmask = EINVAL;
	assert_int_equal(run_agent(&err), EXIT_FAILURE);
	assert_int_equal(epoll_wait_calls, 0);
	assert_contains(err, strerror(EINVAL));
	free(err);
}

/* The error printed is the failed call's, not errno after later calls changed it. */
static void test_signalfd_fails_errno_kept(void **state)
{
	char *err;

	(void)state;
	fail_signalfd = EMFILE;
	assert_int_equal(run_agent(&err), EXIT_FAILURE);
	fail_signalfd = 0;
	assert_int_equal(epoll_wait_calls, 0);
	assert_contains(err, strerror(EMFILE));
	free(err);
}

/* Every registration in the loop (timerfd, signalfd, inotify) that fails stops the agent. */
static void test_epoll_ctl_fails(void **state)
{
	(void)state;
	for (int ok = 0; ok < 3; ok++) {
		char *err;

		epoll_ctl_ok_calls = ok;
		assert_int_equal(run_agent(&err), EXIT_FAILURE);
		epoll_ctl_ok_calls = -1;
		if (epoll_wait_calls)
			fail_msg("registration %d failed, yet the agent went on into its loop:\n%s",
				 ok + 1, err);
		assert_contains(err, strerror(ENOMEM));
		free(err);
	}
	/* All registered: the agent does reach its loop (here a failing epoll_wait ends it). */
	{
		char *err;

		assert_int_equal(run_agent(&err), EXIT_FAILURE);
		assert_int_equal(epoll_wait_calls, 1);
		assert_contains(err, strerror(EBADF));
		free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sigprocmask_fails),
		cmocka_unit_test(test_signalfd_fails_errno_kept),
		cmocka_unit_test(test_epoll_ctl_fails),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
