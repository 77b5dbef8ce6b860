/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulation.  Each traffic line is resolved once: the node's view
 * (policy_build_view, one per node the traffic names) and the service
 * port's view there.  Then, per variant and scheduler, the port's
 * endpoints are categorised again with the variant's policy and hints
 * (policy_categorize, as the view did), and the line's requests are
 * replayed through the scheduler (picks_compute, explain --flow's replay:
 * a fresh scheduler state per line, every request a new connection that
 * stays open, so least-connection schedulers see the earlier ones).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "core/strmap.h"
#include "core/util.h"
#include "explain/picks.h"
#include "sim/sim.h"

static const char *const variant_names[SIM_N_VARIANTS] = {
	[SIM_AS_IS] = "as-is",
	[SIM_CLUSTER] = "Cluster",
	[SIM_LOCAL] = "Local",
	[SIM_PREFER_SAME_ZONE] = "PreferSameZone",
	[SIM_PREFER_SAME_NODE] = "PreferSameNode",
};

const char *sim_variant_name(enum sim_variant v)
{
	return variant_names[v];
}

int sim_variant_parse(const char *s, enum sim_variant *ret)
{
	for (size_t i = 0; i < SIM_N_VARIANTS; i++) {
		if (!strcasecmp(s, variant_names[i])) {
			*ret = (enum sim_variant)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* A traffic line, resolved against the cluster. */
struct resolved {
	const struct sim_line *line;
	const struct node_view *nv;   /* the entry node's view */
	const struct port_view *pv;   /* the service port there */
	const struct route *route;    /* where the line's requests arrive */
};

struct sim_ctx {
	const struct cluster *c;
	const struct sim_traffic *t;
	const struct sim_opts *o;
	struct node_view **views;     /* one per node the traffic names */
	size_t n_views, cap_views;
	struct resolved *res;
	char *err;
	size_t errlen;
};

static const struct node_view *view_for(struct sim_ctx *x, const char *node)
{
	struct node_view *v;

	for (size_t i = 0; i < x->n_views; i++)
		if (streq(x->views[i]->node_name, node))
			return x->views[i];
	v = policy_build_view(x->c, node, &x->o->po);
	VEC_PUSH(x->views, x->n_views, x->cap_views, v);
	return v;
}

static int cmp_svc(const struct service *s, const char *ns, const char *name)
{
	int r = strcmp(s->ns, ns);

	return r ? r : strcmp(s->name, name);
}

static bool port_matches(const struct port_view *pv, const char *port)
{
	char num[8], node_port[8];

	if (!port)
		return pv->port == &pv->svc->ports[0];
	snprintf(num, sizeof(num), "%u", pv->port->port);
	snprintf(node_port, sizeof(node_port), "%u", pv->port->node_port);
	return streq(pv->port->name, port) || streq(num, port) ||
	       (pv->port->node_port && streq(node_port, port));
}

/* The port view of service ns/name, port port, in v (its first family); NULL when none. */
static const struct port_view *find_port_view(const struct node_view *v, const struct service *svc,
					      const char *port)
{
	size_t lo = 0, hi = v->n_ports;

	/* The ports are sorted by namespace, then name (policy.h). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_svc(v->ports[mid].svc, svc->ns, svc->name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < v->n_ports && v->ports[i].svc == svc; i++)
		if (port_matches(&v->ports[i], port))
			return &v->ports[i];
	return NULL;
}

static int resolve(struct sim_ctx *x, const struct sim_line *l, struct resolved *r)
{
	const struct service *svc = cluster_find_service(x->c, l->service);

	r->line = l;
	if (!svc)
		return snprintf(x->err, x->errlen, "traffic line %u: no service %s in the input",
				l->lineno, l->service), -EINVAL;
	if (x->c->n_nodes && !cluster_find_node(x->c, l->node))
		return snprintf(x->err, x->errlen, "traffic line %u: no Node %s in the input",
				l->lineno, l->node), -EINVAL;
	r->nv = view_for(x, l->node);
	r->pv = find_port_view(r->nv, svc, l->port);
	if (!r->pv || !r->pv->n_routes)
		return snprintf(x->err, x->errlen, "traffic line %u: service %s has no port %s that kroute programs",
				l->lineno, l->service, l->port ? l->port : "(first)"), -EINVAL;
	for (size_t i = 0; i < r->pv->n_routes && !r->route; i++)
		if ((r->pv->routes[i].kind != ROUTE_CLUSTER_IP) == (l->from == SIM_FROM_EXTERNAL))
			r->route = &r->pv->routes[i];
	if (!r->route)
		return snprintf(x->err, x->errlen, "traffic line %u: external traffic cannot reach %s: it has no node port, load-balancer IP or externalIP",
				l->lineno, l->service), -EINVAL;
	return 0;
}

/* A variant's view of one port's endpoints on the entry node. */
struct variant_cat {
	struct categorized cat;
	struct ep *eps;             /* the endpoints with the variant's hints */
	bool itp_local, etp_local;
};

/*
 * The endpoints categorised as the variant would have them.  Hints are
 * what the EndpointSlice controller writes (kubernetes-semantics.md,
 * section 2): PreferSameZone gives each ready endpoint with a zone
 * forZones = [its zone]; PreferSameNode also forNodes = [its node].  The
 * hint arrays point at the copy's own zone and node fields (one element
 * each), which live as long as the copy.
 */
static void variant_categorize(const struct resolved *r, enum sim_variant v,
			       const struct sim_opts *o, struct variant_cat *vc)
{
	const struct port_view *pv = r->pv;
	struct categorize_in in = {
		.externally_accessible = false,
		.node_name = r->nv->node_name,
		.zone = r->nv->zone,
		.prefer_same_node_gate = o->po.prefer_same_node_gate,
	};

	for (size_t i = 0; i < pv->n_routes; i++)
		in.externally_accessible |= pv->routes[i].kind != ROUTE_CLUSTER_IP;
	vc->itp_local = v == SIM_LOCAL || (v == SIM_AS_IS && pv->svc->itp == POLICY_LOCAL);
	vc->etp_local = v == SIM_LOCAL || (v == SIM_AS_IS && pv->svc->etp == POLICY_LOCAL);
	vc->eps = xcalloc(pv->n_eps + 1, sizeof(*vc->eps));
	if (pv->n_eps)
		memcpy(vc->eps, pv->eps, pv->n_eps * sizeof(*vc->eps));
	for (size_t i = 0; v != SIM_AS_IS && i < pv->n_eps; i++) {
		struct ep *e = &vc->eps[i];
		bool hinted = e->ready && (v == SIM_PREFER_SAME_ZONE || v == SIM_PREFER_SAME_NODE);

		e->n_zone_hints = hinted && e->zone ? 1 : 0;
		e->zone_hints = (char *const *)&e->zone;
		e->n_node_hints = hinted && v == SIM_PREFER_SAME_NODE && e->node_name ? 1 : 0;
		e->node_hints = (char *const *)&e->node_name;
	}
	in.itp_local = vc->itp_local;
	in.etp_local = vc->etp_local;
	policy_categorize(vc->eps, pv->n_eps, &in, &vc->cat);
}

/* The address of client k of traffic line li: pods from 100.64.0.0/10, external from 198.18.0.0/15. */
static struct flow_src client_flow(int family, enum sim_from from, size_t li, uint32_t clients,
				   uint32_t req)
{
	uint32_t id = (uint32_t)(li * clients + req % clients);
	struct flow_src f = { .addr = { .family = (uint8_t)family } };

	if (family == AF_INET6) {
		f.addr.bytes[0] = 0xfd;
		f.addr.bytes[1] = from == SIM_FROM_PODS ? 0x64 : 0x18;
		memcpy(&f.addr.bytes[12], &id, sizeof(id));
	} else {
		f.addr.bytes[0] = from == SIM_FROM_PODS ? 100 : 198;
		f.addr.bytes[1] = (uint8_t)((from == SIM_FROM_PODS ? 64 : 18) | ((id >> 16) & 1));
		f.addr.bytes[2] = (uint8_t)(id >> 8);
		f.addr.bytes[3] = (uint8_t)id;
	}
	f.port = (uint16_t)(1024 + (req / clients) % 64000);
	return f;
}

/* The counter of name in *v (added with 0 requests when new). */
static struct sim_count *count_for(struct strmap *index, struct sim_count **v, size_t *n,
				   size_t *cap, const char *name, const char *node)
{
	uintptr_t i = (uintptr_t)strmap_get(index, name);

	if (i)
		return &(*v)[i - 1];
	VEC_PUSH(*v, *n, *cap, ((struct sim_count){ .name = xstrdup(name),
						     .node = node ? xstrdup(node) : NULL }));
	strmap_put(index, (*v)[*n - 1].name, (void *)(uintptr_t)*n);
	return &(*v)[*n - 1];
}

struct counters {
	struct sim_result *res;
	struct strmap ep_index, node_index;
};

static char *ep_name(const struct port_view *pv, const struct ep *e)
{
	return xasprintf("%s:%s %s", pv->svc->key, *pv->port->name ? pv->port->name : "-", e->key);
}

/* Every usable endpoint of the line's port, and every node, listed with 0 requests. */
static void list_all(struct counters *k, const struct sim_ctx *x, const struct resolved *r)
{
	struct sim_result *res = k->res;

	for (size_t i = 0; i < r->pv->n_eps; i++) {
		const struct ep *e = &r->pv->eps[i];
		char *name;

		if (!e->ready && !(e->serving && e->terminating))
			continue;
		name = ep_name(r->pv, e);
		count_for(&k->ep_index, &res->eps, &res->n_eps, &res->cap_eps, name,
			  e->node_name ? e->node_name : "");
		free(name);
	}
	for (size_t i = 0; i < x->c->n_nodes; i++)
		count_for(&k->node_index, &res->nodes, &res->n_nodes, &res->cap_nodes,
			  x->c->nodes[i]->name, NULL);
}

static double added_ms(const struct sim_traffic *t, const struct node_view *nv, const struct ep *e)
{
	if (e->node_name && streq(e->node_name, nv->node_name))
		return t->ms_same_node;
	if (e->zone && nv->zone && !streq(e->zone, nv->zone))
		return t->ms_cross_zone;
	return t->ms_same_zone;
}

static int run_line(struct sim_ctx *x, struct counters *k, size_t li, enum sim_variant v,
		    const char *sched)
{
	const struct resolved *r = &x->res[li];
	const struct sim_line *l = r->line;
	struct sim_result *res = k->res;
	struct variant_cat vc;
	struct port_view vpv = *r->pv;
	struct route route = *r->route;
	const struct ep_set *set;
	struct flow_src *flows;
	int32_t *picks;
	bool external = l->from == SIM_FROM_EXTERNAL;
	int ret;

	list_all(k, x, r);
	variant_categorize(r, v, x->o, &vc);
	route.uses_local = external ? vc.etp_local : vc.itp_local;
	set = route.uses_local ? &vc.cat.local : &vc.cat.cluster;
	res->requests += l->rps;
	if (!vc.cat.has_any || !set->n) {
		/* No endpoint anywhere: rejected; none this route may use: dropped. */
		if (vc.cat.has_any)
			res->dropped += l->rps;
		else
			res->rejected += l->rps;
		categorized_done(&vc.cat);
		free(vc.eps);
		return 0;
	}
	vpv.cat = vc.cat;
	if (sched)
		vpv.lb.sched_name = sched;
	flows = xcalloc(l->rps, sizeof(*flows));
	picks = xcalloc(l->rps, sizeof(*picks));
	for (uint32_t i = 0; i < l->rps; i++)
		flows[i] = client_flow(r->pv->family, l->from, li, l->clients, i);
	ret = picks_compute(&vpv, &route, flows, l->rps, picks);
	for (uint32_t i = 0; ret == 0 && i < l->rps; i++) {
		const struct ep *e;
		char *name;

		if (picks[i] < 0) {
			res->dropped++;
			continue;
		}
		e = set->v[picks[i]];
		name = ep_name(r->pv, e);
		count_for(&k->ep_index, &res->eps, &res->n_eps, &res->cap_eps, name,
			  e->node_name ? e->node_name : "")->requests++;
		free(name);
		if (e->node_name)
			count_for(&k->node_index, &res->nodes, &res->n_nodes, &res->cap_nodes,
				  e->node_name, NULL)->requests++;
		res->forwarded++;
		res->cross_node += !e->node_name || !streq(e->node_name, r->nv->node_name);
		res->cross_zone += e->zone && r->nv->zone && !streq(e->zone, r->nv->zone);
		res->client_ip_kept += external ? route.uses_local : !x->o->po.masquerade_all;
		res->latency_ms += added_ms(x->t, r->nv, e);
	}
	if (ret < 0)
		snprintf(x->err, x->errlen, "traffic line %u: the scheduler failed: %s", l->lineno,
			 strerror(-ret));
	free(flows);
	free(picks);
	categorized_done(&vc.cat);
	free(vc.eps);
	return ret < 0 ? -EINVAL : 0;
}

static int cmp_count(const void *a, const void *b)
{
	return strcmp(((const struct sim_count *)a)->name, ((const struct sim_count *)b)->name);
}

/* Whether two endpoint rows ("ns/name:port ip:port") belong to one service port. */
static bool same_port(const char *a, const char *b)
{
	size_t n = strcspn(a, " ");

	return n == strcspn(b, " ") && !strncmp(a, b, n);
}

/* max/mean per service port over its endpoints (the largest), and over the nodes that run any. */
static void imbalance(struct sim_result *res)
{
	uint64_t max = 0, sum = 0;
	size_t n = 0;

	for (size_t start = 0, i; start < res->n_eps; start = i) {
		uint64_t smax = 0, ssum = 0;

		for (i = start; i < res->n_eps && same_port(res->eps[i].name, res->eps[start].name); i++) {
			smax = MAX(smax, res->eps[i].requests);
			ssum += res->eps[i].requests;
		}
		if (ssum)
			res->ep_imbalance = MAX(res->ep_imbalance,
						(double)smax * (double)(i - start) / (double)ssum);
	}
	for (size_t i = 0; i < res->n_nodes; i++) {
		bool runs = false;

		for (size_t k = 0; k < res->n_eps && !runs; k++)
			runs = streq(res->eps[k].node, res->nodes[i].name);
		if (!runs)
			continue;
		max = MAX(max, res->nodes[i].requests);
		sum += res->nodes[i].requests;
		n++;
	}
	if (sum)
		res->node_imbalance = (double)max * (double)n / (double)sum;
}

static int run_result(struct sim_ctx *x, struct sim_result *res)
{
	struct counters k = { .res = res };
	int r = 0;

	strmap_init(&k.ep_index);
	strmap_init(&k.node_index);
	for (size_t li = 0; r == 0 && li < x->t->n; li++)
		r = run_line(x, &k, li, res->variant, res->sched);
	strmap_done(&k.ep_index);
	strmap_done(&k.node_index);
	if (res->n_eps)
		qsort(res->eps, res->n_eps, sizeof(*res->eps), cmp_count);
	if (res->n_nodes)
		qsort(res->nodes, res->n_nodes, sizeof(*res->nodes), cmp_count);
	imbalance(res);
	return r;
}

int sim_run(const struct cluster *c, const struct sim_traffic *t, const struct sim_opts *o,
	    struct sim_report *ret, char *err, size_t errlen)
{
	struct sim_ctx x = { .c = c, .t = t, .o = o, .err = err, .errlen = errlen };
	size_t n_scheds = o->n_scheds ? o->n_scheds : 1;
	int r = 0;

	*ret = (struct sim_report){ 0 };
	x.res = xcalloc(t->n + 1, sizeof(*x.res));
	for (size_t i = 0; r == 0 && i < t->n; i++)
		r = resolve(&x, &t->v[i], &x.res[i]);
	ret->v = xcalloc(SIM_N_VARIANTS * n_scheds, sizeof(*ret->v));
	for (size_t v = 0; r == 0 && v < SIM_N_VARIANTS; v++) {
		if (!o->variant[v])
			continue;
		for (size_t s = 0; r == 0 && s < n_scheds; s++) {
			struct sim_result *res = &ret->v[ret->n++];

			res->variant = (enum sim_variant)v;
			res->sched = o->n_scheds ? o->scheds[s] : NULL;
			r = run_result(&x, res);
		}
	}
	for (size_t i = 0; i < x.n_views; i++)
		node_view_free(x.views[i]);
	free(x.views);
	free(x.res);
	if (r < 0)
		sim_report_done(ret);
	return r;
}

static void counts_free(struct sim_count *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].node);
	}
	free(v);
}

void sim_report_done(struct sim_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		counts_free(r->v[i].eps, r->v[i].n_eps);
		counts_free(r->v[i].nodes, r->v[i].n_nodes);
	}
	free(r->v);
	*r = (struct sim_report){ 0 };
}
