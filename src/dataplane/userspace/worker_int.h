/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside a worker: its event sources and the per-connection state.  Only
 * worker.c, tcp.c and udp.c include this, and only the owning worker thread
 * touches these objects.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_WORKER_INT_H
#define KROUTE_DATAPLANE_USERSPACE_WORKER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dataplane/userspace/proxy.h"
#include "dataplane/userspace/sess_table.h"
#include "dataplane/userspace/worker.h"

#define US_UDP_BATCH 32             /* datagrams per recvmmsg/sendmmsg */
#define US_UDP_BUF 65536            /* largest datagram */
#define US_PIPE_SIZE (256 * 1024)   /* splice pipe per direction: bounds memory per connection */
#define US_PIPE_POOL 256            /* empty pipes kept for reuse, per worker */
#define US_COPY_SIZE 16384          /* small-message copy buffer, per worker; a full read means bulk */
#define US_TICK_NS (100 * 1000000ull)

enum us_ev_kind {
	US_EV_WAKE,
	US_EV_TICK,
	US_EV_LISTEN_TCP,
	US_EV_LISTEN_UDP,
	US_EV_TCP_CLIENT,
	US_EV_TCP_BACKEND,
	US_EV_UDP_SESS,
};

/* First member of everything registered with epoll: what the pointer is. */
struct us_ev {
	uint8_t kind;
};

struct us_link {
	struct us_link *prev, *next;
};

#define us_container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

static inline void us_list_init(struct us_link *h)
{
	h->prev = h->next = h;
}

static inline bool us_list_empty(const struct us_link *h)
{
	return h->next == h;
}

static inline void us_list_add_tail(struct us_link *h, struct us_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void us_list_del(struct us_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

/* A worker's socket for one listener. */
struct us_wl {
	struct us_ev ev;
	int fd;
	bool paused;                /* out of fds: off epoll until the next tick */
	struct us_listener *l;      /* ref */
	struct us_worker *w;
	struct us_link link;
};

/* One direction of a TCP relay: its pipe (while bytes wait in it) and its mode. */
struct us_pipe {
	int r, w;
	uint32_t len;               /* bytes in the pipe */
	bool bulk;                  /* splice (bulk data) rather than copy (small messages) */
	bool fin_seen;              /* the source reported RDHUP/HUP: read to EOF, never stop short */
};

struct us_conn {
	struct us_ev ev_client, ev_backend;
	int cfd, bfd;
	struct us_pipe up, down;    /* client -> backend, backend -> client */
	bool client_eof, backend_eof;   /* FIN received */
	bool backend_shut, client_shut; /* FIN forwarded (shutdown SHUT_WR) */
	bool connecting, dead, spoof;
	bool from_pod, from_node;   /* the client is in --cluster-cidr / is this node */
	uint8_t attempts;
	struct us_ep *ep;           /* ref, counted */
	struct us_ep *tried[US_MAX_ATTEMPTS]; /* identity only */
	struct us_svc *svc;         /* ref */
	struct us_listener *l;      /* ref */
	struct addr client_addr;
	uint16_t client_port;
	struct sched_flow flow;
	uint64_t deadline_ns;
	struct us_link link;        /* worker's connecting or relaying list, then its graveyard */
};

struct us_sess {
	struct us_ev ev;
	int fd;
	bool broken, dead;
	struct us_wl *wl;
	struct us_svc *svc;         /* ref */
	struct us_ep *ep;           /* ref, counted */
	struct sockaddr_storage client;
	socklen_t clen;
	struct addr client_addr;
	uint16_t client_port;
	uint64_t last_ns;
	uint64_t hash;              /* us_sess_hash of (wl, client_addr, client_port) */
	struct us_sess *hnext;      /* sess_table.c's chain */
	struct us_link lru;         /* oldest first; then the graveyard */
};

struct us_worker {
	struct us_dp *dp;
	unsigned idx;
	pthread_t thread;
	/*
	 * The worker has a file descriptor table of its own (see worker.c):
	 * every fd below but ctl is a number in that table, used by the
	 * worker thread only.  ctl is the control thread's end of the
	 * message socket, ctl_peer the worker's.
	 */
	int ctl, ctl_peer;
	int epfd, tick_fd;
	struct us_ev ev_wake, ev_tick;
	struct us_snap *snap;
	struct us_link wls, connecting, relaying, sessions, graveyard_conns, graveyard_sess,
		graveyard_wls;
	struct us_sess_table sessions_by_client;
	struct us_pipe pool[US_PIPE_POOL];
	size_t n_pool;
	bool pool_used;             /* a pipe was taken from the pool since the last tick */
	int reserve_fd;             /* spare fd for the EMFILE accept trick */
	uint64_t last_fd_log_ns;
	uint64_t now_ns;            /* cached per event batch */
	uint64_t udp_removal_gen;   /* the dp's removal_gen the last UDP scan saw */
	uint8_t *copy_buf;          /* US_COPY_SIZE bytes */
	_Atomic uint64_t bytes;
	/* UDP batch buffers: preallocated, never per packet. */
	struct mmsghdr *rx, *tx;
	struct iovec *rx_iov, *tx_iov;
	struct sockaddr_storage *rx_names;
	uint8_t *bufs;
};

/* worker.c */
/* Logs (once a second) and closes the oldest UDP sessions; true when that freed some fds. */
bool us_worker_fd_exhausted(struct us_worker *w, const char *what);
bool us_worker_from_pod(const struct us_worker *w, const struct addr *a);
int us_epoll_add(struct us_worker *w, int fd, uint32_t events, struct us_ev *ev);
bool us_want_spoof(const struct us_worker *w, const struct us_listener *l, bool from_pod,
		   bool from_node, const struct addr *client, const struct us_ep *ep);
int us_upstream_socket(struct us_worker *w, int type, const struct us_ep *ep, bool *spoof,
		       const struct addr *client, uint16_t client_port);

/* tcp.c */
void us_tcp_accept(struct us_worker *w, struct us_wl *wl);
void us_tcp_event(struct us_worker *w, struct us_conn *c, bool backend, uint32_t events);
void us_tcp_close(struct us_worker *w, struct us_conn *c, bool reset);
void us_tcp_tick(struct us_worker *w, bool scan_removed);
void us_tcp_free_graveyard(struct us_worker *w);
void us_tcp_done(struct us_worker *w);

/* udp.c */
int us_udp_init(struct us_worker *w);
void us_udp_rx(struct us_worker *w, struct us_wl *wl);
void us_udp_reply(struct us_worker *w, struct us_sess *s);
void us_udp_tick(struct us_worker *w, bool scan_removed);
void us_udp_close_listener(struct us_worker *w, struct us_wl *wl);
size_t us_udp_shed(struct us_worker *w, size_t max);
void us_udp_free_graveyard(struct us_worker *w);
void us_udp_done(struct us_worker *w);

#endif
