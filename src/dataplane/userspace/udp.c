/* SPDX-License-Identifier: Apache-2.0 */
/*
 * UDP relay: a session per (listener, client address and port), with its
 * own connected socket to the chosen endpoint.  Datagrams move in batches:
 * recvmmsg on the listener, sendmmsg to the endpoint per run of one
 * session; recvmmsg from the endpoint, sendmmsg back through the listener
 * (so replies come from the service address).  Buffers are allocated once
 * per worker.  A session whose endpoint was removed or refused is moved to
 * another endpoint on its next datagram, and closed at the next tick if
 * idle, so clients are never blackholed; idle sessions end after
 * --udp-timeout.
 */
#include "dataplane/userspace/worker_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/util.h"

int us_udp_init(struct us_worker *w)
{
	w->rx = xcalloc(US_UDP_BATCH, sizeof(*w->rx));
	w->tx = xcalloc(US_UDP_BATCH, sizeof(*w->tx));
	w->rx_iov = xcalloc(US_UDP_BATCH, sizeof(*w->rx_iov));
	w->tx_iov = xcalloc(US_UDP_BATCH, sizeof(*w->tx_iov));
	w->rx_names = xcalloc(US_UDP_BATCH, sizeof(*w->rx_names));
	w->bufs = xmalloc((size_t)US_UDP_BATCH * US_UDP_BUF);
	us_sess_table_init(&w->sessions_by_client);
	return 0;
}

static void sess_close(struct us_worker *w, struct us_sess *s)
{
	if (s->dead)
		return;
	s->dead = true;
	us_sess_table_remove(&w->sessions_by_client, s);
	close(s->fd);
	if (s->ep)
		us_svc_release(s->ep);
	s->ep = NULL;
	us_list_del(&s->lru);
	us_list_add_tail(&w->graveyard_sess, &s->lru);
	atomic_fetch_sub_explicit(&w->dp->ctr.udp_sessions_active, 1, memory_order_relaxed);
}

void us_udp_free_graveyard(struct us_worker *w)
{
	while (!us_list_empty(&w->graveyard_sess)) {
		struct us_sess *s = us_container_of(w->graveyard_sess.next, struct us_sess, lru);

		us_list_del(&s->lru);
		us_svc_unref(s->svc);
		free(s);
	}
}

/* Points the session at an endpoint other than its current one; false when none is left. */
static bool sess_repick(struct us_worker *w, struct us_sess *s)
{
	struct us_ep *old = s->ep;
	struct sched_flow f = {
		.family = s->client_addr.family,
		.proto = IPPROTO_UDP,
		.sport = s->client_port,
	};
	struct us_ep *ep;
	struct addr local;

	memcpy(f.saddr, s->client_addr.bytes, sizeof(f.saddr));
	us_sockaddr_to_addr(&s->wl->l->sa, &local, &f.dport);
	memcpy(f.daddr, local.bytes, sizeof(f.daddr));
	ep = us_svc_pick(s->svc, &f, &old, old ? 1 : 0, w->now_ns);
	if (!ep)
		return false;
	if (old) {
		atomic_fetch_add_explicit(&w->dp->ctr.udp_moved, 1, memory_order_relaxed);
		us_svc_release(old);
	}
	s->ep = ep;
	s->broken = false;
	/* Connecting a UDP socket again just changes its peer. */
	if (connect(s->fd, (struct sockaddr *)&ep->sa, ep->salen) < 0)
		s->broken = true;
	return true;
}

static struct us_sess *sess_get(struct us_worker *w, struct us_wl *wl,
				const struct sockaddr_storage *sa, socklen_t salen)
{
	struct addr a;
	uint16_t port;
	uint64_t h;
	struct us_sess *s;
	struct us_svc *svc = wl->l->svc;
	bool from_pod, from_node, spoof;
	struct us_ep *ep;
	struct sched_flow f = { .proto = IPPROTO_UDP };
	struct addr local;
	int fd;

	us_sockaddr_to_addr(sa, &a, &port);
	h = us_sess_hash(wl, &a, port);
	s = us_sess_table_find(&w->sessions_by_client, h, wl, &a, port);
	if (s)
		return s;
	from_pod = us_worker_from_pod(w, &a);
	from_node = us_snap_is_local(w->snap, &a);
	if (wl->l->svc_cluster && (from_pod || from_node))
		svc = wl->l->svc_cluster;
	if (!svc)
		return NULL;
	f.family = a.family;
	f.sport = port;
	memcpy(f.saddr, a.bytes, sizeof(f.saddr));
	us_sockaddr_to_addr(&wl->l->sa, &local, &f.dport);
	memcpy(f.daddr, local.bytes, sizeof(f.daddr));
	ep = us_svc_pick(svc, &f, NULL, 0, w->now_ns);
	if (!ep)
		return NULL;
	s = xcalloc(1, sizeof(*s));
	spoof = us_want_spoof(w, wl->l, from_pod, from_node, &a, ep);
	fd = us_upstream_socket(w, SOCK_DGRAM, ep, &spoof, &a, port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&ep->sa, ep->salen) < 0) {
		if (fd == -EMFILE || fd == -ENFILE)
			us_worker_fd_exhausted(w, "opening a UDP session");
		if (fd >= 0)
			close(fd);
		us_svc_release(ep);
		free(s);
		return NULL;
	}
	s->ev.kind = US_EV_UDP_SESS;
	s->fd = fd;
	s->wl = wl;
	s->svc = svc;
	us_svc_ref(svc);
	s->ep = ep;
	memcpy(&s->client, sa, sizeof(s->client));
	s->clen = salen;
	s->client_addr = a;
	s->client_port = port;
	s->hash = h;
	s->last_ns = w->now_ns;
	us_list_init(&s->lru);
	us_list_add_tail(&w->sessions, &s->lru);
	us_sess_table_insert(&w->sessions_by_client, s);
	atomic_fetch_add_explicit(&w->dp->ctr.udp_sessions_active, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&w->dp->ctr.udp_sessions_total, 1, memory_order_relaxed);
	if (us_epoll_add(w, fd, EPOLLIN, &s->ev) < 0) {
		sess_close(w, s);
		return NULL;
	}
	return s;
}

static void touch(struct us_worker *w, struct us_sess *s)
{
	s->last_ns = w->now_ns;
	us_list_del(&s->lru);
	us_list_add_tail(&w->sessions, &s->lru);
}

static void rx_prepare(struct us_worker *w, bool names)
{
	for (int i = 0; i < US_UDP_BATCH; i++) {
		w->rx_iov[i] = (struct iovec){ .iov_base = w->bufs + (size_t)i * US_UDP_BUF,
					       .iov_len = US_UDP_BUF };
		w->rx[i].msg_hdr = (struct msghdr){
			.msg_iov = &w->rx_iov[i],
			.msg_iovlen = 1,
			.msg_name = names ? &w->rx_names[i] : NULL,
			.msg_namelen = names ? sizeof(w->rx_names[i]) : 0,
		};
		w->rx[i].msg_len = 0;
	}
}

/* Sends tx[0..n) on fd, whole batches at a time; counts what could not go. */
static void send_batch(struct us_worker *w, int fd, unsigned n)
{
	unsigned off = 0;

	while (off < n) {
		int r = sendmmsg(fd, w->tx + off, n - off, MSG_DONTWAIT);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			/* Full socket buffer or an ICMP error queued: UDP may drop, so drop. */
			atomic_fetch_add_explicit(&w->dp->ctr.udp_dropped, n - off, memory_order_relaxed);
			return;
		}
		atomic_fetch_add_explicit(&w->dp->ctr.udp_tx, (unsigned)r, memory_order_relaxed);
		off += (unsigned)r;
	}
}

void us_udp_rx(struct us_worker *w, struct us_wl *wl)
{
	/* A bounded number of batches per wakeup; level-triggered, so the rest comes next. */
	for (int round = 0; round < 4; round++) {
		int n;
		unsigned run = 0;
		struct us_sess *run_sess = NULL;

		rx_prepare(w, true);
		n = recvmmsg(wl->fd, w->rx, US_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		atomic_fetch_add_explicit(&w->dp->ctr.udp_rx, (unsigned)n, memory_order_relaxed);
		for (int i = 0; i < n; i++) {
			struct us_sess *s = sess_get(w, wl, &w->rx_names[i], w->rx[i].msg_hdr.msg_namelen);
			bool move = s && (s->broken || !s->ep ||
					  atomic_load_explicit(&s->ep->removed, memory_order_relaxed));

			/* Flush first: the run may belong to the session that moves or closes. */
			if (run && (s != run_sess || move)) {
				send_batch(w, run_sess->fd, run);
				run = 0;
			}
			if (move && !sess_repick(w, s)) {
				sess_close(w, s);
				s = NULL;
			}
			if (!s) {
				atomic_fetch_add_explicit(&w->dp->ctr.udp_dropped, 1, memory_order_relaxed);
				run_sess = NULL;
				continue;
			}
			run_sess = s;
			touch(w, s);
			w->tx_iov[run] = (struct iovec){ .iov_base = w->rx_iov[i].iov_base,
							 .iov_len = w->rx[i].msg_len };
			w->tx[run].msg_hdr = (struct msghdr){ .msg_iov = &w->tx_iov[run], .msg_iovlen = 1 };
			run++;
		}
		if (run)
			send_batch(w, run_sess->fd, run);
		if (n < US_UDP_BATCH)
			return;
	}
}

void us_udp_reply(struct us_worker *w, struct us_sess *s)
{
	int n;

	if (s->dead)
		return;
	rx_prepare(w, false);
	n = recvmmsg(s->fd, w->rx, US_UDP_BATCH, MSG_DONTWAIT, NULL);
	if (n < 0) {
		if (errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) {
			/* The endpoint is not there: count it, move on the next datagram. */
			us_svc_failed(s->ep, errno, w->now_ns);
			s->broken = true;
		}
		return;
	}
	if (n > 0 && s->ep)
		us_svc_succeeded(s->ep);
	for (int i = 0; i < n; i++) {
		w->tx_iov[i] = (struct iovec){ .iov_base = w->rx_iov[i].iov_base,
					       .iov_len = w->rx[i].msg_len };
		w->tx[i].msg_hdr = (struct msghdr){
			.msg_iov = &w->tx_iov[i],
			.msg_iovlen = 1,
			.msg_name = &s->client,
			.msg_namelen = s->clen,
		};
	}
	touch(w, s);
	send_batch(w, s->wl->fd, (unsigned)n);
}

void us_udp_tick(struct us_worker *w, bool scan_removed)
{
	struct us_link *it, *next;

	/* Oldest first: stop at the first session that is still fresh. */
	while (!us_list_empty(&w->sessions)) {
		struct us_sess *s = us_container_of(w->sessions.next, struct us_sess, lru);

		if (s->last_ns + w->dp->udp_timeout_ns > w->now_ns)
			break;
		sess_close(w, s);
	}
	if (!scan_removed)
		return;
	/* Sessions of a removed endpoint end now (not after a grace period): no blackhole. */
	for (it = w->sessions.next; it != &w->sessions; it = next) {
		struct us_sess *s = us_container_of(it, struct us_sess, lru);

		next = it->next;
		if (s->ep && atomic_load_explicit(&s->ep->removed, memory_order_relaxed))
			sess_close(w, s);
	}
}

/*
 * Out of file descriptors: UDP sessions are soft state (a client's next
 * datagram opens a new one), so the oldest go first to make room for
 * connections.  Returns how many were closed.
 */
size_t us_udp_shed(struct us_worker *w, size_t max)
{
	size_t n = 0;

	while (n < max && !us_list_empty(&w->sessions)) {
		sess_close(w, us_container_of(w->sessions.next, struct us_sess, lru));
		n++;
	}
	if (n)
		atomic_fetch_add_explicit(&w->dp->ctr.udp_shed, n, memory_order_relaxed);
	return n;
}

void us_udp_close_listener(struct us_worker *w, struct us_wl *wl)
{
	struct us_link *it, *next;

	for (it = w->sessions.next; it != &w->sessions; it = next) {
		struct us_sess *s = us_container_of(it, struct us_sess, lru);

		next = it->next;
		if (s->wl == wl)
			sess_close(w, s);
	}
}

void us_udp_done(struct us_worker *w)
{
	while (!us_list_empty(&w->sessions))
		sess_close(w, us_container_of(w->sessions.next, struct us_sess, lru));
	us_udp_free_graveyard(w);
	free(w->rx);
	free(w->tx);
	free(w->rx_iov);
	free(w->tx_iov);
	free(w->rx_names);
	free(w->bufs);
	us_sess_table_done(&w->sessions_by_client);
}
