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
#include <stdarg.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/util.h"
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

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_add(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if ((size_t)n < b->cap - b->n)
			break;
		b->s = xgrow(b->s, &b->cap, b->n + (size_t)n + 1, 1);
	}
	b->n += (size_t)n;
}

/* " { a/b, c/d }" of the CIDRs of one family; "" when there are none. */
static void sb_cidrs(struct sbuf *b, const struct cidr *v, size_t n, int family)
{
	bool first = true;

	for (size_t i = 0; i < n; i++) {
		char c[ADDR_STRLEN + 4];

		if (v[i].addr.family != family)
			continue;
		cidr_format(&v[i], c);
		sb_add(b, "%s%s", first ? " { " : ", ", c);
		first = false;
	}
	if (!first)
		sb_add(b, " }");
}

static bool has_family(const struct cidr *v, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].addr.family == family)
			return true;
	return false;
}

char *us_plan_nft(const struct us_plan *p, const struct cidr *cluster_cidrs, size_t n_cluster_cidrs,
		  uint32_t tproxy_mark)
{
	struct sbuf b = { .s = xmalloc(256), .cap = 256 };

	/* Create-then-delete makes the replace one transaction whether or not it existed. */
	sb_add(&b, "table inet %s\ndelete table inet %s\ntable inet %s {\n", US_NFT_TABLE,
	       US_NFT_TABLE, US_NFT_TABLE);
	/*
	 * Replies to a source-preserving (IP_TRANSPARENT) upstream socket are
	 * addressed to the client, not to this node: mark them so the
	 * "fwmark -> local" routing table delivers them to the socket.  The
	 * socket lookup costs about as much as the TCP receive path's own, on
	 * every packet this hook sees; loopback packets skip it, since an
	 * endpoint on this node's own address is never sent a client's
	 * address (us_want_spoof), so its replies never need diverting.
	 */
	sb_add(&b, "\tchain divert {\n\t\ttype filter hook prerouting priority mangle; policy accept;\n"
		   "\t\tiif \"lo\" accept\n"
		   "\t\tmeta l4proto { tcp, udp } socket transparent 1 meta mark set meta mark | 0x%08x accept\n"
		   "\t}\n", tproxy_mark);
	sb_add(&b, "\tchain filter_input {\n\t\ttype filter hook input priority filter - 1; policy accept;\n");
	for (size_t i = 0; i < p->n_drops; i++) {
		const struct us_plan_drop *d = &p->drops[i];
		const char *ipk = d->family == AF_INET6 ? "ip6" : "ip";

		sb_add(&b, "\t\t");
		if (d->addr.family) {
			char a[ADDR_STRLEN];

			addr_format(&d->addr, a);
			sb_add(&b, "%s daddr %s ", ipk, a);
		} else {
			sb_add(&b, "meta nfproto %s fib daddr type local ", d->family == AF_INET6 ? "ipv6" : "ipv4");
		}
		if (d->n_allow) {
			sb_add(&b, "%s saddr !=", ipk);
			sb_cidrs(&b, d->allow, d->n_allow, d->family);
			sb_add(&b, " fib saddr type != local ");
		} else if (d->external_only) {
			if (has_family(cluster_cidrs, n_cluster_cidrs, d->family)) {
				sb_add(&b, "%s saddr !=", ipk);
				sb_cidrs(&b, cluster_cidrs, n_cluster_cidrs, d->family);
				sb_add(&b, " ");
			}
			sb_add(&b, "fib saddr type != local ");
		}
		sb_add(&b, "%s dport %u drop\n", d->proto == IPPROTO_UDP ? "udp" : "tcp", d->port);
	}
	sb_add(&b, "\t}\n}\n");
	return b.s;
}
