#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# What a running `kroute run --mode iptables` sends to iptables-restore after
# the first full sync (src/dataplane/iptables/README.md, "The apply layer"):
# a recording wrapper (KROUTE_IPTABLES_RESTORE) saves every restore input
# and runs the real iptables-restore, in a namespace of its own.  Two
# services a and b, each with two local endpoints (so each has a KUBE-SVC
# and two KUBE-SEP chains), Services and EndpointSlices in files of their
# own.  Then:
#
#   1. one endpoint of a changes: one partial restore that declares exactly
#      the nat chains whose rules changed in the kernel (a's KUBE-SVC chain,
#      the new endpoint's KUBE-SEP; no shared chain, nothing of b), and
#      deletes (-X) exactly the chain of the endpoint that went;
#   2. Service b is deleted: one partial restore that flushes and deletes
#      exactly b's chains, and rewrites only the shared chains that changed.
#
# After each step the kernel (iptables-save -t nat in the namespace) must
# hold what a fresh `kroute run --once` of the same manifests programs in a
# second, empty namespace.
#
# Never touches the host: everything runs in namespaces deleted on every
# exit path.
#
# usage: test_iptables_sync.sh KROUTE   (root; exits 77 = skip otherwise)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE}")" && pwd)/$(basename "$1")
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krsync-$$
NS_FRESH=krsync-fresh-$$
TMP=$(mktemp -d)
KPID=""
cleanup() {
	[ -n "$KPID" ] && kill -TERM "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NS_FRESH" 2>/dev/null
	rm -rf "$TMP"
}
st_init "iptables sync" cleanup ip iptables iptables-save iptables-restore

# The wrapper: saves its input as restore.N (N counts from 1) and its
# arguments as restore.N.args, then feeds the input to the real program.
REAL=$(command -v iptables-restore)
cat >"$TMP/iptables-restore" <<SH
#!/bin/sh
n=\$(( \$(ls "$TMP"/restore.*.args 2>/dev/null | wc -l) + 1 ))
cat >"$TMP/restore.\$n.in"
echo "\$*" >"$TMP/restore.\$n.args"
exec "$REAL" "\$@" <"$TMP/restore.\$n.in"
SH
chmod +x "$TMP/iptables-restore"
n_restores() { find "$TMP" -maxdepth 1 -name 'restore.*.args' | wc -l; }

M=$TMP/m
mkdir -p "$M"
printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n' >"$M/node.yaml"
printf 'status: {addresses: [{type: InternalIP, address: "192.168.0.2"}]}\n' >>"$M/node.yaml"
# put FILE: replaces $M/FILE (text on stdin) by rename, as editors do.
put() { cat >"$TMP/put.tmp" && mv "$TMP/put.tmp" "$M/$1"; }
service() { # NAME CLUSTER-IP
	put "svc-$1.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t}
spec:
  clusterIP: $2
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
}
slice() { # SERVICE IP...: its endpoints, all on this node
	local ip
	{
		printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
		printf 'metadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$1"
		printf 'addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n'
		for ip in "${@:2}"; do
			printf -- '- {addresses: ["%s"], conditions: {ready: true}, nodeName: node-1}\n' "$ip"
		done
	} | put "slice-$1.yaml"
}
service a 10.96.0.10
slice a 10.244.1.10 10.244.1.11
service b 10.96.0.20
slice b 10.244.1.20 10.244.1.21

FLAGS=(--mode iptables --node node-1 --cluster-cidr 10.244.0.0/16)
for ns in "$NS" "$NS_FRESH"; do
	ip netns add "$ns" || die "ip netns add $ns failed"
	ip -n "$ns" link set lo up
done

# nat_state NS: the nat table as chain-sorted lines ("CHAIN<tab>rule", rules
# in order within a chain; ":CHAIN" for each chain), without counters.
nat_state() {
	ip netns exec "$1" iptables-save -t nat | awk '
		/^:/ { print substr($1, 2) "\t:"; next }
		/^-A / { print $2 "\t" $0 }' | sort -s -t "$(printf '\t')" -k1,1
}
# chains_changed BEFORE AFTER: the chains whose rules differ, or that appear or go.
chains_changed() {
	diff <(cat "$1") <(cat "$2") | sed -nE 's/^[<>] ([^\t]+)\t.*/\1/p' | sort -u
}
# restore_chains FILE: the chains the input declares (creates or flushes), in nat.
restore_chains() { awk '/^\*/ { t = $1 } t == "*nat" && /^:/ { print substr($1, 2) }' "$1" | sort -u; }
restore_deleted() { awk '/^\*/ { t = $1 } t == "*nat" && /^-X / { print $2 }' "$1" | sort -u; }
# chains_of SERVICE STATE: the KUBE-SVC chain of SERVICE's port and its KUBE-SEP chains.
chains_of() {
	local svc
	svc=$(grep -E "^KUBE-SERVICES	.*t/$1:http cluster IP.* -j (KUBE-SVC-[A-Z0-9]+)" "$2" |
		sed -E 's/.* -j (KUBE-SVC-[A-Z0-9]+).*/\1/' | head -1)
	[ -n "$svc" ] || return
	echo "$svc"
	grep -E "^$svc	.* -j KUBE-SEP-" "$2" | sed -E 's/.* -j (KUBE-SEP-[A-Z0-9]+).*/\1/'
}
# matches_fresh WHAT: the kernel holds what a fresh run --once programs.
matches_fresh() {
	ip netns exec "$NS_FRESH" "$KROUTE" cleanup >/dev/null 2>&1
	ip netns exec "$NS_FRESH" "$KROUTE" run "${FLAGS[@]}" -f "$M" --once >"$TMP/fresh.log" 2>&1 ||
		{ check "$1: kroute run --once in a fresh namespace" "failed: $(cat "$TMP/fresh.log")" ok; return; }
	nat_state "$NS" >"$TMP/kernel"
	nat_state "$NS_FRESH" >"$TMP/fresh"
	check "$1: the kernel holds what a fresh full sync programs" \
		"$(diff "$TMP/fresh" "$TMP/kernel" | grep -c '^[<>]')" 0
}
# wait_restores N: until N restores ran and kroute is idle again (its log quiet).
wait_restores() {
	local i
	for i in $(seq 100); do
		[ "$(n_restores)" -ge "$1" ] && break
		sleep 0.1
	done
	sleep 1 # a second restore would follow the min sync period (100 ms) at once
}

ip netns exec "$NS" env KROUTE_IPTABLES_RESTORE="$TMP/iptables-restore" "$KROUTE" run "${FLAGS[@]}" \
	-f "$M" --min-sync-period 100ms --sync-period 1h >"$TMP/run.log" 2>&1 </dev/null &
KPID=$!
wait_restores 1
check "the first sync: one restore" "$(n_restores)" 1
grep -q "full sync:" "$TMP/run.log" || die "kroute did not sync: $(cat "$TMP/run.log")"
nat_state "$NS" >"$TMP/state.0"
mapfile -t A0 < <(chains_of a "$TMP/state.0")
mapfile -t B0 < <(chains_of b "$TMP/state.0")
check "a has a KUBE-SVC chain and two KUBE-SEP chains" "${#A0[@]}" 3
check "b has a KUBE-SVC chain and two KUBE-SEP chains" "${#B0[@]}" 3
matches_fresh "after the first sync"

# 1. One endpoint of a changes (.11 -> .12).
slice a 10.244.1.10 10.244.1.12
wait_restores 2
check "an endpoint change: one more restore" "$(n_restores)" 2
nat_state "$NS" >"$TMP/state.1"
mapfile -t A1 < <(chains_of a "$TMP/state.1")
in=$TMP/restore.2.in
check "the partial restore declares exactly the chains that changed in the kernel" \
	"$(restore_chains "$in" | tr '\n' ' ')" "$(chains_changed "$TMP/state.0" "$TMP/state.1" | tr '\n' ' ')"
check "the partial restore declares a's KUBE-SVC chain" "$(restore_chains "$in" | grep -cx "${A0[0]}")" 1
check "the partial restore declares no shared chain" "$(restore_chains "$in" | grep -cvE '^KUBE-(SVC|SEP)-')" 0
check "the partial restore touches none of b's chains" "$(restore_chains "$in" | grep -cxF -f <(printf '%s\n' "${B0[@]}"))" 0
gone=$(comm -23 <(printf '%s\n' "${A0[@]}" | sort) <(printf '%s\n' "${A1[@]}" | sort))
check "one KUBE-SEP chain of a went" "$(echo "$gone" | grep -c '^KUBE-SEP-')" 1
check "the partial restore deletes (-X) exactly the gone endpoint's chain" \
	"$(restore_deleted "$in" | tr '\n' ' ')" "$gone "
check "the gone chain is not in the kernel" "$(grep -c "^$gone	" "$TMP/state.1")" 0
matches_fresh "after the endpoint change"

# 2. Service b is deleted (its EndpointSlice stays, as until the API server collects it).
rm "$M/svc-b.yaml"
wait_restores 3
check "a service deleted: one more restore" "$(n_restores)" 3
nat_state "$NS" >"$TMP/state.2"
in=$TMP/restore.3.in
want=$(printf '%s\n' "${B0[@]}" | sort | tr '\n' ' ')
check "the restore deletes (-X) exactly b's chains" "$(restore_deleted "$in" | tr '\n' ' ')" "$want"
check "the restore flushes each of b's chains" \
	"$(restore_chains "$in" | grep -xF -f <(printf '%s\n' "${B0[@]}") | tr '\n' ' ')" "$want"
check "the restore declares exactly the chains that changed in the kernel" \
	"$(restore_chains "$in" | tr '\n' ' ')" "$(chains_changed "$TMP/state.1" "$TMP/state.2" | tr '\n' ' ')"
check "the restore touches none of a's chains" "$(restore_chains "$in" | grep -cxF -f <(printf '%s\n' "${A1[@]}"))" 0
check "none of b's chains is left in the kernel" \
	"$(grep -cF -f <(printf '%s\t\n' "${B0[@]}") "$TMP/state.2")" 0
matches_fresh "after the service deletion"

check "no restore failed" "$(grep -ci 'restore.*fail\|error' "$TMP/run.log")" 0
if [ "$fail" -ne 0 ]; then
	for f in "$TMP"/restore.*.in; do echo "--- $f ($(cat "${f%.in}.args"))"; cat "$f"; done
	echo "--- kroute run"; cat "$TMP/run.log"
fi
st_finish
