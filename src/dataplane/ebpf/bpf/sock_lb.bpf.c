/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Socket-level load balancing for the ebpf mode: cgroup v2 sock_addr hooks
 * translate a service address to an endpoint when a socket connects (TCP,
 * connected UDP) or sends a datagram with an address (unconnected UDP, every
 * datagram looked up again), so in-cluster traffic needs no per-packet NAT
 * and no conntrack entry.  recvmsg and getpeername translate back: a reply
 * appears to come from the service address.  A service without endpoints
 * refuses (ECONNREFUSED, as kube-proxy's REJECT); one flagged drop (a Local
 * policy without a local endpoint) keeps its address and a cgroup_skb egress
 * filter drops its packets, so the client times out as under kube-proxy.
 * Map layout: maps.h.  The userspace side (../plan.c) decides everything;
 * these programs only look up.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "maps.h"
#include "lb_common.h"

#define AF_INET 2
#define AF_INET6 10
#define ECONNREFUSED 111
#define SOCK_STREAM 1
#define SOCK_DGRAM 2
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, KR_MAX_AFFINITY);
	__type(key, struct kr_aff_key);
	__type(value, struct kr_aff);
} kr_affinity SEC(".maps");

#include "revnat_map.h" /* kr_revnat */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kr_state);
} kr_state SEC(".maps");

/*
 * The endpoint for a service: under ClientIP affinity the client's last one
 * while it is fresh and still in the same slot, else a slot picked by a hash
 * of the socket (so one unconnected UDP socket's datagrams stay on one
 * endpoint while the set stays; every TCP connect is a new socket).
 * NULL when the slot is missing (a sync in progress wrote the service first).
 */
static __always_inline const struct kr_backend *pick(void *ctx, __u64 cookie, const struct kr_svc *svc)
{
	struct kr_slot_key sk = { .id = svc->id };
	const struct kr_backend *be;
	struct kr_aff_key ak = {};
	struct kr_aff *aff = NULL, naff = {};
	__u64 now = 0;

	if (svc->flags & KR_SVC_AFFINITY) {
		ak.netns = bpf_get_netns_cookie(ctx);
		ak.id = svc->id;
		now = bpf_ktime_get_ns();
		aff = bpf_map_lookup_elem(&kr_affinity, &ak);
		if (aff && now - aff->last_ns < (__u64)svc->affinity_s * 1000000000ULL &&
		    aff->slot < svc->count) {
			sk.slot = aff->slot;
			be = bpf_map_lookup_elem(&kr_slots, &sk);
			if (be && same_backend(be, &aff->be)) {
				aff->last_ns = now;
				return be;
			}
		}
	}
	sk.slot = (__u32)(mix64(cookie ^ ((__u64)svc->id << 32)) % svc->count);
	be = bpf_map_lookup_elem(&kr_slots, &sk);
	if (be && (svc->flags & KR_SVC_AFFINITY)) {
		naff.last_ns = now;
		naff.be = *be;
		naff.slot = sk.slot;
		bpf_map_update_elem(&kr_affinity, &ak, &naff, BPF_ANY);
	}
	return be;
}

enum { XLATE_PASS, XLATE_DONE, XLATE_REFUSE };

/*
 * Looks the destination key up; on a forward service fills *be and records
 * the reverse translation for this socket.  A datagram (sendmsg) looks the
 * record up first: an unconnected socket's datagrams to one service mostly
 * find it already there, and a lookup costs less than an LRU update.
 */
static __always_inline int xlate(struct bpf_sock_addr *ctx, const struct kr_svc_key *key,
				 struct kr_backend *out, int datagram)
{
	const struct kr_svc *svc = bpf_map_lookup_elem(&kr_services, key);
	const struct kr_backend *be, *had;
	struct kr_revnat_key rk = {};
	struct kr_backend orig = {};
	__u64 cookie;

	if (!svc)
		return XLATE_PASS;
	if (svc->flags & KR_SVC_REJECT)
		return XLATE_REFUSE;
	if ((svc->flags & KR_SVC_DROP) || !svc->count)
		return XLATE_PASS; /* egress_drop drops its packets */
	cookie = bpf_get_socket_cookie(ctx);
	be = pick(ctx, cookie, svc);
	if (!be)
		return XLATE_PASS;
	*out = *be;
	rk.cookie = cookie;
	rk.be = *be;
	orig.addr = key->addr;
	orig.port = key->port;
	orig.family = key->family;
	if (datagram && (had = bpf_map_lookup_elem(&kr_revnat, &rk)) && same_backend(had, &orig))
		return XLATE_DONE;
	bpf_map_update_elem(&kr_revnat, &rk, &orig, BPF_ANY);
	return XLATE_DONE;
}

static __always_inline int proto_of(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		return IPPROTO_TCP;
	if (ctx->type == SOCK_DGRAM)
		return IPPROTO_UDP;
	return 0;
}

static __always_inline int fwd4(struct bpf_sock_addr *ctx, int datagram)
{
	struct kr_svc_key key = {};
	struct kr_backend be;
	int r;

	key.proto = proto_of(ctx);
	if (!key.proto)
		return 1;
	key.family = AF_INET;
	__builtin_memcpy(key.addr.b, &ctx->user_ip4, 4);
	key.port = (__u16)ctx->user_port;
	r = xlate(ctx, &key, &be, datagram);
	if (r == XLATE_REFUSE) {
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}
	if (r == XLATE_DONE) {
		__u32 a;

		__builtin_memcpy(&a, be.addr.b, 4);
		ctx->user_ip4 = a;
		ctx->user_port = be.port;
	}
	return 1;
}

static __always_inline int fwd6(struct bpf_sock_addr *ctx, int datagram)
{
	struct kr_svc_key key = {};
	struct kr_backend be;
	__u32 w[4];
	int r;

	key.proto = proto_of(ctx);
	if (!key.proto)
		return 1;
	key.family = AF_INET6;
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	__builtin_memcpy(key.addr.b, w, 16);
	key.port = (__u16)ctx->user_port;
	r = xlate(ctx, &key, &be, datagram);
	if (r == XLATE_REFUSE) {
		bpf_set_retval(-ECONNREFUSED);
		return 0;
	}
	if (r == XLATE_DONE) {
		__builtin_memcpy(w, be.addr.b, 16);
		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
		ctx->user_port = be.port;
	}
	return 1;
}

/* A reply's source (recvmsg) or a socket's peer (getpeername) back to the service's address. */
static __always_inline int rev4(struct bpf_sock_addr *ctx)
{
	struct kr_revnat_key rk = {};
	const struct kr_backend *orig;
	__u32 a = ctx->user_ip4;

	rk.cookie = bpf_get_socket_cookie(ctx);
	__builtin_memcpy(rk.be.addr.b, &a, 4);
	rk.be.port = (__u16)ctx->user_port;
	rk.be.family = AF_INET;
	orig = bpf_map_lookup_elem(&kr_revnat, &rk);
	if (orig) {
		__builtin_memcpy(&a, orig->addr.b, 4);
		ctx->user_ip4 = a;
		ctx->user_port = orig->port;
	}
	return 1;
}

static __always_inline int rev6(struct bpf_sock_addr *ctx)
{
	struct kr_revnat_key rk = {};
	const struct kr_backend *orig;
	__u32 w[4];

	rk.cookie = bpf_get_socket_cookie(ctx);
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	__builtin_memcpy(rk.be.addr.b, w, 16);
	rk.be.port = (__u16)ctx->user_port;
	rk.be.family = AF_INET6;
	orig = bpf_map_lookup_elem(&kr_revnat, &rk);
	if (orig) {
		__builtin_memcpy(w, orig->addr.b, 16);
		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
		ctx->user_port = orig->port;
	}
	return 1;
}

SEC("cgroup/connect4")
int kr_connect4(struct bpf_sock_addr *ctx) { return fwd4(ctx, 0); }
SEC("cgroup/sendmsg4")
int kr_sendmsg4(struct bpf_sock_addr *ctx) { return fwd4(ctx, 1); }
SEC("cgroup/recvmsg4")
int kr_recvmsg4(struct bpf_sock_addr *ctx) { return rev4(ctx); }
SEC("cgroup/getpeername4")
int kr_getpeername4(struct bpf_sock_addr *ctx) { return rev4(ctx); }
SEC("cgroup/connect6")
int kr_connect6(struct bpf_sock_addr *ctx) { return fwd6(ctx, 0); }
SEC("cgroup/sendmsg6")
int kr_sendmsg6(struct bpf_sock_addr *ctx) { return fwd6(ctx, 1); }
SEC("cgroup/recvmsg6")
int kr_recvmsg6(struct bpf_sock_addr *ctx) { return rev6(ctx); }
SEC("cgroup/getpeername6")
int kr_getpeername6(struct bpf_sock_addr *ctx) { return rev6(ctx); }

/*
 * Packets to a service flagged drop vanish (the client times out, as under
 * kube-proxy's DROP).  Costs one array lookup per packet while no service
 * is flagged.
 */
SEC("cgroup_skb/egress")
int kr_egress_drop(struct __sk_buff *skb)
{
	__u32 zero = 0;
	const struct kr_state *st = bpf_map_lookup_elem(&kr_state, &zero);
	struct kr_svc_key key = {};
	const struct kr_svc *svc;
	__u32 l4off;
	__u16 dport;

	if (!st || !st->drop_services)
		return 1;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) < 0)
			return 1;
		key.family = AF_INET;
		key.proto = ip.protocol;
		__builtin_memcpy(key.addr.b, &ip.daddr, 4);
		l4off = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)) < 0)
			return 1;
		key.family = AF_INET6;
		key.proto = ip6.nexthdr; /* extension headers: not looked through */
		__builtin_memcpy(key.addr.b, &ip6.daddr, 16);
		l4off = sizeof(ip6);
	} else {
		return 1;
	}
	if (key.proto != IPPROTO_TCP && key.proto != IPPROTO_UDP)
		return 1;
	/* the destination port is at offset 2 in both TCP and UDP headers */
	if (bpf_skb_load_bytes(skb, l4off + 2, &dport, sizeof(dport)) < 0)
		return 1;
	key.port = dport;
	svc = bpf_map_lookup_elem(&kr_services, &key);
	return svc && (svc->flags & KR_SVC_DROP) ? 0 : 1;
}
