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

/* Options shared by the kernel data planes; names follow kube-proxy's flags. */
struct dp_opts {
	uint32_t masquerade_bit;            /* --iptables-masquerade-bit (14) */
	bool masquerade_all;                /* --masquerade-all */
	const struct cidr *cluster_cidrs;   /* --cluster-cidr (local detector) */
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs;  /* --nodeport-addresses */
	size_t n_nodeport_cidrs;
	bool localhost_nodeports;           /* --iptables-localhost-nodeports */
	bool kube_proxy_layout;             /* --iptables-kube-proxy-layout: a SEP chain per endpoint */
	const char *iptables_restore;       /* program to run (tests may wrap it) */
	const char *ip6tables_restore;      /* the same for IPv6; NULL: ip6tables-restore */
	const char *conntrack;              /* conntrack tool, NULL to skip flushing */
	/* userspace mode (docs/userspace.md); 0 / NULL = the mode's default */
	unsigned us_workers;                /* --userspace-workers: proxy threads (one per core) */
	uint64_t us_grace_ns;               /* --userspace-grace-period: removed endpoint -> close */
	uint64_t us_udp_timeout_ns;         /* --udp-timeout: idle UDP session lifetime */
	uint64_t us_connect_timeout_ns;     /* --userspace-connect-timeout: per attempt */
	uint64_t us_eject_ns;               /* --userspace-eject-time: passive health ejection */
	const char *us_status_file;         /* --userspace-status-file: JSON status, NULL = none */
	const char *nft;                    /* nft program (tests may wrap it) */
	const char *ip;                     /* ip program (iproute2) */
};

struct dp_stats {
	uint64_t syncs, full_syncs, partial_syncs, failures;
	uint64_t last_sync_ns;              /* duration of the last sync */
	uint64_t last_kernel_ns;            /* of which in the kernel's tools (iptables-restore...) */
	size_t rules, chains;               /* after the last successful sync */
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
};

const struct dataplane_ops *dataplane_find(const char *mode);
/* All modes, NULL-terminated (for cleanup and help). */
extern const struct dataplane_ops *const dataplane_all[];

#endif
