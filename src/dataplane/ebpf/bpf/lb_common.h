/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What both BPF objects of the ebpf mode declare alike (included once by
 * sock_lb.bpf.c and tc_nat.bpf.c, after maps.h and libbpf's bpf_helpers.h):
 * the services and slots maps (each object declares them; the loader hands
 * the tc object the socket object's pinned ones) and the hashing helpers.
 */
#ifndef KROUTE_EBPF_LB_COMMON_H
#define KROUTE_EBPF_LB_COMMON_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KR_MAX_SERVICES);
	__type(key, struct kr_svc_key);
	__type(value, struct kr_svc);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} kr_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KR_MAX_SLOTS);
	__type(key, struct kr_slot_key);
	__type(value, struct kr_backend);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} kr_slots SEC(".maps");

/* splitmix64's finaliser: spreads a counter (a socket cookie) or a tuple's words over the slots. */
static __always_inline __u64 mix64(__u64 x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static __always_inline int same_backend(const struct kr_backend *a, const struct kr_backend *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	/* struct kr_backend is three 8-byte words (maps.h) */
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2];
}

#endif
