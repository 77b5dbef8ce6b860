/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The userspace proxy's runtime objects, shared by the control thread (the
 * agent's loop, which calls sync) and the worker threads (one epoll loop
 * each; see worker.c).
 *
 * Sharing rules:
 *  - us_svc: one endpoint set with its scheduler, kept across syncs by key.
 *    Everything behind svc->lock is read and written by any thread holding
 *    the lock; that is once per new connection or UDP session (pick) and
 *    once when it ends, never per packet.
 *  - us_ep: one endpoint of one us_svc; connections hold a reference.
 *    `removed` and `removed_ns` are written by the control thread and read
 *    lock-free by workers (grace-period close, UDP moves); `health_dirty`
 *    is written under svc->lock and read lock-free.  Every field read
 *    without the lock is an atomic, and every access to it is atomic.
 *  - us_listener: immutable after creation; each worker gets its own socket
 *    (SO_REUSEPORT) through its message queue, so workers never see a
 *    half-built table.  The last reference frees it.
 *  - us_snap: the node's local addresses, immutable, handed to workers the
 *    same way.
 * Reference counts are atomics; nothing else on the data path is shared.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_PROXY_H
#define KROUTE_DATAPLANE_USERSPACE_PROXY_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/addr.h"
#include "dataplane/userspace/health.h"
#include "policy/policy.h"
#include "sched/sched.h"

struct us_plan_svc;
struct us_dp;

#define US_NS_PER_SEC 1000000000ull
#define US_MAX_ATTEMPTS 3            /* connect attempts per TCP connection (bounded retry) */

struct us_ep {
	atomic_uint refs;
	struct us_svc *svc;          /* borrowed: the svc outlives its endpoints */
	struct addr addr;
	uint16_t port;
	char key[ADDR_PORT_STRLEN];
	struct sockaddr_storage sa;
	socklen_t salen;
	atomic_bool removed;         /* no longer in the set: close after the grace period */
	_Atomic uint64_t removed_ns;
	/*
	 * health has failures a success must clear.  Written under svc->lock
	 * with health, read without it by us_svc_succeeded, so that the common
	 * case (a success with nothing to clear) takes no lock.  health itself
	 * is only ever touched under the lock.
	 */
	atomic_bool health_dirty;
	/* Under svc->lock: */
	int idx;                     /* index in svc->dests; -1 when not in the current set */
	uint32_t weight;             /* configured weight */
	uint32_t active;             /* open connections and UDP sessions */
	uint64_t conns_total;
	struct us_health health;
};

struct us_svc {
	atomic_uint refs;
	struct us_dp *dp;
	char *key;                   /* plan key: identity across syncs */
	char *name;
	int family, proto;
	pthread_mutex_t lock;
	/* Under lock: */
	struct us_ep **cur;          /* current set, parallel to dests */
	struct sched_dest *dests;
	size_t n_cur;
	struct us_ep **gone;         /* removed endpoints some connection still uses */
	size_t n_gone, cap_gone;
	struct sched_state *st;
	struct sched_affinity *aff;
	const char *sched_name;
	struct sched_config cfg;
	uint64_t affinity_timeout_ns;
	size_t n_ejected;
	bool retired;                /* gone from the view; its connections wind down */
};

struct us_listener {
	atomic_uint refs;
	char *ident;                 /* what makes two listeners the same across syncs */
	char *name;
	int proto, family;
	struct sockaddr_storage sa;
	socklen_t salen;
	enum route_kind kind;
	struct us_svc *svc;          /* ref; NULL when external clients are dropped */
	struct us_svc *svc_cluster;  /* ref; pods and the node with etp Local; may be NULL */
	bool preserve_external, masquerade_all;
	struct us_wl **per_worker;   /* control thread only: what to send in DEL */
};

struct us_snap {
	atomic_uint refs;
	struct addr *local;          /* every address of the node, VIPs and loopback included */
	size_t n_local;
};

/* Counters, updated with relaxed atomics from any thread. */
struct us_counters {
	atomic_ullong tcp_accepted, tcp_active, tcp_connect_failures, tcp_retries,
		tcp_no_endpoint, tcp_grace_closed, udp_sessions_active,
		udp_sessions_total, udp_rx, udp_tx, udp_moved, udp_dropped, udp_shed, ejections, fd_exhausted;
};

/* svc.c */
struct us_svc *us_svc_new(struct us_dp *dp, const struct us_plan_svc *ps);
void us_svc_ref(struct us_svc *s);
void us_svc_unref(struct us_svc *s);
/* Reconciles the endpoint set and scheduler with the plan (control thread). */
void us_svc_update(struct us_svc *s, const struct us_plan_svc *ps, uint64_t now_ns);
/* The service left the view: every endpoint counts as removed. */
void us_svc_retire(struct us_svc *s, uint64_t now_ns);
/*
 * Picks an endpoint for a new flow, not one of tried[]; counts the
 * connection and returns a reference, or NULL when none can take it.
 */
struct us_ep *us_svc_pick(struct us_svc *s, const struct sched_flow *f, struct us_ep *const *tried,
			  size_t n_tried, uint64_t now_ns);
/* The flow ended: uncounts it and drops the reference. */
void us_svc_release(struct us_ep *ep);
/* A connect to ep failed / worked (passive health). */
void us_svc_failed(struct us_ep *ep, int err, uint64_t now_ns);
void us_svc_succeeded(struct us_ep *ep);
void us_ep_unref(struct us_ep *ep);
/*
 * The grace-period close: whether a connection to ep must be closed at
 * now_ns (ep was removed at least grace_ns ago and not revived since), and
 * whether workers must still look for such connections (until grace_ns
 * plus slack_ns after the last removal anywhere; 0: none ever).
 */
bool us_ep_grace_over(struct us_ep *ep, uint64_t grace_ns, uint64_t now_ns);
bool us_grace_scan_due(uint64_t last_removal_ns, uint64_t grace_ns, uint64_t slack_ns, uint64_t now_ns);

void us_listener_unref(struct us_listener *l);
void us_snap_unref(struct us_snap *s);
/* Sorts the addresses for us_snap_is_local (before the snapshot is shared). */
void us_snap_sort(struct us_snap *s);
bool us_snap_is_local(const struct us_snap *s, const struct addr *a);
/* Whether a and b (sorted; b may be NULL) hold the same addresses. */
bool us_snap_same(const struct us_snap *a, const struct us_snap *b);

void us_sockaddr_to_addr(const struct sockaddr_storage *sa, struct addr *ret, uint16_t *ret_port);
void us_addr_to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ret,
			 socklen_t *ret_len);

#endif
