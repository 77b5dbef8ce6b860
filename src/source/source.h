/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The source seam: where the store's objects come from.  A source feeds the
 * store (store/store.h) with objects, keyed by kind + namespace/name and
 * grouped by origin (the files source: one origin per file; the Kubernetes
 * API: one per kind's list/watch), and says when it has synced once.
 *
 * The agent (daemon/run.c) owns the loop and the store; a source registers
 * its own fds and timers in the loop (attach) and, when the store is out of
 * date, calls changed() so the agent schedules a sync.  At sync time the
 * agent calls refresh(), which hands the source's changes to the store as
 * one batch: all or nothing, so a refused batch is offered again (with
 * whatever changed since) by the next refresh.  Sources never print: they
 * report through the diag they are given.
 */
#ifndef KROUTE_SOURCE_SOURCE_H
#define KROUTE_SOURCE_SOURCE_H

#include <stdbool.h>

struct diag;
struct loop;
struct store;
struct store_delta;
struct source;

typedef void (*source_changed_fn)(struct source *src, void *userdata);

struct source_ops {
	const char *name;           /* also its key in the store: "files" */
	const char *origin_noun;    /* what its origins are, plural, for the sync log line */
	/*
	 * Registers the source's fds and timers in l; changed(src, userdata)
	 * is then called whenever the store is out of date.  Problems that do
	 * not stop the source are warnings in d.  Returns 0 or -errno (nothing
	 * left registered).
	 */
	int (*attach)(struct source *src, struct loop *l, source_changed_fn changed, void *userdata,
		      struct diag *d);
	/*
	 * Hands the store everything that changed since the last successful
	 * refresh, as one batch (reread: read everything again, e.g. on SIGHUP).
	 * On success adds to delta (the source adds its origins_total) and
	 * returns 0.  On failure reports in d, leaves the store as it was and
	 * returns -EINVAL (bad input) or -errno.
	 */
	int (*refresh)(struct source *src, struct store *st, bool reread, struct diag *d,
		       struct store_delta *delta);
	/*
	 * Whether refresh would hand over a complete view (files: always; the
	 * API: once every kind's first list is in).  The agent programs nothing
	 * before every source has synced.
	 */
	bool (*has_synced)(const struct source *src);
	/* Unregisters from the loop (if attached) and frees. */
	void (*free)(struct source *src);
};

struct source {
	const struct source_ops *ops;
};

#endif
