/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy worker threads: one epoll loop each, edge-triggered, non-blocking.
 * The control thread talks to a worker only through its control socket (a
 * SOCK_SEQPACKET pair, one message per datagram): add or remove a listener
 * socket, replace the local-address snapshot, quit.  A worker talks back
 * only through dp->logq (lines for the agent's log) and the counters.  Everything a worker owns
 * (listener sockets, connections, UDP sessions, buffers) is touched by that
 * worker alone.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_WORKER_H
#define KROUTE_DATAPLANE_USERSPACE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "core/strmap.h"
#include "dataplane/dataplane.h"
#include "dataplane/userspace/logq.h"
#include "dataplane/userspace/proxy.h"

struct us_worker;
struct us_wl;

/* The userspace data plane; dp_userspace.c owns it. */
struct us_dp {
	struct dp_opts opts;            /* borrowed strings and arrays (the agent's config) */
	uint64_t grace_ns, udp_timeout_ns, connect_timeout_ns, eject_ns;
	struct us_counters ctr;
	struct us_logq logq;            /* what proxy threads have to say; the agent logs it */
	_Atomic uint64_t last_removal_ns; /* workers look for connections to close after this */
	_Atomic uint64_t removal_gen;   /* bumped after each endpoint is marked removed */
	struct us_worker **workers;
	unsigned n_workers;
	struct us_snap *snap;           /* the local addresses the workers have (a ref) */
	/* Registry (control thread writes, status thread reads, both under reg_lock). */
	pthread_mutex_t reg_lock;
	struct strmap svcs;             /* key -> struct us_svc * */
	struct strmap listeners;        /* ident -> struct us_listener * */
	struct us_svc **svc_list;
	size_t n_svcs, cap_svcs;
	struct us_listener **ls_list;
	size_t n_ls;
};

/* pthread_create with every signal blocked in the new thread. */
int us_thread_create(pthread_t *t, void *(*fn)(void *), void *arg);
/* Starts worker idx (its thread and fd table); 0 or a negative errno. */
int us_worker_start(struct us_dp *dp, unsigned idx, struct us_worker **ret);
/* Asks the worker to quit, joins it and frees everything it owns. */
void us_worker_stop(struct us_worker *w);
/* Hands a listening (TCP) or bound (UDP) socket for l to the worker; takes a ref on l. */
struct us_wl *us_worker_add_listener(struct us_worker *w, struct us_listener *l, int fd);
/* The worker drains (TCP: accepts what is queued), closes it and drops its ref on l. */
void us_worker_del_listener(struct us_worker *w, struct us_wl *wl);
/* Replaces the worker's snapshot; takes a ref on s. */
void us_worker_set_snap(struct us_worker *w, struct us_snap *s);

#endif
