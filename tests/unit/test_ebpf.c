/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ebpf mode's planner and differ (no kernel): what the services and
 * slots maps must hold for a table of clusters (forward, reject, drop,
 * affinity, NodePorts on the node's addresses, Maglev slots), that an
 * endpoint that stays keeps its slot, that ids are stable while a set
 * stays, and what a sync writes: a one-endpoint change at 1,000 services
 * touches only that service's slots, a removed service is deleted after
 * its entry, and a plan diffed against itself writes nothing.  And which
 * UDP endpoints a sync removed (gone.h: whose connected sockets are aborted).
 * And the SNAT port range from the node's ephemeral range (snat_ports.h).
 */
#include <arpa/inet.h>
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
#include "core/sbuf.h"
#include "core/util.h"
#include "dataplane/ebpf/gone.h"
#include "dataplane/ebpf/plan.h"
#include "dataplane/ebpf/snat_ports.h"
#include "policy/policy.h"
#include "source/manifest.h"
#include "view_fixture.h"

#define SVC(name, spec)                                                                        \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: t}\nspec: " spec "\n"
#define SVC_ANN(name, ann, spec)                                                               \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: t, annotations: {" \
	ann "}}\nspec: " spec "\n"
#define SLICE(svc, eps)                                                                        \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                          \
	"metadata: {name: " svc "-1, namespace: t, labels: {kubernetes.io/service-name: " svc "}}\n" \
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n" eps
#define EP(ip, node) "- {addresses: [" ip "], nodeName: " node "}\n"
#define PORTS "ports: [{name: http, port: 80, targetPort: 8080}]"

struct fixture {
	struct cluster c;
	struct node_view *v;
	struct cidr cidr;
	struct policy_opts po;
};

static void load(struct fixture *f, const char *yaml, const char *node)
{
	f->v = view_fixture_build(&f->c, &f->cidr, &f->po, yaml, node, false);
}

static void unload(struct fixture *f)
{
	node_view_free(f->v);
	cluster_done(&f->c);
}

static struct addr node_addrs[2];

static void build(const struct node_view *v, const struct ebpf_plan *prev, struct ebpf_ids *ids,
		  struct ebpf_plan *out)
{
	struct ebpf_plan_opts o = { .nodeport_addrs = node_addrs, .n_nodeport_addrs = 2 };
	struct diag d;

	diag_init(&d);
	ebpf_plan_init(out);
	ebpf_plan_build(v, &o, prev, ids, out, &d);
	diag_done(&d);
}

/* Two clusters planned in turn (the second against the first) and their diff. */
struct two_plans {
	struct fixture f1, f2;
	struct ebpf_ids ids;
	struct ebpf_plan p1, p2;
	struct ebpf_diff df;
};

static void two_plans_build(struct two_plans *t, const char *ya, const char *yb)
{
	ebpf_ids_init(&t->ids);
	load(&t->f1, ya, "n1");
	build(t->f1.v, NULL, &t->ids, &t->p1);
	load(&t->f2, yb, "n1");
	build(t->f2.v, &t->p1, &t->ids, &t->p2);
	ebpf_diff(&t->p1, &t->p2, &t->df);
}

static void two_plans_done(struct two_plans *t)
{
	ebpf_diff_done(&t->df);
	ebpf_plan_done(&t->p1);
	ebpf_plan_done(&t->p2);
	ebpf_ids_done(&t->ids);
	unload(&t->f1);
	unload(&t->f2);
}

/* The plan as text: one line per services entry, then per slot. */
static char *plan_text(const struct ebpf_plan *p)
{
	struct sbuf b = { 0 };
	char ip[64];

	for (size_t i = 0; i < p->n_svcs; i++) {
		const struct ebpf_svc_entry *e = &p->svcs[i];

		inet_ntop(e->k.family, e->k.addr.b, ip, sizeof(ip));
		sbuf_printf(&b, "%s %s:%u/%s id=%u count=%u%s%s%s%s%s aff=%u\n",
			    e->k.scope == KR_SCOPE_OUTSIDE ? "out" : "svc", ip, ntohs(e->k.port),
			    e->k.proto == 6 ? "tcp" : "udp", e->v.id, e->v.count,
			    e->v.flags & KR_SVC_REJECT ? " reject" : "",
			    e->v.flags & KR_SVC_DROP ? " drop" : "",
			    e->v.flags & KR_SVC_AFFINITY ? " affinity" : "",
			    e->v.flags & KR_SVC_SNAT ? " snat" : "",
			    e->v.flags & KR_SVC_RANGES ? " ranges" : "", e->v.affinity_s);
	}
	for (size_t i = 0; i < p->n_slots; i++) {
		const struct ebpf_slot_entry *e = &p->slots[i];

		inet_ntop(e->v.family, e->v.addr.b, ip, sizeof(ip));
		sbuf_printf(&b, "slot %u.%u %s:%u\n", e->k.id, e->k.slot, ip, ntohs(e->v.port));
	}
	for (size_t i = 0; i < p->n_ranges; i++) {
		const struct kr_range_key *r = &p->ranges[i];
		char src[64];

		inet_ntop(r->svc.family, r->svc.addr.b, ip, sizeof(ip));
		inet_ntop(r->svc.family, r->src.b, src, sizeof(src));
		sbuf_printf(&b, "range %s:%u %s/%u\n", ip, ntohs(r->svc.port), src,
			    r->prefixlen - (unsigned)KR_RANGE_SVC_BITS);
	}
	return sbuf_cstr(&b);
}

static char *text_of(const char *yaml, const char *node)
{
	struct fixture f;
	struct ebpf_ids ids;
	struct ebpf_plan p;
	char *t;

	load(&f, yaml, node);
	ebpf_ids_init(&ids);
	build(f.v, NULL, &ids, &p);
	t = plan_text(&p);
	ebpf_plan_done(&p);
	ebpf_ids_done(&ids);
	unload(&f);
	return t;
}

struct plan_case {
	const char *what;
	const char *yaml;
	const char *node;
	const char *want[6];
	const char *unwanted[3];
};

static const struct plan_case cases[] = {
	{ "cluster IP with two endpoints: one entry, two slots",
	  SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}")
	  SLICE("web", EP("10.244.1.5", "n1") EP("10.244.2.5", "n2")), "n1",
	  { "svc 10.96.0.1:80/tcp id=1 count=2 aff=0\n", "slot 1.0 10.244.1.5:8080\n",
	    "slot 1.1 10.244.2.5:8080\n" }, { "reject", "drop" } },
	{ "no endpoint anywhere: reject, no slots",
	  SVC("empty", "{clusterIP: 10.96.0.2, " PORTS "}"), "n1",
	  { "svc 10.96.0.2:80/tcp id=0 count=0 reject aff=0\n" }, { "slot " } },
	{ "internalTrafficPolicy Local without a local endpoint: drop",
	  SVC("loc", "{clusterIP: 10.96.0.3, internalTrafficPolicy: Local, " PORTS "}")
	  SLICE("loc", EP("10.244.2.5", "n2")), "n1",
	  { "svc 10.96.0.3:80/tcp id=0 count=0 drop aff=0\n" }, { "slot " } },
	{ "internalTrafficPolicy Local with a local endpoint: only it",
	  SVC("loc", "{clusterIP: 10.96.0.3, internalTrafficPolicy: Local, " PORTS "}")
	  SLICE("loc", EP("10.244.1.5", "n1") EP("10.244.2.5", "n2")), "n1",
	  { "count=1", "slot 1.0 10.244.1.5:8080\n" }, { "10.244.2.5" } },
	{ "ClientIP affinity: flag and timeout",
	  SVC("s", "{clusterIP: 10.96.0.4, sessionAffinity: ClientIP, sessionAffinityConfig:"
	      " {clientIP: {timeoutSeconds: 7}}, " PORTS "}")
	  SLICE("s", EP("10.244.1.5", "n1")), "n1",
	  { "svc 10.96.0.4:80/tcp id=1 count=1 affinity aff=7\n" }, { NULL } },
	{ "NodePort with externalTrafficPolicy Local: every node address, the cluster set"
	  " (in-cluster traffic short-circuits)",
	  SVC("np", "{type: NodePort, clusterIP: 10.96.0.5, externalTrafficPolicy: Local,"
	      " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}")
	  SLICE("np", EP("10.244.2.5", "n2")), "n1",
	  { "svc 192.168.0.1:30080/tcp id=1 count=1 aff=0\n", "svc 127.0.0.1:30080/tcp id=1",
	    "svc 10.96.0.5:80/tcp id=1", "slot 1.0 10.244.2.5:8080\n",
	    "out 192.168.0.1:30080/tcp id=0 count=0 drop aff=0\n" }, { "reject", "snat" } },
	{ "NodePort with externalTrafficPolicy Cluster from outside: the cluster set, SNAT",
	  SVC("np", "{type: NodePort, clusterIP: 10.96.0.5,"
	      " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}")
	  SLICE("np", EP("10.244.1.5", "n1") EP("10.244.2.5", "n2")), "n1",
	  { "out 192.168.0.1:30080/tcp id=1 count=2 snat aff=0\n",
	    "svc 192.168.0.1:30080/tcp id=1 count=2 aff=0\n" }, { "drop", "reject" } },
	{ "LB IP with externalTrafficPolicy Local from outside: the local set, no SNAT; a Service"
	  " without endpoints: reject from outside too",
	  SVC("lb", "{type: LoadBalancer, clusterIP: 10.96.0.6, externalTrafficPolicy: Local,"
	      " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]}\n"
	      "status: {loadBalancer: {ingress: [{ip: 198.51.100.9}]}}")
	  SLICE("lb", EP("10.244.1.5", "n1") EP("10.244.2.5", "n2"))
	  SVC("empty", "{type: NodePort, clusterIP: 10.96.0.7,"
	      " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30082}]}"), "n1",
	  { "out 198.51.100.9:80/tcp id=2 count=1 aff=0\n", "slot 2.0 10.244.1.5:8080\n",
	    "svc 198.51.100.9:80/tcp id=1 count=2 aff=0\n",
	    "out 192.168.0.1:30082/tcp id=0 count=0 reject aff=0\n" }, { "snat", "slot 2.1" } },
	{ "external and LB IPs from inside: the cluster set",
	  SVC("lb", "{type: LoadBalancer, clusterIP: 10.96.0.6, externalIPs: [192.0.2.7],"
	      " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]}\n"
	      "status: {loadBalancer: {ingress: [{ip: 198.51.100.9}]}}")
	  SLICE("lb", EP("10.244.2.5", "n2")), "n1",
	  { "svc 192.0.2.7:80/tcp id=1 count=1", "svc 198.51.100.9:80/tcp id=1 count=1" }, { NULL } },
	{ "loadBalancerSourceRanges: the LB IP's outside entry flagged, its ranges (host bits"
	  " cleared, a range listed twice once); the socket entry not",
	  SVC("lb", "{type: LoadBalancer, clusterIP: 10.96.0.6, loadBalancerSourceRanges:"
	      " [192.168.50.100/32, 203.0.113.7/24, 192.168.50.100/32],"
	      " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]}\n"
	      "status: {loadBalancer: {ingress: [{ip: 198.51.100.9}]}}")
	  SLICE("lb", EP("10.244.2.5", "n2")), "n1",
	  { "out 198.51.100.9:80/tcp id=1 count=1 snat ranges aff=0\n",
	    "svc 198.51.100.9:80/tcp id=1 count=1 aff=0\n",
	    "range 198.51.100.9:80 203.0.113.0/24\nrange 198.51.100.9:80 192.168.50.100/32\n" },
	  { "range 192.168.0.1", "100/32\nrange 198.51.100.9:80 192.168.50.100" } },
	{ "maglev: the scheduler library's table as slots",
	  SVC_ANN("m", "kroute.io/scheduler: maglev, kroute.io/scheduler-flags: \"maglev-table-size=251\"",
		  "{clusterIP: 10.96.0.8, " PORTS "}")
	  SLICE("m", EP("10.244.1.5", "n1") EP("10.244.2.5", "n2")), "n1",
	  { "svc 10.96.0.8:80/tcp id=1 count=251 aff=0\n", "slot 1.250 " }, { NULL } },
	{ "two services with one address: the first keeps it",
	  SVC("a", "{clusterIP: 10.96.0.9, " PORTS "}") SLICE("a", EP("10.244.1.5", "n1"))
	  SVC("b", "{clusterIP: 10.96.0.9, " PORTS "}") SLICE("b", EP("10.244.2.5", "n2")), "n1",
	  { "svc 10.96.0.9:80/tcp id=1 count=1 aff=0\n", "slot 1.0 10.244.1.5:8080\n" },
	  { "id=2" } },
};

static void test_plan_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *t = text_of(cases[i].yaml, cases[i].node);

		for (size_t k = 0; k < ARRAY_SIZE(cases[i].want) && cases[i].want[k]; k++)
			if (!strstr(t, cases[i].want[k]))
				fail_msg("%s: want \"%s\" in\n%s", cases[i].what, cases[i].want[k], t);
		for (size_t k = 0; k < ARRAY_SIZE(cases[i].unwanted) && cases[i].unwanted[k]; k++)
			if (strstr(t, cases[i].unwanted[k]))
				fail_msg("%s: do not want \"%s\" in\n%s", cases[i].what,
					 cases[i].unwanted[k], t);
		free(t);
	}
}

/* An endpoint that stays keeps its slot; the new one takes the freed slot; ids stay. */
static void test_slots_stable(void **state)
{
	const char *before = SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}")
		SLICE("web", EP("10.244.1.5", "n1") EP("10.244.1.6", "n1") EP("10.244.1.7", "n1"));
	const char *after = SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}")
		SLICE("web", EP("10.244.1.5", "n1") EP("10.244.1.7", "n1") EP("10.244.1.9", "n1"));
	struct fixture f1, f2;
	struct ebpf_ids ids;
	struct ebpf_plan p1, p2;
	struct ebpf_diff df;
	char *t;

	(void)state;
	ebpf_ids_init(&ids);
	load(&f1, before, "n1");
	build(f1.v, NULL, &ids, &p1);
	load(&f2, after, "n1");
	build(f2.v, &p1, &ids, &p2);
	t = plan_text(&p2);
	assert_non_null(strstr(t, "slot 1.0 10.244.1.5:8080\n"));
	assert_non_null(strstr(t, "slot 1.1 10.244.1.9:8080\n")); /* the freed slot */
	assert_non_null(strstr(t, "slot 1.2 10.244.1.7:8080\n"));
	free(t);
	ebpf_diff(&p1, &p2, &df);
	assert_int_equal(df.n_slot_up, 1);   /* only slot 1 changes */
	assert_int_equal(df.n_svc, 0);       /* same id, same count */
	assert_int_equal(df.n_slot_del, 0);
	ebpf_diff_done(&df);
	/* against itself: nothing */
	ebpf_diff(&p2, &p2, &df);
	assert_int_equal(ebpf_diff_size(&df), 0);
	ebpf_diff_done(&df);
	ebpf_plan_done(&p1);
	ebpf_plan_done(&p2);
	ebpf_ids_done(&ids);
	unload(&f1);
	unload(&f2);
}

/* A removed service: its entry is deleted (service ops), then its slots (last). */
static void test_removal_order(void **state)
{
	const char *two = SVC("a", "{clusterIP: 10.96.0.1, " PORTS "}") SLICE("a", EP("10.244.1.5", "n1"))
		SVC("b", "{clusterIP: 10.96.0.2, " PORTS "}") SLICE("b", EP("10.244.1.6", "n1"));
	const char *one = SVC("a", "{clusterIP: 10.96.0.1, " PORTS "}") SLICE("a", EP("10.244.1.5", "n1"));
	struct fixture f1, f2;
	struct ebpf_ids ids;
	struct ebpf_plan p1, p2, p3;
	struct ebpf_diff df;

	(void)state;
	ebpf_ids_init(&ids);
	load(&f1, two, "n1");
	build(f1.v, NULL, &ids, &p1);
	load(&f2, one, "n1");
	build(f2.v, &p1, &ids, &p2);
	ebpf_diff(&p1, &p2, &df);
	assert_int_equal(df.n_slot_up, 0);
	assert_int_equal(df.n_svc, 1);
	assert_int_equal(df.svc[0].kind, EBPF_OP_DELETE);
	assert_true(df.svc[0].had_old);
	assert_int_equal(df.n_slot_del, 1);
	assert_int_equal(df.slot_del[0].e.k.id, p1.svcs[1].v.id);
	ebpf_diff_done(&df);
	/* b comes back: a new id (its old one is gone), a's id unchanged */
	build(f1.v, &p2, &ids, &p3);
	assert_int_equal(p3.svcs[0].v.id, p1.svcs[0].v.id);
	assert_int_not_equal(p3.svcs[1].v.id, p1.svcs[1].v.id);
	ebpf_plan_done(&p1);
	ebpf_plan_done(&p2);
	ebpf_plan_done(&p3);
	ebpf_ids_done(&ids);
	unload(&f1);
	unload(&f2);
}

/* 1,000 services; one loses an endpoint: one slot deleted, one service entry updated. */
static void test_one_change_at_scale(void **state)
{
	struct sbuf a = { 0 }, b = { 0 };
	struct two_plans t;
	char *ya, *yb;

	(void)state;
	for (int i = 0; i < 1000; i++) {
		for (int k = 0; k < 2; k++) {
			struct sbuf *s = k ? &b : &a;

			sbuf_printf(s, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: t}\n"
				    "spec: {clusterIP: 10.96.%d.%d, " PORTS "}\n", i, i / 250, i % 250 + 1);
			sbuf_printf(s, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
				    "metadata: {name: s%d-1, namespace: t, labels: {kubernetes.io/service-name: s%d}}\n"
				    "addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n", i, i);
			for (int e = 0; e < (k && i == 500 ? 2 : 3); e++)
				sbuf_printf(s, "- {addresses: [10.%d.%d.%d], nodeName: n1}\n", 100 + e,
					    i / 250, i % 250 + 1);
		}
	}
	ya = sbuf_cstr(&a);
	yb = sbuf_cstr(&b);
	two_plans_build(&t, ya, yb);
	assert_int_equal(t.df.n_slot_up, 0);
	assert_int_equal(t.df.n_svc, 1);
	assert_int_equal(t.df.svc[0].kind, EBPF_OP_UPDATE);
	assert_int_equal(t.df.svc[0].e.v.count, 2);
	assert_int_equal(t.df.n_slot_del, 1);
	two_plans_done(&t);
	free(ya);
	free(yb);
}

#define UDP_SVC(name, ip) SVC(name, "{clusterIP: " ip ", ports: [{name: dns, port: 53, protocol: UDP, targetPort: 8080}]}")
#define UDP_SLICE(svc, eps)                                                                    \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                          \
	"metadata: {name: " svc "-1, namespace: t, labels: {kubernetes.io/service-name: " svc "}}\n" \
	"addressType: IPv4\nports: [{name: dns, port: 8080, protocol: UDP}]\nendpoints:\n" eps

/* The gone UDP endpoints of the diff from yaml a to yaml b, as "IP:PORT " text. */
static char *gone_text(const char *ya, const char *yb)
{
	struct two_plans tp;
	struct kr_backend *gone;
	struct sbuf t = { 0 };
	size_t n;

	two_plans_build(&tp, ya, yb);
	n = ebpf_gone_udp(&tp.p1, &tp.p2, &tp.df, &gone);
	sbuf_printf(&t, "%s", "");
	for (size_t i = 0; i < n; i++) {
		char ip[INET6_ADDRSTRLEN];

		inet_ntop(gone[i].family, gone[i].addr.b, ip, sizeof(ip));
		sbuf_printf(&t, "%s:%u ", ip, ntohs(gone[i].port));
	}
	free(gone);
	two_plans_done(&tp);
	return sbuf_cstr(&t);
}

/*
 * An endpoint is gone when it left a UDP set and is in no UDP set after the
 * sync: .6 left dns (its place in TCP web does not count: only UDP sockets
 * are aborted), .7 left dns2 but stays in dns; adding endpoints removes none.
 */
static void test_gone_udp(void **state)
{
	const char *before = UDP_SVC("dns", "10.96.0.53")
		UDP_SLICE("dns", EP("10.244.1.5", "n1") EP("10.244.1.6", "n1") EP("10.244.1.7", "n1"))
		UDP_SVC("dns2", "10.96.0.54") UDP_SLICE("dns2", EP("10.244.1.7", "n1") EP("10.244.1.8", "n1"))
		SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}") SLICE("web", EP("10.244.1.6", "n1"));
	const char *after = UDP_SVC("dns", "10.96.0.53")
		UDP_SLICE("dns", EP("10.244.1.5", "n1") EP("10.244.1.7", "n1"))
		UDP_SVC("dns2", "10.96.0.54") UDP_SLICE("dns2", EP("10.244.1.8", "n1"))
		SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}") SLICE("web", EP("10.244.1.6", "n1"));
	const char *grown = UDP_SVC("dns", "10.96.0.53")
		UDP_SLICE("dns", EP("10.244.1.5", "n1") EP("10.244.1.6", "n1") EP("10.244.1.7", "n1")
			  EP("10.244.1.9", "n1"))
		UDP_SVC("dns2", "10.96.0.54") UDP_SLICE("dns2", EP("10.244.1.7", "n1") EP("10.244.1.8", "n1"))
		SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}") SLICE("web", EP("10.244.1.6", "n1"));
	const char *none = SVC("web", "{clusterIP: 10.96.0.1, " PORTS "}") SLICE("web", EP("10.244.1.6", "n1"));
	char *t;

	(void)state;
	t = gone_text(before, after);
	assert_string_equal(t, "10.244.1.6:8080 ");
	free(t);
	t = gone_text(before, grown);
	assert_string_equal(t, "");
	free(t);
	t = gone_text(after, after);
	assert_string_equal(t, "");
	free(t);
	/* both UDP services deleted: every endpoint of theirs is gone */
	t = gone_text(before, none);
	assert_string_equal(t, "10.244.1.5:8080 10.244.1.6:8080 10.244.1.7:8080 10.244.1.8:8080 ");
	free(t);
}

/* ip_local_port_range's text: two ports, the first at most the second; anything else refused. */
static void test_ephemeral_parse(void **state)
{
	static const struct {
		const char *text;
		int r;
		unsigned lo, hi;
	} tc[] = {
		{ "32768\t60999\n", 0, 32768, 60999 },
		{ "1024 65535", 0, 1024, 65535 },
		{ "  40000\t40000\n", 0, 40000, 40000 },
		{ "0\t0", 0, 0, 0 },
		{ "", -EINVAL, 0, 0 },
		{ "32768", -EINVAL, 0, 0 },
		{ "32768\t", -EINVAL, 0, 0 },
		{ "60999\t32768", -EINVAL, 0, 0 },     /* reversed */
		{ "32768\t65536", -EINVAL, 0, 0 },     /* not a port */
		{ "32768\t99999999999999999999", -EINVAL, 0, 0 },
		{ "32768\t60999 x", -EINVAL, 0, 0 },
		{ "-1\t60999", -EINVAL, 0, 0 },
		{ "32768\t60999\t1", -EINVAL, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tc) / sizeof(*tc); i++) {
		unsigned lo = 7, hi = 7;
		int r = ebpf_ephemeral_parse(tc[i].text, &lo, &hi);

		assert_int_equal(r, tc[i].r);
		if (!r) {
			assert_int_equal(lo, tc[i].lo);
			assert_int_equal(hi, tc[i].hi);
		} else {
			assert_int_equal(lo, 7); /* untouched on an error */
		}
	}
}

/* The SNAT range: above the ephemeral range, below it when too few are above, else the default. */
static void test_snat_ports(void **state)
{
	static const struct {
		unsigned lo, hi;
		enum ebpf_snat_where where;
		unsigned min, max;
	} tc[] = {
		{ 32768, 60999, EBPF_SNAT_ABOVE, 61000, 65535 }, /* the kernel's default */
		{ 32768, 64511, EBPF_SNAT_ABOVE, 64512, 65535 }, /* exactly 1024 above */
		{ 32768, 64512, EBPF_SNAT_BELOW, 1024, 32767 },  /* 1023 above */
		{ 1024, 65535, EBPF_SNAT_OVERLAP, 61000, 65535 },
		{ 2047, 65000, EBPF_SNAT_OVERLAP, 61000, 65535 }, /* 1023 below, 535 above */
		{ 2048, 65535, EBPF_SNAT_BELOW, 1024, 2047 },
		{ 1, 100, EBPF_SNAT_ABOVE, 1024, 65535 }, /* never a well-known port */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(tc) / sizeof(*tc); i++) {
		struct ebpf_snat_ports sp = { 0, 0 };

		assert_int_equal(ebpf_snat_ports_pick(tc[i].lo, tc[i].hi, &sp), tc[i].where);
		assert_int_equal(sp.min, tc[i].min);
		assert_int_equal(sp.max, tc[i].max);
		/* never one of the ephemeral ports unless it says so */
		if (tc[i].where != EBPF_SNAT_OVERLAP)
			assert_true(sp.max < tc[i].lo || sp.min > tc[i].hi);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_cases),
		cmocka_unit_test(test_slots_stable),
		cmocka_unit_test(test_removal_order),
		cmocka_unit_test(test_one_change_at_scale),
		cmocka_unit_test(test_gone_udp),
		cmocka_unit_test(test_ephemeral_parse),
		cmocka_unit_test(test_snat_ports),
	};

	node_addrs[0] = (struct addr){ .family = AF_INET, .bytes = { 192, 168, 0, 1 } };
	node_addrs[1] = (struct addr){ .family = AF_INET, .bytes = { 127, 0, 0, 1 } };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
