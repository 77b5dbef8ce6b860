/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPVS data plane (kroute run --mode ipvs): the ops of dataplane.h.
 * A sync, per IP family: plan (plan.h), write the nft table beside IPVS
 * (rules.h, one transaction), diff the planned virtual services against
 * the mirror of the last sync (or, on a full sync, against what a dump of
 * the kernel reads), send the changes in netlink batches (nl.h), and only
 * then let the mirror take the new state.  The kube-ipvs0 link gains the
 * new service addresses first and loses the old ones last.  IPVS applies
 * each request on its own, so a sync that fails part-way is undone: the
 * kernel is dumped and diffed back to the mirror, the previous nft table
 * put back, and the next sync is a full one.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/ifaddr.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "core/sysctl.h"
#include "core/util.h"
#include "dataplane/common/conntrack.h"
#include "dataplane/common/dummy_link.h"
#include "dataplane/common/nft_script.h"
#include "dataplane/common/nodeport_addrs.h"
#include "dataplane/dataplane.h"
#include "dataplane/ipvs/diff.h"
#include "dataplane/ipvs/nl.h"
#include "dataplane/ipvs/options.h"
#include "dataplane/ipvs/plan.h"
#include "dataplane/ipvs/rules.h"
#include "policy/policy.h"

#define WHO "ipvs"
#define LINK "kube-ipvs0"
#define NS_PER_S 1000000000ull

struct family_state {
	int family;
	struct ipvs_table mirror;   /* our virtual services as the kernel holds them */
	bool applied;               /* a sync of this family succeeded */
	bool force_full;            /* the last one failed: the next starts from a dump */
	char *rules;                /* the nft script last applied, put back after a failure */
	struct conntrack_udp_mirror udp;
};

struct dataplane {
	struct dp_opts opts;
	struct ipvs_mode_opts mo;
	struct cidr *exclude;       /* --ipvs-exclude-cidrs */
	size_t n_exclude;
	struct ipvs_nl nl;
	bool kernel_set;            /* sysctls and timeouts done */
	struct family_state fam[2];
	struct dp_stats stats;
	struct ipvs_apply_info last; /* the last sync's batches, both families */
	uint64_t msgs_total;
	size_t n_svcs, n_dests, n_draining, n_link_addrs;
};

static const struct ipvs_mode_opts *mode_opts(const struct dp_opts *o)
{
	static const struct ipvs_mode_opts none = { .drain_timeout_ns = 15 * 60 * NS_PER_S };

	return o->mode_opts ? o->mode_opts : &none;
}

static int ipvs_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));
	struct diag d;
	char err[256];
	int r;

	dp->opts = *opts;
	dp->mo = *mode_opts(opts);
	if (dp->mo.exclude_cidrs &&
	    cidr_list_parse(dp->mo.exclude_cidrs, &dp->exclude, &dp->n_exclude, err, sizeof(err)) < 0) {
		log_startup_error("kroute run: --ipvs-exclude-cidrs: %s", err);
		free(dp);
		return -EINVAL;
	}
	/* Only asks the kernel which family number IPVS has: nothing is changed. */
	diag_init(&d);
	r = ipvs_nl_open(&dp->nl, WHO, &d);
	if (r < 0) {
		for (size_t i = 0; i < d.n; i++)
			log_startup_error("kroute run: %s", d.msgs[i].text);
		diag_done(&d);
		free(dp->exclude);
		free(dp);
		return r;
	}
	diag_done(&d);
	for (int i = 0; i < 2; i++) {
		dp->fam[i].family = i ? AF_INET6 : AF_INET;
		ipvs_table_init(&dp->fam[i].mirror);
		conntrack_udp_mirror_init(&dp->fam[i].udp);
	}
	*ret = dp;
	return 0;
}

static void ipvs_free(struct dataplane *dp)
{
	if (!dp)
		return;
	for (int i = 0; i < 2; i++) {
		ipvs_table_done(&dp->fam[i].mirror);
		conntrack_udp_mirror_done(&dp->fam[i].udp);
		free(dp->fam[i].rules);
	}
	ipvs_nl_close(&dp->nl);
	free(dp->exclude);
	free(dp);
}

static void metric(struct dp_stats *s, const char *name, const char *help, bool counter,
		   uint64_t v)
{
	if (s->n_metrics < DP_MAX_METRICS)
		s->metrics[s->n_metrics++] = (struct dp_metric){ name, help, counter, v };
}

static void ipvs_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
	ret->rules = dp->n_svcs;
	ret->chains = dp->n_dests;
	metric(ret, "kroute_ipvs_virtual_services", "IPVS virtual services kroute holds", false,
	       dp->n_svcs);
	metric(ret, "kroute_ipvs_real_servers", "IPVS real servers kroute holds (draining ones too)",
	       false, dp->n_dests);
	metric(ret, "kroute_ipvs_draining_real_servers",
	       "real servers at weight 0 waiting for their connections to end", false, dp->n_draining);
	metric(ret, "kroute_ipvs_netlink_messages_total", "IPVS netlink requests sent", true,
	       dp->msgs_total);
}

static void sysctl_one(const char *name, const char *value, bool required, struct diag *d)
{
	bool changed;
	int r = sysctl_ensure(name, value, &changed);

	if (r < 0)
		diag_add(d, required ? DIAG_WARNING : DIAG_NOTE, NULL, 0, NULL, NULL,
			 WHO ": cannot set %s=%s (%s)", name, value, strerror(-r));
}

/* What kube-proxy's IPVS mode sets, once, on the first sync. */
static void kernel_settings(struct dataplane *dp, struct diag *d)
{
	const uint64_t s = NS_PER_S;

	if (dp->kernel_set)
		return;
	dp->kernel_set = true;
	/* IPVS connections through conntrack: the masquerade rules then see them. */
	sysctl_one("net/ipv4/vs/conntrack", "1", true, d);
	/* A connection whose real server is gone is dropped, not stuck on it. */
	sysctl_one("net/ipv4/vs/expire_nodest_conn", "1", true, d);
	/* Persistence never sends a new connection to a weight-0 (draining) server. */
	sysctl_one("net/ipv4/vs/expire_quiescent_template", "1", true, d);
	sysctl_one("net/ipv4/ip_forward", "1", true, d);
	if (dp->mo.strict_arp) {
		sysctl_one("net/ipv4/conf/all/arp_ignore", "1", true, d);
		sysctl_one("net/ipv4/conf/all/arp_announce", "2", true, d);
	}
	if (dp->mo.tcp_timeout_ns || dp->mo.tcpfin_timeout_ns || dp->mo.udp_timeout_ns)
		(void)ipvs_nl_set_timeouts(&dp->nl, (uint32_t)(dp->mo.tcp_timeout_ns / s),
					   (uint32_t)(dp->mo.tcpfin_timeout_ns / s),
					   (uint32_t)(dp->mo.udp_timeout_ns / s), WHO, d);
}

static bool is_loopback(const struct addr *a)
{
	static const uint8_t lo6[16] = { [15] = 1 };

	return a->family == AF_INET ? a->bytes[0] == 127 : !memcmp(a->bytes, lo6, 16);
}

/*
 * The node's addresses that take NodePorts (kube-proxy: not those of
 * kube-ipvs0).  Never a loopback address: IPVS drops what it would NAT from
 * a loopback source to another host, so kube-proxy's IPVS mode has no
 * NodePorts on 127.0.0.1 either (a connection there is refused).
 */
static void nodeport_addrs(const struct dataplane *dp, int family, struct addr **ret, size_t *ret_n)
{
	const struct cidr *c = dp->opts.nodeport_cidrs;
	size_t nc = dp->opts.n_nodeport_cidrs, nl = 0, n = 0;
	bool has_lo, all = nodeport_match_all(c, nc, family, &has_lo);
	struct addr *locals, *out;

	ifaddr_list(IFADDR_EXCEPT, LINK, true, &locals, &nl);
	out = xcalloc(nl + 1, sizeof(*out));
	for (size_t i = 0; i < nl; i++) {
		const struct addr *a = &locals[i];
		bool dup = false;

		if (a->family != family)
			continue;
		for (size_t k = 0; k < n; k++)
			dup |= addr_eq(&out[k], a);
		if (dup)
			continue;
		if (!is_loopback(a) && (all || nodeport_addr_ok(c, nc, locals, i, family, false)))
			out[n++] = *a;
	}
	free(locals);
	*ret = out;
	*ret_n = n;
}

static bool excluded(const struct dataplane *dp, const struct addr *a)
{
	for (size_t i = 0; i < dp->n_exclude; i++)
		if (cidr_contains(&dp->exclude[i], a))
			return true;
	return false;
}

static bool addr_in(const struct addr *a, const struct addr *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (addr_eq(a, &v[i]))
			return true;
	return false;
}

/*
 * The kernel's virtual services that are kroute's: on an address kube-ipvs0
 * holds (or will), on a NodePort address, or in the mirror; never one in
 * --ipvs-exclude-cidrs.  The others are left alone.
 */
static void keep_ours(const struct dataplane *dp, const struct family_state *fs,
		      struct ipvs_table *k, const struct addr *mine, size_t n_mine)
{
	struct ipvs_table out;

	ipvs_table_init(&out);
	for (size_t i = 0; i < k->n; i++) {
		struct ipvs_svc *s = &k->v[i];

		/* The dump keeps only fwmark services with kroute's marks. */
		if ((s->key.fwmark || !excluded(dp, &s->key.addr)) &&
		    (s->key.fwmark || addr_in(&s->key.addr, mine, n_mine) ||
		     ipvs_table_get(&fs->mirror, &s->key))) {
			const struct ipvs_svc *m = ipvs_table_get(&fs->mirror, &s->key);

			/* A dest the mirror knows as draining keeps its start. */
			for (size_t j = 0; m && j < s->n_dests; j++)
				for (size_t x = 0; x < m->n_dests; x++)
					if (!ipvs_dest_cmp(&m->dests[x], &s->dests[j]) && m->dests[x].drain_since)
						s->dests[j].drain_since = m->dests[x].drain_since;
			ipvs_table_add(&out, s);
			*s = (struct ipvs_svc){ 0 };
		}
	}
	ipvs_table_done(k);
	*k = out;
	ipvs_table_sort(k);
}

/* Puts the kernel back to the mirror after a sync failed part-way. */
static void undo(struct dataplane *dp, struct family_state *fs, const struct addr *mine,
		 size_t n_mine, struct diag *d)
{
	struct ipvs_table k, next;
	struct ipvs_ops ops = { 0 };
	struct ipvs_diff_opts o = { .now_ns = mono_ns(), .graceful = false };
	struct ipvs_apply_info info;
	struct diag quiet;

	ipvs_table_init(&k);
	ipvs_table_init(&next);
	diag_init(&quiet);
	if (ipvs_nl_dump(&dp->nl, fs->family, &k, &quiet) >= 0) {
		keep_ours(dp, fs, &k, mine, n_mine);
		ipvs_diff(&k, &fs->mirror, &o, &ops, &next);
		if (ipvs_nl_apply(&dp->nl, &ops, WHO, &info, &quiet) < 0)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
				 WHO ": putting the previous virtual services back failed too; the next"
				 " (full) sync repairs it");
	}
	if (fs->rules)
		(void)nft_apply(dp->opts.nft, fs->rules, WHO, "restoring the previous table", &quiet);
	diag_done(&quiet);
	ipvs_ops_done(&ops);
	ipvs_table_done(&k);
	ipvs_table_done(&next);
}

/* Deletes the draining dests whose connections ended (or whose time is up). */
static void drain(struct dataplane *dp, struct family_state *fs, struct diag *d)
{
	struct ipvs_ops ops = { 0 };
	struct ipvs_apply_info info;
	uint64_t now = mono_ns();

	for (size_t i = 0; i < fs->mirror.n; i++) {
		struct ipvs_svc *s = &fs->mirror.v[i];

		for (size_t k = 0; k < s->n_dests; k++)
			if (s->dests[k].drain_since) {
				(void)ipvs_nl_read_conns(&dp->nl, s);
				break;
			}
	}
	ipvs_drain(&fs->mirror, now, dp->mo.drain_timeout_ns, &ops);
	if (ops.n && ipvs_nl_apply(&dp->nl, &ops, WHO, &info, d) < 0)
		fs->force_full = true; /* the mirror dropped them; a dump finds what is left */
	dp->msgs_total += ops.n;
	ipvs_ops_done(&ops);
}

static int sync_family(struct dataplane *dp, struct family_state *fs, const struct ipvs_plan *p,
		       const struct node_view *v, bool full, const struct addr *mine, size_t n_mine,
		       struct diag *d)
{
	struct ipvs_rules_opts ro = { .family = fs->family, .masquerade_all = dp->opts.masquerade_all,
				      .cluster_cidrs = dp->opts.cluster_cidrs,
				      .n_cluster_cidrs = dp->opts.n_cluster_cidrs };
	struct ipvs_diff_opts o = { .now_ns = mono_ns(), .graceful = !dp->mo.no_graceful };
	struct ipvs_table k, next, *have = &fs->mirror;
	struct ipvs_ops ops = { 0 };
	struct ipvs_apply_info info = { 0 };
	struct sbuf script = { 0 };
	uint64_t t0;
	int r;

	full = full || !fs->applied || fs->force_full;
	ipvs_table_init(&k);
	ipvs_table_init(&next);
	t0 = mono_ns();
	if (full) {
		r = ipvs_nl_dump(&dp->nl, fs->family, &k, d);
		if (r < 0)
			goto out;
		keep_ours(dp, fs, &k, mine, n_mine);
		have = &k;
	}
	ipvs_rules_render(p, &ro, &script);
	if (full || !fs->rules || strcmp(fs->rules, sbuf_cstr(&script))) {
		r = nft_apply(dp->opts.nft, sbuf_cstr(&script), WHO, "writing table " IPVS_NFT_TABLE, d);
		if (r < 0)
			goto out; /* nft applies all or nothing: the previous table stands */
	}
	ipvs_diff(have, &p->svcs, &o, &ops, &next);
	r = ops.n ? ipvs_nl_apply(&dp->nl, &ops, WHO, &info, d) : 0;
	dp->stats.last_kernel_ns += mono_ns() - t0;
	dp->last.msgs += info.msgs;
	dp->last.batches += info.batches;
	dp->last.bytes += info.bytes;
	dp->msgs_total += info.msgs;
	if (r < 0) {
		undo(dp, fs, mine, n_mine, d);
		goto out;
	}
	free(fs->rules);
	fs->rules = sbuf_cstr(&script);
	script = (struct sbuf){ 0 };
	ipvs_table_done(&fs->mirror);
	fs->mirror = next;
	ipvs_table_init(&next);
	fs->applied = true;
	fs->force_full = false;
	if (ipvs_draining(&fs->mirror))
		drain(dp, fs, d);
	if ((full || info.msgs) &&
	    conntrack_flush_stale_udp(&fs->udp, v, fs->family, dp->opts.conntrack, d) == -ENOENT)
		dp->opts.conntrack = NULL; /* not installed: warned once */
out:
	if (r < 0)
		fs->force_full = true;
	sbuf_free(&script);
	ipvs_ops_done(&ops);
	ipvs_table_done(&k);
	ipvs_table_done(&next);
	return r;
}

static void count(struct dataplane *dp)
{
	dp->n_svcs = dp->n_dests = dp->n_draining = 0;
	for (int f = 0; f < 2; f++) {
		const struct ipvs_table *t = &dp->fam[f].mirror;

		dp->n_svcs += t->n;
		for (size_t i = 0; i < t->n; i++)
			dp->n_dests += t->v[i].n_dests;
		dp->n_draining += ipvs_draining(t);
	}
}

static int ipvs_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	struct ipvs_plan plans[2];
	struct addr *link = NULL, *mine = NULL, *np[2] = { NULL, NULL };
	size_t n_link = 0, cap_link = 0, n_mine = 0, cap_mine = 0, n_np[2] = { 0, 0 }, n_had = 0;
	struct addr *had = NULL;
	bool created;
	uint64_t t0 = mono_ns();
	int r;

	dp->stats.last_kernel_ns = 0;
	dp->last = (struct ipvs_apply_info){ 0 };
	kernel_settings(dp, d);
	r = dummy_link_ensure(dp->opts.ip, LINK, WHO, &created, d);
	if (r < 0)
		goto done;
	dummy_link_addrs(LINK, &had, &n_had);
	for (int f = 0; f < 2; f++) {
		struct ipvs_plan_opts po = { .family = dp->fam[f].family };

		nodeport_addrs(dp, po.family, &np[f], &n_np[f]);
		po.nodeport_addrs = np[f];
		po.n_nodeport_addrs = n_np[f];
		ipvs_plan_init(&plans[f], po.family);
		ipvs_plan_build(v, &po, &plans[f]);
		for (size_t i = 0; i < plans[f].n_warnings; i++)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL, "%s", plans[f].warnings[i]);
		for (size_t i = 0; i < plans[f].n_link_addrs; i++)
			VEC_PUSH(link, n_link, cap_link, plans[f].link_addrs[i]);
	}
	if (n_link)
		qsort(link, n_link, sizeof(*link), addr_cmp_qsort);
	/* Ours: what the link holds or will, and the NodePort addresses. */
	for (size_t i = 0; i < n_had; i++)
		VEC_PUSH(mine, n_mine, cap_mine, had[i]);
	for (size_t i = 0; i < n_link; i++)
		VEC_PUSH(mine, n_mine, cap_mine, link[i]);
	for (int f = 0; f < 2; f++)
		for (size_t i = 0; i < n_np[f]; i++)
			VEC_PUSH(mine, n_mine, cap_mine, np[f][i]);
	/* New addresses first, so a new virtual service is local when it appears. */
	r = dummy_link_set_addrs(dp->opts.ip, LINK, link, n_link, false, WHO, d);
	for (int f = 0; f < 2 && r >= 0; f++) {
		struct family_state *fs = &dp->fam[f];

		if (fs->family == AF_INET6 && !fs->applied && !fs->force_full &&
		    !dp_view_has_family(v, AF_INET6))
			continue;
		r = sync_family(dp, fs, &plans[f], v, full, mine, n_mine, d);
	}
	if (r >= 0)
		r = dummy_link_set_addrs(dp->opts.ip, LINK, link, n_link, true, WHO, d);
	else
		(void)dummy_link_set_addrs(dp->opts.ip, LINK, had, n_had, true, WHO, d);
	dp->n_link_addrs = n_link;
	for (int f = 0; f < 2; f++) {
		ipvs_plan_done(&plans[f]);
		free(np[f]);
	}
	free(link);
	free(mine);
	free(had);
done:
	count(dp);
	dp_stats_sync_done(&dp->stats, r, full, t0);
	return r < 0 ? r : 0;
}

/*
 * `kroute cleanup`: our virtual services (on kube-ipvs0's addresses or the
 * node's, never in --ipvs-exclude-cidrs), the nft tables and the link.  A
 * kernel without IPVS has none of the first.
 */
static int ipvs_cleanup(const struct dp_opts *opts, struct diag *d)
{
	const struct ipvs_mode_opts *mo = mode_opts(opts);
	struct dataplane dp = { .opts = *opts };
	struct addr *locals = NULL;
	size_t n_locals = 0;
	struct diag quiet;
	char err[256];
	int r = 0, rf;

	if (mo->exclude_cidrs)
		(void)cidr_list_parse(mo->exclude_cidrs, &dp.exclude, &dp.n_exclude, err, sizeof(err));
	ifaddr_list(IFADDR_ALL, NULL, true, &locals, &n_locals);
	diag_init(&quiet);
	if (ipvs_nl_open(&dp.nl, WHO, &quiet) == 0) {
		for (int f = 0; f < 2; f++) {
			struct ipvs_table k;
			struct ipvs_ops ops = { 0 };
			struct ipvs_apply_info info;

			ipvs_table_init(&k);
			dp.fam[f].family = f ? AF_INET6 : AF_INET;
			ipvs_table_init(&dp.fam[f].mirror);
			if (ipvs_nl_dump(&dp.nl, dp.fam[f].family, &k, d) >= 0) {
				keep_ours(&dp, &dp.fam[f], &k, locals, n_locals);
				for (size_t i = 0; i < k.n; i++)
					VEC_PUSH(ops.v, ops.n, ops.cap,
						 ((struct ipvs_op){ .kind = IPVS_OP_DEL_SVC, .key = k.v[i].key }));
				rf = ops.n ? ipvs_nl_apply(&dp.nl, &ops, WHO, &info, d) : 0;
				if (rf < 0 && !r)
					r = rf;
			}
			ipvs_ops_done(&ops);
			ipvs_table_done(&k);
			ipvs_table_done(&dp.fam[f].mirror);
		}
		ipvs_nl_close(&dp.nl);
	}
	diag_done(&quiet);
	for (int f = 0; f < 2; f++) {
		rf = nft_table_delete(opts->nft, ipvs_nft_family(f ? AF_INET6 : AF_INET), IPVS_NFT_TABLE,
				      WHO, d);
		if (rf < 0 && !r)
			r = rf;
	}
	rf = dummy_link_delete(opts->ip, LINK, WHO, d);
	if (rf < 0 && !r)
		r = rf;
	free(locals);
	free(dp.exclude);
	return r;
}

const struct dataplane_ops dp_ipvs_ops = {
	.name = "ipvs",
	.new = ipvs_new,
	.sync = ipvs_sync,
	.cleanup = ipvs_cleanup,
	.stats = ipvs_stats,
	.free = ipvs_free,
	.options = &ipvs_mode_options,
};
