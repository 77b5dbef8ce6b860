/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Traffic from outside the node for the ebpf mode: a tc ingress program
 * (attached with tcx to the node's interfaces, ../tc.c) translates packets
 * to a NodePort, a load-balancer IP or an external IP (kr_services entries
 * of scope KR_SCOPE_OUTSIDE, which carry the endpoint set the view chose
 * for external traffic: the local set under externalTrafficPolicy Local).
 *
 *   forward  destination -> an endpoint (DNAT); with KR_SVC_SNAT (ETP
 *            Cluster) the source -> the node's address toward that endpoint
 *            (the kernel's choice, bpf_fib_lookup's BPF_FIB_LOOKUP_SRC), the
 *            client's port kept when no other flow holds it, else one from
 *            32768-61000 (so the reply comes back through this node);
 *   reply    the endpoint's packets of that flow, arriving on the interface
 *            toward the endpoint (a pod's veth, or the node's outside
 *            interface for an endpoint on another node), are translated
 *            back: source -> the service address, destination -> the client.
 *
 * kr_ct (LRU) holds both directions of every translated flow, so a flow's
 * later packets keep their endpoint (checked against its slot on every
 * packet: a removed endpoint's flow moves to a new one).  A translated packet is sent out with bpf_redirect_neigh to
 * the interface the routing table gives for its new destination: handed to
 * the kernel's forwarding instead, a packet whose source is now one of the
 * node's own addresses would be dropped as a martian.
 *
 * An LB IP with loadBalancerSourceRanges (KR_SVC_RANGES) drops packets
 * from sources outside them (kr_src_ranges, one LPM trie for all).
 * A service without endpoints (KR_SVC_REJECT) is refused with an ICMP port
 * unreachable (ICMPv6 for IPv6); one flagged drop (ETP Local
 * without a local endpoint) drops the packet: the client times out.
 * ICMP errors about a translated flow are translated too (tc_icmp_related.h).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "lb_common.h"

#define AF_INET 2
#define AF_INET6 10
#define SNAT_PORT_MIN 32768
#define SNAT_PORT_SPAN 28232 /* up to 61000, the kernel's default ephemeral range */
#define SNAT_TRIES 8

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KR_MAX_CT);
	__type(key, struct kr_ct_key);
	__type(value, struct kr_ct);
} kr_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KR_MAX_TC_AFFINITY);
	__type(key, struct kr_tc_aff_key);
	__type(value, struct kr_aff);
} kr_tc_affinity SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, KR_MAX_RANGES);
	__type(key, struct kr_range_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} kr_src_ranges SEC(".maps");

/* Where the fields this program reads and writes are in one packet. */
struct pkt {
	__u32 l3, l4;        /* offsets of the IP and the TCP/UDP header */
	__u32 csum;          /* offset of the TCP/UDP checksum */
	__u8 udp_nocsum;     /* a UDP datagram without a checksum (IPv4 only) */
	/* the packet's own 5-tuple; 8-aligned: hash_tuple reads it as words, the verifier checks */
	struct kr_ct_key k __attribute__((aligned(8)));
};

static __always_inline __u64 hash_tuple(const struct kr_ct_key *k)
{
	const __u64 *w = (const __u64 *)k; /* struct kr_ct_key is five 8-byte words */
	__u64 h = 0;

	h = mix64(h ^ w[0]);
	h = mix64(h ^ w[1]);
	h = mix64(h ^ w[2]);
	h = mix64(h ^ w[3]);
	return mix64(h ^ w[4]);
}

/* 0 and the packet's fields in *p, or -1: not IPv4/IPv6 TCP/UDP (or a later fragment). */
static __always_inline int parse(struct __sk_buff *skb, struct pkt *p)
{
	__u16 ports[2];

	p->l3 = ETH_HLEN;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, p->l3, &ip, sizeof(ip)) < 0 || ip.ihl < 5)
			return -1;
		if (ip.frag_off & bpf_htons(0x1fff))
			return -1; /* a later fragment has no ports */
		p->k.family = AF_INET;
		p->k.proto = ip.protocol;
		__builtin_memcpy(p->k.src.b, &ip.saddr, 4);
		__builtin_memcpy(p->k.dst.b, &ip.daddr, 4);
		p->l4 = p->l3 + ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, p->l3, &ip6, sizeof(ip6)) < 0)
			return -1;
		p->k.family = AF_INET6;
		p->k.proto = ip6.nexthdr; /* extension headers: not looked through */
		__builtin_memcpy(p->k.src.b, &ip6.saddr, 16);
		__builtin_memcpy(p->k.dst.b, &ip6.daddr, 16);
		p->l4 = p->l3 + sizeof(ip6);
	} else {
		return -1;
	}
	if (p->k.proto == IPPROTO_TCP) {
		p->csum = p->l4 + offsetof(struct tcphdr, check);
	} else if (p->k.proto == IPPROTO_UDP) {
		__u16 c;

		p->csum = p->l4 + offsetof(struct udphdr, check);
		if (bpf_skb_load_bytes(skb, p->csum, &c, 2) < 0)
			return -1;
		p->udp_nocsum = p->k.family == AF_INET && !c;
	} else {
		return -1;
	}
	if (bpf_skb_load_bytes(skb, p->l4, ports, sizeof(ports)) < 0)
		return -1;
	p->k.sport = ports[0];
	p->k.dport = ports[1];
	return 0;
}

/* Rewrites one address (at off: 4 or 16 bytes) with the checksums it is part of. */
static __always_inline int set_addr(struct __sk_buff *skb, const struct pkt *p, __u32 off,
				    const struct kr_addr *from, const struct kr_addr *to)
{
	__u64 l4flags = BPF_F_PSEUDO_HDR | (p->k.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0);
	__s64 diff;

	if (p->k.family == AF_INET) {
		__u32 a, b;

		__builtin_memcpy(&a, from->b, 4);
		__builtin_memcpy(&b, to->b, 4);
		if (a == b)
			return 0;
		if (bpf_l3_csum_replace(skb, p->l3 + offsetof(struct iphdr, check), a, b, 4) < 0)
			return -1;
		if (!p->udp_nocsum && bpf_l4_csum_replace(skb, p->csum, a, b, l4flags | 4) < 0)
			return -1;
		return bpf_skb_store_bytes(skb, off, &b, 4, 0);
	}
	diff = bpf_csum_diff((__be32 *)from->b, 16, (__be32 *)to->b, 16, 0);
	if (diff < 0 || bpf_l4_csum_replace(skb, p->csum, 0, (__u32)diff, l4flags) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, to->b, 16, 0);
}

static __always_inline int set_port(struct __sk_buff *skb, const struct pkt *p, __u32 off,
				    __u16 from, __u16 to)
{
	__u64 l4flags = p->k.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;

	if (from == to)
		return 0;
	if (!p->udp_nocsum && bpf_l4_csum_replace(skb, p->csum, from, to, l4flags | 2) < 0)
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, 2, 0);
}

/*
 * The packet (already translated to t) leaves by the interface the routing
 * table gives for its new destination (the kernel decides when it cannot: a
 * test run, no route).
 */
static __always_inline int send_toward(struct __sk_buff *skb, __u8 family, __u8 proto,
				       const struct kr_ct *t)
{
	struct bpf_fib_lookup fib = {};
	long r;

	fib.family = family;
	fib.l4_protocol = proto;
	fib.sport = t->sport;
	fib.dport = t->dport;
	fib.ifindex = skb->ingress_ifindex;
	if (family == AF_INET) {
		__builtin_memcpy(&fib.ipv4_src, t->src.b, 4);
		__builtin_memcpy(&fib.ipv4_dst, t->dst.b, 4);
	} else {
		__builtin_memcpy(fib.ipv6_src, t->src.b, 16);
		__builtin_memcpy(fib.ipv6_dst, t->dst.b, 16);
	}
	r = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (r != BPF_FIB_LKUP_RET_SUCCESS && r != BPF_FIB_LKUP_RET_NO_NEIGH)
		return TC_ACT_OK;
	return (int)bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
}

/* The packet gets the addresses and ports of t, then is sent toward its new destination. */
static __always_inline int rewrite(struct __sk_buff *skb, const struct pkt *p, const struct kr_ct *t)
{
	__u32 saddr_off, daddr_off;

	if (p->k.family == AF_INET) {
		saddr_off = p->l3 + offsetof(struct iphdr, saddr);
		daddr_off = p->l3 + offsetof(struct iphdr, daddr);
	} else {
		saddr_off = p->l3 + offsetof(struct ipv6hdr, saddr);
		daddr_off = p->l3 + offsetof(struct ipv6hdr, daddr);
	}
	if (set_addr(skb, p, saddr_off, &p->k.src, &t->src) < 0 ||
	    set_addr(skb, p, daddr_off, &p->k.dst, &t->dst) < 0 ||
	    set_port(skb, p, p->l4, p->k.sport, t->sport) < 0 ||
	    set_port(skb, p, p->l4 + 2, p->k.dport, t->dport) < 0)
		return TC_ACT_SHOT;
	return send_toward(skb, p->k.family, p->k.proto, t);
}

/* The node's source address toward dst (the kernel's choice, as a masquerade's); -1: none. */
static __always_inline int node_addr_toward(struct __sk_buff *skb, const struct pkt *p,
					    const struct kr_addr *dst, struct kr_addr *ret)
{
	struct bpf_fib_lookup fib = {};
	long r;

	fib.family = p->k.family;
	fib.l4_protocol = p->k.proto;
	fib.ifindex = skb->ingress_ifindex;
	if (p->k.family == AF_INET) {
		__builtin_memcpy(&fib.ipv4_dst, dst->b, 4);
		__builtin_memcpy(&fib.ipv4_src, p->k.src.b, 4);
	} else {
		__builtin_memcpy(fib.ipv6_dst, dst->b, 16);
		__builtin_memcpy(fib.ipv6_src, p->k.src.b, 16);
	}
	r = bpf_fib_lookup(skb, &fib, sizeof(fib), BPF_FIB_LOOKUP_SRC | BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (r != BPF_FIB_LKUP_RET_SUCCESS && r != BPF_FIB_LKUP_RET_NO_NEIGH)
		return -1;
	__builtin_memset(ret, 0, sizeof(*ret));
	if (p->k.family == AF_INET)
		__builtin_memcpy(ret->b, &fib.ipv4_src, 4);
	else
		__builtin_memcpy(ret->b, fib.ipv6_src, 16);
	return 0;
}

/* The slot for a new flow: the client's under ClientIP affinity while fresh, else by the tuple's hash. */
static __always_inline const struct kr_backend *pick(const struct pkt *p, const struct kr_svc *svc,
						     __u32 *ret_slot)
{
	struct kr_slot_key sk = { .id = svc->id };
	struct kr_tc_aff_key ak = {};
	const struct kr_backend *be;
	struct kr_aff *aff, naff = {};
	__u64 now = 0;

	if (svc->flags & KR_SVC_AFFINITY) {
		ak.client = p->k.src;
		ak.id = svc->id;
		now = bpf_ktime_get_ns();
		aff = bpf_map_lookup_elem(&kr_tc_affinity, &ak);
		if (aff && now - aff->last_ns < (__u64)svc->affinity_s * 1000000000ULL &&
		    aff->slot < svc->count) {
			sk.slot = aff->slot;
			be = bpf_map_lookup_elem(&kr_slots, &sk);
			if (be && same_backend(be, &aff->be)) {
				aff->last_ns = now;
				*ret_slot = sk.slot;
				return be;
			}
		}
	}
	sk.slot = (__u32)(hash_tuple(&p->k) % svc->count);
	be = bpf_map_lookup_elem(&kr_slots, &sk);
	if (be && (svc->flags & KR_SVC_AFFINITY)) {
		naff.last_ns = now;
		naff.be = *be;
		naff.slot = sk.slot;
		bpf_map_update_elem(&kr_tc_affinity, &ak, &naff, BPF_ANY);
	}
	*ret_slot = sk.slot;
	return be;
}

/* A flow's forward entry still names the endpoint its slot holds. */
static __always_inline int still_valid(const struct kr_ct *f, const struct kr_svc *svc)
{
	struct kr_slot_key sk = { .id = f->id, .slot = f->slot };
	const struct kr_backend *be;
	const __u64 *x, *y;

	if (f->id != svc->id || f->slot >= svc->count)
		return 0;
	be = bpf_map_lookup_elem(&kr_slots, &sk);
	if (!be || be->port != f->dport)
		return 0;
	x = (const __u64 *)be->addr.b;
	y = (const __u64 *)f->dst.b;
	return x[0] == y[0] && x[1] == y[1];
}

static __always_inline __u16 csum_fold(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * Room for the ICMP messages this program writes and reads (a program's
 * stack is 512 bytes in all): one per CPU, as a tc program runs to its end
 * on one CPU.
 */
#define SCRATCH_CHUNK 512 /* bpf_csum_diff's most bytes at once before Linux 6.13 */
#define SCRATCH_LEN (3 * SCRATCH_CHUNK)

struct scratch {
	__u8 b[SCRATCH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} kr_tc_scratch SEC(".maps");

/*
 * The 32-bit one's complement sum of len bytes (len <= 2 * SCRATCH_CHUNK +
 * SCRATCH_CHUNK / 2) of the packet at off, added to seed; -1 on failure.
 */
static __always_inline __s64 csum_skb(struct __sk_buff *skb, __u32 off, __u32 len, __u32 seed)
{
	struct scratch *s;
	__u32 zero = 0, whole = len & ~3u, n, i;
	__u8 tail[4] = {};
	__s64 sum = seed;

	s = bpf_map_lookup_elem(&kr_tc_scratch, &zero);
	if (!s || len > SCRATCH_LEN - SCRATCH_CHUNK / 2 || !whole ||
	    bpf_skb_load_bytes(skb, off, s->b, len) < 0)
		return -1;
#pragma unroll
	for (i = 0; i < 3; i++) {
		if (whole <= i * SCRATCH_CHUNK)
			break;
		n = whole - i * SCRATCH_CHUNK;
		if (n > SCRATCH_CHUNK)
			n = SCRATCH_CHUNK;
		sum = bpf_csum_diff(NULL, 0, (__be32 *)(s->b + i * SCRATCH_CHUNK), n, (__u32)sum);
		if (sum < 0)
			return -1;
	}
	/* the last 1-3 bytes, padded with zeros (which add nothing) to a word */
	if (len & 3) {
		if (bpf_skb_load_bytes(skb, off + whole, tail, len & 3) < 0)
			return -1;
		sum = bpf_csum_diff(NULL, 0, (__be32 *)tail, 4, (__u32)sum);
	}
	return sum;
}

struct icmp_unreach {
	__u8 type, code;
	__u16 check;
	__u32 unused;
};

#define QUOTE_MIN (sizeof(struct iphdr) + 8)
#define QUOTE_MAX 128

/*
 * An ICMP error back to the sender of the packet at ETH_HLEN (its quote,
 * already cut): [room][eth][quote] -> [eth][ip][icmp][quote], the MAC
 * addresses swapped, sent out of the interface the packet came in on.
 */
static __always_inline int send_back(struct __sk_buff *skb, struct ethhdr *eth, const void *ip,
				     __u32 iplen, const struct icmp_unreach *icmp)
{
	__u8 mac[ETH_ALEN];

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);
	if (bpf_skb_change_head(skb, iplen + sizeof(*icmp), 0) < 0 ||
	    bpf_skb_store_bytes(skb, 0, eth, sizeof(*eth), 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN, ip, iplen, 0) < 0 ||
	    bpf_skb_store_bytes(skb, ETH_HLEN + iplen, icmp, sizeof(*icmp), 0) < 0)
		return TC_ACT_SHOT;
	return (int)bpf_redirect(skb->ifindex, 0);
}

/*
 * A refusal, as kube-proxy's REJECT: the packet becomes an ICMP port
 * unreachable to its sender (quoting its IP header and first 8 bytes, so
 * a TCP connect fails with ECONNREFUSED), sent back out of the interface it
 * came in on to the MAC address it came from.  A packet whose checksum is
 * still to be computed (CHECKSUM_PARTIAL: sent from a namespace of this
 * host over a veth) cannot be cut short of its L4 checksum field: then the
 * whole datagram is quoted (up to QUOTE_MAX bytes).  IPv4 without IP
 * options only; anything else is dropped.
 */
static __always_inline int reject(struct __sk_buff *skb, const struct pkt *p)
{
	struct icmp_unreach icmp = { .type = 3, .code = 3 }; /* destination / port unreachable */
	struct iphdr ip = {}, orig;
	struct ethhdr eth;
	__u32 qlen;
	__s64 sum;

	if (p->k.family != AF_INET || p->l4 != ETH_HLEN + sizeof(struct iphdr))
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &orig, sizeof(orig)) < 0)
		return TC_ACT_SHOT;
	qlen = bpf_ntohs(orig.tot_len);
	if (qlen < QUOTE_MIN || skb->len < ETH_HLEN + qlen)
		return TC_ACT_SHOT;
	if (!bpf_skb_change_tail(skb, ETH_HLEN + QUOTE_MIN, 0))
		qlen = QUOTE_MIN;
	else if (qlen > QUOTE_MAX || skb->len != ETH_HLEN + qlen)
		return TC_ACT_SHOT;
	ip.version = 4;
	ip.ihl = 5;
	ip.ttl = 64;
	ip.protocol = IPPROTO_ICMP;
	ip.tot_len = bpf_htons(sizeof(ip) + sizeof(icmp) + qlen);
	ip.saddr = orig.daddr;
	ip.daddr = orig.saddr;
	ip.check = csum_fold(bpf_csum_diff(NULL, 0, (__be32 *)&ip, sizeof(ip), 0));
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&icmp, sizeof(icmp), 0);
	sum = csum_skb(skb, ETH_HLEN, qlen, (__u32)sum);
	if (sum < 0)
		return TC_ACT_SHOT;
	icmp.check = csum_fold(sum);
	return send_back(skb, &eth, &ip, sizeof(ip), &icmp);
}

struct icmp6_pseudo {
	struct in6_addr src, dst;
	__be32 len;
	__u8 zero[3], next;
};

/* An ICMPv6 error (header, quote) may fill the minimum IPv6 MTU and no more (RFC 4443 2.4 c). */
#define REJECT6_QUOTE_MAX (1280 - sizeof(struct ipv6hdr) - sizeof(struct icmp_unreach))

/*
 * reject() for IPv6: an ICMPv6 destination unreachable, port unreachable
 * (type 1 code 4), as kube-proxy's REJECT sends, quoting as much of the
 * packet as fits in the minimum MTU, hop limit 64 (the kernel's default),
 * sent back out of the interface it came in on.  No error answers a
 * multicast or unspecified source (RFC 4443 2.4 e).
 */
static __always_inline int reject6(struct __sk_buff *skb)
{
	struct icmp_unreach icmp = { .type = 1, .code = 4 };
	struct icmp6_pseudo ph = {};
	struct ipv6hdr ip = {}, orig;
	struct ethhdr eth;
	__u32 qlen;
	__s64 sum;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0 ||
	    bpf_skb_load_bytes(skb, ETH_HLEN, &orig, sizeof(orig)) < 0)
		return TC_ACT_SHOT;
	if (orig.saddr.in6_u.u6_addr8[0] == 0xff ||
	    !(orig.saddr.in6_u.u6_addr32[0] | orig.saddr.in6_u.u6_addr32[1] |
	      orig.saddr.in6_u.u6_addr32[2] | orig.saddr.in6_u.u6_addr32[3]))
		return TC_ACT_SHOT;
	qlen = sizeof(orig) + bpf_ntohs(orig.payload_len);
	if (skb->len < ETH_HLEN + qlen)
		return TC_ACT_SHOT;
	if (qlen > REJECT6_QUOTE_MAX)
		qlen = REJECT6_QUOTE_MAX;
	/* cut to the quote (also what follows the datagram); cutting a datagram whose checksum
	 * is still to be computed short of its checksum field fails, but 1232 bytes hold it */
	if (skb->len != ETH_HLEN + qlen && bpf_skb_change_tail(skb, ETH_HLEN + qlen, 0) < 0)
		return TC_ACT_SHOT;
	ip.version = 6;
	ip.nexthdr = IPPROTO_ICMPV6;
	ip.hop_limit = 64;
	ip.payload_len = bpf_htons(sizeof(icmp) + qlen);
	ip.saddr = orig.daddr;
	ip.daddr = orig.saddr;
	ph.src = ip.saddr;
	ph.dst = ip.daddr;
	ph.len = bpf_htonl(sizeof(icmp) + qlen);
	ph.next = IPPROTO_ICMPV6;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&ph, sizeof(ph), 0);
	if (sum < 0)
		return TC_ACT_SHOT;
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&icmp, sizeof(icmp), (__u32)sum);
	if (sum < 0)
		return TC_ACT_SHOT;
	sum = csum_skb(skb, ETH_HLEN, qlen, (__u32)sum);
	if (sum < 0)
		return TC_ACT_SHOT;
	icmp.check = csum_fold(sum);
	return send_back(skb, &eth, &ip, sizeof(ip), &icmp);
}

/*
 * A new flow to svc: picks the endpoint, the source (SNAT) and its port,
 * and records both directions.  TC_ACT_* to return, or -1 on success with
 * the forward translation in *fwd.
 */
static __always_inline int new_flow(struct __sk_buff *skb, const struct pkt *p,
				    const struct kr_svc *svc, struct kr_ct *fwd)
{
	struct kr_ct_key rk = {};
	struct kr_ct rev = {};
	const struct kr_backend *be;
	__u64 now = bpf_ktime_get_ns();
	__u32 slot = 0;
	__u64 h;
	int i;

	if (svc->flags & KR_SVC_REJECT)
		return p->k.family == AF_INET6 ? reject6(skb) : reject(skb, p);
	if (svc->flags & KR_SVC_DROP || !svc->count)
		return TC_ACT_SHOT;
	be = pick(p, svc, &slot);
	if (!be)
		return TC_ACT_SHOT; /* a sync in progress: the client retransmits */
	__builtin_memset(fwd, 0, sizeof(*fwd));
	fwd->src = p->k.src;
	fwd->sport = p->k.sport;
	fwd->dst = be->addr;
	fwd->dport = be->port;
	fwd->id = svc->id;
	fwd->slot = slot;
	fwd->last_ns = now;
	if ((svc->flags & KR_SVC_SNAT) && node_addr_toward(skb, p, &be->addr, &fwd->src) < 0)
		return TC_ACT_SHOT;
	rk.src = fwd->dst;
	rk.dst = fwd->src;
	rk.sport = fwd->dport;
	rk.proto = p->k.proto;
	rk.family = p->k.family;
	rev.src = p->k.dst;
	rev.sport = p->k.dport;
	rev.dst = p->k.src;
	rev.dport = p->k.sport;
	rev.reply = 1;
	rev.last_ns = now;
	h = hash_tuple(&p->k);
#pragma unroll
	for (i = 0; i < SNAT_TRIES; i++) {
		if (i && !(svc->flags & KR_SVC_SNAT))
			break; /* the client's own address and port: nothing else to try */
		if (i)
			fwd->sport = bpf_htons((__u16)(SNAT_PORT_MIN + (mix64(h + i) % SNAT_PORT_SPAN)));
		rk.dport = fwd->sport;
		if (!bpf_map_update_elem(&kr_ct, &rk, &rev, BPF_NOEXIST))
			break;
		/* the same flow seen again (its forward entry lost): take its reply entry over */
		if (!(svc->flags & KR_SVC_SNAT)) {
			bpf_map_update_elem(&kr_ct, &rk, &rev, BPF_ANY);
			break;
		}
	}
	if (i == SNAT_TRIES)
		return TC_ACT_SHOT; /* every port tried is taken */
	bpf_map_update_elem(&kr_ct, &p->k, fwd, BPF_ANY);
	return -1;
}

#include "tc_icmp_related.h"

SEC("tc")
int kr_tc_ingress(struct __sk_buff *skb)
{
	struct kr_svc_key key = {};
	const struct kr_svc *svc;
	struct kr_ct *ct, fwd;
	struct pkt p = {};
	int r;

	if (parse(skb, &p) < 0)
		return icmp_related(skb);
	ct = bpf_map_lookup_elem(&kr_ct, &p.k);
	if (ct && ct->reply) {
		ct->last_ns = bpf_ktime_get_ns();
		fwd = *ct;
		return rewrite(skb, &p, &fwd);
	}
	key.addr = p.k.dst;
	key.port = p.k.dport;
	key.proto = p.k.proto;
	key.family = p.k.family;
	key.scope = KR_SCOPE_OUTSIDE;
	svc = bpf_map_lookup_elem(&kr_services, &key);
	if (!svc)
		return TC_ACT_OK;
	if (svc->flags & KR_SVC_RANGES) {
		struct kr_range_key rk = { .prefixlen = KR_RANGE_SVC_BITS + 128 };

		rk.svc = key;
		rk.src = p.k.src;
		if (!bpf_map_lookup_elem(&kr_src_ranges, &rk))
			return TC_ACT_SHOT; /* a source outside loadBalancerSourceRanges */
	}
	/*
	 * A SYN on a known flow too: it is most often the client's retransmission,
	 * which must keep the SNAT port the first one got.
	 */
	if (ct && still_valid(ct, svc)) {
		ct->last_ns = bpf_ktime_get_ns();
		fwd = *ct;
		return rewrite(skb, &p, &fwd);
	}
	r = new_flow(skb, &p, svc, &fwd);
	if (r >= 0)
		return r;
	return rewrite(skb, &p, &fwd);
}
