/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The object store: the manifests' objects as of the last good read, with
 * change tracking.  Each file's objects are kept apart, so a refresh reads
 * only the files whose stamp (inode, size, mtime, ctime) changed and reports
 * which services that can affect: a changed Service, an EndpointSlice
 * labelled for it (old or new label), and the names of changed Nodes.  The
 * per-node view is then rebuilt for those services only
 * (policy_update_view), and the data plane re-renders only their rules.
 *
 * All or nothing: a refresh that finds any problem changes nothing, so the
 * last good objects (and rules) stay.
 *
 * Lifetimes: objects of files that changed are freed only by
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
#include "source/doc.h"
#include "source/manifest.h"

struct store_file;

struct store {
	const char *const *paths;   /* borrowed: what -f named */
	size_t n_paths;
	const struct doc_limits *limits; /* NULL: the defaults */
	struct store_file *files;   /* the last good read, in load order */
	size_t n_files;
	struct cluster cluster;     /* an index over every file's objects */
	bool loaded;
	bool stdin_read;            /* "-" was read (it cannot be read again) */
};

struct store_delta {
	bool all;                   /* first load or forced re-read: treat everything as changed */
	bool changed;               /* some file was added, changed or removed */
	struct strmap services;     /* "ns/name" of every service that may have changed (keys owned) */
	struct strmap nodes;        /* names of changed, added or removed Nodes (keys owned) */
	size_t files_read, files_total;
	/* Released by store_delta_done(): */
	struct store_file *old_files;
	size_t n_old_files;
	struct cluster old_cluster;
};

void store_init(struct store *s, const char *const *paths, size_t n_paths,
		const struct doc_limits *limits);
void store_done(struct store *s);

/*
 * Brings the store up to date with the files.  reread: read every file even
 * if its stamp is unchanged (SIGHUP).  On success fills delta (release it with
 * store_delta_done() once nothing uses the previous objects) and returns 0; on
 * any problem reports it in d, leaves the store as it was and returns
 * -EINVAL or -errno (delta is then empty and needs no release, though
 * store_delta_done() on it is harmless).
 */
int store_refresh(struct store *s, bool reread, struct diag *d, struct store_delta *delta);
void store_delta_done(struct store_delta *delta);

#endif
