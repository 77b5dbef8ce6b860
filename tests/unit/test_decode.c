/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bad input, one class per case: each must be rejected (nothing loaded) with
 * a message that names the file, the line where YAML gives one, the object
 * and the field path.  Also the accepted-with-warning cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "model/model.h"
#include "source/manifest.h"

static bool streq_test(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

struct bad_case {
	const char *name;
	const char *input;
	bool json;
	const char *expect; /* substring of one error message */
};

#define SVC_HEAD "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: ns\nspec:\n"

static const struct bad_case bad_cases[] = {
	{ "yaml syntax", "apiVersion: v1\nkind: Service\nmetadata: {name: web\n", false,
	  "in.yaml:4: error: invalid YAML" },
	{ "port out of range", SVC_HEAD "  ports:\n  - port: 70000\n", false,
	  "in.yaml:8: error: Service ns/web: spec.ports[0].port: must be between 1 and 65535, got 70000" },
	{ "port wrong type", SVC_HEAD "  ports:\n  - port: http\n", false,
	  "in.yaml:8: error: Service ns/web: spec.ports[0].port: expected an integer, got \"http\"" },
	{ "quoted port is a string", SVC_HEAD "  ports:\n  - port: \"80\"\n", false,
	  "spec.ports[0].port: expected an integer, got \"80\"" },
	{ "missing port", SVC_HEAD "  ports:\n  - name: http\n", false,
	  "spec.ports[0].port: missing required field" },
	{ "bad cluster IP", SVC_HEAD "  clusterIP: 10.96.0.300\n  ports:\n  - port: 80\n", false,
	  "in.yaml:7: error: Service ns/web: spec.clusterIP: \"10.96.0.300\" is not a valid IP address" },
	{ "ipv4 leading zero", SVC_HEAD "  clusterIP: 10.096.0.1\n  ports:\n  - port: 80\n", false,
	  "spec.clusterIP: \"10.096.0.1\" is not a valid IP address" },
	{ "bad external IP", SVC_HEAD "  externalIPs: [1.2.3]\n  ports:\n  - port: 80\n", false,
	  "spec.externalIPs[0]: \"1.2.3\" is not a valid IP address" },
	{ "bad protocol", SVC_HEAD "  ports:\n  - port: 80\n    protocol: ICMP\n", false,
	  "spec.ports[0].protocol: must be TCP, UDP or SCTP, got \"ICMP\"" },
	{ "bad type", SVC_HEAD "  type: Magic\n  ports:\n  - port: 80\n", false,
	  "spec.type: must be ClusterIP, NodePort, LoadBalancer or ExternalName, got \"Magic\"" },
	{ "bad policy", SVC_HEAD "  internalTrafficPolicy: local\n  ports:\n  - port: 80\n", false,
	  "spec.internalTrafficPolicy: must be Cluster or Local, got \"local\"" },
	{ "ports not a list", SVC_HEAD "  ports: 80\n", false,
	  "spec.ports: expected a list, got integer 80" },
	{ "no ports", SVC_HEAD "  clusterIP: 10.96.0.1\n", false,
	  "spec.ports: missing required field" },
	{ "unnamed ports", SVC_HEAD "  ports:\n  - port: 80\n  - port: 81\n", false,
	  "spec.ports[0].name: required when a service has more than one port" },
	{ "duplicate port", SVC_HEAD "  ports:\n  - {name: a, port: 80}\n  - {name: b, port: 80}\n", false,
	  "duplicate port 80/TCP" },
	{ "bad name", "apiVersion: v1\nkind: Service\nmetadata: {name: Web_1}\nspec:\n  ports: [{port: 80}]\n",
	  false, "metadata.name: \"Web_1\" is not a valid service name" },
	{ "missing name", "apiVersion: v1\nkind: Service\nmetadata: {namespace: x}\nspec: {}\n", false,
	  "metadata.name: missing required field" },
	{ "missing kind", "apiVersion: v1\nmetadata: {name: x}\n", false, "kind: missing required field" },
	{ "not a mapping", "- a\n- b\n", false, "expected a Kubernetes object (a mapping), got a list" },
	{ "duplicate key", SVC_HEAD "  ports:\n  - port: 80\n    port: 81\n", false,
	  "in.yaml:9: error: duplicate key \"port\" in a mapping" },
	{ "affinity timeout", SVC_HEAD "  ports: [{port: 80}]\n  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\n",
	  false, "spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be between 1 and 86400, got 0" },
	{ "bad source range", SVC_HEAD "  type: LoadBalancer\n  loadBalancerSourceRanges: [10.0.0.0/33]\n  ports: [{port: 80}]\n",
	  false, "spec.loadBalancerSourceRanges[0]: \"10.0.0.0/33\" is not a valid CIDR" },
	{ "slice bad address",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: s1\n  labels: {kubernetes.io/service-name: web}\naddressType: IPv4\nendpoints:\n- addresses: [fd00::1]\n",
	  false, "in.yaml:8: error: EndpointSlice default/s1: endpoints[0].addresses[0]: an IPv6 address in a slice of addressType IPv4" },
	{ "slice bad condition",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\nendpoints:\n- addresses: [10.0.0.1]\n  conditions: {ready: maybe}\n",
	  false, "endpoints[0].conditions.ready: expected a boolean, got \"maybe\"" },
	{ "slice no addresses",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv4\nendpoints:\n- addresses: []\n",
	  false, "endpoints[0].addresses: must hold 1 to 100 addresses, got 0" },
	{ "slice bad address type",
	  "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s1}\naddressType: IPv5\n",
	  false, "addressType: must be IPv4, IPv6 or FQDN, got \"IPv5\"" },
	{ "node bad cidr", "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDRs: [10.0.0.0]}\n",
	  false, "spec.podCIDRs[0]: \"10.0.0.0\" is not a valid CIDR" },
	{ "node bad address", "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus:\n  addresses:\n  - {type: InternalIP, address: nope}\n",
	  false, "status.addresses[0].address: \"nope\" is not a valid IP address" },
	{ "duplicate object",
	  SVC_HEAD "  ports: [{port: 80}]\n---\n" SVC_HEAD "  ports: [{port: 81}]\n", false,
	  "in.yaml:9: error: Service ns/web: duplicate object: already defined at in.yaml:1" },
	{ "json syntax", "{\"apiVersion\": \"v1\", \"kind\": ", true, "in.yaml:1: error: invalid JSON" },
	{ "json wrong type",
	  "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":\"80\"}]}}",
	  true, "error: Service default/web: spec.ports[0].port: expected an integer, got \"80\"" },
	{ "json duplicate key", "{\"kind\":\"Service\",\"kind\":\"Node\"}", true, "invalid JSON: duplicate object key" },
	{ "json float port",
	  "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"web\"},\"spec\":{\"ports\":[{\"port\":80.5}]}}",
	  true, "spec.ports[0].port: expected an integer, got number 80.5" },
	{ "unknown alias", "a: *nope\n", false, "unknown alias" },
	{ "list item not object", "apiVersion: v1\nkind: List\nitems:\n- 42\n", false,
	  "a List item must be a mapping" },
};

static void test_bad_input(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *bc = &bad_cases[i];
		struct cluster c;
		struct diag d;
		bool found = false;
		int r;

		cluster_init(&c);
		diag_init(&d);
		r = manifest_load_buffer("in.yaml", bc->input, strlen(bc->input), bc->json, NULL, &c, &d);
		for (size_t m = 0; m < d.n; m++) {
			char buf[2048];

			diag_msg_format(&d.msgs[m], buf, sizeof(buf));
			if (strstr(buf, bc->expect))
				found = true;
		}
		if (r != -EINVAL || !found || c.n_services || c.n_slices || c.n_nodes) {
			print_error("case \"%s\": r=%d, expected message \"%s\" %s; got:\n", bc->name, r,
				    bc->expect, found ? "found" : "NOT found");
			diag_print(&d, stderr);
			fail();
		}
		diag_done(&d);
		cluster_done(&c);
	}
}

/* One bad object fails the whole load: nothing half-loaded. */
static void test_all_or_nothing(void **state)
{
	const char *in = SVC_HEAD "  ports: [{port: 80}]\n---\n"
			 "apiVersion: v1\nkind: Service\nmetadata: {name: b}\nspec: {ports: [{port: 0}]}\n";
	struct cluster c;
	struct diag d;

	(void)state;
	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("in.yaml", in, strlen(in), false, NULL, &c, &d), -EINVAL);
	assert_int_equal(c.n_services, 0);
	assert_int_equal(d.n_errors, 1);
	diag_done(&d);
	cluster_done(&c);
}

static const char *first_message(const char *in, int expect_r, struct diag *d)
{
	static char buf[2048];
	struct cluster c;

	cluster_init(&c);
	diag_init(d);
	assert_int_equal(manifest_load_buffer("in.yaml", in, strlen(in), false, NULL, &c, d), expect_r);
	cluster_done(&c);
	buf[0] = '\0';
	if (d->n)
		diag_msg_format(&d->msgs[0], buf, sizeof(buf));
	diag_done(d);
	return buf;
}

static void test_warnings(void **state)
{
	struct diag d;

	(void)state;
	/* externalTrafficPolicy on a ClusterIP service: accepted, with a warning. */
	assert_non_null(strstr(first_message(SVC_HEAD "  ports: [{port: 80}]\n  externalTrafficPolicy: Local\n", 0, &d),
			       "warning: Service ns/web: spec.externalTrafficPolicy: has no effect"));
	/* Unknown kinds are skipped with a note. */
	assert_non_null(strstr(first_message("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", 0, &d),
			       "note: skipping Deployment x"));
	/* A slice without the service-name label is ignored, as kube-proxy does. */
	assert_non_null(strstr(first_message("apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s}\naddressType: IPv4\n", 0, &d),
			       "no label kubernetes.io/service-name"));
}

/* Deep nesting and alias bombs are bounded, never a crash or a blow-up. */
static void test_limits(void **state)
{
	char *deep;
	size_t n = 200, len = 0;
	struct diag d;
	const char *bomb =
		"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
		"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
		"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
		"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
		"f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
		"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";

	(void)state;
	deep = malloc(n * 3 + 16);
	for (size_t i = 0; i < n; i++)
		deep[len++] = '[';
	for (size_t i = 0; i < n; i++)
		deep[len++] = ']';
	deep[len] = '\0';
	assert_non_null(strstr(first_message(deep, -EINVAL, &d), "nesting too deep"));
	free(deep);
	assert_non_null(strstr(first_message(bomb, -EINVAL, &d), "object too large"));
}

/* kind: List, multi-document YAML and JSON arrays all load. */
static void test_list_forms(void **state)
{
	const char *list = "apiVersion: v1\nitems:\n- " "apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n"
			   "- apiVersion: v1\n  kind: Node\n  metadata: {name: n2}\nkind: List\n";
	const char *json = "{\"kind\":\"List\",\"items\":[{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"}}]}";
	struct cluster c;
	struct diag d;

	(void)state;
	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("l.yaml", list, strlen(list), false, NULL, &c, &d), 0);
	assert_int_equal(c.n_nodes, 2);
	cluster_done(&c);
	cluster_init(&c);
	assert_int_equal(manifest_load_buffer("l.json", json, strlen(json), true, NULL, &c, &d), 0);
	assert_int_equal(c.n_nodes, 1);
	assert_string_equal(c.nodes[0]->name, "n1");
	cluster_done(&c);
	diag_done(&d);
}

/* The fields kroute reads land where they should. */
static void test_service_fields(void **state)
{
	const char *in =
		SVC_HEAD
		"  type: LoadBalancer\n  clusterIP: 10.96.0.5\n  clusterIPs: [10.96.0.5, 'fd00::5']\n"
		"  ipFamilies: [IPv4, IPv6]\n"
		"  ports:\n  - {name: http, port: 80, targetPort: web, nodePort: 30001, protocol: TCP}\n"
		"  - {name: dns, port: 53, targetPort: 5353, protocol: UDP}\n"
		"  externalIPs: [192.0.2.1]\n  externalTrafficPolicy: Local\n  healthCheckNodePort: 31000\n"
		"  sessionAffinity: ClientIP\n  loadBalancerSourceRanges: [' 10.0.0.0/8 ']\n"
		"status:\n  loadBalancer:\n    ingress:\n    - {ip: 198.51.100.1}\n    - {ip: 198.51.100.2, ipMode: Proxy}\n    - {hostname: lb.example}\n";
	struct cluster c;
	struct diag d;
	const struct service *s;

	(void)state;
	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("in.yaml", in, strlen(in), false, NULL, &c, &d), 0);
	s = cluster_find_service(&c, "ns/web");
	assert_non_null(s);
	assert_int_equal(s->type, SVC_LOAD_BALANCER);
	assert_int_equal(s->n_cluster_ips, 2);
	assert_int_equal(s->n_ports, 2);
	assert_string_equal(s->ports[0].target_port_name, "web");
	assert_int_equal(s->ports[0].node_port, 30001);
	assert_int_equal(s->ports[1].target_port, 5353);
	assert_int_equal(s->ports[1].proto, PROTO_UDP);
	assert_int_equal(s->n_external_ips, 1);
	assert_int_equal(s->etp, POLICY_LOCAL);
	assert_int_equal(s->health_check_node_port, 31000);
	assert_true(s->affinity_client_ip);
	assert_int_equal(s->affinity_timeout, 10800);
	assert_int_equal(s->n_lb_source_ranges, 1);
	assert_int_equal(s->n_lb_ingress, 2);
	assert_true(s->lb_ingress[1].ip_mode_proxy);
	assert_int_equal(d.n_errors, 0);
	diag_done(&d);
	cluster_done(&c);
}

/*
 * Decoded objects keep their strings packed: a slice's endpoint node names
 * and zones in one block (each distinct string once), labels and
 * annotations in one block each.  The values must be those of the input,
 * and a packed list must still take kv_add (ASan checks the frees).
 */
static void test_packed_strings(void **state)
{
	const char *in =
		SVC_HEAD "  ports:\n  - port: 80\n"
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
		"metadata:\n  name: web-1\n  namespace: ns\n  labels:\n"
		"    kubernetes.io/service-name: web\n    empty:\nports:\n- port: 80\n"
		"endpoints:\n- addresses: [10.0.0.1]\n  nodeName: n1\n  zone: z-a\n"
		"- addresses: [10.0.0.2]\n  nodeName: n2\n  zone: z-a\n"
		"  conditions: {ready: false, terminating: true}\n"
		"- addresses: [10.0.0.3]\n  zone: z-b\n  hints: {forZones: [{name: z-b}]}\n"
		"- addresses: [10.0.0.4]\n  nodeName: n1\n"
		"---\napiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n"
		"    topology.kubernetes.io/zone: z-a\n    a: b\n";
	struct cluster c;
	struct diag d;
	const struct endpoint_slice *sl;
	const struct node *n;

	(void)state;
	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("in.yaml", in, strlen(in), false, NULL, &c, &d), 0);
	sl = cluster_find_slice(&c, "ns/web-1");
	assert_non_null(sl);
	assert_int_equal(sl->n_endpoints, 4);
	assert_non_null(sl->endpoint_strings);
	assert_string_equal(sl->endpoints[0].node_name, "n1");
	assert_string_equal(sl->endpoints[0].zone, "z-a");
	assert_string_equal(sl->endpoints[1].node_name, "n2");
	assert_ptr_equal(sl->endpoints[1].zone, sl->endpoints[0].zone); /* stored once */
	assert_int_equal(sl->endpoints[1].ready, TRI_FALSE);
	assert_int_equal(sl->endpoints[1].serving, TRI_UNSET);
	assert_int_equal(sl->endpoints[1].terminating, TRI_TRUE);
	assert_null(sl->endpoints[2].node_name);
	assert_string_equal(sl->endpoints[2].zone, "z-b");
	assert_int_equal(sl->endpoints[2].n_hint_zones, 1);
	assert_string_equal(sl->endpoints[2].hint_zones[0], "z-b");
	assert_ptr_equal(sl->endpoints[3].node_name, sl->endpoints[0].node_name);
	assert_null(sl->endpoints[3].zone);
	n = cluster_find_node(&c, "n1");
	assert_non_null(n);
	assert_string_equal(n->zone, "z-a");
	assert_int_equal(n->labels.n, 2);
	assert_string_equal(kv_get(&n->labels, "a"), "b");
	/* A packed list taking one more pair: unpacked, nothing lost. */
	kv_add((struct kvlist *)&n->labels, "c", "d");
	assert_null(n->labels.block);
	assert_int_equal(n->labels.n, 3);
	assert_string_equal(kv_get(&n->labels, "topology.kubernetes.io/zone"), "z-a");
	assert_string_equal(kv_get(&n->labels, "c"), "d");
	assert_int_equal(d.n_errors, 0);
	diag_done(&d);
	cluster_done(&c);
}

/*
 * Files over 4 MB are parsed in two halves on two threads: the result, the
 * line numbers and duplicate detection across the halves must be those of
 * a sequential load.
 */
static void test_parallel_halves(void **state)
{
	size_t cap = 6u << 20, len = 0, n = 0;
	char *buf = malloc(cap);
	struct cluster c;
	struct diag d;
	int bad_line = 0, dup_line = 0, line = 1;
	bool found_bad = false, found_dup = false;

	(void)state;
	while (len < (5u << 20)) {
		int w = snprintf(buf + len, cap - len,
				 "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%zu, namespace: ns}\n"
				 "spec:\n  ports: [{port: 80}]\n",
				 n);
		len += (size_t)w;
		line += 6;
		n++;
	}
	/* Well inside the second half: a bad port, then a duplicate of the first service. */
	bad_line = line + 5;
	len += (size_t)snprintf(buf + len, cap - len,
				"---\napiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: ns}\n"
				"spec:\n  ports: [{port: 0}]\n");
	line += 6;
	dup_line = line + 1;
	len += (size_t)snprintf(buf + len, cap - len,
				"---\napiVersion: v1\nkind: Service\nmetadata: {name: s0, namespace: ns}\n"
				"spec:\n  ports: [{port: 80}]\n");

	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("big.yaml", buf, len, false, NULL, &c, &d), -EINVAL);
	assert_int_equal(c.n_services, 0);
	assert_int_equal(d.n_errors, 2);
	for (size_t m = 0; m < d.n; m++) {
		char msg[2048];

		diag_msg_format(&d.msgs[m], msg, sizeof(msg));
		if (d.msgs[m].line == bad_line && strstr(msg, "spec.ports[0].port: must be between"))
			found_bad = true;
		if (d.msgs[m].line == dup_line && strstr(msg, "duplicate object: already defined at big.yaml:2"))
			found_dup = true;
	}
	if (!found_bad || !found_dup) {
		print_error("bad line %d found %d, dup line %d found %d\n", bad_line, found_bad, dup_line,
			    found_dup);
		diag_print(&d, stderr);
		fail();
	}
	diag_done(&d);
	cluster_done(&c);

	/* Without the two bad objects (cut before the "---" that starts them) everything loads. */
	len = (size_t)(strstr(buf, "name: bad,") - buf);
	while (len >= 4 && memcmp(buf + len - 4, "---\n", 4))
		len--;
	len -= 4;
	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("big.yaml", buf, len, false, NULL, &c, &d), 0);
	assert_int_equal(c.n_services, n);
	assert_string_equal(c.services[0]->name, "s0");
	for (size_t i = 0; i < n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "s%zu", i);
		if (!streq_test(c.services[i]->name, want))
			fail_msg("service %zu is %s", i, c.services[i]->name);
	}
	diag_done(&d);
	cluster_done(&c);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_input),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_list_forms),
		cmocka_unit_test(test_service_fields),
		cmocka_unit_test(test_parallel_halves),
		cmocka_unit_test(test_packed_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
