/* SPDX-License-Identifier: Apache-2.0 */
/* The event loop; see loop.h. */
#include "core/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

#define NS_PER_SEC 1000000000ull

struct loop_fd {
	int fd;
	loop_fd_fn fn;
	void *userdata;
	bool dead;                  /* removed: skipped, freed after the round */
	struct loop_fd *next;
};

struct loop_timer {
	struct loop *l;
	loop_timer_fn fn;
	void *userdata;
	uint64_t deadline_ns;
	uint64_t seq;               /* arm order: ties fire first-armed first */
	bool armed, dead;
	struct loop_timer *next;
};

/*
 * Timers are a plain list scanned for the earliest: an agent has a handful
 * (the sync timer, a source's reconnect backoff), not thousands.
 */
struct loop {
	int epfd, tfd, sfd;
	struct loop_fd *fds;
	struct loop_timer *timers;
	uint64_t seq;
	uint64_t tfd_deadline_ns;   /* what tfd is armed for; 0 = disarmed */
	bool exiting;
	int exit_code;
};

static void on_timerfd(struct loop *l, int fd, uint32_t events, void *userdata)
{
	uint64_t expirations;

	/* Fired (or re-armed meanwhile: EAGAIN); the due timers run after the fd callbacks. */
	(void)!read(fd, &expirations, sizeof(expirations));
	l->tfd_deadline_ns = 0;
}

int loop_new(struct loop **ret)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	int r;

	l->tfd = l->sfd = -1;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		r = -errno;
		goto fail;
	}
	l->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (l->tfd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add_fd(l, l->tfd, EPOLLIN, on_timerfd, NULL, NULL);
	if (r < 0)
		goto fail;
	*ret = l;
	return 0;
fail:
	loop_free(l);
	*ret = NULL;
	return r;
}

static void sweep(struct loop *l)
{
	for (struct loop_fd **p = &l->fds; *p;) {
		struct loop_fd *h = *p;

		if (h->dead) {
			*p = h->next;
			free(h);
		} else {
			p = &h->next;
		}
	}
	for (struct loop_timer **p = &l->timers; *p;) {
		struct loop_timer *t = *p;

		if (t->dead) {
			*p = t->next;
			free(t);
		} else {
			p = &t->next;
		}
	}
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (struct loop_fd *h = l->fds; h; h = h->next)
		h->dead = true;
	for (struct loop_timer *t = l->timers; t; t = t->next)
		t->dead = true;
	sweep(l);
	if (l->sfd >= 0)
		close(l->sfd);
	if (l->tfd >= 0)
		close(l->tfd);
	if (l->epfd >= 0)
		close(l->epfd);
	free(l);
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *userdata,
		struct loop_fd **ret)
{
	struct loop_fd *h = xcalloc(1, sizeof(*h));
	struct epoll_event ev = { .events = events, .data.ptr = h };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int r = -errno;

		free(h);
		return r;
	}
	h->fd = fd;
	h->fn = fn;
	h->userdata = userdata;
	h->next = l->fds;
	l->fds = h;
	if (ret)
		*ret = h;
	return 0;
}

int loop_fd_set_events(struct loop *l, struct loop_fd *h, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = h };

	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, h->fd, &ev) < 0 ? -errno : 0;
}

void loop_remove_fd(struct loop *l, struct loop_fd *h)
{
	if (!h || h->dead)
		return;
	/* Cannot fail for an fd that is registered and still open; the caller closes it next. */
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, h->fd, NULL);
	h->dead = true;
}

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_fn fn, void *userdata)
{
	struct loop_timer *t = xcalloc(1, sizeof(*t));

	t->l = l;
	t->fn = fn;
	t->userdata = userdata;
	t->next = l->timers;
	l->timers = t;
	return t;
}

void loop_timer_arm(struct loop_timer *t, uint64_t deadline_ns)
{
	t->deadline_ns = deadline_ns;
	t->seq = ++t->l->seq;
	t->armed = true;
}

void loop_timer_disarm(struct loop_timer *t)
{
	t->armed = false;
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	t->armed = false;
	t->dead = true;
}

/* The armed timer that fires first, among those armed before seq_limit; NULL when none. */
static struct loop_timer *earliest(const struct loop *l, uint64_t seq_limit)
{
	struct loop_timer *best = NULL;

	for (struct loop_timer *t = l->timers; t; t = t->next) {
		if (!t->armed || t->dead || t->seq >= seq_limit)
			continue;
		if (!best || t->deadline_ns < best->deadline_ns ||
		    (t->deadline_ns == best->deadline_ns && t->seq < best->seq))
			best = t;
	}
	return best;
}

/* Points the timerfd at the earliest timer; *timeout_ms becomes 0 when one is already due. */
static int arm_timerfd(struct loop *l, uint64_t now, int *timeout_ms)
{
	struct loop_timer *t = earliest(l, UINT64_MAX);
	uint64_t want = t ? t->deadline_ns : 0;
	struct itimerspec its = { 0 };

	if (t && want <= now) {
		*timeout_ms = 0;
		return 0;
	}
	if (want == l->tfd_deadline_ns)
		return 0;
	its.it_value.tv_sec = (time_t)(want / NS_PER_SEC);
	its.it_value.tv_nsec = (long)(want % NS_PER_SEC);
	if (timerfd_settime(l->tfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	l->tfd_deadline_ns = want;
	return 0;
}

static void run_timers(struct loop *l)
{
	uint64_t now = mono_ns(), seq_limit = l->seq + 1;
	struct loop_timer *t;

	/* Timers armed by these callbacks wait for the next round, even when already due. */
	while (!l->exiting && (t = earliest(l, seq_limit)) && t->deadline_ns <= now) {
		t->armed = false;
		t->fn(l, t, t->userdata);
	}
}

int loop_run_once(struct loop *l, int timeout_ms)
{
	struct epoll_event evs[32];
	int n, r;

	r = arm_timerfd(l, mono_ns(), &timeout_ms);
	if (r < 0)
		return r;
	n = epoll_wait(l->epfd, evs, ARRAY_SIZE(evs), timeout_ms);
	if (n < 0) {
		if (errno != EINTR)
			return -errno;
		n = 0;
	}
	for (int i = 0; i < n && !l->exiting; i++) {
		struct loop_fd *h = evs[i].data.ptr;

		/* An earlier callback of this round may have removed it. */
		if (!h->dead)
			h->fn(l, h->fd, evs[i].events, h->userdata);
	}
	run_timers(l);
	sweep(l);
	return 0;
}

int loop_run(struct loop *l)
{
	l->exiting = false;
	while (!l->exiting) {
		int r = loop_run_once(l, -1);

		if (r < 0)
			return r;
	}
	return l->exit_code;
}

void loop_exit(struct loop *l, int code)
{
	l->exiting = true;
	l->exit_code = code;
}

int loop_add_signals(struct loop *l, const sigset_t *mask, loop_fd_fn fn, void *userdata)
{
	sigset_t old;
	int r;

	if (l->sfd >= 0)
		return -EBUSY;
	if (sigprocmask(SIG_BLOCK, mask, &old) < 0)
		return -errno;
	l->sfd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l->sfd < 0) {
		r = -errno;
		goto fail;
	}
	r = loop_add_fd(l, l->sfd, EPOLLIN, fn, userdata, NULL);
	if (r < 0)
		goto fail;
	return 0;
fail:
	if (l->sfd >= 0)
		close(l->sfd);
	l->sfd = -1;
	/* Back as it was: blocked signals without a reader would be lost. */
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

int loop_read_signal(int fd)
{
	struct signalfd_siginfo si;
	ssize_t n = read(fd, &si, sizeof(si));

	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if (n != sizeof(si))
		return -EIO;
	return (int)si.ssi_signo;
}
