/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An HTTP server in the agent's loop: libmicrohttpd without threads of its
 * own (its epoll mode, driven from outside).  MHD's epoll fd is registered
 * in core/loop and its timeout (idle connections) is one loop timer, so
 * every request is answered on the agent's thread, between syncs, and a
 * handler may read the agent's state without locks.  The proxy health
 * server, each service's healthCheckNodePort server and the metrics server
 * are all instances of this one module.
 *
 * A handler sees the method and the path (no query, no body: what kroute
 * serves needs neither; a request body is read and dropped) and fills a
 * reply: status, Content-Type, a few extra headers, a body.
 */
#ifndef KROUTE_HTTP_HTTPD_H
#define KROUTE_HTTP_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/sbuf.h"

struct loop;
struct http_server;

#define HTTP_MAX_HEADERS 4
#define HTTP_HEADER_VALUE_MAX 64

struct http_header {
	const char *name;                   /* borrowed: a literal */
	char value[HTTP_HEADER_VALUE_MAX];
};

struct http_reply {
	unsigned status;                    /* 200 unless the handler says otherwise */
	const char *content_type;           /* borrowed: a literal; NULL: no Content-Type */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	struct sbuf body;                   /* owned by the server, freed after the answer */
};

/* Called on the loop's thread for every complete request. */
typedef void (*http_handler_fn)(const char *method, const char *path, struct http_reply *reply,
				void *userdata);

/* Adds a header (at most HTTP_MAX_HEADERS; more is a programming error). */
void http_reply_header(struct http_reply *reply, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Listens on addr:port (port 0: the kernel picks; see http_server_port)
 * and serves through fn.  Returns 0, or -errno with nothing left behind
 * (-EADDRINUSE, -EADDRNOTAVAIL, -EACCES from bind; -ENOMEM... from MHD).
 */
int http_server_new(struct loop *l, const struct addr *addr, uint16_t port, http_handler_fn fn,
		    void *userdata, struct http_server **ret);
/* The port it listens on. */
uint16_t http_server_port(const struct http_server *s);
/* Closes the listener and every connection.  NULL is a no-op.  Not from its own handler. */
void http_server_free(struct http_server *s);

#endif
