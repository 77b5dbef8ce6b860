/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables data plane: renders the node view (iptables/render.c) and
 * applies it with one iptables-restore --noflush call per sync, so a sync
 * is atomic: it lands whole or not at all, and on failure the kernel keeps
 * the last good rules.
 *
 * Partial syncs rewrite only the per-service chains (KUBE-SVC/SVL/EXT/FW/
 * SEP) whose rules changed since the last successful sync, plus the
 * top-level chains that reference them, as kube-proxy's partial restores
 * do.  A mirror (chain name -> hash of its rules) from the last successful
 * sync says what changed; a full sync (first one, periodic, after any
 * failure) rewrites everything and reads the kernel's chains with
 * iptables-save so stale chains left by an earlier run are deleted too.
 *
 * After each successful sync, UDP conntrack entries that would blackhole
 * clients are deleted with the conntrack tool: flows DNATed to an endpoint
 * that is gone, and flows to a service IP that had no endpoints before.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/diag.h"
#include "core/exec.h"
#include "core/strmap.h"
#include "core/util.h"
#include "dataplane/dataplane.h"
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

struct dataplane {
	struct dp_opts opts;
	bool synced_once;
	struct strmap chains;       /* nat per-service chain -> (uintptr) hash, owns keys */
	struct strmap all;          /* "table/chain" -> (uintptr) hash of its rules, every chain */
	struct udp_mirror *udp;
	size_t n_udp;
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

static void udp_mirror_clear(struct dataplane *dp)
{
	for (size_t i = 0; i < dp->n_udp; i++) {
		free(dp->udp[i].key);
		free(dp->udp[i].vips);
		free(dp->udp[i].eps);
	}
	free(dp->udp);
	dp->udp = NULL;
	dp->n_udp = 0;
}

static int ipt_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));

	dp->opts = *opts;
	strmap_init(&dp->chains);
	strmap_init(&dp->all);
	*ret = dp;
	return 0;
}

static void ipt_free(struct dataplane *dp)
{
	if (!dp)
		return;
	chains_clear(&dp->chains);
	strmap_done(&dp->chains);
	chains_clear(&dp->all);
	strmap_done(&dp->all);
	udp_mirror_clear(dp);
	free(dp);
}

static void ipt_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
}

static uint64_t hash_bytes(const char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return h ? h : 1;
}

/* A chain's section in a rendered table: its declaration and its -A lines. */
struct chain_text {
	char name[IPT_CHAIN_NAME_MAX];
	const char *decl;  /* ":NAME - [0:0]\n" */
	size_t decl_len;
	char *rules;       /* owned: its "-A NAME ..." lines, in order */
	size_t rules_len, rules_cap;
};

struct table_text {
	char name[16];
	struct chain_text *chains;
	size_t n, cap;
	struct strmap index;   /* chain name -> 1 + its position in chains */
	char *other;       /* owned: lines that are neither (e.g. -X), kept in order */
	size_t other_len, other_cap;
};

/* O(1): a 10,000-service ruleset has ~100,000 rules over ~10,000 chains. */
static struct chain_text *table_chain(struct table_text *t, const char *name, size_t len)
{
	char key[IPT_CHAIN_NAME_MAX];
	uintptr_t pos;

	if (!len || len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	pos = (uintptr_t)strmap_get(&t->index, key);
	return pos ? &t->chains[pos - 1] : NULL;
}

static void append(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
	*buf = xgrow(*buf, cap, *len + n + 1, 1);
	memcpy(*buf + *len, p, n);
	*len += n;
	(*buf)[*len] = '\0';
}

/* Splits rendered restore input into tables and chains.  Returns the number of tables. */
static size_t split_tables(const char *buf, size_t len, struct table_text *tables, size_t max)
{
	size_t n = 0;
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (*p == '*' && n < max) {
			memset(&tables[n], 0, sizeof(tables[n]));
			strmap_init(&tables[n].index);
			snprintf(tables[n].name, sizeof(tables[n].name), "%.*s", (int)(l - 2), p + 1);
			n++;
		} else if (n && *p == ':') {
			struct table_text *t = &tables[n - 1];
			const char *sp = memchr(p, ' ', l);
			struct chain_text *c;

			t->chains = xgrow(t->chains, &t->cap, t->n + 1, sizeof(*t->chains));
			c = &t->chains[t->n++];
			memset(c, 0, sizeof(*c));
			snprintf(c->name, sizeof(c->name), "%.*s", (int)(sp ? sp - p - 1 : 0), p + 1);
			c->decl = p;
			c->decl_len = l;
			strmap_put(&t->index, xstrdup(c->name), (void *)(uintptr_t)t->n);
		} else if (n && !strncmp(p, "-A ", 3)) {
			struct table_text *t = &tables[n - 1];
			const char *name = p + 3, *sp = memchr(name, ' ', l - 3);
			struct chain_text *c = table_chain(t, name, sp ? (size_t)(sp - name) : 0);

			if (c)
				append(&c->rules, &c->rules_len, &c->rules_cap, p, l);
			else
				append(&t->other, &t->other_len, &t->other_cap, p, l);
		} else if (n && strncmp(p, "COMMIT", 6)) {
			struct table_text *t = &tables[n - 1];

			append(&t->other, &t->other_len, &t->other_cap, p, l);
		}
		p += l;
	}
	return n;
}

static void tables_free(struct table_text *tables, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < tables[i].n; k++)
			free(tables[i].chains[k].rules);
		chains_clear(&tables[i].index);
		strmap_done(&tables[i].index);
		free(tables[i].chains);
		free(tables[i].other);
	}
}

/* Chains that exist in the kernel (iptables-save), for stale detection after a restart. */
static int kernel_service_chains(const char *table, struct strmap *ret)
{
	char *argv[] = { "iptables-save", "-t", (char *)table, NULL };
	struct exec_result res;
	int r = exec_run(argv, NULL, 0, 1, &res);

	if (r < 0)
		return r;
	if (res.status != 0) {
		exec_result_done(&res);
		return -EIO;
	}
	for (char *line = strtok(res.out, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp;

		if (line[0] != ':')
			continue;
		sp = strchr(line, ' ');
		if (sp)
			*sp = '\0';
		if (is_service_chain(line + 1) && !strmap_get(ret, line + 1))
			strmap_put(ret, xstrdup(line + 1), (void *)1);
	}
	exec_result_done(&res);
	return 0;
}

static int ensure_jumps(struct diag *d)
{
	for (size_t i = 0; i < ipt_n_jump_rules; i++) {
		const struct ipt_jump_rule *j = &ipt_jump_rules[i];
		char *argv[24];
		size_t n = 0, nargs = 0;
		struct exec_result res;
		int r;

		argv[n++] = "iptables";
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
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run iptables: %s",
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
				 "iptables -t %s -I %s ... -j %s failed: %s", j->table, j->chain,
				 j->target, r < 0 ? strerror(-r) : res.err);
			exec_result_done(&res);
			return -EIO;
		}
		exec_result_done(&res);
	}
	return 0;
}

static void local_addrs(struct addr **ret, size_t *ret_n)
{
	struct ifaddrs *ifa, *i;
	size_t cap = 0;

	*ret = NULL;
	*ret_n = 0;
	if (getifaddrs(&ifa) < 0)
		return;
	for (i = ifa; i; i = i->ifa_next) {
		struct addr a = { 0 };

		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			a.family = AF_INET;
			memcpy(a.bytes, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			a.family = AF_INET6;
			memcpy(a.bytes, &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, 16);
		} else {
			continue;
		}
		VEC_PUSH(*ret, *ret_n, cap, a);
	}
	freeifaddrs(ifa);
}

/* Runs conntrack -D with the given filter; "0 entries deleted" (status 1) is not an error. */
static void conntrack_delete(struct dataplane *dp, char **args, struct diag *d)
{
	char *argv[16] = { (char *)dp->opts.conntrack, "-D", "-p", "udp" };
	struct exec_result res;
	size_t n = 4;

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

static void udp_mirror_build(const struct node_view *v, struct udp_mirror **ret, size_t *ret_n)
{
	size_t cap = 0;

	*ret = NULL;
	*ret_n = 0;
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		struct udp_mirror m = { 0 };
		size_t vcap = 0;

		if (pv->port->proto != PROTO_UDP || !pv->n_routes)
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
static void flush_stale_udp(struct dataplane *dp, struct udp_mirror *now, size_t n_now,
			    struct diag *d)
{
	for (size_t i = 0; i < n_now && dp->opts.conntrack; i++) {
		const struct udp_mirror *prev = NULL;
		char port[8], np[8];

		for (size_t k = 0; k < dp->n_udp; k++)
			if (streq(dp->udp[k].key, now[i].key))
				prev = &dp->udp[k];
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
				conntrack_delete(dp, args, d);
			}
			if (prev->node_port) {
				char *args[] = { "--orig-port-dst", np, "--dst-nat", ep, NULL };

				conntrack_delete(dp, args, d);
			}
		}
		if (!prev->n_eps && now[i].n_eps) {
			for (size_t v = 0; v < now[i].n_vips; v++) {
				char vip[ADDR_STRLEN];
				char *args[] = { "--orig-dst", vip, "--orig-port-dst", port, NULL };

				addr_format(&now[i].vips[v], vip);
				conntrack_delete(dp, args, d);
			}
			if (now[i].node_port) {
				char *args[] = { "--orig-port-dst", np, NULL };

				conntrack_delete(dp, args, d);
			}
		}
	}
}

/*
 * One line per stale per-service chain (in the mirror or, on a full sync,
 * in the kernel, but not in the new ruleset): prefix NAME suffix.
 */
static void append_stale(char **out, size_t *len, size_t *cap, const struct dataplane *dp,
			 const struct strmap *kernel, const struct strmap *next, const char *prefix,
			 const char *suffix)
{
	const struct strmap *olds[2] = { &dp->chains, kernel };

	for (int m = 0; m < 2; m++) {
		for (size_t s = 0; s < olds[m]->cap; s++) {
			const char *name = olds[m]->slots[s].key;

			if (!name || strmap_get(next, name))
				continue;
			if (m == 1 && strmap_get(&dp->chains, name))
				continue; /* listed already */
			append(out, len, cap, prefix, strlen(prefix));
			append(out, len, cap, name, strlen(name));
			append(out, len, cap, suffix, strlen(suffix));
		}
	}
}

static int ipt_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	struct ipt_opts o;
	struct table_text tables[4];
	size_t n_tables = 0, out_len = 0, out_cap = 0, n_rules = 0, n_chains = 0;
	struct strmap next, kernel, next_all;
	char *buf = NULL, *out = NULL;
	size_t len = 0;
	struct addr *locals = NULL;
	size_t n_locals = 0;
	struct udp_mirror *udp = NULL;
	size_t n_udp = 0;
	struct exec_result res = { .status = -1 };
	int r;

	full = full || !dp->synced_once;
	ipt_opts_init(&o);
	o.family = AF_INET;
	o.masquerade_bit = dp->opts.masquerade_bit;
	o.cluster_cidrs = dp->opts.cluster_cidrs;
	o.n_cluster_cidrs = dp->opts.n_cluster_cidrs;
	o.nodeport_cidrs = dp->opts.nodeport_cidrs;
	o.n_nodeport_cidrs = dp->opts.n_nodeport_cidrs;
	o.localhost_nodeports = dp->opts.localhost_nodeports;
	o.large_cluster = ipt_large_cluster(v, AF_INET);
	o.inline_remote_endpoints = !dp->opts.kube_proxy_layout;
	if (dp->opts.n_nodeport_cidrs) {
		local_addrs(&locals, &n_locals);
		o.local_addrs = locals;
		o.n_local_addrs = n_locals;
	}
	r = ipt_render_full(v, &o, &buf, &len);
	free(locals);
	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "iptables: cannot render rules: %s",
			 strerror(-r));
		return r;
	}
	strmap_init(&next);
	strmap_init(&kernel);
	strmap_init(&next_all);
	if (full) {
		r = kernel_service_chains("nat", &kernel);
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "iptables-save failed: %s",
				 strerror(-r));
			goto out;
		}
	}
	n_tables = split_tables(buf, len, tables, ARRAY_SIZE(tables));
	for (size_t t = 0; t < n_tables; t++) {
		struct table_text *tt = &tables[t];
		bool nat = streq(tt->name, "nat");

		size_t table_start = out_len;

		append(&out, &out_len, &out_cap, "*", 1);
		append(&out, &out_len, &out_cap, tt->name, strlen(tt->name));
		append(&out, &out_len, &out_cap, "\n", 1);
		/*
		 * Declarations first (a rule may jump to a chain declared later).
		 * A partial sync leaves every chain whose rules did not change as
		 * it is in the kernel: with one endpoint changed, the input is that
		 * service's chains only, which is what keeps a small change fast.
		 */
		for (size_t k = 0; k < tt->n; k++) {
			struct chain_text *c = &tt->chains[k];
			bool svc = nat && is_service_chain(c->name);
			uint64_t h = hash_bytes(c->rules ? c->rules : "", c->rules_len);
			char *key = xasprintf("%s/%s", tt->name, c->name);

			n_chains++;
			if (svc)
				strmap_put(&next, xstrdup(c->name), (void *)(uintptr_t)h);
			bool same = !full && (uint64_t)(uintptr_t)strmap_get(&dp->all, key) == h;

			/* Every chain of the new ruleset, so deleted chains leave the mirror. */
			if (strmap_put(&next_all, key, (void *)(uintptr_t)h))
				free(key); /* a chain declared twice: keep the first key */
			if (same) {
				c->decl_len = 0; /* unchanged: leave it as it is */
				continue;
			}
			append(&out, &out_len, &out_cap, c->decl, c->decl_len);
		}
		/* Stale per-service chains: flush, then delete after the rules that referenced them are gone. */
		if (nat)
			append_stale(&out, &out_len, &out_cap, dp, &kernel, &next, ":", " - [0:0]\n");
		for (size_t k = 0; k < tt->n; k++) {
			struct chain_text *c = &tt->chains[k];

			n_rules += c->rules_len ? 1 : 0;
			if (c->decl_len && c->rules)
				append(&out, &out_len, &out_cap, c->rules, c->rules_len);
		}
		if (tt->other)
			append(&out, &out_len, &out_cap, tt->other, tt->other_len);
		if (nat)
			append_stale(&out, &out_len, &out_cap, dp, &kernel, &next, "-X ", "\n");
		if (out_len == table_start + strlen(tt->name) + 2) {
			out_len = table_start; /* nothing changed in this table */
			continue;
		}
		append(&out, &out_len, &out_cap, "COMMIT\n", 7);
	}
	if (!out_len) {
		r = 0; /* nothing changed at all */
		goto applied;
	}
	{
		char *argv[] = { (char *)dp->opts.iptables_restore, "-w", "--noflush", NULL };

		r = exec_run(argv, out, out_len, 0, &res);
	}
	if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s",
			 dp->opts.iptables_restore, strerror(-r));
		goto out;
	}
	if (res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s failed (status %d): %s",
			 dp->opts.iptables_restore, res.status, res.err);
		r = -EIO;
		goto out;
	}
	/*
	 * The jumps from the built-in chains, now that their targets exist.
	 * Checked on every full sync, so a jump someone deleted comes back.
	 */
	if (full) {
		r = ensure_jumps(d);
		if (r < 0)
			goto out;
	}
applied:
	/* Applied: the new state becomes the mirror. */
	chains_clear(&dp->chains);
	dp->chains = next;
	strmap_init(&next);
	chains_clear(&dp->all);
	dp->all = next_all;
	strmap_init(&next_all);
	udp_mirror_build(v, &udp, &n_udp);
	if (dp->synced_once)
		flush_stale_udp(dp, udp, n_udp, d);
	udp_mirror_clear(dp);
	dp->udp = udp;
	dp->n_udp = n_udp;
	dp->synced_once = true;
	dp->stats.chains = n_chains;
	{
		size_t lines = 0;

		for (size_t i = 0; i < len; i++)
			lines += buf[i] == '-' && (i == 0 || buf[i - 1] == '\n');
		dp->stats.rules = lines;
	}
	(void)n_rules;
	r = 0;
out:
	if (r < 0)
		dp->stats.failures++;
	else if (full)
		dp->stats.full_syncs++;
	else
		dp->stats.partial_syncs++;
	dp->stats.syncs++;
	exec_result_done(&res);
	tables_free(tables, n_tables);
	chains_clear(&next);
	strmap_done(&next);
	chains_clear(&kernel);
	strmap_done(&kernel);
	chains_clear(&next_all);
	strmap_done(&next_all);
	free(buf);
	free(out);
	return r;
}

/* Removes kroute's chains and jumps; leaves every other rule alone. */
static int ipt_cleanup(const struct dp_opts *opts, struct diag *d)
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
		argv[n++] = "iptables";
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
	(void)kernel_service_chains("nat", &svc);
	for (int t = 0; t < 2; t++) {
		const char *table = t ? "nat" : "filter";
		struct strmap have;
		char *argv[] = { "iptables-save", "-t", (char *)table, NULL };

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
		for (size_t i = 0; i < ARRAY_SIZE(top_chains); i++) {
			if (!streq(top_chains[i][0], table) || !strmap_get(&have, top_chains[i][1]))
				continue;
			append(&in, &len, &cap, ":", 1);
			append(&in, &len, &cap, top_chains[i][1], strlen(top_chains[i][1]));
			append(&in, &len, &cap, " - [0:0]\n", 9);
		}
		if (t) {
			for (size_t s = 0; s < svc.cap; s++) {
				if (!svc.slots[s].key)
					continue;
				append(&in, &len, &cap, ":", 1);
				append(&in, &len, &cap, svc.slots[s].key, strlen(svc.slots[s].key));
				append(&in, &len, &cap, " - [0:0]\n", 9);
			}
		}
		for (size_t i = 0; i < ARRAY_SIZE(top_chains); i++) {
			if (!streq(top_chains[i][0], table) || !strmap_get(&have, top_chains[i][1]))
				continue;
			append(&in, &len, &cap, "-X ", 3);
			append(&in, &len, &cap, top_chains[i][1], strlen(top_chains[i][1]));
			append(&in, &len, &cap, "\n", 1);
		}
		if (t) {
			for (size_t s = 0; s < svc.cap; s++) {
				if (!svc.slots[s].key)
					continue;
				append(&in, &len, &cap, "-X ", 3);
				append(&in, &len, &cap, svc.slots[s].key, strlen(svc.slots[s].key));
				append(&in, &len, &cap, "\n", 1);
			}
		}
		append(&in, &len, &cap, "COMMIT\n", 7);
		chains_clear(&have);
		strmap_done(&have);
	}
	{
		char *argv[] = { (char *)opts->iptables_restore, "-w", "--noflush", NULL };

		r = exec_run(argv, in, len, 0, &res);
	}
	if (r == 0 && res.status != 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "iptables cleanup failed: %s", res.err);
		r = -EIO;
	} else if (r < 0) {
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "cannot run %s: %s",
			 opts->iptables_restore, strerror(-r));
	}
	exec_result_done(&res);
	chains_clear(&svc);
	strmap_done(&svc);
	free(in);
	return r;
}

const struct dataplane_ops dp_iptables_ops = {
	.name = "iptables",
	.new = ipt_new,
	.sync = ipt_sync,
	.cleanup = ipt_cleanup,
	.stats = ipt_stats,
	.free = ipt_free,
};
