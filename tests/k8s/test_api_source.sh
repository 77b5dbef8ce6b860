#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The Kubernetes API source against the real control plane (control-plane.sh),
# all inside a network namespace this test creates (the API server listens on
# that namespace's 127.0.0.1; kroute's rules go into that namespace only):
# - kroute explain --kubeconfig equals kroute explain -f of a kubectl get -o
#   yaml dump of the same objects (kube-proxy's selectors: no headless
#   services, no other proxy's), for every node of examples/cluster/, in
#   table and JSON, through the admin certificate, the token context, and the
#   in-cluster config;
# - examples/cluster/abc-svc.yaml explained from the API: the allocated
#   ClusterIP, each node's own endpoint;
# - kroute lint --kubeconfig (every Node listed) equals kroute lint -f of the dump;
# - 1200 services are listed in pages (limit=500 + continue);
# - client config errors: an exec plugin is refused, an unverifiable server
#   (--master without the CA) fails;
# - a running kroute run --mode iptables follows kubectl: a changed
#   EndpointSlice and a deleted Service reach iptables-save;
# - the API server killed: the rules stay and the log says how long ago it
#   last answered; restarted: kroute watches again and follows a change.
# Usage: test_api_source.sh KROUTE   (root; exits 77 when not root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nslib.sh
. "$here/nslib.sh" "$@"
ns_start api

kubectl create namespace shop >/dev/null || bad "kubectl create namespace shop"
for f in "$src"/examples/cluster/*.yaml; do
	kubectl apply -f "$f" >/dev/null 2>&1 || bad "kubectl apply -f $f"
done

# 1200 more services: the API source lists them in pages of 500 (limit + continue).
kubectl create namespace bulk >/dev/null || bad "kubectl create namespace bulk"
create_services bulk 1200 || bad "kubectl create of 1200 services"

# --- explain from the API = explain from a dump of the same objects ----------
# The same objects: those kube-proxy's selectors pick (what the API source lists), one List
# per kind in one file.
dump=$tmp/dump.yaml
dump_selected "$dump" || bad "kubectl get -o yaml"
# A headless service is left out by the selector, as kube-proxy leaves it out.
grep -q "name: peers" "$dump" && bad "the dump holds the headless service shop/peers" || ok
nodes=$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')
[ "$(echo "$nodes" | wc -w)" -ge 3 ] && ok || bad "expected the example's nodes, got: $nodes"
# same_explain NODE ARGS...: explain from the API (ARGS) equals explain -f of the dump.
same_explain() {
	local node=$1 o want got
	shift
	for o in table json; do
		want=$(in_ns "$kroute" explain -f "$dump" --node "$node" -o "$o" 2>&1)
		if ! got=$(in_ns "$kroute" explain "$@" --node "$node" -o "$o" 2>&1); then
			bad "explain $* --node $node -o $o failed: $got"
			continue
		fi
		[ -n "$want" ] && [ "$got" = "$want" ] && ok ||
			bad "explain $* --node $node -o $o differs from the dump's:
$(diff <(echo "$want") <(echo "$got") | head -20)"
	done
}
for n in $nodes; do
	same_explain "$n" --kubeconfig "$kc"
done
# examples/cluster/abc-svc.yaml, applied with kubectl, explained from the API: the ClusterIP
# the API server allocated, each node forwarding to its own endpoint only
# (internalTrafficPolicy Local).
cip=$(kubectl get service -n default abc-svc -o jsonpath='{.spec.clusterIP}')
[[ $cip == 10.9[6-9].* || $cip == 10.1[01][0-9].* ]] && ok || bad "abc-svc got no ClusterIP: '$cip'"
for pair in node-a1:10.244.1.10 node-b1:10.244.3.10; do
	got=$(in_ns "$kroute" explain --kubeconfig "$kc" --node "${pair%%:*}" --service default/abc-svc 2>&1)
	grep -qE "^ +clusterIP +$cip:80 +Local +forward +no +${pair#*:}:8080\$" <<<"$got" && ok ||
		bad "explain of abc-svc from the API on ${pair%%:*}: want $cip forwarded to ${pair#*:}:8080 only, got:
$got"
done
got=$(in_ns "$kroute" explain --kubeconfig "$kc" --node node-a1 -o json 2>/dev/null |
	jq '[.services[].service | select(startswith("bulk/"))] | unique | length')
[ "$got" = 1200 ] && ok || bad "explain from the API shows $got of the 1200 bulk services (pagination)"

# --- lint from the API = lint of the dump: with no node given, every Node is listed --------
want=$(in_ns "$kroute" lint -f "$dump" -o json 2>&1)
got=$(in_ns "$kroute" lint --kubeconfig "$kc" -o json 2>&1)
[ -n "$want" ] && [ "$got" = "$want" ] && ok ||
	bad "lint --kubeconfig differs from lint -f of the dump:
$(diff <(echo "$want") <(echo "$got") | head -20)"
got=$(echo "$got" | jq '[.summary.nodes, ([.findings[] | select(.rule == "KR002" and .service == "default/abc-svc") | .nodes[]] | join(","))] | @text' -r 2>&1)
[ "$got" = "[$(echo "$nodes" | wc -w),\"node-a2\"]" ] && ok ||
	bad "lint --kubeconfig: [nodes, abc-svc's KR002 nodes] = $got, want every node and node-a2"

# The same through the token context (tokenFile) and through in-cluster config.
sed 's/^current-context: .*/current-context: token/' "$kc" >"$tmp/token.kubeconfig"
server=$(cat "$cp/server")
mkdir -p "$tmp/sa"
cp "$cp/pki/ca.crt" "$tmp/sa/ca.crt"
cp "$cp/token" "$tmp/sa/token"
hostport=${server#https://}
first=${nodes%% *}
got=$(in_ns "$kroute" explain --kubeconfig "$tmp/token.kubeconfig" --node "$first" -o json 2>&1)
want=$(in_ns "$kroute" explain -f "$dump" --node "$first" -o json 2>&1)
[ "$got" = "$want" ] && ok || bad "token context: explain differs or failed: $(echo "$got" | head -5)"
got=$(in_ns env KUBERNETES_SERVICE_HOST="${hostport%:*}" KUBERNETES_SERVICE_PORT="${hostport##*:}" \
	KROUTE_SERVICEACCOUNT_DIR="$tmp/sa" "$kroute" explain --node "$first" -o json 2>&1)
[ "$got" = "$want" ] && ok || bad "in-cluster: explain differs or failed: $(echo "$got" | head -5)"
# A rotated token file is read again: a wrong token is refused, the right one works again.
echo wrong-token >"$tmp/sa/token"
got=$(in_ns env KUBERNETES_SERVICE_HOST="${hostport%:*}" KUBERNETES_SERVICE_PORT="${hostport##*:}" \
	KROUTE_SERVICEACCOUNT_DIR="$tmp/sa" "$kroute" explain --node "$first" -o json 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q "401" <<<"$got" && ok || bad "a wrong token: want exit 1 and 401, got $rc: $got"

# --- client config errors -----------------------------------------------------
cat >"$tmp/exec.kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "$server"}}]
users: [{name: u, user: {exec: {command: /bin/true, apiVersion: client.authentication.k8s.io/v1}}}]
EOF
got=$("$kroute" explain --kubeconfig "$tmp/exec.kubeconfig" --node n 2>&1)
rc=$?
[ "$rc" = 2 ] && grep -q "exec credential plugins are not supported" <<<"$got" && ok ||
	bad "exec plugin: want exit 2 and the message, got $rc: $got"
got=$("$kroute" run --mode iptables --node n --kubeconfig "$tmp/exec.kubeconfig" --once 2>&1)
rc=$?
[ "$rc" != 0 ] && grep -q "exec credential plugins are not supported" <<<"$got" && ok ||
	bad "run with an exec plugin: want failure and the message, got $rc: $got"
# --master alone: no CA, so the server's certificate cannot be verified.
got=$(in_ns "$kroute" explain --master "$server" --node "$first" 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -qi "certificate" <<<"$got" && ok ||
	bad "--master without a CA: want exit 1 and a certificate error, got $rc: $got"

# --- a running agent follows the cluster ------------------------------------
agent_flags=(--mode iptables --kubeconfig "$kc" --node node-a1 --min-sync-period 0)
start_agent "$tmp/agent.log" "${agent_flags[@]}"
wait_rules "first sync" "default/abc-svc -> 10.244.1.10:8080" 1 && ok
kubectl apply -f - >/dev/null <<'EOF'
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: abc-svc-7x2kq
  namespace: default
  labels:
    kubernetes.io/service-name: abc-svc
addressType: IPv4
ports:
- name: ""
  protocol: TCP
  port: 8080
endpoints:
- addresses: [10.244.1.77]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a1
  zone: zone-a
EOF
wait_rules "changed EndpointSlice" "default/abc-svc -> 10.244.1.77:8080" 1 && ok
wait_rules "old endpoint gone" "default/abc-svc -> 10.244.1.10:8080" 0 && ok
has_rule "shop/cache-local" && ok || bad "shop/cache-local has no rules before the delete"
kubectl delete service -n shop cache-local >/dev/null
wait_rules "deleted Service" "shop/cache-local" 0 && ok
stop_agent

# A --once run reads the same state.
in_ns iptables-restore <<<$'*nat\nCOMMIT\n*filter\nCOMMIT' || bad "emptying the namespace's tables"
in_ns "$kroute" run --mode iptables --kubeconfig "$kc" --node node-a1 --once >/dev/null 2>&1 &&
	ok || bad "run --once from the API failed"
has_rule "default/abc-svc -> 10.244.1.77:8080" && ok ||
	bad "run --once: the changed endpoint is not programmed"

# --- the API server goes away: rules stay, the log says how stale ------------
start_agent "$tmp/agent2.log" "${agent_flags[@]}"
wait_log "full sync: .* 3 of 3 kinds read" && ok || bad "the second agent did not sync: $(tail -5 "$log")"
apiserver_pid=$(cat "$cp/run/kube-apiserver.pid")
mapfile -d '' apiserver_cmd <"/proc/$apiserver_pid/cmdline"
kill -KILL "$apiserver_pid"
wait_log "last answered .* ago, the last programmed rules stay; retrying in" && ok ||
	bad "no staleness report after the API server died: $(tail -5 "$log")"
has_rule "default/abc-svc -> 10.244.1.77:8080" && ok ||
	bad "the rules went away with the API server"
kill -0 "$agent" 2>/dev/null && ok || bad "the agent exited when the API server died"

# --- restarted (same command line, same etcd): kroute reconnects and follows again --------
# Its pid goes where control-plane.sh stop looks for it.
ip netns exec "$ns" "${apiserver_cmd[@]}" </dev/null >>"$cp/log/kube-apiserver.log" 2>&1 &
echo $! >"$cp/run/kube-apiserver.pid"
for i in $(seq 150); do
	kubectl get --raw /readyz >/dev/null 2>&1 && break
	sleep 0.2
done
kubectl get --raw /readyz >/dev/null 2>&1 && ok || bad "the API server did not come back"
kubectl delete endpointslice -n default abc-svc-7x2kq >/dev/null || bad "kubectl delete endpointslice"
# Within the backoff (at most 30 s plus jitter) the watch is back and the change is in the rules.
for i in $(seq 500); do
	has_rule "default/abc-svc -> 10.244.1.77:8080" || break
	sleep 0.1
done
has_rule "default/abc-svc -> 10.244.1.77:8080" &&
	bad "after the restart the deleted EndpointSlice's endpoint is still programmed: $(tail -5 "$log")" || ok
finish
