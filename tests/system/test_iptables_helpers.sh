#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# How the iptables mode starts the iptables programs.  Every iptables,
# ip6tables, iptables-restore and ip6tables-restore call must bound its wait
# for the xtables lock as kube-proxy does (`-w 5 -W 100000`: at most 5 s,
# polling every 100 ms), so a lock another program holds forever fails the
# sync (retried as a full sync) instead of freezing the agent; iptables-save
# takes no -w.  Recording wrappers, first in PATH and also given through
# KROUTE_IPTABLES_RESTORE / KROUTE_IP6TABLES_RESTORE, log each call's
# arguments and run the real program, in a namespace this script creates:
# `kroute run --once` (a full sync of an IPv4 and an IPv6 service: restores,
# iptables-save, jump checks) and `kroute cleanup` (jump deletions, restores).
# The real programs must accept the arguments: the sync and the cleanup must
# succeed.
#
# Never touches the host: everything runs in a namespace deleted on every
# exit path.
#
# usage: test_iptables_helpers.sh KROUTE   (root; exits 77 = skip otherwise)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE}")" && pwd)/$(basename "$1")
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"
PROGS="iptables ip6tables iptables-save ip6tables-save iptables-restore ip6tables-restore"

NS=krhelp-$$
TMP=$(mktemp -d)
cleanup() {
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
# shellcheck disable=SC2086 # PROGS is a word list
st_init "iptables helpers" cleanup ip $PROGS

# The wrappers: log "NAME ARGS..." (one line per call), then run the real program.
mkdir -p "$TMP/bin"
LOG=$TMP/calls.log
: >"$LOG"
for p in $PROGS; do
	real=$(command -v "$p")
	printf '#!/bin/sh\necho "%s $*" >>"%s"\nexec "%s" "$@"\n' "$p" "$LOG" "$real" >"$TMP/bin/$p"
	chmod +x "$TMP/bin/$p"
done

M=$TMP/m
mkdir -p "$M"
service() { # NAME FAMILY CLUSTER-IP ENDPOINT: a ClusterIP service with one endpoint on node-1
	cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t}
spec:
  ipFamilies: [$2]
  clusterIP: "$3"
  clusterIPs: ["$3"]
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: t, labels: {kubernetes.io/service-name: $1}}
addressType: $2
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["$4"], conditions: {ready: true}, nodeName: node-1}
YAML
}
{
	printf 'apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\n'
	printf 'status: {addresses: [{type: InternalIP, address: "192.168.0.2"}]}\n'
	service web IPv4 10.96.0.10 10.244.1.10
	service web6 IPv6 fd00:96::10 fd00:244:1::10
} >"$M/cluster.yaml"

ip netns add "$NS" || { echo "ip netns add $NS failed"; exit 1; }
ip -n "$NS" link set lo up
in_ns() {
	ip netns exec "$NS" env PATH="$TMP/bin:$PATH" KROUTE_IPTABLES_RESTORE="$TMP/bin/iptables-restore" \
		KROUTE_IP6TABLES_RESTORE="$TMP/bin/ip6tables-restore" "$@"
}

in_ns "$KROUTE" run --mode iptables --node node-1 -f "$M" --once >"$TMP/run.log" 2>&1
check "kroute run --once succeeds with the bounded lock wait" "$?" 0
check "the IPv4 service is programmed" \
	"$(ip netns exec "$NS" iptables-save -t nat | grep -c -- '-A KUBE-SERVICES .*10.96.0.10/32')" 1
check "the IPv6 service is programmed" \
	"$(ip netns exec "$NS" ip6tables-save -t nat | grep -c -- '-A KUBE-SERVICES .*fd00:96::10/128')" 1
in_ns "$KROUTE" cleanup >"$TMP/cleanup.log" 2>&1
check "kroute cleanup succeeds with the bounded lock wait" "$?" 0
check "no KUBE- chain left" "$(ip netns exec "$NS" iptables-save | grep -c 'KUBE-')" 0

# Every program that takes the xtables lock was called, and always with the bound.
for p in iptables ip6tables iptables-restore ip6tables-restore; do
	calls=$(grep -c "^$p " "$LOG")
	bounded=$(grep -c "^$p -w 5 -W 100000 " "$LOG")
	check "$p was called" "$([ "$calls" -gt 0 ] && echo yes)" yes
	check "every $p call waits at most 5 s for the lock ($calls calls)" "$bounded" "$calls"
done
# iptables-save does not take -w.
for p in iptables-save ip6tables-save; do
	check "$p was called" "$([ "$(grep -c "^$p " "$LOG")" -gt 0 ] && echo yes)" yes
	check "$p is called without -w" "$(grep -c "^$p .*-w" "$LOG")" 0
done

if [ "$fail" -ne 0 ]; then
	echo "--- calls"; cat "$LOG"; echo "--- kroute run"; cat "$TMP/run.log"; echo "--- cleanup"; cat "$TMP/cleanup.log"
fi
st_finish
