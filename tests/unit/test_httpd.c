/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTTP server in the loop (http/httpd.c): a real libmicrohttpd server on
 * 127.0.0.1 (a port the kernel picks), driven only by loop_run_once(), and a
 * plain socket client in the same thread: the reply's status, headers and
 * body; a request body read and dropped; HEAD; a port in use; closing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/loop.h"
#include "core/util.h"
#include "http/httpd.h"

struct seen {
	int calls;
	char method[16];
	char path[64];
};

static void handler(const char *method, const char *path, struct http_reply *r, void *userdata)
{
	struct seen *s = userdata;

	s->calls++;
	snprintf(s->method, sizeof(s->method), "%s", method);
	snprintf(s->path, sizeof(s->path), "%s", path);
	r->status = 503;
	r->content_type = "application/json";
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	http_reply_header(r, "X-Load-Balancing-Endpoint-Weight", "%d", 7);
	sbuf_adds(&r->body, "{\"ok\":false}");
}

static struct addr loopback(void)
{
	struct addr a = { .family = AF_INET };

	assert_int_equal(addr_parse("127.0.0.1", &a), 0);
	return a;
}

/* Sends req to port and runs the loop until the server closes the connection. */
static char *exchange(struct loop *l, uint16_t port, const char *req)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct sbuf got = { 0 };
	uint64_t deadline = mono_ns() + 5000000000ull;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	while (mono_ns() < deadline) {
		char buf[4096];
		ssize_t n;

		assert_int_equal(loop_run_once(l, 50), 0);
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			sbuf_add(&got, buf, n);
		else
			assert_true(errno == EAGAIN);
	}
	close(fd);
	return sbuf_cstr(&got);
}

static void test_reply(void **state)
{
	struct loop *l;
	struct http_server *srv;
	struct seen seen = { 0 };
	struct addr a = loopback();
	char *resp;

	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(http_server_new(l, &a, 0, handler, &seen, &srv), 0);
	assert_true(http_server_port(srv) > 0);
	resp = exchange(l, http_server_port(srv),
			"GET /healthz?x=1 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.method, "GET");
	assert_string_equal(seen.path, "/healthz"); /* the query is not part of the path */
	assert_true(strncmp(resp, "HTTP/1.1 503 ", 13) == 0);
	assert_non_null(strstr(resp, "\r\nContent-Type: application/json\r\n"));
	assert_non_null(strstr(resp, "\r\nX-Content-Type-Options: nosniff\r\n"));
	assert_non_null(strstr(resp, "\r\nX-Load-Balancing-Endpoint-Weight: 7\r\n"));
	assert_non_null(strstr(resp, "\r\nContent-Length: 12\r\n"));
	assert_non_null(strstr(resp, "\r\n\r\n{\"ok\":false}"));
	free(resp);

	/* A body is read and dropped; the handler runs once, after it. */
	resp = exchange(l, http_server_port(srv),
			"POST /any HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
			"Content-Length: 5\r\n\r\nhello");
	assert_int_equal(seen.calls, 2);
	assert_string_equal(seen.method, "POST");
	assert_true(strncmp(resp, "HTTP/1.1 503 ", 13) == 0);
	free(resp);

	/* HEAD: the headers, no body. */
	resp = exchange(l, http_server_port(srv),
			"HEAD /livez HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
	assert_int_equal(seen.calls, 3);
	assert_non_null(strstr(resp, "\r\nContent-Length: 12\r\n"));
	assert_null(strstr(resp, "{\"ok\""));
	free(resp);

	http_server_free(srv);
	loop_free(l);
}

static void test_port_in_use_and_close(void **state)
{
	struct loop *l;
	struct http_server *srv, *other = NULL;
	struct seen seen = { 0 };
	struct addr a = loopback();
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uint16_t port;
	int fd;

	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(http_server_new(l, &a, 0, handler, &seen, &srv), 0);
	port = http_server_port(srv);
	assert_int_equal(http_server_new(l, &a, port, handler, &seen, &other), -EADDRINUSE);
	assert_null(other);
	http_server_free(srv);
	http_server_free(NULL);

	/* Closed: nothing listens any more. */
	sin.sin_port = htons(port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), -1);
	assert_int_equal(errno, ECONNREFUSED);
	close(fd);
	/* And the port can be served again at once. */
	assert_int_equal(http_server_new(l, &a, port, handler, &seen, &srv), 0);
	http_server_free(srv);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply),
		cmocka_unit_test(test_port_in_use_and_close),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
