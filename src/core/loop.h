/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's event loop: one epoll fd on one thread.  Whoever owns an fd
 * (a source, a data plane, a server) registers it with a callback; whoever
 * needs to act at an instant arms a timer.  Timers are one-shot, at an
 * absolute CLOCK_MONOTONIC instant (mono_ns()), and fire in deadline order
 * (ties in the order they were armed); all of them share one timerfd.
 *
 * A registration or timer may be removed from any callback, its own
 * included: a removed fd's pending event is not delivered, and the memory
 * is released only after the dispatch round.  Every kernel call is checked:
 * a registration that did not happen is an error, never a silent no-op.
 *
 * It lives in core/ because sources (src/source/) and data planes register
 * in it, and they must not depend on the daemon that owns it.
 */
#ifndef KROUTE_CORE_LOOP_H
#define KROUTE_CORE_LOOP_H

#include <signal.h>
#include <stdint.h>

struct loop;
struct loop_fd;
struct loop_timer;

/* events: the EPOLL* bits that fired (EPOLLERR/EPOLLHUP included). */
typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *userdata);
typedef void (*loop_timer_fn)(struct loop *l, struct loop_timer *t, void *userdata);

/* Returns 0 or -errno. */
int loop_new(struct loop **ret);
/* Frees every registration and timer still there; does not close registered fds. */
void loop_free(struct loop *l);

/*
 * Watches fd for events (EPOLLIN, EPOLLOUT...).  ret may be NULL.  Returns
 * 0, or -errno with nothing registered (e.g. -EPERM for a regular file).
 */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *userdata,
		struct loop_fd **ret);
int loop_fd_set_events(struct loop *l, struct loop_fd *h, uint32_t events);
/* Stops watching (before the caller closes the fd).  NULL is a no-op. */
void loop_remove_fd(struct loop *l, struct loop_fd *h);

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_fn fn, void *userdata);
/* Fires once at deadline_ns (mono_ns() clock; in the past: on the next round).  Re-arming moves it. */
void loop_timer_arm(struct loop_timer *t, uint64_t deadline_ns);
void loop_timer_disarm(struct loop_timer *t);
/* Disarms and frees (safe from any callback).  NULL is a no-op. */
void loop_timer_free(struct loop_timer *t);

/*
 * Blocks the signals in mask (sigprocmask) and delivers them through a
 * signalfd: fn is called with fd = the signalfd, and loop_read_signal()
 * reads one.  Returns 0 or -errno (the mask is restored on failure).
 */
int loop_add_signals(struct loop *l, const sigset_t *mask, loop_fd_fn fn, void *userdata);
/* The next pending signal's number, 0 when none, or -errno. */
int loop_read_signal(int fd);

/*
 * Runs rounds (wait, then fd callbacks, then due timers) until loop_exit().
 * Returns the code given to loop_exit(), or -errno when the loop itself
 * failed (epoll_wait, arming the timerfd).
 */
int loop_run(struct loop *l);
/* One round waiting at most timeout_ms (-1: until something happens).  0 or -errno. */
int loop_run_once(struct loop *l, int timeout_ms);
void loop_exit(struct loop *l, int code);

#endif
