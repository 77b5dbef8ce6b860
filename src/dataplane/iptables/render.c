/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendering the node view as iptables-restore input, rule for rule as
 * kube-proxy's iptables proxier writes it (pkg/proxy/iptables/proxier.go,
 * v1.33-1.34; kubernetes-semantics.md sections 3 and 6).
 *
 * What the view decided is read, not recomputed: a route's action says
 * whether there is a DNAT path (forward), a filter DROP (no local
 * endpoints) or a filter REJECT (no endpoints at all); uses_local picks
 * KUBE-SVL over KUBE-SVC; masquerade says whether cluster-IP traffic is
 * marked unconditionally (--masquerade-all).  Which chains exist follows
 * from the view's endpoint sets (cluster, local, all), as kube-proxy's
 * follow from CategorizeEndpoints.
 *
 * This file: the options, the shared chains and their fixed rules, and the
 * entry points.  Each service port is handled by three port-local
 * functions (port_rules.c), one per section of the output: port_filter()
 * (its rules in the filter table), port_declare() (its own nat chains) and
 * port_nat() (its rules in nat KUBE-SERVICES / KUBE-NODEPORTS and in its
 * own chains).  The same code writes a full render (one stream) and a
 * render by chain (a buffer per chain, for fragments): see render_int.h.
 *
 * Speed: a 10,000-service cluster is tens of megabytes of rules, so a full
 * render is written once, front to back, into one buffer sized up front
 * (core/sbuf.c says why large buffers ask for huge pages), with no
 * allocation per line.  That needs the filter table and every chain line
 * before the first nat rule, so ports are prepared first (plan, names,
 * tags) and written section by section.
 */
#include "dataplane/iptables/render.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/common/nodeport_addrs.h"
#include "dataplane/iptables/render_int.h"

/* kube-proxy's largeClusterEndpointsThreshold. */
#define IPT_LARGE_CLUSTER_ENDPOINTS 1000

#define NP_COMMENT "\"kubernetes service nodeports; NOTE: this must be the last rule in this chain\""

const struct ipt_jump_rule ipt_jump_rules[] = {
	{ "filter", "INPUT", "KUBE-EXTERNAL-SERVICES",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES" }, false },
	{ "filter", "FORWARD", "KUBE-EXTERNAL-SERVICES",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes externally-visible service portals", "-j", "KUBE-EXTERNAL-SERVICES" }, false },
	{ "filter", "INPUT", "KUBE-NODEPORTS",
	  { "-m", "comment", "--comment", "kubernetes health check service ports",
	    "-j", "KUBE-NODEPORTS" }, false },
	{ "filter", "FORWARD", "KUBE-SERVICES",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes service portals", "-j", "KUBE-SERVICES" }, false },
	{ "filter", "OUTPUT", "KUBE-SERVICES",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes service portals", "-j", "KUBE-SERVICES" }, false },
	{ "filter", "FORWARD", "KUBE-FORWARD",
	  { "-m", "comment", "--comment", "kubernetes forwarding rules", "-j", "KUBE-FORWARD" }, false },
	{ "filter", "INPUT", "KUBE-PROXY-FIREWALL",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL" }, false },
	{ "filter", "OUTPUT", "KUBE-PROXY-FIREWALL",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL" }, false },
	{ "filter", "FORWARD", "KUBE-PROXY-FIREWALL",
	  { "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment",
	    "kubernetes load balancer firewall", "-j", "KUBE-PROXY-FIREWALL" }, false },
	{ "nat", "OUTPUT", "KUBE-SERVICES",
	  { "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES" }, false },
	{ "nat", "PREROUTING", "KUBE-SERVICES",
	  { "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES" }, false },
	{ "nat", "POSTROUTING", "KUBE-POSTROUTING",
	  { "-m", "comment", "--comment", "kubernetes postrouting rules",
	    "-j", "KUBE-POSTROUTING" }, false },
	/* kubelet's anti-martian chain; kube-proxy ensures these jumps too (no comment). */
	{ "filter", "INPUT", "KUBE-FIREWALL", { "-j", "KUBE-FIREWALL" }, true },
	{ "filter", "OUTPUT", "KUBE-FIREWALL", { "-j", "KUBE-FIREWALL" }, true },
};

const size_t ipt_n_jump_rules = ARRAY_SIZE(ipt_jump_rules);

void ipt_opts_init(struct ipt_opts *o)
{
	*o = (struct ipt_opts){
		.family = AF_INET,
		.masquerade_bit = 14,
		.localhost_nodeports = true,
	};
}

const struct ipt_shared_chain_def ipt_shared_chains[IPT_N_SHARED] = {
	[IPT_FILTER_SERVICES] = { IPT_TABLE_FILTER, "KUBE-SERVICES" },
	[IPT_FILTER_EXTERNAL_SERVICES] = { IPT_TABLE_FILTER, "KUBE-EXTERNAL-SERVICES" },
	[IPT_FILTER_FORWARD] = { IPT_TABLE_FILTER, "KUBE-FORWARD" },
	[IPT_FILTER_NODEPORTS] = { IPT_TABLE_FILTER, "KUBE-NODEPORTS" },
	[IPT_FILTER_PROXY_FIREWALL] = { IPT_TABLE_FILTER, "KUBE-PROXY-FIREWALL" },
	[IPT_FILTER_FIREWALL] = { IPT_TABLE_FILTER, "KUBE-FIREWALL" },
	[IPT_NAT_SERVICES] = { IPT_TABLE_NAT, "KUBE-SERVICES" },
	[IPT_NAT_NODEPORTS] = { IPT_TABLE_NAT, "KUBE-NODEPORTS" },
	[IPT_NAT_POSTROUTING] = { IPT_TABLE_NAT, "KUBE-POSTROUTING" },
	[IPT_NAT_MARK_MASQ] = { IPT_TABLE_NAT, "KUBE-MARK-MASQ" },
};

/* ---- the whole ruleset ---- */

/* The last rule of nat KUBE-SERVICES: which destinations are NodePort traffic. */
static void nodeport_dispatch(struct ipt_ctx *c, bool match_all)
{
	const struct ipt_opts *o = c->o;
	struct sbuf *b = shared_buf(c, IPT_NAT_SERVICES);

	if (match_all) {
		SBUF_ADDL(b, "-A KUBE-SERVICES -m comment --comment " NP_COMMENT
			     " -m addrtype --dst-type LOCAL");
		/* Localhost NodePorts never work on IPv6; on IPv4 only with route_localnet. */
		if (o->family == AF_INET6)
			SBUF_ADDL(b, " ! -d ::1/128");
		else if (!c->localhost_np)
			SBUF_ADDL(b, " ! -d 127.0.0.0/8");
		add_target(b, "KUBE-NODEPORTS");
		return;
	}
	for (size_t i = 0; i < o->n_local_addrs; i++) {
		const struct addr *a = &o->local_addrs[i];
		char ip[ADDR_STRLEN];

		if (!nodeport_addr_ok(o->nodeport_cidrs, o->n_nodeport_cidrs, o->local_addrs, i,
				      o->family, c->localhost_np))
			continue;
		addr_format(a, ip);
		SBUF_ADDL(b, "-A KUBE-SERVICES -m comment --comment " NP_COMMENT " -d ");
		sbuf_adds(b, ip);
		add_target(b, "KUBE-NODEPORTS");
	}
}

bool ipt_localhost_nodeports(const struct ipt_opts *o)
{
	return nodeport_localhost(o->nodeport_cidrs, o->n_nodeport_cidrs, o->family,
				  o->localhost_nodeports);
}

static const struct addr *node_ip(const struct node_view *v, const struct ipt_opts *o)
{
	if (o->node_ip.family == o->family)
		return &o->node_ip;
	for (size_t i = 0; v && v->node && i < v->node->n_addresses; i++)
		if (v->node->addresses[i].family == o->family)
			return &v->node->addresses[i];
	return NULL;
}

static int ctx_init(struct ipt_ctx *c, const struct node_view *v, const struct ipt_opts *o,
		    size_t n_eps)
{
	const struct cidr *detect = NULL;

	*c = (struct ipt_ctx){ .o = o, .comments = !o->large_cluster };
	if (o->family != AF_INET && o->family != AF_INET6)
		return -EINVAL;
	if (o->masquerade_bit > 31)
		return -EINVAL;
	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		if (o->cluster_cidrs[i].addr.family != o->family)
			continue;
		/* One rule can negate only one source: kube-proxy takes one CIDR per family. */
		if (detect)
			return -EINVAL;
		detect = &o->cluster_cidrs[i];
	}
	if (detect) {
		c->detector = true;
		cidr_format(detect, c->detect_cidr);
	}
	c->mark_len = (size_t)snprintf(c->mark, sizeof(c->mark), "0x%08x", 1u << o->masquerade_bit);
	c->node_ip = node_ip(v, o);
	c->localhost_np = ipt_localhost_nodeports(o);
	c->sep_tags = xmalloc(MAX(n_eps, 1) * sizeof(*c->sep_tags));
	c->sep_state = xcalloc(MAX(n_eps, 1), 1);
	return 0;
}

static void ctx_done(struct ipt_ctx *c)
{
	sbuf_free(&c->names);
	free(c->sep_tags);
	free(c->sep_state);
	free(c->prob);
	free(c->prob_len);
	free(c->sink.own_of_ep);
	sbuf_free(&c->sink.stray);
}

bool ipt_large_cluster(const struct node_view *v, int family)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n_ports; i++) {
		struct port_shape p;

		port_shape(&v->ports[i], family, &p);
		if (p.render)
			n += v->ports[i].n_eps;
	}
	return n > IPT_LARGE_CLUSTER_ENDPOINTS;
}

/* Prepares every port (plan, names, tags); returns the bytes a full render of them may take. */
static size_t prepare_ports(struct ipt_ctx *c, const struct port_view *ports, size_t n_ports,
			    struct port_state *ps)
{
	size_t n_eps = 0, estimate = 0;

	for (size_t i = 0; i < n_ports; i++) {
		const struct port_view *pv = &ports[i];

		port_prepare(c, pv, &ps[i], n_eps);
		n_eps += pv->n_eps;
		/*
		 * Generous: measured about 430 bytes per endpoint with comments;
		 * pages never written are never faulted in.
		 */
		if (ps[i].p.render)
			estimate += 2048 + pv->n_eps * (pv->svc->affinity_client_ip ? 1200 : 700);
	}
	return estimate;
}

/* Calls write(port) for every port that renders, in view order. */
static void each_port(struct ipt_ctx *c, const struct port_view *ports, size_t n_ports,
		      struct port_state *ps, void (*write)(const struct port_ref *))
{
	for (size_t i = 0; i < n_ports; i++) {
		struct port_ref pr;

		if (!ps[i].p.render)
			continue;
		port_ref(c, &ports[i], &ps[i], &pr);
		write(&pr);
	}
}

/* The filter table's fixed rules after the ports' (KUBE-FORWARD). */
static void filter_fixed_rules(struct ipt_ctx *c)
{
	struct sbuf *b = shared_buf(c, IPT_FILTER_FORWARD);

	if (!c->o->conntrack_tcp_be_liberal) {
		/* Out-of-window packets conntrack calls INVALID would otherwise reset connections. */
		SBUF_ADDL(b, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n");
	}
	/* Accept what we marked even when the FORWARD policy is DROP. */
	SBUF_ADDL(b, "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\""
		     " -m mark --mark ");
	add_mark(c, b);
	sbuf_addc(b, '/');
	add_mark(c, b);
	SBUF_ADDL(b, " -j ACCEPT\n"
		     "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\""
		     " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n");
}

/* Masquerade what KUBE-MARK-MASQ marked, clearing the mark in case the packet loops. */
static void nat_fixed_rules(struct ipt_ctx *c)
{
	struct sbuf *b = shared_buf(c, IPT_NAT_POSTROUTING);

	SBUF_ADDL(b, "-A KUBE-POSTROUTING -m mark ! --mark ");
	add_mark(c, b);
	sbuf_addc(b, '/');
	add_mark(c, b);
	SBUF_ADDL(b, " -j RETURN\n-A KUBE-POSTROUTING -j MARK --xor-mark ");
	add_mark(c, b);
	SBUF_ADDL(b, "\n-A KUBE-POSTROUTING -m comment --comment"
		     " \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n");
	b = shared_buf(c, IPT_NAT_MARK_MASQ);
	SBUF_ADDL(b, "-A KUBE-MARK-MASQ -j MARK --or-mark ");
	add_mark(c, b);
	sbuf_addc(b, '\n');
}

/* A full render's declarations of table's shared chains (KUBE-FIREWALL is declared on its own). */
static void declare_shared_chains(struct ipt_ctx *c, enum ipt_table t)
{
	for (size_t i = 0; c->sink.stream && i < IPT_N_SHARED; i++) {
		if (ipt_shared_chains[i].table != t || i == IPT_FILTER_FIREWALL)
			continue;
		sbuf_addc(c->sink.stream, ':');
		sbuf_adds(c->sink.stream, ipt_shared_chains[i].name);
		SBUF_ADDL(c->sink.stream, " - [0:0]\n");
	}
}

/*
 * Both tables, in the order of a full render: the ports' rules and, with
 * fixed, the shared chains' fixed rules.  Headers, COMMIT lines and the
 * shared chains' declarations go to the stream only (a render by chain
 * has no stream).
 */
static void render_tables(struct ipt_ctx *c, const struct port_view *ports, size_t n_ports,
			  struct port_state *ps, bool fixed)
{
	bool has_v4_lo;

	STREAM_ONLY(c, "*filter\n");
	declare_shared_chains(c, IPT_TABLE_FILTER);
	if (c->localhost_np) {
		/*
		 * route_localnet lets 127.0.0.0/8 be routed, which would open the
		 * node's loopback services to the network (CVE-2020-8558): this
		 * is kubelet's mitigation, which kube-proxy also installs.
		 */
		STREAM_ONLY(c, ":KUBE-FIREWALL - [0:0]\n");
		if (fixed)
			SBUF_ADDL(shared_buf(c, IPT_FILTER_FIREWALL),
				  "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\""
				  " -d 127.0.0.0/8 ! -s 127.0.0.0/8"
				  " -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n");
	}
	each_port(c, ports, n_ports, ps, port_filter);
	if (fixed)
		filter_fixed_rules(c);
	STREAM_ONLY(c, "COMMIT\n*nat\n");
	declare_shared_chains(c, IPT_TABLE_NAT);
	each_port(c, ports, n_ports, ps, port_declare);
	if (fixed)
		nat_fixed_rules(c);
	each_port(c, ports, n_ports, ps, port_nat);
	if (fixed)
		nodeport_dispatch(c, nodeport_match_all(c->o->nodeport_cidrs, c->o->n_nodeport_cidrs,
						     c->o->family, &has_v4_lo));
	STREAM_ONLY(c, "COMMIT\n");
}

int ipt_render_full(const struct node_view *v, const struct ipt_opts *o, char **ret_buf,
		    size_t *ret_len)
{
	struct ipt_ctx c;
	struct port_state *ps;
	struct sbuf b = { 0 };
	size_t n_eps = 0;
	int r;

	for (size_t i = 0; i < v->n_ports; i++)
		n_eps += v->ports[i].n_eps;
	r = ctx_init(&c, v, o, n_eps);
	if (r < 0)
		return r;
	ps = xcalloc(MAX(v->n_ports, 1), sizeof(*ps));
	/* The fixed chains take about 2 KB; a big view's buffer starts large to avoid copies. */
	sbuf_reserve(&b, (v->n_ports > 1 ? 65536 : 4096) + prepare_ports(&c, v->ports, v->n_ports, ps));
	c.sink.stream = &b;
	render_tables(&c, v->ports, v->n_ports, ps, true);
	free(ps);
	ctx_done(&c);
	*ret_len = b.len;
	*ret_buf = sbuf_cstr(&b);
	return 0;
}

void ipt_chains_done(struct ipt_chains *ch)
{
	for (size_t i = 0; i < IPT_N_SHARED; i++)
		sbuf_free(&ch->shared[i]);
	for (size_t i = 0; i < ch->n_ready; i++)
		sbuf_free(&ch->own[i].rules);
	free(ch->own);
	*ch = (struct ipt_chains){ 0 };
}

int ipt_render_chains(const struct node_view *v, const struct port_view *pv,
		      const struct ipt_opts *o, struct ipt_chains *ret)
{
	struct ipt_ctx c;
	struct port_state ps;
	size_t n_eps = pv ? pv->n_eps : 0;
	int r;

	for (size_t i = 0; i < IPT_N_SHARED; i++)
		ret->shared[i].len = 0;
	ret->n_own = 0;
	r = ctx_init(&c, v, o, n_eps);
	if (r < 0)
		return r;
	c.sink.shared = ret->shared;
	c.sink.own = ret->own;
	c.sink.n_ready = ret->n_ready;
	c.sink.cap_own = ret->cap_own;
	c.sink.own_of_ep = xcalloc(MAX(n_eps, 1), sizeof(*c.sink.own_of_ep));
	if (pv)
		(void)prepare_ports(&c, pv, 1, &ps);
	render_tables(&c, pv, pv ? 1 : 0, &ps, !pv);
	for (size_t i = 0; i < IPT_N_SHARED; i++)
		ret->declared[i] = i != IPT_FILTER_FIREWALL || c.localhost_np;
	ret->own = c.sink.own;
	ret->n_own = c.sink.n_own;
	ret->n_ready = c.sink.n_ready;
	ret->cap_own = c.sink.cap_own;
	r = c.sink.bad ? -EPROTO : 0;
	ctx_done(&c);
	return r;
}

void ipt_port_chains(const struct port_view *pv, const struct ipt_opts *o,
		     struct ipt_chain_list *out)
{
	struct ipt_chains ch = { 0 };

	/* The chains a render by chain declares for the port, so the list cannot drift from it. */
	if (ipt_render_chains(NULL, pv, o, &ch) < 0) {
		ipt_chains_done(&ch);
		return;
	}
	for (size_t i = 0; i < ch.n_own; i++) {
		out->names = xgrow(out->names, &out->cap, out->n + 1, sizeof(*out->names));
		memcpy(out->names[out->n++], ch.own[i].name, IPT_CHAIN_NAME_MAX);
	}
	ipt_chains_done(&ch);
}

void ipt_chain_list_done(struct ipt_chain_list *l)
{
	free(l->names);
	*l = (struct ipt_chain_list){ 0 };
}
