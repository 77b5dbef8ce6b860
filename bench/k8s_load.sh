#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/k8s_load.sh: loads a synthetic cluster written by gen_cluster into a
# running API server (tests/k8s/control-plane.sh), quickly: the objects are
# made acceptable to a fresh API server (no resourceVersion, uid or
# creationTimestamp, no status: the API server drops it on create; services single-stack IPv4, as the control plane's
# service range is 10.96.0.0/12 only), cut into JOBS Lists and created by
# JOBS kubectl processes at once (namespaces first).
# Usage: k8s_load.sh KUBECTL KUBECONFIG GEN_CLUSTER WORKDIR SERVICES [ENDPOINTS [NODES]]
# Runs KUBECTL as given (prefix it with "ip netns exec NS" through a wrapper
# script when the API server is in a namespace).  K8S_LOAD_JOBS sets JOBS (4).
set -euo pipefail
kubectl=${1:?usage: $0 KUBECTL KUBECONFIG GEN_CLUSTER WORKDIR SERVICES [ENDPOINTS [NODES]]}
kc=${2:?}
gen=${3:?}
work=${4:?}
services=${5:?}
endpoints=${6:-10}
nodes=${7:-1000}
jobs=${K8S_LOAD_JOBS:-4}

mkdir -p "$work"
"$gen" -s "$services" -e "$endpoints" -n "$nodes" -f json -o "$work/cluster.json"
jq -c '.items[]
	| del(.metadata.resourceVersion, .metadata.uid, .metadata.creationTimestamp, .status)
	| if .kind == "Service" then
		if (.spec.clusterIPs | length) > 1 then
			.spec.clusterIPs = [.spec.clusterIP] | .spec.ipFamilies = [.spec.ipFamilies[0]]
			| .spec.ipFamilyPolicy = "SingleStack"
		  else . end
	  else . end' "$work/cluster.json" >"$work/objects.jsonl"
rm -f "$work/cluster.json"
jq -r 'select(.metadata.namespace) | .metadata.namespace' "$work/objects.jsonl" | sort -u |
	jq -R '{apiVersion: "v1", kind: "Namespace", metadata: {name: .}}' |
	jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$work/namespaces.json"
"$kubectl" --kubeconfig "$kc" create -f "$work/namespaces.json" >/dev/null
rm -f "$work"/part-*
split -n "l/$jobs" -d "$work/objects.jsonl" "$work/part-"
for p in "$work"/part-??; do
	jq -s '{apiVersion: "v1", kind: "List", items: .}' "$p" >"$p.json"
	rm -f "$p"
done
rm -f "$work/objects.jsonl"
pids=()
for p in "$work"/part-*.json; do
	"$kubectl" --kubeconfig "$kc" create --validate=false -f "$p" >"$p.log" 2>&1 &
	pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do
	wait "$pid" || rc=1
done
if [ "$rc" != 0 ]; then
	grep -hv "created$" "$work"/part-*.json.log | head -20 >&2
	echo "k8s_load.sh: kubectl create failed" >&2
	exit 1
fi
rm -f "$work"/part-*
