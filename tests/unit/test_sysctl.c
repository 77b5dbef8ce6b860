/* SPDX-License-Identifier: Apache-2.0 */
/* core/sysctl: read first, write only when different (kube-proxy's EnsureSysctl). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/sysctl.h"

static void put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(s, f);
	fclose(f);
}

static void get(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_ensure(void **state)
{
	char root[] = "/tmp/kroute-sysctl-XXXXXX", dir[256], file[300], buf[16];
	struct stat before, after;
	bool changed;

	(void)state;
	assert_non_null(mkdtemp(root));
	snprintf(dir, sizeof(dir), "%s/net", root);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(file, sizeof(file), "%s/route_localnet", dir);

	/* Different: written. */
	put(file, "0\n");
	assert_int_equal(sysctl_ensure_at(root, "net/route_localnet", "1", &changed), 0);
	assert_true(changed);
	get(file, buf, sizeof(buf));
	assert_int_equal(buf[0], '1');

	/* Already so (with the kernel's newline): not written at all. */
	put(file, "1\n");
	assert_int_equal(stat(file, &before), 0);
	usleep(20000);
	assert_int_equal(sysctl_ensure_at(root, "net/route_localnet", "1", &changed), 0);
	assert_false(changed);
	assert_int_equal(stat(file, &after), 0);
	assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
		    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);

	/* Missing: the error, nothing created. */
	assert_int_equal(sysctl_ensure_at(root, "net/nope", "1", &changed), -ENOENT);
	assert_false(changed);
	assert_int_equal(access(dir, F_OK), 0);
	assert_int_not_equal(access("/tmp/kroute-sysctl-none", F_OK), 0);

	unlink(file);
	rmdir(dir);
	rmdir(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ensure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
