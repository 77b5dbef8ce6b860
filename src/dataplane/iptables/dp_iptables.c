/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables data plane: renders the node view (iptables/render.c) and
 * applies it with one iptables-restore --noflush call per family and sync
 * (ip6tables-restore for IPv6), so a sync is atomic per family: it lands
 * whole or not at all, and on failure the kernel keeps the last good rules.
 *
 * Incremental: the ruleset is kept as per-port fragments (iptables/frag.h),
 * cached by port view id.  A port view the view update did not rebuild keeps
 * its id, so its fragment is reused without rendering; only rebuilt port
 * views are rendered, and the shared chains (KUBE-SERVICES...) are
 * re-assembled from the cached fragments.  A mirror (table/chain -> hash
 * of its rules) of what the last successful sync applied says which chains
 * the restore input must rewrite: with one endpoint changed, that is the
 * service's chain and nothing else, as kube-proxy's partial restores do.
 * A full sync (first one, periodic, after any failure) renders and rewrites
 * everything and reads the kernel's chains with iptables-save, so stale
 * chains left by an earlier run are deleted too.
 *
 * After each successful sync, UDP conntrack entries that would blackhole
 * clients are deleted (dataplane/common/conntrack.h).
 *
 * This file holds the ops and the sync's steps; restore.c builds the
 * restore input, kernel.c talks to iptables-save and iptables, cleanup.c
 * is `kroute cleanup`.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/ifaddr.h"
#include "core/sysctl.h"
#include "core/util.h"
#include "dataplane/iptables/apply.h"
#include "dataplane/iptables/options.h"
#include "policy/policy.h"

struct dataplane {
	struct dp_opts opts;
	struct ipt_mode_opts mo;     /* this mode's flags (options.c) */
	bool route_localnet_tried;   /* ensured (or warned about) once; kube-proxy never clears it */
	struct family_state fam[2];  /* IPv4, IPv6 */
	struct dp_stats stats;
	uint64_t restore_failures;   /* kube-proxy's counters of the same names (ipt_stats) */
	uint64_t partial_restore_failures;
};

static void frags_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++) {
		struct ipt_frag *f = m->slots[i].value;

		if (m->slots[i].key) {
			ipt_frag_done(f);
			free(f);
		}
	}
	strmap_done(m);
	strmap_init(m);
}

/* Frees the fragments the last sync's view did not have; returns how many. */
static size_t sweep_frags(struct family_state *fs)
{
	char **gone = NULL;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < fs->frags.cap; i++) {
		const struct ipt_frag *f = fs->frags.slots[i].value;

		if (fs->frags.slots[i].key && f->seen != fs->gen)
			VEC_PUSH(gone, n, cap, xstrdup(f->key));
	}
	for (size_t i = 0; i < n; i++) {
		struct ipt_frag *f = strmap_del(&fs->frags, gone[i], NULL);

		ipt_frag_done(f);
		free(f);
		free(gone[i]);
	}
	free(gone);
	return n;
}

static void family_init(struct family_state *fs, int family, const struct ipt_mode_opts *opts)
{
	*fs = (struct family_state){ .family = family };
	fs->cmd = family == AF_INET6 ? "ip6tables" : "iptables";
	fs->save = family == AF_INET6 ? "ip6tables-save" : "iptables-save";
	fs->restore = family == AF_INET6 ? opts->ip6tables_restore : opts->iptables_restore;
	strmap_init(&fs->mirror);
	strmap_init(&fs->frags);
	conntrack_udp_mirror_init(&fs->udp);
}

static void family_done(struct family_state *fs)
{
	owned_keys_clear(&fs->mirror);
	strmap_done(&fs->mirror);
	frags_clear(&fs->frags);
	strmap_done(&fs->frags);
	free(fs->list);
	free(fs->fresh);
	conntrack_udp_mirror_done(&fs->udp);
}

static int ipt_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));

	dp->opts = *opts;
	dp->mo = *(const struct ipt_mode_opts *)opts->mode_opts;
	family_init(&dp->fam[0], AF_INET, &dp->mo);
	family_init(&dp->fam[1], AF_INET6, &dp->mo);
	*ret = dp;
	return 0;
}

static void ipt_free(struct dataplane *dp)
{
	if (!dp)
		return;
	family_done(&dp->fam[0]);
	family_done(&dp->fam[1]);
	free(dp);
}

static void ipt_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
	ret->rules = dp->fam[0].rules + dp->fam[1].rules;
	ret->chains = dp->fam[0].chains + dp->fam[1].chains;
	ret->metrics[0] = (struct dp_metric){
		.name = "kubeproxy_sync_proxy_rules_iptables_restore_failures_total",
		.help = "Cumulative proxy iptables restore failures", .counter = true,
		.value = dp->restore_failures };
	ret->metrics[1] = (struct dp_metric){
		.name = "kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total",
		.help = "Cumulative proxy iptables partial restore failures", .counter = true,
		.value = dp->partial_restore_failures };
	ret->metrics[2] = (struct dp_metric){
		.name = "kroute_iptables_rules", .help = "iptables rules kroute owns, both families",
		.value = ret->rules };
	ret->metrics[3] = (struct dp_metric){
		.name = "kroute_iptables_chains", .help = "iptables chains kroute owns, both families",
		.value = ret->chains };
	ret->n_metrics = 4;
}

static void mirror_apply(struct family_state *fs, const struct pending *p)
{
	const char *stored;

	if (!p->hash) {
		strmap_del(&fs->mirror, p->key, &stored);
		free((char *)stored);
	} else if (strmap_get(&fs->mirror, p->key)) {
		strmap_put(&fs->mirror, p->key, (void *)(uintptr_t)p->hash); /* keeps the stored key */
	} else {
		strmap_put(&fs->mirror, xstrdup(p->key), (void *)(uintptr_t)p->hash);
	}
}

static void render_opts(const struct dataplane *dp, const struct node_view *v, int family,
			struct ipt_opts *o, struct addr **locals)
{
	size_t n_locals = 0;

	ipt_opts_init(o);
	o->family = family;
	o->masquerade_bit = dp->mo.masquerade_bit;
	o->cluster_cidrs = dp->opts.cluster_cidrs;
	o->n_cluster_cidrs = dp->opts.n_cluster_cidrs;
	o->nodeport_cidrs = dp->opts.nodeport_cidrs;
	o->n_nodeport_cidrs = dp->opts.n_nodeport_cidrs;
	o->localhost_nodeports = dp->opts.localhost_nodeports;
	o->large_cluster = ipt_large_cluster(v, family);
	o->inline_remote_endpoints = !dp->mo.kube_proxy_layout;
	*locals = NULL;
	if (dp->opts.n_nodeport_cidrs) {
		ifaddr_list(IFADDR_ALL, NULL, false, locals, &n_locals);
		o->local_addrs = *locals;
		o->n_local_addrs = n_locals;
	}
}

/* The render options, whether this sync is full, and the shared chains' fixed rules. */
static int sync_start(struct dataplane *dp, struct family_state *fs, const struct node_view *v,
		      bool full, struct sync_run *s, struct diag *d)
{
	int r;

	s->full = full || !fs->synced || fs->force_full;
	render_opts(dp, v, fs->family, &s->o, &s->locals);
	/* Comments on or off changes every chain's text: a full sync renders everything again. */
	if (fs->synced && s->o.large_cluster != fs->large_cluster)
		s->full = true;
	strmap_init(&s->kernel);
	strmap_init(&s->current);
	strmap_init(&s->builtin);
	fs->gen++;
	if (s->full)
		frags_clear(&fs->frags); /* stale chains then come from the mirror and the kernel */
	r = ipt_base_render(v, &s->o, &s->base);
	if (r < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: cannot render rules: %s", fs->cmd,
			 strerror(-r));
	return r;
}

/* The fragments in view order (fs->list): cached when the port view is unchanged, else rendered. */
static int collect_fragments(struct family_state *fs, const struct node_view *v,
			     struct sync_run *s, struct diag *d)
{
	if (v->n_ports > fs->cap_list) {
		fs->cap_list = v->n_ports;
		fs->list = xrealloc(fs->list, fs->cap_list * sizeof(*fs->list));
		fs->fresh = xrealloc(fs->fresh, fs->cap_list * sizeof(*fs->fresh));
	}
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		struct ipt_frag *f;
		char key[24];
		int r;

		if (pv->family != fs->family)
			continue;
		snprintf(key, sizeof(key), "%" PRIx64, pv->id);
		f = strmap_get(&fs->frags, key);
		fs->fresh[s->n_list] = !f;
		s->n_fresh += !f;
		if (!f) {
			f = xmalloc(sizeof(*f));
			r = ipt_frag_render(v, pv, &s->o, &s->work, f);
			if (r < 0) {
				free(f);
				diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
					 "%s: cannot render rules of %s: %s", fs->cmd, pv->svc->key,
					 strerror(-r));
				return r;
			}
			strmap_put(&fs->frags, f->key, f);
			/* Only new fragments can hold chains the kernel does not have. */
			for (size_t c = 0; c < f->n_own; c++)
				strmap_put(&s->current, f->own[c].name, f);
		}
		f->seen = fs->gen;
		fs->list[s->n_list++] = f;
	}
	return 0;
}

/* Full syncs: the kernel's per-service chains (stale ones are deleted) and built-in rules. */
static int read_kernel(struct dataplane *dp, const struct family_state *fs, struct sync_run *s,
		       struct diag *d)
{
	uint64_t t0 = mono_ns();
	int r = kernel_table(fs->save, "nat", &s->kernel, &s->builtin);

	if (r >= 0)
		r = kernel_table(fs->save, "filter", NULL, &s->builtin);
	dp->stats.last_kernel_ns += mono_ns() - t0;
	if (r < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s failed: %s", fs->save,
			 strerror(-r));
	return r;
}

/* One iptables-restore --noflush of the input: the whole change, or nothing. */
static int run_restore(struct dataplane *dp, const struct family_state *fs,
		       const struct restore_input *in, struct diag *d)
{
	struct exec_result res;
	char *argv[8];
	uint64_t t0 = mono_ns();
	int r;

	ipt_restore_argv(fs->restore, argv);
	/* 1 ms a line: ~6x what the kernel took for 10,000 services x 10 here. */
	r = exec_run_limit(argv, in->out.p, in->out.len, 0,
			   exec_limit_for_input(in->out.p, in->out.len, 1), &res);
	dp->stats.last_kernel_ns += mono_ns() - t0;
	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s", fs->restore,
			 strerror(-r));
	} else if (res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s failed (status %d): %s", fs->restore,
			 res.status, res.err);
		r = -EIO;
	}
	exec_result_done(&res);
	return r;
}

/*
 * The jumps from the built-in chains, now that their targets exist.
 * Checked on every full sync, so a jump someone deleted comes back.
 */
static int apply_jumps(struct dataplane *dp, const struct family_state *fs,
		       const struct sync_run *s, struct diag *d)
{
	uint64_t t0 = mono_ns();
	int r = ensure_jumps(fs->cmd, &s->base, &s->builtin, d);

	dp->stats.last_kernel_ns += mono_ns() - t0;
	return r;
}

/* Applied: the mirror and the fragment cache become what the kernel has; stale UDP flows go. */
/*
 * Rules that accept NodePorts on 127.0.0.0/8 need the kernel to route those
 * packets: kube-proxy sets route_localnet then (and never clears it), and so
 * does kroute, once the rules that use it are in.
 */
static void ensure_route_localnet(struct dataplane *dp, const struct sync_run *s, struct diag *d)
{
	bool changed;
	int r;

	if (dp->route_localnet_tried || !ipt_localhost_nodeports(&s->o))
		return;
	dp->route_localnet_tried = true; /* a failure is warned about once, not every sync */
	r = sysctl_ensure("net/ipv4/conf/all/route_localnet", "1", &changed);
	if (r < 0) {
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "iptables: cannot set net.ipv4.conf.all.route_localnet=1 (%s): NodePorts on"
			 " 127.0.0.1 will not answer; --iptables-localhost-nodeports=false turns them off",
			 strerror(-r));
		return;
	}
	if (changed)
		diag_add(d, DIAG_NOTE, NULL, 0, NULL, NULL,
			 "iptables: set net.ipv4.conf.all.route_localnet=1 for NodePorts on 127.0.0.1"
			 " (as kube-proxy does)");
}

static void sync_applied(struct dataplane *dp, struct family_state *fs, const struct node_view *v,
			 const struct sync_run *s, struct diag *d)
{
	size_t n_gone, n_rules = 0;

	if (fs->family == AF_INET)
		ensure_route_localnet(dp, s, d);
	if (s->full)
		owned_keys_clear(&fs->mirror);
	for (size_t i = 0; i < s->in.n_pend; i++)
		mirror_apply(fs, &s->in.pend[i]);
	n_gone = sweep_frags(fs); /* the fragments of port views that are gone */
	fs->large_cluster = s->o.large_cluster;
	/* Port views that kept their ids are unchanged, and so are their UDP flows. */
	if ((s->full || s->n_fresh || n_gone) &&
	    conntrack_flush_stale_udp(&fs->udp, v, fs->family, dp->opts.conntrack, d) == -ENOENT)
		dp->opts.conntrack = NULL; /* not installed: warned once (a timeout is retried) */
	for (size_t k = 0; k < s->n_list; k++)
		n_rules += fs->list[k]->n_rules;
	for (size_t i = 0; i < s->base.n; i++)
		for (size_t c = 0; c < s->base.chains[i].rules.len; c++)
			n_rules += s->base.chains[i].rules.p[c] == '\n';
	fs->rules = n_rules;
	fs->chains = s->n_chains;
	fs->synced = true;
	fs->force_full = false;
}

static void sync_run_done(struct sync_run *s)
{
	owned_keys_clear(&s->kernel);
	strmap_done(&s->kernel);
	owned_keys_clear(&s->builtin);
	strmap_done(&s->builtin);
	strmap_done(&s->current);
	restore_input_done(&s->in);
	ipt_base_done(&s->base);
	ipt_chains_done(&s->work);
	free(s->locals);
}

static int sync_family(struct dataplane *dp, struct family_state *fs, const struct node_view *v,
		       bool full, struct diag *d)
{
	struct sync_run s = { 0 };
	int r;

	r = sync_start(dp, fs, v, full, &s, d);
	if (r >= 0)
		r = collect_fragments(fs, v, &s, d);
	if (r >= 0 && s.full)
		r = read_kernel(dp, fs, &s, d);
	if (r >= 0) {
		restore_input_build(fs, &s);
		if (s.in.out.len) {
			r = run_restore(dp, fs, &s.in, d);
			if (r < 0) {
				dp->restore_failures++;
				dp->partial_restore_failures += !s.full;
			}
		}
	}
	if (r >= 0 && s.full)
		r = apply_jumps(dp, fs, &s, d);
	if (r >= 0) {
		sync_applied(dp, fs, v, &s, d);
		r = 0;
	} else {
		/* The kernel kept its rules; render everything again next time. */
		fs->force_full = true;
		frags_clear(&fs->frags);
	}
	sync_run_done(&s);
	return r;
}

static int ipt_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	uint64_t t0 = mono_ns();
	int r = 0;

	dp->stats.last_kernel_ns = 0;
	for (int f = 0; f < 2; f++) {
		struct family_state *fs = &dp->fam[f];
		int rf;

		/*
		 * IPv6 rules only where there is IPv6 to serve (or was: removing
		 * the last IPv6 service must reach the kernel), so an IPv4-only
		 * node never needs ip6tables.
		 */
		if (fs->family == AF_INET6 && !fs->synced && !dp_view_has_family(v, AF_INET6))
			continue;
		rf = sync_family(dp, fs, v, full, d);
		if (rf < 0 && !r)
			r = rf;
	}
	dp_stats_sync_done(&dp->stats, r, full, t0);
	return r;
}

const struct dataplane_ops dp_iptables_ops = {
	.name = "iptables",
	.new = ipt_new,
	.sync = ipt_sync,
	.cleanup = ipt_cleanup,
	.stats = ipt_stats,
	.free = ipt_free,
	.options = &ipt_mode_options,
};
