/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * ICMP errors about a translated flow (tc_nat.bpf.c includes this once,
 * after kr_ct, the scratch map, csum_fold and send_toward): a router's
 * "fragmentation needed" / "packet too big", an endpoint's "port
 * unreachable", a client's error about a reply.  Such an error quotes the
 * packet as the tc program sent it (translated), so without help the
 * sender would not recognise its own packet: a TCP connection would never
 * learn its path MTU, a UDP client would not hear that the port is closed.
 *
 * As conntrack does for the packets it calls RELATED: the quoted packet's
 * 5-tuple, reversed, is the kr_ct key of the direction the error travels
 * (an error about a forward packet travels as a reply, and the other way
 * round), and its entry gives the translation.  The quoted packet is put
 * back as its sender sent it (its addresses and ports the entry's,
 * reversed; its IP and TCP/UDP checksums adjusted), and the error's own
 * addresses become the entry's: to the sender, from the address the sender
 * talks to (the service's address, or the node's SNAT address), whoever
 * sent it.  The error is then routed as a translated packet.
 *
 * Only errors without IP options or IPv6 extension headers, outside and
 * quoted, about TCP or UDP, addressed to the quoted packet's source; any
 * other packet passes untouched.  The first 8 bytes of the quoted TCP/UDP
 * header are needed; the TCP checksum is adjusted when quoted.
 */
#ifndef KROUTE_EBPF_TC_ICMP_RELATED_H
#define KROUTE_EBPF_TC_ICMP_RELATED_H

/* The quoted TCP/UDP header's first 20 bytes (UDP uses 8). */
struct quoted_l4 {
	__be16 sport, dport;
	__be16 udp_len, udp_check; /* TCP: the sequence number */
	__be32 ack;
	__be16 flags, window;
	__be16 tcp_check, urgent;
};

#define QUOTED_L4_MIN 8 /* what every ICMP error quotes (RFC 792) */

struct icmp4_error {
	struct iphdr outer;
	struct icmp_unreach icmp;
	struct iphdr inner;
	struct quoted_l4 l4;
};

struct icmp6_error {
	struct ipv6hdr outer;
	struct icmp_unreach icmp;
	struct ipv6hdr inner;
	struct quoted_l4 l4;
};

/* The old headers and the new, in the per-CPU scratch (too big for the stack). */
struct related_scratch {
	union {
		struct icmp4_error v4[2];
		struct icmp6_error v6[2];
	};
};

_Static_assert(sizeof(struct related_scratch) <= SCRATCH_LEN, "the scratch holds both copies");

/* A checksum field check over bytes whose sum changed by diff (RFC 1624): its new value. */
static __always_inline __u16 csum_adjust(__u16 check, __s64 diff)
{
	__u64 s = (__u64)(__u16)~check + (__u32)diff;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~((s & 0xffff) + (s >> 16));
}

/*
 * The quoted TCP/UDP header n (a copy of o) gets the ports of t, reversed;
 * its checksum (when quoted, and for UDP when there is one) the change of
 * the addresses (addr_diff) and of the ports.
 */
static __always_inline int quoted_l4_translate(const struct quoted_l4 *o, struct quoted_l4 *n,
					       __u8 proto, int tcp_check_quoted, __s64 addr_diff,
					       const struct kr_ct *t)
{
	__s64 d;

	n->sport = t->dport;
	n->dport = t->sport;
	d = bpf_csum_diff((__be32 *)o, 4, (__be32 *)n, 4, (__u32)addr_diff);
	if (d < 0)
		return -1;
	if (proto == IPPROTO_UDP && o->udp_check) {
		n->udp_check = csum_adjust(o->udp_check, d);
		if (!n->udp_check)
			n->udp_check = 0xffff; /* 0 means "none" in UDP */
	} else if (proto == IPPROTO_TCP && tcp_check_quoted) {
		n->tcp_check = csum_adjust(o->tcp_check, d);
	}
	return 0;
}

/* The kr_ct entry of the direction an error about the quoted packet travels, or NULL. */
static __always_inline struct kr_ct *related_flow(__u8 family, __u8 proto, const void *qsrc,
						  const void *qdst, __u32 alen,
						  const struct quoted_l4 *l4)
{
	struct kr_ct_key k = {};

	__builtin_memcpy(k.src.b, qdst, alen == 4 ? 4 : 16);
	__builtin_memcpy(k.dst.b, qsrc, alen == 4 ? 4 : 16);
	k.sport = l4->dport;
	k.dport = l4->sport;
	k.proto = proto;
	k.family = family;
	return bpf_map_lookup_elem(&kr_ct, &k);
}

static __always_inline int related4(struct __sk_buff *skb, struct related_scratch *s)
{
	struct icmp4_error *o = &s->v4[0], *n = &s->v4[1];
	__u32 len = sizeof(*o);
	struct kr_ct *t;
	__s64 d;

	if (skb->len < ETH_HLEN + offsetof(struct icmp4_error, l4) + QUOTED_L4_MIN)
		return TC_ACT_OK;
	if (skb->len < ETH_HLEN + sizeof(*o)) {
		len = offsetof(struct icmp4_error, l4) + QUOTED_L4_MIN;
		__builtin_memset(&o->l4, 0, sizeof(o->l4));
	}
	if (bpf_skb_load_bytes(skb, ETH_HLEN, o, len) < 0)
		return TC_ACT_OK;
	if (o->outer.ihl != 5 || o->outer.protocol != IPPROTO_ICMP ||
	    (o->outer.frag_off & bpf_htons(0x3fff)) || /* a fragment */
	    (o->icmp.type != 3 && o->icmp.type != 11 && o->icmp.type != 12) ||
	    o->inner.version != 4 || o->inner.ihl != 5 || (o->inner.frag_off & bpf_htons(0x1fff)) ||
	    (o->inner.protocol != IPPROTO_TCP && o->inner.protocol != IPPROTO_UDP) ||
	    o->outer.daddr != o->inner.saddr)
		return TC_ACT_OK;
	t = related_flow(AF_INET, o->inner.protocol, &o->inner.saddr, &o->inner.daddr, 4, &o->l4);
	if (!t)
		return TC_ACT_OK;
	*n = *o;
	__builtin_memcpy(&n->inner.saddr, t->dst.b, 4);
	__builtin_memcpy(&n->inner.daddr, t->src.b, 4);
	d = bpf_csum_diff(&o->inner.saddr, 8, &n->inner.saddr, 8, 0);
	if (d < 0)
		return TC_ACT_OK;
	n->inner.check = csum_adjust(o->inner.check, d);
	if (quoted_l4_translate(&o->l4, &n->l4, o->inner.protocol, len == sizeof(*o), d, t) < 0)
		return TC_ACT_OK;
	/* ICMP sums its message alone: the quoted headers' change */
	d = bpf_csum_diff((__be32 *)&o->inner, sizeof(o->inner) + sizeof(o->l4),
			  (__be32 *)&n->inner, sizeof(n->inner) + sizeof(n->l4), 0);
	if (d < 0)
		return TC_ACT_OK;
	n->icmp.check = csum_adjust(o->icmp.check, d);
	__builtin_memcpy(&n->outer.saddr, t->src.b, 4);
	__builtin_memcpy(&n->outer.daddr, t->dst.b, 4);
	d = bpf_csum_diff(&o->outer.saddr, 8, &n->outer.saddr, 8, 0);
	if (d < 0)
		return TC_ACT_OK;
	n->outer.check = csum_adjust(o->outer.check, d);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, n, len, 0) < 0)
		return TC_ACT_SHOT;
	return send_toward(skb, AF_INET, IPPROTO_ICMP, t);
}

static __always_inline int same_in6(const struct in6_addr *a, const struct in6_addr *b)
{
	return a->in6_u.u6_addr32[0] == b->in6_u.u6_addr32[0] &&
	       a->in6_u.u6_addr32[1] == b->in6_u.u6_addr32[1] &&
	       a->in6_u.u6_addr32[2] == b->in6_u.u6_addr32[2] &&
	       a->in6_u.u6_addr32[3] == b->in6_u.u6_addr32[3];
}

static __always_inline int related6(struct __sk_buff *skb, struct related_scratch *s)
{
	struct icmp6_error *o = &s->v6[0], *n = &s->v6[1];
	__u32 len = sizeof(*o);
	struct kr_ct *t;
	__s64 d;

	if (skb->len < ETH_HLEN + offsetof(struct icmp6_error, l4) + QUOTED_L4_MIN)
		return TC_ACT_OK;
	if (skb->len < ETH_HLEN + sizeof(*o)) {
		len = offsetof(struct icmp6_error, l4) + QUOTED_L4_MIN;
		__builtin_memset(&o->l4, 0, sizeof(o->l4));
	}
	if (bpf_skb_load_bytes(skb, ETH_HLEN, o, len) < 0)
		return TC_ACT_OK;
	if (o->outer.nexthdr != IPPROTO_ICMPV6 || o->icmp.type < 1 || o->icmp.type > 4 ||
	    o->inner.version != 6 ||
	    (o->inner.nexthdr != IPPROTO_TCP && o->inner.nexthdr != IPPROTO_UDP) ||
	    !same_in6(&o->outer.daddr, &o->inner.saddr))
		return TC_ACT_OK;
	t = related_flow(AF_INET6, o->inner.nexthdr, &o->inner.saddr, &o->inner.daddr, 16, &o->l4);
	if (!t)
		return TC_ACT_OK;
	*n = *o;
	__builtin_memcpy(&n->inner.saddr, t->dst.b, 16);
	__builtin_memcpy(&n->inner.daddr, t->src.b, 16);
	__builtin_memcpy(&n->outer.saddr, t->src.b, 16);
	__builtin_memcpy(&n->outer.daddr, t->dst.b, 16);
	d = bpf_csum_diff((__be32 *)&o->inner.saddr, 32, (__be32 *)&n->inner.saddr, 32, 0);
	if (d < 0 ||
	    quoted_l4_translate(&o->l4, &n->l4, o->inner.nexthdr, len == sizeof(*o), d, t) < 0)
		return TC_ACT_OK;
	/* ICMPv6 sums the pseudo header too: the error's addresses and the quoted headers' change */
	d = bpf_csum_diff((__be32 *)&o->outer.saddr, 32, (__be32 *)&n->outer.saddr, 32, 0);
	if (d >= 0)
		d = bpf_csum_diff((__be32 *)&o->inner, sizeof(o->inner) + sizeof(o->l4),
				  (__be32 *)&n->inner, sizeof(n->inner) + sizeof(n->l4), (__u32)d);
	if (d < 0)
		return TC_ACT_OK;
	n->icmp.check = csum_adjust(o->icmp.check, d);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, n, len, 0) < 0)
		return TC_ACT_SHOT;
	return send_toward(skb, AF_INET6, IPPROTO_ICMPV6, t);
}

/* A packet parse() did not take: an ICMP error about a translated flow is translated, else it passes. */
static __always_inline int icmp_related(struct __sk_buff *skb)
{
	struct related_scratch *s;
	__u32 zero = 0;

	if (skb->protocol != bpf_htons(ETH_P_IP) && skb->protocol != bpf_htons(ETH_P_IPV6))
		return TC_ACT_OK;
	s = bpf_map_lookup_elem(&kr_tc_scratch, &zero);
	if (!s)
		return TC_ACT_OK;
	if (skb->protocol == bpf_htons(ETH_P_IP))
		return related4(skb, s);
	return related6(skb, s);
}

#endif
