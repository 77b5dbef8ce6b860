/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TCP relay: accept, pick an endpoint, connect (retrying other endpoints,
 * bounded), then move bytes with splice() through one pipe per direction,
 * so payload never enters userspace.  A FIN is forwarded as shutdown(WR)
 * once everything before it has been delivered (half-close); a RST is
 * forwarded as a RST.  A pipe is held only while bytes are in flight and
 * goes back to the worker's pool when empty, so an idle connection costs
 * its two sockets and this struct, a busy one at most US_PIPE_SIZE per
 * direction more.
 */
#include "dataplane/userspace/worker_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/util.h"

#define US_ACCEPT_BATCH 64
#define US_RELAY_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

static int pipe_get(struct us_worker *w, struct us_pipe *p)
{
	int fds[2];

	w->pool_used = true;
	/* Only the fds come and go: the direction's mode stays with the connection. */
	if (w->n_pool) {
		w->n_pool--;
		p->r = w->pool[w->n_pool].r;
		p->w = w->pool[w->n_pool].w;
		p->len = 0;
		return 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	/* Bigger pipes mean fewer syscalls per megabyte; failure only costs speed. */
	(void)fcntl(fds[0], F_SETPIPE_SZ, US_PIPE_SIZE);
	p->r = fds[0];
	p->w = fds[1];
	p->len = 0;
	return 0;
}

static void pipe_put(struct us_worker *w, struct us_pipe *p)
{
	if (p->r < 0)
		return;
	/* Only an empty pipe can be reused; one with bytes left is closed. */
	if (!p->len && w->n_pool < US_PIPE_POOL) {
		w->pool[w->n_pool++] = (struct us_pipe){ .r = p->r, .w = p->w };
	} else {
		close(p->r);
		close(p->w);
	}
	p->r = p->w = -1;
}

/* The direction's pipe, from the pool or new; out of fds, UDP sessions make room first. */
static int pipe_ensure(struct us_worker *w, struct us_pipe *p)
{
	if (p->r >= 0 || pipe_get(w, p) == 0)
		return 0;
	if (!us_worker_fd_exhausted(w, "creating a splice pipe"))
		return -EMFILE;
	return pipe_get(w, p);
}

static void set_linger0(int fd)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
}

void us_tcp_close(struct us_worker *w, struct us_conn *c, bool reset)
{
	if (c->dead)
		return;
	c->dead = true;
	if (reset) {
		set_linger0(c->cfd);
		if (c->bfd >= 0)
			set_linger0(c->bfd);
	}
	close(c->cfd);
	if (c->bfd >= 0)
		close(c->bfd);
	pipe_put(w, &c->up);
	pipe_put(w, &c->down);
	if (c->ep)
		us_svc_release(c->ep);
	c->ep = NULL;
	if (!c->connecting)
		atomic_fetch_sub_explicit(&w->dp->ctr.tcp_active, 1, memory_order_relaxed);
	us_list_del(&c->link);
	us_list_add_tail(&w->graveyard_conns, &c->link);
}

void us_tcp_free_graveyard(struct us_worker *w)
{
	while (!us_list_empty(&w->graveyard_conns)) {
		struct us_conn *c = us_container_of(w->graveyard_conns.next, struct us_conn, link);

		us_list_del(&c->link);
		us_svc_unref(c->svc);
		us_listener_unref(c->l);
		free(c);
	}
}

/* Starts a connect to the next endpoint; false when none is left to try. */
static bool connect_next(struct us_worker *w, struct us_conn *c)
{
	while (c->attempts < US_MAX_ATTEMPTS) {
		struct us_ep *ep = us_svc_pick(c->svc, &c->flow, c->tried, c->attempts, w->now_ns);
		int fd;

		if (!ep)
			return false;
		c->tried[c->attempts++] = ep;
		if (c->attempts > 1)
			atomic_fetch_add_explicit(&w->dp->ctr.tcp_retries, 1, memory_order_relaxed);
		c->spoof = us_want_spoof(w, c->l, c->from_pod, c->from_node, &c->client_addr, ep);
		fd = us_upstream_socket(w, SOCK_STREAM, ep, &c->spoof, &c->client_addr, c->client_port);
		if ((fd == -EMFILE || fd == -ENFILE) &&
		    us_worker_fd_exhausted(w, "connecting to an endpoint"))
			fd = us_upstream_socket(w, SOCK_STREAM, ep, &c->spoof, &c->client_addr,
						c->client_port);
		if (fd < 0) {
			us_svc_release(ep);
			return false;
		}
		if (connect(fd, (struct sockaddr *)&ep->sa, ep->salen) == 0 || errno == EINPROGRESS) {
			c->bfd = fd;
			c->ep = ep;
			c->deadline_ns = w->now_ns + w->dp->connect_timeout_ns;
			if (us_epoll_add(w, fd, US_RELAY_EVENTS, &c->ev_backend) == 0)
				return true;
			/* Not the endpoint's fault: no health record, the next one is tried. */
			c->bfd = -1;
			c->ep = NULL;
			close(fd);
			us_svc_release(ep);
			continue;
		}
		/* Refused at once (a local endpoint without a listener), or worse. */
		us_svc_failed(ep, errno, w->now_ns);
		atomic_fetch_add_explicit(&w->dp->ctr.tcp_connect_failures, 1, memory_order_relaxed);
		close(fd);
		us_svc_release(ep);
	}
	return false;
}

static void conn_new(struct us_worker *w, struct us_wl *wl, int cfd, const struct sockaddr_storage *sa)
{
	struct us_listener *l = wl->l;
	struct us_conn *c;
	struct us_svc *svc = l->svc;
	struct addr local;
	uint16_t lport;

	c = xcalloc(1, sizeof(*c));
	c->ev_client.kind = US_EV_TCP_CLIENT;
	c->ev_backend.kind = US_EV_TCP_BACKEND;
	c->cfd = cfd;
	c->bfd = -1;
	c->up.r = c->up.w = c->down.r = c->down.w = -1;
	c->connecting = true;
	us_list_init(&c->link);
	us_sockaddr_to_addr(sa, &c->client_addr, &c->client_port);
	c->from_pod = us_worker_from_pod(w, &c->client_addr);
	c->from_node = us_snap_is_local(w->snap, &c->client_addr);
	/* externalTrafficPolicy Local: pods and the node itself use every cluster endpoint. */
	if (l->svc_cluster && (c->from_pod || c->from_node))
		svc = l->svc_cluster;
	c->l = l;
	atomic_fetch_add(&l->refs, 1);
	c->svc = svc;
	if (svc)
		us_svc_ref(svc);
	/* Listeners bind one address each, so the flow's destination is the listener's. */
	us_sockaddr_to_addr(&l->sa, &local, &lport);
	c->flow = (struct sched_flow){
		.family = c->client_addr.family,
		.proto = IPPROTO_TCP,
		.sport = c->client_port,
		.dport = lport,
	};
	memcpy(c->flow.saddr, c->client_addr.bytes, sizeof(c->flow.saddr));
	memcpy(c->flow.daddr, local.bytes, sizeof(c->flow.daddr));
	us_list_add_tail(&w->connecting, &c->link);
	atomic_fetch_add_explicit(&w->dp->ctr.tcp_accepted, 1, memory_order_relaxed);
	if (!svc || !connect_next(w, c)) {
		/* No endpoint can take it: reset, the closest a proxy gets to "refused". */
		atomic_fetch_add_explicit(&w->dp->ctr.tcp_no_endpoint, 1, memory_order_relaxed);
		us_tcp_close(w, c, true);
	}
}

void us_tcp_accept(struct us_worker *w, struct us_wl *wl)
{
	for (int i = 0; i < US_ACCEPT_BATCH; i++) {
		struct sockaddr_storage sa;
		socklen_t len = sizeof(sa);
		int fd = accept4(wl->fd, (struct sockaddr *)&sa, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd >= 0) {
			conn_new(w, wl, fd, &sa);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			if (us_worker_fd_exhausted(w, "accepting"))
				continue;
			/*
			 * Free the spare fd to accept and reset every client waiting
			 * in the queue, so each learns at once (resetting only one,
			 * the rest waited a tick each in turn: seconds behind a
			 * burst); then stop polling this listener until the next
			 * tick.  The queue is bounded by the listen backlog.
			 */
			if (w->reserve_fd >= 0) {
				close(w->reserve_fd);
				while ((fd = accept4(wl->fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
					set_linger0(fd);
					close(fd);
				}
				w->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
			}
			if (!wl->paused && wl->fd >= 0) {
				struct epoll_event e = { .events = 0, .data.ptr = &wl->ev };

				/* Not paused, it is polled again at once: the loop spins until fds free up. */
				if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, wl->fd, &e) == 0)
					wl->paused = true;
				else
					us_logq_push(&w->dp->logq, "userspace: worker %u: cannot pause %s: %s",
						     w->idx, wl->l->name, strerror(errno));
			}
		}
		return;
	}
}

/*
 * Small messages (a request, a reply) are copied through the worker's
 * buffer: one recv and one send, and a read shorter than the buffer means
 * the socket is empty, so no third call has to see EAGAIN (a later arrival
 * is a new edge; a FIN already reported must still be read, see fin_seen).
 * What the destination cannot take yet is copied into the pipe (write), so
 * memory stays bounded and order is kept: the pipe always drains first.
 * Returns 0, or a negative errno when the connection must end.
 */
static int copy_small(struct us_worker *w, int src, int dst, struct us_pipe *p, bool *src_eof,
		      uint64_t *moved)
{
	while (!p->bulk && !p->len && !*src_eof) {
		ssize_t n = recv(src, w->copy_buf, US_COPY_SIZE, MSG_DONTWAIT), m;

		if (n == 0) {
			*src_eof = true;
			break;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		m = send(dst, w->copy_buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (m < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -errno;
			m = 0;
		}
		*moved += (uint64_t)m;
		if (m < n) {
			ssize_t k;

			if (pipe_ensure(w, p) < 0)
				return -EMFILE;
			/*
			 * The pipe is empty and holds far more than one buffer: all of
			 * it fits.  write(), not vmsplice(): vmsplice queues references
			 * to the worker's buffer, which the next recv overwrites while
			 * the bytes still wait in the pipe (corrupted streams, found
			 * by the stress test's byte-exact transfers).
			 */
			do
				k = write(p->w, w->copy_buf + m, (size_t)(n - m));
			while (k < 0 && errno == EINTR);
			if (k != n - m)
				return k < 0 ? -errno : -EIO;
			p->len += (uint32_t)k;
			return 0;
		}
		if (n == US_COPY_SIZE)
			p->bulk = true; /* a full buffer: bulk data, splice it from now on */
		else if (!p->fin_seen)
			return 0;
	}
	return 0;
}

/*
 * Moves what is readable on src to dst, through the pipe (splice) for bulk
 * data and through the copy buffer for small messages, until neither side
 * moves; forwards the FIN once everything before it is delivered.
 * Returns 0, or a negative errno when the connection must end.
 */
static int pump(struct us_worker *w, int src, int dst, struct us_pipe *p, bool *src_eof,
		bool *dst_shut)
{
	uint64_t moved = 0;
	int ret = copy_small(w, src, dst, p, src_eof, &moved);

	if (ret || (!p->bulk && !p->len))
		goto out;
	if (!*src_eof && pipe_ensure(w, p) < 0) {
		ret = -EMFILE;
		goto out;
	}
	for (;;) {
		bool progress = false;

		if (!*src_eof && p->len < US_PIPE_SIZE && p->r >= 0) {
			ssize_t n = splice(src, NULL, p->w, NULL, US_PIPE_SIZE - p->len,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

			if (n > 0) {
				p->len += (uint32_t)n;
				progress = true;
				/* Little came: back to copying small messages at the next event. */
				if (n < US_COPY_SIZE)
					p->bulk = false;
			} else if (n == 0) {
				*src_eof = true;
				progress = true;
			} else if (errno != EAGAIN && errno != EINTR) {
				ret = -errno;
				break;
			}
		}
		if (p->len) {
			ssize_t n = splice(p->r, NULL, dst, NULL, p->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

			if (n > 0) {
				p->len -= (uint32_t)n;
				moved += (uint64_t)n;
				progress = true;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				ret = -errno;
				break;
			}
		}
		if (*src_eof && !p->len && !*dst_shut) {
			shutdown(dst, SHUT_WR);
			*dst_shut = true;
		}
		if (!progress)
			break;
	}
out:
	if (!ret && *src_eof && !p->len && !*dst_shut) {
		/* Everything before the FIN is delivered: forward the half-close. */
		shutdown(dst, SHUT_WR);
		*dst_shut = true;
	}
	if (moved)
		atomic_fetch_add_explicit(&w->bytes, moved, memory_order_relaxed);
	if (!p->len)
		pipe_put(w, p);
	return ret;
}

/*
 * Runs the directions an event can move: "up" (client -> backend) when the
 * client is readable or the backend writable, "down" the other way.  Each
 * pump runs to EAGAIN on the side that stopped it, and that side's next
 * edge resumes it, so skipping the other direction loses nothing and saves
 * its EAGAIN splice per event (a keep-alive request is four events).
 */
static void relay(struct us_worker *w, struct us_conn *c, bool up, bool down)
{
	int r = 0;

	if (up)
		r = pump(w, c->cfd, c->bfd, &c->up, &c->client_eof, &c->backend_shut);
	if (!r && down)
		r = pump(w, c->bfd, c->cfd, &c->down, &c->backend_eof, &c->client_shut);
	if (r) {
		/* A reset on one side resets the other; other errors just close. */
		us_tcp_close(w, c, r == -ECONNRESET || r == -EPIPE);
		return;
	}
	if (c->backend_shut && c->client_shut)
		us_tcp_close(w, c, false);
}

/* events: what the backend reported with its connect completion (data may have come with it). */
static void connected(struct us_worker *w, struct us_conn *c, uint32_t events)
{
	us_svc_succeeded(c->ep);
	c->connecting = false;
	atomic_fetch_add_explicit(&w->dp->ctr.tcp_active, 1, memory_order_relaxed);
	us_list_del(&c->link);
	us_list_add_tail(&w->relaying, &c->link);
	if (us_epoll_add(w, c->cfd, US_RELAY_EVENTS, &c->ev_client) < 0) {
		us_tcp_close(w, c, true);
		return;
	}
	/*
	 * The client may have sent (and even closed) while we connected: no
	 * edge will say so.  The backend's own bytes (a server that speaks
	 * first) came with this event's EPOLLIN, or will come as a new edge.
	 */
	relay(w, c, true, events & (EPOLLIN | EPOLLRDHUP));
}

static void connect_failed(struct us_worker *w, struct us_conn *c, int err)
{
	us_svc_failed(c->ep, err, w->now_ns);
	atomic_fetch_add_explicit(&w->dp->ctr.tcp_connect_failures, 1, memory_order_relaxed);
	us_svc_release(c->ep);
	c->ep = NULL;
	close(c->bfd);
	c->bfd = -1;
	if (!connect_next(w, c)) {
		atomic_fetch_add_explicit(&w->dp->ctr.tcp_no_endpoint, 1, memory_order_relaxed);
		us_tcp_close(w, c, true);
	}
}

void us_tcp_event(struct us_worker *w, struct us_conn *c, bool backend, uint32_t events)
{
	bool readable, writable;

	if (c->dead)
		return;
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!backend || !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		/* Writable without an error is connected: SO_ERROR is read only when something failed. */
		if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) == EPOLLOUT) {
			connected(w, c, events);
			return;
		}
		if (getsockopt(c->bfd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (!err && (events & EPOLLOUT))
			connected(w, c, events);
		else
			connect_failed(w, c, err ? err : ECONNREFUSED);
		return;
	}
	/* A FIN (or worse) is pending on this socket: its reader must go on to EOF. */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (backend)
			c->down.fin_seen = true;
		else
			c->up.fin_seen = true;
	}
	if (events & (EPOLLERR | EPOLLHUP)) {
		relay(w, c, true, true);
		return;
	}
	/*
	 * Readable client or writable backend moves bytes up; the mirror image
	 * moves them down.  Writable matters only to a direction with bytes
	 * waiting in its pipe: every data arrival also reports EPOLLOUT, and
	 * pumping the idle other direction on it would cost a recv that sees
	 * EAGAIN per event (a quarter of the bulk path's system calls).  That
	 * direction's own source reports its next bytes as a new edge.
	 */
	readable = events & (EPOLLIN | EPOLLRDHUP);
	writable = events & EPOLLOUT;
	relay(w, c, backend ? writable && c->up.len : readable,
	      backend ? readable : writable && c->down.len);
}

void us_tcp_tick(struct us_worker *w, bool scan_removed)
{
	struct us_link *it, *next;

	/* The pool serves bursts; once new connections stop, its fds go back. */
	if (!w->pool_used)
		while (w->n_pool) {
			w->n_pool--;
			close(w->pool[w->n_pool].r);
			close(w->pool[w->n_pool].w);
		}
	w->pool_used = false;

	for (it = w->connecting.next; it != &w->connecting; it = next) {
		struct us_conn *c = us_container_of(it, struct us_conn, link);

		next = it->next;
		/* c either stays where it is (next attempt) or leaves the list: next stays valid. */
		if (c->ep && w->now_ns >= c->deadline_ns)
			connect_failed(w, c, ETIMEDOUT);
	}
	if (!scan_removed)
		return;
	for (it = w->relaying.next; it != &w->relaying; it = next) {
		struct us_conn *c = us_container_of(it, struct us_conn, link);

		next = it->next;
		if (c->ep && us_ep_grace_over(c->ep, w->dp->grace_ns, w->now_ns)) {
			atomic_fetch_add_explicit(&w->dp->ctr.tcp_grace_closed, 1, memory_order_relaxed);
			us_tcp_close(w, c, false);
		}
	}
}

void us_tcp_done(struct us_worker *w)
{
	while (!us_list_empty(&w->connecting))
		us_tcp_close(w, us_container_of(w->connecting.next, struct us_conn, link), true);
	while (!us_list_empty(&w->relaying))
		us_tcp_close(w, us_container_of(w->relaying.next, struct us_conn, link), false);
	us_tcp_free_graveyard(w);
	while (w->n_pool) {
		w->n_pool--;
		close(w->pool[w->n_pool].r);
		close(w->pool[w->n_pool].w);
	}
}
