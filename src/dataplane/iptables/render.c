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
 * Each service port is handled by three port-local functions, one per
 * section of the output: port_filter() (its rules in the filter table),
 * port_declare() (its own nat chains) and port_nat() (its rules in nat
 * KUBE-SERVICES / KUBE-NODEPORTS and, optionally, in its own chains).  A
 * partial sync can therefore rewrite the shared chains whole, as
 * kube-proxy does, and the own chains of changed ports only.
 *
 * Speed: a 10,000-service cluster is tens of megabytes of rules, so the
 * whole output is written once, front to back, into one buffer sized up
 * front (see buf.c for why it asks for huge pages), with no allocation per
 * line.  That needs the filter table and every chain line before the
 * first nat rule, so ports are prepared first (plan, names, tags) and
 * written section by section.
 */
#include "dataplane/iptables/render.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "core/sbuf.h"

/* kube-proxy's largeClusterEndpointsThreshold. */
#define IPT_LARGE_CLUSTER_ENDPOINTS 1000
/* Longest service-port name put in a comment; the kernel's limit is 255 bytes. */
#define IPT_COMMENT_NAME_MAX 180

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

enum chain_kind {
	CH_SVC,
	CH_SVL,
	CH_EXT,
	CH_FW,
	CH_SEP,
};

static const struct {
	const char *s;
	size_t n;
} prefixes[] = {
	[CH_SVC] = { IPT_PREFIX_SVC, sizeof(IPT_PREFIX_SVC) - 1 },
	[CH_SVL] = { IPT_PREFIX_SVL, sizeof(IPT_PREFIX_SVL) - 1 },
	[CH_EXT] = { IPT_PREFIX_EXT, sizeof(IPT_PREFIX_EXT) - 1 },
	[CH_FW] = { IPT_PREFIX_FW, sizeof(IPT_PREFIX_FW) - 1 },
	[CH_SEP] = { IPT_PREFIX_SEP, sizeof(IPT_PREFIX_SEP) - 1 },
};

/* What one service port renders to; the same for rules and for chain lists. */
struct port_plan {
	bool render;              /* false: this port contributes nothing */
	const struct route *cip;  /* the cluster-IP route */
	bool has_svc, has_svl;    /* KUBE-SVC / KUBE-SVL chains (non-empty endpoint sets) */
	bool has_ext;             /* KUBE-EXT: externally reachable and endpoints exist somewhere */
	bool ext_local;           /* external traffic policy Local: EXT short-circuits, then SVL */
	bool ext_forward;         /* EXT ends with a jump to its policy chain */
	bool int_forward;         /* the cluster IP jumps to its policy chain */
	const struct route *fw;   /* an LB route whose source ranges make KUBE-FW; NULL: none */
};

/* Bits of ipt_ctx.sep_state. */
#define SEP_TAG 1u      /* sep_tags[] computed */
#define SEP_DECLARED 2u /* chain line written */
#define SEP_WRITTEN 4u  /* chain rules written */

struct port_state {
	struct port_plan p;
	char tag[IPT_TAG_LEN];
	size_t name_off, name_len;   /* servicePortName in ipt_ctx.names, NUL-terminated */
	size_t cname_off, cname_len; /* the same made safe for comments */
	size_t ep_base;              /* pv->eps[0]'s index in sep_tags / sep_state */
};

struct ipt_ctx {
	const struct ipt_opts *o;
	bool comments;                 /* per-endpoint comments (off in large clusters) */
	char mark[16];                 /* "0x00004000", as kube-proxy's "%#08x" prints it */
	size_t mark_len;
	bool detector;
	char detect_cidr[ADDR_STRLEN + 4];
	bool localhost_np;             /* localhost NodePorts in effect */
	const struct addr *node_ip;    /* NULL: unknown */
	struct sbuf names;          /* servicePortNames, see port_state */
	char (*sep_tags)[IPT_TAG_LEN];
	unsigned char *sep_state;
	/* "%0.10f" of 1/n for 1 <= n < n_prob, with its length. */
	char (*prob)[16];
	unsigned char *prob_len;
	size_t n_prob;
};

/* The port being written: what the helpers below need about it. */
struct port_ref {
	struct ipt_ctx *c;
	const struct port_view *pv;
	struct port_state *ps;
	const char *name;              /* servicePortName, NUL-terminated */
	const char *cname;
	size_t cname_len;
	const char *proto;             /* "tcp" */
	size_t proto_len;
};

static bool route_external(const struct route *r)
{
	return r->kind != ROUTE_CLUSTER_IP && r->allocated;
}

static size_t fw_ranges(const struct route *r, int family)
{
	size_t n = 0;

	/* kube-proxy keeps only the ranges of the proxier's family. */
	for (size_t i = 0; i < r->n_source_ranges; i++)
		n += r->source_ranges[i].addr.family == family;
	return n;
}

static void plan_port(const struct port_view *pv, int family, struct port_plan *p)
{
	const struct route *ext = NULL;

	*p = (struct port_plan){ 0 };
	if (pv->family != family)
		return;
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];

		if (r->kind == ROUTE_CLUSTER_IP && !p->cip)
			p->cip = r;
		else if (route_external(r) && !ext)
			ext = r;
	}
	/*
	 * kube-proxy skips a service whose cluster IP is unset (headless, or
	 * not allocated yet) entirely, NodePorts and external IPs included
	 * (ShouldSkipService).  Headless and ExternalName ports have no routes.
	 */
	if (!p->cip || !p->cip->allocated)
		return;
	p->render = true;
	p->has_svc = !pv->cat.cluster.nil && pv->cat.cluster.n > 0;
	p->has_svl = !pv->cat.local.nil && pv->cat.local.n > 0;
	/*
	 * A forward route whose chain is missing cannot come from
	 * policy_build_view(); it renders as no rule rather than as a jump to
	 * an undeclared chain, which iptables-restore would reject together
	 * with every other service's update.
	 */
	p->int_forward = p->cip->action == ACTION_FORWARD &&
			 (p->cip->uses_local ? p->has_svl : p->has_svc);
	if (ext && ext->action != ACTION_REJECT) {
		p->has_ext = true;
		p->ext_local = ext->uses_local;
		p->ext_forward = ext->action == ACTION_FORWARD &&
				 (ext->uses_local ? p->has_svl : p->has_svc);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];

		if (r->kind == ROUTE_LOAD_BALANCER && r->allocated && r->action != ACTION_REJECT &&
		    fw_ranges(r, family)) {
			p->fw = r;
			break;
		}
	}
}

/* The endpoint sets whose members get SEP chains, in declaration order (NULL: skip). */
static const struct ep_set *sep_set(const struct port_view *pv, const struct port_plan *p, int i)
{
	switch (i) {
	case 0:
		return &pv->cat.all;
	case 1:
		/* Subsets of "all" in a consistent view; listed so a jump never lacks its chain. */
		return p->has_svc ? &pv->cat.cluster : NULL;
	default:
		return p->has_svl ? &pv->cat.local : NULL;
	}
}

static const char *probability(struct ipt_ctx *c, size_t n, size_t *ret_len)
{
	if (n >= c->n_prob) {
		size_t want = MAX(n + 1, 2 * c->n_prob);

		c->prob = xrealloc(c->prob, want * sizeof(*c->prob));
		c->prob_len = xrealloc(c->prob_len, want);
		for (size_t i = c->n_prob ? c->n_prob : 1; i < want; i++)
			c->prob_len[i] = (unsigned char)snprintf(c->prob[i], sizeof(c->prob[i]),
								 "%0.10f", 1.0 / (double)i);
		c->n_prob = want;
	}
	*ret_len = c->prob_len[n];
	return c->prob[n];
}

static bool has_detector(const struct ipt_opts *o)
{
	for (size_t i = 0; i < o->n_cluster_cidrs; i++)
		if (o->cluster_cidrs[i].addr.family == o->family)
			return true;
	return false;
}

/* Whether endpoint e of this port is DNATed inline, without a SEP chain (see render.h). */
static bool sep_inline(const struct ipt_opts *o, const struct port_view *pv,
		       const struct port_plan *p, const struct ep *e)
{
	if (!o->inline_remote_endpoints || e->is_local || pv->svc->affinity_client_ip)
		return false;
	return !(p->has_ext && p->ext_local && has_detector(o));
}

/* ---- writing pieces of rules ---- */

static void add_chain(struct sbuf *b, enum chain_kind k, const char tag[IPT_TAG_LEN])
{
	sbuf_add(b, prefixes[k].s, prefixes[k].n);
	sbuf_add(b, tag, IPT_TAG_LEN);
}

static void declare_chain(struct sbuf *b, enum chain_kind k, const char tag[IPT_TAG_LEN])
{
	sbuf_addc(b, ':');
	add_chain(b, k, tag);
	SBUF_ADDL(b, " - [0:0]\n");
}

/* "-A <chain>" */
static void start_rule(struct sbuf *b, enum chain_kind k, const char tag[IPT_TAG_LEN])
{
	SBUF_ADDL(b, "-A ");
	add_chain(b, k, tag);
}

static void add_cname(const struct port_ref *r, struct sbuf *b)
{
	sbuf_add(b, r->cname, r->cname_len);
}

/* ` -m comment --comment "<prefix><name><suffix>"` */
static void add_comment(const struct port_ref *r, struct sbuf *b, const char *prefix,
			const char *suffix)
{
	SBUF_ADDL(b, " -m comment --comment \"");
	sbuf_adds(b, prefix);
	add_cname(r, b);
	sbuf_adds(b, suffix);
	sbuf_addc(b, '"');
}

/* ` -m tcp -p tcp`: kube-proxy loads the protocol's match module for --dport. */
static void add_proto(const struct port_ref *r, struct sbuf *b)
{
	SBUF_ADDL(b, " -m ");
	sbuf_add(b, r->proto, r->proto_len);
	SBUF_ADDL(b, " -p ");
	sbuf_add(b, r->proto, r->proto_len);
}

/* ` -d <ip> --dport <port>` */
static void add_dst(struct sbuf *b, const char *ip, uint16_t port)
{
	SBUF_ADDL(b, " -d ");
	sbuf_adds(b, ip);
	SBUF_ADDL(b, " --dport ");
	sbuf_addu(b, port);
}

static void add_target(struct sbuf *b, const char *target)
{
	SBUF_ADDL(b, " -j ");
	sbuf_adds(b, target);
	sbuf_addc(b, '\n');
}

static void add_jump(struct sbuf *b, enum chain_kind k, const char tag[IPT_TAG_LEN])
{
	SBUF_ADDL(b, " -j ");
	add_chain(b, k, tag);
	sbuf_addc(b, '\n');
}

/* The bare IP of an endpoint key ("10.0.0.1:80" or "[fd00::1]:80"). */
static void add_ep_ip(struct sbuf *b, const struct ep *e)
{
	const char *k = e->key;

	if (k[0] == '[') {
		const char *end = strchr(k, ']');

		sbuf_add(b, k + 1, end ? (size_t)(end - k - 1) : strlen(k + 1));
	} else {
		const char *colon = strrchr(k, ':');

		sbuf_add(b, k, colon ? (size_t)(colon - k) : strlen(k));
	}
}

/* ` -m comment --comment "<name> -> <ip:port>"` */
static void add_ep_comment(const struct port_ref *r, struct sbuf *b, const struct ep *e)
{
	SBUF_ADDL(b, " -m comment --comment \"");
	add_cname(r, b);
	SBUF_ADDL(b, " -> ");
	sbuf_adds(b, e->key);
	sbuf_addc(b, '"');
}

static const char *filter_target(const struct route *r)
{
	return r->action == ACTION_REJECT ? "REJECT" : "DROP";
}

static const char *filter_comment(const struct route *r)
{
	return r->action == ACTION_REJECT ? " has no endpoints" : " has no local endpoints";
}

/* ---- per port ---- */

/*
 * The servicePortName ("ns/name:port", or "ns/name" for an unnamed port)
 * raw for hashing, and for comments with anything but [A-Za-z0-9._/:-]
 * replaced: the API server's validation already guarantees that, but a
 * quote or a space in a comment would change the meaning of the restore
 * line, so the renderer does not rely on its input's validation.
 */
static void port_names(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps)
{
	const struct service *svc = pv->svc;
	const char *port = pv->port->name;
	struct sbuf *b = &c->names;

	ps->name_off = b->len;
	sbuf_adds(b, svc->ns);
	sbuf_addc(b, '/');
	sbuf_adds(b, svc->name);
	if (port && *port) {
		sbuf_addc(b, ':');
		sbuf_adds(b, port);
	}
	ps->name_len = b->len - ps->name_off;
	sbuf_addc(b, '\0');
	ps->cname_off = b->len;
	for (size_t i = 0; i < ps->name_len && i < IPT_COMMENT_NAME_MAX; i++) {
		char ch = b->p[ps->name_off + i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || (ch && strchr("._/:-", ch));

		sbuf_addc(b, ok ? ch : '_');
	}
	ps->cname_len = b->len - ps->cname_off;
}

/* Plans the port and computes its names and tag; its endpoints start at ep_base. */
static void port_prepare(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps,
			 size_t ep_base)
{
	plan_port(pv, c->o->family, &ps->p);
	ps->ep_base = ep_base;
	if (!ps->p.render)
		return;
	port_names(c, pv, ps);
	/* portProtoHash: the names buffer is NUL-terminated after the name. */
	ipt_tag(c->names.p + ps->name_off, proto_name_lower(pv->port->proto), NULL, ps->tag);
}

/* After every port_prepare(): names no longer move. */
static void port_ref(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps,
		     struct port_ref *r)
{
	*r = (struct port_ref){
		.c = c, .pv = pv, .ps = ps,
		.name = c->names.p + ps->name_off,
		.cname = c->names.p + ps->cname_off,
		.cname_len = ps->cname_len,
		.proto = proto_name_lower(pv->port->proto),
	};
	r->proto_len = strlen(r->proto);
}

static const char *sep_tag(const struct port_ref *r, const struct ep *e, unsigned char **ret_state)
{
	size_t i = r->ps->ep_base + (size_t)(e - r->pv->eps);
	struct ipt_ctx *c = r->c;

	if (!(c->sep_state[i] & SEP_TAG)) {
		ipt_tag(r->name, r->proto, e->key, c->sep_tags[i]);
		c->sep_state[i] |= SEP_TAG;
	}
	if (ret_state)
		*ret_state = &c->sep_state[i];
	return c->sep_tags[i];
}

/* The port's rules in the filter table: REJECT / DROP, LB firewall drops, health-check accept. */
static void port_filter(const struct port_ref *r, struct sbuf *b)
{
	const struct port_view *pv = r->pv;
	const struct port_plan *p = &r->ps->p;
	const struct route *cip = p->cip;
	char ip[ADDR_STRLEN], fw_comment[64];

	if (cip->action != ACTION_FORWARD) {
		addr_format(&cip->addr, ip);
		SBUF_ADDL(b, "-A KUBE-SERVICES");
		add_comment(r, b, "", filter_comment(cip));
		add_proto(r, b);
		add_dst(b, ip, pv->port->port);
		add_target(b, filter_target(cip));
	}
	/* External IPs, then LB IPs, then the NodePort: kube-proxy's order. */
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_EXTERNAL_IP || !e->allocated || e->action == ACTION_FORWARD)
			continue;
		addr_format(&e->addr, ip);
		SBUF_ADDL(b, "-A KUBE-EXTERNAL-SERVICES");
		add_comment(r, b, "", filter_comment(e));
		add_proto(r, b);
		add_dst(b, ip, pv->port->port);
		add_target(b, filter_target(e));
	}
	snprintf(fw_comment, sizeof(fw_comment), " traffic not accepted by %s%.*s", IPT_PREFIX_FW,
		 IPT_TAG_LEN, r->ps->tag);
	for (size_t i = 0; p->fw && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_LOAD_BALANCER || !e->allocated || !fw_ranges(e, r->c->o->family))
			continue;
		/* Reached only by traffic KUBE-FW did not accept (so it was not DNATed). */
		addr_format(&e->addr, ip);
		SBUF_ADDL(b, "-A KUBE-PROXY-FIREWALL");
		add_comment(r, b, "", fw_comment);
		add_proto(r, b);
		add_dst(b, ip, pv->port->port);
		add_target(b, "DROP");
	}
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_LOAD_BALANCER || !e->allocated || e->action == ACTION_FORWARD)
			continue;
		addr_format(&e->addr, ip);
		SBUF_ADDL(b, "-A KUBE-EXTERNAL-SERVICES");
		add_comment(r, b, "", filter_comment(e));
		add_proto(r, b);
		add_dst(b, ip, pv->port->port);
		add_target(b, filter_target(e));
	}
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_NODE_PORT || !e->allocated || e->action == ACTION_FORWARD)
			continue;
		SBUF_ADDL(b, "-A KUBE-EXTERNAL-SERVICES");
		add_comment(r, b, "", filter_comment(e));
		SBUF_ADDL(b, " -m addrtype --dst-type LOCAL");
		add_proto(r, b);
		SBUF_ADDL(b, " --dport ");
		sbuf_addu(b, e->port);
		add_target(b, filter_target(e));
	}
	/* kube-proxy serves the health check (and opens it) whether or not there are endpoints. */
	if (pv->svc->type == SVC_LOAD_BALANCER && pv->svc->etp == POLICY_LOCAL &&
	    pv->svc->health_check_node_port) {
		SBUF_ADDL(b, "-A KUBE-NODEPORTS");
		add_comment(r, b, "", " health check node port");
		SBUF_ADDL(b, " -m tcp -p tcp --dport ");
		sbuf_addu(b, pv->svc->health_check_node_port);
		add_target(b, "ACCEPT");
	}
}

/* The port's own nat chains: EXT, FW, SVC, SVL, then one SEP per endpoint. */
static void port_declare(const struct port_ref *r, struct sbuf *b)
{
	const struct port_plan *p = &r->ps->p;
	const char *tag = r->ps->tag;

	if (p->has_ext)
		declare_chain(b, CH_EXT, tag);
	if (p->fw)
		declare_chain(b, CH_FW, tag);
	if (p->has_svc)
		declare_chain(b, CH_SVC, tag);
	if (p->has_svl)
		declare_chain(b, CH_SVL, tag);
	for (int s = 0; s < 3; s++) {
		const struct ep_set *set = sep_set(r->pv, p, s);

		for (size_t i = 0; set && i < set->n; i++) {
			unsigned char *st;
			const char *t;

			if (sep_inline(r->c->o, r->pv, p, set->v[i]))
				continue;
			t = sep_tag(r, set->v[i], &st);
			if (*st & SEP_DECLARED)
				continue;
			*st |= SEP_DECLARED;
			declare_chain(b, CH_SEP, t);
		}
	}
}

/*
 * The SVC or SVL chain: affinity checks first (a remembered client goes
 * back to its endpoint), then one rule per endpoint, each but the last
 * taking 1/(n-i) of what is left, so every endpoint gets 1/n.
 */
static void endpoint_dispatch(const struct port_ref *r, struct sbuf *b, enum chain_kind k,
			      const struct ep_set *set)
{
	const struct service *svc = r->pv->svc;
	const char *tag = r->ps->tag;

	for (size_t i = 0; svc->affinity_client_ip && i < set->n; i++) {
		const char *st = sep_tag(r, set->v[i], NULL);

		start_rule(b, k, tag);
		if (r->c->comments)
			add_ep_comment(r, b, set->v[i]);
		SBUF_ADDL(b, " -m recent --name ");
		add_chain(b, CH_SEP, st);
		SBUF_ADDL(b, " --rcheck --seconds ");
		sbuf_addu(b, svc->affinity_timeout);
		SBUF_ADDL(b, " --reap");
		add_jump(b, CH_SEP, st);
	}
	for (size_t i = 0; i < set->n; i++) {
		const char *st = sep_tag(r, set->v[i], NULL);

		start_rule(b, k, tag);
		if (r->c->comments)
			add_ep_comment(r, b, set->v[i]);
		if (i + 1 < set->n) {
			size_t len;
			const char *pr = probability(r->c, set->n - i, &len);

			SBUF_ADDL(b, " -m statistic --mode random --probability ");
			sbuf_add(b, pr, len);
		}
		if (sep_inline(r->c->o, r->pv, &r->ps->p, set->v[i])) {
			add_proto(r, b);
			SBUF_ADDL(b, " -j DNAT --to-destination ");
			sbuf_adds(b, set->v[i]->key);
			sbuf_addc(b, '\n');
			continue;
		}
		add_jump(b, CH_SEP, st);
	}
}

/* One KUBE-SEP chain: hairpin masquerade, then DNAT (recording the client for affinity). */
static void endpoint_chain(const struct port_ref *r, struct sbuf *b, const struct ep *e)
{
	unsigned char *state;
	const char *st = sep_tag(r, e, &state);

	if (*state & SEP_WRITTEN)
		return;
	*state |= SEP_WRITTEN;

	/* A pod reaching itself through the service must be masqueraded, or it answers itself. */
	start_rule(b, CH_SEP, st);
	if (r->c->comments) {
		SBUF_ADDL(b, " -m comment --comment ");
		add_cname(r, b);
	}
	SBUF_ADDL(b, " -s ");
	add_ep_ip(b, e);
	add_target(b, "KUBE-MARK-MASQ");

	start_rule(b, CH_SEP, st);
	if (r->c->comments) {
		SBUF_ADDL(b, " -m comment --comment ");
		add_cname(r, b);
	}
	if (r->pv->svc->affinity_client_ip) {
		SBUF_ADDL(b, " -m recent --name ");
		add_chain(b, CH_SEP, st);
		SBUF_ADDL(b, " --set");
	}
	add_proto(r, b);
	SBUF_ADDL(b, " -j DNAT --to-destination ");
	sbuf_adds(b, e->key);
	sbuf_addc(b, '\n');
}

/* `-A KUBE-SERVICES ... -d ip --dport port -j <chain>` for one of the port's addresses. */
static void services_rule(const struct port_ref *r, struct sbuf *b, const char *ip,
			  const char *comment, enum chain_kind k)
{
	SBUF_ADDL(b, "-A KUBE-SERVICES");
	add_comment(r, b, "", comment);
	add_proto(r, b);
	add_dst(b, ip, r->pv->port->port);
	add_jump(b, k, r->ps->tag);
}

/*
 * The port's nat rules: its entries in KUBE-SERVICES and KUBE-NODEPORTS
 * and, with own_chains, the rules of its own chains (declared by
 * port_declare()).  Rule order inside each chain is kube-proxy's.
 */
static void port_nat(const struct port_ref *r, struct sbuf *b, bool own_chains)
{
	struct ipt_ctx *c = r->c;
	const struct port_view *pv = r->pv;
	const struct port_plan *p = &r->ps->p;
	const struct route *cip = p->cip;
	const char *tag = r->ps->tag;
	enum chain_kind ichain = cip->uses_local ? CH_SVL : CH_SVC;
	char cip_s[ADDR_STRLEN], ip[ADDR_STRLEN];

	addr_format(&cip->addr, cip_s);
	if (p->int_forward)
		services_rule(r, b, cip_s, " cluster IP", ichain);
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_EXTERNAL_IP || !e->allocated || e->action == ACTION_REJECT)
			continue;
		addr_format(&e->addr, ip);
		services_rule(r, b, ip, " external IP", CH_EXT);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_LOAD_BALANCER || !e->allocated || e->action == ACTION_REJECT)
			continue;
		addr_format(&e->addr, ip);
		services_rule(r, b, ip, " loadbalancer IP",
			      p->fw && fw_ranges(e, c->o->family) ? CH_FW : CH_EXT);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		/* NodePorts are not subject to loadBalancerSourceRanges (as upstream). */
		if (e->kind != ROUTE_NODE_PORT || !e->allocated || e->action == ACTION_REJECT)
			continue;
		SBUF_ADDL(b, "-A KUBE-NODEPORTS -m comment --comment ");
		add_cname(r, b);
		add_proto(r, b);
		SBUF_ADDL(b, " --dport ");
		sbuf_addu(b, e->port);
		add_jump(b, CH_EXT, tag);
	}
	if (!own_chains)
		return;

	/*
	 * Cluster-IP masquerade, first in the internal chain: everything with
	 * --masquerade-all, else traffic not from a pod ("off-cluster to VIP":
	 * the node may have been used as a router into the service range).
	 */
	if (p->int_forward && (cip->masquerade || c->detector)) {
		start_rule(b, ichain, tag);
		add_comment(r, b, "", " cluster IP");
		add_proto(r, b);
		add_dst(b, cip_s, pv->port->port);
		if (!cip->masquerade) {
			SBUF_ADDL(b, " ! -s ");
			sbuf_adds(b, c->detect_cidr);
		}
		add_target(b, "KUBE-MARK-MASQ");
	}

	if (p->has_ext) {
		if (!p->ext_local) {
			/* Endpoints may be on another node: masquerade so replies come back here. */
			start_rule(b, CH_EXT, tag);
			add_comment(r, b, "masquerade traffic for ", " external destinations");
			add_target(b, "KUBE-MARK-MASQ");
		} else {
			/*
			 * Pods reaching an external address of the service act as
			 * if they went out to the load balancer and came back:
			 * any endpoint, source kept.
			 */
			if (c->detector && p->has_svc) {
				start_rule(b, CH_EXT, tag);
				add_comment(r, b, "pod traffic for ", " external destinations");
				SBUF_ADDL(b, " -s ");
				sbuf_adds(b, c->detect_cidr);
				add_jump(b, CH_SVC, tag);
			}
			/* The host's own traffic has a local source (maybe the LB IP): masquerade it. */
			start_rule(b, CH_EXT, tag);
			add_comment(r, b, "masquerade LOCAL traffic for ", " external destinations");
			SBUF_ADDL(b, " -m addrtype --src-type LOCAL");
			add_target(b, "KUBE-MARK-MASQ");
			if (p->has_svc) {
				start_rule(b, CH_EXT, tag);
				add_comment(r, b, "route LOCAL traffic for ", " external destinations");
				SBUF_ADDL(b, " -m addrtype --src-type LOCAL");
				add_jump(b, CH_SVC, tag);
			}
		}
		/* Without it (no local endpoints) the packet falls through to the filter DROP. */
		if (p->ext_forward) {
			start_rule(b, CH_EXT, tag);
			add_jump(b, p->ext_local ? CH_SVL : CH_SVC, tag);
		}
	}

	if (p->fw) {
		bool from_node = false;

		for (size_t i = 0; i < p->fw->n_source_ranges; i++) {
			const struct cidr *cr = &p->fw->source_ranges[i];
			char s[ADDR_STRLEN + 4];

			if (cr->addr.family != c->o->family)
				continue;
			cidr_format(cr, s);
			start_rule(b, CH_FW, tag);
			add_comment(r, b, "", " loadbalancer IP");
			SBUF_ADDL(b, " -s ");
			sbuf_adds(b, s);
			add_jump(b, CH_EXT, tag);
			if (c->node_ip && cidr_contains(cr, c->node_ip))
				from_node = true;
		}
		/*
		 * A VIP-style load balancer often has its IP on the node, so the
		 * node's own request arrives with the LB IP as source: allowed
		 * when the node itself is.
		 */
		for (size_t i = 0; from_node && i < pv->n_routes; i++) {
			const struct route *lb = &pv->routes[i];

			if (lb->kind != ROUTE_LOAD_BALANCER || !lb->allocated)
				continue;
			addr_format(&lb->addr, ip);
			start_rule(b, CH_FW, tag);
			add_comment(r, b, "", " loadbalancer IP");
			SBUF_ADDL(b, " -s ");
			sbuf_adds(b, ip);
			add_jump(b, CH_EXT, tag);
		}
		/* Falling off the end: not DNATed, so KUBE-PROXY-FIREWALL drops it. */
		start_rule(b, CH_FW, tag);
		add_comment(r, b, "other traffic to ", " will be dropped by KUBE-PROXY-FIREWALL");
		sbuf_addc(b, '\n');
	}

	if (p->has_svc)
		endpoint_dispatch(r, b, CH_SVC, &pv->cat.cluster);
	if (p->has_svl)
		endpoint_dispatch(r, b, CH_SVL, &pv->cat.local);
	for (int s = 0; s < 3; s++) {
		const struct ep_set *set = sep_set(pv, p, s);

		for (size_t i = 0; set && i < set->n; i++)
			if (!sep_inline(c->o, pv, p, set->v[i]))
				endpoint_chain(r, b, set->v[i]);
	}
}

/* ---- the whole ruleset ---- */

/* 127.0.0.0/8 or ::1: addresses NodePorts are not reached on unless allowed. */
static bool is_loopback(const struct addr *a)
{
	static const uint8_t v6_lo[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->bytes[0] == 127;
	return a->family == AF_INET6 && memcmp(a->bytes, v6_lo, 16) == 0;
}

/* The last rule of nat KUBE-SERVICES: which destinations are NodePort traffic. */
static void nodeport_dispatch(struct ipt_ctx *c, struct sbuf *b, bool match_all)
{
	const struct ipt_opts *o = c->o;

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
		bool in = false, dup = false;
		char ip[ADDR_STRLEN];

		if (a->family != o->family)
			continue;
		for (size_t k = 0; k < o->n_nodeport_cidrs && !in; k++)
			in = o->nodeport_cidrs[k].addr.family == o->family &&
			     cidr_contains(&o->nodeport_cidrs[k], a);
		for (size_t k = 0; k < i && !dup; k++)
			dup = addr_eq(&o->local_addrs[k], a);
		if (!in || dup)
			continue;
		if (is_loopback(a) && (o->family == AF_INET6 || !c->localhost_np))
			continue;
		addr_format(a, ip);
		SBUF_ADDL(b, "-A KUBE-SERVICES -m comment --comment " NP_COMMENT " -d ");
		sbuf_adds(b, ip);
		add_target(b, "KUBE-NODEPORTS");
	}
}

/* --nodeport-addresses as kube-proxy's NodePortAddresses reads it, for this family. */
static bool nodeport_match_all(const struct ipt_opts *o, bool *ret_has_v4_loopback)
{
	struct addr lo = { .family = AF_INET, .bytes = { 127, 0, 0, 1 } };
	bool any = false;

	*ret_has_v4_loopback = false;
	for (size_t i = 0; i < o->n_nodeport_cidrs; i++) {
		const struct cidr *cr = &o->nodeport_cidrs[i];

		if (cr->addr.family != o->family)
			continue;
		any = true;
		if (o->family == AF_INET && cidr_contains(cr, &lo))
			*ret_has_v4_loopback = true;
		if (cr->prefix == 0)
			return true;
	}
	if (!any)
		*ret_has_v4_loopback = o->family == AF_INET; /* as 0.0.0.0/0 */
	return !any;
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
	bool has_v4_lo;

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
	(void)nodeport_match_all(o, &has_v4_lo);
	c->localhost_np = o->localhost_nodeports && o->family == AF_INET && has_v4_lo;
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
}

static void add_mark(struct ipt_ctx *c, struct sbuf *b)
{
	sbuf_add(b, c->mark, c->mark_len);
}

bool ipt_large_cluster(const struct node_view *v, int family)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n_ports; i++) {
		struct port_plan p;

		plan_port(&v->ports[i], family, &p);
		if (p.render)
			n += v->ports[i].n_eps;
	}
	return n > IPT_LARGE_CLUSTER_ENDPOINTS;
}

int ipt_render_full(const struct node_view *v, const struct ipt_opts *o, char **ret_buf,
		    size_t *ret_len)
{
	struct ipt_ctx c;
	struct port_state *ps;
	struct sbuf b = { 0 };
	/* The fixed chains take about 2 KB; a big view's buffer starts large to avoid copies. */
	size_t n_eps = 0, estimate = v->n_ports > 1 ? 65536 : 4096;
	bool has_v4_lo;
	int r;

	for (size_t i = 0; i < v->n_ports; i++)
		n_eps += v->ports[i].n_eps;
	r = ctx_init(&c, v, o, n_eps);
	if (r < 0)
		return r;
	ps = xcalloc(MAX(v->n_ports, 1), sizeof(*ps));
	n_eps = 0;
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];

		port_prepare(&c, pv, &ps[i], n_eps);
		n_eps += pv->n_eps;
		/*
		 * Generous: measured about 430 bytes per endpoint with comments;
		 * pages never written are never faulted in.
		 */
		if (ps[i].p.render)
			estimate += 2048 + pv->n_eps * (pv->svc->affinity_client_ip ? 1200 : 700);
	}
	sbuf_reserve(&b, estimate);

	SBUF_ADDL(&b, "*filter\n"
		     ":KUBE-SERVICES - [0:0]\n"
		     ":KUBE-EXTERNAL-SERVICES - [0:0]\n"
		     ":KUBE-FORWARD - [0:0]\n"
		     ":KUBE-NODEPORTS - [0:0]\n"
		     ":KUBE-PROXY-FIREWALL - [0:0]\n");
	if (c.localhost_np) {
		/*
		 * route_localnet lets 127.0.0.0/8 be routed, which would open the
		 * node's loopback services to the network (CVE-2020-8558): this
		 * is kubelet's mitigation, which kube-proxy also installs.
		 */
		SBUF_ADDL(&b, ":KUBE-FIREWALL - [0:0]\n"
			     "-A KUBE-FIREWALL -m comment --comment \"block incoming localnet connections\""
			     " -d 127.0.0.0/8 ! -s 127.0.0.0/8"
			     " -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP\n");
	}
	for (size_t i = 0; i < v->n_ports; i++) {
		struct port_ref pr;

		if (!ps[i].p.render)
			continue;
		port_ref(&c, &v->ports[i], &ps[i], &pr);
		port_filter(&pr, &b);
	}
	if (!o->conntrack_tcp_be_liberal) {
		/* Out-of-window packets conntrack calls INVALID would otherwise reset connections. */
		SBUF_ADDL(&b, "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\n");
	}
	/* Accept what we marked even when the FORWARD policy is DROP. */
	SBUF_ADDL(&b, "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\""
		     " -m mark --mark ");
	add_mark(&c, &b);
	sbuf_addc(&b, '/');
	add_mark(&c, &b);
	SBUF_ADDL(&b, " -j ACCEPT\n"
		     "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding conntrack rule\""
		     " -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
		     "COMMIT\n");

	SBUF_ADDL(&b, "*nat\n"
		     ":KUBE-SERVICES - [0:0]\n"
		     ":KUBE-NODEPORTS - [0:0]\n"
		     ":KUBE-POSTROUTING - [0:0]\n"
		     ":KUBE-MARK-MASQ - [0:0]\n");
	for (size_t i = 0; i < v->n_ports; i++) {
		struct port_ref pr;

		if (!ps[i].p.render)
			continue;
		port_ref(&c, &v->ports[i], &ps[i], &pr);
		port_declare(&pr, &b);
	}
	/* Masquerade what KUBE-MARK-MASQ marked, clearing the mark in case the packet loops. */
	SBUF_ADDL(&b, "-A KUBE-POSTROUTING -m mark ! --mark ");
	add_mark(&c, &b);
	sbuf_addc(&b, '/');
	add_mark(&c, &b);
	SBUF_ADDL(&b, " -j RETURN\n-A KUBE-POSTROUTING -j MARK --xor-mark ");
	add_mark(&c, &b);
	SBUF_ADDL(&b, "\n-A KUBE-POSTROUTING -m comment --comment"
		     " \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully\n"
		     "-A KUBE-MARK-MASQ -j MARK --or-mark ");
	add_mark(&c, &b);
	sbuf_addc(&b, '\n');
	for (size_t i = 0; i < v->n_ports; i++) {
		struct port_ref pr;

		if (!ps[i].p.render)
			continue;
		port_ref(&c, &v->ports[i], &ps[i], &pr);
		port_nat(&pr, &b, true);
	}
	nodeport_dispatch(&c, &b, nodeport_match_all(o, &has_v4_lo));
	SBUF_ADDL(&b, "COMMIT\n");

	free(ps);
	ctx_done(&c);
	*ret_len = b.len;
	*ret_buf = sbuf_cstr(&b);
	return 0;
}

static void chain_list_add(struct ipt_chain_list *l, enum chain_kind k,
			   const char tag[IPT_TAG_LEN])
{
	l->names = xgrow(l->names, &l->cap, l->n + 1, sizeof(*l->names));
	ipt_chain_name(prefixes[k].s, tag, l->names[l->n++]);
}

void ipt_port_chains(const struct port_view *pv, const struct ipt_opts *o,
		     struct ipt_chain_list *out)
{
	struct ipt_ctx c = { .o = o };
	struct port_state ps;
	struct port_ref r;
	const struct port_plan *p = &ps.p;

	c.sep_tags = xmalloc(MAX(pv->n_eps, 1) * sizeof(*c.sep_tags));
	c.sep_state = xcalloc(MAX(pv->n_eps, 1), 1);
	port_prepare(&c, pv, &ps, 0);
	if (!p->render) {
		ctx_done(&c);
		return;
	}
	port_ref(&c, pv, &ps, &r);
	/* The order and de-duplication of port_declare(). */
	if (p->has_ext)
		chain_list_add(out, CH_EXT, ps.tag);
	if (p->fw)
		chain_list_add(out, CH_FW, ps.tag);
	if (p->has_svc)
		chain_list_add(out, CH_SVC, ps.tag);
	if (p->has_svl)
		chain_list_add(out, CH_SVL, ps.tag);
	for (int s = 0; s < 3; s++) {
		const struct ep_set *set = sep_set(pv, p, s);

		for (size_t i = 0; set && i < set->n; i++) {
			unsigned char *st;
			const char *t;

			if (sep_inline(o, pv, p, set->v[i]))
				continue;
			t = sep_tag(&r, set->v[i], &st);
			if (*st & SEP_DECLARED)
				continue;
			*st |= SEP_DECLARED;
			chain_list_add(out, CH_SEP, t);
		}
	}
	ctx_done(&c);
}

void ipt_chain_list_done(struct ipt_chain_list *l)
{
	free(l->names);
	*l = (struct ipt_chain_list){ 0 };
}
