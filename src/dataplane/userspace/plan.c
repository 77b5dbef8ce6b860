/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Node view -> userspace proxy table (see plan.h).  The rules follow
 * kube-proxy's outcomes per route: FORWARD listens; REJECT does not listen
 * on an address the node owns, so the kernel refuses (TCP RST, ICMP port
 * unreachable), as kube-proxy's REJECT does; DROP is an nft rule.  Traffic
 * policies pick the endpoint set; the short-circuit of externalTrafficPolicy
 * Local for pods and the node itself is a second set on the same listener.
 */
#include "dataplane/userspace/plan.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/sbuf.h"
#include "core/util.h"
#include "dataplane/common/nft_script.h"
#include "sched/sched_config.h"

static void add_note(struct us_plan *p, char *note)
{
	VEC_PUSH(p->notes, p->n_notes, p->cap_notes, note);
}

/* The proxy service of one endpoint set of a port view; shared by its routes. */
static size_t plan_svc(struct us_plan *p, const struct port_view *pv, bool local)
{
	const struct ep_set *es = local ? &pv->cat.local : &pv->cat.cluster;
	char *key = port_view_set_key(pv, local); /* explain --status finds it by this name */
	uintptr_t found = (uintptr_t)strmap_get(&p->svc_index, key);
	struct us_plan_svc *s;
	struct sched_dest *dests;

	if (found) {
		free(key);
		return found - 1;
	}
	p->svcs = xgrow(p->svcs, &p->cap_svcs, p->n_svcs + 1, sizeof(*p->svcs));
	s = &p->svcs[p->n_svcs];
	*s = (struct us_plan_svc){
		.key = key,
		.name = xasprintf("%s:%s%s%u", pv->svc->key, pv->port->name,
				  *pv->port->name ? "/" : "", pv->port->port),
		.family = pv->family,
		.proto = proto_ipproto(pv->port->proto),
		.sched_name = pv->lb.sched_name,
		.cfg = lb_sched_config(pv), /* as explain's replay, so --flow predicts random and twos */
		.affinity_timeout_ns = lb_affinity_timeout_ns(pv),
		.eps = xcalloc(es->n + 1, sizeof(*s->eps)),
		.n_eps = es->n,
	};
	dests = lb_dests(pv, es);
	for (size_t i = 0; i < es->n; i++) {
		s->eps[i].addr = es->v[i]->addr;
		s->eps[i].port = es->v[i]->port;
		s->eps[i].weight = dests[i].weight;
		memcpy(s->eps[i].key, es->v[i]->key, sizeof(s->eps[i].key));
	}
	free(dests);
	strmap_put(&p->svc_index, s->key, (void *)(uintptr_t)(p->n_svcs + 1));
	return p->n_svcs++;
}

static void add_vip(struct us_plan *p, const struct addr *a)
{
	VEC_PUSH(p->vips, p->n_vips, p->cap_vips, *a);
}

static void add_drop(struct us_plan *p, const struct port_view *pv, const struct route *r,
		     const struct addr *addr, bool external_only)
{
	struct us_plan_drop d = {
		.proto = proto_ipproto(pv->port->proto),
		.family = pv->family,
		.port = r->port,
		.external_only = external_only,
	};

	if (addr)
		d.addr = *addr;
	VEC_PUSH(p->drops, p->n_drops, p->cap_drops, d);
}

static void add_listener(struct us_plan *p, const struct port_view *pv, const struct route *r,
			 const struct addr *addr, size_t svc, size_t svc_cluster, bool masq_all)
{
	char a[ADDR_PORT_STRLEN], *where;
	int proto = proto_ipproto(pv->port->proto);
	uintptr_t taken;

	addr_port_format(addr, r->port, a);
	where = xasprintf("%s/%s", a, proto_name(pv->port->proto));
	/* Two services claiming one address and port: the first (by key) keeps it, as bind would. */
	taken = (uintptr_t)strmap_get(&p->ls_index, where);
	if (taken) {
		add_note(p, xasprintf("%s %s is already used by %s; %s is not served there",
				      route_kind_name(r->kind), where, p->ls[taken - 1].name,
				      pv->svc->key));
		free(where);
		return;
	}
	p->ls = xgrow(p->ls, &p->cap_ls, p->n_ls + 1, sizeof(*p->ls));
	p->ls[p->n_ls++] = (struct us_plan_listener){
		.proto = proto,
		.addr = *addr,
		.port = r->port,
		.kind = r->kind,
		.svc = svc,
		.svc_cluster = svc_cluster,
		.preserve_external = r->kind != ROUTE_CLUSTER_IP && r->preserves_source_ip && !masq_all,
		.name = xasprintf("%s:%u %s %s", pv->svc->key, pv->port->port,
				  route_kind_name(r->kind), where),
		.where = where,
	};
	strmap_put(&p->ls_index, where, (void *)(uintptr_t)p->n_ls);
}

static void plan_route(struct us_plan *p, const struct us_plan_in *in, const struct port_view *pv,
		       const struct route *r)
{
	bool external = r->kind != ROUTE_CLUSTER_IP;
	const struct addr *addrs = &r->addr;
	size_t n_addrs = 1;
	size_t svc = US_NO_SVC, svc_cluster = US_NO_SVC;

	if (!r->allocated || !r->port)
		return;
	if (r->kind == ROUTE_NODE_PORT) {
		/* Every node address that takes NodePorts, whatever address the view shows. */
		addrs = in->nodeport_addrs;
		n_addrs = in->n_nodeport_addrs;
	} else {
		add_vip(p, &r->addr);
	}
	if (r->kind == ROUTE_LOAD_BALANCER && r->n_source_ranges) {
		struct us_plan_drop d = {
			.proto = proto_ipproto(pv->port->proto), .family = pv->family, .addr = r->addr,
			.port = r->port, .allow = r->source_ranges, .n_allow = r->n_source_ranges,
		};

		VEC_PUSH(p->drops, p->n_drops, p->cap_drops, d);
	}
	switch (r->action) {
	case ACTION_REJECT:
		/* Nothing listens on an address the node owns: RST / port unreachable. */
		return;
	case ACTION_DROP:
		if (!external) {
			add_drop(p, pv, r, &r->addr, false);
			return;
		}
		add_drop(p, pv, r, r->kind == ROUTE_NODE_PORT ? NULL : &r->addr, true);
		break;
	case ACTION_FORWARD:
		svc = plan_svc(p, pv, r->uses_local);
		break;
	}
	if (external && r->uses_local && !pv->cat.cluster.nil && pv->cat.cluster.n)
		svc_cluster = plan_svc(p, pv, false);
	if (svc == US_NO_SVC && svc_cluster == US_NO_SVC)
		return;
	for (size_t i = 0; i < n_addrs; i++)
		if (addrs[i].family == pv->family)
			add_listener(p, pv, r, &addrs[i], svc, svc_cluster, in->masquerade_all);
}

void us_plan_build(const struct us_plan_in *in, struct us_plan *p)
{
	const struct node_view *v = in->view;
	size_t w = 0;

	*p = (struct us_plan){ 0 };
	strmap_init(&p->svc_index);
	strmap_init(&p->ls_index);
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];

		if (pv->port->proto == PROTO_SCTP) {
			if (pv->n_routes)
				add_note(p, xasprintf("%s:%u/SCTP: the userspace proxy does not relay SCTP; not served",
						      pv->svc->key, pv->port->port));
			continue;
		}
		for (size_t k = 0; k < pv->n_routes; k++)
			plan_route(p, in, pv, &pv->routes[k]);
	}
	if (p->n_vips)
		qsort(p->vips, p->n_vips, sizeof(*p->vips), addr_cmp_qsort);
	for (size_t i = 0; i < p->n_vips; i++)
		if (!w || !addr_eq(&p->vips[w - 1], &p->vips[i]))
			p->vips[w++] = p->vips[i];
	p->n_vips = w;
}

void us_plan_done(struct us_plan *p)
{
	for (size_t i = 0; i < p->n_svcs; i++) {
		free(p->svcs[i].key);
		free(p->svcs[i].name);
		free(p->svcs[i].eps);
	}
	for (size_t i = 0; i < p->n_ls; i++) {
		free(p->ls[i].name);
		free(p->ls[i].where);
	}
	strv_free(p->notes, p->n_notes);
	free(p->svcs);
	free(p->ls);
	free(p->drops);
	free(p->vips);
	strmap_done(&p->svc_index);
	strmap_done(&p->ls_index);
	*p = (struct us_plan){ 0 };
}

/* " { a/b, c/d }" of the CIDRs of one family; "" when there are none. */
static void add_cidrs(struct sbuf *b, const struct cidr *v, size_t n, int family)
{
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		char c[ADDR_STRLEN + 4];

		if (v[i].addr.family != family)
			continue;
		cidr_format(&v[i], c);
		sbuf_adds(b, first ? " { " : ", ");
		sbuf_adds(b, c);
		first = false;
	}
	if (!first)
		SBUF_ADDL(b, " }");
}

static bool has_family(const struct cidr *v, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].addr.family == family)
			return true;
	return false;
}

/* One DROP outcome as an nft rule (without indentation). */
static void drop_rule(struct sbuf *b, const struct us_plan_drop *d, const struct cidr *cluster_cidrs,
		      size_t n_cluster_cidrs)
{
	const char *ipk = d->family == AF_INET6 ? "ip6" : "ip";

	if (d->addr.family) {
		char a[ADDR_STRLEN];

		addr_format(&d->addr, a);
		sbuf_printf(b, "%s daddr %s ", ipk, a);
	} else {
		sbuf_printf(b, "meta nfproto %s fib daddr type local ",
			    d->family == AF_INET6 ? "ipv6" : "ipv4");
	}
	if (d->n_allow) {
		sbuf_printf(b, "%s saddr !=", ipk);
		add_cidrs(b, d->allow, d->n_allow, d->family);
		SBUF_ADDL(b, " fib saddr type != local ");
	} else if (d->external_only) {
		if (has_family(cluster_cidrs, n_cluster_cidrs, d->family)) {
			sbuf_printf(b, "%s saddr !=", ipk);
			add_cidrs(b, cluster_cidrs, n_cluster_cidrs, d->family);
			sbuf_addc(b, ' ');
		}
		SBUF_ADDL(b, "fib saddr type != local ");
	}
	sbuf_printf(b, "%s dport %u drop", d->proto == IPPROTO_UDP ? "udp" : "tcp", d->port);
}

char *us_plan_nft(const struct us_plan *p, const struct cidr *cluster_cidrs, size_t n_cluster_cidrs,
		  uint32_t tproxy_mark)
{
	struct sbuf b = { 0 }, rule = { 0 };
	char mark_rule[128];

	nft_table_begin(&b, "inet", US_NFT_TABLE);
	/*
	 * Replies to a source-preserving (IP_TRANSPARENT) upstream socket are
	 * addressed to the client, not to this node: mark them so the
	 * "fwmark -> local" routing table delivers them to the socket.  The
	 * socket lookup costs about as much as the TCP receive path's own, on
	 * every packet this hook sees; loopback packets skip it, since an
	 * endpoint on this node's own address is never sent a client's
	 * address (us_want_spoof), so its replies never need diverting.
	 */
	nft_chain_begin(&b, "divert", "filter", "prerouting", "mangle", "accept");
	nft_rule(&b, "iif \"lo\" accept");
	snprintf(mark_rule, sizeof(mark_rule),
		 "meta l4proto { tcp, udp } socket transparent 1 meta mark set meta mark | 0x%08x accept",
		 tproxy_mark);
	nft_rule(&b, mark_rule);
	nft_chain_end(&b);
	nft_chain_begin(&b, "filter_input", "filter", "input", "filter - 1", "accept");
	for (size_t i = 0; i < p->n_drops; i++) {
		rule.len = 0;
		drop_rule(&rule, &p->drops[i], cluster_cidrs, n_cluster_cidrs);
		nft_rule(&b, sbuf_cstr(&rule));
	}
	nft_chain_end(&b);
	nft_table_end(&b);
	sbuf_free(&rule);
	return sbuf_cstr(&b);
}
