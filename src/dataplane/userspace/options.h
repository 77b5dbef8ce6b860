/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --mode userspace: the mode's own flags and the struct they
 * fill (dp_opts.mode_opts); the table is in options.c.  See docs/userspace.md.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_OPTIONS_H
#define KROUTE_DATAPLANE_USERSPACE_OPTIONS_H

#include <stdint.h>

#include "dataplane/dataplane.h"

struct us_mode_opts {
	unsigned workers;                   /* --userspace-workers: proxy threads; 0 = one per CPU */
	uint64_t grace_ns;                  /* --userspace-grace-period: removed endpoint -> close */
	uint64_t udp_timeout_ns;            /* --udp-timeout: idle UDP session lifetime */
	uint64_t connect_timeout_ns;        /* --userspace-connect-timeout: per attempt */
	uint64_t eject_ns;                  /* --userspace-eject-time: passive health ejection */
	const char *status_file;            /* --userspace-status-file: JSON status, NULL = none */
};

extern const struct dp_mode_options us_mode_options;

#endif
