/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The data-plane seam: every mode (iptables, userspace, later nftables,
 * ipvs, ebpf) implements these operations.  A backend receives the complete
 * per-node view on every sync and reconciles the kernel (or its proxy) to
 * it in one transaction; on failure it keeps what was applied before and
 * returns a negative errno, and the caller retries with a full sync.
 * Backends own their kernel state and mirrors; they never reach back into
 * the sources.
 */
#ifndef KROUTE_DATAPLANE_DATAPLANE_H
#define KROUTE_DATAPLANE_DATAPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct node_view;
struct diag;
struct opt_spec;

/*
 * Options every mode shares; names follow kube-proxy's flags.  A mode's own
 * options (the iptables masquerade bit, the userspace workers...) live in
 * its own struct, declared with its flags in the mode's options.c.
 */
struct dp_opts {
	bool masquerade_all;                /* --masquerade-all */
	const struct cidr *cluster_cidrs;   /* --cluster-cidr (local detector) */
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs;  /* --nodeport-addresses */
	size_t n_nodeport_cidrs;
	bool localhost_nodeports;           /* --iptables-localhost-nodeports (iptables, userspace) */
	const char *conntrack;              /* conntrack tool, NULL to skip flushing */
	const char *nft;                    /* nft program (tests may wrap it) */
	const char *ip;                     /* ip program (iproute2) */
	/*
	 * The selected mode's own options struct (ops->options->size bytes,
	 * started from its defaults), borrowed from the caller for as long as
	 * the data plane lives; NULL for a mode without options.
	 */
	const void *mode_opts;
};

/*
 * A mode's own flags: kroute run lists them in --help under title, accepts
 * them on the command line and hands the filled struct to new() and
 * cleanup() as dp_opts.mode_opts.
 */
struct dp_mode_options {
	const char *title;                  /* --help section: "--mode NAME (title):" */
	const struct opt_spec *flags;       /* see core/opt.h; offsets into the struct */
	size_t size;                        /* of the mode's options struct */
	const void *defaults;               /* that struct with every default value */
};

/*
 * One number a mode counts on its own, exported on /metrics under name
 * (docs/metrics.md lists them): kube-proxy's name where kube-proxy has the
 * same count (iptables restore failures), else kroute_<mode>_...
 */
struct dp_metric {
	const char *name;                   /* static */
	const char *help;                   /* static */
	bool counter;                       /* a counter (name ends in _total), else a gauge */
	uint64_t value;
};

#define DP_MAX_METRICS 24

struct dp_stats {
	uint64_t syncs, full_syncs, partial_syncs, failures;
	uint64_t last_sync_ns;              /* duration of the last sync */
	uint64_t last_kernel_ns;            /* of which in the kernel's tools (iptables-restore...) */
	size_t rules, chains;               /* after the last successful sync */
	struct dp_metric metrics[DP_MAX_METRICS]; /* the mode's own, filled by stats() */
	size_t n_metrics;
};

struct dataplane;

struct dataplane_ops {
	const char *name;
	/* Allocates the backend; does not touch the kernel. */
	int (*new)(const struct dp_opts *opts, struct dataplane **ret);
	/*
	 * Makes the kernel match the view.  full: rewrite everything (first
	 * sync, periodic resync, after a failure); otherwise the backend may
	 * rewrite only what changed since its last successful sync.
	 * Returns 0, or a negative errno with the previous state intact.
	 */
	int (*sync)(struct dataplane *dp, const struct node_view *view, bool full,
		    struct diag *d);
	/* Removes everything this backend owns in the current netns. */
	int (*cleanup)(const struct dp_opts *opts, struct diag *d);
	void (*stats)(const struct dataplane *dp, struct dp_stats *ret);
	void (*free)(struct dataplane *dp);
	/*
	 * Optional (NULL: none).  An fd the agent's loop watches for this
	 * backend, e.g. messages from proxy threads; when it is readable the
	 * loop calls on_event on the agent's thread, where the backend may log
	 * (its own threads never print).  Valid from new() until free().
	 */
	int (*event_fd)(const struct dataplane *dp);
	void (*on_event)(struct dataplane *dp);
	/* Optional (NULL: none): this mode's own flags and options struct. */
	const struct dp_mode_options *options;
};

const struct dataplane_ops *dataplane_find(const char *mode);
/* Whether the view has a port view of family (a mode skips a family it never had). */
bool dp_view_has_family(const struct node_view *v, int family);
/* A sync's count in s: r (0 or a negative errno), full or partial, started at t0 (mono_ns). */
void dp_stats_sync_done(struct dp_stats *s, int r, bool full, uint64_t t0);
/*
 * The shared options' defaults (helper program names), then their
 * environment overrides (KROUTE_CONNTRACK).  Returns 0, or -EINVAL with
 * the bad variable named in err.
 */
int dp_opts_init(struct dp_opts *o, char *err, size_t errlen);
/*
 * A new copy of ops' options struct with its defaults and environment
 * overrides (KROUTE_IPTABLES_RESTORE...); the caller frees it.  *ret is
 * NULL for a mode without options.  0, or -EINVAL with err set.
 */
int dp_mode_opts_new(const struct dataplane_ops *ops, void **ret, char *err, size_t errlen);
/* All modes, NULL-terminated (for cleanup and help). */
extern const struct dataplane_ops *const dataplane_all[];
/*
 * `kroute cleanup --kube-proxy` (kube_proxy_cleanup.c): removes what
 * `kube-proxy --cleanup` removes in the current netns (its iptables and
 * IPVS modes' chains, its nftables tables, kube-ipvs0), nothing of
 * kroute's own beyond the chain names the iptables mode shares with it.
 * Returns 0 or a negative errno, with the errors in d.
 */
int kube_proxy_cleanup(const struct dp_opts *opts, struct diag *d);

#endif
