/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The model in nft syntax: what `nft list table ip kroute` shows, near
 * enough to read, and what the unit tests compare against.  Pure.
 */
#include "dataplane/nftables/text.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "core/util.h"

static const char *verdict_names[] = {
	[NV_NONE] = "", [NV_ACCEPT] = "accept", [NV_DROP] = "drop", [NV_RETURN] = "return",
	[NV_JUMP] = "jump", [NV_GOTO] = "goto",
};

static const char *ip_kw(int family)
{
	return family == AF_INET6 ? "ip6" : "ip";
}

static void add_verdict(struct sbuf *b, unsigned v, const char *chain)
{
	sbuf_adds(b, verdict_names[v]);
	if (v == NV_JUMP || v == NV_GOTO) {
		sbuf_addc(b, ' ');
		sbuf_adds(b, chain);
	}
}

static void add_addr(struct sbuf *b, const uint8_t *p, int family)
{
	char s[ADDR_STRLEN];

	inet_ntop(family, p, s, sizeof(s));
	sbuf_adds(b, s);
}

static void add_port(struct sbuf *b, const uint8_t *p)
{
	uint16_t be;

	memcpy(&be, p, 2);
	sbuf_addu(b, ntohs(be));
}

static void add_proto(struct sbuf *b, uint8_t proto)
{
	sbuf_adds(b, proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" :
		     proto == IPPROTO_SCTP ? "sctp" : "?");
}

static void add_x(struct sbuf *b, const struct nft_x *x, int family)
{
	const char *ip = ip_kw(family), *dir = x->which == NX_DADDR ? "daddr" : "saddr";
	char s[ADDR_PORT_STRLEN];

	switch (x->kind) {
	case NX_CT_STATE:
		sbuf_printf(b, "ct state & 0x%x %s 0", x->num, x->neg ? "==" : "!=");
		break;
	case NX_CT_DNAT:
		sbuf_adds(b, x->neg ? "ct status & dnat == 0" : "ct status dnat");
		break;
	case NX_FIB_LOCAL:
		sbuf_printf(b, "fib %s type local", dir);
		break;
	case NX_ADDR:
		cidr_format(&x->cidr, s);
		sbuf_printf(b, "%s %s %s%s", ip, dir, x->neg ? "!= " : "", s);
		break;
	case NX_DPORT:
		sbuf_printf(b, "th dport %u", x->port);
		break;
	case NX_ADDR_IN_SET:
		sbuf_printf(b, "%s %s @%s", ip, dir, x->name);
		break;
	case NX_HAIRPIN:
		sbuf_printf(b, "%s saddr . %s daddr @%s", ip, ip, x->name);
		break;
	case NX_MARK:
		sbuf_printf(b, "meta mark & 0x%08x %s 0", x->num, x->neg ? "==" : "!=");
		break;
	case NX_MARK_OR:
	case NX_MARK_XOR:
		sbuf_printf(b, "meta mark set meta mark %c 0x%08x", x->kind == NX_MARK_OR ? '|' : '^',
			    x->num);
		break;
	case NX_UPDATE:
		sbuf_printf(b, "update @%s { 0x%016llx . %s saddr timeout %us }", x->name,
			    (unsigned long long)x->id, ip, x->num);
		break;
	case NX_AFFINITY:
		sbuf_printf(b, "0x%016llx . %s saddr @%s", (unsigned long long)x->id, ip, x->name);
		break;
	case NX_VMAP_SVC:
		sbuf_printf(b, "%s daddr . meta l4proto . th dport vmap @%s", ip, x->name);
		break;
	case NX_VMAP_PORT:
		sbuf_printf(b, "meta l4proto . th dport vmap @%s", x->name);
		break;
	case NX_VMAP_NUMGEN:
		sbuf_printf(b, "0x%016llx . numgen random mod %u vmap @%s", (unsigned long long)x->id,
			    x->num, x->name);
		break;
	case NX_DNAT:
		addr_port_format(&x->cidr.addr, x->port, s);
		sbuf_printf(b, "dnat %s to %s", ip, s);
		break;
	case NX_DNAT_NUMGEN:
		sbuf_printf(b, "dnat %s to 0x%016llx . numgen random mod %u map @%s", ip,
			    (unsigned long long)x->id, x->num, x->name);
		break;
	case NX_PICK:
		sbuf_printf(b, "dnat %s to %s daddr . meta l4proto . th dport . numgen random mod %u map @%s",
			    ip, ip, x->num, x->name);
		break;
	case NX_SVC_IN_SET:
		sbuf_printf(b, "%s daddr . meta l4proto . th dport @%s", ip, x->name);
		break;
	case NX_PORT_IN_SET:
		sbuf_printf(b, "meta l4proto . th dport @%s", x->name);
		break;
	case NX_DNAT_JHASH:
		sbuf_printf(b, "dnat %s to 0x%016llx . jhash %s saddr . th sport . %s daddr . th dport mod %u"
			    " map @%s", ip, (unsigned long long)x->id, ip, ip, x->num, x->name);
		break;
	case NX_MASQ:
		sbuf_adds(b, "masquerade fully-random");
		break;
	case NX_REJECT:
		sbuf_adds(b, "reject");
		break;
	case NX_VERDICT:
		add_verdict(b, x->verdict, x->name);
		break;
	}
}

void nft_rule_text(struct sbuf *b, const struct nft_rule *r, int family)
{
	for (size_t i = 0; i < r->n; i++) {
		if (i)
			sbuf_addc(b, ' ');
		add_x(b, &r->x[i], family);
	}
}

void nft_elem_text(struct sbuf *b, enum nft_set_kind k, const struct nft_elem *e, int family)
{
	size_t al = family == AF_INET6 ? 16 : 4;
	uint32_t u;

	switch (k) {
	case NS_SVC_VMAP:
	case NS_PICK_EPS:
	case NS_SVC_SET:
		add_addr(b, e->key, family);
		SBUF_ADDL(b, " . ");
		add_proto(b, e->key[al]);
		SBUF_ADDL(b, " . ");
		add_port(b, e->key + al + 4);
		if (k == NS_SVC_SET)
			return;
		if (k == NS_PICK_EPS) {
			memcpy(&u, e->key + al + 8, 4);
			SBUF_ADDL(b, " . ");
			sbuf_addu(b, u);
		}
		break;
	case NS_PORT_VMAP:
	case NS_PORT_SET:
		add_proto(b, e->key[0]);
		SBUF_ADDL(b, " . ");
		add_port(b, e->key + 4);
		if (k == NS_PORT_SET)
			return;
		break;
	case NS_ADDR_PAIRS:
		add_addr(b, e->key, family);
		SBUF_ADDL(b, " . ");
		add_addr(b, e->key + al, family);
		return;
	case NS_ADDRS:
		add_addr(b, e->key, family);
		return;
	case NS_AFFINITY:
		add_addr(b, e->key + 8, family);
		return;
	default: /* id . slot: the slot (a slice's id is its fragment's) */
		memcpy(&u, e->key + 8, 4);
		sbuf_addu(b, u);
		break;
	}
	SBUF_ADDL(b, " : ");
	if (k == NS_EP_MAP || k == NS_PICK_EPS) {
		add_addr(b, e->data, family);
		SBUF_ADDL(b, " . ");
		add_port(b, e->data + al);
	} else {
		add_verdict(b, e->verdict, e->chain);
	}
}

void nft_frag_text(struct sbuf *b, const struct nft_frag *f, int family)
{
	for (size_t i = 0; i < f->n_sets; i++) {
		const struct nft_set *s = &f->sets[i];

		sbuf_printf(b, "set %s", s->name);
		if (s->in_map[0])
			sbuf_printf(b, " in @%s", s->in_map);
		if (s->kind == NS_AFFINITY)
			sbuf_printf(b, " timeout %us", s->timeout_s);
		sbuf_addc(b, '\n');
		for (size_t k = 0; k < s->n_elems; k++) {
			SBUF_ADDL(b, "  ");
			nft_elem_text(b, s->kind, &s->elems[k], family);
			sbuf_addc(b, '\n');
		}
	}
	for (size_t i = 0; i < f->n_shared; i++) {
		sbuf_printf(b, "@%s ", nft_shared_names[f->shared[i].set]);
		nft_elem_text(b, nft_shared_kind(f->shared[i].set), &f->shared[i].e, family);
		sbuf_addc(b, '\n');
	}
	for (size_t i = 0; i < f->n_chains; i++) {
		const struct nft_chain *c = &f->chains[i];

		sbuf_printf(b, "chain %s", c->name);
		if (c->type)
			sbuf_printf(b, " (%s hook %d priority %d)", c->type, c->hook, c->prio);
		sbuf_addc(b, '\n');
		for (size_t k = 0; k < c->n_rules; k++) {
			SBUF_ADDL(b, "  ");
			nft_rule_text(b, &c->rules[k], family);
			sbuf_addc(b, '\n');
		}
	}
}
