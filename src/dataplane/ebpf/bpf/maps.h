/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The layout of the ebpf mode's maps, shared by the BPF programs (clang
 * -target bpf) and the userspace planner and loader: only fixed-width types,
 * no padding the two compilers could lay out differently (every struct is
 * padded by hand to a multiple of 8).
 *
 *   kr_services   service address . port . protocol -> id, slot count, flags
 *   kr_slots      id . slot -> backend address . port
 *   kr_affinity   (LRU) client network namespace . id -> slot, backend, last use
 *   kr_revnat     (LRU) socket . backend -> the service address the socket asked for
 *   kr_state      one entry: how many services are flagged drop (the packet
 *                 filter looks at nothing while there are none)
 *   kr_gone       backend -> 1: the endpoints a sync removed, while
 *                 udp_abort.bpf.c aborts the UDP sockets connected to them
 *   kr_ct         (LRU, tc) a flow's 5-tuple, both ways -> how to rewrite it,
 *                 the flow's state and last use (entries time out)
 *   kr_tc_affinity (LRU, tc) client address . id -> slot, backend, last use
 *   kr_src_ranges (LPM, tc) service key . source prefix -> 1: the sources a
 *                 service flagged KR_SVC_RANGES accepts
 *
 * kr_services holds two scopes of entries (kr_svc_key.scope): what a socket
 * of this node may connect to (KR_SCOPE_SOCKET, the cgroup programs), and
 * what a packet from outside the node may be sent to (KR_SCOPE_OUTSIDE, the
 * tc program): NodePorts, LB and external IPs with the endpoint set and
 * action the view chose for external traffic.
 */
#ifndef KROUTE_EBPF_MAPS_H
#define KROUTE_EBPF_MAPS_H

#include <linux/types.h>

#define KR_MAX_SERVICES 65536
#define KR_MAX_SLOTS (1u << 21)
#define KR_MAX_AFFINITY 65536
#define KR_MAX_REVNAT 262144
#define KR_MAX_GONE 65536     /* endpoints removed by one sync (udp_abort.bpf.c's kr_gone) */

/* kr_svc.flags */
#define KR_SVC_REJECT 0x1u   /* no endpoint anywhere: connect()/sendmsg() fail with ECONNREFUSED */
#define KR_SVC_DROP 0x2u     /* none on this node under a Local policy: packets are dropped */
#define KR_SVC_AFFINITY 0x4u /* sessionAffinity ClientIP (timeout in affinity_s) */
#define KR_SVC_SNAT 0x8u     /* outside scope: the source becomes the node's address (ETP Cluster) */
#define KR_SVC_RANGES 0x10u  /* outside scope: only sources in kr_src_ranges (loadBalancerSourceRanges) */

/* An address as both families store it: IPv4 in the first 4 bytes, the rest 0. */
struct kr_addr {
	__u8 b[16];
};

struct kr_svc_key {
	struct kr_addr addr;
	__u16 port;   /* network byte order */
	__u8 proto;   /* IPPROTO_TCP, IPPROTO_UDP */
	__u8 family;  /* AF_INET, AF_INET6 */
	__u32 scope;  /* KR_SCOPE_* */
};

#define KR_SCOPE_SOCKET 0u  /* in-cluster sockets (cgroup programs) */
#define KR_SCOPE_OUTSIDE 1u /* packets from outside the node (tc program) */

struct kr_svc {
	__u32 id;         /* of the endpoint set: the key of its slots */
	__u32 count;      /* slots 0..count-1 (0 with REJECT or DROP) */
	__u32 flags;      /* KR_SVC_* */
	__u32 affinity_s; /* ClientIP affinity timeout, seconds */
};

struct kr_slot_key {
	__u32 id;
	__u32 slot;
};

struct kr_backend {
	struct kr_addr addr;
	__u16 port;   /* network byte order */
	__u8 family;
	__u8 pad[5];
};

struct kr_aff_key {
	__u64 netns;  /* the client's network namespace cookie: one pod or the node */
	__u32 id;
	__u32 pad;
};

struct kr_aff {
	__u64 last_ns;
	struct kr_backend be;
	__u32 slot;
	__u32 pad;
};

struct kr_revnat_key {
	__u64 cookie; /* the socket */
	struct kr_backend be;
};

struct kr_state {
	__u32 drop_services;
	__u32 pad;
};

/* kr_ct: one direction of a translated flow (tc); addresses as in kr_addr. */
struct kr_ct_key {
	struct kr_addr src, dst;
	__u16 sport, dport; /* network byte order */
	__u8 proto, family;
	__u8 pad[2];
};

struct kr_ct {
	struct kr_addr src, dst; /* what the packet's addresses become */
	__u16 sport, dport;
	__u8 reply;              /* 1: the endpoint's reply (translated back to the client) */
	__u8 state;              /* KR_CT_* bits: how long the flow lives idle (tc_nat.bpf.c) */
	__u8 pad[2];
	__u32 id, slot;          /* forward: the endpoint set and slot picked (checked per packet) */
	__u64 last_ns;           /* bpf_ktime_get_ns() of this direction's last packet */
};

/* kr_ct.state, the same in both directions of a flow: 0 (a SYN or a datagram not answered yet) or */
#define KR_CT_REPLIED 0x1u       /* the endpoint answered (TCP: established) */
#define KR_CT_FIN_CLIENT 0x2u    /* TCP: the client sent a FIN */
#define KR_CT_FIN_ENDPOINT 0x4u  /* TCP: the endpoint sent a FIN */
#define KR_CT_ENDPOINT_FIRST 0x8u /* TCP: the endpoint's FIN came first (it will hold TIME_WAIT) */
#define KR_CT_RST 0x10u          /* TCP: a RST either way */

struct kr_tc_aff_key {
	struct kr_addr client;
	__u32 id;
	__u32 pad;
};

/* kr_src_ranges: prefixlen counts the service key's bits (all of them) and the source prefix's. */
struct kr_range_key {
	__u32 prefixlen;
	struct kr_svc_key svc;
	struct kr_addr src;
};

#define KR_RANGE_SVC_BITS (8 * sizeof(struct kr_svc_key))
#define KR_MAX_RANGES 65536
#define KR_MAX_CT 262144
#define KR_MAX_TC_AFFINITY 65536

#endif
