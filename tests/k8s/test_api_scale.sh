#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A list of 10,000 services from the real control plane (control-plane.sh), in
# a network namespace this test creates: kroute explain --kubeconfig lists
# them in pages of 500 (limit + continue), as many pages as the API server's
# own audit log records for kroute's user agent, and shows what kroute
# explain -f shows for a kubectl get -o yaml dump of the same objects.
# KROUTE_API_SCALE_SERVICES changes the count (default 10000).
# Usage: test_api_scale.sh KROUTE   (root; exits 77 when not root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${KROUTE_API_SCALE_SERVICES:-10000}
page=500   # kroute's limit (src/source/kube/kube.c, LIST_LIMIT)
# shellcheck source=nslib.sh
. "$here/nslib.sh" "$@"

ns_init scale
# The API server records every list of services (its URI and user agent) in an audit log.
cat >"$tmp/audit-policy.yaml" <<'EOF2'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  verbs: [list]
  resources: [{group: "", resources: [services]}]
- level: None
EOF2
audit_log=$tmp/audit.log
KROUTE_K8S_APISERVER_ARGS="--audit-policy-file=$tmp/audit-policy.yaml --audit-log-path=$audit_log" \
	ns_start_cp

kubectl apply -f "$src/examples/cluster/nodes.yaml" >/dev/null || bad "kubectl apply nodes.yaml"
kubectl create namespace bulk >/dev/null || bad "kubectl create namespace bulk"
# One List, one kubectl create: the services go in over one connection.
t0=$SECONDS
create_services bulk "$n" || bad "kubectl create of $n services"
echo "created $n services in $((SECONDS - t0)) s"

# What kroute's selectors pick.
dump=$tmp/dump.yaml
dump_selected "$dump" || bad "kubectl get -o yaml"
listed=$(grep -c '^  kind: Service$' "$dump")
[ "$listed" -gt "$n" ] && ok || bad "the dump holds $listed services, want more than $n"

t0=$SECONDS
got=$(in_ns "$kroute" explain --kubeconfig "$kc" --node node-a1 -o json 2>&1) ||
	bad "explain from the API failed: $(head -c 500 <<<"$got")"
echo "explain from the API: $((SECONDS - t0)) s"
want=$(in_ns "$kroute" explain -f "$dump" --node node-a1 -o json 2>&1) ||
	bad "explain of the dump failed: $(head -c 500 <<<"$want")"
[ "$got" = "$want" ] && ok || bad "explain from the API differs from the dump's:
$(diff <(echo "$want") <(echo "$got") | head -20)"
shown=$(jq '[.services[].service | select(startswith("bulk/"))] | unique | length' <<<"$got")
[ "$shown" = "$n" ] && ok || bad "explain from the API shows $shown of the $n bulk services"

# The pages: every list of services kroute sent, as the API server recorded them.
pages=$(jq -r 'select(.stage == "ResponseComplete" and (.userAgent | startswith("kroute/")) and
	(.requestURI | startswith("/api/v1/services?"))) | .requestURI' "$audit_log")
n_pages=$(grep -c . <<<"$pages")
want_pages=$(((listed + page - 1) / page))
[ "$n_pages" = "$want_pages" ] && ok ||
	bad "kroute listed $listed services in $n_pages requests, want $want_pages pages of $page"
[ "$(grep -c "limit=$page" <<<"$pages")" = "$n_pages" ] && ok || bad "a list without limit=$page: $pages"
[ "$(grep -c "continue=" <<<"$pages")" = $((want_pages - 1)) ] && ok ||
	bad "want $((want_pages - 1)) continued pages: $(grep -c "continue=" <<<"$pages")"
echo "$listed services in $n_pages pages"
finish
