/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A list page decoded as its bytes arrive; pure (no I/O), so the fuzzer and
 * the unit tests drive it directly.
 *
 * A list response is one JSON object, {"kind": ..., "metadata": {...},
 * "items": [...]}, up to a few megabytes for 500 EndpointSlices.  Rather
 * than holding it whole and parsing it as one tree, kube_list scans its
 * outer object and its items array itself (keys, colons, commas, brackets)
 * and hands each item to the decoder (kube_decode_item(): the files'
 * decoder, the same messages) as soon as the item's last byte arrives; so
 * memory is the objects kept plus the one item in progress.  Every value
 * (each item, metadata, kind, ...) is still parsed and checked by jansson
 * (duplicate keys refused, the outer object's too); only the two outer
 * levels are scanned here.
 */
#ifndef KROUTE_SOURCE_KUBE_LIST_H
#define KROUTE_SOURCE_KUBE_LIST_H

#include <stdbool.h>
#include <stddef.h>

#include "core/diag.h"
#include "core/strmap.h"
#include "model/model.h"
#include "source/kube/event.h"

enum kube_list_state {
	KL_START,         /* before the outer '{' */
	KL_KEY_OR_END,    /* after '{': a key or '}' */
	KL_KEY,           /* after ',': a key */
	KL_COLON,
	KL_VALUE,         /* before a member's value */
	KL_ITEM_OR_END,   /* after '[': an item or ']' */
	KL_ITEM,          /* after ',' in items: an item */
	KL_AFTER_ITEM,    /* ',' or ']' */
	KL_AFTER_MEMBER,  /* ',' or '}' */
	KL_SCAN,          /* inside a key or a value (what: value) */
	KL_DONE,          /* after the outer '}': white space only */
	KL_FAILED,
};

/* What the value being scanned is. */
enum kube_list_value {
	KLV_KEY,          /* a member's name */
	KLV_ITEM,         /* an element of items */
	KLV_ITEMS,        /* items that is not an array (null is allowed) */
	KLV_METADATA,
	KLV_OTHER,        /* kind, apiVersion, ...: checked, then dropped */
};

struct kube_list {
	const struct kube_kind_info *info;
	const char *where;         /* borrowed, for messages */
	struct cluster *objs;      /* borrowed: accepted items are added here */
	struct diag *d;
	size_t max_value;          /* bytes of one item or member; 0: KUBE_MAX_LINE */

	enum kube_list_state state;
	enum kube_list_value value;
	enum kube_list_value member; /* the member whose key was read: ITEMS, METADATA, OTHER */
	bool seen_items;
	struct strmap keys;        /* the outer object's member names (owned): no duplicates */
	/* the value (or key) in progress: its bytes, and where its scan is */
	char *buf;
	size_t len, cap;
	size_t depth;              /* open brackets; 0: a scalar (or a string) */
	bool in_str, esc;
	size_t n_items;
	size_t offset;             /* bytes fed so far, for messages */
	char *resource_version;    /* from metadata, owned */
	char *cont;
};

/* Starts a page: items the decoder accepts are added to objs. */
void kube_list_begin(struct kube_list *l, const struct kube_kind_info *info, const char *where,
		     struct cluster *objs, struct diag *d);
/*
 * Scans n more bytes, decoding every item they complete.  Returns 0, or
 * -EINVAL once the page is not a list (reported; later calls do nothing).
 */
int kube_list_feed(struct kube_list *l, const char *p, size_t n);
/*
 * The page is complete: -EINVAL when it ended early (reported).  On 0,
 * *resource_version and *cont are replaced (owned; cont NULL when absent)
 * from the list's metadata.
 */
int kube_list_finish(struct kube_list *l, char **resource_version, char **cont);
/* Frees what the scan holds (not objs).  A list begun again keeps its buffer. */
void kube_list_done(struct kube_list *l);

/*
 * One whole page at once (begin, feed, finish, done): every item the
 * decoder accepts into objs, refused ones reported and left out.  Returns
 * 0, or -EINVAL when the page itself is not a list (reported).
 */
int kube_list_page(const struct kube_kind_info *info, const char *buf, size_t len,
		   const char *where, struct cluster *objs, char **resource_version, char **cont,
		   struct diag *d);

#endif
