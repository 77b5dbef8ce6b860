/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When to sync: kube-proxy's bounded-frequency runner reduced to a pure
 * state machine over an injected clock.  Requests coalesce; two syncs are
 * at least min_interval apart; a full resync happens at least every
 * max_interval; a failed sync is retried with backoff (min_interval,
 * doubling, capped at max_interval) and the retry is full.
 */
#ifndef KROUTE_DAEMON_SYNC_TIMER_H
#define KROUTE_DAEMON_SYNC_TIMER_H

#include <stdbool.h>
#include <stdint.h>

struct sync_timer {
	uint64_t min_interval_ns;
	uint64_t max_interval_ns;
	uint64_t full_interval_ns;
	uint64_t last_sync_ns;    /* start of the last sync attempt; 0 = never */
	uint64_t last_ok_ns;      /* last successful sync */
	uint64_t last_full_ns;    /* last successful full sync */
	uint64_t retry_at_ns;     /* 0 = no retry pending */
	uint64_t backoff_ns;
	bool pending;             /* a change is waiting */
	bool need_full;
};

void sync_timer_init(struct sync_timer *t, uint64_t min_ns, uint64_t max_ns);
void sync_timer_request(struct sync_timer *t);
/* The next instant something is due (absolute ns). */
uint64_t sync_timer_deadline(const struct sync_timer *t);
/* Whether a sync is due at now; *ret_full says whether it must be full. */
bool sync_timer_due(const struct sync_timer *t, uint64_t now, bool *ret_full);
/* Record the outcome of a sync that started at now. */
void sync_timer_done(struct sync_timer *t, uint64_t now, bool full, bool ok);

#endif
