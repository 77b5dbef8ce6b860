/* SPDX-License-Identifier: Apache-2.0 */
/* An HTTP server in the agent's loop; see httpd.h. */
#include "http/httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/loop.h"
#include "core/util.h"

#define NS_PER_MS 1000000ull
/*
 * Bounds on what a client can hold: health checkers and Prometheus open a
 * connection or two each; an idle one is closed after the timeout.
 */
#define HTTP_MAX_CONNECTIONS 64
#define HTTP_IDLE_TIMEOUT_S 30

struct http_server {
	struct loop *loop;
	struct MHD_Daemon *mhd;
	struct loop_fd *reg;        /* MHD's epoll fd in the loop */
	struct loop_timer *tm;      /* MHD's next timeout (idle connections, pending work) */
	http_handler_fn fn;
	void *userdata;
	uint16_t port;
};

void http_reply_header(struct http_reply *reply, const char *name, const char *fmt, ...)
{
	struct http_header *h;
	va_list ap;

	if (reply->n_headers == HTTP_MAX_HEADERS)
		abort(); /* a handler's programming error, not input */
	h = &reply->headers[reply->n_headers++];
	h->name = name;
	va_start(ap, fmt);
	vsnprintf(h->value, sizeof(h->value), fmt, ap);
	va_end(ap);
}

/*
 * MHD calls this several times per request: first with the headers (the
 * marker in *req_state tells the calls apart), then once per piece of body
 * (dropped), then once more with nothing left, where the reply is queued.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload_data,
				  size_t *upload_data_size, void **req_state)
{
	static int headers_seen;
	struct http_server *s = cls;
	struct http_reply reply = { .status = 200 };
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!*req_state) {
		*req_state = &headers_seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	s->fn(method, url, &reply, s->userdata);
	resp = MHD_create_response_from_buffer(reply.body.len, reply.body.len ? reply.body.p : "",
					       MHD_RESPMEM_MUST_COPY);
	sbuf_free(&reply.body);
	if (!resp)
		return MHD_NO; /* out of memory in MHD: it closes the connection */
	if (reply.content_type)
		(void)MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, reply.content_type);
	for (size_t i = 0; i < reply.n_headers; i++)
		(void)MHD_add_response_header(resp, reply.headers[i].name, reply.headers[i].value);
	ret = MHD_queue_response(conn, reply.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* Lets MHD do what is ready, then arms the timer for what it will have to do next. */
static void service(struct http_server *s)
{
	MHD_UNSIGNED_LONG_LONG ms;

	(void)MHD_run(s->mhd);
	if (MHD_get_timeout(s->mhd, &ms) == MHD_YES)
		loop_timer_arm(s->tm, mono_ns() + (uint64_t)ms * NS_PER_MS);
	else
		loop_timer_disarm(s->tm);
}

static void on_epoll_fd(struct loop *l, int fd, uint32_t events, void *userdata)
{
	service(userdata);
}

static void on_timeout(struct loop *l, struct loop_timer *t, void *userdata)
{
	service(userdata);
}

/* A listening socket on addr:port (non-blocking, as MHD's epoll mode needs).  fd or -errno. */
static int listen_on(const struct addr *addr, uint16_t port, bool dual_stack)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	int fd, one = 1, zero = 0;

	if (addr->family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		memcpy(&sin6->sin6_addr, addr->bytes, 16);
		len = sizeof(*sin6);
	} else if (addr->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		memcpy(&sin->sin_addr, addr->bytes, 4);
		len = sizeof(*sin);
	} else {
		return -EAFNOSUPPORT;
	}
	fd = socket(addr->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* As Go's listeners: a restarted agent binds again while old connections linger. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (dual_stack && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/*
 * Go (and so kube-proxy) listens on "0.0.0.0:port" with one dual-stack
 * socket, [::] without IPV6_V6ONLY, so IPv6 clients reach it too.  The
 * same here, falling back to IPv4 alone where the netns has no IPv6.
 */
static int wildcard_listen(const struct addr *addr, uint16_t port)
{
	static const struct addr any4 = { .family = AF_INET }, any6 = { .family = AF_INET6 };
	int fd;

	if (!addr_eq(addr, &any4))
		return listen_on(addr, port, false);
	fd = listen_on(&any6, port, true);
	if (fd == -EAFNOSUPPORT || fd == -EADDRNOTAVAIL)
		fd = listen_on(&any4, port, false);
	return fd;
}

static uint16_t local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return 0;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int http_server_new(struct loop *l, const struct addr *addr, uint16_t port, http_handler_fn fn,
		    void *userdata, struct http_server **ret)
{
	const union MHD_DaemonInfo *info;
	struct http_server *s;
	int fd, r;

	fd = wildcard_listen(addr, port);
	if (fd < 0)
		return fd;
	s = xcalloc(1, sizeof(*s));
	s->loop = l;
	s->fn = fn;
	s->userdata = userdata;
	s->port = local_port(fd);
	/* No MHD_USE_ERROR_LOG: library code does not print (docs/architecture.md). */
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL, 0, NULL, NULL, on_request, s,
				  MHD_OPTION_LISTEN_SOCKET, fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT_S,
				  MHD_OPTION_END);
	if (!s->mhd) {
		/* Whether a failed start closed the socket it was given is not documented. */
		if (fcntl(fd, F_GETFD) >= 0)
			close(fd);
		free(s);
		return -ENOMEM;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	r = info ? loop_add_fd(l, info->epoll_fd, EPOLLIN, on_epoll_fd, s, &s->reg) : -EINVAL;
	if (r < 0) {
		MHD_stop_daemon(s->mhd);
		free(s);
		return r;
	}
	s->tm = loop_timer_new(l, on_timeout, s);
	service(s);
	*ret = s;
	return 0;
}

uint16_t http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_free(struct http_server *s)
{
	if (!s)
		return;
	loop_remove_fd(s->loop, s->reg);
	loop_timer_free(s->tm);
	MHD_stop_daemon(s->mhd); /* closes the listener, its epoll fd and every connection */
	free(s);
}
