/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running helper programs: what the child inherits (signal mask and
 * dispositions), the time limit and its process-group kill, and reading the
 * child's output across interrupted system calls.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/exec.h"
#include "core/util.h"

/*
 * Fault injection: the test links with -Wl,--wrap for read, poll and
 * waitpid (tests/meson.build), so the calls exec.c makes come here first.
 * With nothing armed they pass straight through.
 */
ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __wrap_read(int fd, void *buf, size_t len);
int __real_poll(struct pollfd *fds, nfds_t n, int timeout);
int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout);
pid_t __real_waitpid(pid_t pid, int *wstatus, int options);
pid_t __wrap_waitpid(pid_t pid, int *wstatus, int options);
int __real_pidfd_open(pid_t pid, unsigned int flags);
int __wrap_pidfd_open(pid_t pid, unsigned int flags);

static struct {
	bool read_faults;       /* reads fail with EINTR, then EAGAIN, then work, in turn */
	unsigned int reads, read_eintr, read_eagain;
	int poll_errno;         /* the next poll() fails with this */
	int waitpid_errno;      /* the next waitpid() fails with this */
	bool waitpid_watchdog;  /* a blocking waitpid() fails the test after 10 s */
	bool no_pidfd;          /* pidfd_open() fails as on kernels before 5.3 */
	unsigned int pidfd_refused;
} inject;

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
	if (inject.read_faults) {
		switch (inject.reads++ % 3) {
		case 0:
			inject.read_eintr++;
			errno = EINTR;
			return -1;
		case 1:
			inject.read_eagain++;
			errno = EAGAIN;
			return -1;
		}
	}
	return __real_read(fd, buf, len);
}

int __wrap_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (inject.poll_errno) {
		errno = inject.poll_errno;
		inject.poll_errno = 0;
		return -1;
	}
	return __real_poll(fds, n, timeout);
}

pid_t __wrap_waitpid(pid_t pid, int *wstatus, int options)
{
	uint64_t give_up = mono_ns() + 10000000000ull;

	if (inject.waitpid_errno) {
		errno = inject.waitpid_errno;
		inject.waitpid_errno = 0;
		return -1;
	}
	if (!inject.waitpid_watchdog || (options & WNOHANG))
		return __real_waitpid(pid, wstatus, options);
	for (;;) {
		pid_t r = __real_waitpid(pid, wstatus, options | WNOHANG);

		if (r != 0)
			return r;
		if (mono_ns() > give_up)
			fail_msg("waitpid(%d) would wait forever", (int)pid);
		usleep(1000);
	}
}

int __wrap_pidfd_open(pid_t pid, unsigned int flags)
{
	if (inject.no_pidfd) {
		inject.pidfd_refused++;
		errno = ENOSYS;
		return -1;
	}
	return __real_pidfd_open(pid, flags);
}

/* The test process has no child left, running or zombie. */
static void assert_no_children(void)
{
	errno = 0;
	assert_int_equal(__real_waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
}

/*
 * The agent blocks SIGTERM/SIGINT/SIGHUP for its signalfd and ignores
 * SIGPIPE; a helper must start with none of that, or it cannot be stopped
 * and misbehaves on a closed pipe.  The test process does the worst: every
 * signal blocked and SIGPIPE ignored.
 */
static void test_child_signals_reset(void **state)
{
	char *argv[] = { "sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status", NULL };
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_pipe;
	struct exec_result res;
	sigset_t all, old_mask;

	(void)state;
	sigfillset(&all);
	assert_int_equal(sigprocmask(SIG_SETMASK, &all, &old_mask), 0);
	assert_int_equal(sigaction(SIGPIPE, &ign, &old_pipe), 0);
	assert_int_equal(exec_run(argv, NULL, 0, 1, &res), 0);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.out, "SigBlk:\t0000000000000000\n"
				     "SigIgn:\t0000000000000000\n");
	exec_result_done(&res);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

/*
 * Starts a SIGALRM every 1 ms whose handler does not restart system calls,
 * so every blocking call in exec_run() sees EINTR again and again.
 */
static void alarm_storm(bool on)
{
	struct itimerval it = { 0 };
	struct sigaction sa = { .sa_handler = on ? on_alarm : SIG_DFL };

	if (on) {
		it.it_interval.tv_usec = 1000;
		it.it_value.tv_usec = 1000;
		alarms = 0;
		assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
		assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
	} else {
		assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
		assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
	}
}

/* Interrupted reads are retried, not taken for the end of the output. */
static void test_output_survives_eintr(void **state)
{
	/* Slowly: at least 200 ms, so the storm hits every part of the run. */
	char *argv[] = { "sh", "-c", "for i in $(seq 2000); do echo line$i; "
				     "if [ $((i % 100)) = 0 ]; then sleep 0.01; fi; done; "
				     "for i in $(seq 2000); do echo err$i >&2; done", NULL };
	struct exec_result res;
	char *want_out, *want_err;
	size_t out_len = 0, out_cap = 0, err_len = 0, err_cap = 0;
	int r;

	(void)state;
	want_out = NULL;
	want_err = NULL;
	for (int i = 1; i <= 2000; i++) {
		char line[32];
		int n = snprintf(line, sizeof(line), "line%d\n", i);

		want_out = xgrow(want_out, &out_cap, out_len + (size_t)n + 1, 1);
		memcpy(want_out + out_len, line, (size_t)n + 1);
		out_len += (size_t)n;
		n = snprintf(line, sizeof(line), "err%d\n", i);
		want_err = xgrow(want_err, &err_cap, err_len + (size_t)n + 1, 1);
		memcpy(want_err + err_len, line, (size_t)n + 1);
		err_len += (size_t)n;
	}
	alarm_storm(true);
	r = exec_run(argv, NULL, 0, 1, &res);
	alarm_storm(false);
	assert_int_equal(r, 0);
	/* The storm really ran while the child was writing. */
	assert_true(alarms > 50);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.out_len, out_len);
	assert_string_equal(res.out, want_out);
	assert_int_equal(res.err_len, err_len);
	assert_string_equal(res.err, want_err);
	exec_result_done(&res);
	free(want_out);
	free(want_err);
}

/*
 * Reads that fail with EINTR or EAGAIN are not the end of the output: an
 * interrupted read is retried, and "nothing yet" means poll again.
 */
static void test_read_eintr_eagain_not_eof(void **state)
{
	char *argv[] = { "sh", "-c", "seq 20000; seq 5000 >&2", NULL };
	char *want_out, *want_err;
	struct exec_result res;
	int r;

	(void)state;
	assert_int_equal(exec_run(argv, NULL, 0, 1, &res), 0);
	want_out = xstrdup(res.out);
	want_err = xstrdup(res.err);
	exec_result_done(&res);
	assert_true(strlen(want_out) > 100000);

	inject.read_faults = true;
	inject.reads = inject.read_eintr = inject.read_eagain = 0;
	r = exec_run(argv, NULL, 0, 1, &res);
	inject.read_faults = false;
	assert_int_equal(r, 0);
	assert_true(inject.read_eintr > 0);
	assert_true(inject.read_eagain > 0);
	assert_int_equal(res.status, 0);
	assert_string_equal(res.out, want_out);
	assert_string_equal(res.err, want_err);
	exec_result_done(&res);
	free(want_out);
	free(want_err);
	assert_no_children();
}

/*
 * poll() fails while the child still has a megabyte to write: the child
 * must not be left blocked on a full pipe while exec_run() waits for it.
 */
static void test_poll_failure(void **state)
{
	char *argv[] = { "head", "-c", "1000000", "/dev/zero", NULL };
	struct exec_result res;
	int r;

	(void)state;
	inject.poll_errno = ENOMEM;
	inject.waitpid_watchdog = true;
	r = exec_run(argv, NULL, 0, 1, &res);
	inject.waitpid_watchdog = false;
	assert_int_equal(r, -ENOMEM);
	assert_int_equal(res.status, -1);
	assert_null(res.out);
	assert_null(res.err);
	assert_no_children();
}

/* waitpid() fails (the kernel reaped the child already, say): an error, not a made-up status. */
static void test_waitpid_failure(void **state)
{
	char *argv[] = { "true", NULL };
	struct exec_result res;
	int r, wstatus;

	(void)state;
	inject.waitpid_errno = ECHILD;
	r = exec_run(argv, NULL, 0, 1, &res);
	assert_int_equal(r, -ECHILD);
	assert_int_equal(res.status, -1);
	assert_null(res.out);
	assert_null(res.err);
	/* The injected failure left the real child unreaped: reap it here. */
	assert_true(__real_waitpid(-1, &wstatus, 0) > 0);
	assert_no_children();
}

/*
 * A helper that does not finish in time is killed with its whole process
 * group: here a grandchild also holds the pipes, and must not keep
 * exec_run() waiting.  The test process is a subreaper, so the orphaned
 * grandchild comes back to it and shows how it died.
 */
static void run_past_limit(bool storm)
{
	/* exec: the only grandchild is the one in the background, whatever the shell. */
	char *argv[] = { "sh", "-c", "sleep 30 & exec sleep 30", NULL };
	struct exec_result res;
	uint64_t t0, took_ms, give_up;
	int r, wstatus, killed = 0;
	pid_t pid;

	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	if (storm)
		alarm_storm(true);
	t0 = mono_ns();
	r = exec_run_limit(argv, NULL, 0, 1, 1000, &res);
	took_ms = (mono_ns() - t0) / 1000000;
	if (storm)
		alarm_storm(false);
	assert_int_equal(r, -ETIMEDOUT);
	assert_int_equal(res.status, -1);
	assert_null(res.out);
	assert_null(res.err);
	assert_true(took_ms >= 990);
	assert_true(took_ms < 4000);
	/* exec_run() reaped sh; what is left to reap is the grandchild, killed. */
	give_up = mono_ns() + 3000000000ull;
	while ((pid = __real_waitpid(-1, &wstatus, WNOHANG)) >= 0 && mono_ns() < give_up) {
		if (pid == 0) {
			usleep(1000);
			continue;
		}
		assert_true(WIFSIGNALED(wstatus));
		assert_int_equal(WTERMSIG(wstatus), SIGKILL);
		killed++;
	}
	assert_int_equal(killed, 1);
	assert_no_children();
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 0), 0);
}

static void test_time_limit(void **state)
{
	(void)state;
	run_past_limit(false);
}

/* Interrupted polls do not restart the limit. */
static void test_time_limit_under_eintr(void **state)
{
	(void)state;
	run_past_limit(true);
}

/*
 * A child that closes its output and keeps running is bounded too, whether
 * its exit is watched through a pidfd or, without one, by polling; and a
 * child that exits after closing its output is reaped with its status.
 */
static void test_limit_after_output_closed(void **state)
{
	char *hang[] = { "sh", "-c", "exec >&- 2>&-; exec sleep 30", NULL };
	char *quit[] = { "sh", "-c", "echo hi; exec >&- 2>&-; sleep 0.2; exit 3", NULL };
	struct exec_result res;

	(void)state;
	for (int no_pidfd = 0; no_pidfd < 2; no_pidfd++) {
		uint64_t t0 = mono_ns(), took_ms;
		int r;

		inject.no_pidfd = no_pidfd;
		r = exec_run_limit(hang, NULL, 0, 1, 500, &res);
		took_ms = (mono_ns() - t0) / 1000000;
		assert_int_equal(r, -ETIMEDOUT);
		assert_int_equal(res.status, -1);
		assert_true(took_ms >= 490 && took_ms < 3000);
		assert_no_children();

		r = exec_run_limit(quit, NULL, 0, 1, 5000, &res);
		inject.no_pidfd = false;
		assert_int_equal(r, 0);
		assert_int_equal(res.status, 3);
		assert_string_equal(res.out, "hi\n");
		exec_result_done(&res);
		assert_no_children();
	}
	assert_int_equal(inject.pidfd_refused, 2);
}

static void test_zero_limit(void **state)
{
	char *argv[] = { "true", NULL };
	struct exec_result res;

	(void)state;
	assert_int_equal(exec_run_limit(argv, NULL, 0, 1, 0, &res), -EINVAL);
	assert_int_equal(res.status, -1);
	assert_no_children();
}

/* stdin is fed, and a child that does not read it all is no error of ours. */
static void test_stdin(void **state)
{
	char *cat[] = { "cat", NULL }, *head[] = { "head", "-c", "1", NULL };
	struct exec_result res;
	size_t len = 1 << 20;
	char *in = xmalloc(len);

	(void)state;
	for (size_t i = 0; i < len; i++)
		in[i] = (char)('a' + i % 26);
	assert_int_equal(exec_run(cat, in, len, 1, &res), 0);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.out_len, len);
	assert_memory_equal(res.out, in, len);
	exec_result_done(&res);
	/* Without a capture, out stays NULL. */
	assert_int_equal(exec_run(head, in, len, 0, &res), 0);
	assert_int_equal(res.status, 0);
	assert_null(res.out);
	exec_result_done(&res);
	free(in);
	assert_no_children();
}

/* A restore's limit grows with its lines, so a big legitimate one is not killed. */
static void test_limit_for_input(void **state)
{
	(void)state;
	assert_int_equal(exec_limit_for_input(NULL, 0, 1), EXEC_LIMIT_DEFAULT_MS);
	assert_int_equal(exec_limit_for_input("a\nb\nc", 5, 1), EXEC_LIMIT_DEFAULT_MS + 2);
	assert_int_equal(exec_limit_for_input("\n\n\n", 3, 1000), EXEC_LIMIT_DEFAULT_MS + 3000);
	assert_int_equal(exec_limit_for_input("\n", 1, UINT_MAX), UINT_MAX);
}

static void test_not_found(void **state)
{
	char *argv[] = { "kroute-no-such-helper", NULL };
	struct exec_result res;

	(void)state;
	assert_int_equal(exec_run(argv, NULL, 0, 1, &res), -ENOENT);
	assert_int_equal(res.status, -1);
	assert_no_children();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_child_signals_reset),
		cmocka_unit_test(test_output_survives_eintr),
		cmocka_unit_test(test_read_eintr_eagain_not_eof),
		cmocka_unit_test(test_poll_failure),
		cmocka_unit_test(test_waitpid_failure),
		cmocka_unit_test(test_time_limit),
		cmocka_unit_test(test_time_limit_under_eintr),
		cmocka_unit_test(test_limit_after_output_closed),
		cmocka_unit_test(test_zero_limit),
		cmocka_unit_test(test_stdin),
		cmocka_unit_test(test_limit_for_input),
		cmocka_unit_test(test_not_found),
	};

	/* As kroute's main() does, and exec.h asks: a child may close its stdin early. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
