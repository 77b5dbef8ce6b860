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

/* 1: JSON by its name (.json), 0: YAML by its name (.yaml, .yml), -1: the content decides. */
static int json_by_name(const char *name)
{
	size_t nl = strlen(name);

	if (nl >= 5 && streq(name + nl - 5, ".json"))
		return 1;
	if (nl >= 5 && (streq(name + nl - 5, ".yaml") || streq(name + nl - 4, ".yml")))
		return 0;
	return -1;
}

/* The first byte that is not white space, or -1 when there is none. */
static int first_non_space(const char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\n' && buf[i] != '\r')
			return (unsigned char)buf[i];
	return -1;
}

bool manifest_looks_like_json(const char *name, const char *buf, size_t len)
{
	int by_name = json_by_name(name), c;

	if (by_name >= 0)
		return by_name;
	c = first_non_space(buf, len);
	return c == '{' || c == '[';
}

/*
 * Where one part of a file comes from: a buffer, or a byte range of an open
 * file that is read as it is parsed (so a large file is never in memory
 * whole; pread, so two parts can read one descriptor at once).
 */
struct part_input {
	const char *buf;   /* NULL: read fd from pos to end */
	size_t len;
	int fd;
	off_t pos, end;
	bool ascii;        /* the whole file passed doc_yaml_ascii() */
	int err;           /* a read error (negative errno) */
};

/* doc_input_fn over a file range; a file that shrank ends early, as a shorter file would. */
static int part_read(void *data, unsigned char *out, size_t size, size_t *size_read)
{
	struct part_input *in = data;
	size_t want = (size_t)(in->end - in->pos) < size ? (size_t)(in->end - in->pos) : size;
	ssize_t n;

	*size_read = 0;
	if (!want)
		return 1;
	do
		n = pread(in->fd, out, want, in->pos);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		in->err = -errno;
		return 0;
	}
	in->pos += n;
	*size_read = (size_t)n;
	return 1;
}

static int parse_part(struct load_ctx *lc, const char *name, struct part_input *in, bool json,
		      const struct doc_limits *limits, size_t *n_objects, int line_base)
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
	if (in->buf)
		ret = json ? doc_read_json(&r, in->buf, in->len) : doc_read_yaml(&r, in->buf, in->len);
	else
		ret = doc_read_yaml_input(&r, part_read, in, in->ascii);
	*n_objects = r.n_objects;
	if (in->err) {
		diag_add(lc->d, DIAG_ERROR, name, 0, NULL, NULL, "cannot read: %s", strerror(-in->err));
		ret = in->err;
	}
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
	const char *name;
	struct part_input in;
	size_t n_objects;
	int line_base, ret;
	const struct doc_limits *limits;
};

static void *half_main(void *arg)
{
	struct half *h = arg;

	h->ret = parse_part(&h->lc, h->name, &h->in, false, h->limits, &h->n_objects,
			    h->line_base);
	return NULL;
}

/* The first line at or after from (inside [buf, end)) that is a "---" document marker. */
static const char *find_doc_start(const char *from, const char *end)
{
	for (const char *p = from; p && p + 4 < end;) {
		p = memmem(p, (size_t)(end - p), "\n---", 4);
		if (!p)
			break;
		if (p[4] == '\n' || p[4] == ' ' || p[4] == '\r' || p[4] == '\t')
			return p + 1;
		p += 4;
	}
	return NULL;
}

static size_t find_split(const char *buf, size_t len)
{
	const char *p = find_doc_start(buf + len / 2, buf + len);

	return p ? (size_t)(p - buf) : 0;
}

/* Moves every object of src into lc's cluster (in order); duplicates are errors. */
static void merge_cluster(struct load_ctx *lc, struct cluster *src)
{
	lc->errors += cluster_add_all(lc->c, src, lc->d, true);
	/* The objects moved; only the containers are left to free. */
	src->n_services = src->n_slices = src->n_nodes = 0;
	cluster_done(src);
}

/* YAML in two parts split at a document marker, second starting on line line_base + 1. */
static int parse_halves(struct load_ctx *lc, const char *name, struct part_input *first,
			struct part_input *second, int line_base, const struct doc_limits *limits,
			size_t *n_objects)
{
	struct half h = { .name = name, .in = *second, .line_base = line_base, .limits = limits };
	pthread_t tid;
	int ret;

	cluster_init(&h.c);
	diag_init(&h.d);
	h.lc = (struct load_ctx){ .c = &h.c, .d = &h.d };
	if (pthread_create(&tid, NULL, half_main, &h) != 0) {
		cluster_done(&h.c);
		diag_done(&h.d);
		ret = parse_part(lc, name, first, false, limits, n_objects, 0);
		return ret < 0 ? ret : parse_part(lc, name, second, false, limits, n_objects,
						  line_base);
	}
	ret = parse_part(lc, name, first, false, limits, n_objects, 0);
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

static int parse_buffer(struct load_ctx *lc, const char *name, const char *buf, size_t len,
			bool json, const struct doc_limits *limits, size_t *n_objects)
{
	struct part_input first = { .buf = buf, .len = len }, second;
	size_t split;

	if (json || len < PARALLEL_MIN_BYTES || !(split = find_split(buf, len)))
		return parse_part(lc, name, &first, json, limits, n_objects, 0);
	first.len = split;
	second = (struct part_input){ .buf = buf + split, .len = len - split };
	return parse_halves(lc, name, &first, &second, (int)memcount(buf, split, '\n'), limits,
			    n_objects);
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

/* The checks and messages of manifest_read_file on an open descriptor. */
static int read_whole(int fd, const char *path, size_t max, char **ret_buf, size_t *ret_len,
		      struct diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	int ret = read_fd(fd, max, &buf, &len);

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

static int open_input(const char *path, struct diag *d)
{
	int fd;

	if (streq(path, "-"))
		return STDIN_FILENO;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot open: %s", strerror(-fd));
	}
	return fd;
}

int manifest_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
		       struct diag *d)
{
	int fd = open_input(path, d), ret;

	if (fd < 0)
		return fd;
	ret = read_whole(fd, path, max, ret_buf, ret_len, d);
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

/*
 * A large YAML file is parsed as it is read, never whole in memory: one
 * pass first reads it in chunks to check it as manifest_read_file does (size,
 * no NUL byte), to hash it, to tell JSON from YAML, to see whether the fast
 * YAML path may read it (doc_yaml_ascii) and to count the lines
 * before the split; then each half is read again by its parser.  The hash
 * is of the first pass's bytes: a write after it shows as a changed hash,
 * as with a whole read.
 */
#define STREAM_CHUNK (1u << 20)

struct first_pass {
	size_t len;
	uint64_t hash;
	int first;            /* first_non_space of the whole file */
	size_t *nl_per_chunk; /* newlines in each STREAM_CHUNK */
	size_t n_chunks, cap_chunks;
	bool short_read, uneven;
	bool ascii;           /* doc_yaml_ascii() of every chunk */
};

static int first_pass(int fd, off_t size, const char *path, size_t max, bool hash, char *chunk,
		      struct first_pass *fp, struct diag *d)
{
	*fp = (struct first_pass){ .hash = FNV1A_OFFSET, .first = -1, .ascii = true };
	if ((uint64_t)size > max) {
		diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "file too large (more than %zu bytes)",
			 max);
		return -EINVAL;
	}
	for (;;) {
		ssize_t n = pread(fd, chunk, STREAM_CHUNK, (off_t)fp->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int ret = -errno;

			diag_add(d, DIAG_ERROR, path, 0, NULL, NULL, "cannot read: %s",
				 strerror(-ret));
			return ret;
		}
		if (n == 0)
			return 0;
		fp->len += (size_t)n;
		if (fp->len > max) {
			diag_add(d, DIAG_ERROR, path, 0, NULL, NULL,
				 "file too large (more than %zu bytes)", max);
			return -EINVAL;
		}
		if (memchr(chunk, '\0', (size_t)n)) {
			diag_add(d, DIAG_ERROR, path, 0, NULL, NULL,
				 "not a text file (contains a NUL byte)");
			return -EINVAL;
		}
		fp->ascii = fp->ascii && doc_yaml_ascii(chunk, (size_t)n);
		if (hash)
			fp->hash = fnv1a_update(fp->hash, chunk, (size_t)n);
		if (fp->first < 0)
			fp->first = first_non_space(chunk, (size_t)n);
		/* The counts are per STREAM_CHUNK of the file; a short read (a file
		 * growing as it is read) makes them unusable, and the file is not split. */
		fp->uneven |= fp->short_read;
		fp->short_read |= (size_t)n < STREAM_CHUNK;
		VEC_PUSH(fp->nl_per_chunk, fp->n_chunks, fp->cap_chunks,
			 memcount(chunk, (size_t)n, '\n'));
	}
}

/* The split point of a file of len bytes (0: none) and the lines before it. */
static size_t file_split(int fd, const struct first_pass *fp, char *chunk, int *line_base)
{
	size_t from = fp->len / 2, split, base = 0, c;
	ssize_t n;
	const char *p;

	if (fp->uneven)
		return 0;
	/* One chunk from the middle: a document marker is near in any real manifest. */
	n = pread(fd, chunk, STREAM_CHUNK, (off_t)from);
	if (n <= 0 || !(p = find_doc_start(chunk, chunk + n)))
		return 0;
	split = from + (size_t)(p - chunk);
	c = split / STREAM_CHUNK;
	for (size_t i = 0; i < c; i++)
		base += fp->nl_per_chunk[i];
	n = pread(fd, chunk, split - c * STREAM_CHUNK, (off_t)(c * STREAM_CHUNK));
	if (n != (ssize_t)(split - c * STREAM_CHUNK))
		return 0;
	*line_base = (int)(base + memcount(chunk, (size_t)n, '\n'));
	return split;
}

/* True when the file was loaded streamed (*r set), false when it is for the whole-buffer path. */
static bool load_streamed(struct load_ctx *lc, int fd, off_t size, const char *path,
			  const struct doc_limits *limits, size_t *n_objects, uint64_t *ret_hash,
			  int *r)
{
	struct part_input first = { .fd = fd }, second = { .fd = fd };
	struct first_pass fp;
	char *chunk;
	size_t split;
	int by_name = json_by_name(path), line_base = 0;

	if (by_name == 1)
		return false;
	chunk = xmalloc(STREAM_CHUNK);
	*r = first_pass(fd, size, path, limits->max_file_size, ret_hash, chunk, &fp, lc->d);
	if (*r < 0 || (by_name < 0 && (fp.first == '{' || fp.first == '['))) {
		free(chunk);
		free(fp.nl_per_chunk);
		/* JSON: read whole (pread left the offset at 0), for jansson */
		return *r < 0;
	}
	if (ret_hash)
		*ret_hash = fp.hash;
	split = file_split(fd, &fp, chunk, &line_base);
	free(chunk);
	free(fp.nl_per_chunk);
	first.end = (off_t)(split ? split : fp.len);
	first.ascii = second.ascii = fp.ascii;
	if (!split) {
		*r = parse_part(lc, path, &first, false, limits, n_objects, 0);
		return true;
	}
	second.pos = (off_t)split;
	second.end = (off_t)fp.len;
	*r = parse_halves(lc, path, &first, &second, line_base, limits, n_objects);
	return true;
}

static int load_file(struct load_ctx *lc, const char *path, const struct doc_limits *limits,
		     size_t *n_objects, uint64_t *ret_hash)
{
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	int fd, ret;

	fd = open_input(path, lc->d);
	if (fd < 0)
		return fd;
	if (fd != STDIN_FILENO && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size >= PARALLEL_MIN_BYTES &&
	    load_streamed(lc, fd, st.st_size, path, limits, n_objects, ret_hash, &ret)) {
		close(fd);
		return ret;
	}
	ret = read_whole(fd, path, limits->max_file_size, &buf, &len, lc->d);
	if (fd != STDIN_FILENO)
		close(fd);
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
