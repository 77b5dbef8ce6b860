/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A proxy worker: one thread, one epoll loop over its listener sockets
 * (level-triggered, its own SO_REUSEPORT member, so no thundering herd),
 * its connections (edge-triggered), a wake eventfd for control messages
 * and a 100 ms timerfd (connect deadlines, grace-period closes, UDP idle
 * timeouts).  Objects closed during an event batch are freed after it, so
 * a later event of the same batch never touches freed memory.
 */
#include "dataplane/userspace/worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/util.h"

enum us_msg_kind { US_MSG_ADD, US_MSG_DEL, US_MSG_SNAP, US_MSG_QUIT };

struct us_msg {
	enum us_msg_kind kind;
	struct us_wl *wl;
	struct us_snap *snap;
	struct us_msg *next;
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
 * such an address keep theirs too).  The node's own traffic and hairpin
 * traffic (an endpoint reaching itself) are masqueraded: replies to a
 * local or the endpoint's own address would never come back here.
 */
bool us_want_spoof(const struct us_listener *l, bool from_pod, bool from_node,
		   const struct addr *client, const struct us_ep *ep)
{
	if (l->masquerade_all || from_node || addr_eq(client, &ep->addr))
		return false;
	if (l->kind == ROUTE_CLUSTER_IP)
		return from_pod;
	return l->preserve_external;
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
				us_log("userspace: cannot keep client source addresses (transparent bind: %s); backends see the node's address instead",
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
	us_log("userspace: out of file descriptors (%s; RLIMIT_NOFILE %llu): the oldest UDP sessions are closed to make room, then new connections are reset until some close; raise the limit (e.g. LimitNOFILE= in the unit) or lower the load",
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
	 */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static void post(struct us_worker *w, struct us_msg *m)
{
	uint64_t one = 1;

	pthread_mutex_lock(&w->qlock);
	if (w->qtail)
		w->qtail->next = m;
	else
		w->qhead = m;
	w->qtail = m;
	pthread_mutex_unlock(&w->qlock);
	(void)!write(w->wake_fd, &one, sizeof(one));
}

struct us_wl *us_worker_add_listener(struct us_worker *w, struct us_listener *l, int fd)
{
	struct us_wl *wl = xcalloc(1, sizeof(*wl));
	struct us_msg *m = xcalloc(1, sizeof(*m));

	wl->ev.kind = l->proto == IPPROTO_UDP ? US_EV_LISTEN_UDP : US_EV_LISTEN_TCP;
	wl->fd = fd;
	wl->w = w;
	wl->l = l;
	atomic_fetch_add(&l->refs, 1);
	us_list_init(&wl->link);
	m->kind = US_MSG_ADD;
	m->wl = wl;
	post(w, m);
	return wl;
}

void us_worker_del_listener(struct us_worker *w, struct us_wl *wl)
{
	struct us_msg *m = xcalloc(1, sizeof(*m));

	m->kind = US_MSG_DEL;
	m->wl = wl;
	post(w, m);
}

void us_worker_set_snap(struct us_worker *w, struct us_snap *s)
{
	struct us_msg *m = xcalloc(1, sizeof(*m));

	atomic_fetch_add(&s->refs, 1);
	m->kind = US_MSG_SNAP;
	m->snap = s;
	post(w, m);
}

static void wl_close(struct us_worker *w, struct us_wl *wl)
{
	if (wl->l->proto == IPPROTO_TCP)
		us_tcp_accept(w, wl); /* what is queued already gets served, not reset */
	else
		us_udp_close_listener(w, wl);
	close(wl->fd);
	wl->fd = -1;
	us_list_del(&wl->link);
	us_list_add_tail(&w->graveyard_wls, &wl->link);
}

/* Returns false on QUIT. */
static bool handle_messages(struct us_worker *w)
{
	struct us_msg *m;
	uint64_t v;
	bool run = true;

	(void)!read(w->wake_fd, &v, sizeof(v));
	pthread_mutex_lock(&w->qlock);
	m = w->qhead;
	w->qhead = w->qtail = NULL;
	pthread_mutex_unlock(&w->qlock);
	while (m) {
		struct us_msg *next = m->next;

		switch (m->kind) {
		case US_MSG_ADD:
			us_list_add_tail(&w->wls, &m->wl->link);
			if (us_epoll_add(w, m->wl->fd, EPOLLIN, &m->wl->ev) < 0)
				us_log("userspace: worker %u: cannot watch %s: %s", w->idx,
				       m->wl->l->name, strerror(errno));
			break;
		case US_MSG_DEL:
			wl_close(w, m->wl);
			break;
		case US_MSG_SNAP:
			us_snap_unref(w->snap);
			w->snap = m->snap;
			break;
		case US_MSG_QUIT:
			run = false;
			break;
		}
		free(m);
		m = next;
	}
	return run;
}

static void tick(struct us_worker *w)
{
	uint64_t v, removal = atomic_load(&w->dp->last_removal_ns);
	/* Connections to removed endpoints are looked for until the grace period of the last removal ends. */
	bool scan = removal && w->now_ns <= removal + w->dp->grace_ns + 2 * US_TICK_NS;
	struct us_link *it;

	(void)!read(w->tick_fd, &v, sizeof(v));
	for (it = w->wls.next; it != &w->wls; it = it->next) {
		struct us_wl *wl = us_container_of(it, struct us_wl, link);

		if (wl->paused) {
			struct epoll_event e = { .events = EPOLLIN, .data.ptr = &wl->ev };

			wl->paused = false;
			epoll_ctl(w->epfd, EPOLL_CTL_MOD, wl->fd, &e);
		}
	}
	us_tcp_tick(w, scan);
	us_udp_tick(w, scan);
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

static void *worker_main(void *arg)
{
	struct us_worker *w = arg;
	struct epoll_event evs[256];
	bool run = true;

	while (run) {
		int n = epoll_wait(w->epfd, evs, ARRAY_SIZE(evs), -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			us_log("userspace: worker %u: epoll_wait: %s", w->idx, strerror(errno));
			break;
		}
		w->now_ns = us_now_ns();
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
	return NULL;
}

struct us_worker *us_worker_start(struct us_dp *dp, unsigned idx)
{
	struct us_worker *w = xcalloc(1, sizeof(*w));
	struct itimerspec its = {
		.it_interval = { .tv_nsec = (long)US_TICK_NS },
		.it_value = { .tv_nsec = (long)US_TICK_NS },
	};

	w->dp = dp;
	w->idx = idx;
	pthread_mutex_init(&w->qlock, NULL);
	us_list_init(&w->wls);
	us_list_init(&w->connecting);
	us_list_init(&w->relaying);
	us_list_init(&w->sessions);
	us_list_init(&w->graveyard_conns);
	us_list_init(&w->graveyard_sess);
	us_list_init(&w->graveyard_wls);
	w->ev_wake.kind = US_EV_WAKE;
	w->ev_tick.kind = US_EV_TICK;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w->copy_buf = xmalloc(US_COPY_SIZE);
	if (w->epfd < 0 || w->wake_fd < 0 || w->tick_fd < 0 || us_udp_init(w) < 0 ||
	    timerfd_settime(w->tick_fd, 0, &its, NULL) < 0 ||
	    us_epoll_add(w, w->wake_fd, EPOLLIN, &w->ev_wake) < 0 ||
	    us_epoll_add(w, w->tick_fd, EPOLLIN, &w->ev_tick) < 0 ||
	    us_thread_create(&w->thread, worker_main, w) != 0) {
		us_log("userspace: cannot start worker %u: %s", idx, strerror(errno));
		if (w->epfd >= 0)
			close(w->epfd);
		if (w->wake_fd >= 0)
			close(w->wake_fd);
		if (w->tick_fd >= 0)
			close(w->tick_fd);
		if (w->reserve_fd >= 0)
			close(w->reserve_fd);
		us_udp_done(w);
		free(w->copy_buf);
		free(w);
		return NULL;
	}
	return w;
}

void us_worker_stop(struct us_worker *w)
{
	struct us_msg *m = xcalloc(1, sizeof(*m));

	m->kind = US_MSG_QUIT;
	post(w, m);
	pthread_join(w->thread, NULL);
	/* Messages posted after QUIT (none in practice): release what they carry. */
	handle_messages(w);
	while (!us_list_empty(&w->wls)) {
		struct us_wl *wl = us_container_of(w->wls.next, struct us_wl, link);

		if (wl->l->proto == IPPROTO_UDP)
			us_udp_close_listener(w, wl);
		close(wl->fd);
		wl->fd = -1;
		us_list_del(&wl->link);
		us_list_add_tail(&w->graveyard_wls, &wl->link);
	}
	us_tcp_done(w);
	us_udp_done(w);
	free_graveyards(w);
	us_snap_unref(w->snap);
	close(w->epfd);
	close(w->wake_fd);
	close(w->tick_fd);
	if (w->reserve_fd >= 0)
		close(w->reserve_fd);
	pthread_mutex_destroy(&w->qlock);
	free(w->copy_buf);
	free(w);
}
