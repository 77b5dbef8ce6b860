/* SPDX-License-Identifier: Apache-2.0 */
/* Helper-program execution with captured output; see exec.h. */
#include "core/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/util.h"

#define CAPTURE_MAX (256u << 20) /* iptables-save of a huge node stays well below */

extern char **environ;

struct sink {
	char *buf;
	size_t len, cap;
};

static int sink_read(int fd, struct sink *s)
{
	char tmp[65536];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n <= 0)
		return (int)n;
	if (s->len + (size_t)n < CAPTURE_MAX) {
		s->buf = xgrow(s->buf, &s->cap, s->len + (size_t)n + 1, 1);
		memcpy(s->buf + s->len, tmp, (size_t)n);
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
	return (int)n;
}

int exec_run(char *const argv[], const char *in, size_t in_len, int want_out,
	     struct exec_result *res)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	posix_spawn_file_actions_t fa;
	struct sink out = { 0 }, err = { 0 };
	size_t written = 0;
	pid_t pid;
	int r, wstatus;

	*res = (struct exec_result){ .status = -1 };
	if (pipe2(pin, O_CLOEXEC) < 0 || pipe2(pout, O_CLOEXEC) < 0 || pipe2(perr, O_CLOEXEC) < 0) {
		r = -errno;
		goto fail_pipes;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pin[0], 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	r = -posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	if (r < 0)
		goto fail_pipes;
	(void)fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (!in_len) {
		close(pin[1]);
		pin[1] = -1;
	}
	/* Feed stdin and drain both outputs together, so a chatty child never deadlocks. */
	while (pout[0] >= 0 || perr[0] >= 0 || pin[1] >= 0) {
		struct pollfd pf[3] = {
			{ .fd = pin[1], .events = POLLOUT },
			{ .fd = pout[0], .events = POLLIN },
			{ .fd = perr[0], .events = POLLIN },
		};

		if (poll(pf, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pin[1] >= 0 && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(pin[1], in + written, in_len - written);

			if (n > 0)
				written += (size_t)n;
			if ((n < 0 && errno != EAGAIN) || written == in_len) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
		if (pout[0] >= 0 && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (sink_read(pout[0], &out) <= 0) {
				close(pout[0]);
				pout[0] = -1;
			}
		}
		if (perr[0] >= 0 && (pf[2].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (sink_read(perr[0], &err) <= 0) {
				close(perr[0]);
				perr[0] = -1;
			}
		}
	}
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	res->status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
	if (want_out) {
		res->out = out.buf ? out.buf : xstrdup("");
		res->out_len = out.len;
	} else {
		free(out.buf);
	}
	res->err = err.buf ? err.buf : xstrdup("");
	res->err_len = err.len;
	r = 0;
fail_pipes:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	return r;
}

void exec_result_done(struct exec_result *res)
{
	free(res->out);
	free(res->err);
	*res = (struct exec_result){ .status = -1 };
}
