#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kroute lint end to end: the bundled example's table and JSON match their
# reviewed files (tests/cli/lint/; UPDATE_GOLDEN=1 rewrites them, review
# the diff), the facts a user relies on are asserted one by one with jq (so
# a golden file regenerated with a bug still fails here), the exit status
# says whether an error-level finding was made, --ignore leaves rules out,
# and bad usage exits 2.
set -u
. "$(dirname "$0")/testlib.sh"
golden=$src/tests/cli/lint

# golden NAME ARGS...: kroute lint ARGS must print tests/cli/lint/NAME.
golden() {
	local name=$1
	shift
	"$kroute" lint "$@" >"$tmp/$name" 2>"$tmp/$name.err"
	eq "$name: exit status" "$?" 0
	[ "${UPDATE_GOLDEN:-}" = 1 ] && cp "$tmp/$name" "$golden/$name"
	if diff -u "$golden/$name" "$tmp/$name" >"$tmp/diff"; then ok; else
		bad "$name: output differs from $golden/$name"
		head -n 40 "$tmp/diff"
	fi
}
golden examples.table -f "$src/examples"
golden examples.json -f "$src/examples" -o json
jq -e . "$tmp/examples.json" >/dev/null && ok || bad "examples.json is not valid JSON"

# finding SERVICE RULE JQ: one fact about the example's findings.
finding() {
	jq -c "[.findings[] | select(.service == \"$1\" and .rule == \"$2\")] | $3" "$tmp/examples.json"
}
# The user's example: iTP Local, endpoints on node-a1 and node-b1 only: node-a2's pods are dropped.
eq "abc-svc KR002 nodes" "$(finding default/abc-svc KR002 '.[].nodes')" '["node-a2"]'
# web-local (LoadBalancer, eTP Local, endpoints in zone-a only): node-b1 drops, a warning.
eq "web-local KR001" "$(finding shop/web-local KR001 '[.[].nodes, .[].level]')" '[["node-b1"],"warning"]'
# cache-local: one endpoint on node-a2 under iTP Local.
eq "cache-local KR002" "$(finding shop/cache-local KR002 '.[].nodes')" '["node-a1","node-b1"]'
eq "cache-local KR004" "$(finding shop/cache-local KR004 '.[].nodes')" '["node-a2"]'
eq "draining KR005" "$(finding shop/draining KR005 '.[].nodes')" '["node-a1","node-b1"]'
eq "orphan KR006" "$(finding shop/orphan KR006 'length')" 1
# Fine services are not mentioned: web-cluster, zonal (hints used everywhere), sticky (600 s), peers.
eq "quiet services" "$(jq -c '[.findings[].service | select(test("web-cluster|zonal|sticky|peers"))]' "$tmp/examples.json")" '[]'
eq "summary" "$(jq -c '.summary | [.errors, .warnings, .services, .nodes]' "$tmp/examples.json")" '[0,6,9,3]'

# Exit status 1 on an error-level finding: a NodePort service with eTP Local, no endpoint on n2.
cat >"$tmp/etp.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: n1}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
---
apiVersion: v1
kind: Service
metadata: {name: np, namespace: t}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  externalTrafficPolicy: Local
  ports: [{name: web, port: 80, targetPort: 8080, nodePort: 30090}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: np-1, namespace: t, labels: {kubernetes.io/service-name: np}}
addressType: IPv4
ports: [{name: web, protocol: TCP, port: 8080}]
endpoints:
- {addresses: [10.0.1.5], conditions: {ready: true}, nodeName: n1}
- {addresses: [10.0.1.6], conditions: {ready: true}, nodeName: n1}
YAML
"$kroute" lint -f "$tmp/etp.yaml" >"$tmp/out" 2>&1
eq "error finding: exit status" "$?" 1
grep -q '^error    KR001 etp-local-drops  t/np     web   n2$' "$tmp/out" && ok || bad "KR001 row missing: $(cat "$tmp/out")"
grep -q '^1 error, 0 warnings, 0 info in 1 service on 2 nodes$' "$tmp/out" && ok || bad "summary: $(tail -1 "$tmp/out")"
"$kroute" lint -f "$tmp/etp.yaml" --ignore KR001 >"$tmp/out" 2>&1
eq "--ignore KR001: exit status" "$?" 0
grep -q '^0 errors, 0 warnings, 0 info in 1 service on 2 nodes (1 finding of ignored rules not shown)$' "$tmp/out" && ok ||
	bad "--ignore summary: $(cat "$tmp/out")"
"$kroute" lint -f "$tmp/etp.yaml" --ignore itp-local-drops,etp-local-drops -o json >"$tmp/out" 2>&1
eq "--ignore by names: exit status" "$?" 0
eq "--ignore by names: JSON" "$(jq -c '[.summary.errors, .summary.ignored, (.findings | length)]' "$tmp/out")" '[0,1,0]'

# The issue's example: eTP Local on a ClusterIP service (the decoder warns, lint says why it does nothing).
sed 's/^  internalTrafficPolicy: Local$/  externalTrafficPolicy: Local/' "$src/examples/cluster/abc-svc.yaml" >"$tmp/abc.yaml"
"$kroute" lint -f "$tmp/abc.yaml" -f "$src/examples/cluster/nodes.yaml" -o json >"$tmp/out" 2>"$tmp/err"
eq "abc eTP: exit status" "$?" 0
eq "abc eTP: KR008" "$(jq -c '[.findings[] | select(.rule == "KR008") | .service]' "$tmp/out")" '["default/abc-svc"]'

# Usage: exit 2, with the reason.
usage_error lint "-f PATH is required"
usage_error lint 'no rule "KR999"' -f "$src/examples" --ignore KR999
usage_error lint '-o must be table or json' -f "$src/examples" -o yaml
usage_error lint '--mode must be iptables, userspace, nftables or ipvs' -f "$src/examples" --mode ebpf
usage_error lint '--endpoint-lifetime' -f "$src/examples" --endpoint-lifetime soon
usage_error lint 'exclude each other' -f "$src/examples" --kubeconfig /nonexistent
usage_error lint 'unexpected argument' -f "$src/examples" extra
"$kroute" lint --help >"$tmp/out" 2>&1
eq "--help: exit status" "$?" 0
grep -q -- '--ignore RULE' "$tmp/out" && ok || bad "--help lacks --ignore"

finish lint
