/* SPDX-License-Identifier: Apache-2.0 */
/* Helper-program execution with captured output; see exec.h. */
#include "core/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sbuf.h"
#include "core/util.h"

#define CAPTURE_MAX (256u << 20) /* iptables-save of a huge node stays well below */
#define NSEC_PER_MSEC 1000000ull
/* Without a pidfd, how often to look whether a child that closed its pipes has exited. */
#define EXIT_TICK_MS 10

extern char **environ;

/* One running helper, from our side of its pipes. */
struct child {
	pid_t pid;
	int pidfd;  /* readable once the child exits; -1 when pidfd_open() failed */
	int fd_in;  /* write end of its stdin; -1 once all was written or it stopped reading */
	int fd_out; /* read ends of its stdout and stderr; -1 at end of file */
	int fd_err;
	const char *in;
	size_t in_len, written;
	struct sbuf out, err; /* captured output (core/sbuf: the one string builder) */
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * Reads what fd holds into s.  Returns the bytes read (> 0), 0 at end of
 * file, -EAGAIN when nothing is there yet (poll again), or another negative
 * errno.  An interrupted read is retried: it is not the end of the output.
 */
static ssize_t sink_read(int fd, struct sbuf *s)
{
	char tmp[65536];
	ssize_t n;

	do
		n = read(fd, tmp, sizeof(tmp));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (n > 0 && s->len + (size_t)n < CAPTURE_MAX)
		sbuf_add(s, tmp, (size_t)n);
	return n;
}

/* Drains one output pipe after poll(); closes it at end of file or on an error that stays. */
static void drain(int *fd, short revents, struct sbuf *s)
{
	ssize_t n;

	if (*fd < 0 || !(revents & (POLLIN | POLLHUP | POLLERR)))
		return;
	n = sink_read(*fd, s);
	if (n > 0 || n == -EAGAIN)
		return;
	close_fd(fd);
}

/* Feeds the child's stdin after poll(); closes it when all is written or the child stopped reading. */
static void feed(struct child *c, short revents)
{
	ssize_t n;

	if (c->fd_in < 0 || !(revents & (POLLOUT | POLLERR | POLLHUP)))
		return;
	n = write(c->fd_in, c->in + c->written, c->in_len - c->written);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->written += (size_t)n;
	if (n < 0 || c->written == c->in_len)
		close_fd(&c->fd_in);
}

/* Milliseconds from now to deadline for poll(), rounded up; 0 once it has passed. */
static int ms_until(uint64_t deadline)
{
	uint64_t now = mono_ns();

	if (now >= deadline)
		return 0;
	return (int)MIN((deadline - now + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC, (uint64_t)INT_MAX);
}

/*
 * Starts the child with the three pipes, an empty signal mask, default
 * dispositions for every signal and a process group of its own (so one
 * kill() reaches whatever it started).
 */
static int child_spawn(struct child *c, char *const argv[])
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int r;

	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 ||
	    pipe2(perr, O_CLOEXEC) < 0) {
		r = -errno;
		goto out;
	}
	sigemptyset(&none);
	/*
	 * Every bit, not sigfillset(): that leaves out the C library's internal
	 * signals (glibc's 32 and 33), which posix_spawn() then leaves ignored
	 * in the child, across exec.
	 */
	memset(&all, 0xff, sizeof(all));
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	r = -posix_spawnp(&c->pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (r < 0)
		goto out;
	/* Ours are non-blocking: a wakeup without data must not stall the time limit. */
	(void)fcntl(pin[1], F_SETFL, O_NONBLOCK);
	(void)fcntl(pout[0], F_SETFL, O_NONBLOCK);
	(void)fcntl(perr[0], F_SETFL, O_NONBLOCK);
	c->fd_in = pin[1];
	c->fd_out = pout[0];
	c->fd_err = perr[0];
	pin[1] = pout[0] = perr[0] = -1;
	if (!c->in_len)
		close_fd(&c->fd_in);
	/* Fails only before Linux 5.3 or out of fds: then child_await_exit() polls. */
	c->pidfd = pidfd_open(c->pid, 0);
out:
	for (int i = 0; i < 2; i++) {
		close_fd(&pin[i]);
		close_fd(&pout[i]);
		close_fd(&perr[i]);
	}
	return r;
}

/* Feeds stdin and drains both outputs together, so a chatty child never deadlocks. */
static int child_pump(struct child *c, uint64_t deadline)
{
	while (c->fd_in >= 0 || c->fd_out >= 0 || c->fd_err >= 0) {
		struct pollfd pf[3] = {
			{ .fd = c->fd_in, .events = POLLOUT },
			{ .fd = c->fd_out, .events = POLLIN },
			{ .fd = c->fd_err, .events = POLLIN },
		};
		int timeout = ms_until(deadline), n;

		if (timeout == 0)
			return -ETIMEDOUT;
		n = poll(pf, ARRAY_SIZE(pf), timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		feed(c, pf[0].revents);
		drain(&c->fd_out, pf[1].revents, &c->out);
		drain(&c->fd_err, pf[2].revents, &c->err);
	}
	return 0;
}

/* Waits, up to deadline, until the child that closed its pipes has exited (without reaping it). */
static int child_await_exit(struct child *c, uint64_t deadline)
{
	for (;;) {
		struct pollfd pf = { .fd = c->pidfd, .events = POLLIN };
		siginfo_t info = { 0 };
		int timeout, n;

		/* A failing waitid() is not ours to report: child_reap() will fail the same way. */
		if (c->pidfd < 0 &&
		    (waitid(P_PID, (id_t)c->pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0 ||
		     info.si_pid == c->pid))
			return 0;
		timeout = ms_until(deadline);
		if (timeout == 0)
			return -ETIMEDOUT;
		if (c->pidfd < 0)
			timeout = MIN(timeout, EXIT_TICK_MS);
		n = poll(&pf, c->pidfd < 0 ? 0 : 1, timeout);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0)
			return 0;
	}
}

/*
 * Reaps the child.  Returns 0 with *wstatus set, or a negative errno (say
 * -ECHILD when someone set SIGCHLD to SIG_IGN, so the kernel reaped it).
 */
static int child_reap(const struct child *c, int *wstatus)
{
	while (waitpid(c->pid, wstatus, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

int exec_run_limit(char *const argv[], const char *in, size_t in_len, int want_out,
		   unsigned int limit_ms, struct exec_result *res)
{
	struct child c = {
		.pid = -1, .pidfd = -1, .fd_in = -1, .fd_out = -1, .fd_err = -1,
		.in = in, .in_len = in_len,
	};
	uint64_t deadline = mono_ns() + limit_ms * NSEC_PER_MSEC;
	int r, reaped, wstatus;

	*res = (struct exec_result){ .status = -1 };
	if (!limit_ms)
		return -EINVAL;
	r = child_spawn(&c, argv);
	if (r < 0)
		return r;
	r = child_pump(&c, deadline);
	if (r == 0)
		r = child_await_exit(&c, deadline);
	if (r < 0) {
		/*
		 * Timed out, or poll() failed: the child may be blocked writing to
		 * a pipe we no longer read, and a grandchild may hold the pipes.
		 * Kill them all, so the reap below cannot wait forever.  The
		 * unreaped child keeps its pid (and so its group) from being reused.
		 */
		kill(-c.pid, SIGKILL);
		kill(c.pid, SIGKILL); /* in case it left its group */
	}
	close_fd(&c.fd_in);
	close_fd(&c.fd_out);
	close_fd(&c.fd_err);
	close_fd(&c.pidfd);
	reaped = child_reap(&c, &wstatus);
	if (r == 0)
		r = reaped;
	if (r < 0) {
		sbuf_free(&c.out);
		sbuf_free(&c.err);
		return r;
	}
	res->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (want_out) {
		res->out = sbuf_cstr(&c.out); /* owned by res now */
		res->out_len = c.out.len;
	} else {
		sbuf_free(&c.out);
	}
	res->err = sbuf_cstr(&c.err);
	res->err_len = c.err.len;
	return 0;
}

int exec_run(char *const argv[], const char *in, size_t in_len, int want_out,
	     struct exec_result *res)
{
	return exec_run_limit(argv, in, in_len, want_out, EXEC_LIMIT_DEFAULT_MS, res);
}

void exec_result_done(struct exec_result *res)
{
	free(res->out);
	free(res->err);
	*res = (struct exec_result){ .status = -1 };
}

unsigned int exec_limit_for_input(const char *in, size_t in_len, unsigned int ms_per_line)
{
	uint64_t lines = 0, limit;

	for (const char *p = in, *end = in + in_len; p && p < end; p++) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (!p)
			break;
		lines++;
	}
	limit = EXEC_LIMIT_DEFAULT_MS + lines * ms_per_line;
	return limit > UINT_MAX ? UINT_MAX : (unsigned int)limit;
}
