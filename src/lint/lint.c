/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule engine.  Every node's view is built with the policy core, one
 * node at a time (a view of a large cluster is megabytes); what each port
 * does on each node is noted per port, and the per-node rules read those
 * notes once every node was seen.  The port views of all nodes line up:
 * a view lists the same ports in the same order whatever the node
 * (policy.h sorts them by service, port and family), only the routes and
 * endpoint sets differ.  Rules that need no node read the first view.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "core/util.h"
#include "lint/lint_internal.h"

const char *const lint_modes[] = { "iptables", "userspace", "nftables", "ipvs", NULL };

void lint_opts_init(struct lint_opts *o)
{
	*o = (struct lint_opts){ .mode = "iptables",
				 .endpoint_lifetime_s = LINT_DEFAULT_ENDPOINT_LIFETIME_S };
	policy_opts_init(&o->po);
}

/* Why a node does not use a port's topology hints (KR003). */
enum topo_why {
	TOPO_NO_ZONE_LABEL,
	TOPO_ZONE_NOT_HINTED,
	TOPO_N_WHY,
};

static const char *const topo_why_text[TOPO_N_WHY] = {
	[TOPO_NO_ZONE_LABEL] = "without a topology.kubernetes.io/zone label",
	[TOPO_ZONE_NOT_HINTED] = "whose zone no ready endpoint is hinted for",
};

struct node_set {
	uint32_t *v; /* indices into lint_ctx.nodes */
	size_t n, cap;
};

/* What one port view does on each node. */
struct port_notes {
	struct node_set etp_drop;  /* external traffic dropped: eTP Local, no local endpoint */
	struct node_set itp_drop;  /* cluster-IP traffic dropped: iTP Local, no local endpoint */
	struct node_set topo[TOPO_N_WHY];
};

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * The nodes to look at: every Node object; without any, the nodes the
 * endpoints name (kube-proxy runs there at least).  Also reports, as
 * KR011, endpoints on nodes no Node object names.
 */
static void collect_nodes(struct lint_ctx *x)
{
	const struct cluster *c = x->c;
	struct strmap missing;
	size_t cap = 0;
	const char **miss = NULL;
	size_t n_miss = 0, cap_miss = 0;

	strmap_init(&missing);
	for (size_t i = 0; i < c->n_nodes; i++)
		VEC_PUSH(x->nodes, x->n_nodes, cap, c->nodes[i]->name);
	for (size_t i = 0; i < c->n_slices; i++) {
		const struct endpoint_slice *s = c->slices[i];

		for (size_t k = 0; k < s->n_endpoints; k++) {
			const char *nn = s->endpoints[k].node_name;

			if (!nn || !*nn || cluster_find_node(c, nn) || strmap_get(&missing, nn))
				continue;
			strmap_put(&missing, nn, (void *)nn);
			VEC_PUSH(miss, n_miss, cap_miss, nn);
		}
	}
	if (n_miss)
		qsort(miss, n_miss, sizeof(*miss), cmp_name);
	if (!c->n_nodes) {
		x->nodes = miss;
		x->n_nodes = n_miss;
		x->r->nodes_from_endpoints = true;
		lint_add(x, LINT_NODES_UNKNOWN, LINT_INFO, "", "", miss, n_miss,
			 xasprintf("the input has no Node object: the per-node rules looked only at the %zu node%s the endpoints name, not at nodes without an endpoint, and nodes have no zone",
				   n_miss, n_miss == 1 ? "" : "s"));
		miss = NULL;
	} else if (n_miss) {
		lint_add(x, LINT_NODES_UNKNOWN, LINT_INFO, "", "", miss, n_miss,
			 xasprintf("endpoints name %zu node%s that no Node object in the input has (a node that was deleted, or Node objects missing from the input); these nodes were not looked at",
				   n_miss, n_miss == 1 ? "" : "s"));
	}
	free(miss);
	if (x->n_nodes)
		qsort(x->nodes, x->n_nodes, sizeof(*x->nodes), cmp_name);
	strmap_done(&missing);
}

static void set_add(struct node_set *s, uint32_t node)
{
	VEC_PUSH(s->v, s->n, s->cap, node);
}

/* The zone hints of a port's ready endpoints: none, some or all of them hinted. */
static void hint_coverage(const struct port_view *pv, bool *any, bool *all)
{
	bool ready = false;

	*any = false;
	*all = true;
	for (size_t i = 0; i < pv->n_eps; i++) {
		if (!pv->eps[i].ready)
			continue;
		ready = true;
		if (pv->eps[i].n_zone_hints)
			*any = true;
		else
			*all = false;
	}
	if (!ready)
		*all = false;
}

/* One node's view into the per-port notes. */
static void note_node(struct lint_ctx *x, const struct node_view *v, uint32_t node,
		      struct port_notes *notes)
{
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		bool etp = false, itp = false, any_hint, all_hint;

		for (size_t k = 0; k < pv->n_routes; k++) {
			if (pv->routes[k].action != ACTION_DROP)
				continue;
			if (pv->routes[k].kind == ROUTE_CLUSTER_IP)
				itp = true;
			else
				etp = true;
		}
		if (etp)
			set_add(&notes[i].etp_drop, node);
		if (itp)
			set_add(&notes[i].itp_drop, node);
		/* Hints on every ready endpoint and still none used here: this node's fault. */
		hint_coverage(pv, &any_hint, &all_hint);
		if (all_hint && !pv->cat.cluster.nil && pv->cat.topology == TOPOLOGY_NONE)
			set_add(&notes[i].topo[v->zone && *v->zone ? TOPO_ZONE_NOT_HINTED
							       : TOPO_NO_ZONE_LABEL], node);
	}
	(void)x;
}

static const char **set_names(const struct lint_ctx *x, const struct node_set *s)
{
	const char **names = xcalloc(s->n + 1, sizeof(*names));

	for (size_t i = 0; i < s->n; i++)
		names[i] = x->nodes[s->v[i]];
	return names;
}

/* "nodePort 30081, loadBalancer 198.51.100.7:80": where external traffic enters. */
static char *external_entries(const struct port_view *pv)
{
	struct sbuf b = { 0 };

	for (size_t k = 0; k < pv->n_routes; k++) {
		const struct route *rt = &pv->routes[k];
		char a[ADDR_PORT_STRLEN];

		if (rt->kind == ROUTE_CLUSTER_IP)
			continue;
		if (b.len)
			SBUF_ADDL(&b, ", ");
		sbuf_adds(&b, route_kind_name(rt->kind));
		if (rt->kind == ROUTE_NODE_PORT) {
			sbuf_printf(&b, " %u", rt->port);
			continue;
		}
		addr_port_format(&rt->addr, rt->port, a);
		sbuf_printf(&b, " %s", a);
	}
	return sbuf_cstr(&b);
}

/* KR001, KR002, KR003: what the port does on each node. */
static void per_node_rules(struct lint_ctx *x, const struct port_view *pv,
			   const struct port_notes *pn, const char *port)
{
	const char *svc = pv->svc->key;
	const char **names;

	if (pn->etp_drop.n) {
		char *entries = external_entries(pv);
		bool lb = pv->svc->type == SVC_LOAD_BALANCER;

		names = set_names(x, &pn->etp_drop);
		lint_add(x, LINT_ETP_LOCAL_DROPS, lb ? LINT_WARNING : LINT_ERROR, svc, port,
			 names, pn->etp_drop.n,
			 xasprintf("externalTrafficPolicy Local: %zu of %zu nodes have no local endpoint, so external traffic arriving there (%s) is dropped without a reply%s",
				   pn->etp_drop.n, x->n_nodes, entries,
				   lb ? "; a load balancer that health-checks healthCheckNodePort avoids these nodes, but traffic sent to their node port is still dropped" : ""));
		free(entries);
		free(names);
	}
	if (pn->itp_drop.n) {
		names = set_names(x, &pn->itp_drop);
		lint_add(x, LINT_ITP_LOCAL_DROPS, LINT_WARNING, svc, port, names, pn->itp_drop.n,
			 xasprintf("internalTrafficPolicy Local: %zu of %zu nodes run no endpoint, so requests from pods on those nodes to the cluster IP are dropped without a reply",
				   pn->itp_drop.n, x->n_nodes));
		free(names);
	}
	for (size_t w = 0; w < TOPO_N_WHY; w++) {
		const struct node_set *ns = &pn->topo[w];

		if (!ns->n)
			continue;
		names = set_names(x, ns);
		lint_add(x, LINT_HINTS_IGNORED, LINT_WARNING, svc, port, names, ns->n,
			 xasprintf("zone hints ignored on %zu node%s %s: their traffic goes to every zone",
				   ns->n, ns->n == 1 ? "" : "s", topo_why_text[w]));
		free(names);
	}
}

/* The distinct nodes of the endpoints e says yes to (borrowed names). */
static size_t endpoint_nodes(const struct port_view *pv, bool (*want)(const struct ep *),
			     const char ***ret)
{
	const char **v = xcalloc(pv->n_eps + 1, sizeof(*v));
	size_t n = 0;

	for (size_t i = 0; i < pv->n_eps; i++)
		if (want(&pv->eps[i]) && pv->eps[i].node_name)
			v[n++] = pv->eps[i].node_name;
	*ret = v;
	return n;
}

static bool ep_serving_terminating(const struct ep *e)
{
	return e->serving && e->terminating;
}

static bool ep_ready(const struct ep *e)
{
	return e->ready;
}

/* KR003 (node-independent reasons), KR004, KR005, KR006: from the endpoints alone. */
static void endpoint_rules(struct lint_ctx *x, const struct port_view *pv, const char *port)
{
	const char *svc = pv->svc->key, **names;
	size_t n_ready = 0, n_st = 0, n;
	bool any_hint, all_hint;

	for (size_t i = 0; i < pv->n_eps; i++) {
		n_ready += pv->eps[i].ready;
		n_st += !pv->eps[i].ready && pv->eps[i].serving && pv->eps[i].terminating;
	}
	if (!pv->cat.has_any) {
		char *why;

		if (!cluster_service_slices(x->c, svc))
			why = xasprintf("no EndpointSlice is labelled %s=%s in namespace %s",
					LABEL_SERVICE_NAME, pv->svc->name, pv->svc->ns);
		else if (!pv->n_eps)
			why = xasprintf("its EndpointSlices list no endpoint for this port");
		else
			why = xasprintf("none of its %zu endpoint%s is ready or serving", pv->n_eps,
					pv->n_eps == 1 ? "" : "s");
		lint_add(x, LINT_NO_ENDPOINTS, LINT_WARNING, svc, port, NULL, 0,
			 xasprintf("no usable endpoint: %s, so every connection is rejected (ICMP port unreachable)",
				   why));
		free(why);
		return;
	}
	if (!n_ready) {
		n = endpoint_nodes(pv, ep_serving_terminating, &names);
		lint_add(x, LINT_ONLY_TERMINATING, LINT_WARNING, svc, port, names, n,
			 xasprintf("no endpoint is ready; traffic falls back to %zu serving but terminating endpoint%s, and is rejected once %s gone",
				   n_st, n_st == 1 ? "" : "s", n_st == 1 ? "it is" : "they are"));
		free(names);
	}
	if (!pv->cat.local.nil && (n_ready == 1 || (!n_ready && n_st == 1))) {
		n = endpoint_nodes(pv, n_ready ? ep_ready : ep_serving_terminating, &names);
		lint_add(x, LINT_LOCAL_SINGLE_ENDPOINT, LINT_WARNING, svc, port, names, n,
			 xasprintf("%s Local with a single endpoint: while it restarts or moves, every request under the Local policy is dropped, with no other endpoint to fail over to",
				   pv->svc->itp == POLICY_LOCAL ? "internalTrafficPolicy" : "externalTrafficPolicy"));
		free(names);
	}
	hint_coverage(pv, &any_hint, &all_hint);
	if (pv->cat.cluster.nil)
		return;
	if (any_hint && !all_hint)
		lint_add(x, LINT_HINTS_IGNORED, LINT_WARNING, svc, port, x->nodes, x->n_nodes,
			 xasprintf("zone hints ignored on every node: some ready endpoints have no zone hint, so traffic goes to every zone"));
	else if (!any_hint && pv->svc->traffic_distribution && n_ready)
		lint_add(x, LINT_HINTS_IGNORED, LINT_WARNING, svc, port, x->nodes, x->n_nodes,
			 xasprintf("trafficDistribution is %s, but no ready endpoint carries a zone hint, so traffic goes to every zone (the EndpointSlice controller hints only endpoints that have a zone)",
				   pv->svc->traffic_distribution));
}

char *lint_port_label(const struct svc_port *sp)
{
	if (sp->name && *sp->name)
		return xstrdup(sp->name);
	return xasprintf("%u/%s", sp->port, proto_name(sp->proto));
}

static void port_notes_done(struct port_notes *pn, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(pn[i].etp_drop.v);
		free(pn[i].itp_drop.v);
		for (size_t k = 0; k < TOPO_N_WHY; k++)
			free(pn[i].topo[k].v);
	}
	free(pn);
}

static int cmp_finding(const void *a, const void *b)
{
	const struct lint_finding *x = a, *y = b;
	int r = strcmp(x->service, y->service);

	if (!r)
		r = strcmp(x->port, y->port);
	if (!r)
		r = (int)x->rule - (int)y->rule;
	if (!r)
		r = strcmp(x->message, y->message);
	return r;
}

void lint_run(const struct cluster *c, const struct lint_opts *o, struct lint_report *ret)
{
	struct lint_ctx x = { .c = c, .o = o, .r = ret };
	struct node_view *first;
	struct port_notes *notes;

	*ret = (struct lint_report){ 0 };
	collect_nodes(&x);
	ret->n_nodes = x.n_nodes;
	/* With no node at all, the node-independent rules still run (on node ""). */
	first = policy_build_view(c, x.n_nodes ? x.nodes[0] : "", &o->po);
	notes = xcalloc(first->n_ports + 1, sizeof(*notes));
	for (size_t n = 0; n < x.n_nodes; n++) {
		struct node_view *v = n ? policy_build_view(c, x.nodes[n], &o->po) : first;

		note_node(&x, v, (uint32_t)n, notes);
		if (v != first)
			node_view_free(v);
	}
	for (size_t i = 0; i < first->n_ports; i++) {
		const struct port_view *pv = &first->ports[i];
		char *port;

		if (pv->svc->headless || pv->svc->type == SVC_EXTERNAL_NAME)
			continue;
		port = lint_port_label(pv->port);
		endpoint_rules(&x, pv, port);
		if (pv->cat.has_any)
			per_node_rules(&x, pv, &notes[i], port);
		free(port);
	}
	for (size_t i = 0; i < c->n_services; i++) {
		if (!streq_null(c->services[i]->proxy_name, o->po.service_proxy_name))
			continue;
		ret->n_services++;
		lint_service_rules(&x, c->services[i]);
	}
	if (ret->n)
		qsort(ret->v, ret->n, sizeof(*ret->v), cmp_finding);
	port_notes_done(notes, first->n_ports);
	node_view_free(first);
	free(x.nodes);
}
