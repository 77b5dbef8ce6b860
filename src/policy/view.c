/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building the per-node view: endpoints per service port and IP family (as
 * kube-proxy's EndpointSlice cache merges them), categorisation, and one
 * route per traffic kind and address with the action kube-proxy's proxiers
 * take (kubernetes-semantics.md section 3).  Pure.
 */
#include "policy/policy.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void policy_opts_init(struct policy_opts *o)
{
	*o = (struct policy_opts){ .prefer_same_node_gate = true };
	lb_default_init(&o->lb);
}

char *port_view_set_key(const struct port_view *pv, bool local)
{
	return xasprintf("%s:%u/%s/%d/%s", pv->svc->key, pv->port->port,
			 pv->port->proto == PROTO_UDP ? "UDP" : "TCP", pv->family == AF_INET6 ? 6 : 4,
			 local ? "local" : "cluster");
}

const char *route_kind_name(enum route_kind k)
{
	switch (k) {
	case ROUTE_NODE_PORT:
		return "nodePort";
	case ROUTE_LOAD_BALANCER:
		return "loadBalancer";
	case ROUTE_EXTERNAL_IP:
		return "externalIP";
	case ROUTE_CLUSTER_IP:
		break;
	}
	return "clusterIP";
}

const char *route_action_name(enum route_action a)
{
	switch (a) {
	case ACTION_DROP:
		return "drop";
	case ACTION_REJECT:
		return "reject";
	case ACTION_FORWARD:
		break;
	}
	return "forward";
}

const char *topology_mode_name(enum topology_mode m)
{
	switch (m) {
	case TOPOLOGY_PREFER_SAME_NODE:
		return "PreferSameNode";
	case TOPOLOGY_PREFER_SAME_ZONE:
		return "PreferSameZone";
	case TOPOLOGY_NONE:
		break;
	}
	return NULL;
}

static void add_note(struct port_view *pv, char *note)
{
	size_t cap = pv->n_notes;

	pv->notes = xgrow(pv->notes, &cap, pv->n_notes + 1, sizeof(*pv->notes));
	pv->notes[pv->n_notes++] = note;
}

/* Candidates by key, then in the order collected (their place in one array). */
static int cmp_ep_ptr(const void *a, const void *b)
{
	const struct ep *x = *(const struct ep *const *)a, *y = *(const struct ep *const *)b;
	int r = strcmp(x->key, y->key);

	return r ? r : (x > y) - (x < y);
}

/*
 * Sorts the collected endpoints by key and keeps one per ip:port: the first
 * collected, unless it is terminating and a later one is not (then the
 * first of those), as a pass in collection order replacing a terminating
 * copy by a later non-terminating one would.  One sort of pointers, no
 * hash map per port view.
 */
static void dedup_endpoints(struct port_view *pv)
{
	const struct ep **by_key;
	struct ep *out;
	size_t n = 0;

	if (pv->n_eps < 2)
		return;
	by_key = xcalloc(pv->n_eps, sizeof(*by_key));
	for (size_t i = 0; i < pv->n_eps; i++)
		by_key[i] = &pv->eps[i];
	qsort(by_key, pv->n_eps, sizeof(*by_key), cmp_ep_ptr);
	out = xcalloc(pv->n_eps, sizeof(*out));
	for (size_t i = 0; i < pv->n_eps;) {
		const struct ep *keep = by_key[i];
		size_t k = i + 1;

		for (; k < pv->n_eps && streq(by_key[k]->key, keep->key); k++)
			if (keep->terminating && !by_key[k]->terminating)
				keep = by_key[k];
		out[n++] = *keep;
		i = k;
	}
	free(by_key);
	free(pv->eps);
	pv->eps = out;
	pv->n_eps = n;
}

static int cmp_slice_name(const void *a, const void *b)
{
	const struct endpoint_slice *x = *(const struct endpoint_slice *const *)a;
	const struct endpoint_slice *y = *(const struct endpoint_slice *const *)b;

	return strcmp(x->name, y->name);
}

/*
 * Endpoints of one service port in one family, merged over the service's
 * slices.  The slice port must have the service port's name and protocol
 * and a number.  A duplicate ip:port (an endpoint moving between slices, or
 * a pod IP reused while the old pod terminates) keeps the non-terminating
 * copy, as current kube-proxy does; between equals the first slice by name
 * wins, so the result does not depend on input order.
 */
static void collect_endpoints(const struct cluster *c, const struct service *svc,
			      const struct svc_port *sp, int family, const char *node_name,
			      struct port_view *pv, bool *ret_port_matched)
{
	const struct slice_group *g = cluster_service_slices(c, svc->key);
	const struct endpoint_slice **slices;
	size_t cap = 0;

	*ret_port_matched = false;
	if (!g)
		return;
	slices = xcalloc(g->n, sizeof(*slices));
	memcpy(slices, g->slices, g->n * sizeof(*slices));
	qsort(slices, g->n, sizeof(*slices), cmp_slice_name);
	for (size_t i = 0; i < g->n; i++) {
		const struct endpoint_slice *s = slices[i];

		if (s->family != family)
			continue;
		for (size_t p = 0; p < s->n_ports; p++) {
			if (s->ports[p].proto != sp->proto || !streq(s->ports[p].name, sp->name) ||
			    s->ports[p].port <= 0)
				continue;
			*ret_port_matched = true;
			for (size_t k = 0; k < s->n_endpoints; k++)
				cap++;
		}
	}
	pv->eps = xcalloc(cap ? cap : 1, sizeof(*pv->eps));
	for (size_t i = 0; i < g->n; i++) {
		const struct endpoint_slice *s = slices[i];

		if (s->family != family)
			continue;
		for (size_t p = 0; p < s->n_ports; p++) {
			const struct slice_port *port = &s->ports[p];

			if (port->proto != sp->proto || !streq(port->name, sp->name) ||
			    port->port <= 0)
				continue;
			for (size_t k = 0; k < s->n_endpoints; k++) {
				const struct slice_endpoint *se = &s->endpoints[k];
				struct ep e = {
					.addr = se->addr,
					.port = (uint16_t)port->port,
					.ready = se->ready != TRI_FALSE,
					.serving = se->serving != TRI_FALSE,
					.terminating = se->terminating == TRI_TRUE,
					.is_local = node_name && *node_name && se->node_name &&
						    streq(se->node_name, node_name),
					.node_name = se->node_name,
					.zone = se->zone,
					.zone_hints = se->hint_zones,
					.n_zone_hints = se->n_hint_zones,
					.node_hints = se->hint_nodes,
					.n_node_hints = se->n_hint_nodes,
				};
				addr_port_format(&e.addr, e.port, e.key);
				pv->eps[pv->n_eps++] = e;
			}
		}
	}
	free(slices);
	dedup_endpoints(pv);
}

static const struct addr *family_ip(const struct addr *v, size_t n, int family)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].family == family)
			return &v[i];
	return NULL;
}

struct route_ctx {
	const struct policy_opts *opts;
	struct port_view *pv;
	size_t cap_routes;
};

static const char *endpoint_word(size_t n)
{
	return n == 1 ? "endpoint" : "endpoints";
}

static void cidrs_text(const struct cidr *v, size_t n, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		char c[ADDR_STRLEN + 4];

		cidr_format(&v[i], c);
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? ", " : "", c);
	}
}

/* Internal (ClusterIP) traffic: kube-proxy's SVC / SVL chains. */
static void route_internal(struct route_ctx *rc, struct route *r)
{
	struct port_view *pv = rc->pv;
	const struct service *svc = pv->svc;
	bool local = svc->itp == POLICY_LOCAL;
	const char *pre = r->allocated ? "" : "cluster IP not allocated yet (nothing is programmed until the API server assigns one); once it is: ";
	char cidrs[256];

	r->policy = svc->itp;
	r->uses_local = local;
	r->masquerade = rc->opts->masquerade_all;
	r->preserves_source_ip = !r->masquerade;
	cidrs_text(rc->opts->cluster_cidrs, rc->opts->n_cluster_cidrs, cidrs, sizeof(cidrs));
	if (!pv->cat.has_any) {
		r->action = ACTION_REJECT;
		r->reason = xasprintf("%sno ready or serving endpoint exists anywhere, so connections are rejected (ICMP port unreachable)", pre);
	} else if (!route_endpoints(pv, r)->n) {
		r->action = ACTION_DROP;
		r->reason = xasprintf("%sinternalTrafficPolicy is Local and this node has no ready or serving endpoint (the service has endpoints on other nodes), so packets are dropped", pre);
	} else {
		char how[160] = "";
		const struct ep_set *es = route_endpoints(pv, r);

		r->action = ACTION_FORWARD;
		if (local)
			snprintf(how, sizeof(how), "internalTrafficPolicy Local: forwarded only to this node's %zu %s",
				 es->n, endpoint_word(es->n));
		else if (pv->cat.topology != TOPOLOGY_NONE)
			snprintf(how, sizeof(how), "forwarded to the %zu %s hinted for this %s (%s)",
				 es->n, endpoint_word(es->n),
				 pv->cat.topology == TOPOLOGY_PREFER_SAME_NODE ? "node" : "zone",
				 topology_mode_name(pv->cat.topology));
		else
			snprintf(how, sizeof(how), "forwarded to %zu %s", es->n, endpoint_word(es->n));
		if (es->n && !es->v[0]->ready)
			strncat(how, ", none ready: falling back to serving, terminating endpoints",
				sizeof(how) - strlen(how) - 1);
		if (r->masquerade)
			r->reason = xasprintf("%s%s; every packet is masqueraded (--masquerade-all)", pre, how);
		else if (rc->opts->n_cluster_cidrs)
			r->reason = xasprintf("%s%s; pod traffic keeps its source IP, packets from outside the cluster CIDR (%s) are masqueraded",
					      pre, how, cidrs);
		else
			r->reason = xasprintf("%s%s; the source IP is kept", pre, how);
	}
}

/* External traffic (NodePort, LoadBalancer IPs, externalIPs): kube-proxy's EXT chain. */
static void route_external(struct route_ctx *rc, struct route *r)
{
	struct port_view *pv = rc->pv;
	const struct service *svc = pv->svc;
	bool local = svc->etp == POLICY_LOCAL;
	const char *pre = r->allocated ? "" : "node port not allocated yet (nothing is programmed until the API server assigns one); once it is: ";
	char ranges[640] = "";

	r->policy = svc->etp;
	r->uses_local = local;
	r->masquerade = !local;
	r->preserves_source_ip = local;
	if (r->n_source_ranges) {
		char c[480];

		cidrs_text(r->source_ranges, r->n_source_ranges, c, sizeof(c));
		snprintf(ranges, sizeof(ranges), "; only clients in loadBalancerSourceRanges (%s) are accepted, others are dropped", c);
	}
	if (!pv->cat.has_any) {
		r->action = ACTION_REJECT;
		r->reason = xasprintf("%sno ready or serving endpoint exists anywhere, so connections are rejected (ICMP port unreachable)", pre);
	} else if (!route_endpoints(pv, r)->n) {
		r->action = ACTION_DROP;
		r->reason = xasprintf("%sexternalTrafficPolicy is Local and this node has no ready or serving endpoint (the service has endpoints on other nodes), so external packets are dropped; traffic from pods and from this node still goes to all cluster endpoints", pre);
	} else if (local) {
		r->action = ACTION_FORWARD;
		r->reason = xasprintf("%sexternalTrafficPolicy Local: forwarded to %zu local %s without masquerade, so the client source IP is kept; traffic from pods and from this node goes to all cluster endpoints%s",
				      pre, route_endpoints(pv, r)->n, endpoint_word(route_endpoints(pv, r)->n), ranges);
	} else {
		r->action = ACTION_FORWARD;
		r->reason = xasprintf("%sforwarded to %zu %s in the cluster and masqueraded (externalTrafficPolicy Cluster), so endpoints see a node IP, not the client's%s",
				      pre, route_endpoints(pv, r)->n, endpoint_word(route_endpoints(pv, r)->n), ranges);
	}
}

static struct route *new_route(struct route_ctx *rc, enum route_kind kind)
{
	struct port_view *pv = rc->pv;
	struct route *r;

	pv->routes = xgrow(pv->routes, &rc->cap_routes, pv->n_routes + 1, sizeof(*pv->routes));
	r = &pv->routes[pv->n_routes++];
	*r = (struct route){ .kind = kind, .allocated = true, .port = pv->port->port };
	return r;
}

static void build_routes(const struct cluster *c, const struct node *node,
			 const struct policy_opts *opts, struct port_view *pv)
{
	const struct service *svc = pv->svc;
	const struct svc_port *sp = pv->port;
	struct route_ctx rc = { .opts = opts, .pv = pv };
	const struct addr *ip;
	struct route *r;

	/* ClusterIP */
	ip = family_ip(svc->cluster_ips, svc->n_cluster_ips, pv->family);
	r = new_route(&rc, ROUTE_CLUSTER_IP);
	if (ip)
		r->addr = *ip;
	else
		r->allocated = false;
	route_internal(&rc, r);

	/* NodePort: a LoadBalancer may have none (allocateLoadBalancerNodePorts: false). */
	if (sp->node_port || svc->type == SVC_NODE_PORT) {
		r = new_route(&rc, ROUTE_NODE_PORT);
		r->port = sp->node_port;
		r->allocated = sp->node_port != 0;
		ip = node ? family_ip(node->addresses, node->n_addresses, pv->family) : NULL;
		if (ip)
			r->addr = *ip;
		else
			r->addr.family = 0; /* every local address */
		route_external(&rc, r);
	}

	for (size_t i = 0; i < svc->n_lb_ingress; i++) {
		const struct lb_ingress *li = &svc->lb_ingress[i];
		char a[ADDR_STRLEN];

		if (li->ip.family != pv->family)
			continue;
		if (li->ip_mode_proxy) {
			addr_format(&li->ip, a);
			add_note(pv, xasprintf("load-balancer IP %s has ipMode Proxy: the load balancer proxies to the node, so no rule is programmed for that IP (as kube-proxy does)", a));
			continue;
		}
		r = new_route(&rc, ROUTE_LOAD_BALANCER);
		r->addr = li->ip;
		/* Each family keeps its own ranges (kube-proxy maps them by family). */
		r->source_ranges = xcalloc(svc->n_lb_source_ranges + 1, sizeof(*r->source_ranges));
		for (size_t k = 0; k < svc->n_lb_source_ranges; k++)
			if (svc->lb_source_ranges[k].addr.family == pv->family)
				r->source_ranges[r->n_source_ranges++] = svc->lb_source_ranges[k];
		route_external(&rc, r);
	}
	for (size_t i = 0; i < svc->n_external_ips; i++) {
		if (svc->external_ips[i].family != pv->family)
			continue;
		r = new_route(&rc, ROUTE_EXTERNAL_IP);
		r->addr = svc->external_ips[i];
		route_external(&rc, r);
	}
	(void)c;
}

static bool port_externally_accessible(const struct service *svc, const struct svc_port *sp,
				       int family)
{
	/* A NodePort service whose port is not allocated yet: judge it as it will be. */
	if (sp->node_port || svc->type == SVC_NODE_PORT)
		return true;
	for (size_t i = 0; i < svc->n_lb_ingress; i++)
		if (svc->lb_ingress[i].ip.family == family && !svc->lb_ingress[i].ip_mode_proxy)
			return true;
	return family_ip(svc->external_ips, svc->n_external_ips, family) != NULL;
}

static const char *topology_ignored_note(const struct port_view *pv, const char *zone)
{
	bool any_hint = false, all_hint = true, any_ready = false;

	for (size_t i = 0; i < pv->n_eps; i++) {
		if (!pv->eps[i].ready)
			continue;
		any_ready = true;
		if (pv->eps[i].n_zone_hints)
			any_hint = true;
		else
			all_hint = false;
	}
	if (!any_hint || pv->cat.topology != TOPOLOGY_NONE || pv->cat.cluster.nil)
		return NULL;
	if (!any_ready)
		return NULL;
	if (!all_hint)
		return "zone hints ignored: some ready endpoints have no zone hint, so traffic goes to every zone";
	if (!zone || !*zone)
		return "zone hints ignored: this node has no topology.kubernetes.io/zone label";
	return "zone hints ignored: no endpoint is hinted for this node's zone";
}

static void add_port_view(struct node_view *v, const struct cluster *c,
			  const struct service *svc, const struct svc_port *sp, int family,
			  const struct policy_opts *opts, bool dual)
{
	struct port_view *pv;
	struct categorize_in in;
	bool matched;

	v->ports = xgrow(v->ports, &v->cap_ports, v->n_ports + 1, sizeof(*v->ports));
	pv = &v->ports[v->n_ports++];
	*pv = (struct port_view){ .svc = svc, .port = sp, .family = family };

	if (svc->headless || svc->type == SVC_EXTERNAL_NAME) {
		pv->cat = (struct categorized){
			.cluster = { .nil = true }, .local = { .nil = true },
			.all = { .v = xcalloc(1, sizeof(void *)) },
		};
		add_note(pv, xstrdup(svc->headless
			? "headless service (clusterIP: None): kube-proxy programs nothing, clients reach the pods through DNS"
			: "ExternalName service: kube-proxy programs nothing, DNS answers with a CNAME"));
		return;
	}
	lb_choose(svc, &opts->lb, &pv->lb);
	collect_endpoints(c, svc, sp, family, v->node_name, pv, &matched);
	in = (struct categorize_in){
		.itp_local = svc->itp == POLICY_LOCAL,
		.etp_local = svc->etp == POLICY_LOCAL,
		.externally_accessible = port_externally_accessible(svc, sp, family),
		.node_name = v->node_name,
		.zone = v->zone,
		.prefer_same_node_gate = opts->prefer_same_node_gate,
	};
	policy_categorize(pv->eps, pv->n_eps, &in, &pv->cat);
	build_routes(c, v->node, opts, pv);
	if (pv->lb.problem) {
		/* Say it where the user looks: on every route, and once as a note. */
		for (size_t r = 0; r < pv->n_routes; r++) {
			char *reason = xasprintf("%s (%s)", pv->routes[r].reason, pv->lb.problem);

			free(pv->routes[r].reason);
			pv->routes[r].reason = reason;
		}
		add_note(pv, xstrdup(pv->lb.problem));
	}

	if (!cluster_service_slices(c, svc->key))
		add_note(pv, xasprintf("no EndpointSlice is labelled %s=%s in namespace %s, so the service has no endpoints",
				       LABEL_SERVICE_NAME, svc->name, svc->ns));
	else if (!matched)
		add_note(pv, xasprintf("no %s EndpointSlice of this service has a port named \"%s\" with protocol %s, so this port has no endpoints",
				       family == AF_INET6 ? "IPv6" : "IPv4", sp->name,
				       proto_name(sp->proto)));
	if (svc->etp == POLICY_LOCAL && !in.externally_accessible)
		add_note(pv, xstrdup("externalTrafficPolicy: Local has no effect: nothing outside the cluster can reach this port (no nodePort, load-balancer IP or externalIP)"));
	{
		const char *t = topology_ignored_note(pv, v->zone);

		if (t)
			add_note(pv, xstrdup(t));
	}
	if (pv->cat.topology != TOPOLOGY_NONE && svc->itp == POLICY_LOCAL)
		add_note(pv, xstrdup("topology hints apply to cluster endpoints only; internalTrafficPolicy Local ignores them"));
	if (dual)
		add_note(pv, xasprintf("dual-stack service: this is the %s half",
				       family == AF_INET6 ? "IPv6" : "IPv4"));
}

static int cmp_port_view(const void *a, const void *b)
{
	const struct port_view *x = a, *y = b;
	int r = strcmp(x->svc->ns, y->svc->ns);

	if (!r)
		r = strcmp(x->svc->name, y->svc->name);
	if (!r)
		r = (x->port > y->port) - (x->port < y->port);
	if (!r)
		r = x->family - y->family;
	return r;
}

/* The IP families a service is programmed for, as kube-proxy's per-family proxiers see it. */
static size_t service_families(const struct cluster *c, const struct service *svc, int fam[2])
{
	size_t n = 0;

	if (svc->n_families) {
		for (size_t i = 0; i < svc->n_families; i++)
			fam[n++] = svc->families[i];
		return n;
	}
	for (size_t i = 0; i < svc->n_cluster_ips && n < 2; i++)
		fam[n++] = svc->cluster_ips[i].family;
	if (n)
		return n;
	/* Unallocated: take the families of the service's slices, IPv4 first. */
	{
		const struct slice_group *g = cluster_service_slices(c, svc->key);
		bool v4 = false, v6 = false;

		for (size_t i = 0; g && i < g->n; i++) {
			v4 |= g->slices[i]->family == AF_INET;
			v6 |= g->slices[i]->family == AF_INET6;
		}
		if (v4 || !v6)
			fam[n++] = AF_INET;
		if (v6)
			fam[n++] = AF_INET6;
	}
	return n;
}

/* The port views of one service (none when another proxy owns it). */
static void add_service(struct node_view *v, const struct cluster *c, const struct service *svc,
			const struct policy_opts *opts)
{
	int fam[2];
	size_t nf;

	/* service.kubernetes.io/service-proxy-name: only services meant for us. */
	if (!streq_null(svc->proxy_name, opts->service_proxy_name))
		return;
	nf = service_families(c, svc, fam);
	for (size_t p = 0; p < svc->n_ports; p++)
		for (size_t f = 0; f < nf; f++)
			add_port_view(v, c, svc, &svc->ports[p], fam[f], opts, nf > 1);
}

/* Services left to another proxy: kept by key so an update counts them per change. */
static void note_other_proxy(struct node_view *v, const struct service *svc,
			     const struct policy_opts *opts)
{
	if (!streq_null(svc->proxy_name, opts->service_proxy_name) &&
	    !strmap_get(&v->other_proxy, svc->key)) {
		char *key = xstrdup(svc->key);

		strmap_put(&v->other_proxy, key, key);
	}
}

static void forget_other_proxy(struct node_view *v, const char *key)
{
	const char *stored;

	if (strmap_del(&v->other_proxy, key, &stored))
		free((char *)stored);
}

static struct node_view *view_new(const struct cluster *c, const char *node_name,
				  uint64_t first_id)
{
	struct node_view *v = xcalloc(1, sizeof(*v));

	v->node_name = xstrdup(node_name ? node_name : "");
	v->node = cluster_find_node(c, v->node_name);
	v->zone = v->node ? v->node->zone : NULL;
	v->next_id = first_id;
	v->generation = 1;
	v->changed_all = true;
	strmap_init(&v->other_proxy);
	return v;
}

/* Every port view of v is new: each gets the next id. */
static void assign_ids(struct node_view *v)
{
	for (size_t i = 0; i < v->n_ports; i++)
		v->ports[i].id = v->next_id++;
	v->n_rebuilt = v->n_ports;
}

static void build_all(struct node_view *v, const struct cluster *c, const struct policy_opts *opts)
{
	for (size_t i = 0; i < c->n_services; i++) {
		add_service(v, c, c->services[i], opts);
		note_other_proxy(v, c->services[i], opts);
	}
	v->n_skipped_other_proxy = v->other_proxy.n;
	if (v->n_ports)
		qsort(v->ports, v->n_ports, sizeof(*v->ports), cmp_port_view);
	assign_ids(v);
}

struct node_view *policy_build_view(const struct cluster *c, const char *node_name,
				    const struct policy_opts *opts)
{
	struct node_view *v = view_new(c, node_name, 1);

	build_all(v, c, opts);
	return v;
}

static void port_view_done(struct port_view *pv)
{
	free(pv->eps);
	categorized_done(&pv->cat);
	for (size_t r = 0; r < pv->n_routes; r++) {
		free(pv->routes[r].reason);
		free(pv->routes[r].source_ranges);
	}
	free(pv->routes);
	strv_free(pv->notes, pv->n_notes);
	lb_choice_done(&pv->lb);
}

/*
 * Orders a port view's service against a service key "ns/name" as
 * cmp_port_view orders services (namespace, then name; a namespace has no
 * '/').
 */
static int cmp_service_key(const struct service *svc, const char *key)
{
	const char *slash = strchr(key, '/');
	size_t ns_len = slash ? (size_t)(slash - key) : strlen(key);
	int r = strncmp(svc->ns, key, ns_len);

	if (!r && svc->ns[ns_len])
		r = 1; /* key's namespace is a prefix of svc's */
	return r ? r : strcmp(svc->name, slash ? slash + 1 : "");
}

/* The first of ports[0..n) whose service is not before key (binary search). */
static size_t lower_bound(const struct port_view *ports, size_t n, const char *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cmp_service_key(ports[mid].svc, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

size_t policy_view_service_ports(const struct node_view *v, const char *svc_key, size_t *first)
{
	size_t lo = lower_bound(v->ports, v->n_ports, svc_key), hi = lo;

	while (hi < v->n_ports && !cmp_service_key(v->ports[hi].svc, svc_key))
		hi++;
	*first = lo;
	return hi - lo;
}

/* One changed service: its port views in the old view and the ones built for it now. */
struct replaced {
	const char *key;            /* borrowed from the dirty set */
	size_t old_first, n_old;    /* in the view being updated */
	size_t new_first, n_new;    /* in the fresh port views */
};

/* Service keys "ns/name" in the view's order (namespace, then name). */
static int cmp_replaced(const void *a, const void *b)
{
	const struct replaced *x = a, *y = b;
	size_t nx = strcspn(x->key, "/"), ny = strcspn(y->key, "/");
	int r = strncmp(x->key, y->key, MIN(nx, ny));

	if (!r)
		r = (nx > ny) - (nx < ny);
	return r ? r : strcmp(x->key + nx + (x->key[nx] == '/'), y->key + ny + (y->key[ny] == '/'));
}

/* from[first .. first + n) to dst; from may be NULL when n is 0. */
static void copy_ports(struct port_view *dst, const struct port_view *from, size_t first, size_t n)
{
	if (n)
		memcpy(dst, &from[first], n * sizeof(*dst));
}

/*
 * Puts the rebuilt port views in place of the old ones of their services
 * (r sorted by position).  When every changed service keeps its number of
 * port views (an endpoint change) they are swapped in place; otherwise the
 * array is laid out again in one pass of block copies.
 */
static void splice_ports(struct node_view *v, struct replaced *r, size_t n_r,
			 struct port_view *fresh)
{
	bool same_shape = true;
	size_t n = v->n_ports, out = 0, from = 0, n_at = 0;
	struct port_view *next;

	for (size_t i = 0; i < n_r; i++) {
		for (size_t k = 0; k < r[i].n_old; k++) {
			VEC_PUSH(v->gone_ids, v->n_gone, v->cap_gone, v->ports[r[i].old_first + k].id);
			port_view_done(&v->ports[r[i].old_first + k]);
		}
		same_shape &= r[i].n_old == r[i].n_new;
		n = n - r[i].n_old + r[i].n_new;
	}
	if (same_shape) {
		for (size_t i = 0; i < n_r; i++) {
			copy_ports(&v->ports[r[i].old_first], fresh, r[i].new_first, r[i].n_new);
			for (size_t k = 0; k < r[i].n_new; k++)
				v->rebuilt_at[n_at++] = r[i].old_first + k;
		}
		return;
	}
	next = xcalloc(n ? n : 1, sizeof(*next));
	for (size_t i = 0; i < n_r; i++) {
		size_t keep = r[i].old_first - from;

		copy_ports(&next[out], v->ports, from, keep);
		out += keep;
		copy_ports(&next[out], fresh, r[i].new_first, r[i].n_new);
		for (size_t k = 0; k < r[i].n_new; k++)
			v->rebuilt_at[n_at++] = out++;
		from = r[i].old_first + r[i].n_old;
	}
	copy_ports(&next[out], v->ports, from, v->n_ports - from);
	free(v->ports);
	v->ports = next;
	v->n_ports = v->cap_ports = n;
}

struct node_view *policy_update_view(struct node_view *old, const struct cluster *c,
				     const char *node_name, const struct policy_opts *opts,
				     const struct strmap *dirty_services, bool all)
{
	struct node_view *v, *fresh;
	struct replaced *r;
	size_t n_r = 0;

	if (all || !old) {
		v = view_new(c, node_name, old ? old->next_id : 1);
		v->generation = old ? old->generation + 1 : 1;
		node_view_free(old);
		build_all(v, c, opts);
		return v;
	}
	/*
	 * In place, in time of the services that changed: a 10,000-service
	 * view is megabytes of port views, and a change touches a few.  Each
	 * changed service's port views are found by binary search (the view is
	 * sorted by service) and replaced by the ones built again; nothing
	 * walks the other services.
	 */
	v = old;
	v->node = cluster_find_node(c, v->node_name);
	v->zone = v->node ? v->node->zone : NULL;
	fresh = view_new(c, node_name, v->next_id);
	r = xcalloc(dirty_services->n ? dirty_services->n : 1, sizeof(*r));
	for (size_t i = 0; i < dirty_services->cap; i++) {
		const char *key = dirty_services->slots[i].key;
		const struct service *svc;
		struct replaced *e;

		if (!key)
			continue;
		e = &r[n_r++];
		*e = (struct replaced){ .key = key, .new_first = fresh->n_ports };
		e->n_old = policy_view_service_ports(v, key, &e->old_first);
		forget_other_proxy(v, key);
		svc = cluster_find_service(c, key);
		if (!svc)
			continue;
		note_other_proxy(v, svc, opts);
		add_service(fresh, c, svc, opts);
		e->n_new = fresh->n_ports - e->new_first;
		/* One service's port views: by port, then family, as cmp_port_view orders them. */
		if (e->n_new > 1)
			qsort(&fresh->ports[e->new_first], e->n_new, sizeof(*fresh->ports),
			      cmp_port_view);
	}
	/* Key order is view order: each service's old port views, or where it goes in. */
	qsort(r, n_r, sizeof(*r), cmp_replaced);
	/* The new port views get ids in view order, after every id old gave out. */
	v->n_rebuilt = v->n_gone = 0;
	for (size_t i = 0; i < n_r; i++)
		for (size_t k = 0; k < r[i].n_new; k++) {
			fresh->ports[r[i].new_first + k].id = v->next_id++;
			v->n_rebuilt++;
		}
	v->generation++;
	v->changed_all = false;
	free(v->rebuilt_at);
	v->rebuilt_at = xcalloc(v->n_rebuilt ? v->n_rebuilt : 1, sizeof(*v->rebuilt_at));
	splice_ports(v, r, n_r, fresh->ports);
	free(r);
	fresh->n_ports = 0; /* moved into v */
	node_view_free(fresh);
	v->n_skipped_other_proxy = v->other_proxy.n;
	return v;
}

void node_view_free(struct node_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->n_ports; i++)
		port_view_done(&v->ports[i]);
	free(v->ports);
	free(v->node_name);
	free(v->rebuilt_at);
	free(v->gone_ids);
	for (size_t i = 0; i < v->other_proxy.cap; i++)
		free((char *)v->other_proxy.slots[i].key);
	strmap_done(&v->other_proxy);
	free(v);
}
