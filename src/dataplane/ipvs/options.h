/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --mode ipvs: the mode's own flags (kube-proxy's --ipvs-*
 * spellings) and the struct they fill (dp_opts.mode_opts); the table is
 * in options.c.  --ipvs-scheduler is --scheduler's other name, and
 * --ipvs-sync-period / --ipvs-min-sync-period the sync timer's, shared
 * by every mode (daemon/run_flags.c).
 */
#ifndef KROUTE_DATAPLANE_IPVS_OPTIONS_H
#define KROUTE_DATAPLANE_IPVS_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/dataplane.h"

struct ipvs_mode_opts {
	bool strict_arp;              /* --ipvs-strict-arp: arp_ignore 1, arp_announce 2 */
	uint64_t tcp_timeout_ns;      /* --ipvs-tcp-timeout (0: the kernel's) */
	uint64_t tcpfin_timeout_ns;   /* --ipvs-tcpfin-timeout */
	uint64_t udp_timeout_ns;      /* --ipvs-udp-timeout */
	const char *exclude_cidrs;    /* --ipvs-exclude-cidrs, checked; NULL: none */
	uint64_t drain_timeout_ns;    /* --ipvs-drain-timeout: a removed endpoint's longest drain */
	bool no_graceful;             /* --ipvs-graceful-termination=false: delete at once */
};

extern const struct dp_mode_options ipvs_mode_options;

#endif
