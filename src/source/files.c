/* SPDX-License-Identifier: Apache-2.0 */
/* The files source; see files.h and source.h. */
#include "source/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/loop.h"
#include "core/util.h"
#include "source/manifest.h"
#include "store/store.h"

/* A file as of the last successful refresh. */
struct files_entry {
	char *path;                 /* owned; also its origin in the store */
	struct file_stamp stamp;
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

struct files_source {
	struct source base;
	const char *const *paths;   /* borrowed: what -f named */
	size_t n_paths;
	const struct doc_limits *limits;
	struct files_entry *files;  /* the last good read, in load order */
	size_t n_files;
	bool stdin_read;            /* "-" was read (it cannot be read again) */
	size_t n_objects;           /* over every file of the last good read */
	struct strmap by_path;      /* path -> index in files (keys borrowed from files) */
	/* inotify, once attached */
	struct loop *loop;
	struct loop_fd *reg;
	int ifd;
	source_changed_fn changed;
	void *userdata;
	char **wd_dirs;             /* watch descriptor -> the directory's path as listed (owned) */
	size_t n_wd_dirs;
	/*
	 * What the events since the last good refresh said: the listed files
	 * they named (keys owned), or that only a new listing can tell (a new,
	 * gone or renamed directory, a name the last listing did not have, a
	 * lost event).  A refresh after events that named listed files only
	 * looks at those files; without events (a periodic sync) it lists
	 * everything, in case an event was missed.
	 */
	struct strmap dirty;
	bool events, relist;
	uint64_t listed_at;         /* mono_ns of the last good listing */
};

/*
 * Events say when a file is closed after writing, renamed or removed; a
 * file written in place and kept open says nothing until it is closed.  A
 * listing at least this often finds such a change, as every refresh used to.
 */
#define RELIST_NS (30 * 1000000000ull)

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
static bool file_unchanged(struct files_entry *old, const struct manifest_file *mf)
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

static void entries_free(struct files_entry *v, size_t n, const bool *keep)
{
	for (size_t i = 0; i < n; i++)
		if (!keep || !keep[i])
			free(v[i].path);
	free(v);
}

/* Reads one changed file into the batch; returns 0 or the load's error (reported in d). */
static int read_file(struct files_source *fs, const struct manifest_file *mf,
		     struct files_entry *e, struct store_batch *b, struct diag *d)
{
	const struct doc_limits *limits = fs->limits ? fs->limits : &doc_default_limits;
	struct cluster objs;
	uint64_t h = 0;
	int r;

	if (streq(mf->path, "-"))
		fs->stdin_read = true;
	e->path = xstrdup(mf->path);
	e->stamp = mf->stamp;
	cluster_init(&objs);
	/* The hash of the very bytes parsed: a later write in the same tick shows as a new hash. */
	r = manifest_load_file(mf->path, limits, &e->n_objects, &h, &objs, d);
	if (!streq(mf->path, "-") && stamp_is_racy(&mf->stamp)) {
		e->racy = true;
		e->content_hash = h ? h : 1;
	}
	if (r == 0)
		store_batch_replace(b, mf->path, &objs);
	cluster_done(&objs);
	return r;
}

/*
 * Lists the files, reads those whose stamp changed into the batch and
 * removes those that are gone.  next gets every listed file's entry: read
 * this time (fresh[i]) or the old one, copied (kept[j] for old entry j).
 */
static int collect(struct files_source *fs, const struct manifest_list *list, bool reread,
		   struct files_entry *next, bool *fresh, bool *kept, struct store_batch *b,
		   struct diag *d)
{
	const struct doc_limits *limits = fs->limits ? fs->limits : &doc_default_limits;
	struct strmap old_by_path, new_paths;
	size_t total = 0;
	int err = 0;

	strmap_init(&old_by_path);
	strmap_init(&new_paths);
	for (size_t i = 0; i < fs->n_files; i++)
		strmap_put(&old_by_path, fs->files[i].path, &fs->files[i]);
	for (size_t i = 0; i < list->n; i++) {
		const struct manifest_file *mf = &list->files[i];
		struct files_entry *old = strmap_get(&old_by_path, mf->path);

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
			kept[old - fs->files] = true;
		} else if (streq(mf->path, "-") && fs->stdin_read) {
			/* Its first read failed: reading again would see an empty, "valid" input. */
			diag_add(d, DIAG_ERROR, "<stdin>", 0, NULL, NULL,
				 "standard input was already read (and refused); it cannot be read again");
			err = err ? err : -EINVAL;
		} else {
			int r = read_file(fs, mf, &next[i], b, d);

			fresh[i] = true;
			if (r < 0)
				err = err ? err : r;
		}
		total += next[i].n_objects;
	}
	for (size_t i = 0; i < fs->n_files; i++)
		if (!strmap_get(&new_paths, fs->files[i].path))
			store_batch_remove(b, fs->files[i].path);
	strmap_done(&new_paths);
	strmap_done(&old_by_path);
	if (!err && total > limits->max_objects) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "too many objects (more than %zu over all files)", limits->max_objects);
		err = -EINVAL;
	}
	return err;
}

static void index_files(struct files_source *fs)
{
	strmap_done(&fs->by_path);
	strmap_init(&fs->by_path);
	fs->n_objects = 0;
	for (size_t i = 0; i < fs->n_files; i++) {
		strmap_put(&fs->by_path, fs->files[i].path, &fs->files[i]);
		fs->n_objects += fs->files[i].n_objects;
	}
}

static void dirty_clear(struct files_source *fs)
{
	for (size_t i = 0; i < fs->dirty.cap; i++)
		free((char *)fs->dirty.slots[i].key);
	strmap_done(&fs->dirty);
	strmap_init(&fs->dirty);
	fs->events = fs->relist = false;
}

/* A file read again by refresh_named: where its entry goes once the batch is committed. */
struct reread {
	struct files_entry *old;
	struct files_entry next;
};

/*
 * Only the listed files the events named: each is stat'ed, and read again
 * when its stamp changed.  Returns 1 when that cannot tell (a named file
 * is gone or is no longer a file: a new listing must), else as refresh.
 */
static int refresh_named(struct files_source *fs, struct store *st, struct diag *d,
			 struct store_delta *delta)
{
	const struct doc_limits *limits = fs->limits ? fs->limits : &doc_default_limits;
	struct reread *rr = xcalloc(fs->dirty.n ? fs->dirty.n : 1, sizeof(*rr));
	size_t n_rr = 0, n_objects = fs->n_objects;
	struct store_batch b;
	int r = 0;

	store_batch_init(&b, fs->base.ops->name);
	for (size_t i = 0; i < fs->dirty.cap; i++) {
		struct manifest_file mf = { .path = (char *)fs->dirty.slots[i].key };
		struct files_entry *old = mf.path ? strmap_get(&fs->by_path, mf.path) : NULL;
		struct stat sb;
		int r2;

		if (!mf.path)
			continue;
		delta->origins_checked++;
		if (!old || stat(mf.path, &sb) < 0 || S_ISDIR(sb.st_mode)) {
			r = 1;
			break;
		}
		file_stamp_of(&sb, &mf.stamp);
		if (file_unchanged(old, &mf))
			continue;
		rr[n_rr].old = old;
		/* Every named file is read, so one refresh reports every problem. */
		r2 = read_file(fs, &mf, &rr[n_rr].next, &b, d);
		if (r2 < 0 && !r)
			r = r2;
		n_objects = n_objects - old->n_objects + rr[n_rr].next.n_objects;
		n_rr++;
	}
	if (!r && n_objects > limits->max_objects) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "too many objects (more than %zu over all files)", limits->max_objects);
		r = -EINVAL;
	}
	if (!r)
		r = store_commit(st, &b, d, delta);
	store_batch_done(&b);
	for (size_t i = 0; i < n_rr; i++) {
		if (r) {
			free(rr[i].next.path);
			continue;
		}
		/* by_path's key is the entry's path: the new entry's string replaces it. */
		strmap_del(&fs->by_path, rr[i].old->path, NULL);
		free(rr[i].old->path);
		*rr[i].old = rr[i].next;
		strmap_put(&fs->by_path, rr[i].old->path, rr[i].old);
	}
	free(rr);
	if (!r) {
		fs->n_objects = n_objects;
		delta->origins_total += fs->n_files;
	}
	return r;
}

static int files_refresh(struct source *src, struct store *st, bool reread, struct diag *d,
			 struct store_delta *delta)
{
	struct files_source *fs = (struct files_source *)src;
	struct manifest_list list;
	struct store_batch b;
	struct files_entry *next;
	bool *fresh, *kept;
	int r;

	/* Events that named listed files only: those files, nothing else. */
	if (fs->loop && fs->events && !fs->relist && !reread && fs->files &&
	    mono_ns() - fs->listed_at < RELIST_NS) {
		r = refresh_named(fs, st, d, delta);
		if (r <= 0) {
			if (r == 0)
				dirty_clear(fs);
			return r;
		}
	}
	r = manifest_list_files(fs->paths, fs->n_paths, &list, d);
	if (r < 0) {
		manifest_list_done(&list);
		return r;
	}
	next = xcalloc(MAX(list.n, 1), sizeof(*next));
	fresh = xcalloc(MAX(list.n, 1), sizeof(*fresh));
	kept = xcalloc(MAX(fs->n_files, 1), sizeof(*kept));
	store_batch_init(&b, src->ops->name);
	b.reread = reread;
	r = collect(fs, &list, reread, next, fresh, kept, &b, d);
	if (!r)
		r = store_commit(st, &b, d, delta);
	store_batch_done(&b);
	if (r < 0) {
		/* Refused: the entries read this time go, the old ones stay as they are. */
		for (size_t i = 0; i < list.n; i++)
			if (fresh[i])
				free(next[i].path);
		free(next);
	} else {
		entries_free(fs->files, fs->n_files, kept);
		fs->files = next;
		fs->n_files = list.n;
		delta->origins_total += list.n;
		delta->origins_checked += list.n;
		fs->listed_at = mono_ns();
		index_files(fs);
		dirty_clear(fs);
	}
	free(fresh);
	free(kept);
	manifest_list_done(&list);
	return r;
}

static bool files_has_synced(const struct source *src)
{
	return true; /* read in full at each refresh */
}

/* ---- inotify ---- */

/* Remembers which directory a watch descriptor stands for, as the listing names it. */
static void wd_remember(struct files_source *fs, int wd, const char *dir)
{
	if ((size_t)wd >= fs->n_wd_dirs) {
		size_t n = MAX((size_t)wd + 1, fs->n_wd_dirs * 2);

		fs->wd_dirs = xrealloc(fs->wd_dirs, n * sizeof(*fs->wd_dirs));
		memset(&fs->wd_dirs[fs->n_wd_dirs], 0, (n - fs->n_wd_dirs) * sizeof(*fs->wd_dirs));
		fs->n_wd_dirs = n;
	}
	free(fs->wd_dirs[wd]);
	fs->wd_dirs[wd] = xstrdup(dir);
}

static int add_watch(struct files_source *fs, const char *dir, uint32_t mask)
{
	int wd = inotify_add_watch(fs->ifd, dir, mask);

	if (wd < 0)
		return -errno;
	wd_remember(fs, wd, dir);
	return 0;
}

/* Watches every directory the paths live in (editors replace files by rename). */
static int watch_tree(struct files_source *fs, const char *path, int depth)
{
	const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
			      IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
	struct stat st;
	DIR *dir;
	struct dirent *de;
	int r = 0;

	/* A path that does not exist yet is watched through its parent, or found by a periodic sync. */
	if (depth > 32 || stat(path, &st) < 0)
		return 0;
	if (!S_ISDIR(st.st_mode)) {
		char *parent = xstrdup(path), *slash = strrchr(parent, '/');

		if (slash)
			*slash = '\0';
		r = add_watch(fs, slash ? (*parent ? parent : "/") : ".", mask);
		free(parent);
		return r;
	}
	r = add_watch(fs, path, mask);
	if (r < 0)
		return r;
	dir = opendir(path);
	if (!dir)
		return 0; /* reading it reports why */
	while ((de = readdir(dir))) {
		char *sub;
		int r2;

		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		r2 = watch_tree(fs, sub, depth + 1);
		if (r2 < 0 && !r)
			r = r2;
		free(sub);
	}
	closedir(dir);
	return r;
}

/* Watch descriptors are per inode: re-adding is idempotent and picks up new directories. */
static int rewatch(struct files_source *fs, const char **ret_path)
{
	int r = 0;

	for (size_t i = 0; i < fs->n_paths; i++) {
		int r2;

		if (streq(fs->paths[i], "-"))
			continue;
		r2 = watch_tree(fs, fs->paths[i], 0);
		if (r2 < 0 && !r) {
			r = r2;
			*ret_path = fs->paths[i];
		}
	}
	return r;
}

/*
 * What one event means for the next refresh: a listed file to look at, a
 * hidden temporary file to ignore (an editor's or a writer's before its
 * rename), or anything else, which a new listing must judge.
 */
static void note_event(struct files_source *fs, const struct inotify_event *ev)
{
	const uint32_t relist = IN_Q_OVERFLOW | IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_ISDIR;
	const char *dir = ev->wd >= 0 && (size_t)ev->wd < fs->n_wd_dirs ? fs->wd_dirs[ev->wd] : NULL;
	struct stat sb;
	char *path;

	fs->events = true;
	if ((ev->mask & relist) || !dir || !ev->len || !ev->name[0]) {
		fs->relist = true;
		return;
	}
	path = xasprintf("%s/%s", dir, ev->name);
	if (strmap_get(&fs->by_path, path)) {
		if (!strmap_get(&fs->dirty, path)) {
			strmap_put(&fs->dirty, path, path);
			return;
		}
	} else if (ev->name[0] != '.' || (lstat(path, &sb) == 0 && !S_ISREG(sb.st_mode))) {
		/*
		 * A name the listing did not have, or a hidden one that is not a
		 * plain file (a ConfigMap volume's ..data symlink, swapped to
		 * change every file behind it).
		 */
		fs->relist = true;
	}
	free(path);
}

static void on_inotify(struct loop *l, int fd, uint32_t events, void *userdata)
{
	struct files_source *fs = userdata;
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relist = fs->relist;
	const char *path;
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(buf + off);

			note_event(fs, ev);
			off += (ssize_t)(sizeof(*ev) + ev->len);
		}
	/* New directories: a watch that fails here leaves the change to the periodic sync. */
	if (fs->relist && !relist)
		(void)rewatch(fs, &path);
	fs->changed(&fs->base, fs->userdata);
}

static int files_attach(struct source *src, struct loop *l, source_changed_fn changed,
			void *userdata, struct diag *d)
{
	struct files_source *fs = (struct files_source *)src;
	const char *path = NULL;
	int r;

	fs->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fs->ifd < 0)
		return -errno;
	r = loop_add_fd(l, fs->ifd, EPOLLIN, on_inotify, fs, &fs->reg);
	if (r < 0) {
		close(fs->ifd);
		fs->ifd = -1;
		return r;
	}
	fs->loop = l;
	fs->changed = changed;
	fs->userdata = userdata;
	r = rewatch(fs, &path);
	if (r < 0)
		diag_add(d, DIAG_WARNING, path, 0, NULL, NULL,
			 "cannot watch for changes: %s; changes are seen at the next periodic sync",
			 strerror(-r));
	return 0;
}

static void files_free(struct source *src)
{
	struct files_source *fs = (struct files_source *)src;

	if (!fs)
		return;
	if (fs->loop)
		loop_remove_fd(fs->loop, fs->reg);
	if (fs->ifd >= 0)
		close(fs->ifd);
	entries_free(fs->files, fs->n_files, NULL);
	strmap_done(&fs->by_path);
	dirty_clear(fs);
	strmap_done(&fs->dirty);
	for (size_t i = 0; i < fs->n_wd_dirs; i++)
		free(fs->wd_dirs[i]);
	free(fs->wd_dirs);
	free(fs);
}

const struct source_ops files_source_ops = {
	.name = "files",
	.origin_noun = "files",
	.attach = files_attach,
	.refresh = files_refresh,
	.has_synced = files_has_synced,
	.free = files_free,
};

struct source *files_source_new(const char *const *paths, size_t n_paths,
				const struct doc_limits *limits)
{
	struct files_source *fs = xcalloc(1, sizeof(*fs));

	fs->base.ops = &files_source_ops;
	fs->paths = paths;
	fs->n_paths = n_paths;
	fs->limits = limits;
	fs->ifd = -1;
	strmap_init(&fs->by_path);
	strmap_init(&fs->dirty);
	return &fs->base;
}
