/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The files source: the manifests -f names (files, directories read
 * recursively, "-" for standard input) as one origin per file.  A refresh
 * reads only the files whose stamp (inode, size, mtime, ctime) changed, so a
 * change of one file costs one file's parse; inotify on the directories the
 * paths live in tells the agent when to refresh.
 */
#ifndef KROUTE_SOURCE_FILES_H
#define KROUTE_SOURCE_FILES_H

#include <stddef.h>

#include "source/doc.h"
#include "source/source.h"

extern const struct source_ops files_source_ops;

/* paths are borrowed (they must outlive the source); limits NULL: the defaults. */
struct source *files_source_new(const char *const *paths, size_t n_paths,
				const struct doc_limits *limits);

#endif
