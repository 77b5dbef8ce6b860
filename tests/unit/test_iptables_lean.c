/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The lean iptables layout (ipt_opts.inline_remote_endpoints, kroute run's
 * default): remote endpoints are DNATed from the KUBE-SVC rule that picks
 * them, local ones keep their KUBE-SEP chain (hairpin masquerade), and ports
 * where a remote pod's own packets can reach the service chains
 * unmasqueraded (eTP=Local short-circuit with a local detector) or with
 * session affinity keep kube-proxy's layout exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/diag.h"
#include "dataplane/iptables/render.h"
#include "policy/policy.h"
#include "source/manifest.h"

#define SLICE(svc)                                                                             \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                          \
	"metadata: {name: " svc "-1, namespace: t, labels: {kubernetes.io/service-name: " svc "}}\n" \
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n"                   \
	"- {addresses: [10.244.1.5], nodeName: n1}\n"                                          \
	"- {addresses: [10.244.2.5], nodeName: n2}\n"                                          \
	"- {addresses: [10.244.3.5], nodeName: n3}\n"

static char *render(const char *yaml, bool lean, bool detector)
{
	struct cluster c;
	struct diag d;
	struct policy_opts po;
	struct ipt_opts o;
	struct node_view *v;
	struct cidr cidr;
	char *buf;
	size_t len;

	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("t.yaml", yaml, strlen(yaml), false, NULL, &c, &d), 0);
	policy_opts_init(&po);
	assert_int_equal(cidr_parse("10.244.0.0/16", &cidr), 0);
	if (detector) {
		po.cluster_cidrs = &cidr;
		po.n_cluster_cidrs = 1;
	}
	v = policy_build_view(&c, "n1", &po);
	ipt_opts_init(&o);
	o.inline_remote_endpoints = lean;
	o.cluster_cidrs = po.cluster_cidrs;
	o.n_cluster_cidrs = po.n_cluster_cidrs;
	assert_int_equal(ipt_render_full(v, &o, &buf, &len), 0);
	node_view_free(v);
	diag_done(&d);
	cluster_done(&c);
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_cluster_ip(void **state)
{
	const char *yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
			   "spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
			   SLICE("web");
	char *lean = render(yaml, true, true), *kp = render(yaml, false, true);

	(void)state;
	/* kube-proxy: three SEP chains; lean: only the local endpoint's. */
	assert_int_equal(count(kp, ":KUBE-SEP-"), 3);
	assert_int_equal(count(lean, ":KUBE-SEP-"), 1);
	/* The local endpoint keeps its hairpin rule. */
	assert_non_null(strstr(lean, " -s 10.244.1.5 -j KUBE-MARK-MASQ\n"));
	assert_null(strstr(lean, " -s 10.244.2.5 "));
	/* Remote endpoints are DNATed from the SVC rule, keeping kube-proxy's probabilities. */
	assert_non_null(strstr(lean, "--probability 0.5000000000 -m tcp -p tcp -j DNAT --to-destination 10.244.2.5:8080\n"));
	assert_non_null(strstr(lean, "-m tcp -p tcp -j DNAT --to-destination 10.244.3.5:8080\n"));
	assert_non_null(strstr(lean, "--probability 0.3333333333 -j KUBE-SEP-"));
	/* kube-proxy's layout: every DNAT in a SEP chain (hairpin rule + DNAT each). */
	assert_int_equal(count(kp, "-A KUBE-SEP-"), 6);
	assert_int_equal(count(lean, "-A KUBE-SEP-"), 2);
	free(lean);
	free(kp);
}

static void test_kept_layouts(void **state)
{
	const char *etp = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
			  "spec: {type: NodePort, clusterIP: 10.96.0.1, externalTrafficPolicy: Local,\n"
			  "  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30001}]}\n" SLICE("web");
	const char *aff = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
			  "spec: {clusterIP: 10.96.0.1, sessionAffinity: ClientIP,\n"
			  "  ports: [{name: http, port: 80, targetPort: 8080}]}\n" SLICE("web");
	char *buf;

	(void)state;
	/* eTP=Local with a detector: a remote pod may be short-circuited here; every SEP stays. */
	buf = render(etp, true, true);
	assert_int_equal(count(buf, ":KUBE-SEP-"), 3);
	free(buf);
	/* Without a detector there is no short-circuit: remote endpoints go inline. */
	buf = render(etp, true, false);
	assert_int_equal(count(buf, ":KUBE-SEP-"), 1);
	free(buf);
	/* Session affinity's recent lists are named after SEP chains: every SEP stays. */
	buf = render(aff, true, true);
	assert_int_equal(count(buf, ":KUBE-SEP-"), 3);
	assert_int_equal(count(buf, "--rcheck"), 3);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cluster_ip),
		cmocka_unit_test(test_kept_layouts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
