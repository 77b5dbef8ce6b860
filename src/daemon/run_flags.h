/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run's command line: kube-proxy's flag names, parsed and checked
 * into a struct run_cfg before the agent starts.
 */
#ifndef KROUTE_DAEMON_RUN_FLAGS_H
#define KROUTE_DAEMON_RUN_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "dataplane/dataplane.h"
#include "policy/policy.h"

struct run_cfg {
	const char **paths;
	size_t n_paths, cap_paths;
	const char *node;
	const char *mode;
	uint64_t sync_period_ns;
	uint64_t min_sync_period_ns;
	bool once;
	struct policy_opts po;
	struct dp_opts dp;
	struct cidr *cluster_cidrs, *nodeport_cidrs;
	size_t n_cluster_cidrs, n_nodeport_cidrs;
};

/* Returns 0, 1 after --help (printed), or -EINVAL after printing the problem. */
int parse_run_args(int argc, char **argv, struct run_cfg *cfg);
void run_cfg_done(struct run_cfg *cfg);

#endif
