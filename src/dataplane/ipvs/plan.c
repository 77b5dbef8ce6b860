/* SPDX-License-Identifier: Apache-2.0 */
/* The view as virtual services, link addresses and rule keys (plan.h). */
#include "dataplane/ipvs/plan.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "policy/policy.h"
#include "sched/sched.h"

/* linux/ip_vs.h's service flags (its header is not needed by the pure part). */
#define SVC_F_PERSISTENT 0x0001
#define SVC_F_SCHED1 0x0008
#define SVC_F_SCHED2 0x0010

void ipvs_key_format(const struct ipvs_svc_key *k, char buf[IPVS_KEY_LEN])
{
	char a[ADDR_PORT_STRLEN];

	if (k->fwmark) {
		snprintf(buf, IPVS_KEY_LEN, "fwmark 0x%08x/%s", k->fwmark,
			 k->family == AF_INET6 ? "ipv6" : "ipv4");
		return;
	}
	addr_port_format(&k->addr, k->port, a);
	if (k->proto == IPPROTO_TCP || k->proto == IPPROTO_UDP || k->proto == IPPROTO_SCTP)
		snprintf(buf, IPVS_KEY_LEN, "%s %s",
			 k->proto == IPPROTO_TCP ? "tcp" : k->proto == IPPROTO_UDP ? "udp" : "sctp", a);
	else
		snprintf(buf, IPVS_KEY_LEN, "proto-%u %s", k->proto, a);
}

int ipvs_key_cmp(const struct ipvs_svc_key *a, const struct ipvs_svc_key *b)
{
	int c;

	if (a->fwmark != b->fwmark)
		return a->fwmark < b->fwmark ? -1 : 1;
	c = addr_cmp(&a->addr, &b->addr);

	if (c)
		return c;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return a->port < b->port ? -1 : a->port > b->port;
}

int ipvs_dest_cmp(const struct ipvs_dest *a, const struct ipvs_dest *b)
{
	int c = addr_cmp(&a->addr, &b->addr);

	return c ? c : a->port < b->port ? -1 : a->port > b->port;
}

void ipvs_svc_done(struct ipvs_svc *s)
{
	free(s->dests);
	free(s->owner);
	s->dests = NULL;
	s->owner = NULL;
	s->n_dests = 0;
}

void ipvs_svc_copy(const struct ipvs_svc *s, struct ipvs_svc *ret)
{
	*ret = *s;
	ret->dests = xmalloc((s->n_dests + 1) * sizeof(*s->dests));
	if (s->n_dests)
		memcpy(ret->dests, s->dests, s->n_dests * sizeof(*s->dests));
	ret->owner = s->owner ? xstrdup(s->owner) : NULL;
}

void ipvs_table_init(struct ipvs_table *t)
{
	*t = (struct ipvs_table){ 0 };
	strmap_init(&t->idx);
}

static void index_clear(struct ipvs_table *t)
{
	for (size_t i = 0; i < t->idx.cap; i++)
		free((char *)t->idx.slots[i].key);
	strmap_done(&t->idx);
	strmap_init(&t->idx);
}

void ipvs_table_done(struct ipvs_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		ipvs_svc_done(&t->v[i]);
	free(t->v);
	index_clear(t);
	strmap_done(&t->idx);
	*t = (struct ipvs_table){ 0 };
}

struct ipvs_svc *ipvs_table_get(const struct ipvs_table *t, const struct ipvs_svc_key *k)
{
	char key[IPVS_KEY_LEN];
	uintptr_t pos;

	ipvs_key_format(k, key);
	pos = (uintptr_t)strmap_get(&t->idx, key);
	return pos ? &t->v[pos - 1] : NULL;
}

struct ipvs_svc *ipvs_table_add(struct ipvs_table *t, struct ipvs_svc *s)
{
	char key[IPVS_KEY_LEN];

	ipvs_key_format(&s->key, key);
	VEC_PUSH(t->v, t->n, t->cap, *s);
	strmap_put(&t->idx, xstrdup(key), (void *)(uintptr_t)t->n);
	return &t->v[t->n - 1];
}

static int svc_cmp_qsort(const void *a, const void *b)
{
	return ipvs_key_cmp(&((const struct ipvs_svc *)a)->key, &((const struct ipvs_svc *)b)->key);
}

void ipvs_table_sort(struct ipvs_table *t)
{
	char key[IPVS_KEY_LEN];

	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), svc_cmp_qsort);
	index_clear(t);
	for (size_t i = 0; i < t->n; i++) {
		ipvs_key_format(&t->v[i].key, key);
		strmap_put(&t->idx, xstrdup(key), (void *)(uintptr_t)(i + 1));
	}
}

void ipvs_plan_init(struct ipvs_plan *p, int family)
{
	*p = (struct ipvs_plan){ .family = family };
	ipvs_table_init(&p->svcs);
}

void ipvs_plan_done(struct ipvs_plan *p)
{
	ipvs_table_done(&p->svcs);
	free(p->link_addrs);
	for (int i = 0; i < IPVS_SET_N; i++)
		free(p->sets[i].v);
	strv_free(p->warnings, p->n_warnings);
	*p = (struct ipvs_plan){ 0 };
}

static struct ipvs_rule_key *add_key(struct ipvs_plan *p, enum ipvs_rule_set set,
				     const struct addr *a, uint8_t proto, uint16_t port,
				     const struct cidr *src)
{
	struct ipvs_rule_key k = { .addr = *a, .proto = proto, .port = port };

	if (src)
		k.src = *src;
	VEC_PUSH(p->sets[set].v, p->sets[set].n, p->sets[set].cap, k);
	return &p->sets[set].v[p->sets[set].n - 1];
}

static void add_link_addr(struct ipvs_plan *p, const struct addr *a)
{
	VEC_PUSH(p->link_addrs, p->n_link_addrs, p->cap_link_addrs, *a);
}

static uint32_t svc_flags(const struct port_view *pv, const char *sched)
{
	uint32_t f = lb_sched_config(pv).flags, out = 0;

	if (streq(sched, "sh")) {
		out |= f & SCHED_F_SH_FALLBACK ? SVC_F_SCHED1 : 0;
		out |= f & SCHED_F_SH_PORT ? SVC_F_SCHED2 : 0;
	} else if (streq(sched, "mh")) {
		out |= f & SCHED_F_MH_FALLBACK ? SVC_F_SCHED1 : 0;
		out |= f & SCHED_F_MH_PORT ? SVC_F_SCHED2 : 0;
	}
	if (pv->svc->affinity_client_ip)
		out |= SVC_F_PERSISTENT;
	return out;
}

static int dest_cmp_qsort(const void *a, const void *b)
{
	return ipvs_dest_cmp(a, b);
}

/* The real servers of route r: its endpoint set with the service's weights. */
static void route_dests(const struct port_view *pv, const struct route *r, struct ipvs_svc *s)
{
	const struct ep_set *es = route_endpoints(pv, r);
	struct sched_dest *sd = lb_dests(pv, es);
	size_t n = 0;

	s->dests = xcalloc(es->n + 1, sizeof(*s->dests));
	for (size_t i = 0; i < es->n; i++) {
		struct ipvs_dest *d = &s->dests[n];

		d->addr = es->v[i]->addr;
		d->port = es->v[i]->port;
		d->weight = sd[i].weight;
		/* One address and port listed twice (two slices): once. */
		if (n && !ipvs_dest_cmp(&s->dests[n - 1], d))
			continue;
		n++;
	}
	s->n_dests = n;
	qsort(s->dests, n, sizeof(*s->dests), dest_cmp_qsort);
	free(sd);
}

static void add_svc(struct ipvs_plan *p, const struct port_view *pv, const struct route *r,
		    struct ipvs_svc *s)
{
	const char *sched = sched_ipvs_name(pv->lb.sched_name);

	snprintf(s->conf.sched, sizeof(s->conf.sched), "%s", sched);
	s->conf.flags = svc_flags(pv, sched);
	if (pv->svc->affinity_client_ip)
		s->conf.timeout = pv->svc->affinity_timeout ? pv->svc->affinity_timeout : 10800;
	s->owner = xasprintf("%s:%u/%s", pv->svc->key, pv->port->port, proto_name(pv->port->proto));
	route_dests(pv, r, s);
	ipvs_table_add(&p->svcs, s);
}

/*
 * The mark of pv's fwmark service (made on first use): a hash of the port
 * view's name, so it stays across syncs and restarts, moved on past marks
 * taken; never with the masquerade bit.
 */
static uint32_t shortcut_mark(struct ipvs_plan *p, const struct port_view *pv, const struct route *r,
			      uint32_t *pv_mark)
{
	char name[512];
	uint32_t m;
	struct ipvs_svc s = { .key = { .family = (uint8_t)p->family } };
	struct route cluster = *r;

	if (*pv_mark)
		return *pv_mark;
	snprintf(name, sizeof(name), "%s:%u/%s/%d", pv->svc->key, pv->port->port,
		 proto_name(pv->port->proto), p->family);
	m = (uint32_t)fnv1a_update(FNV1A_OFFSET, name, strlen(name));
	for (;;) {
		m = IPVS_FWMARK_BASE | (m & ~IPVS_FWMARK_MASK & ~0x4000u);
		s.key.fwmark = m;
		if (m != IPVS_FWMARK_BASE && !ipvs_table_get(&p->svcs, &s.key))
			break;
		m++;
	}
	cluster.uses_local = false;
	add_svc(p, pv, &cluster, &s);
	*pv_mark = m;
	return m;
}

static void add_virtual(struct ipvs_plan *p, const struct port_view *pv, const struct route *r,
			const struct addr *a, uint16_t port)
{
	struct ipvs_svc s = { .key = { .family = (uint8_t)p->family, .addr = *a, .port = port,
				       .proto = (uint8_t)proto_ipproto(pv->port->proto) } };

	if (ipvs_table_get(&p->svcs, &s.key)) {
		char k[IPVS_KEY_LEN];

		ipvs_key_format(&s.key, k);
		VEC_PUSH(p->warnings, p->n_warnings, p->cap_warnings,
			 xasprintf("ipvs: %s %s: %s is taken by another service; not programmed",
				   pv->svc->key, route_kind_name(r->kind), k));
		return;
	}
	add_svc(p, pv, r, &s);
}

/*
 * The hairpin pairs: an endpoint reaching itself through the service is
 * masqueraded.  kube-proxy's KUBE-LOOP-BACK holds this node's endpoints (a
 * pod's service traffic is balanced on its own node); with an
 * externalTrafficPolicy Local shortcut (plan_route; shortcut: the port has
 * one) a pod on another node reaches this node's NodePort or external
 * address and may be balanced to itself here, so that port's other
 * endpoints are pairs too.  Without
 * them the connection timed out: the pod's own node masqueraded the
 * forwarded packet instead (its pair is local there), and the reply went
 * to the wrong node (the scenario table's hairpin-np row).
 */
static void add_loopback(struct ipvs_plan *p, const struct port_view *pv, uint8_t proto,
			 bool shortcut)
{
	for (size_t i = 0; i < pv->n_eps; i++) {
		struct cidr self = { .addr = pv->eps[i].addr,
				     .prefix = (uint8_t)(p->family == AF_INET ? 32 : 128) };

		if (pv->eps[i].is_local || shortcut)
			add_key(p, IPVS_SET_LOOPBACK, &pv->eps[i].addr, proto, pv->eps[i].port, &self);
	}
}

static void plan_route(struct ipvs_plan *p, const struct ipvs_plan_opts *o,
		       const struct port_view *pv, const struct route *r, uint8_t proto,
		       uint32_t *pv_mark)
{
	const struct addr *addrs = &r->addr;
	size_t n = 1;
	/* externalTrafficPolicy Local: the pods and the node go to every endpoint. */
	bool shortcut = r->kind != ROUTE_CLUSTER_IP && r->uses_local && r->action != ACTION_REJECT &&
			!pv->cat.cluster.nil && pv->cat.cluster.n > 0;

	if (!r->allocated)
		return;
	if (r->kind == ROUTE_NODE_PORT) {
		addrs = o->nodeport_addrs;
		n = o->n_nodeport_addrs;
	} else {
		add_link_addr(p, &r->addr);
	}
	for (size_t i = 0; i < n; i++) {
		const struct addr *a = &addrs[i];

		if (shortcut)
			add_key(p, IPVS_SET_SHORTCUT, a, proto, r->port, NULL)->mark =
				shortcut_mark(p, pv, r, pv_mark);
		switch (r->action) {
		case ACTION_DROP:
			add_key(p, IPVS_SET_DROP, a, proto, r->port, NULL);
			continue;
		case ACTION_REJECT:
			add_key(p, IPVS_SET_REJECT, a, proto, r->port, NULL);
			continue;
		case ACTION_FORWARD:
			break;
		}
		add_virtual(p, pv, r, a, r->port);
		if (r->kind == ROUTE_CLUSTER_IP)
			add_key(p, r->masquerade ? IPVS_SET_MASQ : IPVS_SET_CLUSTER, a, proto, r->port,
				NULL);
		else if (r->masquerade)
			add_key(p, IPVS_SET_MASQ, a, proto, r->port, NULL);
		if (r->kind == ROUTE_LOAD_BALANCER && r->n_source_ranges) {
			size_t kept = 0;

			for (size_t k = 0; k < r->n_source_ranges; k++)
				if (r->source_ranges[k].addr.family == p->family) {
					add_key(p, IPVS_SET_FW_ALLOW, a, proto, r->port,
						&r->source_ranges[k]);
					kept++;
				}
			if (kept)
				add_key(p, IPVS_SET_FW, a, proto, r->port, NULL);
		}
	}
}

static int rule_key_cmp(const void *pa, const void *pb)
{
	const struct ipvs_rule_key *a = pa, *b = pb;
	int c = addr_cmp(&a->addr, &b->addr);

	if (c)
		return c;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->port != b->port)
		return a->port < b->port ? -1 : 1;
	c = addr_cmp(&a->src.addr, &b->src.addr);
	return c ? c : a->src.prefix < b->src.prefix ? -1 : a->src.prefix > b->src.prefix;
}

/* Sorted and unique, so the rules' text is the same for the same view. */
static void keys_normalize(struct ipvs_keys *k)
{
	size_t n = 0;

	if (!k->n)
		return;
	qsort(k->v, k->n, sizeof(*k->v), rule_key_cmp);
	for (size_t i = 0; i < k->n; i++)
		if (!n || rule_key_cmp(&k->v[n - 1], &k->v[i]))
			k->v[n++] = k->v[i];
	k->n = n;
}

void ipvs_plan_build(const struct node_view *v, const struct ipvs_plan_opts *o, struct ipvs_plan *p)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		const struct route *cip = NULL;
		uint32_t mark = 0;
		uint8_t proto;

		if (pv->family != o->family)
			continue;
		for (size_t k = 0; k < pv->n_routes && !cip; k++)
			if (pv->routes[k].kind == ROUTE_CLUSTER_IP)
				cip = &pv->routes[k];
		/* kube-proxy skips a service without a cluster IP, NodePorts and all. */
		if (!cip || !cip->allocated)
			continue;
		proto = (uint8_t)proto_ipproto(pv->port->proto);
		for (size_t k = 0; k < pv->n_routes; k++)
			plan_route(p, o, pv, &pv->routes[k], proto, &mark);
		add_loopback(p, pv, proto, mark != 0); /* plan_route set mark: a shortcut */
	}
	ipvs_table_sort(&p->svcs);
	if (p->n_link_addrs)
		qsort(p->link_addrs, p->n_link_addrs, sizeof(*p->link_addrs), addr_cmp_qsort);
	for (size_t i = 0; i < p->n_link_addrs; i++)
		if (!n || !addr_eq(&p->link_addrs[n - 1], &p->link_addrs[i]))
			p->link_addrs[n++] = p->link_addrs[i];
	p->n_link_addrs = n;
	for (int s = 0; s < IPVS_SET_N; s++)
		keys_normalize(&p->sets[s]);
}
