/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The userspace proxy's status as a JSON file (--userspace-status-file),
 * rewritten atomically (write + rename) once a second by its own thread,
 * which never prints (a failed write is tried again a second later):
 * counters, and per proxy service its scheduler and endpoints with live
 * connections, failures and ejections.  Format: docs/userspace.md.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_STATUS_H
#define KROUTE_DATAPLANE_USERSPACE_STATUS_H

#include <stdio.h>

struct us_dp;
struct us_status;

/* Starts the writer thread; 0 or a negative errno. */
int us_status_start(struct us_dp *dp, const char *path, struct us_status **ret);
void us_status_stop(struct us_status *s);
/* Writes the status of dp to f (also used by tests). */
void us_status_write(struct us_dp *dp, FILE *f);

#endif
