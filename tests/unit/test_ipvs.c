/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPVS mode without a kernel: the planner (views of small clusters as
 * virtual services, link addresses and rule keys, in a text form the cases
 * read), the rules' nft text, the differ (what a sync sends, graceful
 * draining, UDP deleted at once, a one-endpoint change at 10,000 services
 * sending one request), and the generic netlink messages: every op
 * encoded and decoded back, dump requests, truncated and garbage messages
 * refused without a crash.
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
#include <netinet/in.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "dataplane/ipvs/diff.h"
#include "dataplane/common/nlmsg.h"
#include "dataplane/ipvs/msg.h"
#include "dataplane/ipvs/plan.h"
#include "dataplane/ipvs/rules.h"
#include "policy/policy.h"
#include "sched/sched.h"
#include "source/manifest.h"
#include "view_fixture.h"

#define SVC(name, extra) \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: t" extra "}\n"

#define SLICE(svc, eps)                                                                        \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"                          \
	"metadata: {name: " svc "-1, namespace: t, labels: {kubernetes.io/service-name: " svc "}}\n" \
	"addressType: IPv4\nports: [{name: http, port: 8080}]\nendpoints:\n" eps

#define EP(ip, node) "- {addresses: [" ip "], nodeName: " node "}\n"
#define TWO EP("10.244.1.5", "n1") EP("10.244.2.5", "n2")
#define WEB "spec: {clusterIP: 10.96.0.1, ports: [{name: http, port: 80, targetPort: 8080}]}\n"

struct fixture {
	struct cluster c;
	struct node_view *v;
	struct cidr cidr;
	struct policy_opts po;
};

static void load(struct fixture *f, const char *yaml)
{
	f->v = view_fixture_build(&f->c, &f->cidr, &f->po, yaml, "n1", false);
}

static void unload(struct fixture *f)
{
	node_view_free(f->v);
	cluster_done(&f->c);
}

static const char *const set_names[IPVS_SET_N] = { "cluster", "masq", "drop", "reject", "fw",
						   "fw_allow", "loopback", "shortcut" };

/* The plan as lines: "svc KEY SCHED flags=F timeout=T: DEST@W ...", "link ADDR", "SET KEY". */
static char *plan_text(const struct ipvs_plan *p)
{
	struct sbuf b = { 0 };
	char k[IPVS_KEY_LEN], a[ADDR_PORT_STRLEN];

	for (size_t i = 0; i < p->svcs.n; i++) {
		const struct ipvs_svc *s = &p->svcs.v[i];

		ipvs_key_format(&s->key, k);
		sbuf_printf(&b, "svc %s %s flags=%u timeout=%u:", k, s->conf.sched, s->conf.flags,
			    s->conf.timeout);
		for (size_t j = 0; j < s->n_dests; j++) {
			addr_port_format(&s->dests[j].addr, s->dests[j].port, a);
			sbuf_printf(&b, " %s@%u", a, s->dests[j].weight);
		}
		sbuf_adds(&b, "\n");
	}
	for (size_t i = 0; i < p->n_link_addrs; i++) {
		addr_format(&p->link_addrs[i], a);
		sbuf_printf(&b, "link %s\n", a);
	}
	for (int s = 0; s < IPVS_SET_N; s++)
		for (size_t i = 0; i < p->sets[s].n; i++) {
			const struct ipvs_rule_key *rk = &p->sets[s].v[i];
			char src[ADDR_STRLEN + 4];

			addr_port_format(&rk->addr, rk->port, a);
			cidr_format(&rk->src, src);
			if (rk->mark) {
				sbuf_printf(&b, "%s %s %s mark\n", set_names[s],
					    rk->proto == IPPROTO_UDP ? "udp" : "tcp", a);
				continue;
			}
			sbuf_printf(&b, "%s %s %s%s%s\n", set_names[s], rk->proto == IPPROTO_UDP ? "udp" : "tcp", a,
				    rk->src.addr.family ? " from " : "", rk->src.addr.family ? src : "");
		}
	for (size_t i = 0; i < p->n_warnings; i++)
		sbuf_printf(&b, "warning %s\n", p->warnings[i]);
	return sbuf_cstr(&b);
}

static void build(const char *yaml, struct ipvs_plan *p)
{
	struct fixture f;
	struct addr node;
	struct ipvs_plan_opts o = { .family = AF_INET, .nodeport_addrs = &node, .n_nodeport_addrs = 1 };

	assert_int_equal(addr_parse("192.168.1.1", &node), 0);
	load(&f, yaml);
	ipvs_plan_init(p, AF_INET);
	ipvs_plan_build(f.v, &o, p);
	unload(&f);
}

struct plan_case {
	const char *what;
	const char *yaml;
	const char *want[8];
	const char *unwanted[4];
};

static const struct plan_case plan_cases[] = {
	{ "cluster IP, two endpoints: one virtual service, rr, masquerade from outside the cluster",
	  SVC("web", "") WEB SLICE("web", TWO),
	  { "svc tcp 10.96.0.1:80 rr flags=0 timeout=0: 10.244.1.5:8080@1 10.244.2.5:8080@1\n",
	    "link 10.96.0.1\n", "cluster tcp 10.96.0.1:80\n",
	    "loopback tcp 10.244.1.5:8080 from 10.244.1.5/32\n" },
	  { "masq ", "drop ", "reject " } },
	{ "no endpoint anywhere: no virtual service, rejected",
	  SVC("web", "") WEB SLICE("web", ""),
	  { "reject tcp 10.96.0.1:80\n", "link 10.96.0.1\n" }, { "svc " } },
	{ "internalTrafficPolicy Local without a local endpoint: dropped",
	  SVC("web", "") "spec: {clusterIP: 10.96.0.1, internalTrafficPolicy: Local, ports: [{name: http,"
	  " port: 80, targetPort: 8080}]}\n" SLICE("web", EP("10.244.2.5", "n2")),
	  { "drop tcp 10.96.0.1:80\n" }, { "svc " } },
	{ "NodePort, externalTrafficPolicy Cluster: per node address, masqueraded",
	  SVC("web", "") "spec: {type: NodePort, clusterIP: 10.96.0.1, ports: [{name: http, port: 80,"
	  " targetPort: 8080, nodePort: 30080}]}\n" SLICE("web", TWO),
	  { "svc tcp 192.168.1.1:30080 rr flags=0 timeout=0: 10.244.1.5:8080@1 10.244.2.5:8080@1\n",
	    "masq tcp 192.168.1.1:30080\n" },
	  { "link 192.168.1.1" } },
	{ "NodePort, externalTrafficPolicy Local: the local endpoint only, no masquerade",
	  SVC("web", "") "spec: {type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.96.0.1,"
	  " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}\n" SLICE("web", TWO),
	  { "svc tcp 192.168.1.1:30080 rr flags=0 timeout=0: 10.244.1.5:8080@1\n" }, { "masq " } },
	{ "NodePort, externalTrafficPolicy Local: pods and the node reach every endpoint (fwmark service)",
	  SVC("web", "") "spec: {type: NodePort, externalTrafficPolicy: Local, clusterIP: 10.96.0.1,"
	  " ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}\n"
	  SLICE("web", EP("10.244.2.5", "n2")),
	  { "drop tcp 192.168.1.1:30080\n", "shortcut tcp 192.168.1.1:30080 mark\n",
	    "rr flags=0 timeout=0: 10.244.2.5:8080@1\n", "svc fwmark 0x2",
	    "loopback tcp 10.244.2.5:8080 from 10.244.2.5/32\n" },
	  { "svc tcp 192.168.1.1:30080" } },
	{ "hairpin pairs: this node's endpoints only where no shortcut reaches the others",
	  SVC("web", "") WEB SLICE("web", TWO),
	  { "loopback tcp 10.244.1.5:8080 from 10.244.1.5/32\n" }, { "loopback tcp 10.244.2.5" } },
	{ "LoadBalancer with source ranges and an external IP",
	  SVC("web", "") "spec: {type: LoadBalancer, clusterIP: 10.96.0.1, externalIPs: [198.51.100.7],"
	  " loadBalancerSourceRanges: [203.0.113.0/24], ports: [{name: http, port: 80, targetPort: 8080,"
	  " nodePort: 30080}]}\nstatus: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}\n" SLICE("web", TWO),
	  { "svc tcp 192.0.2.10:80 rr", "svc tcp 198.51.100.7:80 rr", "link 192.0.2.10\n",
	    "link 198.51.100.7\n", "fw tcp 192.0.2.10:80\n", "fw_allow tcp 192.0.2.10:80 from 203.0.113.0/24\n",
	    "masq tcp 192.0.2.10:80\n" },
	  { "fw tcp 198.51.100.7" } },
	{ "sh with its flags and ClientIP affinity: persistence with the service's timeout",
	  SVC("web", ", annotations: {kroute.io/scheduler: sh, kroute.io/scheduler-flags: 'sh-fallback,sh-port'}")
	  "spec: {clusterIP: 10.96.0.1, sessionAffinity: ClientIP, sessionAffinityConfig: {clientIP:"
	  " {timeoutSeconds: 600}}, ports: [{name: http, port: 80, targetPort: 8080}]}\n" SLICE("web", TWO),
	  { "svc tcp 10.96.0.1:80 sh flags=25 timeout=600:" }, { 0 } },
	{ "wrr with endpoint weights; maglev becomes mh",
	  SVC("web", ", annotations: {kroute.io/scheduler: wrr, kroute.io/endpoint-weights: '10.244.2.5=3'}")
	  WEB SLICE("web", TWO)
	  SVC("mag", ", annotations: {kroute.io/scheduler: maglev}")
	  "spec: {clusterIP: 10.96.0.2, ports: [{name: http, port: 80, targetPort: 8080}]}\n" SLICE("mag", TWO),
	  { "svc tcp 10.96.0.1:80 wrr flags=0 timeout=0: 10.244.1.5:8080@1 10.244.2.5:8080@3\n",
	    "svc tcp 10.96.0.2:80 mh" }, { 0 } },
	{ "UDP: protocol 17",
	  SVC("dns", "") "spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 53, protocol: UDP,"
	  " targetPort: 8080}]}\n"
	  "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: dns-1, namespace: t,"
	  " labels: {kubernetes.io/service-name: dns}}\naddressType: IPv4\nports: [{name: http, port: 8080,"
	  " protocol: UDP}]\nendpoints:\n" TWO,
	  { "svc udp 10.96.0.10:53 rr" }, { 0 } },
	{ "two services on one external IP and port: the second is warned about",
	  SVC("a", "") "spec: {clusterIP: 10.96.0.1, externalIPs: [198.51.100.7], ports: [{name: http,"
	  " port: 80, targetPort: 8080}]}\n" SLICE("a", TWO)
	  SVC("b", "") "spec: {clusterIP: 10.96.0.2, externalIPs: [198.51.100.7], ports: [{name: http,"
	  " port: 80, targetPort: 8080}]}\n" SLICE("b", TWO),
	  { "warning ipvs: t/b externalIP: tcp 198.51.100.7:80 is taken by another service" }, { 0 } },
	{ "headless: nothing",
	  SVC("web", "") "spec: {clusterIP: None, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
	  SLICE("web", TWO), { 0 }, { "svc ", "link ", "reject " } },
};

static void test_plan_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(plan_cases); i++) {
		const struct plan_case *c = &plan_cases[i];
		struct ipvs_plan p;
		char *text;

		build(c->yaml, &p);
		text = plan_text(&p);
		for (size_t k = 0; k < ARRAY_SIZE(c->want) && c->want[k]; k++)
			if (!strstr(text, c->want[k]))
				fail_msg("%s: missing \"%s\" in:\n%s", c->what, c->want[k], text);
		for (size_t k = 0; k < ARRAY_SIZE(c->unwanted) && c->unwanted[k]; k++)
			if (strstr(text, c->unwanted[k]))
				fail_msg("%s: unexpected \"%s\" in:\n%s", c->what, c->unwanted[k], text);
		free(text);
		ipvs_plan_done(&p);
	}
}

static void test_rules_text(void **state)
{
	struct ipvs_plan p;
	struct sbuf b = { 0 };
	struct cidr cc;
	struct ipvs_rules_opts o = { .family = AF_INET, .cluster_cidrs = &cc, .n_cluster_cidrs = 1 };
	const char *s;

	(void)state;
	assert_int_equal(cidr_parse("10.244.0.0/16", &cc), 0);
	build(SVC("web", "") "spec: {type: LoadBalancer, clusterIP: 10.96.0.1, loadBalancerSourceRanges:"
	      " [203.0.113.0/24], ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}\n"
	      "status: {loadBalancer: {ingress: [{ip: 192.0.2.10}]}}\n" SLICE("web", TWO)
	      SVC("none", "") "spec: {clusterIP: 10.96.0.9, ports: [{name: http, port: 81}]}\n", &p);
	ipvs_rules_render(&p, &o, &b);
	s = sbuf_cstr(&b);
	assert_non_null(strstr(s, "table ip kroute_ipvs\ndelete table ip kroute_ipvs\n"));
	assert_non_null(strstr(s, "10.96.0.9 . tcp . 81"));
	assert_non_null(strstr(s, "192.0.2.10 . tcp . 80 . 203.0.113.0/24"));
	assert_non_null(strstr(s, "ip daddr . meta l4proto . th dport @svc_reject reject"));
	assert_non_null(strstr(s, "@svc_cluster ip saddr != @cluster_cidrs meta mark set meta mark | 0x4000"));
	assert_non_null(strstr(s, "masquerade fully-random"));
	assert_non_null(strstr(s, "meta mark & 0xf0000000 == 0x20000000 return"));
	assert_non_null(strstr(s, "ip saddr @cluster_cidrs meta mark set ip daddr . meta l4proto . th dport map @svc_shortcut"));
	sbuf_free(&b);
	/* --masquerade-all: every cluster-IP packet, whatever its source. */
	o.masquerade_all = true;
	ipvs_rules_render(&p, &o, &b);
	s = sbuf_cstr(&b);
	assert_non_null(strstr(s, "@svc_cluster meta mark set meta mark | 0x4000"));
	assert_null(strstr(s, "!= @cluster_cidrs"));
	sbuf_free(&b);
	/* No cluster CIDR and no --masquerade-all: the no-op detector, no cluster-IP masquerade. */
	o.masquerade_all = false;
	o.n_cluster_cidrs = 0;
	ipvs_rules_render(&p, &o, &b);
	assert_null(strstr(sbuf_cstr(&b), "@svc_cluster "));
	sbuf_free(&b);
	ipvs_plan_done(&p);
}

/* ---- the netlink messages ---- */

static const struct nlmsghdr *msg_at(const struct ipvs_msgbuf *b, size_t i)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)b->buf;
	int len = (int)b->len;

	for (; i && mnl_nlmsg_ok(nlh, len); i--)
		nlh = mnl_nlmsg_next(nlh, &len);
	assert_true(mnl_nlmsg_ok(nlh, len));
	return nlh;
}

static struct ipvs_op op_of(enum ipvs_op_kind kind, const char *vip, uint8_t proto, uint16_t port,
			    const char *dest, uint16_t dport, uint32_t weight)
{
	struct ipvs_op op = { .kind = kind };

	assert_int_equal(addr_parse(vip, &op.key.addr), 0);
	op.key.family = op.key.addr.family;
	op.key.proto = proto;
	op.key.port = port;
	snprintf(op.conf.sched, sizeof(op.conf.sched), "sh");
	op.conf.flags = IP_VS_SVC_F_PERSISTENT | IP_VS_SVC_F_SCHED1;
	op.conf.timeout = 600;
	if (dest) {
		assert_int_equal(addr_parse(dest, &op.dest.addr), 0);
		op.dest.port = dport;
		op.dest.weight = weight;
	}
	return op;
}

static void test_msg_roundtrip(void **state)
{
	static const uint8_t cmds[] = { IPVS_CMD_DEL_SERVICE, IPVS_CMD_NEW_SERVICE,
					IPVS_CMD_SET_SERVICE, IPVS_CMD_NEW_DEST, IPVS_CMD_SET_DEST,
					IPVS_CMD_DEL_DEST };
	struct ipvs_msgbuf b = { 0 };
	const char *vips[] = { "10.96.0.1", "fd00:96::1" }, *dests[] = { "10.244.1.5", "fd00:244::5" };

	(void)state;
	for (int fam = 0; fam < 2; fam++)
		for (int k = IPVS_OP_DEL_SVC; k <= IPVS_OP_DEL_DEST; k++) {
			struct ipvs_op op = op_of((enum ipvs_op_kind)k, vips[fam], IPPROTO_TCP, 80,
						  dests[fam], 8080, 7);
			struct ipvs_decoded m;
			const struct nlmsghdr *nlh;

			ipvs_msgbuf_reset(&b);
			ipvs_msg_op(&b, 42, 1000 + (uint32_t)k, &op);
			assert_int_equal(b.n_msgs, 1);
			nlh = msg_at(&b, 0);
			assert_int_equal(nlh->nlmsg_type, 42);
			assert_int_equal(nlh->nlmsg_seq, 1000 + k);
			assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
			assert_int_equal(ipvs_msg_decode(nlh, &m), 0);
			assert_int_equal(m.cmd, cmds[k]);
			assert_true(m.has_svc);
			assert_int_equal(ipvs_key_cmp(&m.key, &op.key), 0);
			assert_int_equal(m.key.family, op.key.family);
			/* Settings only where the kernel needs the full entry. */
			assert_int_equal(m.svc_full, k == IPVS_OP_ADD_SVC || k == IPVS_OP_SET_SVC);
			if (m.svc_full) {
				assert_string_equal(m.conf.sched, "sh");
				assert_int_equal(m.conf.flags, op.conf.flags);
				assert_int_equal(m.conf.timeout, 600);
				assert_int_equal(m.netmask, fam ? 128 : 0xffffffffu);
			}
			assert_int_equal(m.has_dest, k >= IPVS_OP_ADD_DEST);
			if (m.has_dest) {
				assert_true(addr_eq(&m.dest.addr, &op.dest.addr));
				assert_int_equal(m.dest.port, 8080);
				assert_int_equal(m.dest_full, k != IPVS_OP_DEL_DEST);
			}
			if (m.dest_full) {
				assert_int_equal(m.dest.weight, 7);
				assert_int_equal(m.fwd_method, IP_VS_CONN_F_MASQ);
			}
		}
	ipvs_msgbuf_done(&b);
}

static void test_msg_fwmark(void **state)
{
	struct ipvs_msgbuf b = { 0 };
	struct ipvs_op op = { .kind = IPVS_OP_ADD_SVC, .key = { .family = AF_INET6, .fwmark = 0x20001234 } };
	struct ipvs_decoded m;

	(void)state;
	snprintf(op.conf.sched, sizeof(op.conf.sched), "rr");
	ipvs_msg_op(&b, 42, 1, &op);
	assert_int_equal(ipvs_msg_decode(msg_at(&b, 0), &m), 0);
	assert_int_equal(m.key.fwmark, 0x20001234);
	assert_int_equal(m.key.family, AF_INET6);
	assert_int_equal(m.key.port, 0);
	assert_true(m.svc_full);
	assert_int_equal(ipvs_key_cmp(&m.key, &op.key), 0);
	ipvs_msgbuf_done(&b);
}

static void test_msg_requests(void **state)
{
	struct ipvs_msgbuf b = { 0 };
	struct ipvs_op op = op_of(IPVS_OP_ADD_SVC, "10.96.0.1", IPPROTO_UDP, 53, NULL, 0, 0);
	struct ipvs_decoded m;
	const struct nlmsghdr *nlh;
	uint16_t id = 0;

	(void)state;
	/* Several back to back: one sendmsg's worth. */
	ipvs_msg_get_services(&b, 42, 1);
	ipvs_msg_get_dests(&b, 42, 2, &op.key);
	ipvs_msg_set_timeouts(&b, 42, 3, 900, 120, 300);
	ipvs_msg_get_family(&b, 4);
	assert_int_equal(b.n_msgs, 4);
	nlh = msg_at(&b, 0);
	assert_int_equal(nlh->nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
	assert_int_equal(ipvs_msg_decode(nlh, &m), 0);
	assert_int_equal(m.cmd, IPVS_CMD_GET_SERVICE);
	assert_false(m.has_svc);
	nlh = msg_at(&b, 1);
	assert_int_equal(ipvs_msg_decode(nlh, &m), 0);
	assert_int_equal(m.cmd, IPVS_CMD_GET_DEST);
	assert_int_equal(ipvs_key_cmp(&m.key, &op.key), 0);
	assert_int_equal(m.key.proto, IPPROTO_UDP);
	nlh = msg_at(&b, 2);
	assert_int_equal(ipvs_msg_decode(nlh, &m), 0);
	assert_int_equal(m.cmd, IPVS_CMD_SET_CONFIG);
	assert_int_equal(m.timeout_tcp, 900);
	assert_int_equal(m.timeout_tcpfin, 120);
	assert_int_equal(m.timeout_udp, 300);
	nlh = msg_at(&b, 3);
	assert_int_equal(nlh->nlmsg_type, GENL_ID_CTRL);
	/* The request names the family; the answer's id attribute is what is read. */
	assert_int_equal(ipvs_msg_decode_family(nlh, &id), -ENOENT);
	ipvs_msgbuf_done(&b);
}

static void test_msg_garbage(void **state)
{
	struct ipvs_msgbuf b = { 0 };
	struct ipvs_op op = op_of(IPVS_OP_ADD_DEST, "10.96.0.1", IPPROTO_TCP, 80, "10.244.1.5", 8080, 1);
	struct ipvs_decoded m;
	uint8_t *copy;
	uint64_t rng = 88172645463325252ull;

	(void)state;
	ipvs_msg_op(&b, 42, 1, &op);
	copy = xmalloc(b.len);
	/* Every truncation: refused or decoded, never read past the end (ASan watches). */
	for (size_t len = NLMSG_HDRLEN; len < b.len; len++) {
		struct nlmsghdr *nlh;

		memcpy(copy, b.buf, b.len);
		nlh = (struct nlmsghdr *)copy;
		nlh->nlmsg_len = (uint32_t)len;
		(void)ipvs_msg_decode(nlh, &m);
	}
	/* Random bytes after the headers. */
	for (int round = 0; round < 2000; round++) {
		struct nlmsghdr *nlh;

		memcpy(copy, b.buf, b.len);
		for (size_t i = NLMSG_HDRLEN + GENL_HDRLEN; i < b.len; i++) {
			rng ^= rng << 13;
			rng ^= rng >> 7;
			rng ^= rng << 17;
			if (rng % 5 == 0)
				copy[i] = (uint8_t)(rng >> 32);
		}
		nlh = (struct nlmsghdr *)copy;
		(void)ipvs_msg_decode(nlh, &m);
	}
	/* A dest attribute without its port is refused. */
	{
		struct ipvs_msgbuf x = { 0 };
		struct nlmsghdr *nlh;
		struct nlattr *nest;
		struct genlmsghdr *g;
		uint8_t raw[16] = { 10, 0, 0, 1 };

		x.buf = xcalloc(1, 512);
		x.cap = 512;
		nlh = mnl_nlmsg_put_header(x.buf);
		g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
		g->cmd = IPVS_CMD_NEW_DEST;
		nest = mnl_attr_nest_start(nlh, IPVS_CMD_ATTR_DEST);
		mnl_attr_put(nlh, IPVS_DEST_ATTR_ADDR, sizeof(raw), raw);
		mnl_attr_nest_end(nlh, nest);
		assert_int_equal(ipvs_msg_decode(nlh, &m), -EINVAL);
		ipvs_msgbuf_done(&x);
	}
	free(copy);
	ipvs_msgbuf_done(&b);
}

/* ---- the differ ---- */

static void add_svc(struct ipvs_table *t, const char *vip, uint8_t proto, const char *sched,
		    const char *const *dests, const uint32_t *weights, size_t n)
{
	struct ipvs_svc s = { 0 };

	assert_int_equal(addr_parse(vip, &s.key.addr), 0);
	s.key.family = s.key.addr.family;
	s.key.proto = proto;
	s.key.port = 80;
	snprintf(s.conf.sched, sizeof(s.conf.sched), "%s", sched);
	s.dests = xcalloc(n + 1, sizeof(*s.dests));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(addr_parse(dests[i], &s.dests[i].addr), 0);
		s.dests[i].port = 8080;
		s.dests[i].weight = weights ? weights[i] : 1;
	}
	s.n_dests = n;
	ipvs_table_add(t, &s);
}

static size_t count_ops(const struct ipvs_ops *ops, enum ipvs_op_kind k)
{
	size_t n = 0;

	for (size_t i = 0; i < ops->n; i++)
		n += ops->v[i].kind == k;
	return n;
}

static int count_msg(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	++*(size_t *)data;
	return 0;
}

static int stop_at_second(const struct nlmsghdr *nlh, void *data)
{
	(void)nlh;
	return ++*(size_t *)data == 2 ? 7 : 0;
}

/* A receive buffer walked message by message; bad lengths stop the walk, never read past it. */
static void test_msg_walk(void **state)
{
	struct ipvs_msgbuf b = { 0 };
	struct nlmsghdr *nlh;
	size_t n = 0;
	struct {
		struct nlmsghdr h;
		struct nlmsgerr e;
	} err = { .h = { .nlmsg_len = NLMSG_LENGTH(sizeof(struct nlmsgerr)), .nlmsg_type = NLMSG_ERROR },
		  .e = { .error = -EEXIST } };

	(void)state;
	ipvs_msg_get_services(&b, 42, 1);
	ipvs_msg_set_timeouts(&b, 42, 2, 900, 120, 300);
	ipvs_msg_get_family(&b, 3);
	assert_int_equal(nlmsg_walk(b.buf, b.len, count_msg, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(nlmsg_walk(b.buf, b.len, stop_at_second, &n), 7);
	assert_int_equal(n, 2);
	/* The buffer cut inside the last message: the first two, then refused. */
	n = 0;
	assert_int_equal(nlmsg_walk(b.buf, b.len - 4, count_msg, &n), -EBADMSG);
	assert_int_equal(n, 2);
	/* A length of 2 GiB or more (libmnl's mnl_nlmsg_ok() lets it through) and one too short. */
	nlh = (struct nlmsghdr *)b.buf;
	nlh->nlmsg_len = 0x80000010u;
	n = 0;
	assert_int_equal(nlmsg_walk(b.buf, b.len, count_msg, &n), -EBADMSG);
	assert_int_equal(n, 0);
	nlh->nlmsg_len = NLMSG_HDRLEN - 1;
	assert_int_equal(nlmsg_walk(b.buf, b.len, count_msg, &n), -EBADMSG);
	assert_int_equal(n, 0);
	/* Errors: the kernel's errno, an ack's 0, a short one and a positive one refused. */
	assert_int_equal(nlmsg_error(&err.h), -EEXIST);
	err.e.error = 0;
	assert_int_equal(nlmsg_error(&err.h), 0);
	err.e.error = 5;
	assert_int_equal(nlmsg_error(&err.h), -EBADMSG);
	err.h.nlmsg_len = NLMSG_HDRLEN + 2;
	assert_int_equal(nlmsg_error(&err.h), -EBADMSG);
	ipvs_msgbuf_done(&b);
}

static void test_diff_basic(void **state)
{
	const char *ab[] = { "10.0.0.1", "10.0.0.2" }, *bc[] = { "10.0.0.2", "10.0.0.3" };
	const uint32_t w3[] = { 3, 1 };
	struct ipvs_table have, want, next;
	struct ipvs_ops ops = { 0 };
	struct ipvs_diff_opts o = { .now_ns = 100, .graceful = true };
	const struct ipvs_svc *s;

	(void)state;
	ipvs_table_init(&have);
	ipvs_table_init(&want);
	ipvs_table_init(&next);
	add_svc(&have, "10.96.0.1", IPPROTO_TCP, "rr", ab, NULL, 2);
	add_svc(&have, "10.96.0.2", IPPROTO_TCP, "rr", ab, NULL, 2);
	add_svc(&want, "10.96.0.1", IPPROTO_TCP, "wrr", bc, w3, 2);
	add_svc(&want, "10.96.0.3", IPPROTO_TCP, "rr", ab, NULL, 2);
	ipvs_table_sort(&have);
	ipvs_table_sort(&want);
	ipvs_diff(&have, &want, &o, &ops, &next);
	/* .2 goes first; .1 changes scheduler; 10.0.0.1 drains (weight 0), .2 gets weight 3, .3 comes. */
	assert_int_equal(ops.v[0].kind, IPVS_OP_DEL_SVC);
	assert_int_equal(count_ops(&ops, IPVS_OP_DEL_SVC), 1);
	assert_int_equal(count_ops(&ops, IPVS_OP_SET_SVC), 1);
	assert_int_equal(count_ops(&ops, IPVS_OP_ADD_SVC), 1);
	assert_int_equal(count_ops(&ops, IPVS_OP_DEL_DEST), 0);
	assert_int_equal(count_ops(&ops, IPVS_OP_SET_DEST), 2);
	assert_int_equal(count_ops(&ops, IPVS_OP_ADD_DEST), 3);
	assert_int_equal(next.n, 2);
	s = &next.v[0];
	assert_int_equal(s->n_dests, 3);
	assert_int_equal(s->dests[0].weight, 0);
	assert_int_equal(s->dests[0].drain_since, 100);
	assert_int_equal(ipvs_draining(&next), 1);
	ipvs_ops_done(&ops);

	/* The same plan again: nothing to send, the dest keeps draining. */
	{
		struct ipvs_table again;

		ipvs_table_init(&again);
		ipvs_diff(&next, &want, &o, &ops, &again);
		assert_int_equal(ops.n, 0);
		assert_int_equal(ipvs_draining(&again), 1);
		ipvs_table_done(&again);
	}
	/* Drain: not read yet (conns unknown) stays; read as 0 goes; timeout goes. */
	ipvs_drain(&next, 200, 1000, &ops);
	assert_int_equal(ops.n, 0);
	next.v[0].dests[0].conns = 2;
	ipvs_drain(&next, 200, 1000, &ops);
	assert_int_equal(ops.n, 0);
	ipvs_drain(&next, 1100, 1000, &ops);
	assert_int_equal(ops.n, 1);
	assert_int_equal(ops.v[0].kind, IPVS_OP_DEL_DEST);
	assert_int_equal(next.v[0].n_dests, 2);
	assert_int_equal(ipvs_draining(&next), 0);
	ipvs_ops_done(&ops);
	ipvs_table_done(&have);
	ipvs_table_done(&want);
	ipvs_table_done(&next);
}

static void test_diff_udp_and_revive(void **state)
{
	const char *ab[] = { "10.0.0.1", "10.0.0.2" }, *a[] = { "10.0.0.1" };
	struct ipvs_table have, want, next, back;
	struct ipvs_ops ops = { 0 };
	struct ipvs_diff_opts o = { .now_ns = 5, .graceful = true };

	(void)state;
	ipvs_table_init(&have);
	ipvs_table_init(&want);
	ipvs_table_init(&next);
	ipvs_table_init(&back);
	add_svc(&have, "10.96.0.1", IPPROTO_UDP, "rr", ab, NULL, 2);
	add_svc(&have, "10.96.0.2", IPPROTO_TCP, "rr", ab, NULL, 2);
	add_svc(&want, "10.96.0.1", IPPROTO_UDP, "rr", a, NULL, 1);
	add_svc(&want, "10.96.0.2", IPPROTO_TCP, "rr", a, NULL, 1);
	ipvs_table_sort(&have);
	ipvs_table_sort(&want);
	ipvs_diff(&have, &want, &o, &ops, &next);
	/* UDP: deleted at once; TCP: weight 0. */
	assert_int_equal(ops.n, 2);
	assert_int_equal(ops.v[0].kind, IPVS_OP_DEL_DEST);
	assert_int_equal(ops.v[0].key.proto, IPPROTO_UDP);
	assert_int_equal(ops.v[1].kind, IPVS_OP_SET_DEST);
	assert_int_equal(ops.v[1].dest.weight, 0);
	ipvs_ops_done(&ops);
	/* The endpoint comes back while draining: its weight is set again, it is live. */
	ipvs_diff(&next, &have, &o, &ops, &back);
	assert_int_equal(count_ops(&ops, IPVS_OP_ADD_DEST), 1);
	assert_int_equal(count_ops(&ops, IPVS_OP_SET_DEST), 1);
	assert_int_equal(ipvs_draining(&back), 0);
	ipvs_ops_done(&ops);
	/* Without graceful termination: deleted at once. */
	o.graceful = false;
	ipvs_table_done(&next);
	ipvs_table_init(&next);
	ipvs_diff(&have, &want, &o, &ops, &next);
	assert_int_equal(count_ops(&ops, IPVS_OP_DEL_DEST), 2);
	assert_int_equal(ipvs_draining(&next), 0);
	ipvs_ops_done(&ops);
	ipvs_table_done(&have);
	ipvs_table_done(&want);
	ipvs_table_done(&next);
	ipvs_table_done(&back);
}

/* 10,000 services x 10 endpoints: the first sync sends everything, one endpoint change one request. */
static void test_diff_large(void **state)
{
	struct ipvs_table empty, t, next, next2;
	struct ipvs_ops ops = { 0 };
	struct ipvs_diff_opts o = { .now_ns = 1, .graceful = true };
	struct ipvs_msgbuf b = { 0 };

	(void)state;
	ipvs_table_init(&empty);
	ipvs_table_init(&t);
	ipvs_table_init(&next);
	ipvs_table_init(&next2);
	for (size_t i = 0; i < 10000; i++) {
		struct ipvs_svc s = { .key = { .family = AF_INET, .proto = IPPROTO_TCP, .port = 80 } };

		s.key.addr = (struct addr){ .family = AF_INET,
					    .bytes = { 10, 96, (uint8_t)(i >> 8), (uint8_t)i } };
		snprintf(s.conf.sched, sizeof(s.conf.sched), "rr");
		s.dests = xcalloc(10, sizeof(*s.dests));
		for (size_t k = 0; k < 10; k++)
			s.dests[k] = (struct ipvs_dest){
				.addr = { .family = AF_INET,
					  .bytes = { 10, 244, (uint8_t)(i >> 8), (uint8_t)k } },
				.port = 8080, .weight = 1 };
		s.n_dests = 10;
		ipvs_table_add(&t, &s);
	}
	ipvs_table_sort(&t);
	ipvs_diff(&empty, &t, &o, &ops, &next);
	assert_int_equal(ops.n, 10000 * 11);
	for (size_t i = 0; i < ops.n; i++)
		ipvs_msg_op(&b, 42, (uint32_t)i, &ops.v[i]);
	assert_int_equal(b.n_msgs, ops.n);
	ipvs_ops_done(&ops);
	/* One endpoint of one service replaced: weight 0 for the old, one add. */
	t.v[5000].dests[3].addr.bytes[3] = 99;
	ipvs_diff(&next, &t, &o, &ops, &next2);
	assert_int_equal(ops.n, 2);
	assert_int_equal(count_ops(&ops, IPVS_OP_SET_DEST), 1);
	assert_int_equal(count_ops(&ops, IPVS_OP_ADD_DEST), 1);
	ipvs_ops_done(&ops);
	ipvs_msgbuf_done(&b);
	ipvs_table_done(&empty);
	ipvs_table_done(&t);
	ipvs_table_done(&next);
	ipvs_table_done(&next2);
}

static void test_sched_names(void **state)
{
	(void)state;
	assert_string_equal(sched_ipvs_name(NULL), "rr");
	assert_string_equal(sched_ipvs_name("random"), "rr");
	assert_string_equal(sched_ipvs_name("maglev"), "mh");
	assert_string_equal(sched_ipvs_name("wlc"), "wlc");
	assert_string_equal(sched_ipvs_name("sh"), "sh");
	assert_string_equal(sched_ipvs_name("lblcr"), "lblcr");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_cases),
		cmocka_unit_test(test_rules_text),
		cmocka_unit_test(test_msg_roundtrip),
		cmocka_unit_test(test_msg_fwmark),
		cmocka_unit_test(test_msg_requests),
		cmocka_unit_test(test_msg_garbage),
		cmocka_unit_test(test_msg_walk),
		cmocka_unit_test(test_diff_basic),
		cmocka_unit_test(test_diff_udp_and_revive),
		cmocka_unit_test(test_diff_large),
		cmocka_unit_test(test_sched_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
