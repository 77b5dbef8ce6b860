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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_error_kept),
		cmocka_unit_test(test_readdir_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
