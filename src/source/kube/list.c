/* SPDX-License-Identifier: Apache-2.0 */
/* A list page decoded as its bytes arrive; see list.h. */
#include "source/kube/list.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "core/util.h"
#include "source/doc.h"

static void keys_free(struct kube_list *l)
{
	for (size_t i = 0; i < l->keys.cap; i++)
		if (l->keys.slots[i].key)
			free(l->keys.slots[i].value);
	strmap_done(&l->keys);
}

void kube_list_begin(struct kube_list *l, const struct kube_kind_info *info, const char *where,
		     struct cluster *objs, struct diag *d)
{
	char *buf = l->buf;
	size_t cap = l->cap, max_value = l->max_value;

	free(l->resource_version);
	free(l->cont);
	keys_free(l);
	/* A huge item's buffer is not kept for the next page. */
	if (cap > 1u << 20) {
		free(buf);
		buf = NULL;
		cap = 0;
	}
	memset(l, 0, sizeof(*l));
	l->buf = buf;
	l->cap = cap;
	l->max_value = max_value;
	l->info = info;
	l->where = where;
	l->objs = objs;
	l->d = d;
	strmap_init(&l->keys);
	l->state = KL_START;
}

void kube_list_done(struct kube_list *l)
{
	free(l->buf);
	free(l->resource_version);
	free(l->cont);
	keys_free(l);
	strmap_init(&l->keys);
	l->buf = l->resource_version = l->cont = NULL;
	l->len = l->cap = 0;
}

static int fail(struct kube_list *l, size_t at, const char *what)
{
	diag_add(l->d, DIAG_ERROR, l->where, 0, NULL, NULL,
		 "invalid JSON: %s (byte %zu of the %s list)", what, at, l->info->resource);
	l->state = KL_FAILED;
	return -EINVAL;
}

static char *json_str_dup(json_t *obj, const char *key)
{
	const char *v = json_string_value(json_object_get(obj, key));

	return v && *v ? xstrdup(v) : NULL;
}

/* A member's name read: which member it is. */
static int on_key(struct kube_list *l, json_t *key, size_t at)
{
	const char *name = json_string_value(key);
	char *own;

	if (!name)
		return fail(l, at, "a member name that is not a string");
	if (strmap_get(&l->keys, name)) {
		diag_add(l->d, DIAG_ERROR, l->where, 0, NULL, NULL,
			 "invalid JSON: duplicate object key \"%s\" (byte %zu of the %s list)", name,
			 at, l->info->resource);
		l->state = KL_FAILED;
		return -EINVAL;
	}
	own = xstrdup(name);
	strmap_put(&l->keys, own, own);
	l->member = streq(name, "items") ? KLV_ITEMS : streq(name, "metadata") ? KLV_METADATA
										  : KLV_OTHER;
	l->seen_items |= l->member == KLV_ITEMS;
	l->state = KL_COLON;
	return 0;
}

/* One item of the list: decoded, or reported and left out. */
static void on_item(struct kube_list *l, json_t *item)
{
	if (!json_is_object(item))
		diag_add(l->d, DIAG_ERROR, l->where, 0, NULL, NULL, "items[%zu] is not an object; skipped",
			 l->n_items);
	else
		kube_decode_item(l->info, item, l->where, l->objs, l->d);
	l->n_items++;
	l->state = KL_AFTER_ITEM;
}

/*
 * A key or value is complete (len bytes at v): jansson parses and checks it;
 * an item goes the fast way when it can (doc_parse_json_fast()).
 */
static int on_value(struct kube_list *l, const char *v, size_t len, size_t at)
{
	json_error_t jerr;
	json_t *j;
	int r = 0;

	if (l->value == KLV_ITEM) {
		struct doc *item = doc_parse_json_fast(v, len, doc_default_limits.max_depth);

		if (item) {
			kube_decode_doc(l->info, item, l->where, l->objs, l->d);
			doc_unref(item);
			l->n_items++;
			l->state = KL_AFTER_ITEM;
			return 0;
		}
	}
	j = json_loadb(v, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!j) {
		diag_add(l->d, DIAG_ERROR, l->where, 0, NULL, NULL,
			 "invalid JSON: %s (%s%zu%s byte %zu of the %s list)", jerr.text,
			 l->value == KLV_ITEM ? "items[" : "", l->value == KLV_ITEM ? l->n_items : 0,
			 l->value == KLV_ITEM ? "]," : "", at, l->info->resource);
		l->state = KL_FAILED;
		return -EINVAL;
	}
	switch (l->value) {
	case KLV_KEY:
		r = on_key(l, j, at);
		break;
	case KLV_ITEM:
		on_item(l, j);
		break;
	case KLV_ITEMS:
		if (!json_is_null(j)) {
			diag_add(l->d, DIAG_ERROR, l->where, 0, NULL, NULL,
				 "the %s list has no items array", l->info->resource);
			l->state = KL_FAILED;
			r = -EINVAL;
			break;
		}
		l->state = KL_AFTER_MEMBER;
		break;
	case KLV_METADATA:
		free(l->resource_version);
		free(l->cont);
		l->resource_version = json_str_dup(j, "resourceVersion");
		l->cont = json_str_dup(j, "continue");
		l->state = KL_AFTER_MEMBER;
		break;
	case KLV_OTHER:
		l->state = KL_AFTER_MEMBER;
		break;
	}
	json_decref(j);
	return r;
}

/*
 * Scans a key or value from p: returns how many bytes belong to it, and
 * *complete when its end is among them.  A container ends at its matching
 * bracket, a string at its closing quote, any other scalar before the first
 * delimiter (not consumed).  Brackets are only counted, not matched:
 * jansson checks the whole value once it is complete.
 */
static size_t scan(struct kube_list *l, const char *p, size_t n, bool *complete)
{
	size_t i;

	*complete = false;
	for (i = 0; i < n; i++) {
		char c;

		if (l->in_str && !l->esc) {
			/* Most bytes are inside strings: on to the next quote or backslash. */
			const char *q = memchr(p + i, '"', n - i);
			size_t end = q ? (size_t)(q - p) : n;
			const char *bs = memchr(p + i, '\\', end - i);

			i = bs ? (size_t)(bs - p) : end;
			if (i == n)
				return n;
		}
		c = p[i];
		if (l->in_str) {
			if (l->esc)
				l->esc = false;
			else if (c == '\\')
				l->esc = true;
			else if (c == '"') {
				l->in_str = false;
				if (!l->depth) {
					*complete = true;
					return i + 1;
				}
			}
			continue;
		}
		switch (c) {
		case '"':
			l->in_str = true;
			break;
		case '{':
		case '[':
			l->depth++;
			break;
		case '}':
		case ']':
			if (!l->depth) {
				*complete = true;
				return i;
			}
			if (!--l->depth) {
				*complete = true;
				return i + 1;
			}
			break;
		case ',':
		case ':':
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			if (!l->depth) {
				*complete = true;
				return i;
			}
			break;
		}
	}
	return n;
}

/* Scans on from p (state KL_SCAN): returns the bytes consumed, or -EINVAL. */
static ssize_t feed_value(struct kube_list *l, const char *p, size_t n, size_t at)
{
	size_t max = l->max_value ? l->max_value : KUBE_MAX_LINE;
	bool complete;
	size_t take = scan(l, p, n, &complete);
	int r;

	if (l->len + take > max)
		return fail(l, at, "a member or item larger than the limit for one object");
	if (complete && !l->len) {
		/* The whole value is in p: no copy. */
		r = on_value(l, p, take, at);
	} else {
		l->buf = xgrow(l->buf, &l->cap, l->len + take + 1, 1);
		memcpy(l->buf + l->len, p, take);
		l->len += take;
		if (!complete)
			return (ssize_t)take;
		r = on_value(l, l->buf, l->len, at);
	}
	l->len = 0;
	return r < 0 ? r : (ssize_t)take;
}

static void start_value(struct kube_list *l, enum kube_list_value what)
{
	l->value = what;
	l->len = 0;
	l->depth = 0;
	l->in_str = l->esc = false;
	l->state = KL_SCAN;
}

/* One structural byte c of the two outer levels (white space already skipped). */
static int step(struct kube_list *l, char c, size_t at, bool *consumed)
{
	*consumed = true;
	switch (l->state) {
	case KL_START:
		if (c != '{')
			return fail(l, at, "the response is not a JSON object");
		l->state = KL_KEY_OR_END;
		return 0;
	case KL_KEY_OR_END:
		if (c == '}') {
			l->state = KL_DONE;
			return 0;
		}
		/* fallthrough */
	case KL_KEY:
		if (c != '"')
			return fail(l, at, "a member name expected");
		*consumed = false;
		start_value(l, KLV_KEY);
		return 0;
	case KL_COLON:
		if (c != ':')
			return fail(l, at, "':' expected");
		l->state = KL_VALUE;
		return 0;
	case KL_VALUE:
		if (l->member == KLV_ITEMS && c == '[') {
			l->state = KL_ITEM_OR_END;
			return 0;
		}
		*consumed = false;
		start_value(l, l->member);
		return 0;
	case KL_ITEM_OR_END:
		if (c == ']') {
			l->state = KL_AFTER_MEMBER;
			return 0;
		}
		/* fallthrough */
	case KL_ITEM:
		*consumed = false;
		start_value(l, KLV_ITEM);
		return 0;
	case KL_AFTER_ITEM:
		if (c != ',' && c != ']')
			return fail(l, at, "',' or ']' expected after an item");
		l->state = c == ',' ? KL_ITEM : KL_AFTER_MEMBER;
		return 0;
	case KL_AFTER_MEMBER:
		if (c != ',' && c != '}')
			return fail(l, at, "',' or '}' expected");
		l->state = c == ',' ? KL_KEY : KL_DONE;
		return 0;
	case KL_DONE:
		return fail(l, at, "data after the list");
	case KL_SCAN:
	case KL_FAILED:
		break;
	}
	return -EINVAL;
}

int kube_list_feed(struct kube_list *l, const char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t at = l->offset + i;
		bool consumed;
		ssize_t took;
		char c;

		if (l->state == KL_FAILED)
			return -EINVAL;
		if (l->state == KL_SCAN) {
			took = feed_value(l, p + i, n - i, at);
			if (took < 0)
				return (int)took;
			i += (size_t)took;
			continue;
		}
		c = p[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			i++;
			continue;
		}
		if (step(l, c, at, &consumed) < 0)
			return -EINVAL;
		i += consumed;
	}
	l->offset += n;
	return l->state == KL_FAILED ? -EINVAL : 0;
}

int kube_list_finish(struct kube_list *l, char **resource_version, char **cont)
{
	if (l->state == KL_FAILED)
		return -EINVAL;
	if (l->state != KL_DONE)
		return fail(l, l->offset, "the response ends early");
	if (!l->seen_items) {
		diag_add(l->d, DIAG_ERROR, l->where, 0, NULL, NULL, "the %s list has no items array",
			 l->info->resource);
		l->state = KL_FAILED;
		return -EINVAL;
	}
	if (l->resource_version) {
		free(*resource_version);
		*resource_version = l->resource_version;
		l->resource_version = NULL;
	}
	free(*cont);
	*cont = l->cont;
	l->cont = NULL;
	return 0;
}

int kube_list_page(const struct kube_kind_info *info, const char *buf, size_t len,
		   const char *where, struct cluster *objs, char **resource_version, char **cont,
		   struct diag *d)
{
	struct kube_list l = { 0 };
	int r;

	kube_list_begin(&l, info, where, objs, d);
	r = kube_list_feed(&l, buf, len);
	if (r == 0)
		r = kube_list_finish(&l, resource_version, cont);
	kube_list_done(&l);
	return r;
}
