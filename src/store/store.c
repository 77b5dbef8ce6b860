/* SPDX-License-Identifier: Apache-2.0 */
/* The object store with per-file change tracking; see store.h. */
#include "store/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/util.h"

struct store_file {
	char *path;                 /* owned */
	struct file_stamp stamp;
	struct cluster objs;        /* owns this file's objects */
	size_t n_objects;
	/*
	 * File times tick at the kernel's clock granularity, so two writes of
	 * the same size in one tick leave the same stamp.  A file read less
	 * than RACY_NS after its mtime is racy (git's term): its stamp alone
	 * cannot prove it unchanged, so its content hash is compared too.
	 */
	bool racy;
	uint64_t content_hash;
};

#define RACY_NS (2 * 1000000000ll)

static bool stamp_is_racy(const struct file_stamp *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - st->mtime_ns < RACY_NS;
}

/* FNV-1a over the file's bytes; 0 when it cannot be read (then it is parsed, which reports why). */
static uint64_t content_hash(const char *path)
{
	uint64_t h = FNV1A_OFFSET;
	char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		h = fnv1a_update(h, buf, (size_t)n);
	close(fd);
	return n < 0 ? 0 : (h ? h : 1);
}

/* Whether old still describes the file: same stamp and, for a racy file, the same bytes. */
static bool file_unchanged(struct store_file *old, const struct manifest_file *mf)
{
	uint64_t h;

	if (!file_stamp_eq(&old->stamp, &mf->stamp))
		return false;
	if (!old->racy)
		return true;
	h = content_hash(mf->path);
	if (!h || h != old->content_hash)
		return false;
	old->racy = stamp_is_racy(&mf->stamp);
	return true;
}

static void files_free(struct store_file *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		cluster_done(&v[i].objs);
	}
	free(v);
}

void store_init(struct store *s, const char *const *paths, size_t n_paths,
		const struct doc_limits *limits)
{
	*s = (struct store){ .paths = paths, .n_paths = n_paths, .limits = limits };
	cluster_init(&s->cluster);
	s->cluster.borrows_objects = true;
}

void store_done(struct store *s)
{
	cluster_done(&s->cluster);
	files_free(s->files, s->n_files);
	*s = (struct store){ 0 };
}

static void keys_free(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->slots[i].key);
	strmap_done(m);
}

void store_delta_done(struct store_delta *delta)
{
	keys_free(&delta->services);
	keys_free(&delta->nodes);
	cluster_done(&delta->old_cluster);
	files_free(delta->old_files, delta->n_old_files);
	*delta = (struct store_delta){ 0 };
}

static void mark_owned(struct strmap *m, char *key)
{
	if (strmap_get(m, key))
		free(key);
	else
		strmap_put(m, key, (void *)1);
}

/* Every service and node the objects of one file version can affect. */
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

static size_t replaced_objects(const struct store *s, const bool *kept)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n_files; i++)
		if (!kept[i])
			n += s->files[i].n_objects;
	return n;
}

/* The index over every file's objects; a key defined twice is an error naming both places. */
static int index_objects(struct cluster *c, const struct store_file *files, size_t n,
			 struct diag *d)
{
	size_t errors = 0;

	for (size_t f = 0; f < n; f++)
		errors += cluster_add_all(c, &files[f].objs, d, false);
	return errors ? -EINVAL : 0;
}

static void unindex_objects(struct cluster *c, const struct cluster *o)
{
	for (size_t i = 0; i < o->n_services; i++)
		cluster_remove_service(c, o->services[i]);
	for (size_t i = 0; i < o->n_slices; i++)
		cluster_remove_slice(c, o->slices[i]);
	for (size_t i = 0; i < o->n_nodes; i++)
		cluster_remove_node(c, o->nodes[i]);
}

static void reindex_objects(struct cluster *c, const struct cluster *o)
{
	for (size_t i = 0; i < o->n_services; i++)
		(void)cluster_add_service(c, o->services[i]);
	for (size_t i = 0; i < o->n_slices; i++)
		(void)cluster_add_slice(c, o->slices[i]);
	for (size_t i = 0; i < o->n_nodes; i++)
		(void)cluster_add_node(c, o->nodes[i]);
}

/*
 * Updates the index in place: the replaced files' objects out, the new
 * files' in.  On a duplicate the index is put back as it was.  A change
 * of a few objects costs a few hash operations, not a rebuild.
 */
static int index_update(struct cluster *c, const struct store_file *old, const bool *kept,
			size_t n_old, const struct store_file *next, const bool *fresh,
			size_t n_next, struct diag *d)
{
	struct store_file *added = xcalloc(MAX(n_next, 1), sizeof(*added));
	size_t n_added = 0;
	int r;

	for (size_t i = 0; i < n_old; i++)
		if (!kept[i])
			unindex_objects(c, &old[i].objs);
	for (size_t i = 0; i < n_next; i++)
		if (fresh[i])
			added[n_added++] = next[i];
	r = index_objects(c, added, n_added, d);
	if (r < 0) {
		/* Objects that collided were not indexed, so unindexing removes just what went in. */
		for (size_t i = 0; i < n_added; i++)
			unindex_objects(c, &added[i].objs);
		for (size_t i = 0; i < n_old; i++)
			if (!kept[i])
				reindex_objects(c, &old[i].objs);
	}
	free(added);
	return r;
}

int store_refresh(struct store *s, bool reread, struct diag *d, struct store_delta *delta)
{
	const struct doc_limits *limits = s->limits ? s->limits : &doc_default_limits;
	struct manifest_list list;
	struct strmap old_by_path, new_paths;
	struct store_file *next = NULL;
	bool *fresh = NULL, *kept = NULL;
	struct cluster c;
	size_t total = 0, n_kept = 0;
	bool in_place;
	uint64_t h = 0;
	int r, err = 0;

	*delta = (struct store_delta){ 0 };
	strmap_init(&delta->services);
	strmap_init(&delta->nodes);
	cluster_init(&delta->old_cluster);
	r = manifest_list_files(s->paths, s->n_paths, &list, d);
	if (r < 0) {
		manifest_list_done(&list);
		return r;
	}
	strmap_init(&old_by_path);
	strmap_init(&new_paths);
	for (size_t i = 0; i < s->n_files; i++)
		strmap_put(&old_by_path, s->files[i].path, &s->files[i]);
	next = xcalloc(MAX(list.n, 1), sizeof(*next));
	fresh = xcalloc(MAX(list.n, 1), sizeof(*fresh));
	kept = xcalloc(MAX(s->n_files, 1), sizeof(*kept));
	for (size_t i = 0; i < list.n; i++) {
		const struct manifest_file *mf = &list.files[i];
		struct store_file *old = strmap_get(&old_by_path, mf->path);

		/* Reading a file twice would define each of its objects twice. */
		if (strmap_put(&new_paths, mf->path, (void *)1)) {
			diag_add(d, DIAG_ERROR, mf->path, 0, NULL, NULL,
				 "named more than once (through -f or a directory)");
			err = err ? err : -EINVAL;
			continue;
		}
		/* Standard input is read once: a re-read keeps what it gave. */
		if (old && (streq(mf->path, "-") || (!reread && file_unchanged(old, mf)))) {
			next[i] = *old; /* shared until the refresh succeeds */
			kept[old - s->files] = true;
			n_kept++;
		} else if (streq(mf->path, "-") && s->stdin_read) {
			/* Its first read failed: reading again would see an empty, "valid" input. */
			diag_add(d, DIAG_ERROR, "<stdin>", 0, NULL, NULL,
				 "standard input was already read (and refused); it cannot be read again");
			err = err ? err : -EINVAL;
		} else {
			if (streq(mf->path, "-"))
				s->stdin_read = true;
			next[i].path = xstrdup(mf->path);
			next[i].stamp = mf->stamp;
			cluster_init(&next[i].objs);
			fresh[i] = true;
			delta->files_read++;
			/* The hash of the very bytes parsed: a later write in the same tick shows as a new hash. */
			r = manifest_load_file(mf->path, limits, &next[i].n_objects, &h, &next[i].objs, d);
			if (!streq(mf->path, "-") && stamp_is_racy(&mf->stamp)) {
				next[i].racy = true;
				next[i].content_hash = h ? h : 1;
			}
			if (r < 0)
				err = err ? err : r;
		}
		total += next[i].n_objects;
	}
	strmap_done(&new_paths);
	strmap_done(&old_by_path);
	if (!err && total > limits->max_objects) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "too many objects (more than %zu over all files)", limits->max_objects);
		err = -EINVAL;
	}
	delta->files_total = list.n;
	delta->changed = delta->files_read || n_kept != s->n_files || !s->loaded;
	delta->all = !s->loaded || reread;
	if (!err && !delta->changed) {
		/* Nothing to do: the index stays, the copies in next were shallow. */
		free(next);
		goto out;
	}
	/*
	 * Small changes update the index in place; the first load, a re-read
	 * or a change of many objects builds a new one.
	 */
	cluster_init(&c);
	c.borrows_objects = true;
	in_place = !err && s->loaded && !reread && replaced_objects(s, kept) * 8 <= total;
	if (in_place)
		err = index_update(&s->cluster, s->files, kept, s->n_files, next, fresh, list.n, d);
	else if (!err)
		err = index_objects(&c, next, list.n, d);
	if (err) {
		cluster_done(&c);
		for (size_t i = 0; i < list.n; i++) {
			if (fresh[i]) {
				free(next[i].path);
				cluster_done(&next[i].objs);
			}
		}
		free(next);
		delta->files_read = 0;
		delta->changed = delta->all = false;
		goto out;
	}
	/* Applied: what changed is what the new files hold and what the replaced ones held. */
	for (size_t i = 0; i < list.n; i++)
		if (fresh[i])
			mark_objects(delta, &next[i].objs);
	delta->old_files = xcalloc(MAX(s->n_files - n_kept, 1), sizeof(*delta->old_files));
	for (size_t i = 0; i < s->n_files; i++) {
		if (kept[i])
			continue;
		mark_objects(delta, &s->files[i].objs);
		delta->old_files[delta->n_old_files++] = s->files[i];
	}
	free(s->files);
	s->files = next;
	s->n_files = list.n;
	if (in_place) {
		cluster_done(&c);
	} else {
		delta->old_cluster = s->cluster;
		s->cluster = c;
	}
	s->loaded = true;
out:
	free(fresh);
	free(kept);
	manifest_list_done(&list);
	return err;
}
