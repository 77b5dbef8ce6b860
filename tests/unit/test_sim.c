/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute sim: the traffic description's parser, and predictions checked
 * against numbers worked out by hand from kubernetes-semantics.md
 * (sections 1 to 3) on a cluster small enough to do so: with the rr
 * scheduler every count is exact.
 *
 * The cluster: n1 and n2 in zone z1, n3 in zone z2; service t/np is a
 * NodePort with externalTrafficPolicy Local and two endpoints, e1 on n1
 * and e2 on n2 (both in z1).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "sim/sim.h"
#include "source/manifest.h"

#define NODE_Z(name, zone) \
	"---\nkind: Node\napiVersion: v1\nmetadata: {name: " name ", labels: {topology.kubernetes.io/zone: " zone "}}\n"

static const char cluster_yaml[] =
	NODE_Z("n1", "z1") NODE_Z("n2", "z1") NODE_Z("n3", "z2")
	"---\nkind: Service\napiVersion: v1\nmetadata: {namespace: t, name: np}\n"
	"spec: {type: NodePort, clusterIP: 10.96.0.1, externalTrafficPolicy: Local,\n"
	"  ports: [{name: web, port: 80, targetPort: 8080, nodePort: 30080}]}\n"
	"---\nkind: EndpointSlice\napiVersion: discovery.k8s.io/v1\n"
	"metadata: {namespace: t, name: np-1, labels: {kubernetes.io/service-name: np}}\n"
	"addressType: IPv4\nports: [{name: web, protocol: TCP, port: 8080}]\nendpoints:\n"
	"- {addresses: [10.0.1.1], conditions: {ready: true}, nodeName: n1, zone: z1}\n"
	"- {addresses: [10.0.2.1], conditions: {ready: true}, nodeName: n2, zone: z1}\n"
	"---\nkind: Service\napiVersion: v1\nmetadata: {namespace: t, name: empty}\n"
	"spec: {clusterIP: 10.96.0.2, ports: [{name: web, port: 80}]}\n";

#define E1 "t/np:web 10.0.1.1:8080"
#define E2 "t/np:web 10.0.2.1:8080"

struct loaded {
	struct cluster c;
	struct sim_traffic t;
	struct sim_report r;
};

static const char *rr[] = { "rr" };

static void run(struct loaded *l, const char *traffic, enum sim_variant only)
{
	struct sim_opts o = { .scheds = rr, .n_scheds = 1 };
	struct diag d;
	char err[256];

	diag_init(&d);
	cluster_init(&l->c);
	assert_int_equal(manifest_load_buffer("cluster", cluster_yaml, strlen(cluster_yaml), false,
					      NULL, &l->c, &d), 0);
	diag_done(&d);
	if (sim_traffic_parse("traffic", traffic, &l->t, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	policy_opts_init(&o.po);
	o.variant[only] = true;
	if (sim_run(&l->c, &l->t, &o, &l->r, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	assert_int_equal(l->r.n, 1);
}

static void done(struct loaded *l)
{
	sim_report_done(&l->r);
	sim_traffic_done(&l->t);
	cluster_done(&l->c);
}

static uint64_t ep_requests(const struct sim_result *s, const char *name)
{
	for (size_t i = 0; i < s->n_eps; i++)
		if (streq(s->eps[i].name, name))
			return s->eps[i].requests;
	fail_msg("no endpoint %s in the result", name);
	return 0;
}

static const char external_traffic[] = "external n1 t/np 100\nexternal n3 t/np:30080 100\n";

/* As is (eTP Local): n3 has no endpoint and drops its 100; n1 sends its 100 to e1, keeping the client IP. */
static void test_as_is(void **state)
{
	struct loaded l;
	const struct sim_result *s;

	(void)state;
	run(&l, external_traffic, SIM_AS_IS);
	s = &l.r.v[0];
	assert_int_equal(s->requests, 200);
	assert_int_equal(s->dropped, 100);
	assert_int_equal(s->rejected, 0);
	assert_int_equal(s->forwarded, 100);
	assert_int_equal(ep_requests(s, E1), 100);
	assert_int_equal(ep_requests(s, E2), 0);
	assert_int_equal(s->cross_node, 0);
	assert_int_equal(s->client_ip_kept, 100);
	assert_true(s->ep_imbalance == 2.0); /* 100 and 0: max/mean = 100/50 */
	assert_true(s->latency_ms == 0);
	done(&l);
}

/*
 * Cluster: rr splits each node's 100 evenly; n1 sends 50 across nodes, n3
 * all 100 across nodes and zones; everything masqueraded.  Latency
 * (defaults 0 / 0.2 / 1.0 ms): 50 x 0 + 50 x 0.2 + 100 x 1.0 = 110 ms.
 */
static void test_cluster(void **state)
{
	struct loaded l;
	const struct sim_result *s;

	(void)state;
	run(&l, external_traffic, SIM_CLUSTER);
	s = &l.r.v[0];
	assert_int_equal(s->dropped, 0);
	assert_int_equal(ep_requests(s, E1), 100);
	assert_int_equal(ep_requests(s, E2), 100);
	assert_int_equal(s->cross_node, 150);
	assert_int_equal(s->cross_zone, 100);
	assert_int_equal(s->client_ip_kept, 0);
	assert_true(s->latency_ms > 109.999 && s->latency_ms < 110.001);
	assert_true(s->ep_imbalance == 1.0);
	done(&l);
}

/*
 * PreferSameNode: every ready endpoint gets its node (and zone) as a hint.
 * n1 is hinted (e1): all its 100 go to e1.  n3 has no node hint and its zone
 * z2 no zone hint: no topology, rr over both.
 */
static void test_prefer_same_node(void **state)
{
	struct loaded l;
	const struct sim_result *s;

	(void)state;
	run(&l, external_traffic, SIM_PREFER_SAME_NODE);
	s = &l.r.v[0];
	assert_int_equal(s->dropped, 0);
	assert_int_equal(ep_requests(s, E1), 150);
	assert_int_equal(ep_requests(s, E2), 50);
	assert_int_equal(s->cross_node, 100);
	done(&l);
}

/* PreferSameZone from pods on n2: both endpoints are hinted z1, rr over both; from n3 (z2): the same, no hint for z2. */
static void test_prefer_same_zone_pods(void **state)
{
	struct loaded l;
	const struct sim_result *s;

	(void)state;
	run(&l, "pods n2 t/np 10\npods n3 t/np 10\nlatency same-zone 1\nlatency cross-zone 5\n",
	    SIM_PREFER_SAME_ZONE);
	s = &l.r.v[0];
	assert_int_equal(ep_requests(s, E1), 10);
	assert_int_equal(ep_requests(s, E2), 10);
	assert_int_equal(s->cross_zone, 10);
	assert_int_equal(s->client_ip_kept, 20); /* pod traffic to a cluster IP keeps its source */
	/* n2: 5 to e1 (same zone, 1 ms), 5 to e2 (same node, 0); n3: 10 cross-zone (5 ms). */
	assert_true(s->latency_ms > 54.999 && s->latency_ms < 55.001);
	done(&l);
}

/* Local for pod traffic: n3 runs no endpoint, so its pods' requests are dropped. */
static void test_local_pods(void **state)
{
	struct loaded l;

	(void)state;
	run(&l, "pods n3 t/np 7\npods n1 t/np 3\n", SIM_LOCAL);
	assert_int_equal(l.r.v[0].dropped, 7);
	assert_int_equal(ep_requests(&l.r.v[0], E1), 3);
	done(&l);
}

/* A service without endpoints rejects every request. */
static void test_rejected(void **state)
{
	struct loaded l;

	(void)state;
	run(&l, "pods n1 t/empty 5\n", SIM_AS_IS);
	assert_int_equal(l.r.v[0].rejected, 5);
	assert_int_equal(l.r.v[0].forwarded, 0);
	done(&l);
}

static void expect_run_error(const char *traffic, const char *want)
{
	struct sim_opts o = { 0 };
	struct sim_traffic t;
	struct sim_report r;
	struct cluster c;
	struct diag d;
	char err[256] = "";

	diag_init(&d);
	cluster_init(&c);
	assert_int_equal(manifest_load_buffer("cluster", cluster_yaml, strlen(cluster_yaml), false,
					      NULL, &c, &d), 0);
	diag_done(&d);
	assert_int_equal(sim_traffic_parse("traffic", traffic, &t, err, sizeof(err)), 0);
	policy_opts_init(&o.po);
	o.variant[SIM_AS_IS] = true;
	assert_int_equal(sim_run(&c, &t, &o, &r, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	sim_traffic_done(&t);
	cluster_done(&c);
}

static void test_run_errors(void **state)
{
	(void)state;
	expect_run_error("external n1 t/empty 5\n", "traffic line 1: external traffic cannot reach t/empty");
	expect_run_error("pods n9 t/np 5\n", "no Node n9");
	expect_run_error("\npods n1 t/nope 5\n", "traffic line 2: no service t/nope");
	expect_run_error("pods n1 t/np:81 5\n", "has no port 81");
}

static void expect_parse_error(const char *traffic, const char *want)
{
	struct sim_traffic t;
	char err[256] = "";

	assert_int_equal(sim_traffic_parse("tf", traffic, &t, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
}

static void test_parse(void **state)
{
	struct sim_traffic t;
	char err[256];

	(void)state;
	assert_int_equal(sim_traffic_parse("tf", "# comment\n\nexternal n1 t/np:web 12 clients=3 # x\n"
					   "latency cross-zone 2.5\npods n2 t/np 1\n",
					   &t, err, sizeof(err)), 0);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.v[0].from, SIM_FROM_EXTERNAL);
	assert_string_equal(t.v[0].service, "t/np");
	assert_string_equal(t.v[0].port, "web");
	assert_int_equal(t.v[0].rps, 12);
	assert_int_equal(t.v[0].clients, 3);
	assert_int_equal(t.v[0].lineno, 3);
	assert_null(t.v[1].port);
	assert_int_equal(t.v[1].clients, 100);
	assert_true(t.ms_cross_zone == 2.5 && t.ms_same_zone == 0.2 && t.ms_same_node == 0);
	sim_traffic_done(&t);

	expect_parse_error("pods n1 t/np\n", "tf:1: expected: pods NODE");
	expect_parse_error("\n\npods n1 np 5\n", "tf:3: \"np\" is not NAMESPACE/NAME");
	expect_parse_error("pods n1 t/np 0\n", "\"0\" is not a request rate");
	expect_parse_error("pods n1 t/np 5 clients=x\n", "\"clients=x\" is not clients=N");
	expect_parse_error("pods n1 t/np: 5\n", "has an empty port");
	expect_parse_error("latency far 3\n", "\"far\" is not same-node");
	expect_parse_error("latency same-zone -1\n", "not a latency");
	expect_parse_error("ping n1 t/np 5\n", "a line starts with pods, external or latency");
	expect_parse_error("# nothing\n", "no traffic");
}

/* The same input gives the same output, byte for byte (random schedulers are seeded per service). */
static void test_deterministic(void **state)
{
	struct sim_opts o = { 0 };
	struct sim_traffic t;
	struct sim_report r1, r2;
	struct cluster c;
	struct diag d;
	struct sbuf b1 = { 0 }, b2 = { 0 };
	char err[256];

	(void)state;
	diag_init(&d);
	cluster_init(&c);
	assert_int_equal(manifest_load_buffer("cluster", cluster_yaml, strlen(cluster_yaml), false,
					      NULL, &c, &d), 0);
	diag_done(&d);
	assert_int_equal(sim_traffic_parse("tf", "external n1 t/np 500\npods n3 t/np 500\n", &t, err,
					   sizeof(err)), 0);
	policy_opts_init(&o.po);
	for (size_t v = 0; v < SIM_N_VARIANTS; v++)
		o.variant[v] = true;
	assert_int_equal(sim_run(&c, &t, &o, &r1, err, sizeof(err)), 0);
	assert_int_equal(sim_run(&c, &t, &o, &r2, err, sizeof(err)), 0);
	assert_int_equal(r1.n, SIM_N_VARIANTS);
	sim_render_json(&r1, &b1);
	sim_render_json(&r2, &b2);
	assert_string_equal(sbuf_cstr(&b1), sbuf_cstr(&b2));
	/* Cluster, random over two endpoints: each gets 40%..60% of the 1000 requests. */
	assert_true(ep_requests(&r1.v[SIM_CLUSTER], E1) > 400 && ep_requests(&r1.v[SIM_CLUSTER], E1) < 600);
	sbuf_free(&b1);
	sbuf_free(&b2);
	sim_report_done(&r1);
	sim_report_done(&r2);
	sim_traffic_done(&t);
	cluster_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_as_is),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_prefer_same_node),
		cmocka_unit_test(test_prefer_same_zone_pods),
		cmocka_unit_test(test_local_pods),
		cmocka_unit_test(test_rejected),
		cmocka_unit_test(test_run_errors),
		cmocka_unit_test(test_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
