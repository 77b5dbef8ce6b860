/* SPDX-License-Identifier: Apache-2.0 */
/* Watch events and list pages into store changes; see event.h. */
#include "source/kube/event.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/decode.h"
#include "source/doc.h"

const struct kube_kind_info kube_kinds[3] = {
	{ STORE_SERVICE, "Service", "v1", "services", "/api/v1/services" },
	{ STORE_SLICE, "EndpointSlice", "discovery.k8s.io/v1", "endpointslices",
	  "/apis/discovery.k8s.io/v1/endpointslices" },
	{ STORE_NODE, "Node", "v1", "nodes", "/api/v1/nodes" },
};

/* A pending change: obj NULL is a delete. */
struct kube_op {
	char *key;
	void *obj;
};

static void obj_free(enum store_kind kind, void *obj)
{
	if (!obj)
		return;
	if (kind == STORE_SERVICE)
		service_free(obj);
	else if (kind == STORE_SLICE)
		slice_free(obj);
	else
		node_free(obj);
}

void kube_changes_init(struct kube_changes *c, const struct kube_kind_info *info)
{
	memset(c, 0, sizeof(*c));
	c->info = info;
	cluster_init(&c->listed);
	strmap_init(&c->ops);
}

static void ops_clear(struct kube_changes *c)
{
	for (size_t i = 0; i < c->ops.cap; i++) {
		struct kube_op *op = c->ops.slots[i].key ? c->ops.slots[i].value : NULL;

		if (!op)
			continue;
		obj_free(c->info->kind, op->obj);
		free(op->key);
		free(op);
	}
	strmap_done(&c->ops);
	strmap_init(&c->ops);
}

void kube_changes_clear(struct kube_changes *c)
{
	ops_clear(c);
	cluster_done(&c->listed);
	cluster_init(&c->listed);
	c->replace = false;
}

void kube_changes_done(struct kube_changes *c)
{
	kube_changes_clear(c);
	strmap_done(&c->ops);
	cluster_done(&c->listed);
}

bool kube_changes_empty(const struct kube_changes *c)
{
	return !c->replace && !c->ops.n;
}

/* Queues a change of key (obj taken; NULL: delete), replacing an older one of the same key. */
static void op_put(struct kube_changes *c, const char *key, void *obj)
{
	struct kube_op *op = strmap_get(&c->ops, key);

	if (op) {
		obj_free(c->info->kind, op->obj);
		op->obj = obj;
		return;
	}
	op = xcalloc(1, sizeof(*op));
	op->key = xstrdup(key);
	op->obj = obj;
	strmap_put(&c->ops, op->key, op);
}

void kube_changes_to_batch(struct kube_changes *c, struct store_batch *b)
{
	const char *origin = c->info->resource;

	if (c->replace)
		store_batch_replace(b, origin, &c->listed);
	for (size_t i = 0; i < c->ops.cap; i++) {
		struct kube_op *op = c->ops.slots[i].key ? c->ops.slots[i].value : NULL;

		if (!op)
			continue;
		if (!op->obj)
			store_batch_delete(b, origin, c->info->kind, op->key);
		else if (c->info->kind == STORE_SERVICE)
			store_batch_upsert_service(b, origin, op->obj);
		else if (c->info->kind == STORE_SLICE)
			store_batch_upsert_slice(b, origin, op->obj);
		else
			store_batch_upsert_node(b, origin, op->obj);
		op->obj = NULL; /* the batch has it */
	}
	kube_changes_clear(c);
}

/* ---- decoding ---- */

struct decode_ctx {
	const char *where;
	struct cluster *objs;
	struct diag *d;
};

static int on_object(const struct doc *obj, void *userdata)
{
	struct decode_ctx *dc = userdata;

	/* A refused object is reported; the others still count. */
	(void)decode_object(obj, dc->where, dc->objs, dc->d);
	return 0;
}

/* List items (and a watch event's object, in case) come without kind: they are given the watch's. */
void kube_decode_item(const struct kube_kind_info *info, json_t *obj, const char *where,
		      struct cluster *objs, struct diag *d)
{
	struct decode_ctx dc = { where, objs, d };
	struct doc_reader r = {
		.file = where,
		.limits = &doc_default_limits,
		.diag = d,
		.on_object = on_object,
		.userdata = &dc,
	};

	if (!json_is_string(json_object_get(obj, "kind")))
		json_object_set_new(obj, "kind", json_string(info->name));
	if (!json_is_string(json_object_get(obj, "apiVersion")))
		json_object_set_new(obj, "apiVersion", json_string(info->api_version));
	(void)doc_read_json_value(&r, obj);
}

/* Gives map key a string value when it has none that is a string (as json_object_set_new). */
static void doc_default_str(struct doc *map, const char *key, const char *value)
{
	struct doc *s = doc_new(DOC_STR, 0);

	s->text = xstrdup(value);
	for (size_t i = 0; i < map->n; i++) {
		if (!streq(map->keys[i], key))
			continue;
		if (map->v[i]->type == DOC_STR) {
			doc_unref(s);
			return;
		}
		map->weight -= map->v[i]->weight;
		doc_unref(map->v[i]);
		map->v[i] = s;
		map->weight += s->weight;
		return;
	}
	doc_append(map, key, s);
}

void kube_decode_doc(const struct kube_kind_info *info, struct doc *obj, const char *where,
		     struct cluster *objs, struct diag *d)
{
	doc_default_str(obj, "kind", info->name);
	doc_default_str(obj, "apiVersion", info->api_version);
	/* As doc_read_json_value() then on_object(): a refused object is reported. */
	(void)decode_object(obj, where, objs, d);
}

static const char *json_str_at(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(obj, a);

	return json_string_value(b ? json_object_get(v, b) : v);
}

static void set_rv(char **rv, json_t *obj)
{
	const char *v = json_str_at(obj, "metadata", "resourceVersion");

	if (v && *v) {
		free(*rv);
		*rv = xstrdup(v);
	}
}

/* The store key of an event's object: "ns/name", a node's name; NULL when it has none. */
static char *object_key(const struct kube_kind_info *info, json_t *obj)
{
	const char *name = json_str_at(obj, "metadata", "name");
	const char *ns = json_str_at(obj, "metadata", "namespace");

	if (!name || !*name)
		return NULL;
	if (info->kind == STORE_NODE)
		return xstrdup(name);
	return ns && *ns ? xasprintf("%s/%s", ns, name) : NULL;
}

/* Takes the one object of the watch's kind out of objs (NULL when the decoder refused it). */
static void *take_object(const struct kube_kind_info *info, struct cluster *objs)
{
	void *obj = NULL;

	if (info->kind == STORE_SERVICE && objs->n_services == 1) {
		obj = objs->services[0];
		cluster_remove_service(objs, obj);
	} else if (info->kind == STORE_SLICE && objs->n_slices == 1) {
		obj = objs->slices[0];
		cluster_remove_slice(objs, obj);
	} else if (info->kind == STORE_NODE && objs->n_nodes == 1) {
		obj = objs->nodes[0];
		cluster_remove_node(objs, obj);
	}
	return obj;
}

/* The store key of a decoded object. */
static const char *model_key(enum store_kind kind, const void *obj)
{
	if (kind == STORE_SERVICE)
		return ((const struct service *)obj)->key;
	if (kind == STORE_SLICE)
		return ((const struct endpoint_slice *)obj)->key;
	return ((const struct node *)obj)->name;
}

static enum kube_event_result apply_upsert(struct kube_changes *c, json_t *obj, const char *where,
					   struct diag *d)
{
	struct cluster objs;
	size_t errors = d->n_errors;
	void *model;

	cluster_init(&objs);
	kube_decode_item(c->info, obj, where, &objs, d);
	model = take_object(c->info, &objs);
	if (!model && d->n_errors == errors)
		diag_add(d, DIAG_ERROR, where, 0, json_str_at(obj, "metadata", "name"), NULL,
			 "the %s watch sent an object of another kind (%s); skipped",
			 c->info->resource, json_str_at(obj, "kind", NULL) ?: "none");
	cluster_done(&objs);
	if (!model)
		return KUBE_EVENT_SKIPPED;
	op_put(c, model_key(c->info->kind, model), model);
	return KUBE_EVENT_APPLIED;
}

static enum kube_event_result apply_error(json_t *status, const char *where, struct diag *d)
{
	json_int_t code = json_integer_value(json_object_get(status, "code"));
	const char *msg = json_str_at(status, "message", NULL);

	if (code == 410)
		return KUBE_EVENT_GONE;
	diag_add(d, DIAG_WARNING, where, 0, NULL, NULL, "the API server ended the watch: %s (code %lld)",
		 msg ? msg : "no message", (long long)code);
	return KUBE_EVENT_FAILED;
}

static enum kube_event_result apply_event(struct kube_changes *c, json_t *ev, const char *where,
					  char **rv, struct diag *d)
{
	const char *type = json_str_at(ev, "type", NULL);
	json_t *obj = json_object_get(ev, "object");
	char *key;

	if (!type || !json_is_object(obj)) {
		diag_add(d, DIAG_ERROR, where, 0, NULL, NULL,
			 "a watch event without %s; skipped", !type ? "a type" : "an object");
		return KUBE_EVENT_SKIPPED;
	}
	if (streq(type, "ERROR"))
		return apply_error(obj, where, d);
	if (!streq(type, "ADDED") && !streq(type, "MODIFIED") && !streq(type, "DELETED") &&
	    !streq(type, "BOOKMARK")) {
		diag_add(d, DIAG_ERROR, where, 0, NULL, NULL,
			 "a watch event of unknown type \"%s\"; skipped", type);
		return KUBE_EVENT_SKIPPED;
	}
	/* Every event moves the watch forward, a refused object too: it is not sent again. */
	set_rv(rv, obj);
	if (streq(type, "BOOKMARK"))
		return KUBE_EVENT_BOOKMARK;
	if (!streq(type, "DELETED"))
		return apply_upsert(c, obj, where, d);
	key = object_key(c->info, obj);
	if (!key) {
		diag_add(d, DIAG_ERROR, where, 0, NULL, "metadata",
			 "a DELETED event whose object has no name%s; skipped",
			 c->info->kind == STORE_NODE ? "" : " or namespace");
		return KUBE_EVENT_SKIPPED;
	}
	op_put(c, key, NULL);
	free(key);
	return KUBE_EVENT_APPLIED;
}

enum kube_event_result kube_event_apply(struct kube_changes *c, const char *line, size_t len,
					const char *where, char **resource_version,
					struct diag *d)
{
	json_error_t jerr;
	json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	enum kube_event_result r;

	if (!ev || !json_is_object(ev)) {
		if (ev)
			diag_add(d, DIAG_ERROR, where, 0, NULL, NULL,
				 "a watch event that is not a JSON object; skipped");
		else
			diag_add(d, DIAG_ERROR, where, 0, NULL, NULL,
				 "a watch event that is not valid JSON: %s (column %d); skipped",
				 jerr.text, jerr.column);
		json_decref(ev);
		return KUBE_EVENT_SKIPPED;
	}
	r = apply_event(c, ev, where, resource_version, d);
	json_decref(ev);
	return r;
}

/* ---- lines ---- */

int kube_lines_feed(struct kube_lines *l, const char *p, size_t n, kube_line_fn fn, void *userdata)
{
	size_t max = l->max_line ? l->max_line : KUBE_MAX_LINE;

	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (l->len + take > max) {
			kube_lines_reset(l);
			return -EMSGSIZE;
		}
		if (nl && !l->len) {
			/* The whole line is in p: no copy. */
			if (take)
				fn(p, take, userdata);
		} else {
			l->buf = xgrow(l->buf, &l->cap, l->len + take + 1, 1);
			memcpy(l->buf + l->len, p, take);
			l->len += take;
			if (nl) {
				fn(l->buf, l->len, userdata);
				l->len = 0;
			}
		}
		p += take + (nl ? 1 : 0);
		n -= take + (nl ? 1 : 0);
	}
	return 0;
}

void kube_lines_reset(struct kube_lines *l)
{
	l->len = 0;
	/* A huge line's buffer is not kept for the next stream. */
	if (l->cap > 1u << 20) {
		free(l->buf);
		l->buf = NULL;
		l->cap = 0;
	}
}

void kube_lines_done(struct kube_lines *l)
{
	free(l->buf);
	l->buf = NULL;
	l->len = l->cap = 0;
}
