/* SPDX-License-Identifier: Apache-2.0 */
/* The filter and NAT rules beside IPVS, as an nft table (rules.h). */
#include "dataplane/ipvs/rules.h"

#include <netinet/in.h>
#include <stdio.h>

#include "dataplane/common/nft_script.h"

const char *ipvs_nft_family(int family)
{
	return family == AF_INET6 ? "ip6" : "ip";
}

static const char *proto_word(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_SCTP:
		return "sctp";
	default:
		return "tcp";
	}
}

static void key_text(const struct ipvs_rule_key *k, bool with_src, bool interval, char *buf,
		     size_t len)
{
	char a[ADDR_STRLEN], s[ADDR_STRLEN + 4];

	addr_format(&k->addr, a);
	if (!with_src) {
		snprintf(buf, len, "%s . %s . %u", a, proto_word(k->proto), k->port);
		return;
	}
	/* A set without intervals takes a plain address. */
	if (interval)
		cidr_format(&k->src, s);
	else
		addr_format(&k->src.addr, s);
	snprintf(buf, len, "%s . %s . %u . %s", a, proto_word(k->proto), k->port, s);
}

static void write_set(struct sbuf *b, const char *name, const char *addr_type,
		      const struct ipvs_keys *keys, bool with_src, bool interval)
{
	char type[96], el[2 * ADDR_STRLEN + 32];
	bool first;

	snprintf(type, sizeof(type), "%s . inet_proto . inet_service%s%s", addr_type,
		 with_src ? " . " : "", with_src ? addr_type : "");
	nft_set_begin(b, name, type, NULL, interval ? "interval" : NULL, &first);
	for (size_t i = 0; i < keys->n; i++) {
		key_text(&keys->v[i], with_src, interval, el, sizeof(el));
		nft_element(b, el, &first);
	}
	nft_set_end(b, first);
}

static bool has_cluster_cidr(const struct ipvs_rules_opts *o)
{
	for (size_t i = 0; i < o->n_cluster_cidrs; i++)
		if (o->cluster_cidrs[i].addr.family == o->family)
			return true;
	return false;
}

void ipvs_rules_render(const struct ipvs_plan *p, const struct ipvs_rules_opts *o, struct sbuf *b)
{
	const char *at = o->family == AF_INET6 ? "ipv6_addr" : "ipv4_addr";
	const char *ip = ipvs_nft_family(o->family);
	char rule[256], el[ADDR_STRLEN + 8];
	bool first;

	nft_table_begin(b, ip, IPVS_NFT_TABLE);
	write_set(b, "svc_cluster", at, &p->sets[IPVS_SET_CLUSTER], false, false);
	write_set(b, "svc_masq", at, &p->sets[IPVS_SET_MASQ], false, false);
	write_set(b, "svc_drop", at, &p->sets[IPVS_SET_DROP], false, false);
	write_set(b, "svc_reject", at, &p->sets[IPVS_SET_REJECT], false, false);
	write_set(b, "lb_fw", at, &p->sets[IPVS_SET_FW], false, false);
	write_set(b, "lb_fw_allow", at, &p->sets[IPVS_SET_FW_ALLOW], true, true);
	write_set(b, "svc_loopback", at, &p->sets[IPVS_SET_LOOPBACK], true, false);
	snprintf(rule, sizeof(rule), "%s . inet_proto . inet_service", at);
	nft_set_begin(b, "svc_shortcut", rule, "mark", NULL, &first);
	for (size_t i = 0; i < p->sets[IPVS_SET_SHORTCUT].n; i++) {
		const struct ipvs_rule_key *k = &p->sets[IPVS_SET_SHORTCUT].v[i];
		char key[ADDR_STRLEN + 32];

		key_text(k, false, false, key, sizeof(key));
		snprintf(rule, sizeof(rule), "%s : 0x%08x", key, k->mark);
		nft_element(b, rule, &first);
	}
	nft_set_end(b, first);
	nft_set_begin(b, "cluster_cidrs", at, NULL, "interval", &first);
	for (size_t i = 0; i < o->n_cluster_cidrs; i++)
		if (o->cluster_cidrs[i].addr.family == o->family) {
			cidr_format(&o->cluster_cidrs[i], el);
			nft_element(b, el, &first);
		}
	nft_set_end(b, first);

	nft_chain_begin(b, "svc_policy", NULL, NULL, NULL, NULL);
	/* The pods' and the node's traffic that an eTP Local port sends to every endpoint. */
	snprintf(rule, sizeof(rule), "meta mark & 0x%08x == 0x%08x return", IPVS_FWMARK_MASK,
		 IPVS_FWMARK_BASE);
	nft_rule(b, rule);
	snprintf(rule, sizeof(rule), "%s daddr . meta l4proto . th dport @svc_drop drop", ip);
	nft_rule(b, rule);
	snprintf(rule, sizeof(rule), "%s daddr . meta l4proto . th dport @svc_reject reject", ip);
	nft_rule(b, rule);
	snprintf(rule, sizeof(rule),
		 "%s daddr . meta l4proto . th dport @lb_fw %s daddr . meta l4proto . th dport . %s saddr"
		 " != @lb_fw_allow drop", ip, ip, ip);
	nft_rule(b, rule);
	nft_chain_end(b);

	nft_chain_begin(b, "svc_mark", NULL, NULL, NULL, NULL);
	/* A failed map lookup ends the rule: only the shortcut ports get a mark. */
	if (has_cluster_cidr(o)) {
		snprintf(rule, sizeof(rule),
			 "%s saddr @cluster_cidrs meta mark set %s daddr . meta l4proto . th dport map"
			 " @svc_shortcut", ip, ip);
		nft_rule(b, rule);
	}
	snprintf(rule, sizeof(rule),
		 "fib saddr type local meta mark set %s daddr . meta l4proto . th dport map @svc_shortcut",
		 ip);
	nft_rule(b, rule);
	snprintf(rule, sizeof(rule),
		 "%s daddr . meta l4proto . th dport @svc_masq meta mark set meta mark | 0x%x", ip,
		 IPVS_MASQ_MARK);
	nft_rule(b, rule);
	if (o->masquerade_all || has_cluster_cidr(o)) {
		char from[64] = "";

		if (!o->masquerade_all)
			snprintf(from, sizeof(from), " %s saddr != @cluster_cidrs", ip);
		snprintf(rule, sizeof(rule),
			 "%s daddr . meta l4proto . th dport @svc_cluster%s meta mark set meta mark | 0x%x",
			 ip, from, IPVS_MASQ_MARK);
		nft_rule(b, rule);
	}
	nft_chain_end(b);

	/* Ahead of IPVS: its LOCAL_IN hook runs at NAT source priority - 2, its LOCAL_OUT at NAT destination + 1. */
	nft_chain_begin(b, "filter_prerouting", "filter", "prerouting", "-110", "accept");
	nft_rule(b, "jump svc_mark");
	nft_chain_end(b);
	nft_chain_begin(b, "filter_input", "filter", "input", "filter - 10", "accept");
	nft_rule(b, "jump svc_policy");
	nft_chain_end(b);
	nft_chain_begin(b, "filter_output", "filter", "output", "-110", "accept");
	nft_rule(b, "jump svc_mark");
	nft_rule(b, "jump svc_policy");
	nft_chain_end(b);
	nft_chain_begin(b, "nat_postrouting", "nat", "postrouting", "srcnat", "accept");
	snprintf(rule, sizeof(rule),
		 "meta mark & 0x%x == 0x%x meta mark set meta mark & 0x%x masquerade fully-random",
		 IPVS_MASQ_MARK, IPVS_MASQ_MARK, ~IPVS_MASQ_MARK);
	nft_rule(b, rule);
	snprintf(rule, sizeof(rule),
		 "%s daddr . meta l4proto . th dport . %s saddr @svc_loopback masquerade fully-random", ip, ip);
	nft_rule(b, rule);
	/* The node's own connection through an eTP Local shortcut (its fwmark service) has a
	 * local source, often the service address itself, which the endpoint cannot answer:
	 * masqueraded, as kube-proxy does.  The mark cannot carry the masquerade bit here:
	 * IPVS matches a fwmark service on the whole mark. */
	snprintf(rule, sizeof(rule),
		 "meta mark & 0x%08x == 0x%08x fib saddr type local masquerade fully-random",
		 IPVS_FWMARK_MASK, IPVS_FWMARK_BASE);
	nft_rule(b, rule);
	nft_chain_end(b);
	nft_table_end(b);
}
