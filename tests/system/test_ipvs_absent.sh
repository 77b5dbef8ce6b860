#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# `kroute run --mode ipvs` on a kernel without IPVS (this project's CI
# kernels: CONFIG_IP_VS is not set): it must stop at once with a message
# that says so and what to do, exit 1 (not crash, not hang, not retry
# forever), leave nothing behind in the namespace (the mode's new() only
# asks the kernel for the IPVS netlink family), and `kroute cleanup` must
# still succeed there.  On a kernel that has IPVS the case cannot be shown:
# skip.
#
# usage: test_ipvs_absent.sh KROUTE   (root; exits 77 = skip otherwise)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE}")" && pwd)/$(basename "$1")
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krnoipvs-$$
TMP=$(mktemp -d)
PIDS=()
st_init "ipvs absent" st_cleanup_ns ip nft timeout
st_node_ns 192.168.0.2/24
if nx sh -c '[ -e /proc/net/ip_vs ]' || grep -qw ip_vs /proc/modules 2>/dev/null; then
	echo "skip: this kernel has IPVS (the case of a kernel without it cannot be shown here)"
	exit "$ST_SKIP"
fi

M=$TMP/m
mkdir -p "$M"
cat >"$M/web.yaml" <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t}
spec:
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: [10.244.1.10], conditions: {ready: true}, nodeName: node-1}
YAML

for how in "" "--once"; do
	# shellcheck disable=SC2086 # how is one flag or none
	nx timeout 20 "$KROUTE" run --mode ipvs --node node-1 -f "$M" $how >"$TMP/run.out" 2>"$TMP/run.err"
	rc=$?
	check "kroute run --mode ipvs $how exits 1 (124: it hung; >128: it crashed)" "$rc" 1
	check "it says the kernel has no IPVS ($how)" \
		"$(grep -c 'ipvs: this kernel has no IP Virtual Server' "$TMP/run.err")" 1
	check "it says what to do ($how)" "$(grep -c 'modprobe ip_vs' "$TMP/run.err")" 1
	check "no sanitizer report ($how)" "$(grep -c 'runtime error\|Sanitizer' "$TMP/run.err")" 0
	check "no kube-ipvs0 link made ($how)" "$(nx ip -br link show kube-ipvs0 2>/dev/null | wc -l)" 0
	check "no nft table made ($how)" "$(nx nft list tables | grep -c kroute_ipvs)" 0
	[ "$fail" -eq 0 ] || { echo "--- stderr"; cat "$TMP/run.err"; }
done

nx "$KROUTE" cleanup >"$TMP/cleanup.out" 2>&1
check "kroute cleanup succeeds without IPVS" "$?" 0
[ "$fail" -eq 0 ] || { echo "--- cleanup"; cat "$TMP/cleanup.out"; }
st_finish
