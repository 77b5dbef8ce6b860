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
 * clients are deleted with the conntrack tool: flows DNATed to an endpoint
 * that is gone, and flows to a service IP that had no endpoints before.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/ifaddr.h"
#include "core/strmap.h"
#include "core/util.h"
#include "dataplane/dataplane.h"
#include "dataplane/iptables/frag.h"
#include "dataplane/iptables/options.h"
#include "dataplane/iptables/render.h"
#include "policy/policy.h"

/* One UDP service port as last applied: what conntrack cleanup compares against. */
struct udp_mirror {
	char *key;           /* "ns/name:port/family" */
	struct addr *vips;   /* service IPs this port answers on (cluster, external, LB) */
	size_t n_vips;
	uint16_t port, node_port;
	struct addr *eps;    /* endpoint IPs */
	size_t n_eps;
};

/* What is applied for one IP family: iptables for IPv4, ip6tables for IPv6. */
struct family_state {
	int family;
	const char *cmd, *save;      /* iptables / ip6tables, and -save */
	const char *restore;         /* from dp_opts (tests wrap it) */
	bool synced;                 /* a sync of this family succeeded since start */
	bool force_full;             /* the last sync failed: the next rewrites everything */
	bool large_cluster;          /* the comment setting the cached fragments have */
	struct strmap mirror;        /* "table/chain" -> (uintptr) rules hash as applied; keys owned */
	struct strmap frags;         /* port view id (hex) -> struct ipt_frag *, as applied */
	uint64_t gen;                /* sync counter: a fragment not seen this sync is gone */
	struct ipt_frag **list;      /* this sync's fragments in view order (kept: no churn) */
	bool *fresh;                 /* list[i] was rendered this sync */
	size_t cap_list;
	struct udp_mirror *udp;
	size_t n_udp;
	struct strmap udp_index;     /* key -> 1 + position in udp */
	size_t rules, chains;
};

struct dataplane {
	struct dp_opts opts;
	struct ipt_mode_opts mo;     /* this mode's flags (options.c) */
	struct family_state fam[2];  /* IPv4, IPv6 */
	struct dp_stats stats;
};

static bool is_service_chain(const char *name)
{
	return !strncmp(name, IPT_PREFIX_SVC, strlen(IPT_PREFIX_SVC)) ||
	       !strncmp(name, IPT_PREFIX_SVL, strlen(IPT_PREFIX_SVL)) ||
	       !strncmp(name, IPT_PREFIX_EXT, strlen(IPT_PREFIX_EXT)) ||
	       !strncmp(name, IPT_PREFIX_FW, strlen(IPT_PREFIX_FW)) ||
	       !strncmp(name, IPT_PREFIX_SEP, strlen(IPT_PREFIX_SEP));
}

/* The fixed chains kroute declares; cleanup removes them and their jumps. */
static const char *const top_chains[][2] = {
	{ "filter", "KUBE-SERVICES" },      { "filter", "KUBE-EXTERNAL-SERVICES" },
	{ "filter", "KUBE-FORWARD" },       { "filter", "KUBE-NODEPORTS" },
	{ "filter", "KUBE-PROXY-FIREWALL" }, { "filter", "KUBE-FIREWALL" },
	{ "nat", "KUBE-SERVICES" },
	{ "nat", "KUBE-NODEPORTS" },        { "nat", "KUBE-POSTROUTING" },
	{ "nat", "KUBE-MARK-MASQ" },
};

static void chains_clear(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->slots[i].key);
	strmap_done(m);
	strmap_init(m);
}

static void udp_mirror_free(struct udp_mirror *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].vips);
		free(v[i].eps);
	}
	free(v);
}

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
	strmap_init(&fs->udp_index);
}

static void family_done(struct family_state *fs)
{
	chains_clear(&fs->mirror);
	strmap_done(&fs->mirror);
	frags_clear(&fs->frags);
	strmap_done(&fs->frags);
	free(fs->list);
	free(fs->fresh);
	udp_mirror_free(fs->udp, fs->n_udp);
	strmap_done(&fs->udp_index);
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
}


static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	*buf = xgrow(*buf, cap, *len + n + 1, 1);
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
}

static void append_str(char **buf, size_t *len, size_t *cap, const char *s)
{
	append(buf, len, cap, s, strlen(s));
}

static bool is_builtin_chain(const char *name, size_t len)
{
	static const char *const builtin[] = { "PREROUTING", "INPUT", "FORWARD", "OUTPUT",
					       "POSTROUTING" };

	for (size_t i = 0; i < ARRAY_SIZE(builtin); i++)
		if (strlen(builtin[i]) == len && !strncmp(builtin[i], name, len))
			return true;
	return false;
}

/*
 * What the kernel has in one table (iptables-save): the per-service chains
 * (into svc, when given; stale detection after a restart) and the rules of the
 * built-in chains, as "table|-A CHAIN ..." lines (into builtin, when given), so
 * that the jumps kroute needs are checked without one `iptables -C` each.
 */
static int kernel_table(const char *save, const char *table, struct strmap *svc,
			struct strmap *builtin)
{
	char *argv[] = { (char *)save, "-t", (char *)table, NULL };
	struct exec_result res;
	int r = exec_run(argv, NULL, 0, 1, &res);

	if (r < 0)
		return r;
	if (res.status != 0) {
		exec_result_done(&res);
		return -EIO;
	}
	for (char *line = strtok(res.out, "\n"); line; line = strtok(NULL, "\n")) {
		if (line[0] == ':' && svc) {
			char *sp = strchr(line, ' ');

			if (sp)
				*sp = '\0';
			if (is_service_chain(line + 1) && !strmap_get(svc, line + 1))
				strmap_put(svc, xstrdup(line + 1), (void *)1);
		} else if (builtin && !strncmp(line, "-A ", 3) &&
			   is_builtin_chain(line + 3, strcspn(line + 3, " "))) {
			char *key = xasprintf("%s|%s", table, line);

			if (strmap_get(builtin, key))
				free(key);
			else
				strmap_put(builtin, key, (void *)1);
		}
	}
	exec_result_done(&res);
	return 0;
}

/* A jump rule as iptables-save prints it: "table|-A CHAIN args", quoting args with spaces. */
static char *jump_line(const struct ipt_jump_rule *j)
{
	char *line = xasprintf("%s|-A %s", j->table, j->chain);

	for (size_t a = 0; j->args[a]; a++) {
		char *next = strchr(j->args[a], ' ') ? xasprintf("%s \"%s\"", line, j->args[a])
						      : xasprintf("%s %s", line, j->args[a]);

		free(line);
		line = next;
	}
	return line;
}

/* Whether the base declares chain name in table (KUBE-FIREWALL exists only for IPv4 localhost NodePorts). */
static bool base_has(const struct ipt_base *base, const char *table, const char *name)
{
	for (size_t i = 0; i < base->n; i++)
		if (streq(ipt_table_name(base->chains[i].table), table) &&
		    streq(base->chains[i].name, name))
			return true;
	return false;
}

/*
 * Jumps already listed in the kernel's built-in chains (the iptables-save
 * output read before the restore, which never touches built-in chains) need
 * no command; any other is checked with -C and inserted with -I.
 */
static int ensure_jumps(const char *cmd, const struct ipt_base *base,
			const struct strmap *present, struct diag *d)
{
	for (size_t i = 0; i < ipt_n_jump_rules; i++) {
		const struct ipt_jump_rule *j = &ipt_jump_rules[i];
		char *argv[24], *line;
		size_t n = 0, nargs = 0;
		struct exec_result res;
		bool listed;
		int r;

		if (!base_has(base, j->table, j->target))
			continue;
		line = jump_line(j);
		listed = strmap_get(present, line) != NULL;
		free(line);
		if (listed)
			continue;
		argv[n++] = (char *)cmd;
		argv[n++] = "-w";
		argv[n++] = "-t";
		argv[n++] = (char *)j->table;
		argv[n++] = "-C";
		argv[n++] = (char *)j->chain;
		while (j->args[nargs] && n < ARRAY_SIZE(argv) - 2)
			argv[n++] = (char *)j->args[nargs++];
		argv[n] = NULL;
		r = exec_run(argv, NULL, 0, 0, &res);
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s", cmd,
				 strerror(-r));
			return r;
		}
		if (res.status == 0) {
			exec_result_done(&res);
			continue;
		}
		exec_result_done(&res);
		/* Insert first, so kroute's jumps come before other rules. */
		argv[4] = "-I";
		memmove(&argv[7], &argv[6], (n - 6 + 1) * sizeof(*argv));
		argv[6] = "1";
		r = exec_run(argv, NULL, 0, 0, &res);
		if (r < 0 || res.status != 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "%s -t %s -I %s ... -j %s failed: %s", cmd, j->table, j->chain,
				 j->target, r < 0 ? strerror(-r) : res.err);
			exec_result_done(&res);
			return -EIO;
		}
		exec_result_done(&res);
	}
	return 0;
}

/* Runs conntrack -D with the given filter; "0 entries deleted" (status 1) is not an error. */
static void conntrack_delete(struct dataplane *dp, int family, char **args, struct diag *d)
{
	char *argv[16] = { (char *)dp->opts.conntrack, "-D", "-f",
			   family == AF_INET6 ? "ipv6" : "ipv4", "-p", "udp" };
	struct exec_result res;
	size_t n = 6;

	for (size_t i = 0; args[i] && n < ARRAY_SIZE(argv) - 1; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (exec_run(argv, NULL, 0, 0, &res) < 0) {
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "cannot run %s: stale UDP flows are not flushed", dp->opts.conntrack);
		dp->opts.conntrack = NULL;
		return;
	}
	exec_result_done(&res);
}

static void udp_mirror_build(const struct node_view *v, int family, struct udp_mirror **ret,
			     size_t *ret_n)
{
	size_t cap = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		struct udp_mirror m = { 0 };
		size_t vcap = 0;

		if (pv->family != family || pv->port->proto != PROTO_UDP || !pv->n_routes)
			continue;
		m.key = xasprintf("%s:%s:%u/%d", pv->svc->key, pv->port->name, pv->port->port,
				  pv->family);
		m.port = pv->port->port;
		m.node_port = pv->port->node_port;
		for (size_t r = 0; r < pv->n_routes; r++) {
			const struct route *rt = &pv->routes[r];

			if (rt->kind != ROUTE_NODE_PORT && rt->allocated && rt->addr.family)
				VEC_PUSH(m.vips, m.n_vips, vcap, rt->addr);
		}
		m.eps = xcalloc(pv->cat.all.n + 1, sizeof(*m.eps));
		for (size_t k = 0; k < pv->cat.all.n; k++)
			m.eps[m.n_eps++] = pv->cat.all.v[k]->addr;
		VEC_PUSH(*ret, *ret_n, cap, m);
	}
}

static bool has_addr(const struct addr *v, size_t n, const struct addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (addr_eq(&v[i], a))
			return true;
	return false;
}

/*
 * UDP has no connection to reset: a conntrack entry DNATed to a removed
 * endpoint, or created while the service had no endpoints, would keep
 * sending a client's datagrams into the void.  Delete exactly those.
 */
static void flush_stale_udp(struct dataplane *dp, struct family_state *fs,
			    struct udp_mirror *now, size_t n_now, struct diag *d)
{
	for (size_t i = 0; i < n_now && dp->opts.conntrack; i++) {
		uintptr_t pos = (uintptr_t)strmap_get(&fs->udp_index, now[i].key);
		const struct udp_mirror *prev = pos ? &fs->udp[pos - 1] : NULL;
		char port[8], np[8];

		if (!prev)
			continue;
		snprintf(port, sizeof(port), "%u", now[i].port);
		snprintf(np, sizeof(np), "%u", now[i].node_port);
		for (size_t e = 0; e < prev->n_eps; e++) {
			char ep[ADDR_STRLEN];

			if (has_addr(now[i].eps, now[i].n_eps, &prev->eps[e]))
				continue;
			addr_format(&prev->eps[e], ep);
			for (size_t v = 0; v < prev->n_vips; v++) {
				char vip[ADDR_STRLEN];
				char *args[] = { "--orig-dst", vip, "--orig-port-dst", port,
						 "--dst-nat", ep, NULL };

				addr_format(&prev->vips[v], vip);
				conntrack_delete(dp, fs->family, args, d);
			}
			if (prev->node_port) {
				char *args[] = { "--orig-port-dst", np, "--dst-nat", ep, NULL };

				conntrack_delete(dp, fs->family, args, d);
			}
		}
		if (!prev->n_eps && now[i].n_eps) {
			for (size_t v = 0; v < now[i].n_vips; v++) {
				char vip[ADDR_STRLEN];
				char *args[] = { "--orig-dst", vip, "--orig-port-dst", port, NULL };

				addr_format(&now[i].vips[v], vip);
				conntrack_delete(dp, fs->family, args, d);
			}
			if (now[i].node_port) {
				char *args[] = { "--orig-port-dst", np, NULL };

				conntrack_delete(dp, fs->family, args, d);
			}
		}
	}
}

static void udp_update(struct dataplane *dp, struct family_state *fs, const struct node_view *v,
		       struct diag *d)
{
	struct udp_mirror *udp;
	size_t n_udp;

	udp_mirror_build(v, fs->family, &udp, &n_udp);
	if (fs->synced)
		flush_stale_udp(dp, fs, udp, n_udp, d);
	udp_mirror_free(fs->udp, fs->n_udp);
	strmap_done(&fs->udp_index);
	strmap_init(&fs->udp_index);
	fs->udp = udp;
	fs->n_udp = n_udp;
	for (size_t i = 0; i < n_udp; i++)
		strmap_put(&fs->udp_index, udp[i].key, (void *)(uintptr_t)(i + 1));
}

/* A mirror change to make once the restore succeeded. */
struct pending {
	char *key;                   /* "table/chain", owned */
	uint64_t hash;               /* 0: the chain is deleted */
};

/* The restore input of one sync, built table by table. */
struct restore_input {
	char *out;                   /* the whole input */
	size_t len, cap;
	char *rules;                 /* the current table's rules (after its declarations) */
	size_t rules_len, rules_cap;
	char *tail;                  /* the current table's -X lines (after its rules) */
	size_t tail_len, tail_cap;
	struct pending *pend;
	size_t n_pend, cap_pend;
};

/* Whether chain `name` of table must be written: a full sync, or the mirror has other rules. */
static bool chain_changed(const struct family_state *fs, bool full, const char *table,
			  const char *name, uint64_t hash)
{
	char key[8 + IPT_CHAIN_NAME_MAX];

	snprintf(key, sizeof(key), "%s/%s", table, name);
	return full || (uint64_t)(uintptr_t)strmap_get(&fs->mirror, key) != hash;
}

/* Writes chain `name` of table (declaration, rules) unless the mirror says it is applied already. */
static void write_chain(struct restore_input *in, const struct family_state *fs, bool full,
			const char *table, const char *name, const char *rules, size_t len,
			uint64_t hash)
{
	char key[8 + IPT_CHAIN_NAME_MAX];

	if (!chain_changed(fs, full, table, name, hash))
		return;
	snprintf(key, sizeof(key), "%s/%s", table, name);
	append(&in->out, &in->len, &in->cap, ":", 1);
	append_str(&in->out, &in->len, &in->cap, name);
	append(&in->out, &in->len, &in->cap, " - [0:0]\n", 9);
	if (len)
		append(&in->rules, &in->rules_len, &in->rules_cap, rules, len);
	VEC_PUSH(in->pend, in->n_pend, in->cap_pend, ((struct pending){ xstrdup(key), hash }));
}

/* Flushes and deletes a chain kroute no longer renders. */
static void delete_chain(struct restore_input *in, const char *table, const char *name)
{
	append(&in->out, &in->len, &in->cap, ":", 1);
	append_str(&in->out, &in->len, &in->cap, name);
	append(&in->out, &in->len, &in->cap, " - [0:0]\n", 9);
	append(&in->tail, &in->tail_len, &in->tail_cap, "-X ", 3);
	append_str(&in->tail, &in->tail_len, &in->tail_cap, name);
	append(&in->tail, &in->tail_len, &in->tail_cap, "\n", 1);
	VEC_PUSH(in->pend, in->n_pend, in->cap_pend,
		 ((struct pending){ xasprintf("%s/%s", table, name), 0 }));
}

static void restore_input_done(struct restore_input *in)
{
	free(in->out);
	free(in->rules);
	free(in->tail);
	for (size_t i = 0; i < in->n_pend; i++)
		free(in->pend[i].key);
	free(in->pend);
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

static bool view_has_family(const struct node_view *v, int family)
{
	for (size_t i = 0; i < v->n_ports; i++)
		if (v->ports[i].family == family)
			return true;
	return false;
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

static int sync_family(struct dataplane *dp, struct family_state *fs, const struct node_view *v,
		       bool full, struct diag *d)
{
	struct ipt_opts o;
	struct addr *locals;
	struct ipt_base base = { 0 };
	struct ipt_frag **list;
	bool *fresh;
	struct strmap kernel, current, builtin;
	struct restore_input in = { 0 };
	size_t n_list = 0, n_rules = 0, n_chains = 0, n_fresh = 0, n_gone;
	struct exec_result res = { .status = -1 };
	int r;

	full = full || !fs->synced || fs->force_full;
	render_opts(dp, v, fs->family, &o, &locals);
	/* Comments on or off changes every chain's text: a full sync renders everything again. */
	if (fs->synced && o.large_cluster != fs->large_cluster)
		full = true;
	strmap_init(&kernel);
	strmap_init(&current);
	strmap_init(&builtin);
	fs->gen++;
	if (full)
		frags_clear(&fs->frags); /* stale chains then come from the mirror and the kernel */
	r = ipt_base_render(v, &o, &base);
	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s: cannot render rules: %s", fs->cmd,
			 strerror(-r));
		goto out;
	}
	/* The fragments in view order: cached when the port view is unchanged, else rendered. */
	if (v->n_ports > fs->cap_list) {
		fs->cap_list = v->n_ports;
		fs->list = xrealloc(fs->list, fs->cap_list * sizeof(*fs->list));
		fs->fresh = xrealloc(fs->fresh, fs->cap_list * sizeof(*fs->fresh));
	}
	list = fs->list;
	fresh = fs->fresh;
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		struct ipt_frag *f;
		char key[24];

		if (pv->family != fs->family)
			continue;
		snprintf(key, sizeof(key), "%" PRIx64, pv->id);
		f = strmap_get(&fs->frags, key);
		fresh[n_list] = !f;
		n_fresh += !f;
		if (!f) {
			f = xmalloc(sizeof(*f));
			r = ipt_frag_render(v, pv, &o, &base, f);
			if (r < 0) {
				free(f);
				diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
					 "%s: cannot render rules of %s: %s", fs->cmd, pv->svc->key,
					 strerror(-r));
				goto out;
			}
			strmap_put(&fs->frags, f->key, f);
			/* Only new fragments can hold chains the kernel does not have. */
			for (size_t c = 0; c < f->n_own; c++)
				strmap_put(&current, f->own[c].name, f);
		}
		f->seen = fs->gen;
		list[n_list++] = f;
	}
	if (full) {
		uint64_t t0 = mono_ns();

		r = kernel_table(fs->save, "nat", &kernel, &builtin);
		if (r >= 0)
			r = kernel_table(fs->save, "filter", NULL, &builtin);
		dp->stats.last_kernel_ns += mono_ns() - t0;
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s failed: %s", fs->save,
				 strerror(-r));
			goto out;
		}
	}
	for (int t = 0; t < IPT_N_TABLES; t++) {
		const char *table = ipt_table_name((enum ipt_table)t);
		size_t start = in.len;
		char *shared = NULL;
		size_t shared_len = 0, shared_cap = 0;

		append(&in.out, &in.len, &in.cap, "*", 1);
		append_str(&in.out, &in.len, &in.cap, table);
		append(&in.out, &in.len, &in.cap, "\n", 1);
		in.rules_len = in.tail_len = 0;
		/* Shared chains: every fragment's rules in view order, then the fixed ones. */
		for (size_t i = 0; i < base.n; i++) {
			if (base.chains[i].table != (enum ipt_table)t)
				continue;
			uint64_t h = ipt_shared_hash(&base, i, list, n_list);

			shared_len = 0;
			if (chain_changed(fs, full, table, base.chains[i].name, h))
				ipt_shared_rules(&base, i, list, n_list, &shared, &shared_len,
						 &shared_cap);
			write_chain(&in, fs, full, table, base.chains[i].name, shared, shared_len, h);
			n_chains++;
		}
		free(shared);
		/* Own chains of the fragments rendered now; cached ones are applied as they are. */
		for (size_t k = 0; k < n_list; k++) {
			const struct ipt_frag *f = list[k];

			if (t == IPT_TABLE_NAT)
				n_chains += f->n_own;
			for (size_t c = 0; c < f->n_own && (fresh[k] || full); c++)
				if (f->own[c].table == (enum ipt_table)t)
					write_chain(&in, fs, full, table, f->own[c].name, f->own[c].rules,
						    f->own[c].len, f->own[c].hash);
		}
		/*
		 * Stale per-service chains: those of port views that are gone or
		 * rebuilt (and not rendered again under the same name) and, on a
		 * full sync, any the mirror or the kernel has that nothing renders.
		 * They are flushed in the declarations and deleted after the rules
		 * that referenced them are replaced.
		 */
		if (t == IPT_TABLE_NAT) {
			struct strmap seen;

			strmap_init(&seen);
			if (full) {
				/* Everything rendered now counts as current. */
				for (size_t k = 0; k < n_list; k++)
					for (size_t c = 0; c < list[k]->n_own; c++)
						strmap_put(&current, list[k]->own[c].name, list[k]);
				for (size_t s = 0; s < fs->mirror.cap; s++) {
					const char *key = fs->mirror.slots[s].key;

					if (key && !strncmp(key, "nat/", 4) && is_service_chain(key + 4) &&
					    !strmap_get(&current, key + 4) && !strmap_get(&seen, key + 4)) {
						strmap_put(&seen, key + 4, (void *)1);
						delete_chain(&in, table, key + 4);
					}
				}
				for (size_t s = 0; s < kernel.cap; s++) {
					const char *name = kernel.slots[s].key;

					if (name && !strmap_get(&current, name) && !strmap_get(&seen, name)) {
						strmap_put(&seen, name, (void *)1);
						delete_chain(&in, table, name);
					}
				}
			} else {
				for (size_t s = 0; s < fs->frags.cap; s++) {
					const struct ipt_frag *g = fs->frags.slots[s].value;

					if (!fs->frags.slots[s].key || g->seen == fs->gen)
						continue; /* in this view */
					for (size_t c = 0; c < g->n_own; c++) {
						const char *name = g->own[c].name;

						if (g->own[c].table != IPT_TABLE_NAT || strmap_get(&current, name) ||
						    strmap_get(&seen, name))
							continue;
						strmap_put(&seen, name, (void *)1);
						delete_chain(&in, table, name);
					}
				}
			}
			strmap_done(&seen);
		}
		if (in.len == start + strlen(table) + 2) {
			in.len = start; /* nothing to change in this table */
			continue;
		}
		append(&in.out, &in.len, &in.cap, in.rules ? in.rules : "", in.rules_len);
		append(&in.out, &in.len, &in.cap, in.tail ? in.tail : "", in.tail_len);
		append(&in.out, &in.len, &in.cap, "COMMIT\n", 7);
	}
	if (in.len) {
		char *argv[] = { (char *)fs->restore, "-w", "--noflush", NULL };
		uint64_t t0 = mono_ns();

		r = exec_run(argv, in.out, in.len, 0, &res);
		dp->stats.last_kernel_ns += mono_ns() - t0;
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s", fs->restore,
				 strerror(-r));
			goto out;
		}
		if (res.status != 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s failed (status %d): %s",
				 fs->restore, res.status, res.err);
			r = -EIO;
			goto out;
		}
	}
	/*
	 * The jumps from the built-in chains, now that their targets exist.
	 * Checked on every full sync, so a jump someone deleted comes back.
	 */
	if (full) {
		uint64_t t0 = mono_ns();

		r = ensure_jumps(fs->cmd, &base, &builtin, d);
		dp->stats.last_kernel_ns += mono_ns() - t0;
		if (r < 0)
			goto out;
	}
	/* Applied: the mirror and the fragment cache become what the kernel has. */
	if (full)
		chains_clear(&fs->mirror);
	for (size_t i = 0; i < in.n_pend; i++)
		mirror_apply(fs, &in.pend[i]);
	n_gone = sweep_frags(fs); /* the fragments of port views that are gone */
	fs->large_cluster = o.large_cluster;
	/* Port views that kept their ids are unchanged, and so is their UDP mirror. */
	if (full || n_fresh || n_gone)
		udp_update(dp, fs, v, d);
	for (size_t k = 0; k < n_list; k++)
		n_rules += list[k]->n_rules;
	for (size_t i = 0; i < base.n; i++)
		for (size_t c = 0; c < base.chains[i].len; c++)
			n_rules += base.chains[i].rules[c] == '\n';
	fs->rules = n_rules;
	fs->chains = n_chains;
	fs->synced = true;
	fs->force_full = false;
	r = 0;
out:
	if (r < 0) {
		/* The kernel kept its rules; render everything again next time. */
		fs->force_full = true;
		frags_clear(&fs->frags);
	}
	chains_clear(&kernel);
	strmap_done(&kernel);
	chains_clear(&builtin);
	strmap_done(&builtin);
	strmap_done(&current);
	exec_result_done(&res);
	restore_input_done(&in);
	ipt_base_done(&base);
	free(locals);
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
		if (fs->family == AF_INET6 && !fs->synced && !view_has_family(v, AF_INET6))
			continue;
		rf = sync_family(dp, fs, v, full, d);
		if (rf < 0 && !r)
			r = rf;
	}
	if (r < 0)
		dp->stats.failures++;
	else if (full)
		dp->stats.full_syncs++;
	else
		dp->stats.partial_syncs++;
	dp->stats.syncs++;
	dp->stats.last_sync_ns = mono_ns() - t0;
	return r;
}

/* Removes kroute's chains and jumps for one family; leaves every other rule alone. */
static int cleanup_family(const char *cmd, const char *save, const char *restore,
			  struct diag *d)
{
	struct strmap svc;
	char *in = NULL;
	size_t len = 0, cap = 0;
	struct exec_result res;
	int r;

	/* The jumps first, so the chains become unreferenced. */
	for (size_t i = 0; i < ipt_n_jump_rules; i++) {
		const struct ipt_jump_rule *j = &ipt_jump_rules[i];
		char *argv[24];
		size_t n = 0;

		/*
		 * KUBE-FIREWALL goes too: kubelet no longer creates it (1.25+),
		 * kube-proxy does, and kroute replaces kube-proxy.
		 */
		argv[n++] = (char *)cmd;
		argv[n++] = "-w";
		argv[n++] = "-t";
		argv[n++] = (char *)j->table;
		argv[n++] = "-D";
		argv[n++] = (char *)j->chain;
		for (size_t a = 0; j->args[a] && n < ARRAY_SIZE(argv) - 1; a++)
			argv[n++] = (char *)j->args[a];
		argv[n] = NULL;
		/* Repeat: an older run may have inserted a jump twice. */
		for (int tries = 0; tries < 8; tries++) {
			if (exec_run(argv, NULL, 0, 0, &res) < 0)
				break;
			r = res.status;
			exec_result_done(&res);
			if (r != 0)
				break;
		}
	}
	strmap_init(&svc);
	(void)kernel_table(save, "nat", &svc, NULL);
	for (int t = 0; t < 2; t++) {
		const char *table = t ? "nat" : "filter";
		struct strmap have;
		char *argv[] = { (char *)save, "-t", (char *)table, NULL };

		strmap_init(&have);
		if (exec_run(argv, NULL, 0, 1, &res) == 0 && res.status == 0) {
			for (char *line = strtok(res.out, "\n"); line; line = strtok(NULL, "\n")) {
				char *sp = strchr(line, ' ');

				if (line[0] == ':' && sp) {
					*sp = '\0';
					strmap_put(&have, xstrdup(line + 1), (void *)1);
				}
			}
		}
		exec_result_done(&res);
		append(&in, &len, &cap, t ? "*nat\n" : "*filter\n", t ? 5 : 8);
		for (int pass = 0; pass < 2; pass++) {
			/* Pass 0 flushes (declares) every chain, pass 1 deletes them. */
			const char *pre = pass ? "-X " : ":", *post = pass ? "\n" : " - [0:0]\n";

			for (size_t i = 0; i < ARRAY_SIZE(top_chains); i++) {
				if (!streq(top_chains[i][0], table) || !strmap_get(&have, top_chains[i][1]))
					continue;
				append_str(&in, &len, &cap, pre);
				append_str(&in, &len, &cap, top_chains[i][1]);
				append_str(&in, &len, &cap, post);
			}
			for (size_t s = 0; t && s < svc.cap; s++) {
				if (!svc.slots[s].key)
					continue;
				append_str(&in, &len, &cap, pre);
				append_str(&in, &len, &cap, svc.slots[s].key);
				append_str(&in, &len, &cap, post);
			}
		}
		append(&in, &len, &cap, "COMMIT\n", 7);
		chains_clear(&have);
		strmap_done(&have);
	}
	{
		char *argv[] = { (char *)restore, "-w", "--noflush", NULL };

		r = exec_run(argv, in, len, 0, &res);
	}
	if (r == 0 && res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s cleanup failed: %s", cmd, res.err);
		r = -EIO;
	} else if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s", restore,
			 strerror(-r));
	}
	exec_result_done(&res);
	chains_clear(&svc);
	strmap_done(&svc);
	free(in);
	return r;
}

static int ipt_cleanup(const struct dp_opts *opts, struct diag *d)
{
	const struct ipt_mode_opts *mo = opts->mode_opts;
	struct diag d6;
	int r = cleanup_family("iptables", "iptables-save", mo->iptables_restore, d);

	/* IPv6: only when ip6tables works here; its absence is not an error. */
	diag_init(&d6);
	if (cleanup_family("ip6tables", "ip6tables-save", mo->ip6tables_restore, &d6) < 0 &&
	    r == 0) {
		struct exec_result res;
		char *argv[] = { "ip6tables-save", "-t", "nat", NULL };

		if (exec_run(argv, NULL, 0, 1, &res) == 0 && res.status == 0) {
			diag_move(d, &d6);
			r = -EIO;
		}
		exec_result_done(&res);
	}
	diag_done(&d6);
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
