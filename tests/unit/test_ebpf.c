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
 * Partial syncs (partial.h): a one-endpoint change at 1,000 services plans
 * one port view, a full sync, a rebuild of the view or a generation gap
 * plan them all, a removed service's entries are deleted, and over a table
 * of random change sequences every step gives the mirror, the diff and the
 * gone endpoints a walk of the whole node gives.
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
#include "dataplane/ebpf/partial.h"
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

/* ---- partial syncs (partial.h) ---- */

/* One mode's state across syncs, without the kernel: each step committed as if the maps took it. */
struct side {
	struct ebpf_track t;
	struct ebpf_ids ids;
	struct ebpf_plan mirror;
};

static void side_init(struct side *sd)
{
	ebpf_track_init(&sd->t);
	ebpf_ids_init(&sd->ids);
	ebpf_plan_init(&sd->mirror);
}

static void side_done(struct side *sd)
{
	ebpf_track_done(&sd->t);
	ebpf_ids_done(&sd->ids);
	ebpf_plan_done(&sd->mirror);
}

/* s: the step (ebpf_step_done by the caller; its from/to are stale after the commit). */
static void side_sync(struct side *sd, const struct node_view *v, bool walk, struct ebpf_step *s)
{
	struct ebpf_plan_opts o = { .nodeport_addrs = node_addrs, .n_nodeport_addrs = 2 };
	struct diag d;

	diag_init(&d);
	ebpf_step_plan(&sd->t, v, &o, &sd->mirror, walk, &sd->ids, s, &d);
	ebpf_step_commit(&sd->t, s, &sd->mirror);
	diag_done(&d);
}

static void assert_plans_equal(const struct ebpf_plan *a, const struct ebpf_plan *b)
{
	char *ta = plan_text(a), *tb = plan_text(b);

	assert_string_equal(ta, tb);
	assert_int_equal(a->drop_services, b->drop_services);
	free(ta);
	free(tb);
}

/* A walk of the whole node now writes nothing: the mirror is what a full replan gives. */
static void assert_walk_same(struct side *sd, const struct node_view *v)
{
	struct ebpf_plan p;
	struct ebpf_diff df;

	build(v, &sd->mirror, &sd->ids, &p);
	assert_plans_equal(&p, &sd->mirror);
	ebpf_diff(&sd->mirror, &p, &df);
	assert_int_equal(ebpf_diff_size(&df), 0);
	ebpf_diff_done(&df);
	ebpf_plan_done(&p);
}

/* The view options of view_fixture.h, for views updated step by step. */
static void policy_opts_fixture(struct policy_opts *po, struct cidr *cidr)
{
	policy_opts_init(po);
	assert_int_equal(cidr_parse("10.244.0.0/16", cidr), 0);
	po->cluster_cidrs = cidr;
	po->n_cluster_cidrs = 1;
}

static struct cluster *load_cluster(const char *yaml)
{
	struct cluster *c = xcalloc(1, sizeof(*c));
	struct diag d;

	cluster_init(c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("t.yaml", yaml, strlen(yaml), false, NULL, c, &d), 0);
	diag_done(&d);
	return c;
}

static void free_cluster(struct cluster *c)
{
	cluster_done(c);
	free(c);
}

/* n services of 3 endpoints; service `changed` has eps endpoints, service `gone` is left out. */
static char *scale_yaml(int n, int changed, int eps, int gone)
{
	struct sbuf s = { 0 };

	for (int i = 0; i < n; i++) {
		if (i == gone)
			continue;
		sbuf_printf(&s, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: t}\n"
			    "spec: {clusterIP: 10.96.%d.%d, " PORTS "}\n", i, i / 250, i % 250 + 1);
		sbuf_printf(&s, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			    "metadata: {name: s%d-1, namespace: t, labels: {kubernetes.io/service-name: s%d}}\n"
			    "addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n", i, i);
		for (int e = 0; e < (i == changed ? eps : 3); e++)
			sbuf_printf(&s, "- {addresses: [10.%d.%d.%d], nodeName: n1}\n", 100 + e, i / 250,
				    i % 250 + 1);
	}
	return sbuf_cstr(&s);
}

static struct cluster *scale_cluster(int changed, int eps, int gone)
{
	char *y = scale_yaml(1000, changed, eps, gone);
	struct cluster *c = load_cluster(y);

	free(y);
	return c;
}

static bool has_key(const struct ebpf_plan *p, const char *ip, uint16_t port)
{
	struct ebpf_svc_entry e = { .k = { .port = htons(port), .proto = IPPROTO_TCP, .family = AF_INET } };

	inet_pton(AF_INET, ip, e.k.addr.b);
	return bsearch(&e, p->svcs, p->n_svcs, sizeof(e), ebpf_svc_cmp) != NULL;
}

/*
 * 1,000 services: a one-endpoint change plans that service's port view
 * alone and writes its slot and entry; the same view again plans nothing;
 * a removed service's entry and slots are deleted; a rebuilt view
 * (changed_all), a generation gap, a full sync and a sync after a failed
 * one plan every port view.
 */
static void test_partial_at_scale(void **state)
{
	struct cluster *c[5];
	struct cidr cidr;
	struct policy_opts po;
	struct node_view *v;
	struct strmap dirty;
	struct side a;
	struct ebpf_step s;

	(void)state;
	policy_opts_fixture(&po, &cidr);
	strmap_init(&dirty);
	side_init(&a);
	c[0] = scale_cluster(-1, 3, -1);
	v = policy_build_view(c[0], "n1", &po);
	side_sync(&a, v, true, &s);
	assert_false(s.partial);
	assert_int_equal(s.planned, 1000);
	assert_int_equal(a.mirror.n_slots, 3000);
	ebpf_step_done(&s);

	/* s500 loses an endpoint: 1 of 1,000 port views planned, its entry and one slot written */
	c[1] = scale_cluster(500, 2, -1);
	strmap_put(&dirty, "t/s500", (void *)1);
	v = policy_update_view(v, c[1], "n1", &po, &dirty, false);
	side_sync(&a, v, false, &s);
	assert_true(s.partial);
	assert_int_equal(s.planned, 1);
	assert_int_equal(s.looked_at, 2); /* its new port view and its old one's id */
	assert_int_equal(s.diff.n_slot_up, 0);
	assert_int_equal(s.diff.n_svc, 1);
	assert_int_equal(s.diff.svc[0].kind, EBPF_OP_UPDATE);
	assert_int_equal(s.diff.svc[0].e.v.count, 2);
	assert_int_equal(s.diff.n_slot_del, 1);
	assert_int_equal(s.n_gone, 0); /* a TCP endpoint */
	ebpf_step_done(&s);
	assert_int_equal(a.mirror.n_slots, 2999);
	assert_walk_same(&a, v);

	/* the view the mirror applied, again: nothing planned */
	side_sync(&a, v, false, &s);
	assert_true(s.partial && s.unchanged);
	assert_int_equal(s.planned, 0);
	assert_int_equal(ebpf_diff_size(&s.diff), 0);
	ebpf_step_done(&s);

	/* s700 removed: its entry and its 3 slots deleted, nothing planned */
	c[2] = scale_cluster(500, 2, 700);
	strmap_put(&dirty, "t/s700", (void *)1);
	v = policy_update_view(v, c[2], "n1", &po, &dirty, false);
	side_sync(&a, v, false, &s);
	assert_true(s.partial);
	assert_int_equal(s.planned, 1); /* s500, dirty again (unchanged: nothing written) */
	assert_int_equal(s.looked_at, 3); /* and the ids of both services' old port views */
	assert_int_equal(s.diff.n_svc, 1);
	assert_int_equal(s.diff.svc[0].kind, EBPF_OP_DELETE);
	assert_int_equal(s.diff.n_slot_del, 3);
	assert_int_equal(s.diff.n_slot_up, 0);
	ebpf_step_done(&s);
	assert_false(has_key(&a.mirror, "10.96.2.201", 80));
	assert_true(has_key(&a.mirror, "10.96.2.200", 80));
	assert_int_equal(a.mirror.n_svcs, 999);
	assert_walk_same(&a, v);

	/* the view rebuilt (changed_all): the whole walk, nothing written */
	v = policy_update_view(v, c[2], "n1", &po, &dirty, true);
	side_sync(&a, v, false, &s);
	assert_false(s.partial);
	assert_int_equal(s.planned, 999);
	assert_int_equal(ebpf_diff_size(&s.diff), 0);
	ebpf_step_done(&s);

	/* two updates, no sync between (a gap): the whole walk, which finds s500's change */
	c[3] = scale_cluster(500, 3, 700);
	strmap_done(&dirty);
	strmap_init(&dirty);
	strmap_put(&dirty, "t/s500", (void *)1);
	v = policy_update_view(v, c[3], "n1", &po, &dirty, false);
	v = policy_update_view(v, c[3], "n1", &po, &dirty, false);
	side_sync(&a, v, false, &s);
	assert_false(s.partial);
	assert_int_equal(s.planned, 999);
	assert_int_equal(s.diff.n_slot_up, 1);
	assert_int_equal(s.diff.n_svc, 1);
	ebpf_step_done(&s);

	/* in step again: one port view; and a full sync walks */
	c[4] = scale_cluster(500, 1, 700);
	v = policy_update_view(v, c[4], "n1", &po, &dirty, false);
	side_sync(&a, v, false, &s);
	assert_true(s.partial);
	assert_int_equal(s.planned, 1);
	assert_int_equal(s.diff.n_slot_del, 2);
	ebpf_step_done(&s);
	side_sync(&a, v, true, &s);
	assert_false(s.partial);
	assert_int_equal(s.planned, 999);
	assert_int_equal(ebpf_diff_size(&s.diff), 0);
	ebpf_step_done(&s);
	assert_walk_same(&a, v);

	/* a sync the kernel refused (ebpf_track_reset): the next one walks, though in step */
	v = policy_update_view(v, c[4], "n1", &po, &dirty, false);
	ebpf_track_reset(&a.t);
	side_sync(&a, v, false, &s);
	assert_false(s.partial);
	assert_int_equal(s.planned, 999);
	ebpf_step_done(&s);

	side_done(&a);
	strmap_done(&dirty);
	node_view_free(v);
	for (int i = 0; i < 5; i++)
		free_cluster(c[i]);
}

#define LB_SHARED(n, ranges)                                                                   \
	SVC("lb" n, "{type: LoadBalancer, clusterIP: 10.96.0." n ", loadBalancerSourceRanges: [" ranges \
	    "], ports: [{name: http, port: 80, targetPort: 8080, nodePort: 300" n "}]}\n"           \
	    "status: {loadBalancer: {ingress: [{ip: 198.18.0.1}]}}")                             \
	SLICE("lb" n, EP("10.244.1." n, "n1"))

/*
 * Two services with one LB IP and port: the first in the view's order keeps
 * the key, both write their source ranges.  The first removed: the second
 * takes the key over and the range both list stays; back with other
 * ranges: the key returns to it.  Each partial sync gives a walk's mirror.
 */
static void test_partial_shared_key(void **state)
{
	const char *yaml[] = {
		LB_SHARED("11", "203.0.113.0/24, 198.51.100.1/32") LB_SHARED("12", "203.0.113.0/24, 198.51.100.2/32"),
		LB_SHARED("12", "203.0.113.0/24, 198.51.100.2/32"),
		LB_SHARED("11", "192.0.2.0/24") LB_SHARED("12", "203.0.113.0/24, 198.51.100.2/32"),
	};
	struct cluster *c[3];
	struct cidr cidr;
	struct policy_opts po;
	struct node_view *v = NULL;
	struct strmap dirty;
	struct side a, b;
	struct ebpf_step sa, sb;

	(void)state;
	policy_opts_fixture(&po, &cidr);
	strmap_init(&dirty);
	strmap_put(&dirty, "t/lb11", (void *)1);
	side_init(&a);
	side_init(&b);
	for (int i = 0; i < 3; i++) {
		c[i] = load_cluster(yaml[i]);
		v = i ? policy_update_view(v, c[i], "n1", &po, &dirty, false)
		      : policy_build_view(c[i], "n1", &po);
		side_sync(&a, v, !i, &sa);
		side_sync(&b, v, true, &sb);
		assert_int_equal(sa.partial, i > 0);
		assert_plans_equal(&a.mirror, &b.mirror);
		assert_int_equal(ebpf_diff_size(&sa.diff), ebpf_diff_size(&sb.diff));
		if (i == 1) {
			/* 11's own range gone, the shared one kept; the key's entry now 12's */
			assert_int_equal(sa.before.n_ranges, 1);
			assert_int_equal(sa.after.n_ranges, 0);
			assert_int_equal(a.mirror.n_ranges, 2);
		}
		ebpf_step_done(&sa);
		ebpf_step_done(&sb);
	}
	assert_int_equal(a.mirror.n_ranges, 3); /* lb11's 192.0.2.0/24 beside lb12's two */
	side_done(&a);
	side_done(&b);
	strmap_done(&dirty);
	node_view_free(v);
	for (int i = 0; i < 3; i++)
		free_cluster(c[i]);
}

/* ---- random change sequences ---- */

#define R_SVCS 10
#define R_EPS 6

/* One service of a random cluster. */
struct rsvc {
	bool exists;
	bool udp;
	int type;            /* 0 ClusterIP, 1 NodePort, 2 LoadBalancer */
	bool etp_local, itp_local, affinity, ranges, maglev;
	int ext;             /* externalIPs: 192.0.2.EXT (0: none) */
	unsigned eps;        /* which of the R_EPS endpoints (10.244.K.1; even K on n1) */
};

static uint32_t rnd(uint64_t *st)
{
	*st = *st * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*st >> 33);
}

static void rsvc_random(struct rsvc *r, uint64_t *st, bool contested)
{
	r->exists = rnd(st) % 6 != 0;
	r->udp = rnd(st) % 2;
	r->type = (int)(rnd(st) % 3);
	r->etp_local = rnd(st) % 3 == 0;
	r->itp_local = rnd(st) % 5 == 0;
	r->affinity = rnd(st) % 4 == 0;
	r->ranges = rnd(st) % 3 == 0;
	r->maglev = rnd(st) % 6 == 0;
	/* with contested: external IPs from a pool of two (and LB IPs, random_yaml), so services claim one key */
	r->ext = contested && rnd(st) % 2 ? (int)(rnd(st) % 2 + 1) : 0;
	r->eps = rnd(st) % (1u << R_EPS);
}

static char *random_yaml(const struct rsvc *r, bool contested)
{
	struct sbuf s = { 0 };

	for (int i = 0; i < R_SVCS; i++) {
		const char *proto = r[i].udp ? "UDP" : "TCP";

		if (!r[i].exists)
			continue;
		sbuf_printf(&s, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%d, namespace: t%s}\n"
			    "spec: {type: %s, clusterIP: 10.96.0.%d", i,
			    r[i].maglev ? ", annotations: {kroute.io/scheduler: maglev, kroute.io/scheduler-flags:"
					  " \"maglev-table-size=251\"}" : "",
			    r[i].type == 0 ? "ClusterIP" : r[i].type == 1 ? "NodePort" : "LoadBalancer",
			    i + 1);
		if (r[i].type && r[i].etp_local)
			sbuf_printf(&s, ", externalTrafficPolicy: Local");
		if (r[i].itp_local)
			sbuf_printf(&s, ", internalTrafficPolicy: Local");
		if (r[i].affinity)
			sbuf_printf(&s, ", sessionAffinity: ClientIP");
		if (r[i].type == 2 && r[i].ranges)
			sbuf_printf(&s, ", loadBalancerSourceRanges: [203.0.113.0/24, 198.51.100.%d/32]", i + 1);
		if (r[i].ext)
			sbuf_printf(&s, ", externalIPs: [192.0.2.%d]", r[i].ext);
		sbuf_printf(&s, ", ports: [{name: p, port: 80, protocol: %s, targetPort: 8080%s", proto,
			    r[i].type ? "" : "}]}\n");
		if (r[i].type)
			sbuf_printf(&s, ", nodePort: %d}]}\n", 30000 + i);
		if (r[i].type == 2)
			sbuf_printf(&s, "status: {loadBalancer: {ingress: [{ip: 198.18.0.%d}]}}\n",
				    contested ? i % 2 + 1 : i + 1);
		sbuf_printf(&s, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			    "metadata: {name: s%d-1, namespace: t, labels: {kubernetes.io/service-name: s%d}}\n"
			    "addressType: IPv4\nports: [{name: p, port: 8080, protocol: %s}]\nendpoints:%s\n",
			    i, i, proto, r[i].eps ? "" : " []");
		for (int k = 0; k < R_EPS; k++)
			if (r[i].eps & (1u << k))
				sbuf_printf(&s, "- {addresses: [10.244.%d.1], nodeName: n%d}\n", k, 1 + k % 2);
	}
	return sbuf_cstr(&s);
}

struct random_case {
	uint64_t seed;
	int steps;
	int gap_every;       /* every Nth step: two view updates before the sync (0: never) */
	int all_every;       /* every Nth step: the view rebuilt (changed_all) */
	bool contested;      /* services share external and LB IPs (keys two services claim) */
};

static const struct random_case random_cases[] = {
	{ 1, 40, 0, 0, false },
	{ 2, 40, 0, 0, false },
	{ 3, 40, 0, 0, false },
	{ 4, 30, 7, 0, false },
	{ 5, 30, 0, 9, false },
	{ 6, 30, 5, 11, false },
	{ 7, 30, 0, 0, true },
	{ 8, 30, 6, 0, true },
	{ 9, 60, 0, 0, false },
	{ 10, 60, 13, 17, false },
};

static void sorted_text(const struct kr_backend *g, size_t n, struct sbuf *t)
{
	for (size_t i = 0; i < n; i++) {
		char ip[INET6_ADDRSTRLEN];

		inet_ntop(g[i].family, g[i].addr.b, ip, sizeof(ip));
		sbuf_printf(t, "%s:%u ", ip, ntohs(g[i].port));
	}
}

/*
 * Each step changes one to three services at random; side a syncs partially
 * where it can, side b walks the whole node every time: after every step
 * their mirrors, their diffs' sizes and the UDP endpoints each found gone
 * are the same, and a replan of the final state writes nothing.
 */
static void test_partial_random(void **state)
{
	(void)state;
	for (size_t ci = 0; ci < ARRAY_SIZE(random_cases); ci++) {
		const struct random_case *rc = &random_cases[ci];
		struct cluster **cl = xcalloc((size_t)rc->steps + 1, sizeof(*cl));
		struct rsvc r[R_SVCS];
		uint64_t st = rc->seed;
		struct cidr cidr;
		struct policy_opts po;
		struct node_view *v;
		struct side a, b;
		struct ebpf_step sa, sb;
		char *y;
		size_t partials = 0, planned_a = 0, planned_b = 0, gones = 0, rng = 0;

		policy_opts_fixture(&po, &cidr);
		for (int i = 0; i < R_SVCS; i++)
			rsvc_random(&r[i], &st, rc->contested);
		y = random_yaml(r, rc->contested);
		cl[0] = load_cluster(y);
		free(y);
		v = policy_build_view(cl[0], "n1", &po);
		side_init(&a);
		side_init(&b);
		side_sync(&a, v, true, &sa);
		side_sync(&b, v, true, &sb);
		ebpf_step_done(&sa);
		ebpf_step_done(&sb);
		for (int step = 1; step <= rc->steps; step++) {
			struct strmap dirty;
			int n_changes = 1 + (int)(rnd(&st) % 3);
			char key[32];
			struct sbuf ga = { 0 }, gb = { 0 };
			char *ta, *tb;

			strmap_init(&dirty);
			for (int k = 0; k < n_changes; k++) {
				int i = (int)(rnd(&st) % R_SVCS);

				if (rnd(&st) % 2) /* an endpoint in or out, mostly */
					r[i].eps ^= 1u << (rnd(&st) % R_EPS);
				else
					rsvc_random(&r[i], &st, rc->contested);
				snprintf(key, sizeof(key), "t/s%d", i);
				if (!strmap_get(&dirty, key))
					strmap_put(&dirty, xstrdup(key), (void *)1);
			}
			y = random_yaml(r, rc->contested);
			cl[step] = load_cluster(y);
			free(y);
			if (rc->gap_every && step % rc->gap_every == 0)
				v = policy_update_view(v, cl[step], "n1", &po, &dirty, false);
			v = policy_update_view(v, cl[step], "n1", &po, &dirty,
					       rc->all_every && step % rc->all_every == 0);
			for (size_t i = 0; i < dirty.cap; i++)
				free((char *)dirty.slots[i].key);
			strmap_done(&dirty);
			side_sync(&a, v, false, &sa);
			side_sync(&b, v, true, &sb);
			partials += sa.partial;
			gones += sa.n_gone > 0;
			rng += a.mirror.n_ranges > 0;
			planned_a += sa.planned;
			planned_b += sb.planned;
			assert_false(sb.partial);
			assert_plans_equal(&a.mirror, &b.mirror);
			assert_int_equal(ebpf_diff_size(&sa.diff), ebpf_diff_size(&sb.diff));
			sorted_text(sa.gone, sa.n_gone, &ga);
			sorted_text(sb.gone, sb.n_gone, &gb);
			ta = sbuf_cstr(&ga);
			tb = sbuf_cstr(&gb);
			if (strcmp(ta, tb))
				fail_msg("case %zu step %d: gone %s, a walk finds %s", ci, step, ta, tb);
			free(ta);
			free(tb);
			ebpf_step_done(&sa);
			ebpf_step_done(&sb);
		}
		assert_walk_same(&a, v);
		print_message("case %zu: %zu of %d syncs partial, %zu removed UDP endpoints, %zu with"
			      " source ranges; port views planned %zu (walks: %zu)\n", ci, partials,
			      rc->steps, gones, rng, planned_a, planned_b);
		/* the partial path did the work where it could */
		assert_true(partials > (size_t)rc->steps / 2);
		assert_true(planned_a < planned_b);
		side_done(&a);
		side_done(&b);
		node_view_free(v);
		for (int i = 0; i <= rc->steps; i++)
			free_cluster(cl[i]);
		free(cl);
	}
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
		cmocka_unit_test(test_partial_at_scale),
		cmocka_unit_test(test_partial_shared_key),
		cmocka_unit_test(test_partial_random),
		cmocka_unit_test(test_ephemeral_parse),
		cmocka_unit_test(test_snat_ports),
	};

	node_addrs[0] = (struct addr){ .family = AF_INET, .bytes = { 192, 168, 0, 1 } };
	node_addrs[1] = (struct addr){ .family = AF_INET, .bytes = { 127, 0, 0, 1 } };
	return cmocka_run_group_tests(tests, NULL, NULL);
}
