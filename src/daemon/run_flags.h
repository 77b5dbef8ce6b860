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
#include "core/diag.h"
#include "core/log.h"
#include "core/sbuf.h"
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
	const char *config_path;    /* --config: a KubeProxyConfiguration (daemon/config.h) */
	const char *write_config_to; /* --write-config-to: write the effective config and exit */
	unsigned verbosity;         /* -v / --v: info lines up to this verbosity */
	enum log_format log_format; /* --logging-format */
	/* What the config file said (warnings; errors when parsing failed), for the log. */
	struct diag diag;
	char **config_strs;         /* owned: values the config file set (flags borrow them) */
	size_t n_config_strs, cap_config_strs;
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
/*
 * The KubeProxyConfiguration in buf applied to cfg (after run_cfg_init) as
 * --config applies a file with no other flag given: the config fuzzer's
 * way in.  0 or -EINVAL, the messages in cfg->diag.
 */
int run_cfg_apply_config_buffer(struct run_cfg *cfg, const char *name, const char *buf,
				size_t len, bool json);
/* --write-config-to's document for cfg (after parse_run_args), appended to out. */
void run_cfg_write_config(struct run_cfg *cfg, struct sbuf *out);
/* The effective configuration, one info line per field at verbosity v. */
void run_cfg_log_config(struct run_cfg *cfg, unsigned v);
void run_cfg_done(struct run_cfg *cfg);

#endif
