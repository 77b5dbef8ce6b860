/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A service port's rules, rule for rule as kube-proxy writes them: its
 * entries in the shared chains (filter KUBE-SERVICES, KUBE-EXTERNAL-SERVICES,
 * KUBE-PROXY-FIREWALL, KUBE-NODEPORTS; nat KUBE-SERVICES, KUBE-NODEPORTS)
 * and its own nat chains (KUBE-EXT, KUBE-FW, KUBE-SVC, KUBE-SVL, KUBE-SEP).
 * Three entry points, one per section of the output: port_filter(),
 * port_declare() and port_nat().  Each rule is written into the buffer its
 * chain's rules go to (render_int.h).
 */
#include <stdio.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/iptables/render_int.h"

/* ---- writing pieces of rules ---- */

static void add_chain(struct sbuf *b, enum chain_kind k, const char tag[IPT_TAG_LEN])
{
	sbuf_add(b, prefixes[k].s, prefixes[k].n);
	sbuf_add(b, tag, IPT_TAG_LEN);
}

/* The index of endpoint e of the port in the context's per-endpoint arrays. */
static size_t ep_index(const struct port_ref *r, const struct ep *e)
{
	return r->ps->ep_base + (size_t)(e - r->pv->eps);
}

/* The tag of the port's own chain k (e: the endpoint, for CH_SEP). */
static const char *own_tag(const struct port_ref *r, enum chain_kind k, const struct ep *e)
{
	return k == CH_SEP ? sep_tag(r, e, NULL) : r->ps->tag;
}

/* Declares own chain k of the port: a chain line in a full render, a buffer per chain otherwise. */
static void declare_own(const struct port_ref *r, enum chain_kind k, const struct ep *e)
{
	struct ipt_sink *s = &r->c->sink;
	const char *tag = own_tag(r, k, e);
	struct ipt_part *part;

	if (s->stream) {
		sbuf_addc(s->stream, ':');
		add_chain(s->stream, k, tag);
		SBUF_ADDL(s->stream, " - [0:0]\n");
		return;
	}
	s->own = xgrow(s->own, &s->cap_own, s->n_own + 1, sizeof(*s->own));
	part = &s->own[s->n_own++];
	if (s->n_own > s->n_ready) {
		part->rules = (struct sbuf){ 0 };
		s->n_ready = s->n_own;
	}
	part->rules.len = 0; /* a workspace slot: its buffer is reused */
	part->table = IPT_TABLE_NAT;
	part->hash = 0;
	ipt_chain_name(prefixes[k].s, tag, part->name);
	if (k == CH_SEP)
		s->own_of_ep[ep_index(r, e)] = s->n_own;
	else
		s->own_of[k] = s->n_own;
}

/* Starts a rule of own chain k ("-A <chain>") in its buffer, and returns the buffer. */
static struct sbuf *own_rule(const struct port_ref *r, enum chain_kind k, const struct ep *e)
{
	struct ipt_sink *s = &r->c->sink;
	struct sbuf *b = s->stream;

	if (!b) {
		size_t pos = k == CH_SEP ? s->own_of_ep[ep_index(r, e)] : s->own_of[k];

		if (pos) {
			b = &s->own[pos - 1].rules;
		} else {
			s->bad = true; /* never declared: port_declare() and this file disagree */
			b = &s->stray;
		}
	}
	SBUF_ADDL(b, "-A ");
	add_chain(b, k, own_tag(r, k, e));
	return b;
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


/* ---- the filter table ---- */

/* `-A <chain> ... -d ip --dport port -j REJECT|DROP` for a route without its DNAT path. */
static void filter_rule(const struct port_ref *r, enum ipt_shared_chain chain,
			const struct route *e, const char *comment, const char *target)
{
	struct sbuf *b = shared_buf(r->c, chain);
	char ip[ADDR_STRLEN];

	addr_format(&e->addr, ip);
	SBUF_ADDL(b, "-A ");
	sbuf_adds(b, ipt_shared_chains[chain].name);
	add_comment(r, b, "", comment);
	add_proto(r, b);
	add_dst(b, ip, r->pv->port->port);
	add_target(b, target);
}

void port_filter(const struct port_ref *r)
{
	const struct port_view *pv = r->pv;
	const struct port_shape *p = &r->ps->p;
	const struct route *cip = p->cip;
	char fw_comment[64];

	if (cip->action != ACTION_FORWARD)
		filter_rule(r, IPT_FILTER_SERVICES, cip, filter_comment(cip), filter_target(cip));
	/* External IPs, then LB IPs, then the NodePort: kube-proxy's order. */
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_EXTERNAL_IP || !e->allocated || e->action == ACTION_FORWARD)
			continue;
		filter_rule(r, IPT_FILTER_EXTERNAL_SERVICES, e, filter_comment(e), filter_target(e));
	}
	snprintf(fw_comment, sizeof(fw_comment), " traffic not accepted by %s%.*s", IPT_PREFIX_FW,
		 IPT_TAG_LEN, r->ps->tag);
	for (size_t i = 0; p->fw && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_LOAD_BALANCER || !e->allocated || !route_ranges(e, r->c->o->family))
			continue;
		/* Reached only by traffic KUBE-FW did not accept (so it was not DNATed). */
		filter_rule(r, IPT_FILTER_PROXY_FIREWALL, e, fw_comment, "DROP");
	}
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_LOAD_BALANCER || !e->allocated || e->action == ACTION_FORWARD)
			continue;
		filter_rule(r, IPT_FILTER_EXTERNAL_SERVICES, e, filter_comment(e), filter_target(e));
	}
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];
		struct sbuf *b;

		if (e->kind != ROUTE_NODE_PORT || !e->allocated || e->action == ACTION_FORWARD)
			continue;
		b = shared_buf(r->c, IPT_FILTER_EXTERNAL_SERVICES);
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
		struct sbuf *b = shared_buf(r->c, IPT_FILTER_NODEPORTS);

		SBUF_ADDL(b, "-A KUBE-NODEPORTS");
		add_comment(r, b, "", " health check node port");
		SBUF_ADDL(b, " -m tcp -p tcp --dport ");
		sbuf_addu(b, pv->svc->health_check_node_port);
		add_target(b, "ACCEPT");
	}
}

/* ---- the nat table ---- */

void port_declare(const struct port_ref *r)
{
	const struct port_shape *p = &r->ps->p;

	if (p->has_ext)
		declare_own(r, CH_EXT, NULL);
	if (p->fw)
		declare_own(r, CH_FW, NULL);
	if (p->has_svc)
		declare_own(r, CH_SVC, NULL);
	if (p->has_svl)
		declare_own(r, CH_SVL, NULL);
	for (int s = 0; s < 3; s++) {
		const struct ep_set *set = sep_set(r->pv, p, s);

		for (size_t i = 0; set && i < set->n; i++) {
			unsigned char *st;

			if (sep_inline(r->c->o, r->pv, p, set->v[i]))
				continue;
			(void)sep_tag(r, set->v[i], &st);
			if (*st & SEP_DECLARED)
				continue;
			*st |= SEP_DECLARED;
			declare_own(r, CH_SEP, set->v[i]);
		}
	}
}

/*
 * The SVC or SVL chain: affinity checks first (a remembered client goes
 * back to its endpoint), then one rule per endpoint, each but the last
 * taking 1/(n-i) of what is left, so every endpoint gets 1/n.
 */
static void endpoint_dispatch(const struct port_ref *r, enum chain_kind k,
			      const struct ep_set *set)
{
	const struct service *svc = r->pv->svc;

	for (size_t i = 0; svc->affinity_client_ip && i < set->n; i++) {
		const char *st = sep_tag(r, set->v[i], NULL);
		struct sbuf *b = own_rule(r, k, NULL);

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
		struct sbuf *b = own_rule(r, k, NULL);

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
static void endpoint_chain(const struct port_ref *r, const struct ep *e)
{
	unsigned char *state;
	const char *st = sep_tag(r, e, &state);
	struct sbuf *b;

	if (*state & SEP_WRITTEN)
		return;
	*state |= SEP_WRITTEN;

	/* A pod reaching itself through the service must be masqueraded, or it answers itself. */
	b = own_rule(r, CH_SEP, e);
	if (r->c->comments) {
		SBUF_ADDL(b, " -m comment --comment ");
		add_cname(r, b);
	}
	SBUF_ADDL(b, " -s ");
	add_ep_ip(b, e);
	add_target(b, "KUBE-MARK-MASQ");

	b = own_rule(r, CH_SEP, e);
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
static void services_rule(const struct port_ref *r, const char *ip, const char *comment,
			  enum chain_kind k)
{
	struct sbuf *b = shared_buf(r->c, IPT_NAT_SERVICES);

	SBUF_ADDL(b, "-A KUBE-SERVICES");
	add_comment(r, b, "", comment);
	add_proto(r, b);
	add_dst(b, ip, r->pv->port->port);
	add_jump(b, k, r->ps->tag);
}

/* The port's entries in nat KUBE-SERVICES and KUBE-NODEPORTS. */
static void nat_entries(const struct port_ref *r)
{
	const struct port_view *pv = r->pv;
	const struct port_shape *p = &r->ps->p;
	const struct route *cip = p->cip;
	char ip[ADDR_STRLEN];

	if (p->int_forward) {
		addr_format(&cip->addr, ip);
		services_rule(r, ip, " cluster IP", cip->uses_local ? CH_SVL : CH_SVC);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_EXTERNAL_IP || !e->allocated || e->action == ACTION_REJECT)
			continue;
		addr_format(&e->addr, ip);
		services_rule(r, ip, " external IP", CH_EXT);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];

		if (e->kind != ROUTE_LOAD_BALANCER || !e->allocated || e->action == ACTION_REJECT)
			continue;
		addr_format(&e->addr, ip);
		services_rule(r, ip, " loadbalancer IP",
			      p->fw && route_ranges(e, r->c->o->family) ? CH_FW : CH_EXT);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *e = &pv->routes[i];
		struct sbuf *b;

		/* NodePorts are not subject to loadBalancerSourceRanges (as upstream). */
		if (e->kind != ROUTE_NODE_PORT || !e->allocated || e->action == ACTION_REJECT)
			continue;
		b = shared_buf(r->c, IPT_NAT_NODEPORTS);
		SBUF_ADDL(b, "-A KUBE-NODEPORTS -m comment --comment ");
		add_cname(r, b);
		add_proto(r, b);
		SBUF_ADDL(b, " --dport ");
		sbuf_addu(b, e->port);
		add_jump(b, CH_EXT, r->ps->tag);
	}
}

/*
 * Cluster-IP masquerade, first in the internal chain: everything with
 * --masquerade-all, else traffic not from a pod ("off-cluster to VIP":
 * the node may have been used as a router into the service range).
 */
static void cluster_ip_masquerade(const struct port_ref *r)
{
	const struct route *cip = r->ps->p.cip;
	struct sbuf *b;
	char ip[ADDR_STRLEN];

	if (!r->ps->p.int_forward || !(cip->masquerade || r->c->detector))
		return;
	addr_format(&cip->addr, ip);
	b = own_rule(r, cip->uses_local ? CH_SVL : CH_SVC, NULL);
	add_comment(r, b, "", " cluster IP");
	add_proto(r, b);
	add_dst(b, ip, r->pv->port->port);
	if (!cip->masquerade) {
		SBUF_ADDL(b, " ! -s ");
		sbuf_adds(b, r->c->detect_cidr);
	}
	add_target(b, "KUBE-MARK-MASQ");
}

/* KUBE-EXT: what external traffic (external IPs, LB IPs, NodePorts) goes through. */
static void ext_chain(const struct port_ref *r)
{
	const struct port_shape *p = &r->ps->p;
	const char *tag = r->ps->tag;
	struct sbuf *b;

	if (!p->has_ext)
		return;
	if (!p->ext_local) {
		/* Endpoints may be on another node: masquerade so replies come back here. */
		b = own_rule(r, CH_EXT, NULL);
		add_comment(r, b, "masquerade traffic for ", " external destinations");
		add_target(b, "KUBE-MARK-MASQ");
	} else {
		/*
		 * Pods reaching an external address of the service act as
		 * if they went out to the load balancer and came back:
		 * any endpoint, source kept.
		 */
		if (r->c->detector && p->has_svc) {
			b = own_rule(r, CH_EXT, NULL);
			add_comment(r, b, "pod traffic for ", " external destinations");
			SBUF_ADDL(b, " -s ");
			sbuf_adds(b, r->c->detect_cidr);
			add_jump(b, CH_SVC, tag);
		}
		/* The host's own traffic has a local source (maybe the LB IP): masquerade it. */
		b = own_rule(r, CH_EXT, NULL);
		add_comment(r, b, "masquerade LOCAL traffic for ", " external destinations");
		SBUF_ADDL(b, " -m addrtype --src-type LOCAL");
		add_target(b, "KUBE-MARK-MASQ");
		if (p->has_svc) {
			b = own_rule(r, CH_EXT, NULL);
			add_comment(r, b, "route LOCAL traffic for ", " external destinations");
			SBUF_ADDL(b, " -m addrtype --src-type LOCAL");
			add_jump(b, CH_SVC, tag);
		}
	}
	/* Without it (no local endpoints) the packet falls through to the filter DROP. */
	if (p->ext_forward) {
		b = own_rule(r, CH_EXT, NULL);
		add_jump(b, p->ext_local ? CH_SVL : CH_SVC, tag);
	}
}

/* `-A KUBE-FW-<tag> ... -s <source> -j KUBE-EXT-<tag>`: one allowed source. */
static void fw_allow(const struct port_ref *r, const char *source)
{
	struct sbuf *b = own_rule(r, CH_FW, NULL);

	add_comment(r, b, "", " loadbalancer IP");
	SBUF_ADDL(b, " -s ");
	sbuf_adds(b, source);
	add_jump(b, CH_EXT, r->ps->tag);
}

/* KUBE-FW: loadBalancerSourceRanges in front of KUBE-EXT. */
static void fw_chain(const struct port_ref *r)
{
	const struct port_shape *p = &r->ps->p;
	const struct port_view *pv = r->pv;
	struct ipt_ctx *c = r->c;
	bool from_node = false;
	struct sbuf *b;

	if (!p->fw)
		return;
	for (size_t i = 0; i < p->fw->n_source_ranges; i++) {
		const struct cidr *cr = &p->fw->source_ranges[i];
		char s[ADDR_STRLEN + 4];

		if (cr->addr.family != c->o->family)
			continue;
		cidr_format(cr, s);
		fw_allow(r, s);
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
		char ip[ADDR_STRLEN];

		if (lb->kind != ROUTE_LOAD_BALANCER || !lb->allocated)
			continue;
		addr_format(&lb->addr, ip);
		fw_allow(r, ip);
	}
	/* Falling off the end: not DNATed, so KUBE-PROXY-FIREWALL drops it. */
	b = own_rule(r, CH_FW, NULL);
	add_comment(r, b, "other traffic to ", " will be dropped by KUBE-PROXY-FIREWALL");
	sbuf_addc(b, '\n');
}

/* Rule order inside each chain is kube-proxy's; the own chains are port_declare()'s. */
void port_nat(const struct port_ref *r)
{
	const struct port_view *pv = r->pv;
	const struct port_shape *p = &r->ps->p;

	nat_entries(r);
	cluster_ip_masquerade(r);
	ext_chain(r);
	fw_chain(r);
	if (p->has_svc)
		endpoint_dispatch(r, CH_SVC, &pv->cat.cluster);
	if (p->has_svl)
		endpoint_dispatch(r, CH_SVL, &pv->cat.local);
	for (int s = 0; s < 3; s++) {
		const struct ep_set *set = sep_set(pv, p, s);

		for (size_t i = 0; set && i < set->n; i++)
			if (!sep_inline(r->c->o, pv, p, set->v[i]))
				endpoint_chain(r, set->v[i]);
	}
}
