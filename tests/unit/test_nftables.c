/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables mode's planner, differ and batch encoder (no kernel): a
 * table of clusters with what their table must and must not hold (in the
 * model's nft text), then syncs through a mirror with a recording sender:
 * what a one-endpoint change at 10,000 services sends (only that service's
 * elements, counted in messages and bytes), that a failed batch leaves the
 * mirror as it was, and that a full sync resets the table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "core/strmap.h"
#include "core/util.h"
#include "dataplane/nftables/nftables.h"
#include "dataplane/nftables/resync.h"
#include "dataplane/nftables/text.h"
#include "policy/policy.h"
#include "source/manifest.h"
#include "view_fixture.h"

#define SVC(name, ip, extra)                                                                   \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: t" extra "\n"

#define SLICE(svc, eps)                                                                        \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                          \
	"metadata: {name: " svc "-1, namespace: t, labels: {kubernetes.io/service-name: " svc "}}\n" \
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n" eps

#define EP(ip, node) "- {addresses: [" ip "], nodeName: " node "}\n"

struct fixture {
	struct cluster c;
	struct node_view *v;
	struct cidr cidr;
	struct policy_opts po;
};

static void load(struct fixture *f, const char *yaml, const char *node, bool masquerade_all)
{
	f->v = view_fixture_build(&f->c, &f->cidr, &f->po, yaml, node, masquerade_all);
}

static void unload(struct fixture *f)
{
	node_view_free(f->v);
	cluster_done(&f->c);
}

static void plan_opts(const struct fixture *f, int family, struct nft_plan_opts *o)
{
	*o = (struct nft_plan_opts){ .family = family, .mark = 0x4000, .cluster_cidrs = &f->cidr,
				     .n_cluster_cidrs = 1, .localhost_nodeports = true };
}

/* Every port's fragment (and the base) as text. */
static char *plan_text(const char *yaml, const char *node, bool masquerade_all, int family)
{
	struct fixture f;
	struct nft_plan_opts o;
	struct nft_frag fr;
	struct sbuf b = { 0 };

	load(&f, yaml, node, masquerade_all);
	plan_opts(&f, family, &o);
	nft_plan_base(&o, &fr);
	nft_frag_text(&b, &fr, family);
	nft_frag_done(&fr);
	for (size_t i = 0; i < f.v->n_ports; i++) {
		assert_int_equal(nft_plan_port(&f.v->ports[i], &o, &fr), 0);
		if (fr.warning)
			sbuf_printf(&b, "warning: %s\n", fr.warning);
		nft_frag_text(&b, &fr, family);
		nft_frag_done(&fr);
	}
	unload(&f);
	return sbuf_cstr(&b);
}

#define WEB "spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
#define TWO EP("10.244.1.5", "n1") EP("10.244.2.5", "n2")

struct plan_case {
	const char *what;
	const char *yaml;
	bool masquerade_all;
	int family;
	const char *want[8];   /* substrings the text must hold */
	const char *unwanted[4];
};

static const struct plan_case plan_cases[] = {
	{ "cluster IP only, two endpoints: elements of the pick maps, no chain, masquerade off-cluster",
	  SVC("web", "", "}") WEB SLICE("web", TWO), false, AF_INET,
	  { "in @pick-2\n  10.96.0.1 . tcp . 80\n",
	    "in @pick-endpoints\n  10.96.0.1 . tcp . 80 . 0 : 10.244.1.5 . 8080\n"
	    "  10.96.0.1 . tcp . 80 . 1 : 10.244.2.5 . 8080\n",
	    "in @pick-masquerade-external\n  10.96.0.1 . tcp . 80\n",
	    "@hairpin 10.244.1.5 . 10.244.1.5" },
	  { "@no-endpoint-services 10.", "update @", "chain svc-", "@services 10.96.0.1" } },
	{ "hairpin: only this node's endpoints (a pod's own service traffic is DNATed on its node)",
	  SVC("web", "", "}") WEB SLICE("web", TWO EP("10.244.3.5", "")), false, AF_INET,
	  { "@hairpin 10.244.1.5 . 10.244.1.5", "@hairpin 10.244.3.5 . 10.244.3.5" },
	  { "@hairpin 10.244.2.5" } },
	{ "hairpin, eTP Local: every endpoint (a pod elsewhere reaches this node's NodePort unmarked)",
	  SVC("web", "", "}") "spec: {type: NodePort, clusterIP: 10.96.0.1, externalTrafficPolicy: Local,"
	  " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30082}]}\n" SLICE("web", TWO),
	  false, AF_INET,
	  { "@hairpin 10.244.1.5 . 10.244.1.5", "@hairpin 10.244.2.5 . 10.244.2.5" }, { 0 } },
	{ "the pick: by the packet's own address . protocol . port, before @services",
	  "", false, AF_INET,
	  { "chain services\n"
	    "  ip daddr . meta l4proto . th dport @pick-masquerade jump mark-for-masquerade\n"
	    "  ip daddr . meta l4proto . th dport @external-masquerade jump mark-for-masquerade\n"
	    "  ip saddr != 10.244.0.0/16 ip daddr . meta l4proto . th dport @pick-masquerade-external"
	    " jump mark-for-masquerade\n"
	    "  ip daddr . meta l4proto . th dport vmap @services\n"
	    "  ip daddr . meta l4proto . th dport @pick-1 dnat ip to ip daddr . meta l4proto . th dport"
	    " . numgen random mod 1 map @pick-endpoints\n",
	    "  ip daddr . meta l4proto . th dport @pick-32 dnat ip to ip daddr . meta l4proto . th dport"
	    " . numgen random mod 32 map @pick-endpoints\n"
	    "  fib daddr type local meta l4proto . th dport @nodeport-masquerade jump mark-for-masquerade\n"
	    "  fib daddr type local meta l4proto . th dport vmap @nodeports\n" }, { 0 } },
	{ "--masquerade-all: every cluster-IP packet marked",
	  SVC("web", "", "}") WEB SLICE("web", TWO), true, AF_INET,
	  { "in @pick-masquerade\n  10.96.0.1 . tcp . 80\n" }, { "in @pick-masquerade-external" } },
	{ "more slots than the pick maps hold: a chain of its own with its modulus",
	  SVC("web", "", ", annotations: {kroute.io/endpoint-weights: \"10.244.1.5=32,10.244.2.5=1\"}}")
	  WEB SLICE("web", TWO), false, AF_INET,
	  { "@services 10.96.0.1 . tcp . 80 : goto svc-",
	    "in @pick-masquerade-external\n  10.96.0.1 . tcp . 80\n",
	    "numgen random mod 33 map @endpoints", "  32 : 10.244.2.5 . 8080" },
	  { "in @pick-endpoints", "in @pick-33", "ip daddr 10.96.0.1/32 th dport 80" } },
	{ "no endpoints anywhere: rejected",
	  SVC("web", "", "}") WEB SLICE("web", ""), false, AF_INET,
	  { "@no-endpoint-services 10.96.0.1 . tcp . 80 : goto reject-chain" },
	  { "@services 10.96.0.1", "chain svc-" } },
	{ "internalTrafficPolicy Local without a local endpoint: dropped",
	  SVC("web", "", "}") "spec: {clusterIP: 10.96.0.1, internalTrafficPolicy: Local, ports: [{name: http,"
	  " port: 80, targetPort: 8080}]}\n" SLICE("web", EP("10.244.2.5", "n2")), false, AF_INET,
	  { "@no-endpoint-services 10.96.0.1 . tcp . 80 : drop" }, { "@services 10.96.0.1" } },
	{ "internalTrafficPolicy Local with one: svl chain over the local set",
	  SVC("web", "", "}") "spec: {clusterIP: 10.96.0.1, internalTrafficPolicy: Local, ports: [{name: http,"
	  " port: 80, targetPort: 8080}]}\n" SLICE("web", TWO), false, AF_INET,
	  { "@services 10.96.0.1 . tcp . 80 : goto svl-", "numgen random mod 1 map @endpoints" },
	  { "goto svc-" } },
	{ "NodePort, eTP Cluster: masquerade by membership, then straight to the cluster set",
	  SVC("web", "", "}") "spec: {type: NodePort, clusterIP: 10.96.0.1, ports: [{name: http, port: 80,"
	  " targetPort: 8080, nodePort: 30080}]}\n" SLICE("web", TWO), false, AF_INET,
	  { "@nodeports tcp . 30080 : goto svc-", "@nodeport-masquerade tcp . 30080\n" },
	  { "chain ext-", "@external-masquerade 10." } },
	{ "LoadBalancer and external IP, eTP Cluster: their addresses in @external-masquerade",
	  SVC("web", "", "}") "spec: {type: LoadBalancer, clusterIP: 10.96.0.1, externalIPs: [198.51.100.9],"
	  " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30083}]}\n"
	  "status: {loadBalancer: {ingress: [{ip: 192.0.2.7}]}}\n" SLICE("web", TWO), false, AF_INET,
	  { "@services 192.0.2.7 . tcp . 80 : goto svc-", "@services 198.51.100.9 . tcp . 80 : goto svc-",
	    "@external-masquerade 192.0.2.7 . tcp . 80\n", "@external-masquerade 198.51.100.9 . tcp . 80\n",
	    "@nodeport-masquerade tcp . 30083\n", "@nodeports tcp . 30083 : goto svc-" },
	  { "chain ext-", "@external-masquerade 10.96.0.1" } },
	{ "NodePort, eTP Cluster, no endpoints: rejected, nothing masqueraded",
	  SVC("web", "", "}") "spec: {type: NodePort, clusterIP: 10.96.0.1, ports: [{name: http, port: 80,"
	  " targetPort: 8080, nodePort: 30084}]}\n" SLICE("web", ""), false, AF_INET,
	  { "@no-endpoint-nodeports tcp . 30084 : goto reject-chain" },
	  { "@nodeport-masquerade tcp", "@nodeports tcp . 30084", "chain ext-" } },
	{ "LoadBalancer, eTP Local, no local endpoint: pods short-circuit, the rest dropped",
	  SVC("web", "", "}") "spec: {type: LoadBalancer, clusterIP: 10.96.0.1, externalTrafficPolicy: Local,"
	  " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]}\n"
	  "status: {loadBalancer: {ingress: [{ip: 192.0.2.7}]}}\n" SLICE("web", EP("10.244.2.5", "n2")),
	  false, AF_INET,
	  { "@no-endpoint-nodeports tcp . 30081 : drop", "@no-endpoint-services 192.0.2.7 . tcp . 80 : drop",
	    "@services 192.0.2.7 . tcp . 80 : goto ext-", "ip saddr 10.244.0.0/16 goto svc-",
	    "fib saddr type local jump mark-for-masquerade" },
	  { "goto svl-" } },
	{ "loadBalancerSourceRanges: a firewall chain before DNAT",
	  SVC("web", "", "}") "spec: {type: LoadBalancer, clusterIP: 10.96.0.1, loadBalancerSourceRanges:"
	  " [203.0.113.0/24], ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]}\n"
	  "status: {loadBalancer: {ingress: [{ip: 192.0.2.7}]}}\n" SLICE("web", TWO), false, AF_INET,
	  { "@firewall-ips 192.0.2.7 . tcp . 80 : goto fw-", "ip saddr 203.0.113.0/24 return\n  drop" }, { 0 } },
	{ "ClientIP affinity: timed sets, per-endpoint chains",
	  SVC("web", "", "}") "spec: {clusterIP: 10.96.0.1, sessionAffinity: ClientIP, ports: [{name: http,"
	  " port: 80, targetPort: 8080}]}\n" SLICE("web", TWO), false, AF_INET,
	  { "ip saddr timeout 10800s }", "update @affinity-", "dnat ip to 10.244.1.5:8080",
	    "numgen random mod 2 vmap @endpoint-chains", ". ip saddr @affinity-" }, { "map @endpoints" } },
	{ "rr with weights: random picks in proportion, and a warning",
	  SVC("web", "", ", annotations: {kroute.io/scheduler: rr, kroute.io/endpoint-weights:"
	      " \"10.244.1.5=4,10.244.2.5=2\"}}") WEB SLICE("web", TWO), false, AF_INET,
	  { "uses scheduler rr, which nf_tables cannot run", "in @pick-3\n",
	    "80 . 1 : 10.244.1.5 . 8080", "80 . 2 : 10.244.2.5 . 8080" }, { "80 . 3 : " } },
	{ "weight 0: no slot, no new flows",
	  SVC("web", "", ", annotations: {kroute.io/endpoint-weights: \"10.244.2.5=0\"}}") WEB
	  SLICE("web", TWO), false, AF_INET,
	  { "in @pick-1\n", "80 . 0 : 10.244.1.5 . 8080" }, { "10.244.2.5 . 8080", "warning" } },
	{ "maglev: the scheduler's table as map elements under jhash",
	  SVC("web", "", ", annotations: {kroute.io/scheduler: maglev, kroute.io/scheduler-flags:"
	      " \"maglev-table-size=251\"}}") WEB SLICE("web", TWO), false, AF_INET,
	  { "jhash ip saddr . th sport . ip daddr . th dport mod 251 map @endpoints", "  250 : 10.244." },
	  { "in @pick-endpoints", "warning" } },
	{ "the base: hooks, NodePorts on every local address but loopback guarded",
	  "", false, AF_INET,
	  { "chain nat-prerouting (nat hook 0 priority -100)", "fib daddr type local meta l4proto",
	    "ip daddr 127.0.0.0/8 ip saddr != 127.0.0.0/8", "ct status dnat ip saddr . ip daddr @hairpin" }, { 0 } },
	{ "IPv6: ip6 expressions, ::1 never a NodePort",
	  "", false, AF_INET6,
	  { "fib daddr type local ip6 daddr != ::1/128", "ip6 saddr . ip6 daddr @hairpin" },
	  { "127.0.0.0/8" } },
};

static void test_plan_cases(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(plan_cases); i++) {
		const struct plan_case *c = &plan_cases[i];
		char *t = plan_text(c->yaml, "n1", c->masquerade_all, c->family);

		for (size_t k = 0; k < ARRAY_SIZE(c->want) && c->want[k]; k++) {
			if (strstr(t, c->want[k]))
				continue;
			fputs(t, stderr);
			fail_msg("%s: no \"%s\" in the text above", c->what, c->want[k]);
		}
		for (size_t k = 0; k < ARRAY_SIZE(c->unwanted) && c->unwanted[k]; k++) {
			if (!strstr(t, c->unwanted[k]))
				continue;
			fputs(t, stderr);
			fail_msg("%s: \"%s\" in the text above", c->what, c->unwanted[k]);
		}
		free(t);
	}
}

/* ---- syncs through a mirror, the batches recorded ---- */

struct recorder {
	struct nft_io io;
	size_t batches, msgs, bytes;
	char *what;    /* the last batch's messages, one per line */
	int fail;      /* the errno the next send returns (0: success) */
	const struct nft_mirror *kernel; /* what a read finds (NULL: no table) */
	void (*drift)(struct nft_kstate *k); /* what happened to it by hand */
};

static int record(struct nft_batch *b, void *userdata, struct diag *d)
{
	struct recorder *r = userdata;
	struct sbuf s = { 0 };

	r->batches++;
	r->msgs = b->msgs;
	r->bytes = b->bytes;
	for (size_t i = 0; i < b->n_what; i++) {
		nft_batch_what(b, i, &s);
		sbuf_addc(&s, '\n');
	}
	free(r->what);
	r->what = sbuf_cstr(&s);
	return r->fail;
}

/* The kernel as a successful sync into r->kernel left it, then r->drift. */
static int read_kernel(int family, struct nft_kstate *k, void *userdata, struct diag *d)
{
	struct recorder *r = userdata;
	const struct nft_mirror *m = r->kernel;

	if (!m)
		return -ENOENT;
	for (size_t i = 0; i < m->frags.cap; i++) {
		const struct nft_frag *f = m->frags.slots[i].value;

		for (size_t c = 0; m->frags.slots[i].key && c < f->n_chains; c++) {
			struct nft_kchain *kc = nft_kstate_chain(k, f->chains[c].name);

			for (size_t n = 0; n < f->chains[c].n_rules; n++) {
				uint64_t tag = nft_rule_tag(&f->chains[c].rules[n]);

				VEC_PUSH(kc->tags, kc->n, kc->cap, tag);
			}
		}
		for (size_t c = 0; m->frags.slots[i].key && c < f->n_sets; c++) {
			const struct nft_set *s = &f->sets[c];
			struct nft_kset *ks = nft_kstate_set(k, nft_set_kname(s)); /* a slice: its map */

			ks->flags = nft_set_flags(s->kind);
			ks->key_len = (uint32_t)nft_key_len(s->kind, family);
			ks->data_len = (uint32_t)nft_data_len(s->kind, family);
			ks->timeout_ms = (uint64_t)s->timeout_s * 1000;
			if (!s->in_map[0])
				ks->size = s->size; /* the size it was created with */
			for (size_t e = 0; e < s->n_elems; e++)
				*nft_set_elem(&ks->set) = s->elems[e];
		}
	}
	for (size_t i = 0; i < m->shared.cap; i++) {
		const struct nft_shared_key *sk = m->shared.slots[i].value;
		struct nft_elem e;

		if (m->shared.slots[i].key && nft_shared_applied(sk, &e))
			*nft_set_elem(&nft_kstate_set(k, nft_shared_names[sk->set])->set) = e;
	}
	if (r->drift)
		r->drift(k);
	return 0;
}

/* n services, 10 endpoints each; service k's first endpoint is changed when changed == k. */
static char *big_cluster(size_t n, size_t changed)
{
	struct sbuf b = { 0 };

	for (size_t k = 0; k < n; k++) {
		sbuf_printf(&b, "---\napiVersion: v1\nkind: Service\nmetadata: {name: s%zu, namespace: t}\n"
			    "spec: {clusterIP: 10.%zu.%zu.%zu, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
			    "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			    "metadata: {name: s%zu-1, namespace: t, labels: {kubernetes.io/service-name: s%zu}}\n"
			    "addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n",
			    k, 96 + k / 65536, (k / 256) % 256, k % 256, k, k);
		for (size_t e = 0; e < 10; e++) {
			size_t a = k * 10 + e;

			/* The changed endpoint's address is no other endpoint's. */
			if (e == 0 && k == changed)
				sbuf_printf(&b, "- {addresses: [10.250.0.1], nodeName: n1}\n");
			else
				sbuf_printf(&b, "- {addresses: [10.%zu.%zu.%zu], nodeName: n%zu}\n",
					    200 + a / 65536, a / 256 % 256, a % 256, (e + 1) % 3);
		}
	}
	return sbuf_cstr(&b);
}

static struct nft_set *base_set_of(struct nft_mirror *m, const char *name)
{
	struct nft_frag *base = strmap_get(&m->frags, "base");

	for (size_t i = 0; base && i < base->n_sets; i++)
		if (streq(base->sets[i].name, name))
			return &base->sets[i];
	return NULL;
}

static char *svc_hash(const char *key)
{
	uint64_t h = fnv1a_update(0xcbf29ce484222325ull, key, strlen(key));

	return xasprintf("%016llx", (unsigned long long)h);
}

/* Every line of what names the service (or the batch's begin and end). */
static void assert_only(const char *what, const char *hash)
{
	char *copy = xstrdup(what), *save = NULL;

	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!strstr(l, hash) && !strstr(l, "the batch") && !strstr(l, "hairpin"))
			fail_msg("the batch touches another service: %s", l);
	free(copy);
}

static void test_one_endpoint_at_10000(void **state)
{
	char *before = big_cluster(10000, SIZE_MAX), *after = big_cluster(10000, 5000);
	struct fixture f, g, h2;
	struct nft_mirror m;
	struct nft_plan_opts o;
	struct nft_sync_info info;
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };

	rec.io.userdata = &rec;
	struct strmap dirty;
	struct diag d;
	char *h = svc_hash("t/s5000:http/TCP");

	load(&f, before, "n1", false);
	plan_opts(&f, AF_INET, &o);
	nft_mirror_init(&m);
	diag_init(&d);
	assert_int_equal(nft_sync_mirror(&m, f.v, &o, true, &rec.io, &info, &d), 0);
	assert_non_null(strstr(rec.what, "adding table kroute")); /* no table yet: created */
	assert_true(info.elems_added > 100000); /* the slots of 10,000 services x 10 */
	/* Hairpin elements for this node's endpoints only: 4 of each service's 10 are on n1. */
	assert_int_equal(base_set_of(&m, "hairpin")->kcount, 40000);
	print_message("full sync of 10,000 services x 10: %zu messages, %zu bytes\n", info.msgs, info.bytes);

	/* The same objects again (no service dirty): nothing is planned but the base, nothing sent. */
	strmap_init(&dirty);
	f.v = policy_update_view(f.v, &f.c, "n1", &f.po, &dirty, false);
	rec.batches = 0;
	assert_int_equal(nft_sync_mirror(&m, f.v, &o, false, &rec.io, &info, &d), 0);
	assert_int_equal(rec.batches, 0);
	assert_int_equal(info.planned, 1);
	/* One update after the full sync: the view's change info is used, no port view looked at. */
	assert_true(info.from_changes);
	assert_int_equal(info.ports_looked_at, 0);

	/* One endpoint of t/s5000 changes: only its map's element goes out. */
	load(&g, after, "n1", false);
	strmap_put(&dirty, "t/s5000", (void *)1);
	node_view_free(g.v);
	g.v = policy_update_view(f.v, &g.c, "n1", &g.po, &dirty, false);
	f.v = NULL;
	assert_int_equal(nft_sync_mirror(&m, g.v, &o, false, &rec.io, &info, &d), 0);
	print_message("one endpoint changed at 10,000 services: %zu messages, %zu bytes\n%s", info.msgs,
		      info.bytes, rec.what);
	assert_int_equal(info.planned, 2);
	/* Only the changed service: its new port view and its old one's id, not the 9,999 others. */
	assert_true(info.from_changes);
	assert_int_equal(info.ports_looked_at, 2);
	assert_int_equal(info.elems_deleted, 2); /* the endpoint's slot, its hairpin element */
	assert_int_equal(info.elems_added, 2);
	assert_int_equal(info.chains_written, 0);
	assert_true(info.msgs <= 4);
	assert_true(info.bytes < 1024);
	assert_only(rec.what, h);

	/* Two changes, but the kernel refuses: the mirror stays, the next try sends them again. */
	free(h);
	free(after);
	after = big_cluster(10000, 4999);
	load(&h2, after, "n1", false);
	/* Every service rebuilt (new ids): the diff still finds only the two that changed. */
	node_view_free(h2.v);
	h2.v = policy_update_view(g.v, &h2.c, "n1", &h2.po, &dirty, true);
	g.v = NULL;
	rec.fail = -EIO;
	assert_int_equal(nft_sync_mirror(&m, h2.v, &o, false, &rec.io, &info, &d), -EIO);
	assert_int_equal(info.planned, 10001);
	assert_false(info.from_changes); /* a rebuild of everything: the whole walk */
	assert_int_equal(info.ports_looked_at, 10000);
	rec.fail = 0;
	diag_done(&d);
	diag_init(&d);
	assert_int_equal(nft_sync_mirror(&m, h2.v, &o, false, &rec.io, &info, &d), 0);
	/*
	 * Each service's slot element; and 10.250.0.1 moves from s5000 to
	 * s4999, so its hairpin element stays while s5000's old endpoint comes
	 * back and s4999's old one goes.
	 */
	assert_int_equal(info.elems_added, 3);
	assert_int_equal(info.elems_deleted, 3);
	assert_int_equal(info.chains_written, 0);
	h = svc_hash("t/s4999:http/TCP");
	if (!strstr(rec.what, h))
		fail_msg("t/s4999 is not in the batch:\n%s", rec.what);
	free(h);

	/*
	 * Two updates with no sync between (a generation gap): the change info
	 * of the last one alone would miss the first; the whole walk finds the
	 * ids of both (s4999 rebuilt twice: only the last ids are planned).
	 */
	strmap_put(&dirty, "t/s4999", (void *)1);
	h2.v = policy_update_view(h2.v, &h2.c, "n1", &h2.po, &dirty, false);
	h2.v = policy_update_view(h2.v, &h2.c, "n1", &h2.po, &dirty, false);
	assert_int_equal(nft_sync_mirror(&m, h2.v, &o, false, &rec.io, &info, &d), 0);
	assert_false(info.from_changes);
	assert_int_equal(info.ports_looked_at, 10000);
	assert_int_equal(info.planned, 3); /* the base, s5000 and s4999 */
	assert_int_equal(info.elems_added + info.elems_deleted, 0);
	/* In step again: the next one-service update is looked at alone. */
	h2.v = policy_update_view(h2.v, &h2.c, "n1", &h2.po, &dirty, false);
	assert_int_equal(nft_sync_mirror(&m, h2.v, &o, false, &rec.io, &info, &d), 0);
	assert_true(info.from_changes);
	assert_int_equal(info.ports_looked_at, 4);
	assert_int_equal(info.planned, 3);
	assert_int_equal(m.n_ids, 10000);
	/* The same view again (no update since): nothing to look at. */
	assert_int_equal(nft_sync_mirror(&m, h2.v, &o, false, &rec.io, &info, &d), 0);
	assert_true(info.from_changes);
	assert_int_equal(info.ports_looked_at, 0);
	assert_int_equal(info.planned, 1);
	free(rec.what);
	nft_mirror_done(&m);
	diag_done(&d);
	strmap_done(&dirty);
	unload(&h2);
	cluster_done(&g.c);
	cluster_done(&f.c);
	free(before);
	free(after);
}

/* web alone, and web with api (a NodePort sharing web's endpoint 10.244.1.5): a service added or removed. */
#define WEB_ONLY SVC("web", "", "}") WEB SLICE("web", TWO)
#define WEB_AND_API WEB_ONLY SVC("api", "", "}") "spec: {type: NodePort, clusterIP: 10.96.0.2," \
	" ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30090}]}\n" \
	SLICE("api", EP("10.244.1.5", "n1"))

/* The rules and chains a full sync of v makes, against an empty kernel. */
static void full_counts(const struct node_view *v, const struct nft_plan_opts *o, size_t *rules,
			size_t *chains)
{
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };
	struct nft_sync_info info;
	struct nft_mirror m;
	struct diag d;

	rec.io.userdata = &rec;
	diag_init(&d);
	nft_mirror_init(&m);
	assert_int_equal(nft_sync_mirror(&m, v, o, true, &rec.io, &info, &d), 0);
	*rules = m.n_rules;
	*chains = m.n_chains;
	free(rec.what);
	nft_mirror_done(&m);
	diag_done(&d);
}

/*
 * A partial sync of v one update after m's last, whose one changed port view
 * the view's change info names: only it is looked at, planned (fragments,
 * with the base) as said, and m ends as a full sync of v would.
 */
static void sync_one_change(struct nft_mirror *m, const struct node_view *v,
			    const struct nft_plan_opts *o, struct recorder *rec, size_t planned,
			    size_t n_ids)
{
	struct nft_sync_info info;
	size_t rules, chains;
	struct diag d;

	diag_init(&d);
	assert_int_equal(nft_sync_mirror(m, v, o, false, &rec->io, &info, &d), 0);
	assert_int_equal(d.n_errors, 0);
	assert_true(info.from_changes);
	assert_int_equal(info.ports_looked_at, 1);
	assert_int_equal(info.planned, planned);
	assert_int_equal(m->n_ids, n_ids);
	full_counts(v, o, &rules, &chains);
	assert_int_equal(m->n_rules, rules);
	assert_int_equal(m->n_chains, chains);
	diag_done(&d);
}

/*
 * A service added, then removed, each one view update after the last sync:
 * the view's change info names the one port view (no gone ids, then only
 * gone ids), and the mirror ends as a full sync of the same view would.
 */
static void test_added_removed_from_changes(void **state)
{
	const char *both = WEB_AND_API, *one = WEB_ONLY;
	struct fixture f, g, h;
	struct nft_mirror m;
	struct nft_plan_opts o;
	struct nft_sync_info info;
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };
	struct strmap dirty;
	struct diag d;

	rec.io.userdata = &rec;
	load(&f, one, "n1", false);
	plan_opts(&f, AF_INET, &o);
	nft_mirror_init(&m);
	diag_init(&d);
	strmap_init(&dirty);
	strmap_put(&dirty, "t/api", (void *)1);
	assert_int_equal(nft_sync_mirror(&m, f.v, &o, true, &rec.io, &info, &d), 0);
	assert_int_equal(m.n_ids, 1);

	load(&g, both, "n1", false);
	node_view_free(g.v);
	g.v = policy_update_view(f.v, &g.c, "n1", &g.po, &dirty, false);
	f.v = NULL;
	sync_one_change(&m, g.v, &o, &rec, 2, 2); /* api's port view, new */
	assert_non_null(strstr(rec.what, "adding chain svc-"));

	load(&h, one, "n1", false);
	node_view_free(h.v);
	h.v = policy_update_view(g.v, &h.c, "n1", &h.po, &dirty, false);
	g.v = NULL;
	sync_one_change(&m, h.v, &o, &rec, 1, 1); /* api's id, gone */
	assert_non_null(strstr(rec.what, "deleting chain svc-"));
	free(rec.what);
	strmap_done(&dirty);
	nft_mirror_done(&m);
	diag_done(&d);
	unload(&h);
	unload(&g);
	unload(&f);
}

/* A service removed: its elements, chains and maps go, in an order the kernel accepts. */
static void test_service_removed(void **state)
{
	const char *both = WEB_AND_API, *one = WEB_ONLY;
	struct fixture f, g;
	struct nft_mirror m;
	struct nft_plan_opts o;
	struct nft_sync_info info;
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };

	rec.io.userdata = &rec;
	struct diag d;
	const char *flush, *del_set, *del_chain, *del_elems;

	load(&f, both, "n1", false);
	plan_opts(&f, AF_INET, &o);
	nft_mirror_init(&m);
	diag_init(&d);
	assert_int_equal(nft_sync_mirror(&m, f.v, &o, true, &rec.io, &info, &d), 0);
	load(&g, one, "n1", false);
	/* Ids never repeat across updates (a new build would reuse them). */
	node_view_free(g.v);
	g.v = policy_update_view(f.v, &g.c, "n1", &g.po, NULL, true);
	f.v = NULL;
	assert_int_equal(nft_sync_mirror(&m, g.v, &o, false, &rec.io, &info, &d), 0);
	/* web is planned again (new ids) and found unchanged. */
	assert_int_equal(info.chains_written, 0);
	del_elems = strstr(rec.what, "deleting 1 element from set services");
	flush = strstr(rec.what, "flushing chain svc-");
	del_set = strstr(rec.what, "deleting 1 element from set endpoints-");
	del_chain = strstr(rec.what, "deleting chain svc-");
	assert_non_null(del_elems);
	assert_non_null(flush);
	assert_non_null(del_set);
	assert_non_null(del_chain);
	/* Elements (the service's, its endpoint slot) before its chain is flushed and deleted. */
	assert_true(del_elems < flush && del_set < flush && flush < del_chain);
	/* 10.244.1.5 is still an endpoint of web: its hairpin element stays. */
	if (strstr(rec.what, "from set hairpin"))
		fail_msg("the hairpin element of a shared endpoint was deleted:\n%s", rec.what);
	free(rec.what);
	nft_mirror_done(&m);
	diag_done(&d);
	unload(&g);
	unload(&f);
}

/*
 * By hand: a service's element deleted, a rule of its chain deleted, a
 * chain of someone's added; and an endpoint slot of a service without a
 * chain (element-level dispatch) deleted.
 */
static void drift(struct nft_kstate *k)
{
	struct nft_kset *svc = strmap_get(&k->sets, "services");
	struct nft_kset *eps = strmap_get(&k->sets, "pick-endpoints");

	for (size_t i = 0; i < k->chains.cap; i++) {
		struct nft_kchain *c = k->chains.slots[i].value;

		if (k->chains.slots[i].key && !strncmp(k->chains.slots[i].key, "svc-", 4)) {
			c->n--;
			break;
		}
	}
	assert_true(svc->set.n_elems > 0 && eps->set.n_elems > 0);
	svc->set.n_elems--;
	eps->set.n_elems--;
	nft_kstate_chain(k, "stray");
}

/* A full resync reads the kernel and repairs only what drifted; a table it finds whole stays. */
static void test_full_resync_repairs_drift(void **state)
{
	struct fixture f;
	struct nft_mirror m, m2, m3;
	struct nft_plan_opts o;
	struct nft_sync_info info;
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };
	struct diag d;

	rec.io.userdata = &rec;
	load(&f, SVC("web", "", "}") WEB SLICE("web", TWO) SVC("api", "", "}") "spec: {type: NodePort,"
	     " clusterIP: 10.96.0.2, ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30090}]}\n"
	     SLICE("api", EP("10.244.1.5", "n1")), "n1", false);
	plan_opts(&f, AF_INET, &o);
	diag_init(&d);
	nft_mirror_init(&m);
	/* No table yet: created, not reset. */
	assert_int_equal(nft_sync_mirror(&m, f.v, &o, true, &rec.io, &info, &d), 0);
	assert_non_null(strstr(rec.what, "adding table kroute"));
	assert_null(strstr(rec.what, "deleting table"));
	/* A restart (empty mirror) over the same table: read back, nothing to send. */
	rec.kernel = &m;
	nft_mirror_init(&m2);
	rec.batches = 0;
	assert_int_equal(nft_sync_mirror(&m2, f.v, &o, true, &rec.io, &info, &d), 0);
	assert_true(info.read_back);
	assert_false(info.reset);
	assert_int_equal(rec.batches, 0);
	/* Drift: exactly that is repaired. */
	rec.drift = drift;
	nft_mirror_init(&m3);
	assert_int_equal(nft_sync_mirror(&m3, f.v, &o, true, &rec.io, &info, &d), 0);
	assert_int_equal(rec.batches, 1);
	assert_int_equal(info.elems_added, 2);
	assert_int_equal(info.elems_deleted, 0);
	assert_int_equal(info.chains_written, 1);
	assert_non_null(strstr(rec.what, "adding 1 element to set services"));
	assert_non_null(strstr(rec.what, "adding 1 element to set pick-endpoints"));
	assert_non_null(strstr(rec.what, "flushing chain svc-"));
	assert_non_null(strstr(rec.what, "deleting chain stray"));
	assert_null(strstr(rec.what, "table"));
	print_message("drift repaired with %zu messages:\n%s", info.msgs, rec.what);
	free(rec.what);
	nft_mirror_done(&m);
	nft_mirror_done(&m2);
	nft_mirror_done(&m3);
	diag_done(&d);
	unload(&f);
}

/*
 * Set sizes: a full sync creates each set with room for its elements; a
 * partial sync that would overflow one sends nothing and asks for a full
 * sync (-ENOSPC, info.resize); a full resync keeps a kernel set that is big
 * enough and resets the table when one is too small.
 */
static void test_set_sizes(void **state)
{
	struct fixture f, g;
	struct nft_mirror m, m2;
	struct nft_plan_opts o;
	struct nft_sync_info info;
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };
	struct strmap dirty;
	struct nft_set *hp;
	struct diag d;

	rec.io.userdata = &rec;
	load(&f, SVC("web", "", "}") WEB SLICE("web", TWO), "n1", false);
	plan_opts(&f, AF_INET, &o);
	diag_init(&d);
	nft_mirror_init(&m);
	assert_int_equal(nft_sync_mirror(&m, f.v, &o, true, &rec.io, &info, &d), 0);
	hp = base_set_of(&m, "hairpin");
	assert_non_null(hp);
	assert_int_equal(hp->kcount, 1); /* 10.244.1.5, on this node (n1) */
	assert_int_equal(hp->size, nft_set_size_for(NS_ADDR_PAIRS, 1));
	assert_int_equal(base_set_of(&m, "pick-endpoints")->kcount, 2);
	assert_int_equal(base_set_of(&m, "affinity-0")->size, 0); /* filled by packets: no size */

	/* Pretend the kernel's hairpin set is full: a second endpoint on this node does not fit. */
	hp->size = 1;
	load(&g, SVC("web", "", "}") WEB SLICE("web", TWO EP("10.244.3.5", "n1")), "n1", false);
	strmap_init(&dirty);
	strmap_put(&dirty, "t/web", (void *)1);
	node_view_free(g.v);
	g.v = policy_update_view(f.v, &g.c, "n1", &g.po, &dirty, false);
	f.v = NULL;
	rec.batches = 0;
	assert_int_equal(nft_sync_mirror(&m, g.v, &o, false, &rec.io, &info, &d), -ENOSPC);
	assert_true(info.resize);
	assert_int_equal(rec.batches, 0);
	assert_int_equal(d.n_errors, 0);
	assert_int_equal(base_set_of(&m, "hairpin")->kcount, 1); /* the mirror as it was */

	/* The full sync that follows: the kernel's set (size 1) is too small for 2: reset. */
	rec.kernel = &m;
	nft_mirror_init(&m2);
	assert_int_equal(nft_sync_mirror(&m2, g.v, &o, true, &rec.io, &info, &d), 0);
	assert_true(info.reset);
	assert_int_equal(base_set_of(&m2, "hairpin")->kcount, 2);
	assert_int_equal(base_set_of(&m2, "hairpin")->size, nft_set_size_for(NS_ADDR_PAIRS, 2));
	/* Big enough (the size it was made with): kept, nothing sent. */
	nft_mirror_done(&m);
	nft_mirror_init(&m);
	rec.kernel = &m2;
	rec.batches = 0;
	assert_int_equal(nft_sync_mirror(&m, g.v, &o, true, &rec.io, &info, &d), 0);
	assert_false(info.reset);
	assert_int_equal(rec.batches, 0);
	free(rec.what);
	strmap_done(&dirty);
	nft_mirror_done(&m);
	nft_mirror_done(&m2);
	diag_done(&d);
	unload(&f);
	unload(&g);
}

/*
 * The startup probe: one batch building a throwaway table with one of each
 * feature, then deleting it; a refusal names the chain of the feature.
 */
static void test_probe(void **state)
{
	struct recorder rec = { .io = { .send = record, .read = read_kernel } };
	struct diag d;
	const char *end;

	rec.io.userdata = &rec;
	diag_init(&d);
	assert_int_equal(nft_probe(AF_INET, &rec.io, &d), 0);
	assert_int_equal(d.n_errors, 0);
	assert_non_null(strstr(rec.what, "adding table kroute-probe-"));
	assert_non_null(strstr(rec.what, "adding a rule to chain numgen-nat-map"));
	assert_non_null(strstr(rec.what, "adding a rule to chain dynset-timeout"));
	assert_non_null(strstr(rec.what, "adding chain nat-chain-type (a base chain: a hook)"));
	/* The table goes in the same transaction: its delete is the batch's last message. */
	end = strstr(rec.what, "deleting table kroute-probe-");
	assert_non_null(end);
	assert_non_null(strstr(end, "\ncommitting the batch\n"));
	assert_null(strstr(rec.what, "table kroute\n"));
	/* A kernel refusing it: the error says what is missing and that nothing changed. */
	rec.fail = -EOPNOTSUPP;
	assert_int_equal(nft_probe(AF_INET6, &rec.io, &d), -EOPNOTSUPP);
	assert_int_equal(d.n_errors, 1);
	assert_non_null(strstr(d.msgs[0].text, "nf_tables (ip6) lacks what kroute needs"));
	assert_non_null(strstr(d.msgs[0].text, "nothing was changed"));
	free(rec.what);
	diag_done(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_cases),
		cmocka_unit_test(test_one_endpoint_at_10000),
		cmocka_unit_test(test_service_removed),
		cmocka_unit_test(test_added_removed_from_changes),
		cmocka_unit_test(test_full_resync_repairs_drift),
		cmocka_unit_test(test_probe),
		cmocka_unit_test(test_set_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
