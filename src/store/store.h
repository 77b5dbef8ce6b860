/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object store: every source's objects as of its last good refresh,
 * with change tracking.  Objects are kept per (source, origin): an origin is
 * what a source refreshes as a unit (a file for the files source; a kind's
 * list/watch for the Kubernetes API), so a refresh touches only the origins
 * that changed.  A source hands its changes over as one batch: whole origins
 * replaced or removed, or single objects upserted or deleted (keyed by kind
 * + namespace/name).  The store knows nothing of where objects come from: it
 * includes model/ and core/ only, and sources (src/source/) feed it.
 *
 * One index (struct cluster, borrowing) spans every origin of every source;
 * a key defined twice, in one source or across two, is an error naming both
 * places.  A commit reports which services that can affect: a changed
 * Service, an EndpointSlice labelled for it (old or new label), and the
 * names of changed Nodes.  The per-node view is then rebuilt for those
 * services only (policy_update_view), and the data plane re-renders only
 * their rules.
 *
 * All or nothing: a batch that finds any problem changes nothing, so the
 * last good objects (and rules) stay.
 *
 * Lifetimes: objects replaced or deleted by a commit are freed only by
 * store_delta_done(), so a view built from the previous objects stays valid
 * until the caller has replaced the affected parts of it.
 */
#ifndef KROUTE_STORE_STORE_H
#define KROUTE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"
#include "core/strmap.h"
#include "model/model.h"

struct store_origin;
struct store_change;

struct store {
	struct store_origin **origins; /* in the order first committed */
	size_t n_origins, cap_origins;
	struct strmap origin_index; /* "source\norigin" -> struct store_origin */
	struct cluster cluster;     /* an index over every origin's objects */
	size_t n_objects;
	bool loaded;                /* a commit succeeded */
};

enum store_kind {
	STORE_SERVICE,
	STORE_SLICE,
	STORE_NODE,
};

/* One source's changes, applied together by store_commit(). */
struct store_batch {
	const char *source;         /* borrowed: the source's name */
	bool reread;                /* everything was read again: rebuild, treat all as changed */
	struct store_change **changes; /* at most one per origin, in the order first touched */
	size_t n_changes, cap_changes;
	struct strmap by_origin;    /* origin -> struct store_change */
};

struct store_delta {
	bool all;                   /* first load or forced re-read: treat everything as changed */
	bool changed;               /* some origin was added, changed or removed */
	struct strmap services;     /* "ns/name" of every service that may have changed (keys owned) */
	struct strmap nodes;        /* names of changed, added or removed Nodes (keys owned) */
	size_t origins_read;        /* origins replaced or edited, over the commits */
	size_t origins_checked;     /* origins a source looked at for changes (files stat'ed) */
	/*
	 * Services and EndpointSlices the commits added, replaced or deleted,
	 * each key once per commit (a replaced origin counts every object it
	 * held or holds): kube-proxy's change counters (/metrics).
	 */
	size_t services_changed, slices_changed;
	size_t origins_total;       /* the sources add how many origins they have (log line) */
	/* Released by store_delta_done(): */
	struct cluster graveyard;   /* replaced and deleted objects (owned, not indexed) */
	struct cluster *old_indexes; /* indexes replaced by a rebuild */
	size_t n_old_indexes;
};

void store_init(struct store *s);
void store_done(struct store *s);

void store_batch_init(struct store_batch *b, const char *source);
/* Frees whatever the batch still owns (everything after a failed commit). */
void store_batch_done(struct store_batch *b);
/* The origin's objects become exactly those of objs, an owning cluster (moved; objs is left empty). */
void store_batch_replace(struct store_batch *b, const char *origin, struct cluster *objs);
void store_batch_remove(struct store_batch *b, const char *origin);
/* Adds or replaces one object (taken) in origin; a later change of the same key wins. */
void store_batch_upsert_service(struct store_batch *b, const char *origin, struct service *svc);
void store_batch_upsert_slice(struct store_batch *b, const char *origin, struct endpoint_slice *sl);
void store_batch_upsert_node(struct store_batch *b, const char *origin, struct node *n);
/* Deletes one object ("ns/name", a node's name) from origin; absent is not an error. */
void store_batch_delete(struct store_batch *b, const char *origin, enum store_kind kind,
			const char *key);

/* Starts an empty delta for one sync; store_commit() adds to it. */
void store_delta_init(struct store_delta *delta);
void store_delta_done(struct store_delta *delta);

/*
 * Applies the batch, all or nothing.  On success adds what changed to delta
 * (release it with store_delta_done() once nothing uses the previous
 * objects), empties the batch and returns 0.  On any problem (a duplicate
 * key) reports it in d, leaves the store and delta as they were, and returns
 * -EINVAL; the batch still owns its objects.
 */
int store_commit(struct store *s, struct store_batch *b, struct diag *d, struct store_delta *delta);

#endif
