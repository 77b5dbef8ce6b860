/* SPDX-License-Identifier: Apache-2.0 */
/* kroute run's HTTP servers; see serve.h. */
#include "daemon/serve.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ifaddr.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/strmap.h"
#include "core/util.h"
#include "http/httpd.h"

#define NS_PER_SEC 1000000000ull
/* kube-proxy retries its health and metrics servers every 5 s (wait.Until). */
#define SERVE_RETRY_NS (5 * NS_PER_SEC)
#define TAINT_TO_BE_DELETED "ToBeDeletedByClusterAutoscaler"

/* One service's healthCheckNodePort server (one listener per node address). */
struct svc_check {
	struct agent_serve *owner;
	char *key, *ns, *name;      /* owned */
	uint16_t port;
	struct http_server **srv;   /* owned; none while the port cannot be bound */
	size_t n_srv;
	int bind_err;               /* the last failure, logged once per error */
	size_t local;               /* local ready endpoint IPs, as of the last sync */
	bool wanted;                /* in the last sync's view */
	size_t slot;                /* its index in owner->checks */
};

static struct health_time now_time(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (struct health_time){ .wall_ns = (int64_t)ts.tv_sec * (int64_t)NS_PER_SEC + ts.tv_nsec,
				     .mono_ns = mono_ns() };
}

static double wall_s(struct health_time t)
{
	return (double)t.wall_ns / 1e9;
}

bool serve_node_eligible(const struct node_view *v)
{
	const struct node *n = v ? v->node : NULL;

	if (!n || n->deleting)
		return false;
	for (size_t i = 0; i < n->n_taints; i++)
		if (streq(n->taints[i], TAINT_TO_BE_DELETED))
			return false;
	return true;
}

size_t serve_local_ready_ips(const struct node_view *v, const struct service *svc)
{
	struct addr *ips = NULL;
	size_t first, n_ports = policy_view_service_ports(v, svc->key, &first);
	size_t n = 0, cap = 0, distinct = 0;

	for (size_t i = first; i < first + n_ports; i++) {
		const struct port_view *pv = &v->ports[i];

		/* Ready only: terminating endpoints make load balancers drain the node. */
		for (size_t e = 0; e < pv->n_eps; e++)
			if (pv->eps[e].is_local && pv->eps[e].ready)
				VEC_PUSH(ips, n, cap, pv->eps[e].addr);
	}
	if (n)
		qsort(ips, n, sizeof(*ips), addr_cmp_qsort);
	for (size_t i = 0; i < n; i++)
		distinct += i == 0 || !addr_eq(&ips[i], &ips[i - 1]);
	free(ips);
	return distinct;
}

static void json_headers(struct http_reply *r)
{
	r->content_type = "application/json";
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
}

/* Go's http.NotFound, as kube-proxy's muxes answer any other path. */
static void not_found(struct http_reply *r)
{
	r->status = 404;
	r->content_type = "text/plain; charset=utf-8";
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	SBUF_ADDL(&r->body, "404 page not found\n");
}

static void plain_text(struct http_reply *r, const char *text)
{
	r->content_type = "text/plain; charset=utf-8";
	http_reply_header(r, "X-Content-Type-Options", "nosniff");
	sbuf_adds(&r->body, text);
}

static void on_healthz_request(const char *method, const char *path, struct http_reply *r,
			       void *userdata)
{
	struct agent_serve *s = userdata;
	bool livez = streq(path, "/livez");

	if (!livez && !streq(path, "/healthz")) {
		not_found(r);
		return;
	}
	json_headers(r);
	r->status = proxy_health_reply(&s->health, now_time(),
				       livez ? -1 : serve_node_eligible(s->view), &r->body);
	agent_metrics_health_answer(&s->metrics, livez, r->status);
}

static void on_metrics_request(const char *method, const char *path, struct http_reply *r,
			       void *userdata)
{
	struct agent_serve *s = userdata;
	struct dp_stats st;

	if (streq(path, "/metrics")) {
		s->ops->stats(s->dp, &st);
		r->content_type = "text/plain; version=0.0.4; charset=utf-8";
		metrics_write(&r->body, &s->metrics, s->view, s->mode, &st);
	} else if (streq(path, "/healthz") || streq(path, "/livez")) {
		plain_text(r, "ok"); /* component-base's healthz handlers: the process answers */
	} else if (streq(path, "/proxyMode")) {
		plain_text(r, s->mode);
	} else {
		not_found(r);
	}
}

static void on_check_request(const char *method, const char *path, struct http_reply *r,
			     void *userdata)
{
	struct svc_check *c = userdata;
	bool healthy = proxy_health_healthy(&c->owner->health, now_time());

	/* Every path and method, as kube-proxy's handler. */
	json_headers(r);
	http_reply_header(r, "X-Load-Balancing-Endpoint-Weight", "%zu", c->local);
	r->status = service_health_reply(c->ns, c->name, c->local, healthy, &r->body);
}

/* Opens the server (if off) and says so when that worked after a failure.  Returns 0 or -errno. */
static int open_proxy_server(struct agent_serve *s, struct http_server **srv, const char *what,
			     const struct addr *addr, uint16_t port, http_handler_fn fn, bool quiet)
{
	char where[ADDR_PORT_STRLEN];
	int r;

	if (*srv)
		return 0;
	addr_port_format(addr, port, where);
	r = http_server_new(s->loop, addr, port, fn, s, srv);
	if (r < 0 && !quiet)
		log_error("cannot serve %s on %s: %s; trying again every 5s", what, where, strerror(-r));
	else if (r == 0 && quiet)
		log_line("serving %s on %s", what, where);
	return r;
}

/* Returns whether a server is still down. */
static bool open_proxy_servers(struct agent_serve *s, bool quiet)
{
	bool down = false;

	if (s->cfg.healthz_on)
		down |= open_proxy_server(s, &s->healthz_srv, "health checks (/healthz, /livez)",
					  &s->cfg.healthz_addr, s->cfg.healthz_port,
					  on_healthz_request, quiet) < 0;
	if (s->cfg.metrics_on)
		down |= open_proxy_server(s, &s->metrics_srv, "metrics (/metrics)",
					  &s->cfg.metrics_addr, s->cfg.metrics_port,
					  on_metrics_request, quiet) < 0;
	return down;
}

static void on_retry(struct loop *l, struct loop_timer *t, void *userdata)
{
	struct agent_serve *s = userdata;

	if (open_proxy_servers(s, true))
		loop_timer_arm(t, mono_ns() + SERVE_RETRY_NS);
}

void serve_init(struct agent_serve *s, const struct serve_cfg *cfg, const char *mode,
		const struct dataplane_ops *ops, const struct dataplane *dp)
{
	*s = (struct agent_serve){ .cfg = *cfg, .mode = mode, .ops = ops, .dp = dp };
	proxy_health_init(&s->health, cfg->health_timeout_ns);
	strmap_init(&s->check_index);
	strmap_init(&s->changed);
	s->changed_all = true;
	agent_metrics_init(&s->metrics);
}

/* Where healthCheckNodePorts listen: everywhere, or each local address --nodeport-addresses names. */
static void find_check_addrs(struct agent_serve *s)
{
	struct addr *all = NULL;
	size_t n_all = 0, cap = 0;

	if (!s->cfg.n_nodeport_cidrs) {
		s->hc_addrs = xcalloc(1, sizeof(*s->hc_addrs));
		s->hc_addrs[0].family = AF_INET; /* 0.0.0.0: dual-stack, as Go listens */
		s->n_hc_addrs = 1;
		return;
	}
	ifaddr_list(IFADDR_ALL, NULL, true, &all, &n_all);
	for (size_t i = 0; i < n_all; i++)
		for (size_t c = 0; c < s->cfg.n_nodeport_cidrs; c++)
			if (cidr_contains(&s->cfg.nodeport_cidrs[c], &all[i])) {
				VEC_PUSH(s->hc_addrs, s->n_hc_addrs, cap, all[i]);
				break;
			}
	free(all);
}

void serve_start(struct agent_serve *s, struct loop *l)
{
	struct health_time now = now_time();

	s->loop = l;
	/* As kube-proxy's sync loop does first, so a first sync that never succeeds turns unhealthy. */
	for (int f = 0; f < HEALTH_N_FAMILIES; f++)
		proxy_health_updated(&s->health, f, now);
	find_check_addrs(s);
	s->retry_tm = loop_timer_new(l, on_retry, s);
	if (open_proxy_servers(s, false))
		loop_timer_arm(s->retry_tm, mono_ns() + SERVE_RETRY_NS);
}

void serve_queued(struct agent_serve *s)
{
	struct health_time now = now_time();

	for (int f = 0; f < HEALTH_N_FAMILIES; f++)
		proxy_health_queued(&s->health, f, now);
	agent_metrics_queued(&s->metrics, wall_s(now));
	if (!s->change_waiting) {
		s->change_waiting = true;
		s->oldest_change_mono_ns = now.mono_ns;
	}
}

void serve_changes(struct agent_serve *s, size_t services, size_t slices)
{
	agent_metrics_changes(&s->metrics, services, slices);
}

static void check_close(struct svc_check *c)
{
	for (size_t i = 0; i < c->n_srv; i++)
		http_server_free(c->srv[i]);
	free(c->srv);
	c->srv = NULL;
	c->n_srv = 0;
}

static void check_free(struct svc_check *c)
{
	check_close(c);
	free(c->key);
	free(c->ns);
	free(c->name);
	free(c);
}

/* Listens on every check address, or on none (kube-proxy closes what it opened on a failure). */
static void check_open(struct agent_serve *s, struct svc_check *c)
{
	int r = 0;

	c->srv = xcalloc(s->n_hc_addrs ? s->n_hc_addrs : 1, sizeof(*c->srv));
	for (size_t i = 0; i < s->n_hc_addrs && r == 0; i++) {
		r = http_server_new(s->loop, &s->hc_addrs[i], c->port, on_check_request, c,
				    &c->srv[c->n_srv]);
		c->n_srv += r == 0;
	}
	if (r < 0) {
		check_close(c);
		if (r != c->bind_err)
			log_error("cannot serve the health check of service %s on port %u: %s;"
			  " trying again at each sync", c->key, c->port, strerror(-r));
	} else if (c->bind_err) {
		log_line("serving the health check of service %s on port %u", c->key, c->port);
	}
	c->bind_err = r;
}


static bool wants_check(const struct service *svc)
{
	return svc && svc->type == SVC_LOAD_BALANCER && svc->etp == POLICY_LOCAL &&
	       svc->health_check_node_port;
}

/* The service's health server as the view has it now (opened when it cannot listen yet). */
static void check_update(struct agent_serve *s, const struct node_view *v,
			 const struct service *svc)
{
	struct svc_check *c = strmap_get(&s->check_index, svc->key);

	if (c && c->port != svc->health_check_node_port) {
		check_close(c);
		c->port = svc->health_check_node_port;
		c->bind_err = 0;
	}
	if (!c) {
		c = xcalloc(1, sizeof(*c));
		*c = (struct svc_check){ .owner = s, .key = xstrdup(svc->key),
					 .ns = xstrdup(svc->ns), .name = xstrdup(svc->name),
					 .port = svc->health_check_node_port, .slot = s->n_checks };
		VEC_PUSH(s->checks, s->n_checks, s->cap_checks, c);
		strmap_put(&s->check_index, c->key, c);
	}
	c->wanted = true;
	c->local = serve_local_ready_ips(v, svc);
	s->n_checks_updated++;
	if (!c->srv)
		check_open(s, c);
	s->checks_unbound |= !c->srv;
}

static void check_remove(struct agent_serve *s, struct svc_check *c)
{
	struct svc_check *last = s->checks[--s->n_checks];

	last->slot = c->slot;
	s->checks[c->slot] = last;
	strmap_del(&s->check_index, c->key, NULL);
	check_free(c);
}

static void changed_clear(struct agent_serve *s)
{
	for (size_t i = 0; i < s->changed.cap; i++)
		free((char *)s->changed.slots[i].key);
	strmap_done(&s->changed);
	strmap_init(&s->changed);
	s->changed_all = false;
}

/* Every service of the view: after a full rebuild of the view. */
static void sync_all_checks(struct agent_serve *s, const struct node_view *v)
{
	for (size_t i = 0; i < s->n_checks; i++)
		s->checks[i]->wanted = false;
	for (size_t i = 0; v && i < v->n_ports; i++) {
		const struct service *svc = v->ports[i].svc;

		/* A service's port views are next to each other: one update per service. */
		if ((i == 0 || svc != v->ports[i - 1].svc) && wants_check(svc))
			check_update(s, v, svc);
	}
	for (size_t i = s->n_checks; i-- > 0;)
		if (!s->checks[i]->wanted)
			check_remove(s, s->checks[i]);
}

/* Only the services that changed: their port views are found by key, nothing else is walked. */
static void sync_changed_checks(struct agent_serve *s, const struct node_view *v)
{
	for (size_t i = 0; i < s->changed.cap; i++) {
		const char *key = s->changed.slots[i].key;
		size_t first;
		const struct service *svc;
		struct svc_check *c;

		if (!key)
			continue;
		svc = policy_view_service_ports(v, key, &first) ? v->ports[first].svc : NULL;
		if (wants_check(svc))
			check_update(s, v, svc);
		else if ((c = strmap_get(&s->check_index, key)))
			check_remove(s, c);
	}
}

/*
 * The service health servers the view asks for: LoadBalancer,
 * externalTrafficPolicy Local.  A server that could not listen is tried
 * again at each sync.
 */
void serve_sync_checks(struct agent_serve *s, const struct node_view *v)
{
	bool retry = s->checks_unbound;

	s->n_checks_updated = 0;
	if (!s->loop) {
		changed_clear(s); /* --once: no servers */
		return;
	}
	s->checks_unbound = false;
	if (s->changed_all || !v)
		sync_all_checks(s, v);
	else
		sync_changed_checks(s, v);
	for (size_t i = 0; retry && i < s->n_checks; i++) {
		struct svc_check *c = s->checks[i];

		if (!c->srv)
			check_open(s, c);
		s->checks_unbound |= !c->srv;
	}
	changed_clear(s);
}

void serve_view_changed(struct agent_serve *s, const struct strmap *services, bool all)
{
	if (all || s->changed_all) {
		changed_clear(s);
		s->changed_all = true;
		return;
	}
	for (size_t i = 0; i < services->cap; i++) {
		const char *key = services->slots[i].key;

		if (key && !strmap_get(&s->changed, key)) {
			char *k = xstrdup(key);

			strmap_put(&s->changed, k, k);
		}
	}
}

void serve_synced(struct agent_serve *s, const struct node_view *view, bool full, bool ok,
		  uint64_t sync_ns)
{
	struct health_time now = now_time();
	double programming = -1;

	s->view = view;
	if (ok) {
		for (int f = 0; f < HEALTH_N_FAMILIES; f++)
			proxy_health_updated(&s->health, f, now);
		if (s->change_waiting)
			programming = (double)(now.mono_ns - s->oldest_change_mono_ns) / 1e9;
		s->change_waiting = false;
	}
	agent_metrics_synced(&s->metrics, full, ok, (double)sync_ns / 1e9, programming, wall_s(now));
}

void serve_done(struct agent_serve *s)
{
	for (size_t i = 0; i < s->n_checks; i++)
		check_free(s->checks[i]);
	free(s->checks);
	strmap_done(&s->check_index);
	changed_clear(s);
	strmap_done(&s->changed);
	free(s->hc_addrs);
	http_server_free(s->healthz_srv);
	http_server_free(s->metrics_srv);
	loop_timer_free(s->retry_tm);
	agent_metrics_done(&s->metrics);
	*s = (struct agent_serve){ 0 };
}
