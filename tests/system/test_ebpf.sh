#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The ebpf mode's own checks with real sockets, in a network namespace, a
# cgroup v2 group and a bpffs of the test's own (the host's cgroups and
# /sys/fs/bpf are never touched); two endpoints on the namespace's loopback,
# the clients started in the group:
#
#   1. the verifier accepts every program of the built object (bpftool prog
#      loadall), and kroute loads them itself;
#   2. without a cgroup v2 directory or a bpffs, or with a --tc-devices
#      interface that does not exist, kroute run says so, by flag, and pins
#      nothing;
#   3. TCP and UDP to the ClusterIP reach the endpoints, IPv4 and IPv6 (the
#      *6 programs); from outside the group nothing is translated;
#   4. one unconnected UDP socket (sendto per datagram): replies come from
#      the service address (recvmsg), and when its endpoint is replaced the
#      same socket's next datagrams reach the new one (no blackhole);
#   4b. connected UDP to a removed endpoint: held connected UDP sockets in
#      the node's namespace (IPv4 and IPv6) and in a pod's (another
#      namespace, in the same group) keep sending through the ClusterIP while their endpoint is
#      removed: each gets ECONNABORTED once (kroute aborts it: a BPF socket
#      iterator with bpf_sock_destroy), then connects again to the live
#      endpoint; a socket connected to the pod's address directly, and a
#      TCP connection through the ClusterIP to the removed endpoint, are
#      left alone (kube-proxy keeps TCP too: a terminating pod finishes
#      its connections);
#   5. drift: a services entry deleted by hand (the ClusterIP stops
#      answering) and a stranger's entry added: SIGHUP's full sync reads the
#      maps back and repairs exactly that;
#   6. after kroute exits the pinned programs keep translating; kroute
#      cleanup ($KROUTE_BPF_ROOT) unpins and detaches everything (the tc
#      program's links on the namespace's two interfaces too);
#   7. a failed sync keeps the maps: with a services map of 5 entries
#      ($KROUTE_EBPF_MAX_SERVICES), one more service (2 more entries) fails
#      the sync part-way; what it wrote is undone (the map holds exactly the
#      4 entries it held, which still answer), and once the service goes
#      the next sync succeeds;
#   8. the tc program's SNAT ports are above the namespace's ephemeral
#      ports (net.ipv4.ip_local_port_range, read at start): 61000-65535 for
#      the default, below them with a warning when too few are left above
#      (read back from the loaded program's .rodata).
#
# usage: test_ebpf.sh KROUTE KR-BACKEND KR-PROBE BPF-OBJECT   (root; exit 77 = skip otherwise)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE KR-BACKEND KR-PROBE BPF-OBJECT}")" && pwd)/$(basename "$1")
KR_BACKEND=${2:?}
KR_PROBE=${3:?}
OBJ=${4:?}
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krebpf-$$
TMP=$(mktemp -d)
CG=$TMP/cg/krebpf-$$
ROOT=$TMP/bpf/kroute
PIDS=()
KPID=""
cleanup() {
	local pid
	[ -n "$KPID" ] && st_stop "$KPID"
	st_stop "${PIDS[@]}"
	if [ -d "$CG" ]; then
		while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$CG/cgroup.procs"
		sleep 0.2
		rmdir "$CG"
	fi
	st_cgroup_bpffs_done
	ip netns del "$NS" 2>/dev/null
	ip netns del "$POD" 2>/dev/null
	rm -rf "$TMP"
}
st_init ebpf cleanup bpftool jq curl

st_cgroup_bpffs
mkdir -p "$TMP/m" "$TMP/not-cgroup"
mkdir "$CG" || die "mkdir $CG"
ip netns add "$NS" || die "ip netns add $NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add 10.0.0.1/32 dev lo
ip -n "$NS" addr add 10.0.0.2/32 dev lo
ip -n "$NS" addr add fd00::1/128 dev lo nodad
ip -n "$NS" addr add fd00::2/128 dev lo nodad
# a pod: a namespace of its own, behind a veth from the node's
POD=krebpfpod-$$
ip netns add "$POD" || die "ip netns add $POD"
ip -n "$NS" link add krpod0 type veth peer name eth0 netns "$POD" || die "veth"
ip -n "$NS" addr add 10.1.0.1/24 dev krpod0
ip -n "$NS" link set krpod0 up
ip -n "$POD" addr add 10.1.0.2/24 dev eth0
ip -n "$POD" link set eth0 up
ip -n "$POD" link set lo up
ip -n "$POD" route add default via 10.1.0.1
# two interfaces for the tc program (their traffic: tests/system/dataplane, test_ebpf_tc.sh)
ip -n "$NS" link add eth0 type veth peer name eth1
ip -n "$NS" link set eth0 up
ip -n "$NS" link set eth1 up

# in_cg CMD...: CMD in the namespace, its process in the test's group.
# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
in_cg() { sh -c 'echo $$ >"$0" && exec "$@"' "$CG/cgroup.procs" ip netns exec "$NS" "$@"; }
probe() { in_cg "$KR_PROBE" "$@" --timeout 500 </dev/null | sed -nE 's/^pod=([a-z]+) .*/\1/p;/^pod=/!p'; }
# in_pod_cg CMD...: CMD in the pod's namespace, its process in the test's group.
# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
in_pod_cg() { sh -c 'echo $$ >"$0" && exec "$@"' "$CG/cgroup.procs" ip netns exec "$POD" "$@"; }
# outcomes FILE: the pods that answered and the errors, in order, each run of one once
outcomes() { sed -nE 's/^pod=([a-z]+) .*/\1/p;/^pod=/!p' "$1" | uniq | tr '\n' ' '; }

# what is pinned on the test's bpffs (a new bpffs holds the kernel's maps.debug and progs.debug)
pinned() { find "$TMP/bpf" -mindepth 1 ! -name '*.debug' | wc -l; }

# ---- 1. the verifier ----
out=$(bpftool prog loadall "$OBJ" "$TMP/bpf/verifier" 2>&1) || echo "$out"
check "the verifier accepts every program" "$(find "$TMP/bpf/verifier" -mindepth 1 | wc -l)" 9
rm -rf "$TMP/bpf/verifier"

# ---- the cluster: web (TCP 80, UDP 53) with endpoint a ----
cat >"$TMP/m/svc.yaml" <<'Y'
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 10.0.0.1}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t}
spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080},
  {name: dns, port: 53, protocol: UDP, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: t}
spec: {clusterIP: "fd00:96::10", ipFamilies: [IPv6], ports: [{name: http, port: 80, protocol: TCP,
  targetPort: 8080}, {name: dns, port: 53, protocol: UDP, targetPort: 8080}]}
Y
# slice IP... (web's endpoints), slice6 IP... (web6's): the EndpointSlice replaced
write_slice() { # SERVICE FAMILY FILE IP...
	local eps="" ip
	for ip in "${@:4}"; do eps+="- {addresses: [\"$ip\"], conditions: {ready: true}, nodeName: n1}"$'\n'; done
	cat >"$TMP/slice.tmp" <<Y
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: t, labels: {kubernetes.io/service-name: $1}}
addressType: $2
ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 8080, protocol: UDP}]
endpoints:
$eps
Y
	mv "$TMP/slice.tmp" "$TMP/m/$3"
}
slice() { write_slice web IPv4 slice.yaml "$@"; }
slice6() { write_slice web6 IPv6 slice6.yaml "$@"; }
slice 10.0.0.1
slice6 fd00::1
for b in a:10.0.0.1 b:10.0.0.2 c:fd00::1 d:fd00::2; do
	ip netns exec "$NS" "$KR_BACKEND" --name "${b%%:*}" --bind "${b#*:}" --tcp 8080 --udp 8080 \
		>>"$TMP/backends.log" 2>&1 &
	PIDS+=($!)
done

# ---- 2. clear errors, nothing pinned ----
out=$(ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" --once \
	--bpf-root "$ROOT" --cgroup-root "$CG" --tc-devices eth0,nosuch 2>&1)
check "a --tc-devices interface that does not exist is an error" "$?" 1
check "the error names --tc-devices and the interface" \
	"$(grep -c -- "--tc-devices: no interface nosuch here" <<<"$out")" 1
check "nothing is pinned or attached after it" "$(pinned):$(bpftool cgroup show "$CG" | grep -c kr_)" 0:0
out=$(ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" --once \
	--bpf-root "$ROOT" --cgroup-root "$TMP/not-cgroup" 2>&1)
check "a directory that is not cgroup v2 is an error" "$?" 1
check "the error names --cgroup-root" \
	"$(grep -c -- "--cgroup-root $TMP/not-cgroup: not a cgroup v2 directory" <<<"$out")" 1
out=$(ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" --once \
	--bpf-root "$TMP/m/bpf" --cgroup-root "$CG" 2>&1)
check "a --bpf-root outside a bpffs is an error" \
	"$(grep -c -- "--bpf-root $TMP/m/bpf: $TMP/m is not a BPF filesystem" <<<"$out")" 1
check "nothing pinned after the failures" "$(pinned)" 0

# ---- 3. TCP and UDP through the ClusterIP ----
synced() { [ "$(grep -c "full sync:" "$TMP/kroute.log")" -ge "$1" ]; }
wait_for() { local i; for i in $(seq 100); do "$@" && return 0; sleep 0.1; done; return 1; }
ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" --bpf-root "$ROOT" \
	--cgroup-root "$CG" --min-sync-period 100ms --sync-period 1h >"$TMP/kroute.log" 2>&1 &
KPID=$!
wait_for synced 1 || die "kroute did not sync: $(cat "$TMP/kroute.log")"
check "the startup log says where the tc program for traffic from outside is" \
	"$(grep -c "traffic from outside the node to NodePorts, load-balancer and external IPs: a tc program at the ingress of every interface but lo" "$TMP/kroute.log")" 1
check "the tc program's links are pinned, one per interface but lo (eth0, eth1, krpod0)" \
	"$(find "$ROOT" -name 'link-tc-*' | wc -l)" 3
check "TCP to the ClusterIP from the group" "$(probe tcp 10.96.0.10 80 --count 3 | sort -u)" a
check "UDP (connected) to the ClusterIP from the group" "$(probe udp 10.96.0.10 53 --count 3 | sort -u)" a
check "TCP to the IPv6 ClusterIP from the group" "$(probe tcp fd00:96::10 80 --count 3 | sort -u)" c
check "UDP to the IPv6 ClusterIP from the group" "$(probe udp fd00:96::10 53 --count 3 | sort -u)" c
check "outside the group nothing is translated" \
	"$(ip netns exec "$NS" "$KR_PROBE" tcp 10.96.0.10 80 --timeout 500 </dev/null)" unreachable

# ---- 4. one unconnected UDP socket across an endpoint change ----
in_cg "$KR_PROBE" udp 10.96.0.10 53 --unconnected --count 40 --interval 100 --timeout 500 \
	</dev/null >"$TMP/udp.out" 2>&1 &
UPID=$!
sleep 1
slice 10.0.0.2
wait "$UPID"
outcomes=$(outcomes "$TMP/udp.out")
check "one unconnected socket: endpoint a, then (after the change) b, every datagram answered from the service address" \
	"$outcomes" "a b "

# ---- 4b. connected UDP sockets to a removed endpoint are aborted ----
partials() { grep -c "partial sync:" "$TMP/kroute.log"; }
n0=$(partials)
slice 10.0.0.1
wait_for eval '[ "$(partials)" -gt "$n0" ]' || die "the change to endpoint a did not sync"
in_cg "$KR_PROBE" udp 10.96.0.10 53 --keep --count 40 --interval 100 --timeout 500 \
	</dev/null >"$TMP/keep-node.out" 2>&1 &
K1=$!
in_pod_cg "$KR_PROBE" udp 10.96.0.10 53 --keep --count 40 --interval 100 --timeout 500 \
	</dev/null >"$TMP/keep-pod.out" 2>&1 &
K2=$!
in_cg "$KR_PROBE" udp fd00:96::10 53 --keep --count 40 --interval 100 --timeout 500 \
	</dev/null >"$TMP/keep-node6.out" 2>&1 &
K5=$!
in_pod_cg "$KR_PROBE" udp 10.0.0.1 8080 --keep --count 40 --interval 100 --timeout 500 \
	</dev/null >"$TMP/keep-direct.out" 2>&1 &
K3=$!
in_pod_cg "$KR_PROBE" tcp 10.96.0.10 80 --http --requests 40 --interval 100 --timeout 20000 \
	</dev/null >"$TMP/tcp-held.out" 2>&1 &
K4=$!
sleep 1.5
n0=$(partials)
slice 10.0.0.2
slice6 fd00::2
wait "$K1" "$K2" "$K3" "$K4" "$K5"
check "a connected UDP socket in the node's namespace: aborted when its endpoint goes, then connected to the live one" \
	"$(outcomes "$TMP/keep-node.out")" "a error ECONNABORTED b "
check "a connected UDP socket in a pod's namespace: aborted, then connected to the live one" \
	"$(outcomes "$TMP/keep-pod.out")" "a error ECONNABORTED b "
check "an IPv6 connected UDP socket: aborted when its endpoint goes, then connected to the live one" \
	"$(outcomes "$TMP/keep-node6.out")" "c error ECONNABORTED d "
check "every datagram of the three sockets but the aborted one answered" \
	"$(cat "$TMP/keep-node.out" "$TMP/keep-pod.out" "$TMP/keep-node6.out" | grep -c '^pod=')" 117
check "a UDP socket connected to the pod's address directly is left alone" \
	"$(outcomes "$TMP/keep-direct.out")" "a "
check "a TCP connection through the ClusterIP to the removed endpoint is left alone (40 requests)" \
	"$(outcomes "$TMP/tcp-held.out"):$(grep -c '^pod=a' "$TMP/tcp-held.out")" "a :40"
check "the log counts the three aborted sockets" \
	"$(sed -nE 's/.*ebpf: ([0-9]+) connected UDP sockets? to the [0-9]+ removed endpoints? aborted.*/\1/p' \
	"$TMP/kroute.log" | awk '{ n += $1 } END { print n }')" 3
check "the metric counts them" "$(ip netns exec "$NS" curl -s http://127.0.0.1:10249/metrics | \
	sed -n 's/^kroute_ebpf_udp_sockets_aborted_total //p')" 3

# ---- 5. drift repaired by a full sync ----
key="0a 60 00 0a 00 00 00 00 00 00 00 00 00 00 00 00 00 50 06 02 00 00 00 00"
stray="0a 60 00 63 00 00 00 00 00 00 00 00 00 00 00 00 00 50 06 02 00 00 00 00"
bpftool map delete pinned "$ROOT/kr_services" key hex $key || die "bpftool map delete"
bpftool map update pinned "$ROOT/kr_services" key hex $stray value hex 01 00 00 00 01 00 00 00 \
	00 00 00 00 00 00 00 00 || die "bpftool map update"
check "the entry deleted by hand: the ClusterIP is not translated" "$(probe tcp 10.96.0.10 80)" unreachable
kill -HUP "$KPID"
wait_for synced 2 || die "no full sync after SIGHUP"
check "after SIGHUP's full sync the ClusterIP answers again" "$(probe tcp 10.96.0.10 80 --count 3 | sort -u)" b
check "the stranger's entry is gone" \
	"$(bpftool map lookup pinned "$ROOT/kr_services" key hex $stray >/dev/null 2>&1 && echo present || echo gone)" gone

# ---- 6. exit, then cleanup ----
st_stop "$KPID"
KPID=""
check "kroute said its state stays" "$(grep -c 'rules stay in place' "$TMP/kroute.log")" 1
check "after kroute exits the pinned programs still translate" "$(probe tcp 10.96.0.10 80 --count 3 | sort -u)" b
out=$(KROUTE_BPF_ROOT=$ROOT ip netns exec "$NS" "$KROUTE" cleanup 2>&1)
check "kroute cleanup succeeds" "$?:$out" "0:"
check "nothing pinned after cleanup" "$(pinned)" 0
check "nothing attached to the group after cleanup" "$(bpftool cgroup show "$CG" | grep -c kr_)" 0
check "after cleanup the ClusterIP is not translated" "$(probe tcp 10.96.0.10 80)" unreachable

# ---- 7. a failed sync keeps the maps ----
n_entries() { bpftool -j map dump pinned "$ROOT/kr_services" | jq length; }
KROUTE_EBPF_MAX_SERVICES=5 ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" \
	--bpf-root "$ROOT" --cgroup-root "$CG" --min-sync-period 100ms --sync-period 1h \
	>"$TMP/kroute.log" 2>&1 &
KPID=$!
wait_for synced 1 || die "kroute did not sync: $(cat "$TMP/kroute.log")"
check "four entries (web's and web6's TCP and UDP ports) in a map of 5" "$(n_entries)" 4
cat >"$TMP/m/extra.yaml" <<'Y'
apiVersion: v1
kind: Service
metadata: {name: extra, namespace: t}
spec: {clusterIP: 10.96.0.20, ports: [{name: a, port: 81, protocol: TCP}, {name: b, port: 82, protocol: TCP}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: extra-1, namespace: t, labels: {kubernetes.io/service-name: extra}}
addressType: IPv4
ports: [{name: a, port: 8080, protocol: TCP}, {name: b, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.0.0.1], conditions: {ready: true}, nodeName: n1}
Y
failed() { grep -q "writing the services map: .*(the map is full); the changes of this sync were undone" "$TMP/kroute.log"; }
wait_for failed || echo "$(tail -5 "$TMP/kroute.log")"
check "the sync that does not fit fails and says it undid its writes" "$(failed && echo yes)" yes
check "the map holds exactly what it held before" "$(n_entries)" 4
check "the extra service's address is not in the map" \
	"$(bpftool map lookup pinned "$ROOT/kr_services" key hex 0a 60 00 14 00 00 00 00 00 00 00 00 00 00 00 00 00 51 06 02 00 00 00 00 >/dev/null 2>&1 && echo present || echo absent)" absent
check "web still answers" "$(probe tcp 10.96.0.10 80 --count 3 | sort -u)" b
rm "$TMP/m/extra.yaml"
kill -HUP "$KPID"
ok_again() { [ "$(grep -c "full sync:" "$TMP/kroute.log")" -ge 2 ] && [ "$(n_entries)" = 4 ]; }
wait_for ok_again
# (the removal and SIGHUP may make one full sync or two: the one after the failure is full too)
check "without the extra service the next full sync succeeds" "$(ok_again && echo yes)" yes
st_stop "$KPID"
KPID=""
KROUTE_BPF_ROOT=$ROOT ip netns exec "$NS" "$KROUTE" cleanup

# ---- 8. the SNAT ports follow the namespace's ephemeral range ----
snat_ports() { # the attached tc program's snat_port_min-snat_port_max, from its .rodata
	local link prog map
	link=$(find "$ROOT" -name 'link-tc-*' | head -1)
	prog=$(bpftool -j link show pinned "$link" | jq .prog_id)
	for map in $(bpftool -j prog show id "$prog" | jq '.map_ids[]'); do
		bpftool -j map dump id "$map" | jq -r '.[0].formatted.value[".rodata"]? // empty |
			map(to_entries[0]) | from_entries | "\(.snat_port_min)-\(.snat_port_max)"'
	done
}
once() { ip netns exec "$NS" "$KROUTE" run --mode ebpf --node n1 -f "$TMP/m" --once --bpf-root "$ROOT" \
	--cgroup-root "$CG" 2>&1; }
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="32768 60999" || die "sysctl"
out=$(once)
check "the kernel's default ephemeral ports: SNAT ports 61000-65535, no warning about them" \
	"$(snat_ports):$(grep -c "masqueraded with ports" <<<"$out")" 61000-65535:0
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="32768 65000" || die "sysctl"
out=$(once)
check "ephemeral ports up to 65000: SNAT ports 1024-32767 (below them)" "$(snat_ports)" 1024-32767
check "with a warning that says why" "$(grep -c "the node's ephemeral ports 32768-65000 leave fewer than 1024 ports above them; traffic from outside is masqueraded with ports 1024-32767" <<<"$out")" 1
KROUTE_BPF_ROOT=$ROOT ip netns exec "$NS" "$KROUTE" cleanup
st_finish
