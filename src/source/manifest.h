/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifest source: reads Kubernetes objects from files and directories
 * (YAML, multi-document, or JSON; single objects or Lists), as -f does for
 * kubectl.  Loading is all or nothing: on any error the cluster is left
 * empty and every problem found is in the diag.
 */
#ifndef KROUTE_SOURCE_MANIFEST_H
#define KROUTE_SOURCE_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"
#include "model/model.h"
#include "source/doc.h"

/*
 * Loads every path (a file, a directory read recursively for *.yaml, *.yml
 * and *.json, or "-" for standard input) into ret, which must be
 * initialised and empty.  limits may be NULL for the defaults.
 * Returns 0, or -EINVAL (bad input) / -errno (I/O) with ret emptied.
 */
int manifest_load(const char *const *paths, size_t n_paths, const struct doc_limits *limits,
		  struct cluster *ret, struct diag *d);

/*
 * What identifies a file's content without reading it: a change of any field
 * means the file must be read again (editors replace files by rename, which
 * changes the inode; an in-place write changes mtime and ctime).
 */
struct file_stamp {
	uint64_t dev, ino;
	int64_t size, mtime_ns, ctime_ns;
};

struct manifest_file {
	char *path;              /* owned; "-" for standard input (stamp all zero) */
	struct file_stamp stamp;
};

struct manifest_list {
	struct manifest_file *files;
	size_t n, cap;
};

/*
 * The files the paths name, in load order (directories recursively, *.yaml,
 * *.yml and *.json, sorted by name), each stat'ed.  Problems (a path that
 * does not exist, an unreadable directory) are in d; the files found so far
 * are listed anyway.  Returns 0 or the first error.  Free with
 * manifest_list_done().
 */
int manifest_list_files(const char *const *paths, size_t n_paths, struct manifest_list *ret,
			struct diag *d);
void manifest_list_done(struct manifest_list *l);
bool file_stamp_eq(const struct file_stamp *a, const struct file_stamp *b);
struct stat;
/* The stamp of what stat() returned. */
void file_stamp_of(const struct stat *st, struct file_stamp *ret);

/*
 * Loads one file ("-" for standard input) into ret, adding its object count
 * to *n_objects (checked against limits->max_objects) and, when ret_hash is
 * not NULL, setting it to the FNV-1a of the bytes read (fnv1a_update).  Same
 * contract as manifest_load.
 */
int manifest_load_file(const char *path, const struct doc_limits *limits, size_t *n_objects,
		       uint64_t *ret_hash, struct cluster *ret, struct diag *d);

/*
 * Reads a whole file ("-": standard input) of at most max bytes that must be
 * text (no NUL byte) into *ret_buf (malloc'ed, not terminated) and
 * *ret_len.  Returns 0, or -EINVAL / -errno with the problem in d.
 */
int manifest_read_file(const char *path, size_t max, char **ret_buf, size_t *ret_len,
		       struct diag *d);
/* JSON by the name's extension (.json; .yaml/.yml are YAML), else by a leading '{' or '['. */
bool manifest_looks_like_json(const char *name, const char *buf, size_t len);

/* Parses one in-memory buffer (used by tests and the fuzzer).  Same contract. */
int manifest_load_buffer(const char *name, const char *buf, size_t len, bool json,
			 const struct doc_limits *limits, struct cluster *ret, struct diag *d);

#endif
