/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure parts of the userspace data plane: the proxy table built from a
 * node view (src/dataplane/userspace/plan.c), its nft script, and the
 * passive-health ejection timing (health.c).  The plan is rendered to one
 * line per listener, proxy service, drop and VIP, and compared with text
 * written from kube-proxy's outcomes (forward listens, reject does not
 * listen on an owned address, drop is an nft rule; etp Local short-circuits
 * pods and the node to the cluster set), not from running the code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/diag.h"
#include "core/util.h"
#include "dataplane/userspace/health.h"
#include "dataplane/userspace/plan.h"
#include "model/model.h"
#include "policy/policy.h"
#include "source/manifest.h"

#define NODES                                                                              \
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: node-a}\n"                      \
	"status: {addresses: [{type: InternalIP, address: 192.168.0.1}]}\n"                \
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: node-b}\n"                      \
	"status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}\n"

#define SLICE(svc, proto, eps)                                                                \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " svc "-1, " \
	"namespace: ns, labels: {kubernetes.io/service-name: " svc "}}\naddressType: IPv4\n"    \
	"ports: [{name: p, protocol: " proto ", port: 8080}]\nendpoints: " eps "\n"

#define EP(ip, node) "{addresses: [" ip "], conditions: {ready: true}, nodeName: " node "}"

static const char cluster_yaml[] =
	NODES
	/* ClusterIP, both endpoints; weights from the annotation; lc. */
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns, annotations: "
	"{kroute.io/scheduler: lc, kroute.io/endpoint-weights: '10.0.0.2=3'}}\n"
	"spec: {clusterIP: 10.96.0.1, ports: [{name: p, port: 80, targetPort: 8080}]}\n"
	SLICE("web", "TCP", "[" EP("10.0.0.1", "node-a") ", " EP("10.0.0.2", "node-b") "]")
	/* internalTrafficPolicy Local with no local endpoint on node-a: dropped. */
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: itp, namespace: ns}\n"
	"spec: {clusterIP: 10.96.0.2, internalTrafficPolicy: Local, ports: [{name: p, port: 80, targetPort: 8080}]}\n"
	SLICE("itp", "TCP", "[" EP("10.0.0.2", "node-b") "]")
	/* No endpoints: rejected, so nothing listens (the VIP is still owned). */
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: ns}\n"
	"spec: {clusterIP: 10.96.0.3, ports: [{name: p, protocol: UDP, port: 53, targetPort: 8080}]}\n"
	SLICE("empty", "UDP", "[]")
	/* LoadBalancer, etp Local, endpoint only on node-b; source ranges. */
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: ns}\n"
	"spec: {type: LoadBalancer, clusterIP: 10.96.0.4, externalTrafficPolicy: Local,\n"
	"  loadBalancerSourceRanges: [203.0.113.0/24],\n"
	"  ports: [{name: p, port: 80, targetPort: 8080, nodePort: 30080}]}\n"
	"status: {loadBalancer: {ingress: [{ip: 198.51.100.1}]}}\n"
	SLICE("lb", "TCP", "[" EP("10.0.0.2", "node-b") "]")
	/* externalIPs with session affinity, UDP. */
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: dns, namespace: ns}\n"
	"spec: {clusterIP: 10.96.0.5, externalIPs: [192.0.2.5], sessionAffinity: ClientIP,\n"
	"  ports: [{name: p, protocol: UDP, port: 53, targetPort: 8080}]}\n"
	SLICE("dns", "UDP", "[" EP("10.0.0.1", "node-a") "]")
	/* SCTP: not relayed, reported. */
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: sctp, namespace: ns}\n"
	"spec: {clusterIP: 10.96.0.6, ports: [{name: p, protocol: SCTP, port: 9, targetPort: 8080}]}\n"
	SLICE("sctp", "SCTP", "[" EP("10.0.0.1", "node-a") "]");

static const char *kind_word(enum route_kind k)
{
	return route_kind_name(k);
}

static char *render_plan(const struct us_plan *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	for (size_t i = 0; i < p->n_ls; i++) {
		const struct us_plan_listener *l = &p->ls[i];
		char a[ADDR_PORT_STRLEN];

		addr_port_format(&l->addr, l->port, a);
		fprintf(f, "listen %s %s %s svc=%s cluster=%s%s\n", l->proto == IPPROTO_UDP ? "udp" : "tcp", a,
			kind_word(l->kind), l->svc == US_NO_SVC ? "-" : p->svcs[l->svc].key,
			l->svc_cluster == US_NO_SVC ? "-" : p->svcs[l->svc_cluster].key,
			l->preserve_external ? " keep-src" : "");
	}
	for (size_t i = 0; i < p->n_svcs; i++) {
		const struct us_plan_svc *s = &p->svcs[i];

		fprintf(f, "svc %s %s aff=%llu [", s->key, s->sched_name,
			(unsigned long long)(s->affinity_timeout_ns / 1000000000ull));
		for (size_t k = 0; k < s->n_eps; k++)
			fprintf(f, "%s%s=%u", k ? " " : "", s->eps[k].key, s->eps[k].weight);
		fprintf(f, "]\n");
	}
	for (size_t i = 0; i < p->n_drops; i++) {
		const struct us_plan_drop *d = &p->drops[i];
		char a[ADDR_STRLEN] = "*";

		if (d->addr.family)
			addr_format(&d->addr, a);
		fprintf(f, "drop %s %s:%u%s%s\n", d->proto == IPPROTO_UDP ? "udp" : "tcp", a, d->port,
			d->external_only ? " external-only" : "", d->n_allow ? " outside-ranges" : "");
	}
	for (size_t i = 0; i < p->n_vips; i++) {
		char a[ADDR_STRLEN];

		addr_format(&p->vips[i], a);
		fprintf(f, "vip %s\n", a);
	}
	fclose(f);
	return buf;
}

static const char want_node_a[] =
	"listen udp 10.96.0.5:53 clusterIP svc=ns/dns:53/UDP/4/cluster cluster=-\n"
	"listen udp 192.0.2.5:53 externalIP svc=ns/dns:53/UDP/4/cluster cluster=-\n"
	"listen tcp 10.96.0.4:80 clusterIP svc=ns/lb:80/TCP/4/cluster cluster=-\n"
	"listen tcp 192.168.0.1:30080 nodePort svc=- cluster=ns/lb:80/TCP/4/cluster keep-src\n"
	"listen tcp 198.51.100.1:80 loadBalancer svc=- cluster=ns/lb:80/TCP/4/cluster keep-src\n"
	"listen tcp 10.96.0.1:80 clusterIP svc=ns/web:80/TCP/4/cluster cluster=-\n"
	"svc ns/dns:53/UDP/4/cluster random aff=10800 [10.0.0.1:8080=1]\n"
	"svc ns/lb:80/TCP/4/cluster random aff=0 [10.0.0.2:8080=1]\n"
	"svc ns/web:80/TCP/4/cluster lc aff=0 [10.0.0.1:8080=1 10.0.0.2:8080=3]\n"
	"drop tcp 10.96.0.2:80\n"
	"drop tcp *:30080 external-only\n"
	"drop tcp 198.51.100.1:80 outside-ranges\n"
	"drop tcp 198.51.100.1:80 external-only\n"
	"vip 10.96.0.1\n"
	"vip 10.96.0.2\n"
	"vip 10.96.0.3\n"
	"vip 10.96.0.4\n"
	"vip 10.96.0.5\n"
	"vip 192.0.2.5\n"
	"vip 198.51.100.1\n";

static struct node_view *load_view(struct cluster *c, const char *node)
{
	struct diag d;
	struct policy_opts opts;
	int r;

	cluster_init(c);
	diag_init(&d);
	r = manifest_load_buffer("case.yaml", cluster_yaml, strlen(cluster_yaml), false, NULL, c, &d);
	if (r < 0 || d.n_errors)
		diag_print(&d, stderr);
	assert_int_equal(r, 0);
	diag_done(&d);
	policy_opts_init(&opts);
	return policy_build_view(c, node, &opts);
}

static void print_diff(const char *want, const char *got)
{
	print_error("expected:\n%s\ngot:\n%s\n", want, got);
}

static void test_plan_node_a(void **state)
{
	struct cluster c;
	struct node_view *v = load_view(&c, "node-a");
	struct addr np;
	struct us_plan_in in = { .view = v, .nodeport_addrs = &np, .n_nodeport_addrs = 1 };
	struct us_plan p;
	char *got;
	bool sctp_note = false;

	(void)state;
	assert_int_equal(addr_parse("192.168.0.1", &np), 0);
	us_plan_build(&in, &p);
	got = render_plan(&p);
	if (strcmp(got, want_node_a))
		print_diff(want_node_a, got);
	assert_string_equal(got, want_node_a);
	for (size_t i = 0; i < p.n_notes; i++)
		if (strstr(p.notes[i], "ns/sctp:9/SCTP") && strstr(p.notes[i], "does not relay SCTP"))
			sctp_note = true;
	assert_true(sctp_note);
	free(got);
	us_plan_done(&p);
	node_view_free(v);
	cluster_done(&c);
}

/* On node-b the lb service has a local endpoint: external clients keep their IP, pods short-circuit. */
static void test_plan_node_b_local(void **state)
{
	struct cluster c;
	struct node_view *v = load_view(&c, "node-b");
	struct addr np[2];
	struct us_plan_in in = { .view = v, .nodeport_addrs = np, .n_nodeport_addrs = 2 };
	struct us_plan p;
	char *got;

	(void)state;
	assert_int_equal(addr_parse("192.168.0.2", &np[0]), 0);
	assert_int_equal(addr_parse("127.0.0.1", &np[1]), 0);
	us_plan_build(&in, &p);
	got = render_plan(&p);
	if (getenv("TEST_USERSPACE_PRINT"))
		fputs(got, stderr);
	/* One NodePort listener per node address, local set first, cluster set for pods and the node. */
	assert_non_null(strstr(got, "listen tcp 192.168.0.2:30080 nodePort svc=ns/lb:80/TCP/4/local cluster=ns/lb:80/TCP/4/cluster keep-src\n"));
	assert_non_null(strstr(got, "listen tcp 127.0.0.1:30080 nodePort svc=ns/lb:80/TCP/4/local cluster=ns/lb:80/TCP/4/cluster keep-src\n"));
	/* itp Local with a local endpoint here: forwarded, not dropped. */
	assert_non_null(strstr(got, "listen tcp 10.96.0.2:80 clusterIP svc=ns/itp:80/TCP/4/local cluster=-\n"));
	assert_null(strstr(got, "drop tcp 10.96.0.2:80"));
	assert_null(strstr(got, "external-only"));
	/* Source ranges still drop outsiders. */
	assert_non_null(strstr(got, "drop tcp 198.51.100.1:80 outside-ranges\n"));
	free(got);
	us_plan_done(&p);
	node_view_free(v);
	cluster_done(&c);
}

static void test_plan_nft(void **state)
{
	struct cluster c;
	struct node_view *v = load_view(&c, "node-a");
	struct addr np;
	struct us_plan_in in = { .view = v, .nodeport_addrs = &np, .n_nodeport_addrs = 1 };
	struct us_plan p;
	struct cidr pods;
	char *nft;

	(void)state;
	assert_int_equal(addr_parse("192.168.0.1", &np), 0);
	assert_int_equal(cidr_parse("10.244.0.0/16", &pods), 0);
	us_plan_build(&in, &p);
	nft = us_plan_nft(&p, &pods, 1, 0x400000);
	/* Replaced in one transaction whether or not the table exists. */
	assert_true(!strncmp(nft, "table inet kroute_userspace\ndelete table inet kroute_userspace\n"
				  "table inet kroute_userspace {\n", 90));
	/* Loopback packets skip the per-packet socket lookup, before it. */
	assert_non_null(strstr(nft, "\t\tiif \"lo\" accept\n"
				    "\t\tmeta l4proto { tcp, udp } socket transparent 1 meta mark set meta mark | 0x00400000 accept"));
	assert_non_null(strstr(nft, "\t\tip daddr 10.96.0.2 tcp dport 80 drop\n"));
	assert_non_null(strstr(nft, "\t\tmeta nfproto ipv4 fib daddr type local ip saddr != { 10.244.0.0/16 } fib saddr type != local tcp dport 30080 drop\n"));
	assert_non_null(strstr(nft, "\t\tip daddr 198.51.100.1 ip saddr != { 203.0.113.0/24 } fib saddr type != local tcp dport 80 drop\n"));
	assert_non_null(strstr(nft, "\t\tip daddr 198.51.100.1 ip saddr != { 10.244.0.0/16 } fib saddr type != local tcp dport 80 drop\n"));
	/* Rejected services get no rule: nothing listens on their owned address. */
	assert_null(strstr(nft, "10.96.0.3"));
	free(nft);
	us_plan_done(&p);
	node_view_free(v);
	cluster_done(&c);
}

#define S 1000000000ull

static void test_health_ejection(void **state)
{
	struct us_health h = { 0 };
	uint64_t t = 100 * S, base = 10 * S;

	(void)state;
	assert_false(us_health_failure(&h, base, t));
	assert_false(us_health_failure(&h, base, t));
	/* A success in between resets the count. */
	us_health_success(&h);
	assert_false(us_health_failure(&h, base, t));
	assert_false(us_health_failure(&h, base, t));
	assert_false(us_health_ejected(&h, t));
	assert_true(us_health_failure(&h, base, t));
	assert_true(us_health_ejected(&h, t));
	assert_true(us_health_ejected(&h, t + base - 1));
	assert_false(us_health_expire(&h, t + base - 1));
	assert_true(us_health_expire(&h, t + base));
	assert_false(us_health_ejected(&h, t + base));
	assert_int_equal(h.ejections_total, 1);
	assert_int_equal(h.failures_total, 5);

	/* Probation: one failure ejects again, for twice as long. */
	t += base;
	assert_true(us_health_failure(&h, base, t));
	assert_int_equal(h.ejected_until_ns, t + 2 * base);
	/* Failures while ejected (panic picks) do not extend it. */
	assert_false(us_health_failure(&h, base, t + 1));
	assert_int_equal(h.ejected_until_ns, t + 2 * base);
	t += 2 * base;
	assert_true(us_health_expire(&h, t));
	assert_true(us_health_failure(&h, base, t));
	assert_int_equal(h.ejected_until_ns, t + 4 * base);
	t += 4 * base;
	assert_true(us_health_expire(&h, t));
	assert_true(us_health_failure(&h, base, t));
	assert_int_equal(h.ejected_until_ns, t + 8 * base);
	/* Capped at 8x. */
	t += 8 * base;
	assert_true(us_health_expire(&h, t));
	assert_true(us_health_failure(&h, base, t));
	assert_int_equal(h.ejected_until_ns, t + 8 * base);
	/* A success ends the streak: back to three failures and the base time. */
	t += 8 * base;
	assert_true(us_health_expire(&h, t));
	us_health_success(&h);
	assert_false(us_health_failure(&h, base, t));
	assert_false(us_health_failure(&h, base, t));
	assert_true(us_health_failure(&h, base, t));
	assert_int_equal(h.ejected_until_ns, t + base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_node_a),
		cmocka_unit_test(test_plan_node_b_local),
		cmocka_unit_test(test_plan_nft),
		cmocka_unit_test(test_health_ejection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
