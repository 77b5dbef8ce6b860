/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifest files and directories when the system calls fail: the error
 * reported is the one that happened, and a directory read only in part
 * fails the listing.  Failures are injected by linking with -Wl,--wrap for
 * read, free and readdir64 (tests/meson.build).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "source/manifest.h"

ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __wrap_read(int fd, void *buf, size_t len);
void __real_free(void *p);
void __wrap_free(void *p);
/* kroute builds with _FILE_OFFSET_BITS=64, so readdir() is readdir64(). */
struct dirent *__real_readdir64(DIR *dir);
struct dirent *__wrap_readdir64(DIR *dir);

static struct {
	int read_errno;      /* every read() fails with this */
	int free_errno;      /* free() sets errno to this, as C libraries before POSIX.1-2024 may */
	int readdir_errno;   /* readdir() fails with this ... */
	int readdir_after;   /* ... after this many entries */
	int readdirs;
} inject;

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
	if (inject.read_errno) {
		errno = inject.read_errno;
		return -1;
	}
	return __real_read(fd, buf, len);
}

void __wrap_free(void *p)
{
	__real_free(p);
	if (inject.free_errno)
		errno = inject.free_errno;
}

struct dirent *__wrap_readdir64(DIR *dir)
{
	if (inject.readdir_errno && inject.readdirs++ >= inject.readdir_after) {
		errno = inject.readdir_errno;
		return NULL;
	}
	return __real_readdir64(dir);
}

static char dir_path[64];

/* Writes dir_path/name; name may be in a subdirectory of its own, made here. */
static char *write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir_path, name);
	char *slash = strrchr(path, '/');

	*slash = '\0';
	(void)mkdir(path, 0700);
	*slash = '/';
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

static int setup(void **state)
{
	(void)state;
	strcpy(dir_path, "/tmp/kroute-test-manifest-XXXXXX");
	if (!mkdtemp(dir_path))
		return -1;
	return 0;
}

/* Removes the directory and all the tests wrote, also after a failed test. */
static int teardown(void **state)
{
	char *cmd = xasprintf("rm -rf '%s'", dir_path);
	int r = system(cmd);

	(void)state;
	free(cmd);
	return r == 0 ? 0 : -1;
}

static bool diag_has(const struct diag *d, const char *text)
{
	for (size_t i = 0; i < d->n; i++) {
		char line[1024];

		diag_msg_format(&d->msgs[i], line, sizeof(line));
		if (strstr(line, text))
			return true;
	}
	return false;
}

/* A failed read reports its own error, even when free() changes errno on the way out. */
static void test_read_error_kept(void **state)
{
	char *path = write_file("svc.yaml", "kind: Service\n");
	struct cluster c;
	struct diag d;
	size_t n_objects = 0;
	int r;

	(void)state;
	cluster_init(&c);
	diag_init(&d);
	inject.read_errno = EIO;
	inject.free_errno = ENOMEM;
	r = manifest_load_file(path, NULL, &n_objects, NULL, &c, &d);
	inject.read_errno = 0;
	inject.free_errno = 0;
	assert_int_equal(r, -EIO);
	assert_true(diag_has(&d, "cannot read: Input/output error"));
	diag_done(&d);
	cluster_done(&c);
	free(path);
}

/* readdir() failing half way is an error, not the end of the directory. */
static void test_readdir_error(void **state)
{
	char *a = write_file("list/a.yaml", "{}\n"), *b = write_file("list/b.yaml", "{}\n");
	char *dir = xasprintf("%s/list", dir_path);
	const char *paths[] = { dir };
	struct manifest_list list;
	struct diag d;
	int r;

	(void)state;
	/* Without a failure, both files are listed. */
	diag_init(&d);
	assert_int_equal(manifest_list_files(paths, 1, &list, &d), 0);
	assert_int_equal(list.n, 2);
	manifest_list_done(&list);
	diag_done(&d);

	diag_init(&d);
	inject.readdir_errno = EIO;
	inject.readdir_after = 1;
	inject.readdirs = 0;
	r = manifest_list_files(paths, 1, &list, &d);
	inject.readdir_errno = 0;
	assert_int_equal(inject.readdirs, 2);
	assert_int_equal(r, -EIO);
	assert_true(diag_has(&d, "cannot read directory: Input/output error"));
	manifest_list_done(&list);
	diag_done(&d);
	free(a);
	free(b);
	free(dir);
}

/* Every message of d, formatted, one per line. */
static char *diag_text(const struct diag *d)
{
	char *all = xstrdup("");

	for (size_t i = 0; i < d->n; i++) {
		char line[1024], *next;

		diag_msg_format(&d->msgs[i], line, sizeof(line));
		next = xasprintf("%s%s\n", all, line);
		free(all);
		all = next;
	}
	return all;
}

/* Loads path as a file (streamed when large) and its bytes as a buffer: both must agree. */
static int load_both(const char *path, const char *buf, size_t len, struct cluster *c,
		     char **messages)
{
	struct cluster cb;
	struct diag d, db;
	uint64_t hash = 0;
	size_t n_objects = 0;
	char *from_buffer;
	int r, rb;

	cluster_init(c);
	cluster_init(&cb);
	diag_init(&d);
	diag_init(&db);
	r = manifest_load_file(path, NULL, &n_objects, &hash, c, &d);
	rb = manifest_load_buffer(path, buf, len, false, NULL, &cb, &db);
	assert_int_equal(r, rb);
	assert_true(hash == fnv1a_update(FNV1A_OFFSET, buf, len));
	*messages = diag_text(&d);
	from_buffer = diag_text(&db);
	assert_string_equal(*messages, from_buffer);
	assert_int_equal(c->n_services, cb.n_services);
	for (size_t i = 0; i < c->n_services; i++) {
		assert_string_equal(c->services[i]->name, cb.services[i]->name);
		assert_int_equal(c->services[i]->origin.line, cb.services[i]->origin.line);
	}
	free(from_buffer);
	diag_done(&d);
	diag_done(&db);
	cluster_done(&cb);
	return r;
}

/*
 * A file over 4 MB is read as it is parsed, in two halves on two threads,
 * by the fast YAML path, with libyaml from a document it does not take (the
 * flow-style one in the first half): objects, lines, messages and the hash
 * are those of the same bytes loaded from memory, and the lines are right.
 */
static void test_large_file_streamed(void **state)
{
	size_t cap = 6u << 20, len = 0, n = 0;
	char *buf = malloc(cap), *path, *messages, want[128];
	struct cluster c;
	int line = 1, bad_line, dup_line;

	(void)state;
	while (len < (5u << 20)) {
		if (n == 1000)
			len += (size_t)snprintf(buf + len, cap - len,
						"---\napiVersion: v1\nkind: Service\nmetadata: {name: flow, "
						"namespace: ns}\nspec:\n  ports: [{port: 80}]\n");
		else
			len += (size_t)snprintf(buf + len, cap - len,
						"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s%zu\n"
						"  namespace: ns\nspec:\n  ports:\n  - port: 80\n"
						"    protocol: TCP\n    name: \"web\"\n",
						n);
		line += n == 1000 ? 6 : 11;
		n++;
	}
	bad_line = line + 8;
	len += (size_t)snprintf(buf + len, cap - len,
				"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n"
				"  namespace: ns\nspec:\n  ports:\n  - port: 0\n");
	line += 9;
	dup_line = line + 1;
	len += (size_t)snprintf(buf + len, cap - len,
				"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: s0\n"
				"  namespace: ns\nspec:\n  ports:\n  - port: 80\n");
	buf[len] = '\0';
	path = write_file("big.yaml", buf);

	assert_int_equal(load_both(path, buf, len, &c, &messages), -EINVAL);
	assert_int_equal(c.n_services, 0);
	snprintf(want, sizeof(want), "big.yaml:%d: error: Service ns/bad: spec.ports[0].port", bad_line);
	if (!strstr(messages, want))
		fail_msg("want %s in:\n%s", want, messages);
	snprintf(want, sizeof(want), "big.yaml:%d: error: Service ns/s0: duplicate object", dup_line);
	if (!strstr(messages, want))
		fail_msg("want %s in:\n%s", want, messages);
	free(messages);
	cluster_done(&c);
	free(path);

	/* Without the two bad objects everything loads, in file order. */
	len = (size_t)(strstr(buf, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: bad\n") - buf);
	buf[len] = '\0';
	path = write_file("big.yaml", buf);
	assert_int_equal(load_both(path, buf, len, &c, &messages), 0);
	assert_string_equal(messages, "");
	assert_int_equal(c.n_services, n);
	assert_string_equal(c.services[1000]->name, "flow");
	assert_int_equal(c.services[1001]->origin.line, 1 + 1000 * 11 + 6 + 1);
	assert_int_equal(c.services[n - 1]->origin.line, line - 9 - 11 + 1);
	free(messages);
	cluster_done(&c);
	free(path);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_error_kept),
		cmocka_unit_test(test_readdir_error),
		cmocka_unit_test(test_large_file_streamed),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
