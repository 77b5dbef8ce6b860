/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kr-stress: stress and correctness checks for a TCP/UDP proxy, and the
 * server they run against.  Every check talks to one IP:PORT, which is the
 * server itself (a direct connection) or a proxy in front of it, so the same
 * checks prove the tool against a direct connection or HAProxy before they
 * judge kroute's userspace mode.
 *
 *   kr-stress server --tcp IP:PORT [--udp IP:PORT] [--ready-file PATH]
 *   kr-stress conns IP:PORT [--count N] [--parallel K] [--rounds R]
 *                   [--pid PID] [--fd-slack N] [--rss-slack-kb KB]
 *                   [--hold-ms MS] [--settle-ms MS] [--timeout-ms MS]
 *   kr-stress halfclose IP:PORT
 *   kr-stress bulk IP:PORT [--bytes N] [--dir up|down|both|all]
 *   kr-stress udp IP:PORT [--clients N] [--per N] [--size B]
 *
 * The server's TCP protocol is one command line, then data:
 *
 *   E\n           echo every byte; after the client's FIN, send what is left,
 *                 then FIN and close
 *   V N SEED\n    verify: read to EOF, compare every byte with the stream
 *                 gen(SEED), then answer "ok N\n" or "bad RECEIVED OFFSET\n"
 *                 (only after the client's FIN: a half-close check)
 *   G N SEED\n    send N bytes of gen(SEED), then FIN; input is discarded
 *
 * gen(SEED) is a byte stream whose byte at offset p depends only on SEED and
 * p (a SplitMix64 word per 8 bytes), so either side checks any chunk where
 * it lands: transfers are compared byte for byte, not by a checksum.  UDP:
 * every datagram is echoed to its sender from the address it was sent to.
 *
 * The checks:
 *   conns      N connections (at most K connecting at a time), each echoes
 *              its own payload and is then held open; when all are open,
 *              the proxy's fd count and RSS are read (--pid, /proc), then
 *              everything is closed and the fd count must come back to what
 *              it was before (within --fd-slack).  With --rounds R > 1 the
 *              RSS after the last round may exceed that after the first by
 *              at most --rss-slack-kb (when given): a leak grows per round,
 *              a pool warmed by the first round does not.
 *   halfclose  the client shuts down writing and still receives the full
 *              answer: "V" (answer only after the FIN), "G" (8 MB after the
 *              FIN), "E" (4 MB echoed while and after the FIN travels).
 *   bulk       N bytes up ("V"), down ("G") and both ways ("E"), byte-exact.
 *   udp        N connected sockets, each sends --per datagrams in turn (a
 *              lost one is resent); every reply must be its own sender's
 *              payload.
 * Output: key=value lines, then "ok CHECK ..." or "FAIL CHECK: why".  Exit
 * 0 pass, 1 fail, 2 bad usage.  Speeds are printed, never judged.  Like
 * kr-backend it uses nothing from the kroute tree.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, strerrorname_np */
#endif
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define CMD_MAX 128
#define MAX_EVENTS 256

static unsigned char scratch[CHUNK];

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *errname(int err)
{
	const char *n = strerrorname_np(err);

	return n ? n : "?";
}

/* "IPv4:PORT" */
static int parse_addr(const char *s, struct sockaddr_in *sa)
{
	char buf[64];
	char *colon, *end;
	unsigned long p;

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || end == colon + 1 || p == 0 || p > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)p);
	return inet_pton(AF_INET, buf, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s)
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* ---- the byte stream gen(seed) ---- */

static uint64_t gen_word(uint64_t seed, uint64_t k)
{
	uint64_t z = seed + (k + 1) * 0x9E3779B97F4A7C15ull;

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void gen_fill(uint64_t seed, uint64_t off, unsigned char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint64_t p = off + i;
		uint64_t w = gen_word(seed, p >> 3);
		unsigned b = (unsigned)(p & 7);

		for (; b < 8 && i < len; b++, i++)
			buf[i] = (unsigned char)(w >> (8 * b));
	}
}

/* Offset within buf of the first byte that differs from gen(seed) at off, or len. */
static size_t gen_check(uint64_t seed, uint64_t off, const unsigned char *buf, size_t len)
{
	static unsigned char want[CHUNK];
	size_t done = 0;

	while (done < len) {
		size_t n = len - done < sizeof(want) ? len - done : sizeof(want);

		gen_fill(seed, off + done, want, n);
		if (memcmp(want, buf + done, n)) {
			for (size_t i = 0; i < n; i++)
				if (want[i] != buf[done + i])
					return done + i;
		}
		done += n;
	}
	return len;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* ---- /proc readings of the proxy (a comma-separated pid list is summed) ---- */

static long count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	long n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * Open fds of every file descriptor table in process pid: threads may
 * have unshared theirs (kroute's workers do), and /proc/PID/fd lists only
 * the main thread's.  Tables are told apart with kcmp(KCMP_FILES); where
 * kcmp fails, each thread counts on its own (an overcount, the same before
 * and after, so a leak still shows).
 */
static long proc_fds_one(long pid)
{
	char path[96];
	DIR *d;
	struct dirent *e;
	long tids[256], n = 0;
	size_t n_tids = 0;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (!d) {
		snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
		return count_dir(path);
	}
	while ((e = readdir(d))) {
		long tid = strtol(e->d_name, NULL, 10), c;
		bool seen = false;

		if (tid <= 0)
			continue;
		for (size_t i = 0; i < n_tids && !seen; i++)
			seen = syscall(SYS_kcmp, (pid_t)tids[i], (pid_t)tid, KCMP_FILES, 0, 0) == 0;
		if (seen)
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%ld/fd", pid, tid);
		c = count_dir(path);
		if (c < 0)
			continue; /* the thread just exited */
		n += c;
		if (n_tids < sizeof(tids) / sizeof(tids[0]))
			tids[n_tids++] = tid;
	}
	closedir(d);
	return n;
}

static long proc_rss_one(long pid)
{
	char path[64], line[256];
	FILE *f;
	long kb = -1;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

struct pids {
	long pid[16];
	size_t n;
};

static int parse_pids(const char *s, struct pids *p)
{
	char buf[256], *save = NULL, *tok;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	p->n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (p->n == sizeof(p->pid) / sizeof(p->pid[0]) || parse_u64(tok, INT_MAX, &v) || !v)
			return -EINVAL;
		p->pid[p->n++] = (long)v;
	}
	return p->n ? 0 : -EINVAL;
}

/* Sum over the pids; -1 if any is gone or unreadable. */
static long pids_sum(const struct pids *p, long (*fn)(long))
{
	long sum = 0;

	for (size_t i = 0; i < p->n; i++) {
		long v = fn(p->pid[i]);

		if (v < 0)
			return -1;
		sum += v;
	}
	return p->n ? sum : -1;
}

/* =====================================================================
 * server
 * ===================================================================== */

enum sstate { S_CMD, S_ECHO, S_VERIFY, S_GEN, S_DRAIN, S_PAIRS };
enum skind { K_SIGNAL, K_LISTEN, K_UDP, K_CONN };

struct sitem {
	enum skind kind;
	int fd;
};

struct sconn {
	struct sitem it;
	enum sstate st;
	bool peer_eof;
	bool bad;
	uint32_t events;	/* registered with epoll */
	char cmd[CMD_MAX];
	size_t cmd_len;
	uint64_t n, seed, off;	/* V: expected, seed, received; G: total, seed, sent */
	uint64_t bad_at;
	unsigned char *pend;	/* output not yet sent */
	size_t pend_len, pend_off, pend_cap;
};

struct sstats {
	unsigned long conns, open, echo_bytes, verify_ok, verify_bad, gen, udp, errors;
};

static struct sstats sst;

static void sc_free(struct sconn *c)
{
	close(c->it.fd);
	free(c->pend);
	free(c);
	sst.open--;
}

static int sc_queue(struct sconn *c, const void *data, size_t len)
{
	if (c->pend_off == c->pend_len)
		c->pend_off = c->pend_len = 0;
	if (c->pend_len + len > c->pend_cap) {
		size_t cap = c->pend_cap ? c->pend_cap : CHUNK;
		unsigned char *p;

		while (cap < c->pend_len + len)
			cap *= 2;
		p = realloc(c->pend, cap);
		if (!p)
			return -ENOMEM;
		c->pend = p;
		c->pend_cap = cap;
	}
	memcpy(c->pend + c->pend_len, data, len);
	c->pend_len += len;
	return 0;
}

/* Sends what is pending: 1 all sent, 0 the socket is full, -1 error. */
static int sc_flush(struct sconn *c)
{
	while (c->pend_off < c->pend_len) {
		ssize_t n = send(c->it.fd, c->pend + c->pend_off, c->pend_len - c->pend_off,
				 MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -1;
		}
		c->pend_off += (size_t)n;
	}
	c->pend_off = c->pend_len = 0;
	/* Give back big buffers (an echo of a bulk transfer): memory stays bounded. */
	if (c->pend_cap > CHUNK) {
		free(c->pend);
		c->pend = NULL;
		c->pend_cap = 0;
	}
	return 1;
}

static bool sc_pending(const struct sconn *c)
{
	return c->pend_off < c->pend_len;
}

/* Feeds received bytes to the state machine.  Returns -1 to drop the connection. */
static int sc_feed(struct sconn *c, const unsigned char *data, size_t len)
{
	while (len) {
		switch (c->st) {
		case S_CMD: {
			const unsigned char *nl = memchr(data, '\n', len);
			size_t take = nl ? (size_t)(nl - data) + 1 : len;
			char w[8];
			unsigned long long n, seed;

			if (c->cmd_len + take >= sizeof(c->cmd))
				return -1;
			memcpy(c->cmd + c->cmd_len, data, take);
			c->cmd_len += take;
			data += take;
			len -= take;
			if (!nl)
				return 0;
			c->cmd[c->cmd_len] = '\0';
			if (!strcmp(c->cmd, "E\n")) {
				c->st = S_ECHO;
			} else if (!strcmp(c->cmd, "P\n") && !len) {
				c->st = S_PAIRS; /* sc_step hands it to a thread of its own */
				return 0;
			} else if (sscanf(c->cmd, "%1s %llu %llu", w, &n, &seed) == 3 &&
				   (w[0] == 'V' || w[0] == 'G') && !w[1]) {
				c->st = w[0] == 'V' ? S_VERIFY : S_GEN;
				c->n = n;
				c->seed = seed;
				c->off = 0;
				if (c->st == S_GEN)
					sst.gen++;
			} else {
				return -1;
			}
			break;
		}
		case S_ECHO:
			sst.echo_bytes += len;
			if (!sc_pending(c)) {
				ssize_t n = send(c->it.fd, data, len, MSG_NOSIGNAL);

				if (n < 0 && errno != EAGAIN && errno != EINTR)
					return -1;
				if (n > 0) {
					data += n;
					len -= (size_t)n;
				}
			}
			if (len && sc_queue(c, data, len) < 0)
				return -1;
			return 0;
		case S_VERIFY:
			if (!c->bad) {
				size_t at = gen_check(c->seed, c->off, data, len);

				if (at < len) {
					c->bad = true;
					c->bad_at = c->off + at;
				}
			}
			c->off += len;
			return 0;
		case S_GEN:
		case S_DRAIN:
		case S_PAIRS:
			return 0;
		}
	}
	return 0;
}

/* Generates more of a G stream into the pending buffer. */
static int sc_generate(struct sconn *c)
{
	while (!sc_pending(c) && c->off < c->n) {
		size_t n = c->n - c->off < CHUNK ? (size_t)(c->n - c->off) : CHUNK;
		ssize_t w;

		gen_fill(c->seed, c->off, scratch, n);
		c->off += n;
		w = send(c->it.fd, scratch, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno != EAGAIN && errno != EINTR)
				return -1;
			w = 0;
		}
		if ((size_t)w < n && sc_queue(c, scratch + w, n - (size_t)w) < 0)
			return -1;
	}
	return 0;
}

/*
 * P: small writes both ways, with a pause in between, on a thread of its
 * own (blocking I/O and sleeps do not fit the event loop).  For every two
 * bytes it receives it answers "o", waits 1 ms, then "k".  Through a relay
 * that leaves Nagle on, each half of such an exchange waits for the
 * other side's delayed ACK (about 40 ms).
 */
static void *pairs_thread(void *arg)
{
	int fd = (int)(intptr_t)arg, one = 1, have = 0;
	char b[64];

	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (send(fd, "p\n", 2, MSG_NOSIGNAL) != 2)
		goto out;
	for (;;) {
		ssize_t n = recv(fd, b, sizeof(b), 0);

		if (n <= 0)
			break;
		for (have += (int)n; have >= 2; have -= 2) {
			struct timespec ms = { 0, 1000000 };

			if (send(fd, "o", 1, MSG_NOSIGNAL) != 1)
				goto out;
			nanosleep(&ms, NULL);
			if (send(fd, "k", 1, MSG_NOSIGNAL) != 1)
				goto out;
		}
	}
out:
	close(fd);
	return NULL;
}

static void pairs_handoff(int epfd, struct sconn *c)
{
	pthread_t t;
	int fd = c->it.fd;

	(void)epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
	c->it.fd = -1;
	sc_free(c);
	if (pthread_create(&t, NULL, pairs_thread, (void *)(intptr_t)fd) == 0)
		pthread_detach(t);
	else
		close(fd);
}

/*
 * After any event: sends, moves on at EOF or the end of a stream, and
 * registers the events the connection waits for.  Frees c when it is over.
 */
static void sc_step(int epfd, struct sconn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	uint32_t want = 0;

	if (c->st == S_PAIRS) {
		pairs_handoff(epfd, c);
		return;
	}
	if (sc_flush(c) < 0)
		goto drop;
	if (c->st == S_GEN) {
		if (sc_generate(c) < 0)
			goto drop;
		if (!sc_pending(c) && c->off == c->n) {
			(void)shutdown(c->it.fd, SHUT_WR);
			c->st = S_DRAIN;
		}
	}
	if (c->peer_eof) {
		if (c->st == S_VERIFY) {
			char line[96];
			int n = c->bad || c->off != c->n ?
				snprintf(line, sizeof(line), "bad %" PRIu64 " %" PRIu64 "\n", c->off,
					 c->bad ? c->bad_at : c->off) :
				snprintf(line, sizeof(line), "ok %" PRIu64 "\n", c->off);

			if (c->bad || c->off != c->n)
				sst.verify_bad++;
			else
				sst.verify_ok++;
			if (sc_queue(c, line, (size_t)n) < 0 || sc_flush(c) < 0)
				goto drop;
			c->st = S_DRAIN;
		}
		if (c->st == S_CMD || ((c->st == S_ECHO || c->st == S_DRAIN) && !sc_pending(c)))
			goto drop;	/* everything sent and the peer is done: close */
	}
	if (!c->peer_eof && !(c->st == S_ECHO && sc_pending(c)))
		want |= EPOLLIN;
	if (sc_pending(c) || (c->st == S_GEN && c->off < c->n))
		want |= EPOLLOUT;
	if (want != c->events) {
		ev.events = want;
		if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->it.fd, &ev) < 0)
			goto drop;
		c->events = want;
	}
	return;
drop:
	sc_free(c);
}

static void sc_readable(int epfd, struct sconn *c)
{
	for (int i = 0; i < 16 && !c->peer_eof; i++) {
		ssize_t n;

		if (c->st == S_ECHO && sc_pending(c))
			break;
		n = recv(c->it.fd, scratch, sizeof(scratch), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			sst.errors++;
			sc_free(c);
			return;
		}
		if (n == 0) {
			c->peer_eof = true;
			break;
		}
		if (sc_feed(c, scratch, (size_t)n) < 0) {
			sst.errors++;
			sc_free(c);
			return;
		}
	}
	sc_step(epfd, c);
}

static void server_accept(int epfd, struct sitem *l)
{
	for (int i = 0; i < 64; i++) {
		struct epoll_event ev = { .events = EPOLLIN };
		struct sconn *c;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				fprintf(stderr, "kr-stress: accept: %s\n", strerror(errno));
			return;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->it.kind = K_CONN;
		c->it.fd = fd;
		c->events = EPOLLIN;
		ev.data.ptr = c;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			free(c);
			continue;
		}
		sst.conns++;
		sst.open++;
	}
}

static void server_udp(struct sitem *u)
{
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(u->fd, scratch, sizeof(scratch), MSG_DONTWAIT,
				     (struct sockaddr *)&peer, &plen);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (sendto(u->fd, scratch, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (struct sockaddr *)&peer, plen) == n)
			sst.udp++;
	}
}

static int open_server_socket(const struct sockaddr_in *sa, int type)
{
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) < 0)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int cmd_server(int argc, char **argv)
{
	struct sockaddr_in tcp_sa, udp_sa;
	bool have_tcp = false, have_udp = false;
	const char *ready = NULL;
	struct sitem sig = { K_SIGNAL, -1 }, lst = { K_LISTEN, -1 }, udp = { K_UDP, -1 };
	struct epoll_event evs[MAX_EVENTS], ev = { .events = EPOLLIN };
	sigset_t mask;
	bool running = true;
	int epfd;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--tcp") && v && !parse_addr(v, &tcp_sa))
			have_tcp = true;
		else if (!strcmp(argv[i], "--udp") && v && !parse_addr(v, &udp_sa))
			have_udp = true;
		else if (!strcmp(argv[i], "--ready-file") && v)
			ready = v;
		else
			return 2;
		i++;
	}
	if (!have_tcp && !have_udp)
		return 2;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sig.fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (have_tcp && (lst.fd = open_server_socket(&tcp_sa, SOCK_STREAM)) < 0) {
		fprintf(stderr, "kr-stress: server tcp: %s\n", strerror(errno));
		return 1;
	}
	if (have_udp && (udp.fd = open_server_socket(&udp_sa, SOCK_DGRAM)) < 0) {
		fprintf(stderr, "kr-stress: server udp: %s\n", strerror(errno));
		return 1;
	}
	if (sig.fd < 0 || epfd < 0)
		return 1;
	ev.data.ptr = &sig;
	epoll_ctl(epfd, EPOLL_CTL_ADD, sig.fd, &ev);
	if (lst.fd >= 0) {
		ev.data.ptr = &lst;
		epoll_ctl(epfd, EPOLL_CTL_ADD, lst.fd, &ev);
	}
	if (udp.fd >= 0) {
		ev.data.ptr = &udp;
		epoll_ctl(epfd, EPOLL_CTL_ADD, udp.fd, &ev);
	}
	if (ready) {
		FILE *f = fopen(ready, "w");

		if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
			fprintf(stderr, "kr-stress: ready file %s: %s\n", ready, strerror(errno));
			return 1;
		}
	}
	while (running) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, -1);

		for (int i = 0; i < n; i++) {
			struct sitem *it = evs[i].data.ptr;

			switch (it->kind) {
			case K_SIGNAL:
				running = false;
				break;
			case K_LISTEN:
				server_accept(epfd, it);
				break;
			case K_UDP:
				server_udp(it);
				break;
			case K_CONN:
				/* A handler frees only its own connection, and an fd has
				 * one event per batch. */
				if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
					sc_readable(epfd, (struct sconn *)it);
				else
					sc_step(epfd, (struct sconn *)it);
				break;
			}
		}
	}
	fprintf(stderr, "kr-stress server: exiting: conns=%lu open=%lu echo_bytes=%lu verify_ok=%lu "
		"verify_bad=%lu gen=%lu udp=%lu errors=%lu\n", sst.conns, sst.open, sst.echo_bytes,
		sst.verify_ok, sst.verify_bad, sst.gen, sst.udp, sst.errors);
	/* Open connections are not freed one by one: the process ends here. */
	return 0;
}

/* =====================================================================
 * conns: many concurrent connections, held open, then closed
 * ===================================================================== */

enum cstate { C_IDLE, C_CONNECTING, C_ECHO, C_OPEN, C_DONE };

struct cconn {
	int fd;
	enum cstate st;
	uint8_t plen, got;
	char payload[40];
};

struct copts {
	struct sockaddr_in dst;
	uint64_t count, parallel, rounds, hold_ms, settle_ms, timeout_ms;
	uint64_t fd_slack, rss_slack_kb;
	bool rss_check;
	struct pids pids;
};

static int conns_round(const struct copts *o, unsigned round, struct cconn *cs, int epfd,
		       long fds_base, long *ret_rss_after)
{
	struct epoll_event evs[MAX_EVENTS];
	uint64_t next = 0, inflight = 0, open = 0, failed = 0;
	int64_t deadline = now_ms() + (int64_t)o->timeout_ms, t_hold;
	double t0 = now_s(), t_open;
	long fds_open = -1, rss_open = -1, fds_after = -1, rss_after = -1;
	unsigned nonce = (unsigned)getpid() * 2654435761u + round;
	int reported = 0;
	bool ok = true;

	while (open + failed < o->count) {
		while (next < o->count && inflight < o->parallel) {
			struct cconn *c = &cs[next];
			struct epoll_event ev = { .events = EPOLLOUT, .data.u64 = next };
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			next++;
			if (fd < 0) {
				if (reported++ < 5)
					printf("conn %" PRIu64 ": socket: %s\n", next - 1, errname(errno));
				failed++;
				continue;
			}
			c->fd = fd;
			c->got = 0;
			c->plen = (uint8_t)snprintf(c->payload, sizeof(c->payload), "E\nc%" PRIu64 "-%u-%08x\n",
						    next - 1, round, nonce ^ (unsigned)(next * 40503u));
			if (connect(fd, (const struct sockaddr *)&o->dst, sizeof(o->dst)) < 0 &&
			    errno != EINPROGRESS) {
				if (reported++ < 5)
					printf("conn %" PRIu64 ": connect: %s\n", next - 1, errname(errno));
				close(fd);
				c->st = C_DONE;
				failed++;
				continue;
			}
			c->st = C_CONNECTING;
			epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
			inflight++;
		}
		if (now_ms() > deadline) {
			printf("round %u: timed out with %" PRIu64 " open, %" PRIu64 " failed, %" PRIu64
			       " in progress\n", round, open, failed, inflight);
			ok = false;
			break;
		}
		int n = epoll_wait(epfd, evs, MAX_EVENTS, 100);

		for (int i = 0; i < n; i++) {
			uint64_t idx = evs[i].data.u64;
			struct cconn *c = &cs[idx];
			int err = 0;

			if (c->st == C_CONNECTING) {
				socklen_t l = sizeof(err);
				struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.u64 = idx };

				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (!err && send(c->fd, c->payload, c->plen, MSG_NOSIGNAL) != c->plen)
					err = errno ? errno : EIO;
				if (!err && epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
					err = errno;
				if (!err) {
					c->st = C_ECHO;
					continue;
				}
			} else if (c->st == C_ECHO) {
				char buf[64];
				ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

				if (r < 0 && errno == EAGAIN)
					continue;
				if (r <= 0) {
					err = r < 0 ? errno : EPIPE;
				} else if (c->got + (size_t)r > (size_t)c->plen - 2 ||
					   memcmp(buf, c->payload + 2 + c->got, (size_t)r)) {
					err = EBADMSG;	/* not this connection's own payload */
				} else {
					c->got = (uint8_t)(c->got + r);
					if (c->got < c->plen - 2)
						continue;
					c->st = C_OPEN;
					inflight--;
					open++;
					continue;
				}
			} else if (c->st == C_OPEN) {
				err = ECONNRESET;	/* anything on an open, idle connection */
				open--;
				inflight++;	/* balanced below */
			} else {
				continue;
			}
			if (reported++ < 5)
				printf("conn %" PRIu64 ": %s\n", idx,
				       err == EPIPE ? "closed by the proxy" :
				       err == EBADMSG ? "got another payload" : errname(err));
			close(c->fd);
			c->st = C_DONE;
			inflight--;
			failed++;
		}
	}
	t_open = now_s() - t0;
	/* Idle with everything open: unexpected events are failures. */
	t_hold = now_ms() + (int64_t)o->hold_ms;
	while (ok && now_ms() < t_hold) {
		int n = epoll_wait(epfd, evs, MAX_EVENTS, (int)(t_hold - now_ms()) + 1);

		for (int i = 0; i < n; i++) {
			struct cconn *c = &cs[evs[i].data.u64];

			if (c->st == C_OPEN) {
				if (reported++ < 5)
					printf("conn %" PRIu64 ": closed or data while idle\n", evs[i].data.u64);
				close(c->fd);
				c->st = C_DONE;
				open--;
				failed++;
			}
		}
	}
	if (o->pids.n) {
		fds_open = pids_sum(&o->pids, proc_fds_one);
		rss_open = pids_sum(&o->pids, proc_rss_one);
	}
	for (uint64_t i = 0; i < o->count; i++) {
		if (cs[i].st == C_OPEN || cs[i].st == C_CONNECTING || cs[i].st == C_ECHO)
			close(cs[i].fd);
		cs[i].st = C_IDLE;
	}
	if (o->pids.n) {
		int64_t settle = now_ms() + (int64_t)o->settle_ms;

		for (;;) {
			fds_after = pids_sum(&o->pids, proc_fds_one);
			if (fds_after < 0 || fds_after <= fds_base + (long)o->fd_slack ||
			    now_ms() > settle)
				break;
			poll(NULL, 0, 50);
		}
		rss_after = pids_sum(&o->pids, proc_rss_one);
	}
	printf("round=%u count=%" PRIu64 " open=%" PRIu64 " failed=%" PRIu64 " open_s=%.2f "
	       "fds_before=%ld fds_open=%ld fds_after=%ld rss_open_kb=%ld rss_after_kb=%ld\n",
	       round, o->count, open, failed, t_open, fds_base, fds_open, fds_after, rss_open,
	       rss_after);
	*ret_rss_after = rss_after;
	if (failed || open != o->count)
		ok = false;
	if (o->pids.n && (fds_after < 0 || fds_after > fds_base + (long)o->fd_slack)) {
		printf("round %u: the proxy holds %ld fds after closing, %ld before (slack %" PRIu64
		       ")\n", round, fds_after, fds_base, o->fd_slack);
		ok = false;
	}
	return ok ? 0 : -1;
}

static int cmd_conns(int argc, char **argv)
{
	struct copts o = {
		.count = 10000, .parallel = 256, .rounds = 1, .hold_ms = 300,
		.settle_ms = 20000, .timeout_ms = 120000,
	};
	struct cconn *cs;
	long fds_base = -1, rss_base = -1, rss_first = -1, rss_last = -1;
	int epfd, rc = 0;

	if (argc < 1 || parse_addr(argv[0], &o.dst))
		return 2;
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r = -EINVAL;

		if (!strcmp(a, "--count"))
			r = parse_u64(v, 1000000, &o.count);
		else if (!strcmp(a, "--parallel"))
			r = parse_u64(v, 100000, &o.parallel);
		else if (!strcmp(a, "--rounds"))
			r = parse_u64(v, 100, &o.rounds);
		else if (!strcmp(a, "--hold-ms"))
			r = parse_u64(v, 3600000, &o.hold_ms);
		else if (!strcmp(a, "--settle-ms"))
			r = parse_u64(v, 3600000, &o.settle_ms);
		else if (!strcmp(a, "--timeout-ms"))
			r = parse_u64(v, 3600000, &o.timeout_ms);
		else if (!strcmp(a, "--fd-slack"))
			r = parse_u64(v, 1000000, &o.fd_slack);
		else if (!strcmp(a, "--rss-slack-kb")) {
			r = parse_u64(v, 100000000, &o.rss_slack_kb);
			o.rss_check = true;
		} else if (!strcmp(a, "--pid") && v)
			r = parse_pids(v, &o.pids);
		if (r < 0)
			return 2;
	}
	if (!o.count || !o.parallel || !o.rounds)
		return 2;
	cs = calloc(o.count, sizeof(*cs));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!cs || epfd < 0)
		return 1;
	if (o.pids.n) {
		fds_base = pids_sum(&o.pids, proc_fds_one);
		rss_base = pids_sum(&o.pids, proc_rss_one);
		if (fds_base < 0) {
			printf("FAIL conns: cannot read /proc/PID/fd of the given pid(s)\n");
			return 1;
		}
	}
	printf("target=%s:%u count=%" PRIu64 " parallel=%" PRIu64 " rounds=%" PRIu64
	       " fds_base=%ld rss_base_kb=%ld\n", inet_ntoa(o.dst.sin_addr), ntohs(o.dst.sin_port),
	       o.count, o.parallel, o.rounds, fds_base, rss_base);
	for (unsigned r = 1; r <= o.rounds; r++) {
		long rss_after;

		if (conns_round(&o, r, cs, epfd, fds_base, &rss_after) < 0) {
			rc = 1;
			break;
		}
		if (r == 1)
			rss_first = rss_after;
		rss_last = rss_after;
	}
	if (!rc && o.pids.n && o.rounds > 1)
		printf("rss_growth_kb=%ld (after round %" PRIu64 " minus after round 1)\n",
		       rss_last - rss_first, o.rounds);
	if (!rc && o.rss_check && o.rounds > 1 && rss_last - rss_first > (long)o.rss_slack_kb) {
		printf("RSS grew by %ld kB from round 1 to round %" PRIu64 " (slack %" PRIu64 " kB)\n",
		       rss_last - rss_first, o.rounds, o.rss_slack_kb);
		rc = 1;
	}
	if (rc)
		printf("FAIL conns\n");
	else
		printf("ok conns: %" PRIu64 " x %" PRIu64 " connections echoed, held and closed%s\n",
		       o.rounds, o.count, o.pids.n ? "; proxy fds back to baseline" : "");
	close(epfd);
	free(cs);
	return rc;
}

/* =====================================================================
 * halfclose and bulk: one exchange on one connection
 * ===================================================================== */

enum rxmode { RX_GEN, RX_TEXT };

struct rx {
	enum rxmode mode;
	uint64_t seed;
	uint64_t got;
	bool bad;
	uint64_t bad_at;
	char text[128];
};

/*
 * Sends hdr, then n_send bytes of gen(send_seed), then shuts down writing,
 * while reading everything until EOF into rx.  No progress for stall_ms is
 * a failure.  Returns 0, or -1 with a reason in why.
 */
static int exchange(const struct sockaddr_in *dst, const char *hdr, uint64_t n_send,
		    uint64_t send_seed, struct rx *rx, int stall_ms, double *secs,
		    char *why, size_t whylen)
{
	static unsigned char out[CHUNK], in[CHUNK];
	size_t hlen = strlen(hdr), out_len = 0, out_off = 0;
	uint64_t gen_off = 0, sent = 0;
	bool wr_done = false, rd_done = false, hdr_sent = false;
	int64_t last = now_ms();
	double t0 = now_s();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (fd < 0 || (connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0 &&
		       errno != EINPROGRESS)) {
		snprintf(why, whylen, "connect: %s", errname(errno));
		goto out;
	}
	memcpy(out, hdr, hlen);
	out_len = hlen;
	while (!wr_done || !rd_done) {
		struct pollfd p = { .fd = fd, .events = (short)((wr_done ? 0 : POLLOUT) |
								 (rd_done ? 0 : POLLIN)) };
		int n = poll(&p, 1, 100);

		if (n < 0 && errno != EINTR) {
			snprintf(why, whylen, "poll: %s", errname(errno));
			goto out;
		}
		if (now_ms() - last > stall_ms) {
			snprintf(why, whylen, "stalled: sent %" PRIu64 " of %" PRIu64 ", received %"
				 PRIu64 "%s", sent, n_send, rx->got,
				 wr_done ? " (after our FIN)" : "");
			goto out;
		}
		if (n <= 0)
			continue;
		if (p.revents & (POLLOUT | POLLERR) && !wr_done) {
			for (;;) {
				ssize_t w;

				if (out_off == out_len) {
					size_t k;

					if (hdr_sent && gen_off == n_send) {
						if (shutdown(fd, SHUT_WR) < 0) {
							snprintf(why, whylen, "shutdown: %s", errname(errno));
							goto out;
						}
						wr_done = true;
						break;
					}
					hdr_sent = true;
					k = n_send - gen_off < CHUNK ? (size_t)(n_send - gen_off) : CHUNK;
					gen_fill(send_seed, gen_off, out, k);
					gen_off += k;
					out_len = k;
					out_off = 0;
					if (!k)
						continue;
				}
				w = send(fd, out + out_off, out_len - out_off, MSG_NOSIGNAL);
				if (w < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					snprintf(why, whylen, "send after %" PRIu64 " bytes: %s", sent,
						 errname(errno));
					goto out;
				}
				out_off += (size_t)w;
				if (hdr_sent)
					sent += (uint64_t)w;
				last = now_ms();
			}
		}
		if (p.revents & (POLLIN | POLLHUP | POLLERR) && !rd_done) {
			for (;;) {
				ssize_t r = recv(fd, in, sizeof(in), 0);

				if (r < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					snprintf(why, whylen, "recv after %" PRIu64 " bytes: %s", rx->got,
						 errname(errno));
					goto out;
				}
				if (r == 0) {
					rd_done = true;
					break;
				}
				last = now_ms();
				if (rx->mode == RX_GEN) {
					size_t at = rx->bad ? (size_t)r : gen_check(rx->seed, rx->got, in, (size_t)r);

					if (at < (size_t)r) {
						rx->bad = true;
						rx->bad_at = rx->got + at;
					}
				} else {
					size_t have = strlen(rx->text);
					size_t k = (size_t)r < sizeof(rx->text) - 1 - have ?
						(size_t)r : sizeof(rx->text) - 1 - have;

					memcpy(rx->text + have, in, k);
					rx->text[have + k] = '\0';
				}
				rx->got += (uint64_t)r;
			}
		}
	}
	rc = 0;
out:
	*secs = now_s() - t0;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* One exchange, judged: the answer must be gen(rx_seed) of want bytes, or the text want_text. */
static bool check_exchange(const char *name, const struct sockaddr_in *dst, const char *hdr,
			   uint64_t n_send, uint64_t seed, enum rxmode mode, uint64_t want,
			   const char *want_text)
{
	struct rx rx = { .mode = mode, .seed = seed };
	char why[256] = "";
	double secs;
	int r = exchange(dst, hdr, n_send, seed, &rx, 10000, &secs, why, sizeof(why));
	uint64_t moved = n_send > rx.got ? n_send : rx.got;

	if (!r && mode == RX_GEN && rx.bad)
		snprintf(why, sizeof(why), "byte %" PRIu64 " differs", rx.bad_at);
	else if (!r && mode == RX_GEN && rx.got != want)
		snprintf(why, sizeof(why), "received %" PRIu64 " bytes, want %" PRIu64, rx.got, want);
	else if (!r && mode == RX_TEXT && strcmp(rx.text, want_text))
		snprintf(why, sizeof(why), "answer '%.*s', want '%.*s'",
			 (int)strcspn(rx.text, "\n"), rx.text, (int)strcspn(want_text, "\n"), want_text);
	if (why[0]) {
		printf("FAIL %s: %s\n", name, why);
		return false;
	}
	printf("ok %s: %" PRIu64 " bytes sent, %" PRIu64 " received, %.2f s, %.0f MB/s\n", name,
	       n_send, rx.got, secs, secs > 0 ? (double)moved / secs / 1e6 : 0.0);
	return true;
}

static int cmd_halfclose(int argc, char **argv)
{
	struct sockaddr_in dst;
	char hdr[64], want[64];
	uint64_t seed = (uint64_t)getpid() << 16;
	bool ok = true;

	if (argc != 1 || parse_addr(argv[0], &dst))
		return 2;
	/* The answer exists only after the server saw our FIN. */
	snprintf(hdr, sizeof(hdr), "V %u %" PRIu64 "\n", 1u << 20, seed + 1);
	snprintf(want, sizeof(want), "ok %u\n", 1u << 20);
	ok &= check_exchange("halfclose-verify-after-fin", &dst, hdr, 1u << 20, seed + 1, RX_TEXT,
			     0, want);
	/* FIN at once, then 8 MB come back. */
	snprintf(hdr, sizeof(hdr), "G %u %" PRIu64 "\n", 8u << 20, seed + 2);
	ok &= check_exchange("halfclose-download-after-fin", &dst, hdr, 0, seed + 2, RX_GEN,
			     8u << 20, NULL);
	/* 4 MB echoed; our FIN travels behind data still coming back. */
	ok &= check_exchange("halfclose-echo", &dst, "E\n", 4u << 20, seed + 3, RX_GEN, 4u << 20,
			     NULL);
	/* The smallest case: one byte, FIN, one byte back. */
	ok &= check_exchange("halfclose-echo-1-byte", &dst, "E\n", 1, seed + 4, RX_GEN, 1, NULL);
	return ok ? 0 : 1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * pairs: on one connection, COUNT exchanges of two 1-byte writes 1 ms
 * apart, answered the same way ("o", 1 ms, "k").  A relay without Nagle
 * answers in about 2 ms; with Nagle on either side each exchange waits for
 * a delayed ACK, about 40 ms.  Judged on the median exchange (the first
 * few ride TCP's quick-ACK start), against 20 ms.
 */
static int cmd_pairs(int argc, char **argv)
{
	struct sockaddr_in dst;
	uint64_t count = 40;
	double *ms;
	int fd, one = 1;
	struct timeval tv = { 5, 0 };
	char b[8];
	bool ok = true;

	if (argc < 1 || parse_addr(argv[0], &dst))
		return 2;
	for (int i = 1; i < argc; i += 2) {
		if (!strcmp(argv[i], "--count") && !parse_u64(i + 1 < argc ? argv[i + 1] : NULL, 100000, &count) &&
		    count)
			continue;
		return 2;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&dst, sizeof(dst)) < 0) {
		printf("FAIL pairs: connect: %s\n", errname(errno));
		return 1;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, "P\n", 2, MSG_NOSIGNAL) != 2 || recv(fd, b, 2, MSG_WAITALL) != 2 ||
	    memcmp(b, "p\n", 2)) {
		printf("FAIL pairs: no P greeting\n");
		close(fd);
		return 1;
	}
	ms = calloc(count, sizeof(*ms));
	for (uint64_t i = 0; i < count && ok; i++) {
		struct timespec pause = { 0, 1000000 };
		double t0 = now_s();

		ok = send(fd, "A", 1, MSG_NOSIGNAL) == 1;
		nanosleep(&pause, NULL);
		ok = ok && send(fd, "B", 1, MSG_NOSIGNAL) == 1 && recv(fd, b, 2, MSG_WAITALL) == 2 &&
		     !memcmp(b, "ok", 2);
		ms[i] = (now_s() - t0) * 1000;
		if (!ok)
			printf("FAIL pairs: exchange %" PRIu64 ": %s\n", i, errname(errno));
	}
	close(fd);
	if (ok) {
		double med, max = 0;

		for (uint64_t i = 0; i < count; i++)
			max = ms[i] > max ? ms[i] : max;
		qsort(ms, count, sizeof(*ms), cmp_double);
		med = ms[count / 2];
		ok = med < 20;
		printf("%s pairs: %" PRIu64 " exchanges of two small writes each way, median %.2f ms, max %.2f ms%s\n",
		       ok ? "ok" : "FAIL", count, med, max, ok ? "" : " (a relay holding small writes: Nagle)");
	}
	free(ms);
	return ok ? 0 : 1;
}

static int cmd_bulk(int argc, char **argv)
{
	struct sockaddr_in dst;
	uint64_t bytes = 256u << 20, seed = (uint64_t)getpid() << 20;
	const char *dir = "all";
	char hdr[64], want[64];
	bool ok = true;

	if (argc < 1 || parse_addr(argv[0], &dst))
		return 2;
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(argv[i], "--bytes") && !parse_u64(v, UINT64_MAX / 2, &bytes))
			continue;
		if (!strcmp(argv[i], "--dir") && v) {
			dir = v;
			continue;
		}
		return 2;
	}
	if (!strcmp(dir, "up") || !strcmp(dir, "all")) {
		snprintf(hdr, sizeof(hdr), "V %" PRIu64 " %" PRIu64 "\n", bytes, seed + 1);
		snprintf(want, sizeof(want), "ok %" PRIu64 "\n", bytes);
		ok &= check_exchange("bulk-up", &dst, hdr, bytes, seed + 1, RX_TEXT, 0, want);
	}
	if (!strcmp(dir, "down") || !strcmp(dir, "all")) {
		snprintf(hdr, sizeof(hdr), "G %" PRIu64 " %" PRIu64 "\n", bytes, seed + 2);
		ok &= check_exchange("bulk-down", &dst, hdr, 0, seed + 2, RX_GEN, bytes, NULL);
	}
	if (!strcmp(dir, "both") || !strcmp(dir, "all"))
		ok &= check_exchange("bulk-echo", &dst, "E\n", bytes, seed + 3, RX_GEN, bytes, NULL);
	return ok ? 0 : 1;
}

/* =====================================================================
 * udp: many clients, every reply matched to its sender
 * ===================================================================== */

struct uclient {
	int fd;
	unsigned seq;		/* datagrams answered so far */
	unsigned tries;
	bool waiting;
	int64_t sent_at;
	size_t len;
	char payload[512];
};

static void udp_send(struct uclient *u, unsigned idx, unsigned nonce, size_t size)
{
	int n = snprintf(u->payload, sizeof(u->payload), "udp %u seq %u nonce %08x ", idx, u->seq,
			 nonce);

	u->len = size > (size_t)n ? size : (size_t)n;
	if (u->len > sizeof(u->payload))
		u->len = sizeof(u->payload);
	for (size_t i = (size_t)n; i < u->len; i++)
		u->payload[i] = (char)('a' + (idx + i) % 26);
	(void)send(u->fd, u->payload, u->len, MSG_NOSIGNAL);
	u->waiting = true;
	u->tries++;
	u->sent_at = now_ms();
}

static int cmd_udp(int argc, char **argv)
{
	struct sockaddr_in dst;
	uint64_t clients = 1000, per = 3, size = 64, inflight_max = 64;
	struct uclient *us;
	struct epoll_event evs[MAX_EVENTS];
	unsigned nonce = (unsigned)getpid() * 2246822519u;
	uint64_t done = 0, next = 0, inflight = 0, resent = 0, stale = 0, errs = 0, mismatch = 0;
	int64_t deadline;
	double t0 = now_s();
	int epfd, rc = 0;

	if (argc < 1 || parse_addr(argv[0], &dst))
		return 2;
	for (int i = 1; i < argc; i += 2) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int r = -EINVAL;

		if (!strcmp(argv[i], "--clients"))
			r = parse_u64(v, 100000, &clients);
		else if (!strcmp(argv[i], "--per"))
			r = parse_u64(v, 1000, &per);
		else if (!strcmp(argv[i], "--size"))
			r = parse_u64(v, 512, &size);
		else if (!strcmp(argv[i], "--inflight"))
			r = parse_u64(v, 100000, &inflight_max);
		if (r < 0)
			return 2;
	}
	if (!clients || !per || !inflight_max)
		return 2;
	us = calloc(clients, sizeof(*us));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!us || epfd < 0)
		return 1;
	for (uint64_t i = 0; i < clients; i++) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = i };

		us[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (us[i].fd < 0 || connect(us[i].fd, (const struct sockaddr *)&dst, sizeof(dst)) < 0 ||
		    epoll_ctl(epfd, EPOLL_CTL_ADD, us[i].fd, &ev) < 0) {
			printf("FAIL udp: socket %" PRIu64 ": %s\n", i, errname(errno));
			return 1;
		}
	}
	deadline = now_ms() + 60000;
	while (done < clients) {
		int n;

		/* Start clients, and resend what went unanswered for 300 ms. */
		for (; next < clients && inflight < inflight_max; next++, inflight++)
			udp_send(&us[next], (unsigned)next, nonce, (size_t)size);
		for (uint64_t i = 0; i < next; i++) {
			struct uclient *u = &us[i];

			if (!u->waiting || now_ms() - u->sent_at < 300)
				continue;
			if (u->tries >= 10) {
				printf("FAIL udp: client %" PRIu64 " got no answer to datagram %u after %u "
				       "tries\n", i, u->seq, u->tries);
				rc = 1;
				goto out;
			}
			resent++;
			udp_send(u, (unsigned)i, nonce, (size_t)size);
		}
		if (now_ms() > deadline) {
			printf("FAIL udp: %" PRIu64 " of %" PRIu64 " clients finished in 60 s\n", done,
			       clients);
			rc = 1;
			goto out;
		}
		n = epoll_wait(epfd, evs, MAX_EVENTS, 50);
		for (int i = 0; i < n; i++) {
			uint64_t idx = evs[i].data.u64;
			struct uclient *u = &us[idx];

			for (;;) {
				char buf[600];
				unsigned r_idx, r_seq, r_nonce;
				ssize_t r = recv(u->fd, buf, sizeof(buf) - 1, 0);

				if (r < 0) {
					if (errno == EAGAIN)
						break;
					if (errno != EINTR)
						errs++;	/* an ICMP error: the resend handles it */
					continue;
				}
				if (u->waiting && (size_t)r == u->len && !memcmp(buf, u->payload, u->len)) {
					u->waiting = false;
					u->tries = 0;
					if (++u->seq == per) {
						done++;
						inflight--;
					} else {
						udp_send(u, (unsigned)idx, nonce, (size_t)size);
						u->tries = 1;
					}
					continue;
				}
				/* An answer to an earlier datagram of this client (resent, so
				 * answered twice) is a duplicate; anything else is someone
				 * else's reply. */
				buf[r < (ssize_t)sizeof(buf) ? r : (ssize_t)sizeof(buf) - 1] = '\0';
				if (sscanf(buf, "udp %u seq %u nonce %x", &r_idx, &r_seq, &r_nonce) == 3 &&
				    r_idx == idx && r_nonce == nonce &&
				    (r_seq < u->seq || (r_seq == u->seq && !u->waiting))) {
					stale++;
					continue;
				}
				if (mismatch++ < 5)
					printf("client %" PRIu64 " got a datagram that is not its own: '%.*s'\n",
					       idx, (int)(r > 40 ? 40 : r), buf);
			}
		}
	}
out:
	printf("clients=%" PRIu64 " per=%" PRIu64 " size=%" PRIu64 " done=%" PRIu64 " resent=%"
	       PRIu64 " stale=%" PRIu64 " icmp_errors=%" PRIu64 " mismatched=%" PRIu64 " secs=%.2f\n",
	       clients, per, size, done, resent, stale, errs, mismatch, now_s() - t0);
	if (!rc && mismatch) {
		printf("FAIL udp: %" PRIu64 " replies reached the wrong client\n", mismatch);
		rc = 1;
	}
	if (!rc)
		printf("ok udp: %" PRIu64 " clients x %" PRIu64 " datagrams, every reply its own\n",
		       clients, per);
	for (uint64_t i = 0; i < clients; i++)
		if (us[i].fd >= 0)
			close(us[i].fd);
	free(us);
	close(epfd);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kr-stress server --tcp IP:PORT [--udp IP:PORT] [--ready-file PATH]\n"
		"       kr-stress conns IP:PORT [--count N] [--parallel K] [--rounds R] [--pid PID[,PID]]\n"
		"                 [--fd-slack N] [--rss-slack-kb KB] [--hold-ms MS] [--settle-ms MS]\n"
		"                 [--timeout-ms MS]\n"
		"       kr-stress halfclose IP:PORT\n"
		"       kr-stress bulk IP:PORT [--bytes N] [--dir up|down|both|all]\n"
		"       kr-stress pairs IP:PORT [--count N]\n"
		"       kr-stress udp IP:PORT [--clients N] [--per N] [--size B] [--inflight N]\n");
}

int main(int argc, char **argv)
{
	int rc = 2;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	if (!strcmp(argv[1], "server"))
		rc = cmd_server(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "conns"))
		rc = cmd_conns(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "halfclose"))
		rc = cmd_halfclose(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "bulk"))
		rc = cmd_bulk(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "pairs"))
		rc = cmd_pairs(argc - 2, argv + 2);
	else if (!strcmp(argv[1], "udp"))
		rc = cmd_udp(argc - 2, argv + 2);
	if (rc == 2)
		usage(stderr);
	return rc;
}
