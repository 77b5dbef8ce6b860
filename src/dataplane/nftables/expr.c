/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The model's rule items (plan.h) as nf_tables expressions (libnftnl):
 * which registers each match loads, compares or looks up, laid out as nft
 * itself lays them out (nft --debug=netlink shows the same expressions).
 * Keys of concatenations take one 4-byte register per field, a 16-byte
 * address four; that is also how plan.c lays out set keys.
 */
#include "dataplane/nftables/expr.h"

#include <arpa/inet.h>
#include <netinet/in.h> /* before the kernel's headers: glibc's in.h must come first */
#include <linux/icmp.h>
#include <linux/icmpv6.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include <stdio.h> /* libnftnl/expr.h uses FILE */
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>

static struct nftnl_expr *add(struct nftnl_rule *r, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	nftnl_rule_add_expr(r, e);
	return e;
}

static void payload(struct nftnl_rule *r, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = add(r, "payload");

	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = add(r, "cmp");

	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

/* reg1 = (reg1 & mask) ^ xor, len bytes */
static void bitwise(struct nftnl_rule *r, const void *mask, const void *xor, uint32_t len)
{
	struct nftnl_expr *e = add(r, "bitwise");

	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, xor, len);
}

static void meta_load(struct nftnl_rule *r, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = add(r, "meta");

	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

/* (ct KEY & mask) != 0, or == 0 when neg */
static void ct_bits(struct nftnl_rule *r, uint32_t key, uint32_t mask, bool neg)
{
	struct nftnl_expr *e = add(r, "ct");
	uint32_t zero = 0;

	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	bitwise(r, &mask, &zero, 4);
	cmp(r, neg ? NFT_CMP_EQ : NFT_CMP_NEQ, &zero, 4);
}

static uint32_t addr_off(int family, int which)
{
	if (family == AF_INET6)
		return which == NX_DADDR ? 24 : 8;
	return which == NX_DADDR ? 16 : 12;
}

static uint32_t alen(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

static void load_addr(struct nftnl_rule *r, int family, int which, uint32_t dreg)
{
	payload(r, NFT_PAYLOAD_NETWORK_HEADER, addr_off(family, which), alen(family), dreg);
}

static void load_dport(struct nftnl_rule *r, uint32_t dreg)
{
	payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, dreg);
}

static void lookup_from(struct nftnl_rule *r, uint32_t sreg, const char *set, int dreg)
{
	struct nftnl_expr *e = add(r, "lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
}

static void lookup(struct nftnl_rule *r, const char *set, int dreg)
{
	struct nftnl_expr *e = add(r, "lookup");

	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set);
	if (dreg >= 0)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, (uint32_t)dreg);
}

static void addr_match(struct nftnl_rule *r, int family, const struct nft_x *x)
{
	uint8_t mask[16] = { 0 }, net[16] = { 0 }, zero[16] = { 0 };
	uint32_t len = alen(family);

	load_addr(r, family, x->which, NFT_REG_1);
	for (uint32_t i = 0; i < len; i++) {
		int bits = (int)x->cidr.prefix - (int)(8 * i);

		mask[i] = bits >= 8 ? 0xff : bits <= 0 ? 0 : (uint8_t)(0xff << (8 - bits));
		net[i] = x->cidr.addr.bytes[i] & mask[i];
	}
	if (x->cidr.prefix < 8 * len)
		bitwise(r, mask, zero, len);
	cmp(r, x->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, net, len);
}

static void mark_set(struct nftnl_rule *r, uint32_t mask, uint32_t xor)
{
	struct nftnl_expr *e;

	meta_load(r, NFT_META_MARK, NFT_REG_1);
	bitwise(r, &mask, &xor, 4);
	e = add(r, "meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
}

static void nat(struct nftnl_rule *r, int family, uint32_t reg_addr, uint32_t reg_port)
{
	struct nftnl_expr *e = add(r, "nat");

	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_DNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, (uint32_t)family);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, reg_addr);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_PROTO_MIN, reg_port);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_MAP_IPS | NF_NAT_RANGE_PROTO_SPECIFIED);
}

static void immediate_data(struct nftnl_rule *r, uint32_t dreg, const void *data, uint32_t len)
{
	struct nftnl_expr *e = add(r, "immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, dreg);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

static int verdict_code(unsigned v)
{
	switch (v) {
	case NV_ACCEPT:
		return NF_ACCEPT;
	case NV_DROP:
		return NF_DROP;
	case NV_RETURN:
		return NFT_RETURN;
	case NV_JUMP:
		return NFT_JUMP;
	default:
		return NFT_GOTO;
	}
}

int nft_verdict_code(unsigned v)
{
	return verdict_code(v);
}

static void verdict(struct nftnl_rule *r, unsigned v, const char *chain)
{
	struct nftnl_expr *e = add(r, "immediate");

	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict_code(v));
	if (v == NV_JUMP || v == NV_GOTO)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

/* numgen random mod num into dreg. */
static void numgen_to(struct nftnl_rule *r, uint32_t mod, uint32_t dreg)
{
	struct nftnl_expr *e = add(r, "numgen");

	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, dreg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, mod);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
}

/* ip daddr . meta l4proto . th dport from REG32_00: a service's key (plan.c: svc_key); its length. */
static uint32_t load_svc_key(struct nftnl_rule *r, int family)
{
	uint32_t w = alen(family) / 4;

	load_addr(r, family, NX_DADDR, NFT_REG32_00);
	meta_load(r, NFT_META_L4PROTO, NFT_REG32_00 + w);
	load_dport(r, NFT_REG32_00 + w + 1);
	return w + 2;
}

/* Element-level dispatch (plan.h): dnat to K . numgen random mod num map @name, laid out as nft does. */
static void pick(struct nftnl_rule *r, int family, const struct nft_x *x)
{
	uint32_t k = load_svc_key(r, family);

	numgen_to(r, x->num, NFT_REG32_00 + k);
	lookup_from(r, NFT_REG32_00, x->name, NFT_REG_1);
	nat(r, family, NFT_REG32_00, NFT_REG32_00 + alen(family) / 4);
}

/* numgen random mod num into the slot's register (the key: id in REG32_00..01 . slot). */
static void numgen(struct nftnl_rule *r, uint32_t mod)
{
	struct nftnl_expr *e = add(r, "numgen");

	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_DREG, NFT_REG32_02);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_MODULUS, mod);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NG_TYPE, NFT_NG_RANDOM);
}

/* jhash over saddr . sport . daddr . dport (the flow), mod num, into the slot's register. */
static void flow_hash(struct nftnl_rule *r, int family, uint32_t mod, uint32_t seed)
{
	uint32_t w = alen(family) / 4, reg = NFT_REG32_00;
	struct nftnl_expr *e;

	load_addr(r, family, NX_SADDR, reg);
	payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, reg + w);
	load_addr(r, family, NX_DADDR, reg + w + 1);
	load_dport(r, reg + 2 * w + 1);
	e = add(r, "hash");
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_TYPE, NFT_HASH_JENKINS);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_SREG, reg);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_DREG, NFT_REG32_02);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_LEN, 4 * (2 * w + 2));
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_MODULUS, mod);
	nftnl_expr_set_u32(e, NFTNL_EXPR_HASH_SEED, seed);
}

/* The matches; false for a statement (add_statement). */
static bool add_match(struct nftnl_rule *r, int family, const struct nft_x *x)
{
	uint32_t w = alen(family) / 4, rtn_local = RTN_LOCAL;
	struct nftnl_expr *e;

	switch (x->kind) {
	case NX_CT_STATE:
		ct_bits(r, NFT_CT_STATE, x->num, x->neg);
		break;
	case NX_CT_DNAT:
		ct_bits(r, NFT_CT_STATUS, IPS_DST_NAT, x->neg);
		break;
	case NX_FIB_LOCAL:
		e = add(r, "fib");
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_FLAGS,
				   x->which == NX_DADDR ? NFTA_FIB_F_DADDR : NFTA_FIB_F_SADDR);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_RESULT, NFT_FIB_RESULT_ADDRTYPE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_FIB_DREG, NFT_REG_1);
		cmp(r, NFT_CMP_EQ, &rtn_local, 4);
		break;
	case NX_ADDR:
		addr_match(r, family, x);
		break;
	case NX_DPORT: {
		uint16_t be = htons(x->port);

		load_dport(r, NFT_REG_1);
		cmp(r, NFT_CMP_EQ, &be, 2);
		break;
	}
	case NX_ADDR_IN_SET:
		load_addr(r, family, x->which, NFT_REG32_00);
		lookup(r, x->name, -1);
		break;
	case NX_AFFINITY:
		immediate_data(r, NFT_REG32_00, &x->id, 8);
		load_addr(r, family, NX_SADDR, NFT_REG32_02);
		lookup(r, x->name, -1);
		break;
	case NX_SVC_IN_SET:
		load_svc_key(r, family);
		lookup(r, x->name, -1);
		break;
	case NX_PORT_IN_SET:
		meta_load(r, NFT_META_L4PROTO, NFT_REG32_00);
		load_dport(r, NFT_REG32_01);
		lookup(r, x->name, -1);
		break;
	case NX_HAIRPIN:
		load_addr(r, family, NX_SADDR, NFT_REG32_00);
		load_addr(r, family, NX_DADDR, NFT_REG32_00 + w);
		lookup(r, x->name, -1);
		break;
	case NX_MARK: {
		uint32_t zero = 0;

		meta_load(r, NFT_META_MARK, NFT_REG_1);
		bitwise(r, &x->num, &zero, 4);
		cmp(r, x->neg ? NFT_CMP_EQ : NFT_CMP_NEQ, &zero, 4);
		break;
	}
	default:
		return false;
	}
	return true;
}

static void add_statement(struct nftnl_rule *r, int family, const struct nft_x *x)
{
	uint32_t w = alen(family) / 4;
	struct nftnl_expr *e;

	switch (x->kind) {
	case NX_MARK_OR:
		mark_set(r, ~x->num, x->num);
		break;
	case NX_MARK_XOR:
		mark_set(r, 0xffffffffu, x->num);
		break;
	case NX_UPDATE: /* the key: endpoint id (REG32_00..01) . client address */
		immediate_data(r, NFT_REG32_00, &x->id, 8);
		load_addr(r, family, NX_SADDR, NFT_REG32_02);
		e = add(r, "dynset");
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_OP, NFT_DYNSET_OP_UPDATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SREG_KEY, NFT_REG32_00);
		nftnl_expr_set_str(e, NFTNL_EXPR_DYNSET_SET_NAME, x->name);
		nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, (uint64_t)x->num * 1000);
		break;
	case NX_VMAP_SVC:
		load_addr(r, family, NX_DADDR, NFT_REG32_00);
		meta_load(r, NFT_META_L4PROTO, NFT_REG32_00 + w);
		load_dport(r, NFT_REG32_00 + w + 1);
		lookup(r, x->name, NFT_REG_VERDICT);
		break;
	case NX_VMAP_PORT:
		meta_load(r, NFT_META_L4PROTO, NFT_REG32_00);
		load_dport(r, NFT_REG32_01);
		lookup(r, x->name, NFT_REG_VERDICT);
		break;
	case NX_VMAP_NUMGEN:
		numgen(r, x->num);
		immediate_data(r, NFT_REG32_00, &x->id, 8);
		lookup(r, x->name, NFT_REG_VERDICT);
		break;
	case NX_DNAT: {
		uint16_t be = htons(x->port);

		immediate_data(r, NFT_REG_1, x->cidr.addr.bytes, alen(family));
		immediate_data(r, NFT_REG_2, &be, 2);
		nat(r, family, NFT_REG_1, NFT_REG_2);
		break;
	}
	case NX_PICK:
		pick(r, family, x);
		break;
	case NX_DNAT_NUMGEN:
	case NX_DNAT_JHASH:
		if (x->kind == NX_DNAT_NUMGEN)
			numgen(r, x->num);
		else
			flow_hash(r, family, x->num, 0x6b726f75u /* fixed: the same slot after a restart */);
		immediate_data(r, NFT_REG32_00, &x->id, 8);
		lookup(r, x->name, NFT_REG_1);
		nat(r, family, NFT_REG32_00, NFT_REG32_00 + w);
		break;
	case NX_MASQ:
		e = add(r, "masq");
		nftnl_expr_set_u32(e, NFTNL_EXPR_MASQ_FLAGS, NF_NAT_RANGE_PROTO_RANDOM_FULLY);
		break;
	case NX_REJECT:
		e = add(r, "reject");
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMP_UNREACH);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE,
				  family == AF_INET6 ? ICMPV6_PORT_UNREACH : ICMP_PORT_UNREACH);
		break;
	case NX_VERDICT:
		verdict(r, x->verdict, x->name);
		break;
	default:
		break;
	}
}

static void add_x(struct nftnl_rule *r, int family, const struct nft_x *x)
{
	if (!add_match(r, family, x))
		add_statement(r, family, x);
}

void nft_rule_exprs(struct nftnl_rule *r, int family, const struct nft_rule *m)
{
	for (size_t i = 0; i < m->n; i++)
		add_x(r, family, &m->x[i]);
}
