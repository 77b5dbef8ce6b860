#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The ebpf mode on a kernel without bpf_sock_destroy (before Linux 6.5):
# Debian's 6.1 in the qemu guest of tests/ipvs (meson ebpf_old_kernel).  The
# socket programs load and translate; the UDP socket iterator that aborts
# connected sockets of removed endpoints cannot load, and the first sync
# says so (a warning naming what the kernel lacks) and succeeds.  In a
# namespace, a cgroup v2 mount and a bpffs of the test's own.
#
# usage: test_ebpf_old_kernel.sh KROUTE KR-BACKEND KR-PROBE
#        (root; exit 77 = skip, also on a kernel that has bpf_sock_destroy)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE KR-BACKEND KR-PROBE}")" && pwd)/$(basename "$1")
KR_BACKEND=${2:?}
KR_PROBE=${3:?}
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krebpfold-$$
TMP=$(mktemp -d)
CG=$TMP/cg/krebpfold
PIDS=()
cleanup() {
	st_stop "${PIDS[@]}"
	[ -d "$CG" ] && rmdir "$CG"
	st_cgroup_bpffs_done
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
st_init ebpf_old_kernel cleanup
if grep -qw bpf_sock_destroy /proc/kallsyms; then
	echo "skip: this kernel ($(uname -r)) has bpf_sock_destroy (test_ebpf.sh covers it)"
	exit "$ST_SKIP"
fi
st_cgroup_bpffs
mkdir -p "$TMP/m"
mkdir "$CG" || die "mkdir $CG"
ip netns add "$NS" || die "ip netns add $NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.0.0.1/32 dev lo
cat >"$TMP/m/dns.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: t}
spec: {clusterIP: 10.96.0.10, ports: [{name: dns, port: 53, protocol: UDP, targetPort: 8080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: dns-1, namespace: t, labels: {kubernetes.io/service-name: dns}}
addressType: IPv4
ports: [{name: dns, port: 8080, protocol: UDP}]
endpoints:
- {addresses: [10.0.0.1], conditions: {ready: true}, nodeName: n1}
Y
ip netns exec "$NS" "$KR_BACKEND" --name a --bind 10.0.0.1 --udp 8080 >/dev/null 2>&1 &
PIDS+=($!)

ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" --once \
	--bpf-root "$TMP/bpf/kroute" --cgroup-root "$CG" >"$TMP/kroute.log" 2>&1
check "kernel $(uname -r): the sync succeeds without the iterator" "$?" 0
check "the first sync warns that connected UDP sockets of removed endpoints are not aborted" \
	"$(grep -c "ebpf: cannot load the UDP socket iterator (.*): this kernel cannot abort sockets from BPF (bpf_sock_destroy and iter/udp: Linux 6.5 or later)" "$TMP/kroute.log")" 1
# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
got=$(sh -c 'echo $$ >"$0" && exec "$@"' "$CG/cgroup.procs" ip netns exec "$NS" "$KR_PROBE" udp \
	10.96.0.10 53 --count 3 --timeout 2000 </dev/null | sed -nE 's/^pod=([a-z]+) .*/\1/p;/^pod=/!p' | sort -u)
check "the socket programs still translate (UDP to the ClusterIP from the group)" "$got" a
KROUTE_BPF_ROOT=$TMP/bpf/kroute ip netns exec "$NS" "$KROUTE" cleanup
check "kroute cleanup leaves nothing pinned" "$(find "$TMP/bpf" -mindepth 1 ! -name '*.debug' | wc -l)" 0
[ "$fail" = 0 ] || cat "$TMP/kroute.log"
st_finish
