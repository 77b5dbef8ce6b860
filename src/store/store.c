/* SPDX-License-Identifier: Apache-2.0 */
/* The object store with per-origin change tracking; see store.h. */
#include "store/store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

struct store_origin {
	char *key;                  /* "source\norigin" (owned) */
	const char *name;           /* the origin part of key */
	struct cluster objs;        /* owns the origin's objects */
};

enum change_what {
	CHANGE_EDIT,                /* objs upserted, deleted keys deleted, the rest kept */
	CHANGE_REPLACE,             /* objs is the origin's new content */
	CHANGE_REMOVE,
};

struct store_change {
	char *origin;               /* owned */
	enum change_what what;
	struct cluster objs;        /* owned, indexed (a later upsert of a key replaces) */
	struct strmap deleted[3];   /* CHANGE_EDIT: keys deleted, per enum store_kind (keys owned) */
};

/*
 * An object list: a struct cluster whose arrays are filled without indexing
 * (list_push), so cluster_add_all() can take it and cluster_done() frees it
 * (its objects too, unless borrows_objects).
 */
static void list_push(struct cluster *l, enum store_kind kind, void *obj)
{
	switch (kind) {
	case STORE_SERVICE:
		VEC_PUSH(l->services, l->n_services, l->cap_services, obj);
		break;
	case STORE_SLICE:
		VEC_PUSH(l->slices, l->n_slices, l->cap_slices, obj);
		break;
	case STORE_NODE:
		VEC_PUSH(l->nodes, l->n_nodes, l->cap_nodes, obj);
		break;
	}
}

static void list_push_all(struct cluster *l, const struct cluster *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		list_push(l, STORE_SERVICE, c->services[i]);
	for (size_t i = 0; i < c->n_slices; i++)
		list_push(l, STORE_SLICE, c->slices[i]);
	for (size_t i = 0; i < c->n_nodes; i++)
		list_push(l, STORE_NODE, c->nodes[i]);
}

static void list_init(struct cluster *l, bool owning)
{
	cluster_init(l);
	l->borrows_objects = !owning;
}

static size_t n_objs(const struct cluster *c)
{
	return c->n_services + c->n_slices + c->n_nodes;
}

/* The objects of c as an array per kind, for loops over all three. */
static void *const *objs_of(const struct cluster *c, enum store_kind kind, size_t *n)
{
	switch (kind) {
	case STORE_SERVICE:
		*n = c->n_services;
		return (void *const *)c->services;
	case STORE_SLICE:
		*n = c->n_slices;
		return (void *const *)c->slices;
	case STORE_NODE:
	default:
		*n = c->n_nodes;
		return (void *const *)c->nodes;
	}
}

static const char *obj_key(enum store_kind kind, const void *obj)
{
	switch (kind) {
	case STORE_SERVICE:
		return ((const struct service *)obj)->key;
	case STORE_SLICE:
		return ((const struct endpoint_slice *)obj)->key;
	case STORE_NODE:
	default:
		return ((const struct node *)obj)->name;
	}
}

static void *obj_find(const struct cluster *c, enum store_kind kind, const char *key)
{
	switch (kind) {
	case STORE_SERVICE:
		return cluster_find_service(c, key);
	case STORE_SLICE:
		return (void *)cluster_find_slice(c, key);
	case STORE_NODE:
	default:
		return (void *)cluster_find_node(c, key);
	}
}

static void obj_remove(struct cluster *c, enum store_kind kind, void *obj)
{
	switch (kind) {
	case STORE_SERVICE:
		cluster_remove_service(c, obj);
		break;
	case STORE_SLICE:
		cluster_remove_slice(c, obj);
		break;
	case STORE_NODE:
		cluster_remove_node(c, obj);
		break;
	}
}

static int obj_add(struct cluster *c, enum store_kind kind, void *obj)
{
	switch (kind) {
	case STORE_SERVICE:
		return cluster_add_service(c, obj);
	case STORE_SLICE:
		return cluster_add_slice(c, obj);
	case STORE_NODE:
	default:
		return cluster_add_node(c, obj);
	}
}

static void obj_free(enum store_kind kind, void *obj)
{
	switch (kind) {
	case STORE_SERVICE:
		service_free(obj);
		break;
	case STORE_SLICE:
		slice_free(obj);
		break;
	case STORE_NODE:
		node_free(obj);
		break;
	}
}

static void keys_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->slots[i].key);
	strmap_done(m);
}

/* ---- the store ---- */

void store_init(struct store *s)
{
	*s = (struct store){ 0 };
	strmap_init(&s->origin_index);
	cluster_init(&s->cluster);
	s->cluster.borrows_objects = true;
}

static void origin_free(struct store_origin *o)
{
	free(o->key);
	cluster_done(&o->objs);
	free(o);
}

void store_done(struct store *s)
{
	cluster_done(&s->cluster);
	for (size_t i = 0; i < s->n_origins; i++)
		origin_free(s->origins[i]);
	free(s->origins);
	strmap_done(&s->origin_index);
	*s = (struct store){ 0 };
}

static struct store_origin *origin_find(const struct store *s, const char *source,
					const char *name)
{
	char *key = xasprintf("%s\n%s", source, name);
	struct store_origin *o = strmap_get(&s->origin_index, key);

	free(key);
	return o;
}

static struct store_origin *origin_new(struct store *s, const char *source, const char *name)
{
	struct store_origin *o = xcalloc(1, sizeof(*o));

	o->key = xasprintf("%s\n%s", source, name);
	o->name = o->key + strlen(source) + 1;
	cluster_init(&o->objs);
	strmap_put(&s->origin_index, o->key, o);
	VEC_PUSH(s->origins, s->n_origins, s->cap_origins, o);
	return o;
}

/* Moves every object of c into the graveyard; c is left empty and usable. */
static void bury_all(struct store_delta *delta, struct cluster *c)
{
	list_push_all(&delta->graveyard, c);
	c->n_services = c->n_slices = c->n_nodes = 0;
	cluster_done(c);
	cluster_init(c);
}

static void origin_delete(struct store *s, struct store_origin *o, struct store_delta *delta)
{
	size_t i = 0;

	while (s->origins[i] != o)
		i++;
	memmove(&s->origins[i], &s->origins[i + 1], (s->n_origins - i - 1) * sizeof(*s->origins));
	s->n_origins--;
	strmap_del(&s->origin_index, o->key, NULL);
	bury_all(delta, &o->objs);
	origin_free(o);
}

/* ---- batches ---- */

void store_batch_init(struct store_batch *b, const char *source)
{
	*b = (struct store_batch){ .source = source };
	strmap_init(&b->by_origin);
}

static void change_clear(struct store_change *ch)
{
	cluster_done(&ch->objs);
	cluster_init(&ch->objs);
	for (size_t k = 0; k < ARRAY_SIZE(ch->deleted); k++) {
		keys_free(&ch->deleted[k]);
		strmap_init(&ch->deleted[k]);
	}
}

static void change_free(struct store_change *ch)
{
	change_clear(ch);
	cluster_done(&ch->objs);
	for (size_t k = 0; k < ARRAY_SIZE(ch->deleted); k++)
		strmap_done(&ch->deleted[k]);
	free(ch->origin);
	free(ch);
}

void store_batch_done(struct store_batch *b)
{
	for (size_t i = 0; i < b->n_changes; i++)
		change_free(b->changes[i]);
	free(b->changes);
	strmap_done(&b->by_origin);
	*b = (struct store_batch){ 0 };
}

static struct store_change *change_for(struct store_batch *b, const char *origin)
{
	struct store_change *ch = strmap_get(&b->by_origin, origin);

	if (ch)
		return ch;
	ch = xcalloc(1, sizeof(*ch));
	ch->origin = xstrdup(origin);
	ch->what = CHANGE_EDIT;
	cluster_init(&ch->objs);
	for (size_t k = 0; k < ARRAY_SIZE(ch->deleted); k++)
		strmap_init(&ch->deleted[k]);
	strmap_put(&b->by_origin, ch->origin, ch);
	VEC_PUSH(b->changes, b->n_changes, b->cap_changes, ch);
	return ch;
}

void store_batch_replace(struct store_batch *b, const char *origin, struct cluster *objs)
{
	struct store_change *ch = change_for(b, origin);

	change_clear(ch);
	cluster_done(&ch->objs);
	ch->objs = *objs;
	ch->what = CHANGE_REPLACE;
	cluster_init(objs);
}

void store_batch_remove(struct store_batch *b, const char *origin)
{
	struct store_change *ch = change_for(b, origin);

	change_clear(ch);
	ch->what = CHANGE_REMOVE;
}

/* Drops what the change held under key (an earlier upsert of it). */
static void change_forget(struct store_change *ch, enum store_kind kind, const char *key)
{
	void *old = obj_find(&ch->objs, kind, key);

	if (old) {
		obj_remove(&ch->objs, kind, old);
		obj_free(kind, old);
	}
}

static void batch_upsert(struct store_batch *b, const char *origin, enum store_kind kind,
			 void *obj)
{
	struct store_change *ch = change_for(b, origin);
	const char *stored;

	if (ch->what == CHANGE_REMOVE)
		ch->what = CHANGE_REPLACE; /* removed, then this object: the origin holds just it */
	change_forget(ch, kind, obj_key(kind, obj));
	if (strmap_del(&ch->deleted[kind], obj_key(kind, obj), &stored))
		free((char *)stored);
	(void)obj_add(&ch->objs, kind, obj); /* cannot collide: the key was just forgotten */
}

void store_batch_upsert_service(struct store_batch *b, const char *origin, struct service *svc)
{
	batch_upsert(b, origin, STORE_SERVICE, svc);
}

void store_batch_upsert_slice(struct store_batch *b, const char *origin, struct endpoint_slice *sl)
{
	batch_upsert(b, origin, STORE_SLICE, sl);
}

void store_batch_upsert_node(struct store_batch *b, const char *origin, struct node *n)
{
	batch_upsert(b, origin, STORE_NODE, n);
}

void store_batch_delete(struct store_batch *b, const char *origin, enum store_kind kind,
			const char *key)
{
	struct store_change *ch = change_for(b, origin);

	if (ch->what == CHANGE_REMOVE)
		return;
	change_forget(ch, kind, key);
	if (ch->what == CHANGE_EDIT && !strmap_get(&ch->deleted[kind], key)) {
		char *k = xstrdup(key);

		strmap_put(&ch->deleted[kind], k, k);
	}
}

/* ---- deltas ---- */

void store_delta_init(struct store_delta *delta)
{
	*delta = (struct store_delta){ 0 };
	strmap_init(&delta->services);
	strmap_init(&delta->nodes);
	list_init(&delta->graveyard, true);
}

void store_delta_done(struct store_delta *delta)
{
	keys_free(&delta->services);
	keys_free(&delta->nodes);
	cluster_done(&delta->graveyard);
	for (size_t i = 0; i < delta->n_old_indexes; i++)
		cluster_done(&delta->old_indexes[i]);
	free(delta->old_indexes);
	*delta = (struct store_delta){ 0 };
}

static void mark_owned(struct strmap *m, char *key)
{
	if (strmap_get(m, key))
		free(key);
	else
		strmap_put(m, key, (void *)1);
}

/* Every service and node the objects in c can affect. */
static void mark_objects(struct store_delta *delta, const struct cluster *c)
{
	for (size_t i = 0; i < c->n_services; i++)
		mark_owned(&delta->services, xstrdup(c->services[i]->key));
	for (size_t i = 0; i < c->n_slices; i++) {
		const struct endpoint_slice *sl = c->slices[i];

		if (sl->service_name)
			mark_owned(&delta->services, xasprintf("%s/%s", sl->ns, sl->service_name));
	}
	for (size_t i = 0; i < c->n_nodes; i++)
		mark_owned(&delta->nodes, xstrdup(c->nodes[i]->name));
}

/* The keys of kind k that enter or leave the index, each once. */
static size_t count_changed(const struct cluster *removed, const struct cluster *added,
			    enum store_kind k)
{
	const struct cluster *lists[2] = { added, removed };
	struct strmap seen;
	size_t count = 0;

	strmap_init(&seen);
	for (int l = 0; l < 2; l++) {
		size_t n;
		void *const *v = objs_of(lists[l], k, &n);

		for (size_t i = 0; i < n; i++) {
			const char *key = obj_key(k, v[i]);

			if (!strmap_get(&seen, key)) {
				strmap_put(&seen, key, (void *)1);
				count++;
			}
		}
	}
	strmap_done(&seen);
	return count;
}

/* ---- commit ---- */

/* Whether an EDIT change replaces or deletes the object under key. */
static bool change_touches(const struct store_change *ch, enum store_kind kind, const char *key)
{
	return obj_find(&ch->objs, kind, key) || strmap_get(&ch->deleted[kind], key);
}

/* The objects that leave the index (removed) and enter it (added) if ch is applied to o. */
static void change_diff(const struct store_change *ch, const struct store_origin *o,
			struct cluster *removed, struct cluster *added)
{
	if (ch->what != CHANGE_EDIT) {
		if (o)
			list_push_all(removed, &o->objs);
		list_push_all(added, &ch->objs);
		return;
	}
	for (enum store_kind k = STORE_SERVICE; k <= STORE_NODE; k++) {
		size_t n;
		void *const *v = objs_of(&ch->objs, k, &n);
		void *old;

		for (size_t i = 0; i < n; i++) {
			if (o && (old = obj_find(&o->objs, k, obj_key(k, v[i]))))
				list_push(removed, k, old);
			list_push(added, k, v[i]);
		}
		for (size_t i = 0; i < ch->deleted[k].cap; i++) {
			const char *key = ch->deleted[k].slots[i].key;

			if (key && o && (old = obj_find(&o->objs, k, key)))
				list_push(removed, k, old);
		}
	}
}

/* Appends to l the objects origin o holds once ch (NULL: none) is applied, in order. */
static void next_objects(struct cluster *l, const struct store_origin *o,
			 const struct store_change *ch)
{
	if (!ch) {
		list_push_all(l, &o->objs);
		return;
	}
	if (ch->what == CHANGE_EDIT && o) {
		for (enum store_kind k = STORE_SERVICE; k <= STORE_NODE; k++) {
			size_t n;
			void *const *v = objs_of(&o->objs, k, &n);

			for (size_t i = 0; i < n; i++)
				if (!change_touches(ch, k, obj_key(k, v[i])))
					list_push(l, k, v[i]);
		}
	}
	if (ch->what != CHANGE_REMOVE)
		list_push_all(l, &ch->objs);
}

static const struct store_change *change_of(const struct store_batch *b,
					    const struct store_origin *o)
{
	size_t n = strlen(b->source);

	if (strncmp(o->key, b->source, n) || o->key[n] != '\n')
		return NULL;
	return strmap_get(&b->by_origin, o->name);
}

/* A new index over every origin as it will be, in origin order; -EINVAL on a duplicate. */
static int index_rebuild(const struct store *s, const struct store_batch *b, struct cluster *ret,
			 struct diag *d)
{
	struct cluster next;
	size_t dups;

	list_init(&next, false);
	for (size_t i = 0; i < s->n_origins; i++)
		next_objects(&next, s->origins[i], change_of(b, s->origins[i]));
	for (size_t i = 0; i < b->n_changes; i++)
		if (!origin_find(s, b->source, b->changes[i]->origin))
			next_objects(&next, NULL, b->changes[i]);
	cluster_init(ret);
	ret->borrows_objects = true;
	dups = cluster_add_all(ret, &next, d, false);
	cluster_done(&next);
	if (dups) {
		cluster_done(ret);
		return -EINVAL;
	}
	return 0;
}

static void unindex_objects(struct cluster *c, const struct cluster *o)
{
	for (enum store_kind k = STORE_SERVICE; k <= STORE_NODE; k++) {
		size_t n;
		void *const *v = objs_of(o, k, &n);

		for (size_t i = 0; i < n; i++)
			obj_remove(c, k, v[i]);
	}
}

static void reindex_objects(struct cluster *c, const struct cluster *o)
{
	for (enum store_kind k = STORE_SERVICE; k <= STORE_NODE; k++) {
		size_t n;
		void *const *v = objs_of(o, k, &n);

		for (size_t i = 0; i < n; i++)
			(void)obj_add(c, k, v[i]);
	}
}

/*
 * Updates the index in place: removed out, added in.  On a duplicate the
 * index is put back as it was.  A change of a few objects costs a few hash
 * operations, not a rebuild.
 */
static int index_update(struct cluster *c, const struct cluster *removed,
			const struct cluster *added, struct diag *d)
{
	unindex_objects(c, removed);
	if (!cluster_add_all(c, added, d, false))
		return 0;
	/* Objects that collided were not indexed, so unindexing removes just what went in. */
	unindex_objects(c, added);
	reindex_objects(c, removed);
	return -EINVAL;
}

/* Moves the change's objects into origin o (which exists), burying what they replace. */
static void change_apply(struct store *s, struct store_origin *o, struct store_change *ch,
			 struct store_delta *delta)
{
	if (ch->what == CHANGE_REPLACE) {
		bury_all(delta, &o->objs);
		cluster_done(&o->objs);
		o->objs = ch->objs;
		cluster_init(&ch->objs);
		return;
	}
	for (enum store_kind k = STORE_SERVICE; k <= STORE_NODE; k++) {
		size_t n;
		void *const *v = objs_of(&ch->objs, k, &n);
		void *old;

		for (size_t i = 0; i < ch->deleted[k].cap; i++) {
			const char *key = ch->deleted[k].slots[i].key;

			if (key && (old = obj_find(&o->objs, k, key))) {
				obj_remove(&o->objs, k, old);
				list_push(&delta->graveyard, k, old);
			}
		}
		for (size_t i = 0; i < n; i++) {
			if ((old = obj_find(&o->objs, k, obj_key(k, v[i])))) {
				obj_remove(&o->objs, k, old);
				list_push(&delta->graveyard, k, old);
			}
			(void)obj_add(&o->objs, k, v[i]);
		}
	}
	/* The objects moved to o: only the batch's containers are left to free. */
	ch->objs.n_services = ch->objs.n_slices = ch->objs.n_nodes = 0;
	change_clear(ch);
}

static void apply_changes(struct store *s, struct store_batch *b, struct store_delta *delta)
{
	for (size_t i = 0; i < b->n_changes; i++) {
		struct store_change *ch = b->changes[i];
		struct store_origin *o = origin_find(s, b->source, ch->origin);

		if (ch->what == CHANGE_REMOVE) {
			if (o)
				origin_delete(s, o, delta);
			continue;
		}
		delta->origins_read++;
		change_apply(s, o ? o : origin_new(s, b->source, ch->origin), ch, delta);
	}
}

int store_commit(struct store *s, struct store_batch *b, struct diag *d, struct store_delta *delta)
{
	struct cluster removed, added, index;
	size_t total;
	bool all = !s->loaded || b->reread, in_place;
	int r;

	if (!b->n_changes && !all)
		return 0; /* nothing to do: the index stays */
	list_init(&removed, false);
	list_init(&added, false);
	for (size_t i = 0; i < b->n_changes; i++)
		change_diff(b->changes[i], origin_find(s, b->source, b->changes[i]->origin),
			    &removed, &added);
	total = s->n_objects - n_objs(&removed) + n_objs(&added);
	/* Small changes update the index in place; the first load, a re-read or a big change rebuild it. */
	in_place = !all && n_objs(&removed) * 8 <= total;
	if (in_place)
		r = index_update(&s->cluster, &removed, &added, d);
	else
		r = index_rebuild(s, b, &index, d);
	if (r < 0)
		goto out;
	/* Applied: what changed is what the new objects and the replaced ones can affect. */
	mark_objects(delta, &removed);
	mark_objects(delta, &added);
	delta->services_changed += count_changed(&removed, &added, STORE_SERVICE);
	delta->slices_changed += count_changed(&removed, &added, STORE_SLICE);
	delta->all |= all;
	delta->changed = true;
	if (!in_place) {
		delta->old_indexes = xrealloc(delta->old_indexes, (delta->n_old_indexes + 1) *
								  sizeof(*delta->old_indexes));
		delta->old_indexes[delta->n_old_indexes++] = s->cluster;
		s->cluster = index;
	}
	apply_changes(s, b, delta);
	{
		const char *source = b->source;

		store_batch_done(b);
		store_batch_init(b, source);
	}
	s->n_objects = total;
	s->loaded = true;
out:
	cluster_done(&removed);
	cluster_done(&added);
	return r;
}
