/* SPDX-License-Identifier: Apache-2.0 */
/* File and directory loading for manifests; see manifest.h. */
#include "source/manifest.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"
#include "source/decode.h"

#define MAX_DIR_DEPTH 32

struct load_ctx {
	struct cluster *c;
	struct diag *d;
	const char *file;
	int errors;
};

static int on_object(const struct doc *obj, void *userdata)
{
	struct load_ctx *lc = userdata;

	/* Keep decoding after a bad object so one run reports every mistake. */
	if (decode_object(obj, lc->file, lc->c, lc->d) < 0)
		lc->errors++;
	return 0;
}

bool manifest_looks_like_json(const char *name, const char *buf, size_t len)
{
	size_t nl = strlen(name);

	if (nl >= 5 && streq(name + nl - 5, ".json"))
		return true;
	if (nl >= 5 && (streq(name + nl - 5, ".yaml") || streq(name + nl - 4, ".yml")))
		return false;
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r')
			continue;
		return buf[i] == '{' || buf[i] == '[';
	}
	return false;
}

static int parse_part(struct load_ctx *lc, const char *name, const char *buf, size_t len,
		      bool json, const struct doc_limits *limits, size_t *n_objects, int line_base)
{
	struct doc_reader r = {
		.file = name,
		.limits = limits,
		.diag = lc->d,
		.on_object = on_object,
		.userdata = lc,
		.n_objects = *n_objects,
		.line_base = line_base,
	};
	int ret;

	lc->file = name;
	ret = json ? doc_read_json(&r, buf, len) : doc_read_yaml(&r, buf, len);
	*n_objects = r.n_objects;
	return ret;
}

/*
 * Large multi-document YAML is parsed in two halves on two threads: parsing
 * is most of the load time and a node has more than one core.  The split is
 * at a "---" line (a document marker at column 0 always starts a new
 * document), so each half is valid YAML on its own; the second half's
 * objects are then added to the first's cluster in file order, so the
 * result, duplicate detection and messages are those of a sequential load.
 */
#define PARALLEL_MIN_BYTES (4u << 20)

struct half {
	struct load_ctx lc;
	struct cluster c;
	struct diag d;
	const char *name, *buf;
	size_t len, n_objects;
	int line_base, ret;
	bool json;
	const struct doc_limits *limits;
};

static void *half_main(void *arg)
{
	struct half *h = arg;

	h->ret = parse_part(&h->lc, h->name, h->buf, h->len, h->json, h->limits, &h->n_objects,
			    h->line_base);
	return NULL;
}

static size_t find_split(const char *buf, size_t len)
{
	for (const char *p = buf + len / 2; p && p + 4 < buf + len;) {
		p = memmem(p, (size_t)(buf + len - p), "\n---", 4);
		if (!p)
			break;
		if (p[4] == '\n' || p[4] == ' ' || p[4] == '\r' || p[4] == '\t')
			return (size_t)(p + 1 - buf);
		p += 4;
	}
	return 0;
}

/* Moves every object of src into lc's cluster (in order); duplicates are errors. */
static void merge_cluster(struct load_ctx *lc, struct cluster *src)
{
	lc->errors += cluster_add_all(lc->c, src, lc->d, true);
	/* The objects moved; only the containers are left to free. */
	src->n_services = src->n_slices = src->n_nodes = 0;
	cluster_done(src);
}

static int parse_buffer(struct load_ctx *lc, const char *name, const char *buf, size_t len,
			bool json, const struct doc_limits *limits, size_t *n_objects)
{
	struct half h;
	pthread_t tid;
	size_t split;
	int ret;

	if (json || len < PARALLEL_MIN_BYTES || !(split = find_split(buf, len)))
		return parse_part(lc, name, buf, len, json, limits, n_objects, 0);

	h = (struct half){ .name = name, .buf = buf + split, .len = len - split, .json = false,
			   .limits = limits };
	for (size_t i = 0; i < split; i++)
		h.line_base += buf[i] == '\n';
	cluster_init(&h.c);
	diag_init(&h.d);
	h.lc = (struct load_ctx){ .c = &h.c, .d = &h.d };
	if (pthread_create(&tid, NULL, half_main, &h) != 0) {
		cluster_done(&h.c);
		diag_done(&h.d);
		return parse_part(lc, name, buf, len, json, limits, n_objects, 0);
	}
	ret = parse_part(lc, name, buf, split, false, limits, n_objects, 0);
	pthread_join(tid, NULL);
	/* Messages in file order: the first half's, then the second's. */
	diag_move(lc->d, &h.d);
	lc->errors += h.lc.errors;
	merge_cluster(lc, &h.c);
	*n_objects += h.n_objects;
	if (*n_objects > limits->max_objects) {
		diag_add(lc->d, DIAG_ERROR, name, 0, NULL, NULL, "too many objects (more than %zu)",
			 limits->max_objects);
		ret = -EINVAL;
	}
	diag_done(&h.d);
	return ret < 0 ? ret : h.ret;
}

static int read_fd(int fd, size_t max, char **ret_buf, size_t *ret_len)
{
	size_t cap = 65536, len = 0;
	char *buf = xmalloc(cap);

	for (;;) {
		ssize_t r;

		if (len == cap) {
			if (cap > max) {
				free(buf);
				return -EFBIG;
			}
			buf = xrealloc(buf, cap * 2);
			cap *= 2;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			int ret = -errno; /* before free(), which may change errno */

			if (ret == -EINTR)
				continue;
			free(buf);
			return ret;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > max) {
			free(buf);
			return -EFBIG;
		}
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

int manifest_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
		       struct diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, ret;

	if (streq(path, "-")) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot open: %s",
				 strerror(-ret));
			return ret;
		}
	}
	ret = read_fd(fd, max, &buf, &len);
	if (fd != STDIN_FILENO)
		close(fd);
	if (ret == -EFBIG) {
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL,
			 "file too large (more than %zu bytes)", max);
		return -EINVAL;
	}
	if (ret < 0) {
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot read: %s", strerror(-ret));
		return ret;
	}
	if (memchr(buf, '\0', len)) {
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL,
			 "not a text file (contains a NUL byte)");
		free(buf);
		return -EINVAL;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

static int load_file(struct load_ctx *lc, const char *path, const struct doc_limits *limits,
		     size_t *n_objects, uint64_t *ret_hash)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = manifest_read_file(path, limits->max_file_size, &buf, &len, lc->d);
	if (ret < 0)
		return ret;
	if (ret_hash)
		*ret_hash = fnv1a_update(FNV1A_OFFSET, buf, len);
	ret = parse_buffer(lc, streq(path, "-") ? "<stdin>" : path, buf, len,
			   manifest_looks_like_json(path, buf, len), limits, n_objects);
	free(buf);
	return ret;
}

static bool manifest_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && (streq(name + n - 5, ".yaml") || streq(name + n - 5, ".json"))) ||
	       (n > 4 && streq(name + n - 4, ".yml"));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_file(struct manifest_list *l, const char *path, const struct stat *st)
{
	struct manifest_file *f;

	l->files = xgrow(l->files, &l->cap, l->n + 1, sizeof(*l->files));
	f = &l->files[l->n++];
	memset(f, 0, sizeof(*f));
	f->path = xstrdup(path);
	if (!st)
		return; /* standard input: read once, never changes */
	file_stamp_of(st, &f->stamp);
}

static int list_path(struct manifest_list *l, const char *path, int depth, bool top,
		     struct diag *d);

static int list_dir(struct manifest_list *l, const char *path, int depth, struct diag *d)
{
	DIR *dir;
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (depth > MAX_DIR_DEPTH) {
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL,
			 "directories nested too deep (more than %d levels)", MAX_DIR_DEPTH);
		return -EINVAL;
	}
	dir = opendir(path);
	if (!dir) {
		ret = -errno;
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot open directory: %s",
			 strerror(-ret));
		return ret;
	}
	/*
	 * readdir() returns NULL at the end and on an error, which only errno
	 * tells apart; so errno is cleared before each call, as the loop body
	 * may set it.  A directory read only in part must fail the listing, or
	 * the objects of the files it missed would be deleted.
	 */
	for (;;) {
		errno = 0;
		de = readdir(dir);
		if (!de) {
			ret = -errno;
			break;
		}
		if (de->d_name[0] == '.')
			continue; /* ".", ".." and hidden files (editor swap files, .git) */
		VEC_PUSH(names, n, cap, xasprintf("%s/%s", path, de->d_name));
	}
	closedir(dir);
	if (ret < 0)
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot read directory: %s",
			 strerror(-ret));
	/* Sorted, so that the load order (and so duplicate reports) is stable. */
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && ret >= 0; i++)
		ret = list_path(l, names[i], depth + 1, false, d);
	strv_free(names, n);
	return ret;
}

static int list_path(struct manifest_list *l, const char *path, int depth, bool top,
		     struct diag *d)
{
	struct stat st;

	if (streq(path, "-")) {
		add_file(l, path, NULL);
		return 0;
	}
	if (stat(path, &st) < 0) {
		int ret = -errno;

		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot read: %s", strerror(-ret));
		return ret;
	}
	if (S_ISDIR(st.st_mode))
		return list_dir(l, path, depth, d);
	/* Inside directories, only manifest files; a file named on the command line is always read. */
	if (!top && !manifest_name(path))
		return 0;
	add_file(l, path, &st);
	return 0;
}

int manifest_list_files(const char *const *paths, size_t n_paths, struct manifest_list *ret,
			struct diag *d)
{
	int r, first_err = 0;

	*ret = (struct manifest_list){ 0 };
	for (size_t i = 0; i < n_paths; i++) {
		r = list_path(ret, paths[i], 0, true, d);
		if (r < 0 && !first_err)
			first_err = r;
	}
	return first_err;
}

void manifest_list_done(struct manifest_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->files[i].path);
	free(l->files);
	*l = (struct manifest_list){ 0 };
}

void file_stamp_of(const struct stat *st, struct file_stamp *ret)
{
	ret->dev = (uint64_t)st->st_dev;
	ret->ino = (uint64_t)st->st_ino;
	ret->size = (int64_t)st->st_size;
	ret->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	ret->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

bool file_stamp_eq(const struct file_stamp *a, const struct file_stamp *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* All or nothing: any error (or bad object) empties the cluster. */
static int load_result(const struct load_ctx *lc, int r)
{
	if (!r && lc->errors)
		r = -EINVAL;
	if (r) {
		cluster_done(lc->c);
		cluster_init(lc->c);
	}
	return r;
}

int manifest_load_file(const char *path, const struct doc_limits *limits, size_t *n_objects,
		       uint64_t *ret_hash, struct cluster *ret, struct diag *d)
{
	struct load_ctx lc = { .c = ret, .d = d };

	if (!limits)
		limits = &doc_default_limits;
	return load_result(&lc, load_file(&lc, path, limits, n_objects, ret_hash));
}

int manifest_load(const char *const *paths, size_t n_paths, const struct doc_limits *limits,
		  struct cluster *ret, struct diag *d)
{
	struct load_ctx lc = { .c = ret, .d = d };
	struct manifest_list files;
	size_t n_objects = 0;
	int r, first_err;

	if (!limits)
		limits = &doc_default_limits;
	/* Every file listed is read, so one run reports every problem. */
	first_err = manifest_list_files(paths, n_paths, &files, d);
	for (size_t i = 0; i < files.n; i++) {
		r = load_file(&lc, files.files[i].path, limits, &n_objects, NULL);
		if (r < 0 && !first_err)
			first_err = r;
	}
	manifest_list_done(&files);
	return load_result(&lc, first_err);
}

int manifest_load_buffer(const char *name, const char *buf, size_t len, bool json,
			 const struct doc_limits *limits, struct cluster *ret, struct diag *d)
{
	struct load_ctx lc = { .c = ret, .d = d };
	size_t n_objects = 0;

	if (!limits)
		limits = &doc_default_limits;
	return load_result(&lc, parse_buffer(&lc, name, buf, len, json, limits, &n_objects));
}
