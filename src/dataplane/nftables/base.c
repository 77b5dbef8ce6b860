/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The base fragment: the table's fixed part, the same for every view with
 * the same options.  Hook chains at kube-proxy's nftables priorities
 * (filter checks at -110, before DNAT in prerouting and output; NAT at
 * -100 / 100), the shared maps that port fragments fill, and the fixed
 * rules: NodePort dispatch, masquerading, the localhost guard.
 */
#include <netinet/in.h> /* before the kernel's headers: glibc's in.h must come first */
#include <linux/netfilter.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/common/nodeport_addrs.h"
#include "dataplane/nftables/plan_int.h"

/* `ct state new jump <target>` */
static void new_jump(struct nft_chain *c, const char *target)
{
	struct nft_rule *r = nft_chain_rule(c);

	x_flag(r, NX_CT_STATE, CT_NEW, false);
	x_verdict(r, NV_JUMP, target);
}

static struct nft_chain *hook_chain(struct nft_frag *f, const char *name, const char *type,
				    int hook, int prio)
{
	struct nft_chain *c = nft_frag_chain(f, name);

	c->type = type;
	c->hook = hook;
	c->prio = prio;
	return c;
}

/*
 * route_localnet lets 127.0.0.0/8 be routed, which would open the node's
 * loopback services to the network (CVE-2020-8558): drop what arrives for
 * 127/8 from elsewhere unless it was DNATed (kubelet's KUBE-FIREWALL rule).
 */
static void localhost_guard(struct nft_chain *c)
{
	struct cidr lo = { .addr = { .family = AF_INET, .bytes = { 127 } }, .prefix = 8 };
	struct nft_rule *r = nft_chain_rule(c);

	x_addr(r, NX_DADDR, &lo, false);
	x_addr(r, NX_SADDR, &lo, true);
	x_flag(r, NX_CT_STATE, CT_ESTABLISHED | CT_RELATED, true);
	x_flag(r, NX_CT_DNAT, 0, true);
	x_verdict(r, NV_DROP, NULL);
}

static void filter_chains(struct nft_frag *f, const struct nft_plan_opts *o, bool localhost)
{
	struct nft_chain *c;
	struct nft_rule *r;

	c = hook_chain(f, "filter-prerouting", "filter", NF_INET_PRE_ROUTING, -110);
	new_jump(c, "firewall-check");
	c = hook_chain(f, "filter-input", "filter", NF_INET_LOCAL_IN, -110);
	new_jump(c, "nodeport-endpoints-check");
	new_jump(c, "service-endpoints-check");
	if (localhost)
		localhost_guard(c);
	c = hook_chain(f, "filter-forward", "filter", NF_INET_FORWARD, -110);
	/* Out-of-window packets conntrack calls INVALID would otherwise reset connections. */
	r = nft_chain_rule(c);
	x_flag(r, NX_CT_STATE, CT_INVALID, false);
	x_verdict(r, NV_DROP, NULL);
	new_jump(c, "service-endpoints-check");
	new_jump(c, "nodeport-endpoints-check");
	c = hook_chain(f, "filter-output", "filter", NF_INET_LOCAL_OUT, -110);
	new_jump(c, "firewall-check");
	if (localhost)
		localhost_guard(c);

	/*
	 * The node's own traffic meets the no-endpoint verdicts after nat-output
	 * (-100) has DNATed what has an endpoint, as kube-proxy's filter-output
	 * (priority filter): before it, an ETP=Local external IP without a local
	 * endpoint would drop the node's own connections, which kube-proxy
	 * short-circuits to the cluster's endpoints (found by the differential
	 * test against the real kube-proxy, tests/system/dataplane).
	 */
	c = hook_chain(f, "filter-output-post-dnat", "filter", NF_INET_LOCAL_OUT, 0);
	new_jump(c, "service-endpoints-check");

	c = nft_frag_chain(f, "firewall-check");
	x_named(nft_chain_rule(c), NX_VMAP_SVC, nft_shared_names[SH_FIREWALL], 0);
	c = nft_frag_chain(f, "service-endpoints-check");
	x_named(nft_chain_rule(c), NX_VMAP_SVC, nft_shared_names[SH_NOEP_SERVICES], 0);
	c = nft_frag_chain(f, "nodeport-endpoints-check");
	r = nft_chain_rule(c);
	x_flag(r, NX_FIB_LOCAL, 0, false)->which = NX_DADDR;
	x_named(r, NX_VMAP_PORT, nft_shared_names[SH_NOEP_NODEPORTS], 0);
	c = nft_frag_chain(f, CH_REJECT);
	(void)nft_rule_x(nft_chain_rule(c), NX_REJECT);
	(void)o;
}

/*
 * A rule's match of NodePort traffic: which destinations are the node's
 * NodePort addresses (match_all: every local address, else @nodeport-ips).
 */
static void nodeport_match(struct nft_rule *r, const struct nft_plan_opts *o, bool localhost,
			   bool match_all)
{
	static const struct cidr lo4 = { .addr = { .family = AF_INET, .bytes = { 127 } }, .prefix = 8 };
	static const struct cidr lo6 = { .addr = { .family = AF_INET6, .bytes = { [15] = 1 } },
					 .prefix = 128 };

	if (!match_all) {
		/* --nodeport-addresses: the host's addresses inside those ranges (@nodeport-ips). */
		x_named(r, NX_ADDR_IN_SET, "nodeport-ips", 0)->which = NX_DADDR;
		return;
	}
	x_flag(r, NX_FIB_LOCAL, 0, false)->which = NX_DADDR;
	/* Localhost NodePorts never work on IPv6; on IPv4 only with route_localnet. */
	if (o->family == AF_INET6)
		x_addr(r, NX_DADDR, &lo6, true);
	else if (!localhost)
		x_addr(r, NX_DADDR, &lo4, true);
}

/*
 * The last rules of the services chain: NodePort traffic, marked for
 * masquerading when its port is in @nodeport-masquerade
 * (externalTrafficPolicy Cluster), then dispatched by port.
 */
static void nodeport_dispatch(struct nft_frag *f, struct nft_chain *c,
			      const struct nft_plan_opts *o, bool localhost)
{
	bool has_v4_lo, match_all = nodeport_match_all(o->nodeport_cidrs, o->n_nodeport_cidrs, o->family,
						       &has_v4_lo);
	struct nft_rule *r;

	if (!match_all) {
		struct nft_set *s = nft_frag_set(f, "nodeport-ips", NS_ADDRS);

		for (size_t i = 0; i < o->n_local_addrs; i++)
			if (nodeport_addr_ok(o->nodeport_cidrs, o->n_nodeport_cidrs, o->local_addrs, i,
					     o->family, localhost))
				key_addr(nft_set_elem(s)->key, &o->local_addrs[i]);
	}
	r = nft_chain_rule(c);
	nodeport_match(r, o, localhost, match_all);
	x_named(r, NX_PORT_IN_SET, nft_shared_names[SH_NODEPORT_MASQ], 0);
	x_verdict(r, NV_JUMP, CH_MARK_MASQ);
	r = nft_chain_rule(c);
	nodeport_match(r, o, localhost, match_all);
	x_named(r, NX_VMAP_PORT, nft_shared_names[SH_NODEPORTS], 0);
}

/*
 * Element-level dispatch (plan.h): the cluster-IP masquerade rule of the
 * ports that have no chain of their own, as set membership.
 */
static void pick_masquerade(struct nft_chain *c, const struct nft_plan_opts *o)
{
	const struct cidr *detector;
	struct nft_rule *r;
	int err;

	r = nft_chain_rule(c);
	x_named(r, NX_SVC_IN_SET, NFT_PICK_MASQ, 0);
	x_verdict(r, NV_JUMP, CH_MARK_MASQ);
	/* externalTrafficPolicy Cluster: external and LB IPs (plan.h: SH_EXT_MASQ). */
	r = nft_chain_rule(c);
	x_named(r, NX_SVC_IN_SET, nft_shared_names[SH_EXT_MASQ], 0);
	x_verdict(r, NV_JUMP, CH_MARK_MASQ);
	detector = plan_detector(o, &err);
	if (detector) {
		r = nft_chain_rule(c);
		x_addr(r, NX_SADDR, detector, true);
		x_named(r, NX_SVC_IN_SET, NFT_PICK_MASQ_EXT, 0);
		x_verdict(r, NV_JUMP, CH_MARK_MASQ);
	}
}

/* Their picks: a rule per slot count, after @services (which holds none of them). */
static void pick_rules(struct nft_chain *c)
{
	char set[NFT_NAME_MAX];

	for (unsigned n = 1; n <= NFT_PICK_MAX_N; n++) {
		struct nft_rule *r = nft_chain_rule(c);

		nft_pick_set(set, n);
		x_named(r, NX_SVC_IN_SET, set, 0);
		x_named(r, NX_PICK, NFT_PICK_EPS, n);
	}
}

static void nat_chains(struct nft_frag *f, const struct nft_plan_opts *o, bool localhost)
{
	struct nft_chain *c;
	struct nft_rule *r;

	c = hook_chain(f, "nat-prerouting", "nat", NF_INET_PRE_ROUTING, -100);
	rule_to(c, NV_JUMP, "services");
	c = hook_chain(f, "nat-output", "nat", NF_INET_LOCAL_OUT, -100);
	rule_to(c, NV_JUMP, "services");
	c = hook_chain(f, "nat-postrouting", "nat", NF_INET_POST_ROUTING, 100);
	rule_to(c, NV_JUMP, "masquerading");

	c = nft_frag_chain(f, "services");
	pick_masquerade(c, o);
	x_named(nft_chain_rule(c), NX_VMAP_SVC, nft_shared_names[SH_SERVICES], 0);
	pick_rules(c);
	nodeport_dispatch(f, c, o, localhost);

	c = nft_frag_chain(f, "masquerading");
	/* A pod that reached itself through a service: its reply must come back through us. */
	r = nft_chain_rule(c);
	x_flag(r, NX_CT_DNAT, 0, false);
	x_named(r, NX_HAIRPIN, nft_shared_names[SH_HAIRPIN], 0);
	(void)nft_rule_x(r, NX_MASQ);
	r = nft_chain_rule(c);
	x_flag(r, NX_MARK, o->mark, true);
	x_verdict(r, NV_RETURN, NULL);
	/* Cleared in case the packet loops back through us. */
	x_flag(nft_chain_rule(c), NX_MARK_XOR, o->mark, false);
	(void)nft_rule_x(nft_chain_rule(c), NX_MASQ);

	c = nft_frag_chain(f, CH_MARK_MASQ);
	x_flag(nft_chain_rule(c), NX_MARK_OR, o->mark, false);
}

void nft_plan_base(const struct nft_plan_opts *o, struct nft_frag *ret)
{
	bool localhost = nft_localhost_nodeports(o);

	*ret = (struct nft_frag){ .key = xstrdup("base") };
	/*
	 * The kernel finds a set by name walking the table's sets in the order
	 * they were added, for every rule that looks one up: the sets most rules
	 * name come first (ClientIP affinity: two rules per endpoint name an
	 * affinity set), then the 256 endpoint maps (a rule per port), the
	 * affinity ports' 256 verdict maps (a rule per affinity port) last.
	 */
	for (uint64_t i = 0; i < NFT_AFF_SHARDS; i++) {
		char name[NFT_NAME_MAX];

		nft_affinity_set(name, i << 60);
		/* Each update sets its service's timeout; this is only the set's default. */
		nft_frag_set(ret, name, NS_AFFINITY)->timeout_s = 10800;
	}
	for (int s = 0; s < SH_N; s++)
		nft_frag_set(ret, nft_shared_names[s], nft_shared_kind((enum nft_shared)s));
	for (uint64_t i = 0; i < NFT_EPS_SHARDS; i++) {
		char name[NFT_NAME_MAX];

		nft_slots_map(name, false, i << 56);
		nft_frag_set(ret, name, NS_EP_MAP);
	}
	for (unsigned n = 1; n <= NFT_PICK_MAX_N; n++) {
		char name[NFT_NAME_MAX];

		nft_pick_set(name, n);
		nft_frag_set(ret, name, NS_SVC_SET);
	}
	nft_frag_set(ret, NFT_PICK_EPS, NS_PICK_EPS);
	nft_frag_set(ret, NFT_PICK_MASQ, NS_SVC_SET);
	nft_frag_set(ret, NFT_PICK_MASQ_EXT, NS_SVC_SET);
	for (uint64_t i = 0; i < NFT_EPV_SHARDS; i++) {
		char name[NFT_NAME_MAX];

		nft_slots_map(name, true, i << 56);
		nft_frag_set(ret, name, NS_EP_VMAP);
	}
	filter_chains(ret, o, localhost);
	nat_chains(ret, o, localhost);
	nft_frag_finish(ret);
}
