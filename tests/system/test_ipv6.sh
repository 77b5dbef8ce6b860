#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# IPv6 through a kroute data plane (iptables: ip6tables-restore; userspace:
# the proxy on IPv6 sockets; ebpf: the socket programs, in a cgroup of the
# node's, and the tc program for the external client), with real packets:
# one node namespace routing for three pod namespaces (veths; two serve,
# one is only a client) and an external client (a veth), kroute running in
# the node namespace.  The
# scenarios are the table dataplane/ipv6.table, run by the same engine and
# mode files as test_dataplane.sh (dataplane/README.md); this script is its
# front end: the network, the EndpointSlices, and the checks that are not
# one probe (several UDP clients at once, what kroute logged, a deleted
# jump that a full sync restores).  The table checks, for TCP and for UDP,
# ClusterIP from a pod and from the node, NodePort from outside with
# masquerade (externalTrafficPolicy Cluster) and with the client address
# kept (Local), REJECT for a service without endpoints (from outside too),
# an endpoint's ICMPv6 error reaching the external client, and an endpoint change
# while kroute runs; for UDP also that a flow (the same source port) reaches
# the new endpoint after a change, and a service that had none once it gets
# one; then that `kroute cleanup` leaves nothing behind.
#
# Never touches the host: every address, route and rule lives in namespaces
# this script creates and deletes on every exit path.
#
# usage: test_ipv6.sh MODE KROUTE KR-BACKEND KR-PROBE   (root; exits 77 = skip otherwise)
set -u
: "${KC_SKIP_RC:=77}"
D=$(cd "$(dirname "$0")" && pwd)/dataplane
# lib.sh for kc_wait_for and the skip helpers only: this test builds its own network.
. "$D/../../cluster/lib.sh"
. "$D/engine.sh"
dp_begin "$@" -- ip ip6tables-save ip6tables-restore
TABLE=${IPV6_TABLE:-$D/ipv6.table}

P=kr6-$$
# pod1 and pod2 run kr-backend; pod3 is only a client (of UDP flows that outlive an endpoint change).
NODE=$P-node POD1=$P-pod1 POD2=$P-pod2 POD3=$P-pod3 CLI=$P-client
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	local p n h
	for p in "${PIDS[@]}" "${KPID[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}" "${KPID[@]}"; do wait "$p" 2>/dev/null; done
	for h in "${KC_TEARDOWN_HOOKS[@]}"; do eval "$h"; done # the ebpf mode's bpffs
	for n in "$NODE" "$POD1" "$POD2" "$POD3" "$CLI"; do ip netns del "$n" 2>/dev/null; done
	kc__cgroup_teardown
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# in_cgroup CMD...: CMD in the node's cgroup, once there is one (below).
in_cgroup() {
	# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
	if [ -n "$KC_CGROUP_DIR" ]; then
		sh -c 'echo $$ >"$0" && exec "$@"' "$KC_CGROUP_DIR/node-1/cgroup.procs" "$@"
	else
		"$@"
	fi
}
# nx NS CMD...: CMD in NS (and in the node's cgroup, but for the external client).
nx() {
	local ns=$1
	shift
	if [ "$ns" = "$CLI" ]; then ip netns exec "$ns" "$@"; else in_cgroup ip netns exec "$ns" "$@"; fi
}
die() { echo "test_ipv6.sh: $*" >&2; exit 1; }

# ---- the network ----
# The ebpf mode's socket programs see the processes of one cgroup
# (mode-ebpf.sh sets KC_CGROUPS=1): the node's and its pods' processes run in
# a group of the test's own, as in lib.sh's cluster; the client's do not.
if [ "$KC_CGROUPS" = 1 ]; then
	KC_RUNDIR=$TMP KC_PREFIX=$P- KC_NODES=(node-1)
	kc__cgroup_setup || die "cannot make the node's cgroup"
fi
for n in "$NODE" "$POD1" "$POD2" "$POD3" "$CLI"; do
	ip netns add "$n" || die "ip netns add $n"
	nx "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$n" link set lo up
done
nx "$NODE" sysctl -qw net.ipv6.conf.all.forwarding=1
# Routed pods, as the IPv4 test cluster has them: a veth each, a /128 route on the node,
# and the node's side of every veth answering as the pod's gateway fe80::1.
i=0
for pod in "$POD1" "$POD2" "$POD3"; do
	i=$((i + 1))
	ip -n "$NODE" link add "v$i" type veth peer name eth0 netns "$pod"
	ip -n "$NODE" addr add fe80::1/64 dev "v$i" nodad
	ip -n "$NODE" link set "v$i" up
	ip -n "$pod" addr add "fd00:244:1::${i}0/64" dev eth0 nodad
	ip -n "$pod" link set eth0 up
	ip -n "$pod" -6 route del fd00:244:1::/64 dev eth0
	ip -n "$pod" -6 route add default via fe80::1 dev eth0
	ip -n "$NODE" -6 route add "fd00:244:1::${i}0/128" dev "v$i"
done
ip -n "$NODE" link add eth0 type veth peer name eth0 netns "$CLI"
ip -n "$NODE" addr add fd00:192::2/64 dev eth0 nodad
ip -n "$NODE" link set eth0 up
ip -n "$CLI" addr add fd00:192::100/64 dev eth0 nodad
# More external clients for the UDP checks, one address each; deprecated, so that
# the client's own source address stays fd00:192::100 (they are used with --src).
for a in 101 102 103; do ip -n "$CLI" addr add "fd00:192::$a/64" dev eth0 nodad preferred_lft 0; done
ip -n "$CLI" link set eth0 up
ip -n "$CLI" -6 route add default via fd00:192::2
# Service addresses need a route on the node, as on a real node (routing comes before NAT output).
ip -n "$NODE" -6 route add fd00:96::/112 dev eth0

for pod in 1 2; do
	ns=$P-pod$pod
	# Not through nx: `ip netns exec` execs, so $! is the program itself and kill reaches it.
	ip netns exec "$ns" "$KR_BACKEND" --name "pod$pod" --tcp 8080 --udp 8080 --ready-file "$TMP/ready$pod" \
		</dev/null >"$TMP/backend$pod.log" 2>&1 &
	PIDS+=($!)
done
for pod in 1 2; do
	for _ in $(seq 200); do [ -s "$TMP/ready$pod" ] && break; sleep 0.02; done
	[ -s "$TMP/ready$pod" ] || die "kr-backend in pod$pod did not start: $(cat "$TMP/backend$pod.log")"
done

# ---- what the engine asks of a front end ----
declare -A NS=([node-1]=$NODE [pod1]=$POD1 [pod2]=$POD2 [pod3]=$POD3 [client]=$CLI)
declare -A IP=([node-1]=fd00:192::2 [pod1]=fd00:244:1::10 [pod2]=fd00:244:1::20 [pod3]=fd00:244:1::30
	[client]=fd00:192::100)
dp_ns() { [ -n "${NS[${1:-}]-}" ] && echo "${NS[$1]}"; }
dp_ip() { [ -n "${IP[${1:-}]-}" ] && echo "${IP[$1]}"; }
# The external client reaches the node directly; no row routes a VIP through it.
dp_route() { bad "no VIP routes in this network"; }
dp_unroute() { :; }
dp_exec_wrap() {
	if [ "$1" = client ]; then shift; "$@"; else shift; in_cgroup "$@"; fi
}
M=$TMP/m
DP_DIR=$TMP
DP_NODES=(node-1)
DP_RUN_FLAGS=(--cluster-cidr fd00:244::/32 --min-sync-period 100ms)
# Every kind of state either mode installs, in either family, whatever the mode.
DP_LEFTOVERS=ipv6_leftovers
ipv6_leftovers() {
	{
		mode_leftovers "$1"
		echo "$(dp_exec "$1" ip6tables-save | grep -c 'KUBE-') KUBE- chains in ip6tables"
		echo "$(dp_exec "$1" ip -br link show kroute0 2>/dev/null | wc -l) kroute0 interface"
		echo "$(dp_exec "$1" nft list tables 2>/dev/null | grep -c kroute_userspace) nft table"
		echo "$(dp_exec "$1" ss -Hltn | wc -l) listener"
		echo "$(dp_exec "$1" ss -Haun | wc -l) UDP socket"
	} | awk '!seen[substr($0, index($0, " "))]++'
}

# endpoints SERVICE POD: the service's slice, both ports (TCP http, UDP dns).
step_endpoints() {
	cat >"$M/.$1.tmp" <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: t, labels: {kubernetes.io/service-name: $1}}
addressType: IPv6
ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 8080, protocol: UDP}]
endpoints:
- {addresses: ["$(dp_ip "$2")"], conditions: {ready: true}, nodeName: node-1}
YAML
	mv "$M/.$1.tmp" "$M/endpointslice-$1.yaml"
}

uprobe() { nx "$1" "$KR_PROBE" udp "$2" "$3" --timeout 1000 "${@:4}"; } # NS IP PORT [kr-probe options]: every line
pod_of() { sed -n 's/^pod=\([^ ]*\) .*/\1/p' <<<"$1"; }
# udp_clients NS IP PORT SRC... [-- NS SRC...]: one client per source [IP]:PORT
# (in the namespace named before it), all at once, 5 datagrams each; prints how
# many replies name their own client as the sender.
udp_clients() {
	local ns=$1 ip=$2 port=$3 k=0 pids=()
	shift 3
	while [ $# -gt 0 ]; do
		[ "$1" = -- ] && { ns=$2; shift 2; continue; }
		k=$((k + 1))
		uprobe "$ns" "$ip" "$port" --src "$1" --count 5 --interval 20 >"$TMP/udp-client$k" &
		pids+=($!)
		echo "$1" >"$TMP/udp-src$k"
		shift
	done
	wait "${pids[@]}"
	for ((; k > 0; k--)); do
		grep -cF " client=$(cat "$TMP/udp-src$k") " "$TMP/udp-client$k"
	done | awk '{n += $1} END {print n + 0}'
}

check_udp_clients_at_once() {
	check "UDP: 4 pod clients (2 pods) at once, 5 datagrams each: every reply names and reaches its sender" \
		"$(udp_clients "$POD2" fd00:96::10 53 "[fd00:244:1::20]:40001" "[fd00:244:1::20]:40002" \
			-- "$POD3" "[fd00:244:1::30]:40001" "[fd00:244:1::30]:40002")" 20
	check "UDP: 4 external clients at once via the NodePort (eTP Local): every reply names and reaches its sender" \
		"$(udp_clients "$CLI" fd00:192::2 30054 "[fd00:192::100]:40001" "[fd00:192::101]:40002" \
			"[fd00:192::102]:40003" "[fd00:192::103]:40004")" 20
}

check_syncs_partial_and_clean() {
	check "the change was a partial sync" "$(grep -c 'partial sync:' "$TMP/kroute-node-1.log" | awk '{print ($1 > 0)}')" 1
	check "no sync failed" "$(grep -c 'sync failed' "$TMP/kroute-node-1.log")" 0
}

# kube-chains: a jump someone deleted comes back with the next full sync (SIGHUP asks for one).
check_lost_jump_restored() {
	local n_full
	nx "$NODE" ip6tables -t nat -D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	check "without the PREROUTING jump the ClusterIP does not answer" \
		"$(pod_of "$(nx "$POD1" "$KR_PROBE" tcp fd00:96::10 80 --timeout 1500 | head -n1)")" ""
	n_full=$(n_synced node-1)
	kill -HUP "${KPID[node-1]}"
	kc_wait_for -t 5 synced_more node-1 "$n_full"
	check "after SIGHUP's full sync the jump is back and the ClusterIP answers" \
		"$(pod_of "$(nx "$POD1" "$KR_PROBE" tcp fd00:96::10 80 --timeout 1500 | head -n1)")" pod2
}

# ---- the cluster ----
mkdir -p "$M"
cat >"$M/node.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDRs: ["fd00:244:1::/64"]}
status: {addresses: [{type: InternalIP, address: "fd00:192::2"}]}
YAML
run_table
dp_report "$MODE IPv6"
