/* SPDX-License-Identifier: Apache-2.0 */
/* Proxy-thread messages, logged on the agent's thread; see logq.h. */
#include "dataplane/userspace/logq.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/util.h"

int us_logq_init(struct us_logq *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->efd < 0)
		return -errno;
	pthread_mutex_init(&q->lock, NULL);
	q->cap = cap ? cap : US_LOGQ_SLOTS;
	q->slots = xcalloc(q->cap, sizeof(*q->slots));
	return 0;
}

void us_logq_done(struct us_logq *q)
{
	if (!q->slots)
		return;
	close(q->efd);
	pthread_mutex_destroy(&q->lock);
	free(q->slots);
	memset(q, 0, sizeof(*q));
	q->efd = -1;
}

void us_logq_push(struct us_logq *q, const char *fmt, ...)
{
	char line[US_LOGQ_LINE];
	uint64_t one = 1;
	va_list ap;
	bool kept;

	/* Formatted before the lock: the lock only covers a copy. */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&q->lock);
	kept = q->n < q->cap;
	if (kept)
		memcpy(q->slots[(q->head + q->n++) % q->cap], line, sizeof(line));
	else
		q->dropped++;
	pthread_mutex_unlock(&q->lock);
	/* Wakes the agent's loop; a full counter (never, at 2^64 - 2) only loses a wakeup. */
	if (kept)
		(void)!write(q->efd, &one, sizeof(one));
}

size_t us_logq_drain(struct us_logq *q, void (*fn)(const char *line, void *arg), void *arg)
{
	char line[US_LOGQ_LINE];
	uint64_t v, dropped;
	size_t n = 0;

	/* Reset first: a line pushed after this read signals again. */
	(void)!read(q->efd, &v, sizeof(v));
	for (;;) {
		pthread_mutex_lock(&q->lock);
		if (!q->n) {
			dropped = q->dropped;
			q->dropped = 0;
			pthread_mutex_unlock(&q->lock);
			break;
		}
		memcpy(line, q->slots[q->head], sizeof(line));
		q->head = (q->head + 1) % q->cap;
		q->n--;
		pthread_mutex_unlock(&q->lock);
		fn(line, arg);
		n++;
	}
	if (dropped) {
		snprintf(line, sizeof(line),
			 "userspace: %llu messages from proxy threads were dropped (more than %zu between two reads)",
			 (unsigned long long)dropped, q->cap);
		fn(line, arg);
		n++;
	}
	return n;
}
