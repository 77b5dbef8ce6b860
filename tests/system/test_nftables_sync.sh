#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The nftables mode's syncs with real packets, in namespaces of its own: a
# node and three pods (veths, routed), kr-backend in each pod, kroute in the
# node, the node's own connections as the client.
#
#   0. the startup feature probe left no table behind; a cluster-IP-only
#      random service has no chain, its key is in @pick-N (N its slots);
#   1. drift: an element of the pick maps and one of the services map
#      deleted by hand (both ClusterIPs stop answering), a rule and a chain
#      of someone else's added to our table; SIGHUP's full resync reads the
#      table back and repairs exactly that: the elements are back (the
#      ClusterIPs answer), the stranger's rule and chain are gone;
#   2. Maglev (kroute.io/scheduler: maglev): 30 connections with fixed source
#      ports spread over three pods; one pod leaves the endpoints; the same
#      30 source ports again (conntrack flushed, so every one is a new flow):
#      the flows whose pod stayed land on the same pod (Maglev moves about 1
#      in 167 of their slots: at most 2 may shift), the others move;
#   3. a one-endpoint change is a partial sync, and `kroute cleanup` leaves
#      no table.
#
# Never touches the host: everything runs in namespaces deleted on every
# exit path.
#
# usage: test_nftables_sync.sh KROUTE KR-BACKEND KR-PROBE   (root; exits 77 = skip otherwise)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE KR-BACKEND KR-PROBE}")" && pwd)/$(basename "$1")
KR_BACKEND=${2:?}
KR_PROBE=${3:?}
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

P=krnft-$$
NODE=$P-node
TMP=$(mktemp -d)
PIDS=()
KPID=""
cleanup() {
	local p i
	[ -n "$KPID" ] && kill -TERM "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for i in 1 2 3; do ip netns del "$P-pod$i" 2>/dev/null; done
	ip netns del "$NODE" 2>/dev/null
	rm -rf "$TMP"
}
st_init "nftables sync" cleanup ip nft conntrack

nx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ip netns add "$NODE" || die "ip netns add"
ip -n "$NODE" link set lo up
nx "$NODE" sysctl -qw net.ipv4.ip_forward=1
for i in 1 2 3; do
	ns=$P-pod$i
	ip netns add "$ns" || die "ip netns add $ns"
	ip -n "$ns" link set lo up
	ip -n "$NODE" link add "v$i" type veth peer name eth0 netns "$ns"
	ip -n "$NODE" addr add "10.244.$i.1/24" dev "v$i"
	ip -n "$NODE" link set "v$i" up
	ip -n "$ns" addr add "10.244.$i.10/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "10.244.$i.1"
	ip netns exec "$ns" "$KR_BACKEND" --name "pod$i" --tcp 8080 --ready-file "$TMP/ready$i" \
		</dev/null >"$TMP/backend$i.log" 2>&1 &
	PIDS+=($!)
done
# Service addresses need a route, as on a real node (routing comes before NAT output).
ip -n "$NODE" route add 10.96.0.0/16 dev v1
for i in 1 2 3; do
	for _ in $(seq 100); do [ -s "$TMP/ready$i" ] && break; sleep 0.05; done
	[ -s "$TMP/ready$i" ] || die "kr-backend in pod$i did not start"
done

M=$TMP/m
mkdir -p "$M"
put() { cat >"$TMP/put.tmp" && mv "$TMP/put.tmp" "$M/$1"; }
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nstatus: {addresses: [{type: InternalIP, address: "10.244.1.1"}]}\n' |
	put node.yaml
service() { # NAME CLUSTER-IP [ANNOTATIONS]
	put "svc-$1.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t, annotations: {${3:-}}}
spec:
  clusterIP: $2
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
}
slice() { # SERVICE POD-NUMBER...
	local i
	{
		printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
		printf 'metadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$1"
		printf 'addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n'
		for i in "${@:2}"; do
			printf -- '- {addresses: ["10.244.%s.10"], conditions: {ready: true}, nodeName: node-1}\n' "$i"
		done
	} | put "slice-$1.yaml"
}
service web 10.96.0.10
slice web 1 2
service mag 10.96.0.20 "kroute.io/scheduler: maglev, kroute.io/scheduler-flags: \"maglev-table-size=251\""
slice mag 1 2 3

n_full() { grep -c "full sync:" "$TMP/run.log"; }
n_partial() { grep -c "partial sync:" "$TMP/run.log"; }
more() { [ "$("$1")" -gt "$2" ]; }
wait_for() { local i; for i in $(seq 100); do "$@" && return 0; sleep 0.1; done; return 1; }
# pod IP [SRC-PORT]: the pod that answers one connection from the node, or the failure.
pod() {
	nx "$NODE" "$KR_PROBE" tcp "$1" 80 --timeout 700 ${2:+--src "10.244.1.1:$2"} |
		sed -E 's/^pod=([^ ]+) .*/\1/' | head -n1
}

# Not through nx: `ip netns exec` execs, so $! is kroute itself and SIGHUP reaches it.
ip netns exec "$NODE" "$KROUTE" run --mode nftables --node node-1 -f "$M" --cluster-cidr 10.244.0.0/16 \
	--min-sync-period 100ms --sync-period 1h >"$TMP/run.log" 2>&1 </dev/null &
KPID=$!
wait_for more n_full 0 || die "kroute did not sync: $(cat "$TMP/run.log")"
check "the ClusterIP answers" "$(pod 10.96.0.10 | grep -c '^pod[12]$')" 1

check "the feature probe left no table" "$(nx "$NODE" nft list tables | grep -c kroute-probe)" 0
check "web (cluster IP only, random) has no chain: its key is in the set of 2-slot ports" \
	"$(nx "$NODE" nft list set ip kroute pick-2 | grep -c '10.96.0.10 . tcp . 80')" 1
check "nft lists our table" "$(nx "$NODE" nft list table ip kroute >/dev/null 2>&1; echo $?)" 0

# ---- 1. drift, repaired by the full resync ----
# web's key in @pick-2 (2 slots), mag's element in @services (mag has a chain: maglev).
nx "$NODE" nft delete element ip kroute pick-2 '{ 10.96.0.10 . tcp . 80 }'
nx "$NODE" nft delete element ip kroute services '{ 10.96.0.20 . tcp . 80 }'
nx "$NODE" nft add chain ip kroute stray
nx "$NODE" nft add rule ip kroute services counter
check "with its element deleted by hand the ClusterIP does not answer" "$(pod 10.96.0.10 | grep -c '^pod')" 0
check "nor the other's" "$(pod 10.96.0.20 | grep -c '^pod')" 0
full=$(n_full)
kill -HUP "$KPID"
wait_for more n_full "$full" || bad_sync=1
check "SIGHUP: a full resync" "${bad_sync:-0}" 0
check "the full resync put the element back: the ClusterIP answers" "$(pod 10.96.0.10 | grep -c '^pod[12]$')" 1
check "and the other's" "$(pod 10.96.0.20 | grep -c '^pod[123]$')" 1
check "the stranger's chain is gone" "$(nx "$NODE" nft list table ip kroute | grep -c 'chain stray')" 0
check "the stranger's rule is gone" "$(nx "$NODE" nft list chain ip kroute services | grep -c counter)" 0
check "the resync did not fail" "$(grep -c "sync failed" "$TMP/run.log")" 0

# ---- 2. Maglev keeps flows on the pods that stay ----
declare -A BEFORE
for port in $(seq 41001 41030); do BEFORE[$port]=$(pod 10.96.0.20 "$port"); done
check "maglev spreads 30 flows over all three pods" \
	"$(printf '%s\n' "${BEFORE[@]}" | sort -u | tr '\n' ' ')" "pod1 pod2 pod3 "
partial=$(n_partial)
slice mag 1 3
wait_for more n_partial "$partial" || die "no partial sync after the endpoint change"
nx "$NODE" conntrack -F >/dev/null 2>&1 # every probe below is a new flow
kept=0 moved=0 shifted=0 lost=0
for port in $(seq 41001 41030); do
	now=$(pod 10.96.0.20 "$port")
	if [[ "$now" != pod[13] ]]; then
		lost=$((lost + 1))
	elif [ "${BEFORE[$port]}" = pod2 ]; then
		moved=$((moved + 1))
	elif [ "$now" = "${BEFORE[$port]}" ]; then
		kept=$((kept + 1))
	else
		shifted=$((shifted + 1))
	fi
done
check "every flow lands on pod1 or pod3" "$lost" 0
# Maglev's disruption is minimal, not nil: with 251 slots, 3 endpoints to 2, the
# scheduler library's tables move 1 of the 167 slots of pod1 and pod3, so a flow that
# stays put but changes pod is about a 1-in-167 event; random picks would move half.
check "flows on pod1 or pod3 stay on their pod (at most 2 of $((kept + shifted)) shift)" \
	"$((shifted <= 2))" 1
check "pod2's flows move to the others" "$((kept + shifted + moved))" 30

# ---- 3. partial syncs, cleanup ----
check "the endpoint change was a partial sync" "$(n_partial | awk '{print ($1 > 0)}')" 1
check "no sync failed" "$(grep -c 'sync failed' "$TMP/run.log")" 0
kill -TERM "$KPID"
wait "$KPID"
KPID=""
nx "$NODE" "$KROUTE" cleanup >"$TMP/cleanup.log" 2>&1
check "kroute cleanup succeeds" "$?" 0
check "no kroute table is left" "$(nx "$NODE" nft list tables | grep -cw kroute)" 0
[ "$fail" -ne 0 ] && { echo "--- kroute run"; cat "$TMP/run.log"; }
st_finish
