/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables data plane (kroute run --mode nftables): the ops of
 * dataplane.h.  Per IP family and sync: plan the fragments of the port
 * views whose ids the mirror does not know (plan.h), diff them against the
 * mirror (diff.h), send the changes as one nf_tables batch (nl.h), and
 * only then let the mirror take the new state.  A full sync (the first,
 * the periodic one, after any failure) starts from an empty mirror and a
 * table created afresh in the same transaction, so whatever drifted in the
 * kernel is replaced.  Nothing is listed back on a normal sync.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/ifaddr.h"
#include "core/sysctl.h"
#include "core/util.h"
#include "dataplane/common/conntrack.h"
#include "dataplane/dataplane.h"
#include "dataplane/nftables/nftables.h"
#include "policy/policy.h"

#define WHO "nftables"
#define MASQ_MARK (1u << 14) /* kube-proxy's default masquerade bit */

struct family_state {
	int family;
	struct nft_mirror m;
	bool force_full;
	struct conntrack_udp_mirror udp;
	size_t rules, chains;
	bool probed;               /* the kernel has what the mode needs (nft_probe) */
};

struct dataplane {
	struct dp_opts opts;
	bool route_localnet_tried;
	struct family_state fam[2];
	struct dp_stats stats;
	struct nft_sync_info last; /* the last sync's batch, per family summed */
	struct nft_conn conn;      /* the netlink socket batches go through */
};

static int nft_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));

	dp->opts = *opts;
	for (int i = 0; i < 2; i++) {
		dp->fam[i].family = i ? AF_INET6 : AF_INET;
		nft_mirror_init(&dp->fam[i].m);
		conntrack_udp_mirror_init(&dp->fam[i].udp);
	}
	*ret = dp;
	return 0;
}

static void nft_free(struct dataplane *dp)
{
	if (!dp)
		return;
	for (int i = 0; i < 2; i++) {
		nft_mirror_done(&dp->fam[i].m);
		conntrack_udp_mirror_done(&dp->fam[i].udp);
	}
	nft_conn_close(&dp->conn);
	free(dp);
}

static void nft_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
	ret->rules = dp->fam[0].rules + dp->fam[1].rules;
	ret->chains = dp->fam[0].chains + dp->fam[1].chains;
}

void nft_dp_last_sync(const struct dataplane *dp, struct nft_sync_info *ret)
{
	*ret = dp->last;
}

static const struct addr *node_ip(const struct node_view *v, int family)
{
	for (size_t i = 0; v->node && i < v->node->n_addresses; i++)
		if (v->node->addresses[i].family == family)
			return &v->node->addresses[i];
	return NULL;
}

/*
 * NodePorts on 127.0.0.1 need the kernel to route those packets:
 * kube-proxy's iptables mode sets route_localnet (and never clears it),
 * and so does this mode, once its rules (with the localhost guard) are in.
 */
static void ensure_route_localnet(struct dataplane *dp, struct diag *d)
{
	bool changed;
	int r;

	if (dp->route_localnet_tried)
		return;
	dp->route_localnet_tried = true; /* a failure is warned about once */
	r = sysctl_ensure("net/ipv4/conf/all/route_localnet", "1", &changed);
	if (r < 0)
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 WHO ": cannot set net.ipv4.conf.all.route_localnet=1 (%s): NodePorts on"
			 " 127.0.0.1 will not answer", strerror(-r));
	else if (changed)
		diag_add(d, DIAG_NOTE, NULL, 0, NULL, NULL,
			 WHO ": set net.ipv4.conf.all.route_localnet=1 for NodePorts on 127.0.0.1");
}

static void count_applied(struct family_state *fs)
{
	fs->rules = fs->m.n_rules;
	fs->chains = fs->m.n_chains;
}

static void plan_opts(const struct dataplane *dp, const struct node_view *v, int family,
		      struct nft_plan_opts *o, struct addr **locals)
{
	size_t n = 0;

	*o = (struct nft_plan_opts){
		.family = family,
		.mark = MASQ_MARK,
		.cluster_cidrs = dp->opts.cluster_cidrs,
		.n_cluster_cidrs = dp->opts.n_cluster_cidrs,
		.nodeport_cidrs = dp->opts.nodeport_cidrs,
		.n_nodeport_cidrs = dp->opts.n_nodeport_cidrs,
		.localhost_nodeports = dp->opts.localhost_nodeports,
		.node_ip = node_ip(v, family),
	};
	*locals = NULL;
	if (dp->opts.n_nodeport_cidrs) {
		ifaddr_list(IFADDR_ALL, NULL, false, locals, &n);
		o->local_addrs = *locals;
		o->n_local_addrs = n;
	}
}

static int sync_family(struct dataplane *dp, struct family_state *fs, const struct node_view *v,
		       bool full, struct diag *d)
{
	struct nft_mirror fresh, *m = &fs->m;
	struct nft_plan_opts po;
	struct nft_sync_info info;
	struct addr *locals;
	struct nft_io io;
	int r;

	nft_io_kernel(&io, &dp->conn);
	if (!fs->probed) {
		r = nft_probe(fs->family, &io, d);
		if (r < 0)
			return r;
		fs->probed = true;
	}
	full = full || !fs->m.applied || fs->force_full;
	plan_opts(dp, v, fs->family, &po, &locals);
	for (;;) {
		if (full) {
			nft_mirror_init(&fresh);
			m = &fresh;
		}
		r = nft_sync_mirror(m, v, &po, full, &io, &info, d);
		if (full || !info.resize)
			break;
		full = true; /* a set outgrew its size: created again at a new one */
	}
	dp->stats.last_kernel_ns += info.kernel_ns;
	dp->last.msgs += info.msgs;
	dp->last.bytes += info.bytes;
	dp->last.elems_added += info.elems_added;
	dp->last.elems_deleted += info.elems_deleted;
	dp->last.chains_written += info.chains_written;
	free(locals);
	if (r < 0) {
		fs->force_full = true; /* the kernel kept its state; start from nothing next time */
		if (full)
			nft_mirror_done(&fresh);
		return r;
	}
	if (full) {
		nft_mirror_done(&fs->m);
		fs->m = fresh;
	}
	fs->force_full = false;
	count_applied(fs);
	if (fs->family == AF_INET && nft_localhost_nodeports(&po))
		ensure_route_localnet(dp, d);
	if ((full || info.msgs) &&
	    conntrack_flush_stale_udp(&fs->udp, v, fs->family, dp->opts.conntrack, d) == -ENOENT)
		dp->opts.conntrack = NULL; /* not installed: warned once */
	return 0;
}

static int nft_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	uint64_t t0 = mono_ns();
	int r = 0;

	dp->stats.last_kernel_ns = 0;
	dp->last = (struct nft_sync_info){ 0 };
	for (int f = 0; f < 2; f++) {
		struct family_state *fs = &dp->fam[f];
		int rf;

		/* IPv6 only where there is IPv6 to serve (or was, to remove it). */
		if (fs->family == AF_INET6 && !fs->m.applied && !fs->force_full &&
		    !dp_view_has_family(v, AF_INET6))
			continue;
		rf = sync_family(dp, fs, v, full, d);
		if (rf < 0 && !r)
			r = rf;
	}
	dp_stats_sync_done(&dp->stats, r, full, t0);
	return r;
}

static int nft_cleanup(const struct dp_opts *opts, struct diag *d)
{
	int r = nftables_table_delete(AF_INET, d), r6 = nftables_table_delete(AF_INET6, d);

	return r < 0 ? r : r6;
}

const struct dataplane_ops dp_nftables_ops = {
	.name = "nftables",
	.new = nft_new,
	.sync = nft_sync,
	.cleanup = nft_cleanup,
	.stats = nft_stats,
	.free = nft_free,
};
