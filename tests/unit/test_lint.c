/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute lint's rules (docs/lint.md), each with cases where it must fire
 * and cases where it must not.  A case is a small cluster in YAML and the
 * complete list of findings expected, one line each:
 *
 *   <rule id> <level> <service|-> <port|-> [<node>,...]
 *
 * compared exactly, so a rule that fires where it should not fails as
 * surely as one that stays quiet.  Some cases also require a substring of
 * a finding's message (the "why" a user reads).  Expected lists come from
 * the rules' documentation and kubernetes-semantics.md, not from running
 * the code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "lint/lint.h"
#include "source/manifest.h"

/* Three nodes: n1 and n2 in zone z1, n3 in zone z2; N_NOZONE has no zone label. */
#define NODE_OBJ(name, labels) \
	"---\nkind: Node\napiVersion: v1\nmetadata: {name: " name ", labels: {" labels "}}\n"
#define NODES3                                                   \
	NODE_OBJ("n1", "topology.kubernetes.io/zone: z1")         \
	NODE_OBJ("n2", "topology.kubernetes.io/zone: z1")         \
	NODE_OBJ("n3", "topology.kubernetes.io/zone: z2")
#define N_NOZONE NODE_OBJ("n4", "kubernetes.io/hostname: n4")

/* A Service "s" in namespace t: spec is the YAML flow mapping's inside. */
#define SERVICE(name, spec) \
	"---\nkind: Service\napiVersion: v1\nmetadata: {namespace: t, name: " name "}\nspec: {" spec "}\n"
#define SERVICE_ANN(name, ann, spec)                                                   \
	"---\nkind: Service\napiVersion: v1\nmetadata: {namespace: t, name: " name         \
	", annotations: {" ann "}}\nspec: {" spec "}\n"
#define CIP(ip) "clusterIP: " ip ", "
#define WEB "ports: [{name: web, port: 80, targetPort: 8080}]"
#define WEB_NP "ports: [{name: web, port: 80, targetPort: 8080, nodePort: 30080}]"

/* An EndpointSlice for service svc with port web/8080; eps is a flow sequence's inside. */
#define ENDPOINTS(svc, eps)                                                                  \
	"---\nkind: EndpointSlice\napiVersion: discovery.k8s.io/v1\nmetadata: {namespace: t, " \
	"name: " svc "-x, labels: {kubernetes.io/service-name: " svc "}}\naddressType: IPv4\n" \
	"ports: [{name: web, protocol: TCP, port: 8080}]\nendpoints: [" eps "]\n"
#define ON(ip, node, zone) "{addresses: [" ip "], conditions: {ready: true}, nodeName: " node ", zone: " zone "}"
#define ON_HINT(ip, node, zone, hint)                                                  \
	"{addresses: [" ip "], conditions: {ready: true}, nodeName: " node ", zone: " zone \
	", hints: {forZones: [{name: " hint "}]}}"
#define TERM_ON(ip, node) \
	"{addresses: [" ip "], conditions: {ready: false, serving: true, terminating: true}, nodeName: " node "}"
#define UNREADY_ON(ip, node) "{addresses: [" ip "], conditions: {ready: false}, nodeName: " node "}"

struct lint_case {
	const char *name;
	const char *yaml;
	const char *want;            /* every finding, one line each */
	const char *message;         /* a substring one finding's message must hold, or NULL */
	const char *mode;            /* NULL: iptables */
	const char *ignore;          /* a rule to --ignore, or NULL */
	uint32_t lifetime_s;         /* 0: the default */
};

static const struct lint_case cases[] = {
	/* KR001 */
	{ "etp local nodeport: the node without an endpoint drops (error)",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "type: NodePort, externalTrafficPolicy: Local, " WEB_NP)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1")),
	  "KR001 error t/s web n3\n", "nodePort 30080", .mode = NULL },
	{ "etp local load balancer: a warning (health checks steer the LB)",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "type: LoadBalancer, externalTrafficPolicy: Local, healthCheckNodePort: 32000, " WEB_NP)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR001 warning t/s web n2\n", "health-checks healthCheckNodePort", .mode = NULL },
	{ "etp local with an endpoint on every node: nothing",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "type: NodePort, externalTrafficPolicy: Local, " WEB_NP)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = NULL },
	{ "etp cluster nodeport: nothing drops",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "type: NodePort, " WEB_NP)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1")),
	  "", NULL, .mode = NULL },
	/* KR002 */
	{ "itp local: nodes without an endpoint drop pod traffic",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1")),
	  "KR002 warning t/s web n3\n", "1 of 3 nodes run no endpoint", .mode = NULL },
	{ "itp local as a DaemonSet: nothing",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = NULL },
	/* KR003 */
	{ "hints: a node without a zone label ignores them",
	  NODES3 N_NOZONE SERVICE("s", CIP("10.96.0.1") "trafficDistribution: PreferClose, " WEB)
	  ENDPOINTS("s", ON_HINT("10.0.1.1", "n1", "z1", "z1") "," ON_HINT("10.0.3.1", "n3", "z2", "z2")),
	  "KR003 warning t/s web n4\n", "without a topology.kubernetes.io/zone label", .mode = NULL },
	{ "hints: a zone no endpoint is hinted for",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "trafficDistribution: PreferClose, " WEB)
	  ENDPOINTS("s", ON_HINT("10.0.1.1", "n1", "z1", "z1") "," ON_HINT("10.0.2.1", "n2", "z1", "z1")),
	  "KR003 warning t/s web n3\n", "whose zone no ready endpoint is hinted for", .mode = NULL },
	{ "hints: one ready endpoint without a hint disables them everywhere",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON_HINT("10.0.1.1", "n1", "z1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR003 warning t/s web n1,n2,n3\n", "some ready endpoints have no zone hint", .mode = NULL },
	{ "hints: trafficDistribution but no hints written",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "trafficDistribution: PreferClose, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR003 warning t/s web n1,n2,n3\n", "no ready endpoint carries a zone hint", .mode = NULL },
	{ "hints used on every node: nothing",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "trafficDistribution: PreferClose, " WEB)
	  ENDPOINTS("s", ON_HINT("10.0.1.1", "n1", "z1", "z1") "," ON_HINT("10.0.3.1", "n3", "z2", "z2")),
	  "", NULL, .mode = NULL },
	/* KR004 */
	{ "itp local with one endpoint: no failover (and the other nodes drop)",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1")),
	  "KR002 warning t/s web n2,n3\nKR004 warning t/s web n1\n", "single endpoint", .mode = NULL },
	{ "cluster policy with one endpoint: not a Local service, nothing",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB) ENDPOINTS("s", ON("10.0.1.1", "n1", "z1")),
	  "", NULL, .mode = NULL },
	/* KR005 */
	{ "only terminating endpoints: the fallback, named by node",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", TERM_ON("10.0.1.1", "n1") "," TERM_ON("10.0.3.1", "n3") "," UNREADY_ON("10.0.2.1", "n2")),
	  "KR005 warning t/s web n1,n3\n", "2 serving but terminating endpoints", .mode = NULL },
	{ "a ready endpoint next to terminating ones: nothing",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", TERM_ON("10.0.1.1", "n1") "," ON("10.0.3.1", "n3", "z2") "," ON("10.0.2.1", "n2", "z1")),
	  "", NULL, .mode = NULL },
	/* KR006 */
	{ "no EndpointSlice at all",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB),
	  "KR006 warning t/s web -\n", "no EndpointSlice is labelled kubernetes.io/service-name=s", .mode = NULL },
	{ "endpoints, none ready or serving",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB) ENDPOINTS("s", UNREADY_ON("10.0.1.1", "n1")),
	  "KR006 warning t/s web -\n", "none of its 1 endpoint is ready or serving", .mode = NULL },
	/* KR007 */
	{ "affinity timeout (the default 3h) over the lifetime",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "sessionAffinity: ClientIP, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR007 info t/s - \n", "for 3h after its last new connection (the default)", .mode = NULL },
	{ "affinity timeout under the lifetime: nothing",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = NULL },
	{ "affinity against a shorter --endpoint-lifetime",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR007 info t/s - \n", "(5m)", .lifetime_s = 300 },
	/* KR008 */
	{ "etp Local on a ClusterIP service has no effect",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "externalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1")),
	  "KR008 warning t/s - \n", "externalTrafficPolicy Local on a ClusterIP service", .mode = NULL },
	{ "etp Local with an externalIP takes effect: KR001 instead",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "externalTrafficPolicy: Local, externalIPs: [192.0.2.1], " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = NULL },
	{ "affinity config without ClientIP, source ranges on a NodePort",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "type: NodePort, sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}, loadBalancerSourceRanges: [10.0.0.0/8], " WEB_NP)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1")),
	  "KR008 warning t/s - \nKR008 warning t/s - \n", "the ranges filter only load-balancer IPs", .mode = NULL },
	{ "trafficDistribution with itp Local",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, trafficDistribution: PreferClose, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR008 warning t/s - \n", "topology applies only to cluster endpoints", .mode = NULL },
	{ "hints on the endpoints of an itp Local service: not KR003, topology never applies",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, trafficDistribution: PreferClose, " WEB)
	  ENDPOINTS("s", ON_HINT("10.0.1.1", "n1", "z1", "z1") "," ON_HINT("10.0.2.1", "n2", "z1", "z1") "," ON_HINT("10.0.3.1", "n3", "z2", "z2")),
	  "KR008 warning t/s - \n", "topology applies only to cluster endpoints", .mode = NULL },
	{ "weights with a scheduler that ignores them (userspace mode)",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: rr, kroute.io/endpoint-weights: '10.0.1.1=5'", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR008 warning t/s - \n", "scheduler rr ignores weights", .mode = "userspace" },
	{ "a flag for another scheduler (userspace mode)",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: maglev, kroute.io/scheduler-flags: sh-port", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR008 warning t/s - \n", "the sh-* flags apply only to scheduler sh, not maglev", .mode = "userspace" },
	{ "wlc with weights in userspace mode: honoured, nothing",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: wlc, kroute.io/endpoint-weights: '10.0.1.1=5'", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = "userspace" },
	/* KR009 */
	{ "wlc and weights in nftables mode: random picks in proportion to the weights",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: wlc, kroute.io/endpoint-weights: '10.0.1.1=5'", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR009 warning t/s - \n", "wlc is not implemented by the nftables mode, which picks an endpoint at random (numgen) in proportion to the endpoint weights", .mode = "nftables" },
	{ "maglev with weights and its table size in nftables mode: honoured, nothing",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: maglev, kroute.io/scheduler-flags: maglev-table-size=251, kroute.io/endpoint-weights: '10.0.1.1=5'", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = "nftables" },
	{ "random with a flag for another scheduler in nftables mode: no effect",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: random, kroute.io/scheduler-flags: mh-port", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR008 warning t/s - \n", "the mh-* flags apply only to scheduler mh, not random", .mode = "nftables" },
	{ "wlc and weights in iptables mode: not honoured",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: wlc, kroute.io/endpoint-weights: '10.0.1.1=5'", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR009 warning t/s - \nKR009 warning t/s - \n", "wlc is not implemented by the iptables mode", .mode = NULL },
	{ "scheduler random in iptables mode: nothing",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: random", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = NULL },
	{ "maglev in ipvs mode: the kernel's mh instead",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: maglev", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR009 warning t/s - \n", "maglev is not an IPVS scheduler; the ipvs mode uses mh instead", .mode = "ipvs" },
	{ "wlc in ipvs mode: the kernel's own, nothing",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: wlc", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "", NULL, .mode = "ipvs" },
	/* KR010 */
	{ "an unknown scheduler: an error",
	  NODES3 SERVICE_ANN("s", "kroute.io/scheduler: least-conn", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.3.1", "n3", "z2")),
	  "KR010 error t/s - \n", "unknown scheduler \"least-conn\"", .mode = NULL },
	/* KR011 */
	{ "no Node objects: the nodes the endpoints name",
	  SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1")),
	  "KR011 info - - n1,n2\n", "the input has no Node object", .mode = NULL },
	{ "an endpoint on a node no Node object has",
	  NODES3 SERVICE("s", CIP("10.96.0.1") WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.9.1", "gone", "z1")),
	  "KR011 info - - gone\n", "no Node object in the input has", .mode = NULL },
	/* --ignore */
	{ "--ignore leaves a rule out",
	  NODES3 SERVICE("s", CIP("10.96.0.1") "internalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1")),
	  "KR002 warning t/s web n2,n3\n", NULL, .ignore = "local-single-endpoint" },
	/* headless: programmed by nobody, so no per-node finding; its Local policy is noted */
	{ "headless service with itp Local",
	  NODES3 SERVICE("s", "clusterIP: None, internalTrafficPolicy: Local, " WEB)
	  ENDPOINTS("s", ON("10.0.1.1", "n1", "z1")),
	  "KR008 warning t/s - \n", "headless service", .mode = NULL },
};

static char *render_findings(const struct lint_report *r)
{
	struct sbuf b = { 0 };

	for (size_t i = 0; i < r->n; i++) {
		const struct lint_finding *f = &r->v[i];

		sbuf_printf(&b, "%s %s %s %s ", lint_rules[f->rule].id, lint_level_name(f->level),
			    *f->service ? f->service : "-", *f->port ? f->port : "-");
		for (size_t k = 0; k < f->n_nodes; k++)
			sbuf_printf(&b, "%s%s", k ? "," : "", f->nodes[k]);
		if (!f->n_nodes && *f->port)
			SBUF_ADDL(&b, "-");
		SBUF_ADDL(&b, "\n");
	}
	return sbuf_cstr(&b);
}

static bool load(const char *name, const char *yaml, struct cluster *c)
{
	struct diag d;
	int r;

	diag_init(&d);
	cluster_init(c);
	r = manifest_load_buffer(name, yaml, strlen(yaml), false, NULL, c, &d);
	if (r < 0 || d.n_errors) {
		print_error("case \"%s\": the manifest does not load:\n", name);
		diag_print(&d, stderr);
	}
	diag_done(&d);
	return r == 0;
}

static bool run_case(const struct lint_case *lc)
{
	struct lint_opts o;
	struct lint_report r;
	struct cluster c;
	char *got;
	bool ok = true, msg = !lc->message;

	if (!load(lc->name, lc->yaml, &c)) {
		cluster_done(&c);
		return false;
	}
	lint_opts_init(&o);
	if (lc->mode)
		o.mode = lc->mode;
	if (lc->lifetime_s)
		o.endpoint_lifetime_s = lc->lifetime_s;
	if (lc->ignore)
		o.ignore[lint_rule_find(lc->ignore) - lint_rules] = true;
	lint_run(&c, &o, &r);
	got = render_findings(&r);
	if (strcmp(got, lc->want)) {
		print_error("case \"%s\":\n  want:\n%s  got:\n%s", lc->name, lc->want, got);
		ok = false;
	}
	for (size_t i = 0; i < r.n; i++)
		msg |= lc->message && strstr(r.v[i].message, lc->message);
	if (!msg) {
		print_error("case \"%s\": no finding's message holds \"%s\"; they are:\n", lc->name,
			    lc->message);
		for (size_t i = 0; i < r.n; i++)
			print_error("  %s\n", r.v[i].message);
		ok = false;
	}
	if (lc->ignore && !r.n_ignored) {
		print_error("case \"%s\": --ignore %s counted nothing ignored\n", lc->name, lc->ignore);
		ok = false;
	}
	free(got);
	lint_report_done(&r);
	cluster_done(&c);
	return ok;
}

static void test_rules(void **state)
{
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		failed += !run_case(&cases[i]);
	if (failed) {
		print_error("%zu of %zu lint cases failed\n", failed, ARRAY_SIZE(cases));
		fail();
	}
}

/* Rule ids and names are an interface: unique, KR + 3 digits in order, found both ways. */
static void test_rule_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < LINT_N_RULES; i++) {
		char id[8];

		snprintf(id, sizeof(id), "KR%03zu", i + 1);
		assert_string_equal(lint_rules[i].id, id);
		assert_ptr_equal(lint_rule_find(lint_rules[i].name), &lint_rules[i]);
		assert_ptr_equal(lint_rule_find(id), &lint_rules[i]);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(lint_rules[i].name, lint_rules[k].name);
	}
	assert_ptr_equal(lint_rule_find("kr002"), &lint_rules[LINT_ITP_LOCAL_DROPS]);
	assert_null(lint_rule_find("KR999"));
	assert_null(lint_rule_find("etp"));
}

/* A dual-stack port's two families give one finding, its nodes joined. */
static void test_dual_stack_merged(void **state)
{
	static const char yaml[] = NODES3
		"---\nkind: Service\napiVersion: v1\nmetadata: {namespace: t, name: s}\n"
		"spec: {clusterIPs: [10.96.0.1, 'fd00::1'], ipFamilies: [IPv4, IPv6], ipFamilyPolicy: RequireDualStack, "
		"internalTrafficPolicy: Local, " WEB "}\n"
		ENDPOINTS("s", ON("10.0.1.1", "n1", "z1") "," ON("10.0.2.1", "n2", "z1"))
		"---\nkind: EndpointSlice\napiVersion: discovery.k8s.io/v1\nmetadata: {namespace: t, "
		"name: s-6, labels: {kubernetes.io/service-name: s}}\naddressType: IPv6\n"
		"ports: [{name: web, protocol: TCP, port: 8080}]\nendpoints: ["
		"{addresses: ['fd00::11'], conditions: {ready: true}, nodeName: n1}, "
		"{addresses: ['fd00::22'], conditions: {ready: true}, nodeName: n2}]\n";
	struct lint_opts o;
	struct lint_report r;
	struct cluster c;
	char *got;

	(void)state;
	assert_true(load("dual", yaml, &c));
	lint_opts_init(&o);
	lint_run(&c, &o, &r);
	got = render_findings(&r);
	/* Each family drops on n3: one finding for the port. */
	assert_string_equal(got, "KR002 warning t/s web n3\n");
	free(got);
	lint_report_done(&r);
	cluster_done(&c);
}

/* The JSON escapes what it quotes and lists every node; the table names at most 4. */
static void test_render(void **state)
{
	static const char yaml[] =
		NODE_OBJ("a1", "") NODE_OBJ("a2", "") NODE_OBJ("a3", "") NODE_OBJ("a4", "")
		NODE_OBJ("a5", "") NODE_OBJ("a6", "")
		SERVICE_ANN("s", "kroute.io/scheduler: least-conn", CIP("10.96.0.1") "internalTrafficPolicy: Local, " WEB)
		ENDPOINTS("s", ON("10.0.1.1", "a6", "z1"));
	struct lint_opts o;
	struct lint_report r;
	struct cluster c;
	struct sbuf b = { 0 };

	(void)state;
	assert_true(load("render", yaml, &c));
	lint_opts_init(&o);
	lint_run(&c, &o, &r);
	lint_render_json(&r, &b);
	assert_non_null(strstr(sbuf_cstr(&b), "\"nodes\": [\"a1\", \"a2\", \"a3\", \"a4\", \"a5\"],"));
	assert_non_null(strstr(sbuf_cstr(&b), "unknown scheduler \\\"least-conn\\\""));
	assert_non_null(strstr(sbuf_cstr(&b), "\"errors\": 1,"));
	sbuf_free(&b);
	lint_render_table(&r, &b);
	assert_non_null(strstr(sbuf_cstr(&b), "a1,a2,a3 (+2 more)"));
	assert_non_null(strstr(sbuf_cstr(&b), "1 error, 2 warnings, 0 info in 1 service on 6 nodes\n"));
	sbuf_free(&b);
	lint_report_done(&r);
	cluster_done(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_table),
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_dual_stack_merged),
		cmocka_unit_test(test_render),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
