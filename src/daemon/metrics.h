/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What kroute run exports on /metrics (docs/metrics.md): kube-proxy's
 * metrics where kroute has the same quantity, kroute's own per service
 * (endpoints by state, scheduler), and the data plane's own counts
 * (dp_stats.metrics).  The agent records events here as they happen
 * (agent_metrics_*); metrics_write() renders the text format from that,
 * the current view and the data plane's stats.  No I/O, no clock: times
 * come in as arguments, so the tests drive it directly.
 */
#ifndef KROUTE_DAEMON_METRICS_H
#define KROUTE_DAEMON_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/prom.h"
#include "core/sbuf.h"
#include "dataplane/dataplane.h"
#include "policy/policy.h"

/* kube-proxy runs one proxier per family; kroute's series carry ip_family the same way. */
#define METRICS_FAMILIES 2

struct agent_metrics {
	struct prom_histogram sync[METRICS_FAMILIES];          /* every sync, per family */
	struct prom_histogram sync_full[METRICS_FAMILIES];
	struct prom_histogram sync_partial[METRICS_FAMILIES];
	struct prom_histogram programming[METRICS_FAMILIES];   /* change seen -> applied */
	double last_sync_s;            /* unix time of the last successful sync; 0: none */
	double last_queued_s;          /* unix time a sync was last asked for; 0: never */
	uint64_t service_changes, endpoint_changes;            /* totals */
	size_t service_pending, endpoint_pending;              /* not yet in the data plane */
	uint64_t healthz[2], livez[2]; /* answers 200, 503 */
	uint64_t sync_errors;          /* syncs that failed (input or data plane) */
};

void agent_metrics_init(struct agent_metrics *m);
void agent_metrics_done(struct agent_metrics *m);
/* A change arrived (a source said so) at unix time now_s. */
void agent_metrics_queued(struct agent_metrics *m, double now_s);
/*
 * Changes the store committed: Services and EndpointSlices added, changed
 * or deleted.  They are pending until a sync succeeds.
 */
void agent_metrics_changes(struct agent_metrics *m, size_t services, size_t slices);
/*
 * A sync ended: it took seconds; ok says whether the data plane took it.
 * programming_s: how long the oldest change it applied waited since it was
 * seen (< 0: none waited, e.g. a periodic resync).
 */
void agent_metrics_synced(struct agent_metrics *m, bool full, bool ok, double seconds,
			  double programming_s, double now_s);
/* An answer of the proxy health server: 200 or 503. */
void agent_metrics_health_answer(struct agent_metrics *m, bool livez, unsigned status);

/*
 * The whole /metrics body.  view may be NULL (nothing synced yet); st is the
 * data plane's stats (its metrics array included).
 */
void metrics_write(struct sbuf *b, const struct agent_metrics *m, const struct node_view *view,
		   const char *mode, const struct dp_stats *st);

#endif
