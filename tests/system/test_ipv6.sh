#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# IPv6 through a kroute data plane (iptables: ip6tables-restore; userspace:
# the proxy on IPv6 sockets), with real packets: one node namespace routing
# for three pod namespaces (veths; two serve, one is only a client) and an
# external client (a veth), kroute running in the node namespace.
# Checks, for TCP and for UDP, ClusterIP from a pod and from the node,
# NodePort from outside with masquerade (externalTrafficPolicy Cluster) and
# with the client address kept (Local), REJECT for a service without
# endpoints and an endpoint change while kroute runs; for UDP also that
# several clients at once each get their own replies, and that a flow (the
# same source port) reaches the new endpoint after a change, and a service
# that had none once it gets one; then that `kroute cleanup` leaves nothing
# behind.
#
# Never touches the host: every address, route and rule lives in namespaces
# this script creates and deletes on every exit path.
#
# usage: test_ipv6.sh MODE KROUTE KR-BACKEND KR-PROBE   (root; exits 77 = skip otherwise)
set -u
SKIP=${KC_SKIP_RC:-77}
MODE=${1:?usage: $0 MODE KROUTE KR-BACKEND KR-PROBE}
KROUTE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
BACKEND=$3
PROBE=$4
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit "$SKIP"; }
for c in ip ip6tables-save ip6tables-restore; do
	command -v "$c" >/dev/null || { echo "skip: no $c"; exit "$SKIP"; }
done

P=kr6-$$
# pod1 and pod2 run kr-backend; pod3 is only a client (of UDP flows that outlive an endpoint change).
NODE=$P-node POD1=$P-pod1 POD2=$P-pod2 POD3=$P-pod3 CLI=$P-client
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	local p n
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for n in "$NODE" "$POD1" "$POD2" "$POD3" "$CLI"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pass=0
fail=0
check() { if [ "$2" = "$3" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1: got '$2', want '$3'"; fi; }
nx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
die() { echo "test_ipv6.sh: $*" >&2; exit 1; }

# ---- the network ----
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
	ip netns exec "$ns" "$BACKEND" --name "pod$pod" --tcp 8080 --udp 8080 --ready-file "$TMP/ready$pod" \
		</dev/null >"$TMP/backend$pod.log" 2>&1 &
	PIDS+=($!)
done
for pod in 1 2; do
	for _ in $(seq 200); do [ -s "$TMP/ready$pod" ] && break; sleep 0.02; done
	[ -s "$TMP/ready$pod" ] || die "kr-backend in pod$pod did not start: $(cat "$TMP/backend$pod.log")"
done

# ---- the cluster ----
M=$TMP/m
mkdir -p "$M"
cat >"$M/node.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDRs: ["fd00:244:1::/64"]}
status: {addresses: [{type: InternalIP, address: "fd00:192::2"}]}
YAML
cat >"$M/services.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web6, namespace: t}
spec:
  type: NodePort
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::10"
  clusterIPs: ["fd00:96::10"]
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080}
  - {name: dns, protocol: UDP, port: 53, targetPort: 8080, nodePort: 30053}
---
apiVersion: v1
kind: Service
metadata: {name: web6-local, namespace: t}
spec:
  type: NodePort
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::12"
  clusterIPs: ["fd00:96::12"]
  externalTrafficPolicy: Local
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30081}
  - {name: dns, protocol: UDP, port: 53, targetPort: 8080, nodePort: 30054}
---
apiVersion: v1
kind: Service
metadata: {name: empty6, namespace: t}
spec:
  ipFamilies: [IPv6]
  clusterIP: "fd00:96::11"
  clusterIPs: ["fd00:96::11"]
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: dns, protocol: UDP, port: 53, targetPort: 8080}
YAML
slice() { # SERVICE ENDPOINT: its slice, both ports (TCP http, UDP dns)
	cat <<YAML
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: t, labels: {kubernetes.io/service-name: $1}}
addressType: IPv6
ports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 8080, protocol: UDP}]
endpoints:
- {addresses: ["$2"], conditions: {ready: true}, nodeName: node-1}
YAML
}
slices() { # endpoint of web6 -> both slices
	slice web6 "$1"
	echo ---
	slice web6-local fd00:244:1::10
}
slices fd00:244:1::10 >"$M/slices.yaml"

ip netns exec "$NODE" "$KROUTE" run --mode "$MODE" --node node-1 -f "$M" --cluster-cidr fd00:244::/32 \
	--min-sync-period 100ms >"$TMP/kroute.log" 2>&1 &
KPID=$!
PIDS+=("$KPID")
for _ in $(seq 300); do grep -q "full sync:" "$TMP/kroute.log" && break; sleep 0.05; done
grep -q "full sync:" "$TMP/kroute.log" || die "kroute did not sync: $(cat "$TMP/kroute.log")"

probe() { nx "$1" "$PROBE" tcp "$2" "$3" --timeout 1500 | head -n1; }
uprobe() { nx "$1" "$PROBE" udp "$2" "$3" --timeout 1000 "${@:4}"; } # NS IP PORT [kr-probe options]: every line
pod_of() { sed -n 's/^pod=\([^ ]*\) .*/\1/p' <<<"$1"; }
client_of() { sed -n 's/.* client=\[\{0,1\}\([^]]*\)\]\{0,1\}:[0-9]* .*/\1/p' <<<"$1"; }
peer_of() { sed -n 's/.* client=\([^ ]*\) .*/\1/p' <<<"$1"; } # with the port: [IP]:PORT
# until_pod WANT CMD...: runs the probe CMD every 0.1 s until pod WANT answers,
# for 5 to 6 s at most (however long each probe takes); prints the last answer.
until_pod() {
	local want=$1 got="" end=$((SECONDS + 6))
	shift
	while :; do
		got=$("$@" | head -n1)
		[ "$(pod_of "$got")" = "$want" ] && break
		[ "$SECONDS" -lt "$end" ] || break
		sleep 0.1
	done
	echo "$got"
}
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

r=$(probe "$POD2" fd00:96::10 80)
check "pod to an IPv6 ClusterIP reaches the endpoint" "$(pod_of "$r")" pod1
check "the pod's source address is kept" "$(client_of "$r")" fd00:244:1::20
r=$(probe "$NODE" fd00:96::10 80)
check "the node itself reaches the IPv6 ClusterIP" "$(pod_of "$r")" pod1
r=$(probe "$CLI" fd00:192::2 30080)
check "external client via the NodePort (eTP Cluster)" "$(pod_of "$r")" pod1
check "... is masqueraded to the node address" "$(client_of "$r")" fd00:192::2
r=$(probe "$CLI" fd00:192::2 30081)
check "external client via the NodePort (eTP Local)" "$(pod_of "$r")" pod1
check "... keeps the client address" "$(client_of "$r")" fd00:192::100
check "a service without endpoints rejects" "$(probe "$POD2" fd00:96::11 80)" refused

# UDP.  Fixed source ports, so that the endpoint change below meets these flows
# again (iptables: their conntrack entries; userspace: their sessions).
POD_SRC="[fd00:244:1::30]:5353" CLI_SRC="[fd00:192::100]:5354" EMPTY_SRC="[fd00:244:1::30]:5355"
r=$(uprobe "$POD3" fd00:96::10 53 --src "$POD_SRC")
check "UDP: pod to an IPv6 ClusterIP reaches the endpoint" "$(pod_of "$r")" pod1
check "... the pod's source address and port are kept" "$(peer_of "$r")" "$POD_SRC"
r=$(uprobe "$NODE" fd00:96::10 53)
check "UDP: the node itself reaches the IPv6 ClusterIP" "$(pod_of "$r")" pod1
r=$(uprobe "$CLI" fd00:192::2 30053 --src "$CLI_SRC")
check "UDP: external client via the NodePort (eTP Cluster)" "$(pod_of "$r")" pod1
check "... is masqueraded to the node address" "$(client_of "$r")" fd00:192::2
r=$(uprobe "$CLI" fd00:192::2 30054)
check "UDP: external client via the NodePort (eTP Local)" "$(pod_of "$r")" pod1
check "... keeps the client address" "$(client_of "$r")" fd00:192::100
check "UDP: a service without endpoints: port unreachable" "$(uprobe "$POD3" fd00:96::11 53 --src "$EMPTY_SRC")" refused
check "UDP: 4 pod clients (2 pods) at once, 5 datagrams each: every reply names and reaches its sender" \
	"$(udp_clients "$POD2" fd00:96::10 53 "[fd00:244:1::20]:40001" "[fd00:244:1::20]:40002" \
		-- "$POD3" "[fd00:244:1::30]:40001" "[fd00:244:1::30]:40002")" 20
check "UDP: 4 external clients at once via the NodePort (eTP Local): every reply names and reaches its sender" \
	"$(udp_clients "$CLI" fd00:192::2 30054 "[fd00:192::100]:40001" "[fd00:192::101]:40002" \
		"[fd00:192::102]:40003" "[fd00:192::103]:40004")" 20

# An endpoint change while kroute runs: web6 moves to pod2.
slices fd00:244:1::20 >"$M/.slices.tmp" && mv "$M/.slices.tmp" "$M/slices.yaml"
check "an endpoint change applies without a restart" "$(pod_of "$(until_pod pod2 probe "$POD1" fd00:96::10 80)")" pod2
# The same UDP flows as before: on pod1's conntrack entry or session they would stay
# with the removed endpoint (pod1 still answers), so they must be moved.
r=$(until_pod pod2 uprobe "$POD3" fd00:96::10 53 --src "$POD_SRC")
check "UDP: the pod's flow (same source port) moves to the new endpoint" "$(pod_of "$r")" pod2
check "... still with the pod's source address and port" "$(peer_of "$r")" "$POD_SRC"
check "UDP: the external NodePort flow (same source port) moves to the new endpoint" \
	"$(pod_of "$(until_pod pod2 uprobe "$CLI" fd00:192::2 30053 --src "$CLI_SRC")")" pod2
slice empty6 fd00:244:1::20 >"$M/.empty6.tmp" && mv "$M/.empty6.tmp" "$M/empty6.yaml"
check "UDP: a service given its first endpoint answers the flow it refused" \
	"$(pod_of "$(until_pod pod2 uprobe "$POD3" fd00:96::11 53 --src "$EMPTY_SRC")")" pod2
check "the change was a partial sync" "$(grep -c 'partial sync:' "$TMP/kroute.log" | awk '{print ($1 > 0)}')" 1
check "no sync failed" "$(grep -c 'sync failed' "$TMP/kroute.log")" 0

if [ "$MODE" = iptables ]; then
	# A jump someone deleted comes back with the next full sync (SIGHUP asks for one).
	nx "$NODE" ip6tables -t nat -D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
	check "without the PREROUTING jump the ClusterIP does not answer" "$(pod_of "$(probe "$POD1" fd00:96::10 80)")" ""
	n_full=$(grep -c "full sync:" "$TMP/kroute.log")
	kill -HUP "$KPID"
	for _ in $(seq 100); do [ "$(grep -c "full sync:" "$TMP/kroute.log")" -gt "$n_full" ] && break; sleep 0.05; done
	check "after SIGHUP's full sync the jump is back and the ClusterIP answers" \
		"$(pod_of "$(probe "$POD1" fd00:96::10 80)")" pod2
fi

kill "$KPID"
wait "$KPID" 2>/dev/null
nx "$NODE" "$KROUTE" cleanup >"$TMP/cleanup.log" 2>&1
check "kroute cleanup succeeds" "$?" 0
check "no KUBE- chains left in ip6tables" "$(nx "$NODE" ip6tables-save | grep -c 'KUBE-')" 0
check "no KUBE- chains left in iptables" "$(nx "$NODE" iptables-save | grep -c 'KUBE-')" 0
check "no kroute0 interface left" "$(nx "$NODE" ip -br link show kroute0 2>/dev/null | wc -l)" 0
check "no kroute nft table left" "$(nx "$NODE" nft list tables 2>/dev/null | grep -c kroute_userspace)" 0
check "no listener left" "$(nx "$NODE" ss -Hltn | wc -l)" 0
check "no UDP socket left" "$(nx "$NODE" ss -Haun | wc -l)" 0
r=$(probe "$POD2" fd00:96::10 80)
check "after cleanup the ClusterIP no longer answers" "$(pod_of "$r")" ""
check "after cleanup the UDP ClusterIP no longer answers" "$(pod_of "$(uprobe "$POD2" fd00:96::10 53)")" ""

echo "$MODE IPv6: $pass passed, $fail failed"
[ "$fail" = 0 ]
