/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the API server sends, turned into store changes; pure (no I/O), so
 * the fuzzer and the unit tests drive it directly.
 *
 * A watch response is newline-delimited JSON: one {"type": ..., "object":
 * ...} event per line.  kube_lines cuts the stream into lines as bytes
 * arrive, holding at most max_line bytes of an unfinished line.  Each event
 * and each item of a list page (list.h) is decoded by the files' decoder
 * (decode_object(): the same validation and the same messages naming the
 * object and field) into the kind's pending changes: the objects upserted
 * or deleted since the last refresh, one per key, the latest winning.  An
 * object the decoder refuses is reported and skipped: the store keeps its
 * previous version.
 */
#ifndef KROUTE_SOURCE_KUBE_EVENT_H
#define KROUTE_SOURCE_KUBE_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"
#include "core/strmap.h"
#include "model/model.h"
#include "store/store.h"

#define KUBE_MAX_LINE (16u << 20) /* one watch event; the API server caps an object at 1.5 MiB */

/* The three kinds kroute watches. */
struct kube_kind_info {
	enum store_kind kind;
	const char *name;          /* "Service": the kind a list item is given */
	const char *api_version;   /* "v1" */
	const char *resource;      /* "services": also the store origin */
	const char *path;          /* "/api/v1/services" */
};

extern const struct kube_kind_info kube_kinds[3];

/* One kind's changes since the last refresh. */
struct kube_changes {
	const struct kube_kind_info *info;
	bool replace;              /* a full list arrived: the origin becomes objects (below) */
	struct cluster listed;     /* that list (owned), when replace */
	struct strmap ops;         /* key ("ns/name"; a node's name) -> struct kube_op, owned */
};

void kube_changes_init(struct kube_changes *c, const struct kube_kind_info *info);
void kube_changes_done(struct kube_changes *c);
/* Forgets every change (a new list supersedes them). */
void kube_changes_clear(struct kube_changes *c);
bool kube_changes_empty(const struct kube_changes *c);
/* Moves the changes into b (the batch takes the objects); c is left empty. */
void kube_changes_to_batch(struct kube_changes *c, struct store_batch *b);

/* What one event did, for the caller's bookkeeping. */
enum kube_event_result {
	KUBE_EVENT_APPLIED,        /* an upsert or a delete is pending; resource_version set */
	KUBE_EVENT_SKIPPED,        /* reported in d (malformed, refused, unknown type); stream goes on */
	KUBE_EVENT_BOOKMARK,       /* resource_version set, nothing else */
	KUBE_EVENT_GONE,           /* ERROR event with code 410: list again */
	KUBE_EVENT_FAILED,         /* another ERROR event: reported, watch again */
};

/*
 * Decodes one line of a watch stream (where: the watch, for messages).
 * *resource_version is replaced (owned) by the event object's
 * metadata.resourceVersion when it has one.
 */
enum kube_event_result kube_event_apply(struct kube_changes *c, const char *line, size_t len,
					const char *where, char **resource_version,
					struct diag *d);

/*
 * Decodes one object of the kind (a list item or a watch event's object;
 * given the kind and apiVersion when it has none, as list items come
 * without) with the files' decoder into objs; a refused one is reported in
 * d and left out.  obj is jansson's (json_t).
 */
struct json_t;
void kube_decode_item(const struct kube_kind_info *info, struct json_t *obj, const char *where,
		      struct cluster *objs, struct diag *d);
/* The same for an object already parsed into a doc tree (doc_parse_json_fast()); obj is changed. */
struct doc;
void kube_decode_doc(const struct kube_kind_info *info, struct doc *obj, const char *where,
		     struct cluster *objs, struct diag *d);

/* A stream cut into lines. */
struct kube_lines {
	char *buf;
	size_t len, cap;
	size_t max_line;           /* 0: KUBE_MAX_LINE */
};

typedef void (*kube_line_fn)(const char *line, size_t len, void *userdata);

/*
 * Appends n bytes and calls fn for every complete line (blank ones
 * skipped).  Returns 0, or -EMSGSIZE when a line grows past max_line (the
 * partial line is dropped: the caller reports it and restarts the stream).
 */
int kube_lines_feed(struct kube_lines *l, const char *p, size_t n, kube_line_fn fn, void *userdata);
void kube_lines_reset(struct kube_lines *l);
void kube_lines_done(struct kube_lines *l);

#endif
