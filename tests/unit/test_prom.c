/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Prometheus text writer (core/prom.c): escaping, numbers as Go writes
 * them, histograms with cumulative buckets; kroute run's /metrics body
 * (daemon/metrics.c) over a view built from a manifest; and what the
 * health servers read from a view (daemon/serve.c): node eligibility and a
 * service's local ready endpoint count.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/prom.h"
#include "daemon/metrics.h"
#include "daemon/serve.h"
#include "model/model.h"
#include "policy/policy.h"
#include "source/manifest.h"

static void test_escaping(void **state)
{
	struct sbuf b = { 0 };
	struct prom_label l[2] = { { "a", "x\"y\\z\nw" }, { "b", "" } };

	prom_family(&b, "m_total", "counter", "help with \\ and\nnewline \"quoted\"");
	prom_sample_u(&b, "m_total", l, 2, 18446744073709551615ull);
	prom_sample(&b, "m_total", NULL, 0, 0.1);
	assert_string_equal(sbuf_cstr(&b),
			    "# HELP m_total help with \\\\ and\\nnewline \"quoted\"\n"
			    "# TYPE m_total counter\n"
			    "m_total{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 18446744073709551615\n"
			    "m_total 0.1\n");
	sbuf_free(&b);
}

static void test_floats(void **state)
{
	static const struct {
		double v;
		const char *text;
	} cases[] = {
		{ 0, "0" }, { 1, "1" }, { 0.25, "0.25" }, { 16.384, "16.384" },
		{ 1796198400.5, "1.7961984005e+09" }, { 1796198400, "1.7961984e+09" },
		{ 100000, "100000" }, { 1e6, "1e+06" }, { 0.0001, "0.0001" }, { 0.00001234, "1.234e-05" }, { 1e-9, "1e-09" }, { -2.5, "-2.5" },
		{ INFINITY, "+Inf" }, { -INFINITY, "-Inf" }, { NAN, "NaN" },
		{ 0.1 + 0.2, "0.30000000000000004" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbuf b = { 0 };

		prom_add_float(&b, cases[i].v);
		assert_string_equal(sbuf_cstr(&b), cases[i].text);
		sbuf_free(&b);
	}
}

static void test_histogram(void **state)
{
	static const double bounds[] = { 0.001, 0.5, 1 };
	struct prom_histogram h;
	struct sbuf b = { 0 };
	struct prom_label l = { "ip_family", "IPv4" };

	prom_histogram_init(&h, bounds, 3);
	prom_histogram_observe(&h, 0.001); /* le is inclusive */
	prom_histogram_observe(&h, 0.2);
	prom_histogram_observe(&h, 0.3);
	prom_histogram_observe(&h, 7);     /* only in +Inf */
	prom_histogram_write(&b, "d_seconds", &l, 1, &h);
	assert_string_equal(sbuf_cstr(&b),
			    "d_seconds_bucket{ip_family=\"IPv4\",le=\"0.001\"} 1\n"
			    "d_seconds_bucket{ip_family=\"IPv4\",le=\"0.5\"} 3\n"
			    "d_seconds_bucket{ip_family=\"IPv4\",le=\"1\"} 3\n"
			    "d_seconds_bucket{ip_family=\"IPv4\",le=\"+Inf\"} 4\n"
			    "d_seconds_sum{ip_family=\"IPv4\"} 7.501\n"
			    "d_seconds_count{ip_family=\"IPv4\"} 4\n");
	b.len = 0;
	prom_histogram_write(&b, "e", NULL, 0, &h);
	assert_non_null(strstr(sbuf_cstr(&b), "e_bucket{le=\"+Inf\"} 4\ne_sum 7.501\ne_count 4\n"));
	prom_histogram_done(&h);
	sbuf_free(&b);
}

static const char manifest[] =
	"apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
	"spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.10\n  externalTrafficPolicy: Local\n"
	"  healthCheckNodePort: 30999\n"
	"  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]\n---\n"
	"apiVersion: v1\nkind: Service\nmetadata: {name: lonely, namespace: t}\n"
	"spec:\n  clusterIP: 10.96.0.11\n  internalTrafficPolicy: Local\n"
	"  ports: [{port: 53, protocol: UDP}]\n---\n"
	"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
	"metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}\n"
	"addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n"
	"- {addresses: [\"10.0.0.5\"], conditions: {ready: true}, nodeName: n1}\n"
	"- {addresses: [\"10.0.0.6\"], conditions: {ready: false, serving: true, terminating: true},"
	" nodeName: n1}\n"
	"- {addresses: [\"10.0.0.7\"], conditions: {ready: false}, nodeName: n2}\n"
	"- {addresses: [\"10.0.0.8\"], conditions: {ready: true}, nodeName: n2}\n";

static void test_metrics_body(void **state)
{
	struct agent_metrics m;
	struct cluster c;
	struct diag d;
	struct node_view *v;
	struct policy_opts po;
	struct dp_stats st = { .full_syncs = 1, .partial_syncs = 2, .n_metrics = 1 };
	struct sbuf b = { 0 };
	const char *text;

	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("m.yaml", manifest, strlen(manifest), false, NULL, &c,
					      &d), 0);
	if (d.n_errors)
		diag_print(&d, stderr);
	assert_int_equal(d.n_errors, 0);
	policy_opts_init(&po);
	v = policy_build_view(&c, "n1", &po);
	st.metrics[0] = (struct dp_metric){ .name = "kroute_test_things_total", .help = "things",
					    .counter = true, .value = 42 };
	agent_metrics_init(&m);
	agent_metrics_queued(&m, 1796198400);
	agent_metrics_changes(&m, 2, 1);
	agent_metrics_health_answer(&m, false, 503);
	agent_metrics_health_answer(&m, true, 200);
	agent_metrics_health_answer(&m, true, 200);
	metrics_write(&b, &m, v, "iptables", &st);
	text = sbuf_cstr(&b);
	/* Pending until a sync takes them. */
	assert_non_null(strstr(text, "\nkubeproxy_sync_proxy_rules_service_changes_pending 2\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_proxy_rules_endpoint_changes_pending 1\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_proxy_rules_last_queued_timestamp_seconds"
				     "{ip_family=\"IPv4\"} 1.7961984e+09\n"));
	assert_non_null(strstr(text, "\nkubeproxy_proxy_healthz_total{code=\"503\"} 1\n"));
	assert_null(strstr(text, "kubeproxy_proxy_healthz_total{code=\"200\"}"));
	assert_non_null(strstr(text, "\nkubeproxy_proxy_livez_total{code=\"200\"} 2\n"));
	/* web: one ready (local), one serving-terminating (local), one not ready, one ready remote. */
	assert_non_null(strstr(text, "\nkroute_service_endpoints{namespace=\"t\",service=\"web\","
				     "port=\"80\",protocol=\"TCP\",ip_family=\"IPv4\",state=\"ready\"} 2\n"));
	assert_non_null(strstr(text, "state=\"serving_terminating\"} 1\n"));
	assert_non_null(strstr(text, "service=\"web\",port=\"80\",protocol=\"TCP\","
				     "ip_family=\"IPv4\",state=\"not_ready\"} 1\n"));
	assert_non_null(strstr(text, "\nkroute_service_local_ready_endpoints{namespace=\"t\","
				     "service=\"web\",port=\"80\",protocol=\"TCP\",ip_family=\"IPv4\"} 1\n"));
	assert_non_null(strstr(text, "\nkroute_service_scheduler_info{namespace=\"t\",service=\"web\","
				     "port=\"80\",protocol=\"TCP\",ip_family=\"IPv4\",scheduler=\""));
	/* lonely: internalTrafficPolicy Local and no endpoints at all. */
	assert_non_null(strstr(text, "\nkroute_sync_proxy_rules_no_local_endpoints{ip_family=\"IPv4\","
				     "traffic_policy=\"internal\"} 1\n"));
	assert_non_null(strstr(text, "\nkroute_sync_proxy_rules_no_local_endpoints{ip_family=\"IPv4\","
				     "traffic_policy=\"external\"} 0\n"));
	assert_non_null(strstr(text, "\nkroute_syncs_total{mode=\"iptables\",kind=\"partial\"} 2\n"));
	assert_non_null(strstr(text, "# TYPE kroute_test_things_total counter\n"
				     "kroute_test_things_total 42\n"));
	/* The network programming buckets start at kube-proxy's 0 and end at 300 s. */
	assert_non_null(strstr(text, "kubeproxy_network_programming_duration_seconds_bucket{"
				     "ip_family=\"IPv6\",le=\"0\"} 0\n"));
	assert_non_null(strstr(text, "le=\"115\"} 0\nkubeproxy_network_programming_duration_seconds"
				     "_bucket{ip_family=\"IPv4\",le=\"120\"}"));
	assert_non_null(strstr(text, "le=\"300\"} 0\n"));

	/* A successful sync empties the pending gauges and observes the durations. */
	b.len = 0;
	agent_metrics_synced(&m, false, true, 0.003, 1.5, 1796198401);
	metrics_write(&b, &m, v, "iptables", &st);
	text = sbuf_cstr(&b);
	assert_non_null(strstr(text, "\nkubeproxy_sync_proxy_rules_service_changes_pending 0\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_proxy_rules_service_changes_total 2\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_partial_proxy_rules_duration_seconds_bucket{"
				     "ip_family=\"IPv4\",le=\"0.002\"} 0\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_partial_proxy_rules_duration_seconds_bucket{"
				     "ip_family=\"IPv4\",le=\"0.004\"} 1\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_full_proxy_rules_duration_seconds_count{"
				     "ip_family=\"IPv4\"} 0\n"));
	assert_non_null(strstr(text, "\nkubeproxy_network_programming_duration_seconds_bucket{"
				     "ip_family=\"IPv4\",le=\"1\"} 0\n"));
	assert_non_null(strstr(text, "\nkubeproxy_network_programming_duration_seconds_bucket{"
				     "ip_family=\"IPv4\",le=\"2\"} 1\n"));
	assert_non_null(strstr(text, "\nkubeproxy_sync_proxy_rules_last_timestamp_seconds{"
				     "ip_family=\"IPv6\"} 1.796198401e+09\n"));

	agent_metrics_done(&m);
	sbuf_free(&b);
	node_view_free(v);
	cluster_done(&c);
	diag_done(&d);
}

static struct node_view *view_of(const char *yaml, struct cluster *c)
{
	struct policy_opts po;
	struct diag d;

	cluster_init(c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("v.yaml", yaml, strlen(yaml), false, NULL, c, &d), 0);
	assert_int_equal(d.n_errors, 0);
	diag_done(&d);
	policy_opts_init(&po);
	return policy_build_view(c, "n1", &po);
}

/* kube-proxy's NodeEligible: known, not being deleted, not tainted by the autoscaler. */
static void test_node_eligible(void **state)
{
	static const struct {
		const char *node;
		bool eligible;
	} cases[] = {
		{ "", false }, /* no Node object */
		{ "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n", true },
		{ "apiVersion: v1\nkind: Node\nmetadata: {name: other}\n", false },
		{ "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
		  "spec: {taints: [{key: ToBeDeletedByClusterAutoscaler, effect: NoSchedule}]}\n", false },
		{ "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n"
		  "spec: {taints: [{key: node.kubernetes.io/unschedulable, effect: NoSchedule}]}\n", true },
		{ "apiVersion: v1\nkind: Node\nmetadata: {name: n1, deletionTimestamp: "
		  "\"2026-12-02T08:00:00Z\"}\n", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cluster c;
		struct node_view *v = view_of(cases[i].node, &c);

		print_message("case %zu\n", i);
		assert_int_equal(serve_node_eligible(v), cases[i].eligible);
		node_view_free(v);
		cluster_done(&c);
	}
	assert_false(serve_node_eligible(NULL));
}

/*
 * Distinct IPs of local ready endpoints over all the service's ports: one pod
 * serving two ports counts once, terminating and remote ones not at all.
 */
static void test_local_ready_ips(void **state)
{
	static const char yaml[] =
		"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
		"spec:\n  clusterIP: 10.96.0.10\n"
		"  ports: [{name: a, port: 80}, {name: b, port: 443}]\n---\n"
		"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		"metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}\n"
		"addressType: IPv4\nports: [{name: a, port: 8080}, {name: b, port: 8443}]\nendpoints:\n"
		"- {addresses: [\"10.0.0.5\"], conditions: {ready: true}, nodeName: n1}\n"
		"- {addresses: [\"10.0.0.6\"], conditions: {ready: true}, nodeName: n1}\n"
		"- {addresses: [\"10.0.0.7\"], conditions: {ready: false, serving: true, terminating: true},"
		" nodeName: n1}\n"
		"- {addresses: [\"10.0.0.8\"], conditions: {ready: true}, nodeName: n2}\n";
	struct cluster c;
	struct node_view *v = view_of(yaml, &c);

	assert_int_equal(v->n_ports, 2);
	assert_int_equal(serve_local_ready_ips(v, v->ports[0].svc), 2);
	node_view_free(v);
	cluster_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_floats),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_metrics_body),
		cmocka_unit_test(test_node_eligible),
		cmocka_unit_test(test_local_ready_ips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
