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
 *            (the kernel's choice, bpf_fib_lookup's BPF_FIB_LOOKUP_SRC) and
 *            a port of snat_port_min-snat_port_max (so the reply comes back
 *            through this node).  kroute sets that range outside the node's
 *            ephemeral ports (ip_local_port_range, ../snat_ports.c): a port of
 *            the node's own sockets may be a tuple the endpoint still holds
 *            in TIME_WAIT, which would answer the SYN with an ACK (the node
 *            resets it, the client's SYN comes again later);
 *   reply    the endpoint's packets of that flow, arriving on the interface
 *            toward the endpoint (a pod's veth, or the node's outside
 *            interface for an endpoint on another node), are translated
 *            back: source -> the service address, destination -> the client.
 *
 * kr_ct (LRU) holds both directions of every translated flow, so a flow's
 * later packets keep their endpoint (checked against its slot on every
 * packet: a removed endpoint's flow moves to a new one).  Entries time out
 * as conntrack's do (ct_timeout below; the state is tracked from the TCP
 * flags): a flow idle past its timeout is gone, its SNAT port free again.
 * A translated packet is sent out with bpf_redirect_neigh to the interface
 * the routing table gives for its new destination: handed to the kernel's
 * forwarding instead, a packet whose source is now one of the node's own
 * addresses would be dropped as a martian.
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
#define SNAT_TRIES 32 /* ports probed for a new flow before its packet is dropped */

/*
 * The SNAT ports, set by kroute before loading (../tc.c): above the node's
 * ephemeral range, 61000-65535 for the kernel's default 32768-60999.
 */
const volatile __u16 snat_port_min = 61000;
const volatile __u16 snat_port_max = 65535;

#define SEC_NS 1000000000ULL
/*
 * How long a flow lives idle, by state (kr_ct.state), as conntrack's
 * defaults where kube-proxy leaves them: UDP 30 s, 120 s once answered; TCP
 * established as kube-proxy sets it (24 h, --conntrack-tcp-timeout-
 * established), a SYN without an answer 60 s, half closed (one FIN) 120 s
 * (conntrack's FIN_WAIT), reset 10 s (its CLOSE).  Closed both ways: 10 s
 * when the client closed first; 60 s, Linux's TIME_WAIT, when the endpoint
 * did: it holds the tuple that long, and a new flow on the same SNAT port
 * would meet it (its SYN answered by an ACK, reset, sent again).
 */
#define CT_TCP_NEW_NS (60 * SEC_NS)
#define CT_TCP_ESTABLISHED_NS (86400 * SEC_NS)
#define CT_TCP_HALF_CLOSED_NS (120 * SEC_NS)
#define CT_TCP_CLOSED_NS (10 * SEC_NS)
#define CT_TCP_TIME_WAIT_NS (60 * SEC_NS)
#define CT_TCP_RST_NS (10 * SEC_NS)
#define CT_UDP_NS (30 * SEC_NS)
#define CT_UDP_REPLIED_NS (120 * SEC_NS)
/*
 * No free port among those tried: a flow the endpoint closed first, idle
 * this long, gives its port up before the packet is dropped (meeting the
 * endpoint's TIME_WAIT costs the client ~10 ms, a dropped SYN a second).
 */
#define CT_TCP_TIME_WAIT_REUSE_NS (10 * SEC_NS)
#define KR_CT_FIN_BOTH (KR_CT_FIN_CLIENT | KR_CT_FIN_ENDPOINT)

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

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
	__u8 tcp_flags;      /* TCP_*; 0 for UDP */
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
		if (bpf_skb_load_bytes(skb, p->l4 + 13, &p->tcp_flags, 1) < 0) /* after doff */
			return -1;
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

static __always_inline int same_addr(const struct kr_addr *a, const struct kr_addr *b)
{
	__u64 a0, a1, b0, b1;

	__builtin_memcpy(&a0, a->b, 8);
	__builtin_memcpy(&a1, a->b + 8, 8);
	__builtin_memcpy(&b0, b->b, 8);
	__builtin_memcpy(&b1, b->b + 8, 8);
	return a0 == b0 && a1 == b1;
}

static __always_inline __u64 ct_timeout(const struct kr_ct *c, __u8 proto)
{
	__u8 st = c->state;

	if (proto == IPPROTO_UDP)
		return st & KR_CT_REPLIED ? CT_UDP_REPLIED_NS : CT_UDP_NS;
	if (st & KR_CT_RST)
		return CT_TCP_RST_NS;
	if ((st & KR_CT_FIN_BOTH) == KR_CT_FIN_BOTH)
		return st & KR_CT_ENDPOINT_FIRST ? CT_TCP_TIME_WAIT_NS : CT_TCP_CLOSED_NS;
	if (st & KR_CT_FIN_BOTH)
		return CT_TCP_HALF_CLOSED_NS;
	return st & KR_CT_REPLIED ? CT_TCP_ESTABLISHED_NS : CT_TCP_NEW_NS;
}

/* c idle longer than t_ns, or, t_ns 0, than its state's timeout. */
static __always_inline int ct_expired(const struct kr_ct *c, __u8 proto, __u64 now, __u64 t_ns)
{
	if (!t_ns)
		t_ns = ct_timeout(c, proto);
	/* signed: another CPU may have stamped the entry a moment after now was read */
	return (__s64)(now - c->last_ns) > (__s64)t_ns;
}

/* The key of the other direction's entry of the flow whose entry c is at key k. */
static __always_inline void ct_peer_key(const struct kr_ct *c, const struct kr_ct_key *k,
					struct kr_ct_key *ret)
{
	__builtin_memset(ret, 0, sizeof(*ret));
	ret->src = c->dst;
	ret->dst = c->src;
	ret->sport = c->dport;
	ret->dport = c->sport;
	ret->proto = k->proto;
	ret->family = k->family;
}

/* peer is the other direction of the flow whose entry c is at key k (not a later flow's). */
static __always_inline int ct_pair(const struct kr_ct *peer, const struct kr_ct *c,
				   const struct kr_ct_key *k)
{
	return peer->reply != c->reply && same_addr(&peer->dst, &k->src) &&
	       peer->dport == k->sport && same_addr(&peer->src, &k->dst) && peer->sport == k->dport;
}

/* Both directions of the flow of entry c (at key k) idle longer than t_ns (0: their state's timeout). */
static __always_inline int ct_idle(const struct kr_ct *c, const struct kr_ct_key *k, __u64 now,
				   __u64 t_ns)
{
	const struct kr_ct *peer;
	struct kr_ct_key pk;

	if (!ct_expired(c, k->proto, now, t_ns))
		return 0;
	ct_peer_key(c, k, &pk);
	peer = bpf_map_lookup_elem(&kr_ct, &pk);
	return !(peer && ct_pair(peer, c, k) && !ct_expired(peer, k->proto, now, t_ns));
}

/* The flow of entry c (at key k) is alive: one of its directions was seen within its timeout. */
static __always_inline int ct_live(const struct kr_ct *c, const struct kr_ct_key *k, __u64 now)
{
	return !ct_idle(c, k, now, 0);
}

/*
 * A packet of the flow whose entry c is at the packet's key: the entry's
 * last use, and the flow's state (an answer, each side's FIN and which came
 * first, a RST; a client's SYN on a closed flow's tuple starts it afresh),
 * written into the other direction's entry too when it changes (a few times
 * a flow: the fast path stays one lookup).
 */
static __always_inline void ct_track(struct kr_ct *c, const struct pkt *p, __u64 now)
{
	const __u8 f = p->tcp_flags;
	struct kr_ct *peer;
	struct kr_ct_key pk;
	__u8 st = c->state;

	c->last_ns = now;
	if ((f & (TCP_SYN | TCP_ACK)) == TCP_SYN && !c->reply && (st & (KR_CT_FIN_BOTH | KR_CT_RST)))
		st = 0;
	if (c->reply)
		st |= KR_CT_REPLIED;
	if (f & TCP_RST)
		st |= KR_CT_RST;
	if ((f & TCP_FIN) && c->reply)
		st |= KR_CT_FIN_ENDPOINT | (st & KR_CT_FIN_CLIENT ? 0 : KR_CT_ENDPOINT_FIRST);
	else if (f & TCP_FIN)
		st |= KR_CT_FIN_CLIENT;
	if (st == c->state)
		return;
	c->state = st;
	ct_peer_key(c, &p->k, &pk);
	peer = bpf_map_lookup_elem(&kr_ct, &pk);
	if (peer && ct_pair(peer, c, &p->k))
		peer->state = st;
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
		/* clamped as 64 bits on the very register passed: Linux 6.1's verifier does not
		 * carry the break's bound through the subtraction, nor a 32-bit compare's */
		__u64 chunk = whole - i * SCRATCH_CHUNK;

		asm volatile("" : "+r"(chunk));
		if (chunk > SCRATCH_CHUNK)
			chunk = SCRATCH_CHUNK;
		sum = bpf_csum_diff(NULL, 0, (__be32 *)(s->b + i * SCRATCH_CHUNK), chunk, (__u32)sum);
		if (sum < 0)
			return -1;
	}
	/* the last 1-3 bytes, padded with zeros (which add nothing) to a word */
	if (len & 3) {
		/* 1-3 bytes, said as (0-2) + 1: Linux 6.1's verifier learns no lower bound
		 * from the test above and refuses a load that might be of 0 bytes */
		n = (len & 3) - 1;
		asm volatile("" : "+r"(n));
		n &= 3;
		if (bpf_skb_load_bytes(skb, off + whole, tail, n + 1) < 0)
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
 * The port at rk (its reply entry) for the new flow's rev: the forward entry
 * of the flow that held it, if still that flow's, goes with it (the new
 * flow's own is written after).  0, or -1.
 */
static __always_inline int take_port(struct kr_ct_key *rk, const struct kr_ct *rev)
{
	const struct kr_ct *old, *stale;
	struct kr_ct_key sk;

	old = bpf_map_lookup_elem(&kr_ct, rk);
	if (old) {
		ct_peer_key(old, rk, &sk);
		stale = bpf_map_lookup_elem(&kr_ct, &sk);
		if (stale && ct_pair(stale, old, rk))
			bpf_map_delete_elem(&kr_ct, &sk);
	}
	return bpf_map_update_elem(&kr_ct, rk, rev, BPF_ANY) ? -1 : 0;
}

/* snat_port()'s clock and the port it falls back to (0: none yet). */
struct snat_probe_state {
	__u64 now;
	__u16 fallback;
	__u8 pad[6];
};

/*
 * One port of snat_port()'s probe (rk->dport set): 0 taken, -1 failed, 1 held
 * by a live flow (st->fallback set to it if none was before and that flow is
 * one the endpoint closed first, idle long enough).  Inlined into the
 * bpf_loop() callback (snat_try), which the verifier checks once.  Not a
 * global function (its pointer arguments would be plain memory, which Linux
 * 6.1's verifier refuses as a map key), and not a call of its own from the
 * callback: 6.1 counts each frame rounded up to 32 bytes, and the program's
 * 416 + the callback's + a probe frame's 96 passed the 512-byte stack limit.
 */
static __always_inline int snat_probe(const struct pkt *p, const struct kr_ct *fwd,
					 struct kr_ct_key *rk, const struct kr_ct *rev,
					 struct snat_probe_state *st)
{
	const __u8 time_wait = KR_CT_FIN_BOTH | KR_CT_ENDPOINT_FIRST;
	const struct kr_ct *old;

	if (!p || !fwd || !rk || !rev || !st)
		return -1;
	if (!bpf_map_update_elem(&kr_ct, rk, rev, BPF_NOEXIST))
		return 0;
	old = bpf_map_lookup_elem(&kr_ct, rk);
	if (!old || ct_pair(old, fwd, &p->k) || !ct_live(old, rk, st->now))
		return take_port(rk, rev);
	if (!st->fallback && (old->state & time_wait) == time_wait &&
	    ct_idle(old, rk, st->now, CT_TCP_TIME_WAIT_REUSE_NS))
		st->fallback = rk->dport;
	return 1;
}

/*
 * The SNAT port of a new flow (fwd, its reply entry rev at rk: rk->dport set
 * here): the first of SNAT_TRIES ports from one the flow's hash picks whose
 * reply key is free, or held by a flow idle past its timeout (its entries
 * replaced), or by this very flow (seen again after its forward entry was
 * lost or expired); none: the first tried whose flow the endpoint closed
 * first and that has been idle CT_TCP_TIME_WAIT_REUSE_NS.  0, or -1: every
 * port tried is held by a live flow.
 */
/* What snat_try() needs: pointers into snat_port()'s caller's stack, and the probe's state. */
struct snat_loop {
	const struct pkt *p;
	const struct kr_ct *fwd;
	struct kr_ct_key *rk;
	const struct kr_ct *rev;
	struct snat_probe_state st;
	__u32 start, span;
	long r;
};

/*
 * One try of snat_port(), as a bpf_loop() callback: the verifier checks it
 * once, where a loop of SNAT_TRIES calls was checked per try and per path
 * into it (on Linux 6.1, 221,216 instructions processed for the program:
 * most of the first sync's load, bench/README.md).  1 stops the loop.
 */
static long snat_try(__u32 i, void *data)
{
	struct snat_loop *l = data;

	l->rk->dport = bpf_htons((__u16)(snat_port_min + (l->start + i) % l->span));
	l->r = snat_probe(l->p, l->fwd, l->rk, l->rev, &l->st);
	return l->r != 1;
}

static __always_inline int snat_port(const struct pkt *p, const struct kr_ct *fwd,
				     struct kr_ct_key *rk, const struct kr_ct *rev, __u64 now)
{
	__u32 span = (__u32)snat_port_max - snat_port_min + 1;
	struct snat_loop l = {
		.p = p, .fwd = fwd, .rk = rk, .rev = rev, .st = { .now = now }, .span = span, .r = 1,
		.start = (__u32)(mix64(hash_tuple(&p->k) ^ 0x5a5a5a5a5a5a5a5aULL) % span),
	};

	bpf_loop(SNAT_TRIES, snat_try, &l, 0);
	if (l.r != 1)
		return (int)l.r;
	if (!l.st.fallback)
		return -1;
	rk->dport = l.st.fallback;
	return take_port(rk, rev);
}

/*
 * A new flow to svc: picks the endpoint, the source (SNAT) and its port,
 * and records both directions.  TC_ACT_* to return, or -1 on success with
 * the forward translation in *fwd.
 */
static __always_inline int new_flow(struct __sk_buff *skb, const struct pkt *p,
				    const struct kr_svc *svc, struct kr_ct *fwd, __u64 now)
{
	struct kr_ct_key rk = {};
	struct kr_ct rev = {};
	const struct kr_backend *be;
	__u32 slot = 0;

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
	fwd->state = 0;
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
	if (!(svc->flags & KR_SVC_SNAT)) {
		/* the client's own address and port: no other flow's reply looks like this one's */
		rk.dport = fwd->sport;
		bpf_map_update_elem(&kr_ct, &rk, &rev, BPF_ANY);
	} else if (snat_port(p, fwd, &rk, &rev, now) < 0) {
		return TC_ACT_SHOT; /* every port tried is taken: the client retransmits */
	}
	fwd->sport = rk.dport;
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
	__u64 now;
	int r;

	if (parse(skb, &p) < 0)
		return icmp_related(skb);
	now = bpf_ktime_get_ns();
	ct = bpf_map_lookup_elem(&kr_ct, &p.k);
	if (ct && ct->reply) {
		/* a reply entry is its port's latest flow's: a new flow on the port replaces it */
		ct_track(ct, &p, now);
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
	 * which must keep the SNAT port the first one got.  A flow idle past its
	 * timeout is a new one (its SNAT port may be another flow's by now).
	 */
	if (ct && still_valid(ct, svc) && ct_live(ct, &p.k, now)) {
		ct_track(ct, &p, now);
		fwd = *ct;
		return rewrite(skb, &p, &fwd);
	}
	r = new_flow(skb, &p, svc, &fwd, now);
	if (r >= 0)
		return r;
	return rewrite(skb, &p, &fwd);
}
