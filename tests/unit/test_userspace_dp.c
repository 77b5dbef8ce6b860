/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The userspace data plane's contract with the agent, without root or a
 * network: new() only allocates (the RLIMIT_NOFILE soft limit stays, no
 * thread starts, no status file appears) and gives a quiet event fd; and
 * the status writer's file is close-on-exec, so the helpers the agent
 * spawns meanwhile (ip, nft) do not inherit it; and a worker thread's line
 * reaches the agent's side of the log queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "dataplane/dataplane.h"
#include "dataplane/userspace/options.h"
#include "dataplane/userspace/status.h"
#include "dataplane/userspace/worker.h"

static int count_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_new_only_allocates(void **state)
{
	const struct dataplane_ops *ops = dataplane_find("userspace");
	char dir[] = "/tmp/kroute-test-dp-XXXXXX";
	char status[PATH_MAX];
	struct us_mode_opts mo = { .workers = 2 };
	struct dp_opts opts = { .nft = "nft", .ip = "ip", .mode_opts = &mo };
	struct rlimit before, after;
	struct dataplane *dp = NULL;
	struct pollfd p;
	int tasks;

	(void)state;
	assert_non_null(ops);
	assert_non_null(mkdtemp(dir));
	snprintf(status, sizeof(status), "%s/status.json", dir);
	mo.status_file = status;
	/* A soft limit below the hard one, which the proxy raises when it starts. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &before), 0);
	if (before.rlim_max < 64)
		skip();
	before.rlim_cur = before.rlim_max == RLIM_INFINITY ? 1024 : before.rlim_max - 1;
	if (before.rlim_cur > 1024)
		before.rlim_cur = 1024;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &before), 0);
	tasks = count_tasks();

	assert_int_equal(ops->new(&opts, &dp), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &after), 0);
	assert_int_equal(after.rlim_cur, before.rlim_cur);
	assert_int_equal(count_tasks(), tasks);
	usleep(50000);
	assert_int_equal(access(status, F_OK), -1); /* no status writer either */
	/* The event fd exists from new() on, and is quiet. */
	assert_non_null(ops->event_fd);
	p = (struct pollfd){ .fd = ops->event_fd(dp), .events = POLLIN };
	assert_true(p.fd >= 0);
	assert_int_equal(poll(&p, 1, 0), 0);
	ops->free(dp);
	assert_int_equal(count_tasks(), tasks);
	rmdir(dir);
}

/* The fd (other than skip) this process has open on path, or -1. */
static int fd_open_on(const char *path, int skip)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	assert_non_null(d);
	while ((e = readdir(d)) && found < 0) {
		char link[300], target[PATH_MAX];
		ssize_t n;

		if (e->d_name[0] == '.' || atoi(e->d_name) == skip)
			continue;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (streq(target, path))
			found = atoi(e->d_name);
	}
	closedir(d);
	return found;
}

/*
 * PATH.tmp is made a FIFO whose pipe is already full, so the status writer
 * blocks in its write with the file open; meanwhile a child is spawned, as
 * the agent spawns ip and nft, and lists the fds it inherited.
 */
static void test_status_file_not_inherited(void **state)
{
	char dir[] = "/tmp/kroute-test-status-XXXXXX";
	char path[PATH_MAX], tmp[PATH_MAX + 8], junk[4096], cmd[PATH_MAX + 64], out[8192];
	struct us_dp u = { .n_workers = 0 };
	struct us_status *st = NULL;
	int fifo, fd = -1, flags;
	size_t n_out;
	FILE *child;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/status.json", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_int_equal(mkfifo(tmp, 0600), 0);
	/* Reader and writer at once (so the writer's open does not wait), close-on-exec itself. */
	fifo = open(tmp, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	assert_true(fifo >= 0);
	memset(junk, 'x', sizeof(junk));
	while (write(fifo, junk, sizeof(junk)) > 0)
		;
	assert_int_equal(errno, EAGAIN);
	pthread_mutex_init(&u.reg_lock, NULL);
	assert_int_equal(us_status_start(&u, path, &st), 0);
	for (int i = 0; i < 500 && fd < 0; i++) {
		fd = fd_open_on(tmp, fifo);
		if (fd < 0)
			usleep(10000);
	}
	assert_true(fd >= 0); /* the writer has it open, blocked on the full pipe */
	flags = fcntl(fd, F_GETFD);
	snprintf(cmd, sizeof(cmd), "ls -l /proc/self/fd/ 2>&1");
	child = popen(cmd, "r");
	assert_non_null(child);
	n_out = fread(out, 1, sizeof(out) - 1, child);
	out[n_out] = '\0';
	pclose(child);
	/* Unblock the writer: read until it has written, closed and renamed. */
	for (int i = 0; i < 500 && fd_open_on(tmp, fifo) >= 0; i++) {
		while (read(fifo, junk, sizeof(junk)) > 0)
			;
		usleep(10000);
	}
	us_status_stop(st);
	close(fifo);
	pthread_mutex_destroy(&u.reg_lock);
	unlink(path);
	unlink(tmp);
	rmdir(dir);
	assert_true(flags >= 0 && (flags & FD_CLOEXEC));
	if (strstr(out, tmp))
		fail_msg("the child inherited the status file:\n%s", out);
}

static void keep_line(const char *line, void *arg)
{
	snprintf(arg, US_LOGQ_LINE, "%s", line);
}

/*
 * A worker thread (with its own fd table) reports through the queue, and
 * the agent's side sees the eventfd readable: here, a listener handed over
 * without a socket, which the worker can only report.
 */
static void test_worker_line_reaches_the_agent(void **state)
{
	struct us_dp u = { .n_workers = 1, .grace_ns = 1, .udp_timeout_ns = 1 };
	struct us_listener *l = calloc(1, sizeof(*l));
	struct us_worker *w = NULL;
	char line[US_LOGQ_LINE] = "";
	struct pollfd p;

	(void)state;
	assert_int_equal(us_logq_init(&u.logq, 0), 0);
	atomic_init(&l->refs, 1);
	l->proto = IPPROTO_TCP;
	l->name = strdup("t/web:80 clusterIP 10.96.0.10:80/TCP");
	l->ident = strdup("x");
	assert_int_equal(us_worker_start(&u, 0, &w), 0);
	us_worker_add_listener(w, l, -1);
	p = (struct pollfd){ .fd = u.logq.efd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(us_logq_drain(&u.logq, keep_line, line), 1);
	assert_string_equal(line,
			    "userspace: worker 0: cannot watch t/web:80 clusterIP 10.96.0.10:80/TCP: no socket received");
	us_worker_stop(w);
	us_listener_unref(l);
	us_logq_done(&u.logq);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_only_allocates),
		cmocka_unit_test(test_status_file_not_inherited),
		cmocka_unit_test(test_worker_line_reaches_the_agent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
