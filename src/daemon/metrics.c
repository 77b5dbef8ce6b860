/* SPDX-License-Identifier: Apache-2.0 */
/* kroute run's /metrics; see metrics.h and docs/metrics.md. */
#include "daemon/metrics.h"

#include <netinet/in.h>
#include <stdio.h>

#include "core/util.h"

/* kube-proxy's sync buckets: ExponentialBuckets(0.001, 2, 15), 1 ms .. 16.384 s. */
static const double sync_buckets[] = {
	0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128,
	0.256, 0.512, 1.024, 2.048, 4.096, 8.192, 16.384,
};

/*
 * kube-proxy's network programming buckets: component-base's MergeBuckets
 * (which starts with a 0 bucket) of 0.25 s and 0.5 s, 1 .. 59 s by 1 s,
 * 60 .. 115 s by 5 s, 120 .. 300 s by 30 s; filled in at start.
 */
#define PROGRAMMING_BUCKETS (1 + 2 + 59 + 12 + 7)
static double programming_buckets[PROGRAMMING_BUCKETS];

static const char *const family_label[METRICS_FAMILIES] = { "IPv4", "IPv6" };

static void programming_buckets_fill(void)
{
	size_t n = 0;

	programming_buckets[n++] = 0;
	for (int i = 1; i <= 2; i++)
		programming_buckets[n++] = 0.25 * i;
	for (int i = 1; i <= 59; i++)
		programming_buckets[n++] = i;
	for (int i = 0; i < 12; i++)
		programming_buckets[n++] = 60 + 5 * i;
	for (int i = 0; i < 7; i++)
		programming_buckets[n++] = 120 + 30 * i;
}

void agent_metrics_init(struct agent_metrics *m)
{
	*m = (struct agent_metrics){ 0 };
	programming_buckets_fill();
	for (int f = 0; f < METRICS_FAMILIES; f++) {
		prom_histogram_init(&m->sync[f], sync_buckets, ARRAY_SIZE(sync_buckets));
		prom_histogram_init(&m->sync_full[f], sync_buckets, ARRAY_SIZE(sync_buckets));
		prom_histogram_init(&m->sync_partial[f], sync_buckets, ARRAY_SIZE(sync_buckets));
		prom_histogram_init(&m->programming[f], programming_buckets, PROGRAMMING_BUCKETS);
	}
}

void agent_metrics_done(struct agent_metrics *m)
{
	for (int f = 0; f < METRICS_FAMILIES; f++) {
		prom_histogram_done(&m->sync[f]);
		prom_histogram_done(&m->sync_full[f]);
		prom_histogram_done(&m->sync_partial[f]);
		prom_histogram_done(&m->programming[f]);
	}
}

void agent_metrics_queued(struct agent_metrics *m, double now_s)
{
	m->last_queued_s = now_s;
}

void agent_metrics_changes(struct agent_metrics *m, size_t services, size_t slices)
{
	m->service_changes += services;
	m->endpoint_changes += slices;
	m->service_pending += services;
	m->endpoint_pending += slices;
}

void agent_metrics_synced(struct agent_metrics *m, bool full, bool ok, double seconds,
			  double programming_s, double now_s)
{
	/* kroute syncs both families in one step: each family's series gets that step. */
	for (int f = 0; f < METRICS_FAMILIES; f++) {
		prom_histogram_observe(&m->sync[f], seconds);
		prom_histogram_observe(full ? &m->sync_full[f] : &m->sync_partial[f], seconds);
		if (ok && programming_s >= 0)
			prom_histogram_observe(&m->programming[f], programming_s);
	}
	if (!ok) {
		m->sync_errors++;
		return;
	}
	m->last_sync_s = now_s;
	m->service_pending = m->endpoint_pending = 0;
}

void agent_metrics_health_answer(struct agent_metrics *m, bool livez, unsigned status)
{
	uint64_t *v = livez ? m->livez : m->healthz;

	v[status == 200 ? 0 : 1]++;
}

static void write_histograms(struct sbuf *b, const char *name, const char *help,
			     const struct prom_histogram *h)
{
	prom_family(b, name, "histogram", help);
	for (int f = 0; f < METRICS_FAMILIES; f++) {
		struct prom_label l = { "ip_family", family_label[f] };

		prom_histogram_write(b, name, &l, 1, &h[f]);
	}
}

static void write_per_family(struct sbuf *b, const char *name, const char *help, double v)
{
	prom_family(b, name, "gauge", help);
	for (int f = 0; f < METRICS_FAMILIES; f++) {
		struct prom_label l = { "ip_family", family_label[f] };

		prom_sample(b, name, &l, 1, v);
	}
}

static void write_codes(struct sbuf *b, const char *name, const char *help, const uint64_t *v)
{
	static const char *const codes[2] = { "200", "503" };

	prom_family(b, name, "counter", help);
	/* As a Go CounterVec: a code appears once it has been answered. */
	for (int i = 0; i < 2; i++) {
		struct prom_label l = { "code", codes[i] };

		if (v[i])
			prom_sample_u(b, name, &l, 1, v[i]);
	}
}

static int family_index(int af)
{
	return af == AF_INET6 ? 1 : 0;
}

static bool externally_accessible(const struct port_view *pv)
{
	for (size_t i = 0; i < pv->n_routes; i++)
		if (pv->routes[i].kind != ROUTE_CLUSTER_IP)
			return true;
	return false;
}

/*
 * kube-proxy's kubeproxy_sync_proxy_rules_no_local_endpoints_total: service
 * ports with a Local policy and no local endpoints, per family.  It is a
 * gauge, and Prometheus's lint (promtool check metrics) refuses _total on
 * anything but a counter, so kroute drops the suffix (docs/metrics.md).
 */
static void write_no_local(struct sbuf *b, const struct node_view *v)
{
	static const char name[] = "kroute_sync_proxy_rules_no_local_endpoints";
	size_t n[METRICS_FAMILIES][2] = { { 0 } }; /* [family][internal, external] */

	for (size_t i = 0; v && i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		int f = family_index(pv->family);

		if (pv->cat.local.n)
			continue;
		n[f][0] += pv->svc->itp == POLICY_LOCAL;
		n[f][1] += pv->svc->etp == POLICY_LOCAL && externally_accessible(pv);
	}
	prom_family(b, name, "gauge", "Number of services with a Local traffic policy and no endpoints");
	for (int f = 0; f < METRICS_FAMILIES; f++)
		for (int k = 0; k < 2; k++) {
			struct prom_label l[2] = { { "ip_family", family_label[f] },
						   { "traffic_policy", k ? "external" : "internal" } };

			prom_sample_u(b, name, l, 2, n[f][k]);
		}
}

static void write_kube_proxy(struct sbuf *b, const struct agent_metrics *m, const struct node_view *v)
{
	write_histograms(b, "kubeproxy_sync_proxy_rules_duration_seconds",
			 "SyncProxyRules latency in seconds", m->sync);
	write_histograms(b, "kubeproxy_sync_full_proxy_rules_duration_seconds",
			 "SyncProxyRules latency in seconds for full resyncs", m->sync_full);
	write_histograms(b, "kubeproxy_sync_partial_proxy_rules_duration_seconds",
			 "SyncProxyRules latency in seconds for partial resyncs", m->sync_partial);
	write_histograms(b, "kubeproxy_network_programming_duration_seconds",
			 "In Cluster Network Programming Latency in seconds", m->programming);
	write_per_family(b, "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
			 "The last time proxy rules were successfully synced", m->last_sync_s);
	write_per_family(b, "kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds",
			 "The last time a sync of proxy rules was queued", m->last_queued_s);
	prom_single(b, "kubeproxy_sync_proxy_rules_endpoint_changes_pending", "gauge",
		    "Pending proxy rules Endpoint changes", m->endpoint_pending);
	prom_single(b, "kubeproxy_sync_proxy_rules_endpoint_changes_total", "counter",
		    "Cumulative proxy rules Endpoint changes", m->endpoint_changes);
	prom_single(b, "kubeproxy_sync_proxy_rules_service_changes_pending", "gauge",
		    "Pending proxy rules Service changes", m->service_pending);
	prom_single(b, "kubeproxy_sync_proxy_rules_service_changes_total", "counter",
		    "Cumulative proxy rules Service changes", m->service_changes);
	write_no_local(b, v);
	write_codes(b, "kubeproxy_proxy_healthz_total", "Cumulative proxy healthz HTTP status",
		    m->healthz);
	write_codes(b, "kubeproxy_proxy_livez_total", "Cumulative proxy livez HTTP status", m->livez);
}

enum ep_state { EP_READY, EP_TERMINATING, EP_NOT_READY, EP_N_STATES };
static const char *const ep_state_names[EP_N_STATES] = { "ready", "serving_terminating",
							 "not_ready" };

static void port_labels(const struct port_view *pv, char port[8], struct prom_label l[5])
{
	snprintf(port, 8, "%u", pv->port->port);
	l[0] = (struct prom_label){ "namespace", pv->svc->ns };
	l[1] = (struct prom_label){ "service", pv->svc->name };
	l[2] = (struct prom_label){ "port", port };
	l[3] = (struct prom_label){ "protocol", proto_name(pv->port->proto) };
	l[4] = (struct prom_label){ "ip_family", family_label[family_index(pv->family)] };
}

/* kroute's own, per service port and family: endpoints by state, local ones, the scheduler. */
static void write_services(struct sbuf *b, const struct node_view *v)
{
	static const char eps[] = "kroute_service_endpoints";
	static const char local[] = "kroute_service_local_ready_endpoints";
	static const char sched[] = "kroute_service_scheduler_info";
	char port[8];
	struct prom_label l[6];

	prom_family(b, eps, "gauge", "Endpoints of a service port by state, from this node's view");
	for (size_t i = 0; v && i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		size_t n[EP_N_STATES] = { 0 };

		for (size_t e = 0; e < pv->n_eps; e++) {
			const struct ep *ep = &pv->eps[e];

			n[ep->ready ? EP_READY : ep->serving && ep->terminating ? EP_TERMINATING
										: EP_NOT_READY]++;
		}
		port_labels(pv, port, l);
		for (int s = 0; s < EP_N_STATES; s++) {
			l[5] = (struct prom_label){ "state", ep_state_names[s] };
			prom_sample_u(b, eps, l, 6, n[s]);
		}
	}
	prom_family(b, local, "gauge", "Ready endpoints of a service port on this node");
	for (size_t i = 0; v && i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		size_t n = 0;

		for (size_t e = 0; e < pv->n_eps; e++)
			n += pv->eps[e].is_local && pv->eps[e].ready;
		port_labels(pv, port, l);
		prom_sample_u(b, local, l, 5, n);
	}
	prom_family(b, sched, "gauge", "The scheduler a service port uses (always 1)");
	for (size_t i = 0; v && i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];

		port_labels(pv, port, l);
		l[5] = (struct prom_label){ "scheduler", pv->lb.sched_name ? pv->lb.sched_name : "" };
		prom_sample(b, sched, l, 6, 1);
	}
}

static void write_dataplane(struct sbuf *b, const char *mode, const struct dp_stats *st,
			    uint64_t sync_errors)
{
	struct prom_label l[2] = { { "mode", mode }, { "kind", "full" } };

	prom_family(b, "kroute_syncs_total", "counter",
		    "Data-plane syncs that succeeded, by kind (full: every rule rewritten)");
	prom_sample_u(b, "kroute_syncs_total", l, 2, st->full_syncs);
	l[1].value = "partial";
	prom_sample_u(b, "kroute_syncs_total", l, 2, st->partial_syncs);
	prom_family(b, "kroute_sync_failures_total", "counter",
		    "Syncs that failed: bad input before anything applied, or the data plane refused");
	prom_sample_u(b, "kroute_sync_failures_total", l, 1, sync_errors);
	for (size_t i = 0; i < st->n_metrics; i++) {
		const struct dp_metric *dm = &st->metrics[i];

		prom_single(b, dm->name, dm->counter ? "counter" : "gauge", dm->help, dm->value);
	}
}

void metrics_write(struct sbuf *b, const struct agent_metrics *m, const struct node_view *view,
		   const char *mode, const struct dp_stats *st)
{
	write_kube_proxy(b, m, view);
	write_services(b, view);
	prom_single(b, "kroute_service_ports", "gauge", "Service ports (per family) in this node's view",
		    view ? view->n_ports : 0);
	write_dataplane(b, mode, st, m->sync_errors);
}
