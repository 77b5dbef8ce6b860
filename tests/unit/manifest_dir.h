/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Writing the manifests of a test's directory the way editors and kubectl
 * users replace them: written aside under a hidden name, then renamed over
 * (a new inode; inotify sees the rename).  Include after <cmocka.h>.
 */
#ifndef KROUTE_TESTS_MANIFEST_DIR_H
#define KROUTE_TESTS_MANIFEST_DIR_H

#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"

static inline void manifest_dir_write(const char *dir, const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name), *tmp = xasprintf("%s/.%s.tmp", dir, name);
	FILE *f = fopen(tmp, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path), 0);
	free(path);
	free(tmp);
}

#endif
