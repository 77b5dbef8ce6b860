/* SPDX-License-Identifier: Apache-2.0 */
/* The JSON status file; see status.h. */
#include "dataplane/userspace/status.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/json_escape.h"
#include "core/util.h"
#include "dataplane/userspace/worker.h"
#include "dataplane/userspace/worker_int.h"

struct us_status {
	struct us_dp *dp;
	char *path, *tmp;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
};

#define CTR(name) (unsigned long long)atomic_load_explicit(&dp->ctr.name, memory_order_relaxed)

void us_status_write(struct us_dp *dp, FILE *f)
{
	uint64_t now = mono_ns(), bytes = 0;

	for (unsigned i = 0; i < dp->n_workers; i++)
		bytes += atomic_load_explicit(&dp->workers[i]->bytes, memory_order_relaxed);
	fprintf(f, "{\n  \"mode\": \"userspace\",\n  \"workers\": %u,\n", dp->n_workers);
	fprintf(f, "  \"counters\": {\"tcp_accepted\": %llu, \"tcp_active\": %llu, "
		   "\"tcp_connect_failures\": %llu, \"tcp_retries\": %llu, \"tcp_no_endpoint\": %llu, "
		   "\"tcp_grace_closed\": %llu, \"tcp_bytes\": %llu, \"udp_sessions_active\": %llu, "
		   "\"udp_sessions_total\": %llu, \"udp_rx\": %llu, \"udp_tx\": %llu, \"udp_moved\": %llu, "
		   "\"udp_dropped\": %llu, \"udp_shed\": %llu, \"ejections\": %llu, \"fd_exhausted\": %llu},\n",
		CTR(tcp_accepted), CTR(tcp_active), CTR(tcp_connect_failures), CTR(tcp_retries),
		CTR(tcp_no_endpoint), CTR(tcp_grace_closed), (unsigned long long)bytes,
		CTR(udp_sessions_active), CTR(udp_sessions_total), CTR(udp_rx), CTR(udp_tx),
		CTR(udp_moved), CTR(udp_dropped), CTR(udp_shed), CTR(ejections), CTR(fd_exhausted));
	fputs("  \"services\": [", f);
	pthread_mutex_lock(&dp->reg_lock);
	for (size_t i = 0; i < dp->n_svcs; i++) {
		struct us_svc *s = dp->svc_list[i];

		pthread_mutex_lock(&s->lock);
		fprintf(f, "%s\n    {\"key\": ", i ? "," : "");
		json_fputs(s->key, f);
		fputs(", \"scheduler\": ", f);
		json_fputs(s->sched_name ? s->sched_name : "", f);
		fputs(", \"endpoints\": [", f);
		for (size_t k = 0; k < s->n_cur + s->n_gone; k++) {
			struct us_ep *ep = k < s->n_cur ? s->cur[k] : s->gone[k - s->n_cur];
			bool ejected = us_health_ejected(&ep->health, now);

			fprintf(f, "%s\n      {\"endpoint\": ", k ? "," : "");
			json_fputs(ep->key, f);
			fprintf(f, ", \"removed\": %s, \"weight\": %u, \"active\": %u, \"connections\": %llu, "
				   "\"failures\": %llu, \"ejections\": %llu, \"ejected\": %s, \"ejected_for_ms\": %llu}",
				k < s->n_cur ? "false" : "true", ep->weight, ep->active,
				(unsigned long long)ep->conns_total,
				(unsigned long long)ep->health.failures_total,
				(unsigned long long)ep->health.ejections_total, ejected ? "true" : "false",
				ejected ? (unsigned long long)((ep->health.ejected_until_ns - now) / 1000000) : 0ull);
		}
		fputs("]}", f);
		pthread_mutex_unlock(&s->lock);
	}
	fputs("\n  ],\n  \"listeners\": [", f);
	for (size_t i = 0; i < dp->n_ls; i++) {
		fputs(i ? ",\n    " : "\n    ", f);
		json_fputs(dp->ls_list[i]->name, f);
	}
	pthread_mutex_unlock(&dp->reg_lock);
	fputs("\n  ]\n}\n", f);
}

/*
 * Formatted in memory first: us_status_write holds the registry and each
 * service's lock, which new connections wait for, and must not hold them
 * across file writes.
 */
static void write_file(struct us_status *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len), *f;

	if (!m)
		return;
	us_status_write(st->dp, m);
	if (fclose(m) != 0) {
		free(buf);
		return;
	}
	/* "e" (O_CLOEXEC): the agent spawns helpers meanwhile, which must not inherit it. */
	f = fopen(st->tmp, "we");
	if (f) {
		bool ok = fwrite(buf, 1, len, f) == len;

		if (fclose(f) == 0 && ok)
			(void)rename(st->tmp, st->path);
		else
			unlink(st->tmp);
	}
	free(buf);
}

static void *status_main(void *arg)
{
	struct us_status *st = arg;

	pthread_mutex_lock(&st->lock);
	while (!st->stop) {
		struct timespec ts;

		pthread_mutex_unlock(&st->lock);
		write_file(st);
		pthread_mutex_lock(&st->lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		while (!st->stop && pthread_cond_timedwait(&st->cond, &st->lock, &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&st->lock);
	write_file(st);
	return NULL;
}

int us_status_start(struct us_dp *dp, const char *path, struct us_status **ret)
{
	struct us_status *st = xcalloc(1, sizeof(*st));
	int err;

	st->dp = dp;
	st->path = xstrdup(path);
	st->tmp = xasprintf("%s.tmp", path);
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	err = us_thread_create(&st->thread, status_main, st); /* an error number, not errno */
	if (err) {
		pthread_mutex_destroy(&st->lock);
		pthread_cond_destroy(&st->cond);
		free(st->path);
		free(st->tmp);
		free(st);
		return -err;
	}
	*ret = st;
	return 0;
}

void us_status_stop(struct us_status *st)
{
	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->cond);
	free(st->path);
	free(st->tmp);
	free(st);
}
