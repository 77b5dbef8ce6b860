/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Aborts the connected UDP sockets whose endpoint a sync removed.  connect4/6
 * (sock_lb.bpf.c) translate a connected UDP socket once; when its endpoint
 * goes, the socket would keep sending to it.  After such a sync kroute puts
 * the removed endpoints into kr_gone and runs this iterator over the UDP
 * sockets of each network namespace whose processes the programs serve: a
 * socket connected to a gone endpoint, and translated from a service (its
 * cookie and peer are in kr_revnat), is aborted with bpf_sock_destroy()
 * (Linux 6.5+): the application's next call fails with ECONNABORTED, the
 * socket is disconnected, and connecting again is translated afresh.
 * Cilium does the same on such kernels.  TCP is left alone, as kube-proxy
 * leaves it: a removed (terminating) pod finishes its connections.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "maps.h"

#define AF_INET 2
#define AF_INET6 10
#define TCP_ESTABLISHED 1 /* a UDP socket's state once connected */

char LICENSE[] SEC("license") = "GPL";

/*
 * The kernel's types, only the fields read; libbpf finds each by name in the
 * running kernel's BTF (CO-RE), so no vmlinux.h is needed.
 */
struct kr_in6 {
	__u8 b[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be16 skc_dport;
	unsigned short skc_family;
	unsigned char skc_state;
	struct kr_in6 skc_v6_daddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct udp_sock;
struct bpf_iter_meta;

struct bpf_iter__udp {
	struct bpf_iter_meta *meta;
	struct udp_sock *udp_sk;
} __attribute__((preserve_access_index));

extern int bpf_sock_destroy(struct sock_common *sk) __ksym;

/* The endpoints the last sync removed (written by kroute before each run, emptied after). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KR_MAX_GONE);
	__type(key, struct kr_backend);
	__type(value, __u8);
} kr_gone SEC(".maps");

/* sock_lb.bpf.c's kr_revnat (the pinned one is reused): the sockets it translated. */
#include "revnat_map.h"

__u64 aborted = 0; /* sockets aborted, for the log */

SEC("iter/udp")
int kr_udp_abort(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;
	struct kr_revnat_key rk = {};
	unsigned short family;

	if (!sk || sk->__sk_common.skc_state != TCP_ESTABLISHED)
		return 0; /* not connected: sendmsg translates each datagram afresh */
	family = sk->__sk_common.skc_family;
	if (family == AF_INET) {
		__be32 a = sk->__sk_common.skc_daddr;

		__builtin_memcpy(rk.be.addr.b, &a, 4);
	} else if (family == AF_INET6) {
		bpf_probe_read_kernel(rk.be.addr.b, 16, &sk->__sk_common.skc_v6_daddr);
	} else {
		return 0;
	}
	rk.be.port = sk->__sk_common.skc_dport;
	rk.be.family = (__u8)family;
	if (!bpf_map_lookup_elem(&kr_gone, &rk.be))
		return 0;
	rk.cookie = bpf_get_socket_cookie(sk);
	if (!bpf_map_lookup_elem(&kr_revnat, &rk))
		return 0; /* connected to the pod directly, not through a service */
	if (!bpf_sock_destroy((struct sock_common *)sk))
		__sync_fetch_and_add(&aborted, 1);
	return 0;
}
