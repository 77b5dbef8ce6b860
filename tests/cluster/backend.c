/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kr-backend: the server that stands in for a pod in the test cluster
 * (tests/cluster/lib.sh).  One process serves any number of TCP and UDP
 * ports from one epoll loop and answers every request with one line,
 *
 *     pod=NAME client=IP:PORT local=IP:PORT
 *
 * so a test sees which endpoint a service proxy picked and which addresses
 * the packet carried when it arrived (the client address shows whether it
 * was masqueraded, the local one which VIP or pod IP it was sent to).
 *
 * TCP: the client speaks first.  If its first bytes are an HTTP request the
 * connection is HTTP/1.1 (keep-alive, one request at a time, the line as the
 * body) so wrk/ab/curl work; any other bytes, or a half-close with no bytes,
 * get the bare line, after which the server half-closes, discards what is
 * left until the client closes, and closes (so no unread data turns the
 * close into a RST).  A client that sends nothing gets the line anyway after
 * --greet-ms (default 1000 ms), so a plain "nc IP PORT" works too.
 * A first line "reset" is answered with a RST instead (SO_LINGER 0), so a
 * test sees whether a proxy passes a reset on as a reset.
 * UDP: every datagram is answered with the line, sent from the address the
 * datagram was sent to (IP_PKTINFO), or a NATed reply would not match.
 *
 * Bounded: at most --max-conns connections (accepting pauses at the limit),
 * fixed buffers per connection, idle connections closed after --idle-ms.
 * SIGTERM or SIGINT closes everything and exits 0.  It must not depend on
 * anything in the kroute tree: it is a test fixture, not a kroute module.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* memmem, accept4; meson passes it, a bare cc may not */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 64
#define LINE_MAX_LEN 256
#define IN_BUF 8192
#define OUT_BUF 1024
#define DRAIN_MS 1000
#define ACCEPT_BATCH 64
#define UDP_BATCH 64
#define MAX_BODY (1u << 20)
#define SWEEP_MS 50

enum item_kind { ITEM_SIGNAL, ITEM_TCP_LISTEN, ITEM_UDP, ITEM_CONN };

/* First member of everything registered with epoll, so data.ptr says what it is. */
struct item {
	enum item_kind kind;
	int fd;
};

struct listener {
	struct item it;
	uint16_t port;
	int family;
};

enum conn_state {
	CONN_NEW,	/* accepted, protocol not known yet */
	CONN_LINE,	/* writing the bare line */
	CONN_HTTP,	/* reading requests or writing a response */
	CONN_DRAIN,	/* our side is shut; discarding until the peer closes */
};

struct conn {
	struct item it;
	enum conn_state state;
	bool peer_eof;
	bool keep_alive;	/* HTTP: keep the connection after this response */
	bool close_after;	/* write out[], then half-close and drain */
	bool want_out;		/* registered for EPOLLOUT instead of EPOLLIN */
	uint64_t deadline;	/* CLOCK_MONOTONIC ms */
	size_t body_left;	/* HTTP request body still to discard */
	size_t in_len;
	size_t out_len, out_off;
	struct conn *prev, *next;
	char line[LINE_MAX_LEN];
	char in[IN_BUF];
	char out[OUT_BUF];
};

struct server {
	const char *name;
	int epfd;
	struct item sig;
	struct listener *lst;
	size_t n_lst;
	struct conn *conns;	/* owned, doubly linked */
	size_t n_conns;
	size_t max_conns;
	bool accept_paused;
	uint64_t next_sweep;
	unsigned greet_ms, idle_ms;
	unsigned long n_tcp, n_http, n_udp, n_udp_dropped;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* "IP:PORT", or "[IP6]:PORT"; a v4-mapped IPv6 address is printed as IPv4. */
static void fmt_addr(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s4->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], ip, sizeof(ip));
			snprintf(buf, len, "%s:%u", ip, ntohs(s6->sin6_port));
		} else {
			inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
			snprintf(buf, len, "[%s]:%u", ip, ntohs(s6->sin6_port));
		}
	} else {
		snprintf(buf, len, "?");
	}
}

static void make_line(const struct server *srv, const struct sockaddr_storage *peer,
		      const struct sockaddr_storage *local, char *buf, size_t len)
{
	char p[INET6_ADDRSTRLEN + 16], l[INET6_ADDRSTRLEN + 16];

	fmt_addr(peer, p, sizeof(p));
	fmt_addr(local, l, sizeof(l));
	snprintf(buf, len, "pod=%s client=%s local=%s\n", srv->name, p, l);
}

static int ep_set(struct server *srv, int op, struct item *it, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = it };

	return epoll_ctl(srv->epfd, op, it->fd, &ev);
}

static void conn_free(struct server *srv, struct conn *c)
{
	/* Closing the fd also removes it from the epoll set. */
	close(c->it.fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	srv->n_conns--;
	if (srv->accept_paused && srv->n_conns < srv->max_conns) {
		for (size_t i = 0; i < srv->n_lst; i++)
			if (srv->lst[i].it.kind == ITEM_TCP_LISTEN)
				(void)ep_set(srv, EPOLL_CTL_MOD, &srv->lst[i].it, EPOLLIN);
		srv->accept_paused = false;
	}
}

/* Registers for reading or for writing, never both: reading while a
 * response is pending would spin on a full input buffer. */
static int conn_want(struct server *srv, struct conn *c, bool out)
{
	if (c->want_out == out)
		return 0;
	c->want_out = out;
	return ep_set(srv, EPOLL_CTL_MOD, &c->it, out ? EPOLLOUT : EPOLLIN);
}

static void conn_queue(struct conn *c, const char *data, size_t len)
{
	if (len > sizeof(c->out) - c->out_len)
		len = sizeof(c->out) - c->out_len;
	memcpy(c->out + c->out_len, data, len);
	c->out_len += len;
}

/* Returns 1 when everything queued is written, 0 when the socket is full, -1 on error. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->it.fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
		}
		c->out_off += (size_t)n;
	}
	c->out_off = c->out_len = 0;
	return 1;
}

static bool is_http_start(const char *buf, size_t len, bool *ret_undecided)
{
	static const char *const methods[] = {
		"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ",
	};

	*ret_undecided = false;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		size_t ml = strlen(methods[i]);

		if (len >= ml && !memcmp(buf, methods[i], ml))
			return true;
		if (len < ml && !memcmp(buf, methods[i], len))
			*ret_undecided = true;
	}
	return false;
}

/* Case-insensitive search for token in a comma-separated header value. */
static bool has_token(const char *v, size_t vlen, const char *tok)
{
	size_t tl = strlen(tok);

	for (size_t i = 0; i + tl <= vlen; i++) {
		if (strncasecmp(v + i, tok, tl))
			continue;
		if ((i == 0 || v[i - 1] == ' ' || v[i - 1] == ',' || v[i - 1] == '\t') &&
		    (i + tl == vlen || v[i + tl] == ' ' || v[i + tl] == ',' || v[i + tl] == '\r'))
			return true;
	}
	return false;
}

static void http_respond(struct server *srv, struct conn *c, int status, const char *reason,
			 bool head)
{
	char hdr[256];
	const char *body = status == 200 ? c->line : "";
	size_t blen = strlen(body);
	int n;

	n = snprintf(hdr, sizeof(hdr),
		     "HTTP/1.1 %d %s\r\nServer: kr-backend\r\nContent-Type: text/plain\r\n"
		     "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
		     status, reason, blen, c->keep_alive ? "keep-alive" : "close");
	conn_queue(c, hdr, (size_t)n);
	if (!head)
		conn_queue(c, body, blen);
	if (!c->keep_alive)
		c->close_after = true;
	if (status == 200)
		srv->n_http++;
}

/*
 * Parses one complete request from the front of c->in, queues its response
 * and consumes it.  Returns 1 if a response was queued, 0 if more bytes are
 * needed.  Malformed or unsupported requests get an error status and close.
 */
static int http_step(struct server *srv, struct conn *c)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	char *p, *eol, *sp1, *sp2;
	size_t hlen, used;
	bool head, http10, conn_close = false, conn_keep = false;
	unsigned long long clen = 0;

	if (!end) {
		if (c->in_len == sizeof(c->in)) {
			c->keep_alive = false;
			http_respond(srv, c, 431, "Request Header Fields Too Large", false);
			c->in_len = 0;
			return 1;
		}
		return 0;
	}
	hlen = (size_t)(end - c->in) + 4;
	*end = '\0';
	eol = strstr(c->in, "\r\n");
	if (eol)
		*eol = '\0';
	sp1 = strchr(c->in, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(sp2 + 1, "HTTP/1.", 7)) {
		c->keep_alive = false;
		http_respond(srv, c, 400, "Bad Request", false);
		c->in_len = 0;
		return 1;
	}
	head = (size_t)(sp1 - c->in) == 4 && !memcmp(c->in, "HEAD", 4);
	http10 = !strcmp(sp2 + 1, "HTTP/1.0");
	for (p = eol ? eol + 2 : end; p < end; p = eol + 2) {
		char *colon, *v;

		eol = strstr(p, "\r\n");
		if (!eol)
			eol = end;
		*eol = '\0';
		colon = strchr(p, ':');
		if (!colon)
			continue;
		for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
			;
		if ((size_t)(colon - p) == 10 && !strncasecmp(p, "connection", 10)) {
			conn_close |= has_token(v, strlen(v), "close");
			conn_keep |= has_token(v, strlen(v), "keep-alive");
		} else if ((size_t)(colon - p) == 14 && !strncasecmp(p, "content-length", 14)) {
			char *e;

			errno = 0;
			clen = strtoull(v, &e, 10);
			if (errno || e == v || clen > MAX_BODY)
				clen = ULLONG_MAX;
		} else if ((size_t)(colon - p) == 17 && !strncasecmp(p, "transfer-encoding", 17)) {
			clen = ULLONG_MAX - 1;
		}
		if (eol == end)
			break;
	}
	c->keep_alive = http10 ? conn_keep && !conn_close : !conn_close;
	if (clen == ULLONG_MAX) {
		c->keep_alive = false;
		http_respond(srv, c, 400, "Bad Request", false);
		c->in_len = 0;
		return 1;
	}
	if (clen == ULLONG_MAX - 1) {
		/* Chunked bodies are not needed by any load tool we use. */
		c->keep_alive = false;
		http_respond(srv, c, 501, "Not Implemented", false);
		c->in_len = 0;
		return 1;
	}
	http_respond(srv, c, 200, "OK", head);

	/* Consume the header, then as much of the body as is buffered. */
	used = hlen;
	c->body_left = (size_t)clen;
	if (c->body_left) {
		size_t take = c->in_len - used < c->body_left ? c->in_len - used : c->body_left;

		used += take;
		c->body_left -= take;
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	return 1;
}

static void conn_to_drain(struct server *srv, struct conn *c)
{
	if (c->peer_eof) {
		conn_free(srv, c);
		return;
	}
	(void)shutdown(c->it.fd, SHUT_WR);
	c->state = CONN_DRAIN;
	c->deadline = now_ms() + DRAIN_MS;
	if (conn_want(srv, c, false) < 0)
		conn_free(srv, c);
}

/*
 * Writes what is queued, then decides what comes next.  Every path that
 * queues output ends here.  Frees c when the connection is over.
 */
static void conn_progress(struct server *srv, struct conn *c)
{
	for (;;) {
		int r = conn_flush(c);

		if (r < 0) {
			conn_free(srv, c);
			return;
		}
		if (r == 0) {
			if (conn_want(srv, c, true) < 0)
				conn_free(srv, c);
			return;
		}
		if (c->close_after || c->state == CONN_LINE) {
			conn_to_drain(srv, c);
			return;
		}
		if (c->state != CONN_HTTP)
			break;
		/* Pipelined requests already buffered: answer the next one. */
		if (c->body_left || !c->in_len || !http_step(srv, c))
			break;
	}
	if (c->peer_eof) {
		conn_free(srv, c);
		return;
	}
	c->deadline = now_ms() + srv->idle_ms;
	if (conn_want(srv, c, false) < 0)
		conn_free(srv, c);
}

static void conn_send_line(struct server *srv, struct conn *c)
{
	c->state = CONN_LINE;
	c->in_len = 0;
	conn_queue(c, c->line, strlen(c->line));
	srv->n_tcp++;
	conn_progress(srv, c);
}

/* The client asked for a reset: close with SO_LINGER 0, which sends a RST. */
static void conn_reset(struct server *srv, struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	(void)setsockopt(c->it.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	conn_free(srv, c);
}

static void conn_readable(struct server *srv, struct conn *c)
{
	for (;;) {
		char scratch[4096];
		char *dst = scratch;
		size_t room = sizeof(scratch);
		ssize_t n;

		if (c->state == CONN_NEW || c->state == CONN_HTTP) {
			dst = c->in + c->in_len;
			room = sizeof(c->in) - c->in_len;
			if (!room)
				break;
		}
		n = recv(c->it.fd, dst, room, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_free(srv, c);
			return;
		}
		if (n == 0) {
			c->peer_eof = true;
			break;
		}
		if (c->state == CONN_DRAIN)
			continue;
		if (c->state == CONN_HTTP && c->body_left) {
			/* Discard request body bytes as they arrive. */
			size_t take = (size_t)n < c->body_left ? (size_t)n : c->body_left;

			memmove(dst, dst + take, (size_t)n - take);
			n -= (ssize_t)take;
			c->body_left -= take;
		}
		c->in_len += (size_t)n;
	}

	switch (c->state) {
	case CONN_DRAIN:
		if (c->peer_eof)
			conn_free(srv, c);
		return;
	case CONN_NEW: {
		bool undecided;

		if (is_http_start(c->in, c->in_len, &undecided)) {
			c->state = CONN_HTTP;
		} else if (undecided && c->in_len && !c->peer_eof) {
			return;	/* a prefix of a method: wait for more */
		} else if (c->in_len >= 6 && !memcmp(c->in, "reset\n", 6)) {
			conn_reset(srv, c);
			return;
		} else if (c->in_len || c->peer_eof) {
			conn_send_line(srv, c);
			return;
		} else {
			return;
		}
	}
		/* fall through */
	case CONN_HTTP:
		c->deadline = now_ms() + srv->idle_ms;
		if (!c->body_left && c->in_len && http_step(srv, c)) {
			conn_progress(srv, c);
			return;
		}
		if (c->peer_eof)
			conn_free(srv, c);
		return;
	case CONN_LINE:
		return;
	}
}

static void tcp_accept(struct server *srv, struct listener *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage peer, local;
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		struct conn *c;
		int fd;

		if (srv->n_conns >= srv->max_conns) {
			for (size_t j = 0; j < srv->n_lst; j++)
				if (srv->lst[j].it.kind == ITEM_TCP_LISTEN)
					(void)ep_set(srv, EPOLL_CTL_MOD, &srv->lst[j].it, 0);
			srv->accept_paused = true;
			return;
		}
		fd = accept4(l->it.fd, (struct sockaddr *)&peer, &plen,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				fprintf(stderr, "kr-backend: accept: %s\n", strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c || getsockname(fd, (struct sockaddr *)&local, &llen) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->it.kind = ITEM_CONN;
		c->it.fd = fd;
		c->state = CONN_NEW;
		c->deadline = now_ms() + (srv->greet_ms ? srv->greet_ms : srv->idle_ms);
		make_line(srv, &peer, &local, c->line, sizeof(c->line));
		if (ep_set(srv, EPOLL_CTL_ADD, &c->it, EPOLLIN) < 0) {
			free(c);
			close(fd);
			continue;
		}
		c->next = srv->conns;
		if (c->next)
			c->next->prev = c;
		srv->conns = c;
		srv->n_conns++;
	}
}

static void udp_readable(struct server *srv, struct listener *l)
{
	for (int i = 0; i < UDP_BATCH; i++) {
		char buf[2048];
		union {
			char v4[CMSG_SPACE(sizeof(struct in_pktinfo))];
			char v6[CMSG_SPACE(sizeof(struct in6_pktinfo))];
			struct cmsghdr align;
		} cbuf, obuf;
		struct sockaddr_storage peer, local;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = {
			.msg_name = &peer, .msg_namelen = sizeof(peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = &cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct msghdr out = { 0 };
		struct cmsghdr *cm;
		char line[LINE_MAX_LEN];
		bool have_dst = false;
		ssize_t n;

		n = recvmsg(l->it.fd, &msg, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;	/* EAGAIN, or an ICMP error for an earlier reply */
		}
		memset(&local, 0, sizeof(local));
		memset(&obuf, 0, sizeof(obuf));
		local.ss_family = (sa_family_t)l->family;
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;
				struct sockaddr_in *s4 = (struct sockaddr_in *)&local;
				struct cmsghdr *oc;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				s4->sin_addr = pi.ipi_addr;
				/* ipi_spec_dst is the kernel's choice of reply source:
				 * the destination itself when it was unicast. */
				pi.ipi_ifindex = 0;
				out.msg_control = &obuf;
				out.msg_controllen = CMSG_SPACE(sizeof(pi));
				oc = CMSG_FIRSTHDR(&out);
				oc->cmsg_level = IPPROTO_IP;
				oc->cmsg_type = IP_PKTINFO;
				oc->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(oc), &pi, sizeof(pi));
				have_dst = true;
			} else if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;
				struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&local;
				struct cmsghdr *oc;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				s6->sin6_addr = pi.ipi6_addr;
				have_dst = true;
				if (IN6_IS_ADDR_MULTICAST(&pi.ipi6_addr))
					continue;
				out.msg_control = &obuf;
				out.msg_controllen = CMSG_SPACE(sizeof(pi));
				oc = CMSG_FIRSTHDR(&out);
				oc->cmsg_level = IPPROTO_IPV6;
				oc->cmsg_type = IPV6_PKTINFO;
				oc->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(oc), &pi, sizeof(pi));
			}
		}
		if (!have_dst) {
			socklen_t ll = sizeof(local);

			(void)getsockname(l->it.fd, (struct sockaddr *)&local, &ll);
		}
		if (local.ss_family == AF_INET)
			((struct sockaddr_in *)&local)->sin_port = htons(l->port);
		else
			((struct sockaddr_in6 *)&local)->sin6_port = htons(l->port);
		make_line(srv, &peer, &local, line, sizeof(line));
		iov.iov_base = line;
		iov.iov_len = strlen(line);
		out.msg_name = &peer;
		out.msg_namelen = msg.msg_namelen;
		out.msg_iov = &iov;
		out.msg_iovlen = 1;
		if (sendmsg(l->it.fd, &out, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			srv->n_udp_dropped++;	/* UDP is best effort; never block */
		else
			srv->n_udp++;
	}
}

/*
 * Closes connections whose deadline passed and greets silent new ones.
 * Runs at most every SWEEP_MS: deadlines are coarse, and scanning every
 * connection after every event would cost O(connections) per request
 * under load.
 */
static void sweep(struct server *srv)
{
	uint64_t now = now_ms();
	struct conn *c, *next;

	if (now < srv->next_sweep)
		return;
	srv->next_sweep = now + SWEEP_MS;
	for (c = srv->conns; c; c = next) {
		next = c->next;
		if (c->deadline > now)
			continue;
		if (c->state == CONN_NEW && srv->greet_ms)
			conn_send_line(srv, c);
		else
			conn_free(srv, c);
	}
}

static int open_listener(struct listener *l, int type, int family, uint16_t port,
			 const char *bind_ip)
{
	struct sockaddr_storage ss;
	socklen_t slen;
	int one = 1;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (bind_ip && inet_pton(AF_INET, bind_ip, &s4->sin_addr) != 1)
			return -EINVAL;
		slen = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (bind_ip && inet_pton(AF_INET6, bind_ip, &s6->sin6_addr) != 1)
			return -EINVAL;
		slen = sizeof(*s6);
	}
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		if (family == AF_INET)
			(void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		else
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	}
	if (bind(fd, (struct sockaddr *)&ss, slen) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
		int r = -errno;

		close(fd);
		return r;
	}
	l->it.kind = type == SOCK_STREAM ? ITEM_TCP_LISTEN : ITEM_UDP;
	l->it.fd = fd;
	l->port = port;
	l->family = family;
	return 0;
}

static int parse_ports(const char *s, uint16_t *ports, size_t *n)
{
	char *copy = strdup(s), *save = NULL, *tok;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		unsigned long v;

		errno = 0;
		v = strtoul(tok, &end, 10);
		if (errno || *end || end == tok || v == 0 || v > 65535 || *n >= MAX_PORTS) {
			r = -EINVAL;
			break;
		}
		ports[(*n)++] = (uint16_t)v;
	}
	free(copy);
	return r;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kr-backend --name NAME [--tcp PORT[,PORT...]] [--udp PORT[,PORT...]]\n"
		"                  [--bind IP] [--ready-file PATH] [--max-conns N]\n"
		"                  [--idle-ms MS] [--greet-ms MS]\n"
		"Answers every TCP connection, HTTP request and UDP datagram with\n"
		"  pod=NAME client=IP:PORT local=IP:PORT\n");
}

static int write_ready(const char *path)
{
	char tmp[PATH_MAX];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%ld\n", (long)getpid());
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct server srv = {
		.epfd = -1, .sig = { .fd = -1 },
		.greet_ms = 1000, .idle_ms = 30000, .max_conns = 1024,
	};
	uint16_t tcp[MAX_PORTS], udp[MAX_PORTS];
	size_t n_tcp = 0, n_udp = 0;
	const char *bind_ip = NULL, *ready = NULL;
	struct epoll_event evs[64];
	struct rlimit rl;
	sigset_t mask;
	bool running = true;
	int rc = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long u;
		bool ok = true;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--name")) {
			srv.name = v;
		} else if (!strcmp(a, "--tcp")) {
			ok = parse_ports(v, tcp, &n_tcp) == 0;
		} else if (!strcmp(a, "--udp")) {
			ok = parse_ports(v, udp, &n_udp) == 0;
		} else if (!strcmp(a, "--bind")) {
			bind_ip = v;
		} else if (!strcmp(a, "--ready-file")) {
			ready = v;
		} else if (!strcmp(a, "--max-conns")) {
			ok = parse_uint(v, 1000000, &u) == 0 && u;
			srv.max_conns = u;
		} else if (!strcmp(a, "--idle-ms")) {
			ok = parse_uint(v, 3600000, &u) == 0 && u;
			srv.idle_ms = (unsigned)u;
		} else if (!strcmp(a, "--greet-ms")) {
			ok = parse_uint(v, 3600000, &u) == 0;
			srv.greet_ms = (unsigned)u;
		} else {
			ok = false;
		}
		if (!ok) {
			fprintf(stderr, "kr-backend: bad option %s %s\n", a, v);
			usage(stderr);
			return 2;
		}
	}
	if (!srv.name || !*srv.name || strlen(srv.name) > 100 || (!n_tcp && !n_udp)) {
		usage(stderr);
		return 2;
	}

	/* Each connection is one fd: keep the connection limit below the fd limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < srv.max_conns + 64 + 4 * MAX_PORTS)
			srv.max_conns = rl.rlim_cur > 64 + 4 * MAX_PORTS + 1 ?
				rl.rlim_cur - 64 - 4 * MAX_PORTS : 1;
	}

	srv.lst = calloc(2 * (n_tcp + n_udp), sizeof(*srv.lst));
	if (!srv.lst)
		goto out;
	for (size_t i = 0; i < n_tcp + n_udp; i++) {
		bool is_tcp = i < n_tcp;
		uint16_t port = is_tcp ? tcp[i] : udp[i - n_tcp];
		int type = is_tcp ? SOCK_STREAM : SOCK_DGRAM;
		bool bind6 = bind_ip && strchr(bind_ip, ':');
		int r = 0;

		if (!bind6)
			r = open_listener(&srv.lst[srv.n_lst++], type, AF_INET, port, bind_ip);
		if (r < 0) {
			srv.n_lst--;
			fprintf(stderr, "kr-backend: %s port %u: %s\n", is_tcp ? "tcp" : "udp",
				port, strerror(-r));
			goto out;
		}
		if (!bind_ip || bind6) {
			r = open_listener(&srv.lst[srv.n_lst++], type, AF_INET6, port, bind_ip);
			/* No IPv6 in this namespace is fine unless IPv6 was asked for. */
			if (r < 0) {
				srv.n_lst--;
				if (bind6) {
					fprintf(stderr, "kr-backend: %s port %u: %s\n",
						is_tcp ? "tcp" : "udp", port, strerror(-r));
					goto out;
				}
			}
		}
	}

	srv.epfd = epoll_create1(EPOLL_CLOEXEC);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv.sig.kind = ITEM_SIGNAL;
	srv.sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (srv.epfd < 0 || srv.sig.fd < 0 || ep_set(&srv, EPOLL_CTL_ADD, &srv.sig, EPOLLIN) < 0) {
		fprintf(stderr, "kr-backend: epoll/signalfd: %s\n", strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < srv.n_lst; i++) {
		if (ep_set(&srv, EPOLL_CTL_ADD, &srv.lst[i].it, EPOLLIN) < 0) {
			fprintf(stderr, "kr-backend: epoll_ctl: %s\n", strerror(errno));
			goto out;
		}
	}
	if (ready) {
		int r = write_ready(ready);

		if (r < 0) {
			fprintf(stderr, "kr-backend: ready file %s: %s\n", ready, strerror(-r));
			goto out;
		}
	}
	fprintf(stderr, "kr-backend[%ld]: %s ready (%zu sockets)\n", (long)getpid(), srv.name,
		srv.n_lst);

	while (running) {
		int n = epoll_wait(srv.epfd, evs, 64, srv.conns ? SWEEP_MS : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kr-backend: epoll_wait: %s\n", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			struct item *it = evs[i].data.ptr;

			switch (it->kind) {
			case ITEM_SIGNAL: {
				struct signalfd_siginfo si;

				while (read(it->fd, &si, sizeof(si)) == sizeof(si))
					running = false;
				break;
			}
			case ITEM_TCP_LISTEN:
				tcp_accept(&srv, (struct listener *)it);
				break;
			case ITEM_UDP:
				udp_readable(&srv, (struct listener *)it);
				break;
			case ITEM_CONN: {
				struct conn *c = (struct conn *)it;

				/* Handlers free only the connection they were called
				 * for, and an fd has at most one event per batch, so no
				 * event in this batch points to freed memory. */
				if (evs[i].events & EPOLLOUT)
					conn_progress(&srv, c);
				else
					conn_readable(&srv, c);
				break;
			}
			}
		}
		sweep(&srv);
	}
	rc = 0;
	fprintf(stderr, "kr-backend[%ld]: %s exiting: tcp=%lu http=%lu udp=%lu udp_dropped=%lu\n",
		(long)getpid(), srv.name, srv.n_tcp, srv.n_http, srv.n_udp, srv.n_udp_dropped);
out:
	while (srv.conns)
		conn_free(&srv, srv.conns);
	for (size_t i = 0; i < srv.n_lst; i++)
		close(srv.lst[i].it.fd);
	free(srv.lst);
	if (srv.sig.fd >= 0)
		close(srv.sig.fd);
	if (srv.epfd >= 0)
		close(srv.epfd);
	if (ready && rc == 0)
		(void)unlink(ready);
	return rc;
}
