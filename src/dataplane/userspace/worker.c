/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A proxy worker: one thread, one epoll loop over its listener sockets
 * (level-triggered, its own SO_REUSEPORT member, so no thundering herd),
 * its connections (edge-triggered), its control socket and a 100 ms
 * timerfd (connect deadlines, grace-period closes, UDP idle timeouts).
 * Objects closed during an event batch are freed after it, so a later
 * event of the same batch never touches freed memory.
 *
 * Each worker unshares its file descriptor table (unshare(CLONE_FILES))
 * as it starts and closes what it inherited, so it holds only its own
 * sockets, pipes, epoll and timer.  Two reasons: RLIMIT_NOFILE bounds each
 * table, so N workers hold N times the connections one process table
 * could (a proxied connection costs two fds; where the hard limit cannot
 * be raised, as in containers without CAP_SYS_RESOURCE, that is the
 * difference between 9,900 and 19,800 connections on two workers); and
 * the kernel skips the file reference count on every system call made on
 * an unshared table (fdget's single-owner path), where a shared one takes
 * and drops it atomically, several times per forwarded chunk.  The
 * control thread reaches a worker only through a SOCK_SEQPACKET pair:
 * each datagram carries one struct us_msg and, for a new
 * listener, its socket (SCM_RIGHTS), which the kernel installs in the
 * worker's table.
 */
#include "dataplane/userspace/worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/util.h"

enum us_msg_kind { US_MSG_ADD, US_MSG_DEL, US_MSG_SNAP, US_MSG_QUIT };

/* Sent by value, one per datagram; what wl and snap point to changes hands with it. */
struct us_msg {
	enum us_msg_kind kind;
	struct us_wl *wl;
	struct us_snap *snap;
};

int us_epoll_add(struct us_worker *w, int fd, uint32_t events, struct us_ev *ev)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &e);
}

bool us_worker_from_pod(const struct us_worker *w, const struct addr *a)
{
	for (size_t i = 0; i < w->dp->opts.n_cluster_cidrs; i++)
		if (cidr_contains(&w->dp->opts.cluster_cidrs[i], a))
			return true;
	return false;
}

/*
 * Whether the backend should see the client's own address, as with
 * kube-proxy's rules: ClusterIP traffic from pods is not masqueraded,
 * external traffic only with externalTrafficPolicy Local (pods reaching
 * such an address keep theirs too).  The node's own traffic, hairpin
 * traffic (an endpoint reaching itself) and traffic to an endpoint on one
 * of this node's own addresses (a hostNetwork pod) are masqueraded:
 * replies to a local address, to the endpoint's own, or sent by this node
 * itself (which never pass prerouting, where the divert chain brings
 * replies back to transparent sockets) would never come back here.
 */
bool us_want_spoof(const struct us_worker *w, const struct us_listener *l, bool from_pod,
		   bool from_node, const struct addr *client, const struct us_ep *ep)
{
	if (l->masquerade_all || from_node || addr_eq(client, &ep->addr))
		return false;
	if (!(l->kind == ROUTE_CLUSTER_IP ? from_pod : l->preserve_external))
		return false;
	return !us_snap_is_local(w->snap, &ep->addr);
}

/*
 * A socket to ep.  With *spoof, it is transparent and bound to the
 * client's address (and port, when free), so the endpoint sees the client;
 * when that is impossible (no CAP_NET_ADMIN) it falls back to the node's
 * address and clears *spoof.
 */
int us_upstream_socket(struct us_worker *w, int type, const struct us_ep *ep, bool *spoof,
		       const struct addr *client, uint16_t client_port)
{
	int fd = socket(ep->sa.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	static atomic_bool warned;

	if (fd < 0)
		return -errno;
	if (type == SOCK_STREAM) {
		int one = 1;

		/* No Nagle toward the backend either (see open_listener in dp_userspace.c). */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (*spoof) {
		int one = 1, r;
		struct sockaddr_storage sa;
		socklen_t len;

		r = ep->sa.ss_family == AF_INET6
			? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof(one))
			: setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
		if (r == 0) {
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			us_addr_to_sockaddr(client, type == SOCK_DGRAM ? client_port : 0, &sa, &len);
			r = bind(fd, (struct sockaddr *)&sa, len);
			if (r < 0 && type == SOCK_DGRAM) {
				us_addr_to_sockaddr(client, 0, &sa, &len);
				r = bind(fd, (struct sockaddr *)&sa, len);
			}
		}
		if (r < 0) {
			int err = errno;

			if (!atomic_exchange(&warned, true))
				us_logq_push(&w->dp->logq, "userspace: cannot keep client source addresses (transparent bind: %s); backends see the node's address instead",
				       strerror(err));
			close(fd);
			*spoof = false;
			return us_upstream_socket(w, type, ep, spoof, client, client_port);
		}
	}
	return fd;
}

bool us_worker_fd_exhausted(struct us_worker *w, const char *what)
{
	struct rlimit rl = { 0 };
	/* UDP sessions are soft state (the next datagram opens a new one): they make room first. */
	bool freed = us_udp_shed(w, 64) > 0;

	atomic_fetch_add_explicit(&w->dp->ctr.fd_exhausted, 1, memory_order_relaxed);
	if (w->now_ns - w->last_fd_log_ns < US_NS_PER_SEC && w->last_fd_log_ns)
		return freed;
	w->last_fd_log_ns = w->now_ns;
	getrlimit(RLIMIT_NOFILE, &rl);
	us_logq_push(&w->dp->logq, "userspace: out of file descriptors (%s; RLIMIT_NOFILE %llu per worker): the oldest UDP sessions are closed to make room, then new connections are reset until some close; raise the limit (e.g. LimitNOFILE= in the unit) or lower the load",
	       what, (unsigned long long)rl.rlim_cur);
	return freed;
}

int us_thread_create(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int r;

	/*
	 * Signals belong to the agent's signalfd; a thread that could take
	 * SIGTERM would let its default action kill the process mid-flight.
	 * So no thread starts unless its mask is in place (pthread_sigmask
	 * returns an error number, not -1 and errno).
	 */
	sigfillset(&all);
	r = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (r)
		return r;
	r = pthread_create(t, NULL, fn, arg);
	/* Restoring a mask that was just in place cannot fail with valid arguments. */
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

/*
 * Sends m (and fd, when >= 0, whose control-thread copy is then closed).
 * The control end blocks, so a worker busy with a burst delays a sync
 * rather than losing a message.
 */
static void post(struct us_worker *w, struct us_msg m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t r;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	int err = 0;

	do
		r = sendmsg(w->ctl, &mh, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		err = errno; /* before close() may change it */
	if (fd >= 0)
		close(fd);
	if (r < 0)
		/* Only when the worker is gone: it can no longer use what m carries. */
		us_logq_push(&w->dp->logq, "userspace: worker %u: cannot send a control message: %s",
			     w->idx, strerror(err));
}

struct us_wl *us_worker_add_listener(struct us_worker *w, struct us_listener *l, int fd)
{
	struct us_wl *wl = xcalloc(1, sizeof(*wl));

	wl->ev.kind = l->proto == IPPROTO_UDP ? US_EV_LISTEN_UDP : US_EV_LISTEN_TCP;
	wl->fd = -1; /* the worker's number for it is known when the worker receives it */
	wl->w = w;
	wl->l = l;
	atomic_fetch_add(&l->refs, 1);
	us_list_init(&wl->link);
	post(w, (struct us_msg){ .kind = US_MSG_ADD, .wl = wl }, fd);
	return wl;
}

void us_worker_del_listener(struct us_worker *w, struct us_wl *wl)
{
	post(w, (struct us_msg){ .kind = US_MSG_DEL, .wl = wl }, -1);
}

void us_worker_set_snap(struct us_worker *w, struct us_snap *s)
{
	atomic_fetch_add(&s->refs, 1);
	post(w, (struct us_msg){ .kind = US_MSG_SNAP, .snap = s }, -1);
}

/* Closes the worker's socket for wl (a TCP one first accepts what is queued, when drain). */
static void wl_close(struct us_worker *w, struct us_wl *wl, bool drain)
{
	if (wl->l->proto == IPPROTO_UDP)
		us_udp_close_listener(w, wl);
	else if (drain && wl->fd >= 0)
		us_tcp_accept(w, wl); /* what is queued already gets served, not reset */
	if (wl->fd >= 0)
		close(wl->fd);
	wl->fd = -1;
	us_list_del(&wl->link);
	us_list_add_tail(&w->graveyard_wls, &wl->link);
}

/* The next control message into *m, with the fd it carries in *fd (or -1); false when none is queued. */
static bool recv_message(struct us_worker *w, struct us_msg *m, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = m, .iov_len = sizeof(*m) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(w->ctl_peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(*m))
		return false;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return true;
}

/* Returns false on QUIT. */
static bool handle_messages(struct us_worker *w)
{
	struct us_msg m;
	int fd;
	bool run = true;

	while (recv_message(w, &m, &fd)) {
		switch (m.kind) {
		case US_MSG_ADD:
			m.wl->fd = fd;
			fd = -1;
			us_list_add_tail(&w->wls, &m.wl->link);
			if (m.wl->fd < 0 || us_epoll_add(w, m.wl->fd, EPOLLIN, &m.wl->ev) < 0)
				us_logq_push(&w->dp->logq, "userspace: worker %u: cannot watch %s: %s",
					     w->idx, m.wl->l->name,
					     m.wl->fd < 0 ? "no socket received" : strerror(errno));
			break;
		case US_MSG_DEL:
			wl_close(w, m.wl, true);
			break;
		case US_MSG_SNAP:
			us_snap_unref(w->snap);
			w->snap = m.snap;
			break;
		case US_MSG_QUIT:
			run = false;
			break;
		}
		if (fd >= 0)
			close(fd);
	}
	return run;
}

static void tick(struct us_worker *w)
{
	uint64_t v, removal = atomic_load(&w->dp->last_removal_ns), gen = atomic_load(&w->dp->removal_gen);
	/* Connections to removed endpoints are looked for until the grace period of the last removal ends. */
	bool scan = us_grace_scan_due(removal, w->dp->grace_ns, 2 * US_TICK_NS, w->now_ns);
	struct us_link *it;

	(void)!read(w->tick_fd, &v, sizeof(v));
	for (it = w->wls.next; it != &w->wls; it = it->next) {
		struct us_wl *wl = us_container_of(it, struct us_wl, link);

		if (wl->paused) {
			struct epoll_event e = { .events = EPOLLIN, .data.ptr = &wl->ev };

			/* On failure it stays paused and is tried again at the next tick. */
			if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, wl->fd, &e) == 0)
				wl->paused = false;
			else
				us_logq_push(&w->dp->logq, "userspace: worker %u: cannot resume %s: %s",
					     w->idx, wl->l->name, strerror(errno));
		}
	}
	us_tcp_tick(w, scan);
	/* UDP sessions of a removed endpoint close at once: one scan per batch of removals. */
	us_udp_tick(w, gen != w->udp_removal_gen);
	w->udp_removal_gen = gen;
}

static void free_graveyards(struct us_worker *w)
{
	us_tcp_free_graveyard(w);
	us_udp_free_graveyard(w);
	while (!us_list_empty(&w->graveyard_wls)) {
		struct us_wl *wl = us_container_of(w->graveyard_wls.next, struct us_wl, link);

		us_list_del(&wl->link);
		us_listener_unref(wl->l);
		free(wl);
	}
}

/* Closes every fd from 3 up but a and b (either may be -1); 0 or a negative errno. */
static int close_all_but(int a, int b)
{
	int keep[2] = { a < b ? a : b, a < b ? b : a };
	unsigned from = 3;

	for (size_t i = 0; i < ARRAY_SIZE(keep); i++) {
		if (keep[i] < (int)from)
			continue;
		if ((unsigned)keep[i] > from && close_range(from, (unsigned)keep[i] - 1, 0) < 0)
			return -errno;
		from = (unsigned)keep[i] + 1;
	}
	return close_range(from, ~0u, 0) < 0 ? -errno : 0;
}

/*
 * The worker's own fd table: a copy of the process's, minus everything but
 * the standard streams, the worker's control socket and the log queue's
 * eventfd.  Then its epoll, timer and spare fd.  Returns 0 or a negative
 * errno.
 */
static int worker_setup(struct us_worker *w)
{
	struct itimerspec its = {
		.it_interval = { .tv_nsec = (long)US_TICK_NS },
		.it_value = { .tv_nsec = (long)US_TICK_NS },
	};
	char name[16];
	int r;

	snprintf(name, sizeof(name), "kroute-w%u", w->idx);
	(void)pthread_setname_np(pthread_self(), name);
	if (unshare(CLONE_FILES) < 0) {
		int err = errno;

		/* Still the process's table: ctl_peer is the control thread's to close. */
		w->ctl_peer = -1;
		return -err;
	}
	/*
	 * Inherited copies would keep other threads' sockets alive after they
	 * close theirs.  Kept: the control socket, and the log queue's eventfd
	 * (its number must mean the same file here, or a push would write to
	 * whatever socket this table gives that number later).
	 */
	r = close_all_but(w->ctl_peer, w->dp->logq.efd);
	if (r < 0)
		return r;
	/* Each call checked on its own: errno belongs to the call that failed. */
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return -errno;
	w->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->tick_fd < 0 || timerfd_settime(w->tick_fd, 0, &its, NULL) < 0)
		return -errno;
	if (us_epoll_add(w, w->ctl_peer, EPOLLIN, &w->ev_wake) < 0 ||
	    us_epoll_add(w, w->tick_fd, EPOLLIN, &w->ev_tick) < 0)
		return -errno;
	/* Without the spare fd, the EMFILE accept trick is skipped (tcp.c checks). */
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

/* On QUIT: everything the worker owns goes, in its own thread and table. */
static void worker_teardown(struct us_worker *w)
{
	while (!us_list_empty(&w->wls))
		wl_close(w, us_container_of(w->wls.next, struct us_wl, link), false);
	us_tcp_done(w);
	us_udp_done(w);
	free_graveyards(w);
	us_snap_unref(w->snap);
	w->snap = NULL;
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->tick_fd >= 0)
		close(w->tick_fd);
	if (w->reserve_fd >= 0)
		close(w->reserve_fd);
	if (w->ctl_peer >= 0)
		close(w->ctl_peer);
}

static void *worker_main(void *arg)
{
	struct us_worker *w = arg;
	struct epoll_event evs[256];
	int peer = w->ctl_peer, err = worker_setup(w);
	bool run = err == 0;
	uint8_t status = (uint8_t)-err;

	/* The control thread waits for this byte before it closes its copy of ctl_peer. */
	(void)!write(peer, &status, 1);
	while (run) {
		int n = epoll_wait(w->epfd, evs, ARRAY_SIZE(evs), -1);

		if (n < 0) {
			int wait_err = errno;

			if (wait_err == EINTR)
				continue;
			us_logq_push(&w->dp->logq, "userspace: worker %u: epoll_wait: %s", w->idx,
				     strerror(wait_err));
			break;
		}
		w->now_ns = mono_ns();
		for (int i = 0; i < n; i++) {
			struct us_ev *ev = evs[i].data.ptr;

			switch (ev->kind) {
			case US_EV_WAKE:
				run = handle_messages(w) && run;
				break;
			case US_EV_TICK:
				tick(w);
				break;
			case US_EV_LISTEN_TCP: {
				struct us_wl *wl = us_container_of(ev, struct us_wl, ev);

				if (wl->fd >= 0)
					us_tcp_accept(w, wl);
				break;
			}
			case US_EV_LISTEN_UDP: {
				struct us_wl *wl = us_container_of(ev, struct us_wl, ev);

				if (wl->fd >= 0)
					us_udp_rx(w, wl);
				break;
			}
			case US_EV_TCP_CLIENT:
				us_tcp_event(w, us_container_of(ev, struct us_conn, ev_client), false,
					     evs[i].events);
				break;
			case US_EV_TCP_BACKEND:
				us_tcp_event(w, us_container_of(ev, struct us_conn, ev_backend), true,
					     evs[i].events);
				break;
			case US_EV_UDP_SESS:
				us_udp_reply(w, us_container_of(ev, struct us_sess, ev));
				break;
			}
		}
		free_graveyards(w);
	}
	worker_teardown(w);
	return NULL;
}

static void worker_free(struct us_worker *w)
{
	if (w->ctl >= 0)
		close(w->ctl);
	free(w->copy_buf);
	free(w);
}

int us_worker_start(struct us_dp *dp, unsigned idx, struct us_worker **ret)
{
	struct us_worker *w = xcalloc(1, sizeof(*w));
	int sv[2], err = 0;
	uint8_t status = 0;
	ssize_t n;

	w->dp = dp;
	w->idx = idx;
	w->ctl = w->ctl_peer = w->epfd = w->tick_fd = w->reserve_fd = -1;
	us_list_init(&w->wls);
	us_list_init(&w->connecting);
	us_list_init(&w->relaying);
	us_list_init(&w->sessions);
	us_list_init(&w->graveyard_conns);
	us_list_init(&w->graveyard_sess);
	us_list_init(&w->graveyard_wls);
	w->ev_wake.kind = US_EV_WAKE;
	w->ev_tick.kind = US_EV_TICK;
	w->copy_buf = xmalloc(US_COPY_SIZE);
	us_udp_init(w);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err = errno;
		goto fail;
	}
	w->ctl = sv[0];
	w->ctl_peer = sv[1];
	err = us_thread_create(&w->thread, worker_main, w);
	if (err)
		goto fail;
	do
		n = read(w->ctl, &status, 1);
	while (n < 0 && errno == EINTR);
	/* The worker has its own copy of ctl_peer now (or has exited); this one is the control thread's. */
	close(sv[1]);
	if (n != 1 || status) {
		/* The worker has torn down what it owned (its UDP buffers included). */
		pthread_join(w->thread, NULL);
		worker_free(w);
		return n == 1 ? -(int)status : -EIO;
	}
	*ret = w;
	return 0;
fail:
	if (w->ctl >= 0)
		close(w->ctl_peer);
	us_udp_done(w);
	worker_free(w);
	return -err;
}

void us_worker_stop(struct us_worker *w)
{
	post(w, (struct us_msg){ .kind = US_MSG_QUIT }, -1);
	/* The worker closes and frees everything it owns before it returns. */
	pthread_join(w->thread, NULL);
	worker_free(w);
}
