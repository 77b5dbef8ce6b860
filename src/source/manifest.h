/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifest source: reads Kubernetes objects from files and directories
 * (YAML, multi-document, or JSON; single objects or Lists), as -f does for
 * kubectl.  Loading is all or nothing: on any error the cluster is left
 * empty and every problem found is in the diag.
 */
#ifndef KROUTE_SOURCE_MANIFEST_H
#define KROUTE_SOURCE_MANIFEST_H

#include <stddef.h>

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

/* Parses one in-memory buffer (used by tests and the fuzzer).  Same contract. */
int manifest_load_buffer(const char *name, const char *buf, size_t len, bool json,
			 const struct doc_limits *limits, struct cluster *ret, struct diag *d);

#endif
