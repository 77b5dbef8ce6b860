/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kr-probe: the client side of the test cluster (tests/cluster/lib.sh).
 * Each attempt opens a new socket to IP PORT and prints exactly one line:
 * the first line kr-backend answered, or what happened instead, so a test
 * can compare the output with a string:
 *
 *   refused      TCP RST or ICMP port unreachable (ECONNREFUSED): a REJECT
 *   timeout      nothing came back within --timeout: a DROP
 *   unreachable  ICMP host/net unreachable or prohibited, or no route
 *   reset        the connection was established, then reset with no reply
 *   closed       the connection was established, then closed with no reply
 *   error NAME   anything else (errno name, e.g. "error EPERM")
 *
 * TCP sends "kr-probe\n", half-closes and reads until EOF (kr-backend's
 * line protocol).  --http sends GET requests instead and prints the body's
 * first line; --requests K sends K requests on one keep-alive connection
 * and prints one line per request.  UDP uses a connected socket with
 * IP_RECVERR so every ICMP error surfaces as an errno.  --keep: one connected
 * UDP socket for every attempt, as an application holds one; after an error
 * (the socket's pending error, e.g. ECONNABORTED when the data plane aborted
 * it, is the one printed) the next attempt connects a new socket.
 * --interval also paces the requests of --http --requests K.
 * --timeout bounds each whole attempt (connect and reply).
 * Exit status: 0 if any attempt got a reply, 1 if none did, 2 on bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* strerrorname_np */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REPLY_MAX 4096

struct opts {
	bool udp;
	bool http;
	bool unconnected;	/* UDP: one unconnected socket for every attempt (sendto/recvfrom) */
	bool keep;		/* UDP: one connected socket for every attempt, new after an error */
	int udp_fd;		/* that socket, opened by the first attempt */
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	const char *host;	/* for the Host header, as given */
	unsigned port;
	long timeout_ms;
	long interval_ms;
	long count;
	long requests;
	const char *payload;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses "IP" or "[IP6]", with ":PORT" when want_port; port 0 if absent. */
static int parse_addr(const char *s, bool want_port, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	char buf[INET6_ADDRSTRLEN + 16];
	char *ip = buf, *port = NULL;
	unsigned long p = 0;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *e = strchr(buf, ']');

		if (!e)
			return -EINVAL;
		*e = '\0';
		ip = buf + 1;
		if (e[1] == ':')
			port = e + 2;
		else if (e[1])
			return -EINVAL;
	} else if (want_port && strchr(buf, ':') == strrchr(buf, ':') && strchr(buf, ':')) {
		port = strchr(buf, ':');
		*port++ = '\0';
	}
	if (port) {
		char *end;

		if (!want_port)
			return -EINVAL;
		errno = 0;
		p = strtoul(port, &end, 10);
		if (errno || *end || end == port || p > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)p);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*s6);
		return 0;
	}
	return -EINVAL;
}

static const char *outcome(int err)
{
	static char buf[64];
	const char *name;

	switch (err) {
	case ECONNREFUSED:
		return "refused";
	case ETIMEDOUT:
		return "timeout";
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case ENETDOWN:
		return "unreachable";
	case ECONNRESET:
		return "reset";
	default:
		name = strerrorname_np(err);
		if (name)
			snprintf(buf, sizeof(buf), "error %s", name);
		else
			snprintf(buf, sizeof(buf), "error %d", err);
		return buf;
	}
}

/* Prints the first line of buf (without its line ending), or "closed" if empty. */
static void print_reply(const char *buf, size_t len)
{
	size_t n = 0;

	while (n < len && buf[n] != '\n' && buf[n] != '\r')
		n++;
	if (!len)
		printf("closed\n");
	else
		printf("%.*s\n", (int)n, buf);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Waits for events on fd until deadline: 1 ready, 0 timed out. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

static int open_socket(const struct opts *o, int type)
{
	int one = 1;
	int fd = socket(o->dst.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (o->src_len) {
		/* A fixed source port must be reusable across attempts. */
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&o->src, o->src_len) < 0) {
			int r = -errno;

			close(fd);
			return r;
		}
	}
	if (type == SOCK_DGRAM) {
		/* Without IP_RECVERR a UDP socket reports only "hard" ICMP errors
		 * (port unreachable); host/net unreachable would look like a DROP. */
		if (o->dst.ss_family == AF_INET)
			(void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
		else
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
	}
	return fd;
}

/* Connects a TCP socket within the deadline.  Returns fd, or -errno / -ETIMEDOUT. */
static int tcp_connect(const struct opts *o, int64_t deadline)
{
	int fd = open_socket(o, SOCK_STREAM);
	int err = 0;
	socklen_t elen = sizeof(err);
	int r;

	if (fd < 0)
		return fd;
	if (connect(fd, (const struct sockaddr *)&o->dst, o->dst_len) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		r = -errno;
		goto fail;
	}
	r = wait_fd(fd, POLLOUT, deadline);
	if (r <= 0) {
		r = r ? r : -ETIMEDOUT;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
		r = -errno;
		goto fail;
	}
	if (err) {
		r = -err;
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return r;
}

static int send_all(int fd, const char *buf, size_t len, int64_t deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0) {
			int r;

			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			r = wait_fd(fd, POLLOUT, deadline);
			if (r <= 0)
				return r ? r : -ETIMEDOUT;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Reads into buf until EOF, until done(buf) says a full message is there,
 * or until the deadline.  Returns bytes read (>= 0) or -errno; a timeout
 * with nothing read is -ETIMEDOUT, with something read it returns what it has.
 */
static long recv_until(int fd, char *buf, size_t cap, int64_t deadline,
		       long (*done)(const char *, size_t))
{
	size_t len = 0;

	for (;;) {
		ssize_t n;
		int r;

		if (done && done(buf, len))
			return (long)len;
		if (len == cap)
			return (long)len;
		n = recv(fd, buf + len, cap - len, 0);
		if (n > 0) {
			len += (size_t)n;
			continue;
		}
		if (n == 0)
			return (long)len;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return len ? (long)len : -errno;
		r = wait_fd(fd, POLLIN, deadline);
		if (r < 0)
			return len ? (long)len : r;
		if (r == 0)
			return len ? (long)len : -ETIMEDOUT;
	}
}

/* For recv_until: length of a complete HTTP response at the front of buf, or 0. */
static long http_complete(const char *buf, size_t len)
{
	const char *end = memmem(buf, len, "\r\n\r\n", 4);
	size_t hlen;
	long clen = -1;

	if (!end)
		return 0;
	hlen = (size_t)(end - buf) + 4;
	for (const char *p = buf; p < end; ) {
		const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);

		if (!eol)
			break;
		if ((size_t)(eol - p) > 15 && !strncasecmp(p, "content-length:", 15))
			clen = strtol(p + 15, NULL, 10);
		p = eol + 2;
	}
	if (clen < 0 || clen > REPLY_MAX)
		return 0;	/* no length: read until EOF */
	return len >= hlen + (size_t)clen ? (long)(hlen + (size_t)clen) : 0;
}

/* One TCP attempt in line mode; prints one line; returns 1 if a reply was printed. */
static int tcp_line(const struct opts *o)
{
	int64_t deadline = now_ms() + o->timeout_ms;
	char buf[REPLY_MAX];
	long n;
	int fd = tcp_connect(o, deadline);

	if (fd < 0) {
		printf("%s\n", outcome(-fd));
		return 0;
	}
	n = send_all(fd, o->payload, strlen(o->payload), deadline);
	if (n == 0) {
		(void)shutdown(fd, SHUT_WR);
		n = recv_until(fd, buf, sizeof(buf), deadline, NULL);
	}
	close(fd);
	if (n < 0) {
		printf("%s\n", outcome((int)-n));
		return 0;
	}
	print_reply(buf, (size_t)n);
	return n > 0;
}

/* One TCP connection in HTTP mode: o->requests lines; returns how many were replies. */
static int tcp_http(const struct opts *o)
{
	int64_t deadline = now_ms() + o->timeout_ms;
	char host[INET6_ADDRSTRLEN + 16];
	int fd = tcp_connect(o, deadline);
	int got = 0;
	long i;

	if (o->dst.ss_family == AF_INET6)
		snprintf(host, sizeof(host), "[%s]:%u", o->host, o->port);
	else
		snprintf(host, sizeof(host), "%s:%u", o->host, o->port);
	if (fd < 0) {
		for (i = 0; i < o->requests; i++)
			printf("%s\n", outcome(-fd));
		return 0;
	}
	for (i = 0; i < o->requests; i++) {
		char req[256], buf[REPLY_MAX + 1];
		const char *body, *sp;
		long n;
		int len;

		if (i)
			sleep_ms(o->interval_ms);

		len = snprintf(req, sizeof(req),
			       "GET / HTTP/1.1\r\nHost: %s\r\nUser-Agent: kr-probe\r\n%s\r\n", host,
			       i + 1 == o->requests ? "Connection: close\r\n" : "");
		n = send_all(fd, req, (size_t)len, deadline);
		if (n == 0)
			n = recv_until(fd, buf, sizeof(buf) - 1, deadline, http_complete);
		if (n < 0) {
			printf("%s\n", outcome((int)-n));
			break;
		}
		if (n == 0) {
			printf("closed\n");
			break;
		}
		buf[n] = '\0';
		sp = strchr(buf, ' ');
		body = strstr(buf, "\r\n\r\n");
		/* One response, read to its exact length: anything short or
		 * extra is a server bug (or a timeout mid-response). */
		if (strncmp(buf, "HTTP/1.", 7) || !sp || !body || http_complete(buf, (size_t)n) != n) {
			printf("error bad-http-response\n");
			break;
		}
		if (strncmp(sp + 1, "200 ", 4)) {
			printf("http %.3s\n", sp + 1);
			break;
		}
		body += 4;
		print_reply(body, strlen(body));
		got++;
	}
	close(fd);
	return got;
}

/* Opens the socket --unconnected and --keep hold; false (the outcome printed) if it cannot. */
static bool udp_socket(struct opts *o)
{
	o->udp_fd = open_socket(o, SOCK_DGRAM);
	if (o->udp_fd >= 0)
		return true;
	printf("%s\n", outcome(-o->udp_fd));
	o->udp_fd = -1;
	return false;
}

/*
 * One attempt on the --unconnected socket: sendto the service, and take only
 * a reply whose source is the address sent to (a socket-level data plane
 * must translate it back); one from elsewhere prints "stray IP:PORT".
 */
static int udp_unconnected_once(struct opts *o)
{
	int64_t deadline = now_ms() + o->timeout_ms;
	struct sockaddr_storage from;
	socklen_t from_len;
	char buf[REPLY_MAX], ip[INET6_ADDRSTRLEN];
	ssize_t n;
	int r;

	if (o->udp_fd < 0 && !udp_socket(o))
		return 0;
	if (sendto(o->udp_fd, o->payload, strlen(o->payload), 0, (const struct sockaddr *)&o->dst,
		   o->dst_len) < 0) {
		printf("%s\n", outcome(errno));
		return 0;
	}
	for (;;) {
		from_len = sizeof(from);
		n = recvfrom(o->udp_fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);
		if (n >= 0) {
			if (from_len == o->dst_len && !memcmp(&from, &o->dst, from_len))
				break;
			getnameinfo((struct sockaddr *)&from, from_len, ip, sizeof(ip), NULL, 0,
				    NI_NUMERICHOST);
			printf("stray %s:%u\n", ip, ntohs(((struct sockaddr_in *)&from)->sin_port));
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			printf("%s\n", outcome(errno));
			return 0;
		}
		r = wait_fd(o->udp_fd, POLLIN, deadline);
		if (r <= 0) {
			printf("%s\n", outcome(r ? -r : ETIMEDOUT));
			return 0;
		}
	}
	print_reply(buf, (size_t)n);
	return 1;
}

/* The --keep socket failed with err: prints the socket's own pending error if it has one, and drops it. */
static void keep_fail(struct opts *o, int err)
{
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	if (!getsockopt(o->udp_fd, SOL_SOCKET, SO_ERROR, &soerr, &len) && soerr)
		err = soerr;
	printf("%s\n", outcome(err));
	close(o->udp_fd);
	o->udp_fd = -1;
}

/* One attempt on the --keep socket (connected by the first attempt, or after an error). */
static int udp_keep_once(struct opts *o)
{
	int64_t deadline = now_ms() + o->timeout_ms;
	char buf[REPLY_MAX];
	ssize_t n;
	int r;

	if (o->udp_fd < 0) {
		if (!udp_socket(o))
			return 0;
		if (connect(o->udp_fd, (const struct sockaddr *)&o->dst, o->dst_len) < 0) {
			keep_fail(o, errno);
			return 0;
		}
	}
	if (send(o->udp_fd, o->payload, strlen(o->payload), 0) < 0) {
		keep_fail(o, errno);
		return 0;
	}
	for (;;) {
		n = recv(o->udp_fd, buf, sizeof(buf), 0);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			keep_fail(o, errno);
			return 0;
		}
		r = wait_fd(o->udp_fd, POLLIN, deadline);
		if (r <= 0) {
			printf("%s\n", outcome(r ? -r : ETIMEDOUT)); /* the socket stays */
			return 0;
		}
	}
	print_reply(buf, (size_t)n);
	return 1;
}

/* One UDP attempt; prints one line; returns 1 if a reply was printed. */
static int udp_once(const struct opts *o)
{
	int64_t deadline = now_ms() + o->timeout_ms;
	char buf[REPLY_MAX];
	ssize_t n;
	int r, fd = open_socket(o, SOCK_DGRAM);

	if (fd < 0) {
		printf("%s\n", outcome(-fd));
		return 0;
	}
	/* Connected, so an ICMP error for this flow is reported on this socket. */
	if (connect(fd, (const struct sockaddr *)&o->dst, o->dst_len) < 0 ||
	    send(fd, o->payload, strlen(o->payload), 0) < 0) {
		printf("%s\n", outcome(errno));
		close(fd);
		return 0;
	}
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			printf("%s\n", outcome(errno));
			close(fd);
			return 0;
		}
		r = wait_fd(fd, POLLIN, deadline);
		if (r <= 0) {
			printf("%s\n", outcome(r ? -r : ETIMEDOUT));
			close(fd);
			return 0;
		}
	}
	close(fd);
	print_reply(buf, (size_t)n);
	return 1;
}

static int parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kr-probe tcp|udp IP PORT [--timeout MS] [--src IP[:PORT]] [--count N]\n"
		"                [--interval MS] [--payload TEXT] [--http [--requests K]]\n"
		"                [--unconnected (UDP: one socket, sendto per attempt)]\n"
		"                [--keep (UDP: one connected socket, a new one after an error)]\n"
		"Prints one line per attempt: the reply, or refused, timeout, unreachable,\n"
		"reset, closed, error NAME.  Exit 0 if any reply came back, 1 if none, 2 usage.\n");
}

int main(int argc, char **argv)
{
	struct opts o = {
		.timeout_ms = 1000, .count = 1, .requests = 1, .payload = "kr-probe\n", .udp_fd = -1,
	};
	bool any = false;
	long port;
	int pos = 0;
	const char *proto = NULL, *ip = NULL, *port_s = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(a, "--http")) {
			o.http = true;
			continue;
		}
		if (!strcmp(a, "--unconnected")) {
			o.unconnected = true;
			continue;
		}
		if (!strcmp(a, "--keep")) {
			o.keep = true;
			continue;
		}
		if (a[0] != '-' || a[1] == '\0') {
			if (pos == 0)
				proto = a;
			else if (pos == 1)
				ip = a;
			else if (pos == 2)
				port_s = a;
			else
				goto bad;
			pos++;
			continue;
		}
		if (!v)
			goto bad;
		i++;
		if (!strcmp(a, "--timeout")) {
			if (parse_long(v, 1, 3600000, &o.timeout_ms) < 0)
				goto bad;
		} else if (!strcmp(a, "--count")) {
			if (parse_long(v, 1, 1000000, &o.count) < 0)
				goto bad;
		} else if (!strcmp(a, "--interval")) {
			if (parse_long(v, 0, 3600000, &o.interval_ms) < 0)
				goto bad;
		} else if (!strcmp(a, "--requests")) {
			if (parse_long(v, 1, 1000000, &o.requests) < 0)
				goto bad;
		} else if (!strcmp(a, "--payload")) {
			o.payload = v;
		} else if (!strcmp(a, "--src")) {
			if (parse_addr(v, true, &o.src, &o.src_len) < 0)
				goto bad;
		} else {
			goto bad;
		}
	}
	if (pos != 3 || !proto || (strcmp(proto, "tcp") && strcmp(proto, "udp")))
		goto bad;
	o.udp = !strcmp(proto, "udp");
	if (parse_long(port_s, 1, 65535, &port) < 0 || parse_addr(ip, false, &o.dst, &o.dst_len) < 0)
		goto bad;
	if ((o.udp && o.http) || (o.requests > 1 && !o.http) || (o.unconnected && !o.udp) ||
	    (o.keep && (!o.udp || o.unconnected)) ||
	    (o.src_len && o.src.ss_family != o.dst.ss_family))
		goto bad;
	o.port = (unsigned)port;
	o.host = ip[0] == '[' ? NULL : ip;
	if (o.dst.ss_family == AF_INET)
		((struct sockaddr_in *)&o.dst)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&o.dst)->sin6_port = htons((uint16_t)port);
	if (!o.host) {
		static char h[INET6_ADDRSTRLEN];

		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&o.dst)->sin6_addr, h, sizeof(h));
		o.host = h;
	}

	for (long i = 0; i < o.count; i++) {
		int got;

		if (i)
			sleep_ms(o.interval_ms);
		if (o.udp && o.keep)
			got = udp_keep_once(&o);
		else if (o.udp && o.unconnected)
			got = udp_unconnected_once(&o);
		else if (o.udp)
			got = udp_once(&o);
		else if (o.http)
			got = tcp_http(&o);
		else
			got = tcp_line(&o);
		any |= got > 0;
	}
	return any ? 0 : 1;
bad:
	usage(stderr);
	return 2;
}
