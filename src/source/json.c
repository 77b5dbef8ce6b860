/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JSON reader: jansson parses (rejecting duplicate keys), then each object
 * is converted to a doc tree and handed on.  A top-level value may be one
 * object, an array of objects, or a List whose "items" are objects.  jansson
 * reports a line only for syntax errors; for values the field path is the
 * location.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "source/doc.h"

static struct doc *convert(struct doc_reader *r, json_t *j, unsigned depth, int *err)
{
	struct doc *d;

	if (depth > r->limits->max_depth) {
		if (!*err)
			diag_add(r->diag, DIAG_ERROR, r->file, 0, NULL, NULL,
				 "nesting too deep (more than %u levels)", r->limits->max_depth);
		*err = -EINVAL;
		return NULL;
	}
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		const char *key;
		json_t *val;

		d = doc_new(DOC_MAP, 0);
		json_object_foreach(j, key, val) {
			struct doc *c = convert(r, val, depth + 1, err);

			if (!c)
				break;
			doc_append(d, key, c);
		}
		break;
	}
	case JSON_ARRAY: {
		size_t i;
		json_t *val;

		d = doc_new(DOC_SEQ, 0);
		json_array_foreach(j, i, val) {
			struct doc *c = convert(r, val, depth + 1, err);

			if (!c)
				break;
			doc_append(d, NULL, c);
		}
		break;
	}
	case JSON_STRING:
		d = doc_new(DOC_STR, 0);
		d->text = xstrndup(json_string_value(j), json_string_length(j));
		if (strlen(d->text) != json_string_length(j)) {
			diag_add(r->diag, DIAG_ERROR, r->file, 0, NULL, NULL,
				 "a string contains a NUL character");
			*err = -EINVAL;
		}
		break;
	case JSON_INTEGER:
		d = doc_new(DOC_INT, 0);
		d->i = json_integer_value(j);
		d->text = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(j));
		break;
	case JSON_REAL:
		d = doc_new(DOC_FLOAT, 0);
		d->text = xasprintf("%g", json_real_value(j));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		d = doc_new(DOC_BOOL, 0);
		d->b = json_is_true(j);
		d->text = xstrdup(d->b ? "true" : "false");
		break;
	default:
		d = doc_new(DOC_NULL, 0);
		d->text = xstrdup("null");
		break;
	}
	if (*err) {
		doc_unref(d);
		return NULL;
	}
	return d;
}

static int emit(struct doc_reader *r, json_t *j, const char *where)
{
	struct doc *d;
	int err = 0, ret;

	if (!json_is_object(j)) {
		diag_add(r->diag, DIAG_ERROR, r->file, 0, NULL, where,
			 "expected a Kubernetes object (a JSON object)");
		return -EINVAL;
	}
	if (++r->n_objects > r->limits->max_objects) {
		diag_add(r->diag, DIAG_ERROR, r->file, 0, NULL, NULL,
			 "too many objects (more than %zu)", r->limits->max_objects);
		return -EINVAL;
	}
	d = convert(r, j, 1, &err);
	if (!d)
		return err;
	ret = r->on_object(d, r->userdata);
	doc_unref(d);
	return ret;
}

static int emit_array(struct doc_reader *r, json_t *arr, const char *name)
{
	size_t i;
	json_t *val;
	int ret = 0;

	json_array_foreach(arr, i, val) {
		char where[64];

		snprintf(where, sizeof(where), "%s[%zu]", name, i);
		ret = emit(r, val, where);
		if (ret < 0)
			break;
	}
	return ret;
}

int doc_read_json(struct doc_reader *r, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *root, *items;
	int ret;

	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		diag_add(r->diag, DIAG_ERROR, r->file, jerr.line > 0 ? jerr.line : 0, NULL, NULL,
			 "invalid JSON: %s (column %d)", jerr.text, jerr.column);
		return -EINVAL;
	}
	items = json_is_object(root) ? json_object_get(root, "items") : NULL;
	if (json_is_array(root))
		ret = emit_array(r, root, "");
	else if (items && json_is_array(items))
		ret = emit_array(r, items, "items");
	else
		ret = emit(r, root, NULL);
	json_decref(root);
	return ret;
}

int doc_read_json_value(struct doc_reader *r, json_t *value)
{
	return emit(r, value, NULL);
}
