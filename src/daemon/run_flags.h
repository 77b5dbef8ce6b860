/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run's command line: kube-proxy's flag names, parsed and checked
 * into a struct run_cfg before the agent starts.  The shared flags are
 * here; each data-plane mode declares its own (dataplane_ops.options).
 */
#ifndef KROUTE_DAEMON_RUN_FLAGS_H
#define KROUTE_DAEMON_RUN_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "daemon/serve.h"
#include "dataplane/dataplane.h"
#include "policy/policy.h"

struct run_cfg {
	const char **paths;
	size_t n_paths, cap_paths;
	const char *node;
	const char *mode;
	const char *kubeconfig;     /* --kubeconfig: the API source */
	const char *master;         /* --master: the API source */
	bool api;                   /* the API source (else -f): see check_cfg() */
	uint64_t sync_period_ns;
	uint64_t min_sync_period_ns;
	bool once;
	/*
	 * --healthz-bind-address, --metrics-bind-address as given ("" turns the
	 * server off; an IP alone gets the default port, as kube-proxy's
	 * AppendPortIfNeeded), checked into serve by parse_run_args().
	 */
	const char *healthz_bind, *metrics_bind;
	struct serve_cfg serve;
	struct policy_opts po;
	struct dp_opts dp;
	struct cidr *cluster_cidrs, *nodeport_cidrs;
	size_t n_cluster_cidrs, n_nodeport_cidrs;
	const struct dataplane_ops *ops;    /* --mode's, after parse_run_args() */
	/*
	 * Every mode's own options struct (dataplane_all order, NULL for a mode
	 * without options), owned; dp.mode_opts points at the selected one.
	 */
	void **mode_opts;
	size_t n_modes;
};

/*
 * The defaults, then the environment overrides of the helper programs
 * (KROUTE_IPTABLES_RESTORE, KROUTE_IP6TABLES_RESTORE, KROUTE_CONNTRACK).
 * Returns 0, or -EINVAL after printing the problem; run_cfg_done() either way.
 */
int run_cfg_init(struct run_cfg *cfg);
/*
 * Reads argv into cfg (after run_cfg_init) and checks every value as
 * kube-proxy's validation does.  Returns 0, 1 after --help (printed), or
 * -EINVAL after printing the problem, with the flag and its value.
 */
int parse_run_args(int argc, char **argv, struct run_cfg *cfg);
void run_cfg_done(struct run_cfg *cfg);

#endif
