/* SPDX-License-Identifier: Apache-2.0 */
/*
 * YAML reader: libyaml events to doc trees, one object at a time.
 *
 * Each YAML document is one object, except that a top-level "items" list
 * (a kind: List, as "kubectl get -o yaml" prints) is streamed: each item is
 * handed to the callback as soon as it is complete and then freed, so a
 * 100 MB List never exists as one tree.  Depth, node count (with aliases
 * expanded, against alias bombs) and object count are bounded.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "core/util.h"
#include "source/doc.h"

struct frame {
	struct doc *node;
	char *key;        /* MAP: key waiting for its value (owned) */
	bool streaming;   /* SEQ whose complete items go to the callback */
	/* MAP: entries that came from a merge key ("<<"); an explicit key overrides them. */
	size_t *merged;
	size_t n_merged, cap_merged;
	long replace;     /* index the pending key's value replaces, or -1 */
};

struct anchor {
	char *name;
	struct doc *node;
};

struct builder {
	struct doc_reader *r;
	struct frame *stack;
	size_t depth, cap;
	struct anchor *anchors;
	size_t n_anchors, cap_anchors;
	struct doc *root;       /* completed document root, when not streamed away */
	bool streamed_list;     /* this document's items went to the callback */
	int err;
};

static void fail(struct builder *b, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(struct builder *b, int line, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (b->err)
		return;
	b->err = -EINVAL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(b->r->diag, DIAG_ERROR, b->r->file, line, NULL, NULL, "%s", msg);
}

static void anchors_clear(struct builder *b)
{
	for (size_t i = 0; i < b->n_anchors; i++) {
		free(b->anchors[i].name);
		doc_unref(b->anchors[i].node);
	}
	b->n_anchors = 0;
}

static void stack_clear(struct builder *b)
{
	while (b->depth) {
		struct frame *f = &b->stack[--b->depth];

		doc_unref(f->node);
		free(f->key);
		free(f->merged);
	}
}

static int emit_object(struct builder *b, struct doc *obj)
{
	int r;

	if (++b->r->n_objects > b->r->limits->max_objects) {
		char lim[32];

		snprintf(lim, sizeof(lim), "%zu", b->r->limits->max_objects);
		fail(b, obj->line, "too many objects (more than %s)", lim);
		return -EINVAL;
	}
	r = b->r->on_object(obj, b->r->userdata);
	if (r < 0 && !b->err)
		b->err = r;
	return r;
}

static bool is_merged(const struct frame *f, size_t idx)
{
	for (size_t i = 0; i < f->n_merged; i++)
		if (f->merged[i] == idx)
			return true;
	return false;
}

/*
 * A merge key ("<<: *base" or "<<: [*a, *b]"), as go-yaml applies it: the
 * mappings' entries are added unless the mapping already has the key; keys
 * written explicitly, before or after, win.
 */
static void merge_into(struct builder *b, struct frame *top, const struct doc *src, int line)
{
	const struct doc *const *maps = &src;
	size_t n = 1;

	if (src->type == DOC_SEQ) {
		maps = (const struct doc *const *)src->v;
		n = src->n;
	} else if (src->type != DOC_MAP) {
		fail(b, line, "a merge key (<<) takes a mapping or a list of mappings, got a %s",
		     doc_type_name(src->type));
		return;
	}
	for (size_t m = 0; m < n; m++) {
		if (maps[m]->type != DOC_MAP) {
			fail(b, line, "a merge key (<<) takes a mapping or a list of mappings, got a %s",
			     doc_type_name(maps[m]->type));
			return;
		}
		for (size_t i = 0; i < maps[m]->n; i++) {
			if (doc_get(top->node, maps[m]->keys[i]))
				continue;
			maps[m]->v[i]->refs++;
			doc_append(top->node, maps[m]->keys[i], maps[m]->v[i]);
			VEC_PUSH(top->merged, top->n_merged, top->cap_merged, top->node->n - 1);
		}
	}
}

/* Attach a completed node to its parent, or finish the document. */
static void attach(struct builder *b, struct doc *node, int line, bool streamed)
{
	struct frame *top;

	if (b->err) {
		doc_unref(node);
		return;
	}
	if (!b->depth) {
		b->root = node;
		return;
	}
	top = &b->stack[b->depth - 1];
	if (top->node->type == DOC_MAP) {
		if (!top->key) {
			/* node is a key */
			if (node->type == DOC_MAP || node->type == DOC_SEQ) {
				fail(b, line, "%s: a mapping key must be a scalar", "complex key");
			} else {
				top->replace = -1;
				for (size_t i = 0; i < top->node->n; i++) {
					if (!streq(top->node->keys[i], node->text))
						continue;
					if (is_merged(top, i))
						top->replace = (long)i;
					else
						fail(b, line, "duplicate key \"%s\" in a mapping",
						     node->text);
					break;
				}
				/* The key node is discarded: keep its text. */
				if (node->refs == 1) {
					top->key = node->text;
					node->text = NULL;
				} else {
					top->key = xstrdup(node->text);
				}
			}
			doc_unref(node);
			return;
		}
		if (streamed)
			b->streamed_list = true;
		if (streq(top->key, "<<")) {
			merge_into(b, top, node, line);
			doc_unref(node);
		} else if (top->replace >= 0) {
			struct doc *old = top->node->v[top->replace];

			top->node->weight -= old->weight;
			doc_unref(old);
			top->node->v[top->replace] = node;
			top->node->weight += node->weight;
		} else {
			doc_append_owned(top->node, top->key, node);
			top->key = NULL;
		}
		free(top->key);
		top->key = NULL;
		top->replace = -1;
	} else if (top->streaming) {
		if (node->type != DOC_MAP)
			fail(b, line, "a List item must be a mapping (an object), got a %s",
			     doc_type_name(node->type));
		else
			emit_object(b, node);
		doc_unref(node);
		return;
	} else {
		doc_append(top->node, NULL, node);
	}
	if (top->node->weight > b->r->limits->max_weight)
	{
		char lim[32];

		snprintf(lim, sizeof(lim), "%llu", (unsigned long long)b->r->limits->max_weight);
		fail(b, line, "object too large: more than %s nodes (aliases expanded)", lim);
	}
}

static void push(struct builder *b, struct doc *node, const char *anchor, int line)
{
	struct frame f = { .node = node, .replace = -1 };

	if (b->depth >= b->r->limits->max_depth) {
		char lim[32];

		snprintf(lim, sizeof(lim), "%u", b->r->limits->max_depth);
		fail(b, line, "nesting too deep (more than %s levels)", lim);
		doc_unref(node);
		return;
	}
	/* A top-level "items" sequence streams its elements. */
	if (b->depth == 1 && node->type == DOC_SEQ && b->stack[0].key &&
	    streq(b->stack[0].key, "items"))
		f.streaming = true;
	if (anchor) {
		struct anchor a = { xstrdup(anchor), node };

		node->refs++;
		VEC_PUSH(b->anchors, b->n_anchors, b->cap_anchors, a);
	}
	b->stack = xgrow(b->stack, &b->cap, b->depth + 1, sizeof(*b->stack));
	b->stack[b->depth++] = f;
}

static void pop(struct builder *b, int line)
{
	struct frame f;

	if (!b->depth)
		return;
	f = b->stack[--b->depth];
	free(f.key);
	free(f.merged);
	attach(b, f.node, line, f.streaming);
}

static void on_scalar(struct builder *b, yaml_event_t *ev, int line)
{
	struct doc *d = doc_new(DOC_STR, line);
	const char *tag = (const char *)ev->data.scalar.tag;

	/* Take libyaml's buffer instead of copying it (yaml_event_delete then frees NULL). */
	d->text = (char *)ev->data.scalar.value;
	ev->data.scalar.value = NULL;
	if (strlen(d->text) != ev->data.scalar.length) {
		fail(b, line, "%s", "a string contains a NUL character");
		doc_unref(d);
		return;
	}
	if (tag && (streq(tag, YAML_STR_TAG) || streq(tag, "!")))
		d->type = DOC_STR;
	else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		doc_resolve_plain(d);
	if (ev->data.scalar.anchor) {
		struct anchor a = { xstrdup((const char *)ev->data.scalar.anchor), d };

		d->refs++;
		VEC_PUSH(b->anchors, b->n_anchors, b->cap_anchors, a);
	}
	attach(b, d, line, false);
}

static void on_alias(struct builder *b, const yaml_event_t *ev, int line)
{
	const char *name = (const char *)ev->data.alias.anchor;

	for (size_t i = b->n_anchors; i-- > 0;) {
		if (streq(b->anchors[i].name, name)) {
			struct doc *d = b->anchors[i].node;

			if (d->type == DOC_MAP || d->type == DOC_SEQ) {
				for (size_t j = 0; j < b->depth; j++) {
					if (b->stack[j].node == d) {
						fail(b, line, "recursive alias *%s", name);
						return;
					}
				}
			}
			d->refs++;
			attach(b, d, line, false);
			return;
		}
	}
	fail(b, line, "unknown alias *%s", name);
}

void doc_warn_list_kind(struct doc_reader *r, const struct doc *root)
{
	const struct doc *kind = doc_get(root, "kind");

	if (kind && kind->type == DOC_STR && strlen(kind->text) >= 4 &&
	    !streq(kind->text + strlen(kind->text) - 4, "List"))
		diag_add(r->diag, DIAG_WARNING, r->file, root->line, NULL, "items",
			 "read as a List although kind is %s", kind->text);
}

/* Finish one YAML document: hand the root to the callback unless it was a streamed List. */
static void end_document(struct builder *b, int line)
{
	struct doc *root = b->root;

	b->root = NULL;
	if (b->err || !root) {
		doc_unref(root);
		return;
	}
	if (root->type == DOC_NULL) {
		/* an empty document ("---" with nothing after it) */
	} else if (root->type != DOC_MAP) {
		fail(b, root->line ? root->line : line,
		     "expected a Kubernetes object (a mapping), got a %s",
		     doc_type_name(root->type));
	} else if (b->streamed_list || (doc_get(root, "items") &&
					doc_get(root, "items")->type == DOC_SEQ)) {
		const struct doc *items = doc_get(root, "items");

		/* Items that were not streamed (the list was an alias): hand them on now. */
		for (size_t i = 0; !b->streamed_list && i < items->n && !b->err; i++) {
			if (items->v[i]->type != DOC_MAP)
				fail(b, items->v[i]->line ? items->v[i]->line : line,
				     "a List item must be a mapping (an object), got a %s",
				     doc_type_name(items->v[i]->type));
			else
				emit_object(b, items->v[i]);
		}

		doc_warn_list_kind(b->r, root);
	} else {
		emit_object(b, root);
	}
	doc_unref(root);
	b->streamed_list = false;
}

/* Reads the events of an initialised parser whose input is set; deletes the parser. */
static int read_events(struct doc_reader *r, yaml_parser_t *parser)
{
	struct builder b = { .r = r };
	yaml_event_t ev;
	bool done = false;

	while (!done && !b.err) {
		int line;

		if (!yaml_parser_parse(parser, &ev)) {
			int pl = (int)(parser->problem_mark.line + 1) + r->line_base;
			char msg[512];

			snprintf(msg, sizeof(msg), "invalid YAML: %s%s%s",
				 parser->problem ? parser->problem : "parse error",
				 parser->context ? " " : "", parser->context ? parser->context : "");
			fail(&b, pl, "%s", msg);
			break;
		}
		line = (int)ev.start_mark.line + 1 + r->line_base;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			anchors_clear(&b);
			break;
		case YAML_DOCUMENT_END_EVENT:
			end_document(&b, line);
			anchors_clear(&b);
			break;
		case YAML_MAPPING_START_EVENT:
			push(&b, doc_new(DOC_MAP, line), (const char *)ev.data.mapping_start.anchor,
			     line);
			break;
		case YAML_SEQUENCE_START_EVENT:
			push(&b, doc_new(DOC_SEQ, line),
			     (const char *)ev.data.sequence_start.anchor, line);
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			pop(&b, line);
			break;
		case YAML_SCALAR_EVENT:
			on_scalar(&b, &ev, line);
			break;
		case YAML_ALIAS_EVENT:
			on_alias(&b, &ev, line);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	stack_clear(&b);
	anchors_clear(&b);
	doc_unref(b.root);
	free(b.stack);
	free(b.anchors);
	yaml_parser_delete(parser);
	return b.err;
}

int doc_read_yaml_libyaml(struct doc_reader *r, const char *buf, size_t len)
{
	yaml_parser_t parser;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	return read_events(r, &parser);
}

int doc_read_yaml_libyaml_input(struct doc_reader *r, doc_input_fn input, void *data)
{
	yaml_parser_t parser;

	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input(&parser, input, data);
	return read_events(r, &parser);
}
