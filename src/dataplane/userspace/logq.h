/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The proxy threads' messages for the agent's log.  Worker threads (and
 * the service code they call, often under a service lock) never print:
 * they push a line here, and the agent's thread drains the queue and logs
 * it (the data plane's event_fd / on_event, and the start of each sync).
 * Bounded: a burst that finds the queue full is counted, not kept, and the
 * count is logged with the next drain.  A push copies the line into a slot
 * preallocated by init; it never allocates and never blocks on I/O.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_LOGQ_H
#define KROUTE_DATAPLANE_USERSPACE_LOGQ_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define US_LOGQ_SLOTS 256           /* lines kept between two drains */
#define US_LOGQ_LINE 512            /* longest line kept; longer ones are cut */

struct us_logq {
	pthread_mutex_t lock;
	int efd;                    /* eventfd: readable while lines wait */
	/* Under lock: */
	char (*slots)[US_LOGQ_LINE];
	size_t cap, head, n;        /* ring: n lines from head */
	uint64_t dropped;           /* lines lost to a full queue since the last drain */
};

/* cap lines (0: US_LOGQ_SLOTS).  Returns 0 or a negative errno (no eventfd). */
int us_logq_init(struct us_logq *q, size_t cap);
void us_logq_done(struct us_logq *q);
/* From any thread. */
void us_logq_push(struct us_logq *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Hands every waiting line to fn, oldest first, then (when lines were
 * dropped) one line saying how many; never holds the lock while fn runs.
 * Returns the number of lines handed over.
 */
size_t us_logq_drain(struct us_logq *q, void (*fn)(const char *line, void *arg), void *arg);

#endif
