#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# deploy/ against the real control plane (control-plane.sh), all inside a
# network namespace this test creates (the API server listens on its
# 127.0.0.1; kroute's rules go into it only):
# - every variant (deploy/overlays/*, deploy/cleanup-kube-proxy) is accepted
#   by `kubectl apply --dry-run=server --validate=strict -k`, and the server
#   does refuse a broken copy (an unknown field, a hostPort that is not the
#   containerPort), so the acceptance means something; every overlay's
#   DaemonSet has the shape kube-proxy's has and its mode's configuration;
# - the ClusterRole is sufficient: with the ServiceAccount's own token
#   (kubectl create token), kroute explain equals explain through the admin
#   identity for every node, and a kroute run follows a changed EndpointSlice,
#   a deleted Service and a relabelled Node (so it lists and watches all
#   three kinds) with no 403 in its log;
# - and minimal: its rules are exactly list and watch on services, nodes and
#   endpointslices; without any one of those six, kroute fails with the API
#   server's 403 for it; kubectl auth can-i --as the ServiceAccount denies
#   everything else tried (secrets, updates, get, events, endpoints, pods);
# - the capabilities: kroute run --once with exactly the capabilities the
#   iptables and userspace overlays give (setpriv: root without the others)
#   syncs cleanly, and without any one of them it fails or is refused by the
#   kernel (NET_RAW: with iptables-legacy; iptables-nft needs NET_ADMIN only).
# Usage: test_deploy.sh KROUTE   (root; exits 77 when not root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nslib.sh
. "$here/nslib.sh" "$@"
ns_start deploy

# render DIR: the variant's objects as one JSON List (kustomize, then kubectl's own decoding).
render() {
	kubectl kustomize "$1" | kubectl create --dry-run=client -o json -f - |
		jq -s '{apiVersion: "v1", kind: "List", items: .}'
}
# pick KIND LIST_FILE: the one object of that kind.
pick() { jq --arg k "$1" '.items[] | select(.kind == $k)' "$2"; }

# --- every variant passes the API server's own validation ---------------------
variants=("$src"/deploy/overlays/*/ "$src"/deploy/cleanup-kube-proxy/)
[ "${#variants[@]}" -ge 6 ] && ok || bad "expected 5 overlays and the cleanup, found: ${variants[*]}"
for v in "${variants[@]}"; do
	name=${v#"$src"/deploy/}
	if ! kubectl kustomize "$v" >"$tmp/render.yaml" 2>"$tmp/err"; then
		bad "kubectl kustomize $name: $(cat "$tmp/err")"
		continue
	fi
	out=$(kubectl apply --dry-run=server --validate=strict -f "$tmp/render.yaml" 2>&1) &&
		grep -q "daemonset.apps/.* (server dry run)" <<<"$out" && ok ||
		bad "kubectl apply --dry-run=server $name refused: $out"
done
# The same check refuses what is wrong: an unknown field, an invalid value.
render "$src/deploy/overlays/iptables" >"$tmp/iptables.json"
pick DaemonSet "$tmp/iptables.json" >"$tmp/ds.json"
jq '.spec.template.spec.hostNetwrok = true' "$tmp/ds.json" >"$tmp/bad1.json"
jq '.spec.template.spec.containers[0].ports[0].hostPort = 1' "$tmp/ds.json" >"$tmp/bad2.json"
for b in bad1 bad2; do
	out=$(kubectl apply --dry-run=server --validate=strict -f "$tmp/$b.json" 2>&1) &&
		bad "the API server accepted a broken DaemonSet ($b): $out" || ok
done

# check_overlay MODE: the overlay's DaemonSet is kube-proxy's shape, its config is MODE's.
check_overlay() {
	local mode=$1 ds conf want
	render "$src/deploy/overlays/$mode" >"$tmp/$mode.json" || { bad "rendering $mode"; return; }
	ds=$(pick DaemonSet "$tmp/$mode.json")
	conf=$(pick ConfigMap "$tmp/$mode.json" | jq -r '.data["config.conf"]')
	want='{"ns":"kube-system","host":true,"prio":"system-node-critical","sa":"kroute",
	  "tol":[{"key":"CriticalAddonsOnly","operator":"Exists"},{"operator":"Exists"}],
	  "args":["--config=/var/lib/kroute/config.conf","--hostname-override=$(NODE_NAME)"],
	  "node":"spec.nodeName","live":["/livez",10256],"ready":["/healthz",10256],
	  "priv":false,"drop":["ALL"],"cfgmount":"/var/lib/kroute"}'
	got=$(jq -c '.spec.template.spec as $s | $s.containers[0] as $c | {ns: .metadata.namespace,
	  host: $s.hostNetwork, prio: $s.priorityClassName, sa: $s.serviceAccountName,
	  tol: $s.tolerations, args: $c.args,
	  node: ($c.env[] | select(.name == "NODE_NAME") | .valueFrom.fieldRef.fieldPath),
	  live: [$c.livenessProbe.httpGet.path, $c.livenessProbe.httpGet.port],
	  ready: [$c.readinessProbe.httpGet.path, $c.readinessProbe.httpGet.port],
	  priv: $c.securityContext.privileged, drop: $c.securityContext.capabilities.drop,
	  cfgmount: ($c.volumeMounts[] | select(.name == "config") | .mountPath)}' <<<"$ds")
	[ "$got" = "$(jq -c . <<<"$want")" ] && ok || bad "overlay $mode: the DaemonSet's shape: $got"
	grep -qx "mode: $mode" <<<"$conf" && grep -qx "kind: KubeProxyConfiguration" <<<"$conf" &&
		ok || bad "overlay $mode: config.conf is not a KubeProxyConfiguration of mode $mode: $conf"
	# The ConfigMap the DaemonSet mounts is the one the overlay generates (hashed name).
	[ "$(jq -r '.spec.template.spec.volumes[] | select(.name == "config") | .configMap.name' <<<"$ds")" = \
		"$(pick ConfigMap "$tmp/$mode.json" | jq -r .metadata.name)" ] && ok ||
		bad "overlay $mode: the DaemonSet does not mount the generated ConfigMap"
}
for m in iptables userspace nftables ipvs ebpf; do
	check_overlay "$m"
done
# caps MODE: the capabilities the overlay adds, one a line.
caps() {
	pick DaemonSet "$tmp/$1.json" | jq -r '.spec.template.spec.containers[0].securityContext.capabilities.add[]'
}

# --- the RBAC objects for real, and a token of the ServiceAccount ------------
jq '.items |= map(select(.kind == "ServiceAccount" or .kind == "ClusterRole" or .kind == "ClusterRoleBinding"))' \
	"$tmp/iptables.json" >"$tmp/rbac.json"
kubectl apply -f "$tmp/rbac.json" >/dev/null || bad "kubectl apply of the ServiceAccount, ClusterRole and binding"
kubectl create namespace shop >/dev/null || bad "kubectl create namespace shop"
for f in "$src"/examples/cluster/*.yaml; do
	kubectl apply -f "$f" >/dev/null 2>&1 || bad "kubectl apply -f $f"
done
token=$(kubectl create token kroute -n kube-system --duration 1h) || bad "kubectl create token"
sakc=$tmp/sa.kubeconfig
cat >"$sakc" <<EOF
apiVersion: v1
kind: Config
current-context: kroute
contexts: [{name: kroute, context: {cluster: test, user: kroute}}]
clusters: [{name: test, cluster: {server: "$(cat "$cp/server")", certificate-authority: "$cp/pki/ca.crt"}}]
users: [{name: kroute, user: {token: "$token"}}]
EOF
got=$(in_ns "$cp/bin/kubectl" --kubeconfig "$sakc" auth whoami -o jsonpath='{.status.userInfo.username}')
[ "$got" = system:serviceaccount:kube-system:kroute ] && ok || bad "the token is not the ServiceAccount's: $got"

# Minimal, on paper: the role's rules are exactly list and watch on the three kinds.
got=$(pick ClusterRole "$tmp/rbac.json" | jq .rules |
	jq -c '[.[] | .apiGroups[] as $g | .resources[] as $r | .verbs[] as $v | "\($g)/\($r):\($v)"] | sort')
want='["/nodes:list","/nodes:watch","/services:list","/services:watch","discovery.k8s.io/endpointslices:list","discovery.k8s.io/endpointslices:watch"]'
[ "$got" = "$want" ] && ok || bad "the ClusterRole's rules: $got, want $want"
sa=system:serviceaccount:kube-system:kroute
can() { kubectl auth can-i --as="$sa" "$@" >/dev/null 2>&1; }
for a in "list services" "watch services" "list nodes" "watch nodes" \
	"list endpointslices.discovery.k8s.io" "watch endpointslices.discovery.k8s.io"; do
	# shellcheck disable=SC2086 # verb and resource
	can $a && ok || bad "the ServiceAccount cannot $a"
done
for a in "list secrets" "get secrets" "update services" "patch services" "get services" \
	"get nodes" "patch nodes" "update nodes" "create events" "create events.events.k8s.io" \
	"list endpoints" "list pods" "list configmaps" "create endpointslices.discovery.k8s.io" \
	"delete endpointslices.discovery.k8s.io" "create serviceaccounts --subresource=token -n kube-system"; do
	# shellcheck disable=SC2086
	can $a && bad "the ServiceAccount can $a" || ok
done

# --- sufficient: kroute with the ServiceAccount's token ---------------------
nodes=$(kubectl get nodes -o jsonpath='{.items[*].metadata.name}')
for n in $nodes; do
	want=$(in_ns "$kroute" explain --kubeconfig "$kc" --node "$n" 2>&1)
	got=$(in_ns "$kroute" explain --kubeconfig "$sakc" --node "$n" 2>&1)
	[ -n "$want" ] && [ "$got" = "$want" ] && ok ||
		bad "explain --node $n with the ServiceAccount's token differs: $(diff <(echo "$want") <(echo "$got") | head)"
done
log=
# sa_agent LOG ARGS...: kroute run in the namespace with the ServiceAccount's kubeconfig.
sa_agent() {
	start_agent "$1" --kubeconfig "$sakc" --node node-a1 --min-sync-period 0 "${@:2}"
}
sa_agent "$tmp/agent.log" --mode iptables
wait_log "full sync: .* 3 of 3 kinds read" && ok || bad "the agent did not sync: $(tail -5 "$log")"
kubectl patch endpointslice -n default abc-svc-7x2kq --type=json \
	-p '[{"op":"replace","path":"/endpoints/0/addresses/0","value":"10.244.1.77"}]' >/dev/null ||
	bad "kubectl patch endpointslice"
wait_rules "the watched EndpointSlice change did not reach the rules" \
	"default/abc-svc -> 10.244.1.77:8080" 1 && ok
kubectl delete service -n shop cache-local >/dev/null || bad "kubectl delete service"
wait_rules "the watched Service deletion did not reach the rules" "shop/cache-local" 0 && ok
# The Node: another zone sends shop/zonal to that zone's hinted endpoint.
has_rule "shop/zonal:grpc -> 10.244.3.60:9090" && bad "shop/zonal already goes to zone-b's endpoint" || ok
kubectl label node node-a1 topology.kubernetes.io/zone=zone-b --overwrite >/dev/null || bad "kubectl label node"
wait_rules "the watched Node change did not reach the rules" \
	"shop/zonal:grpc -> 10.244.3.60:9090" 1 && ok
grep -qiE "403|forbidden" "$log" && bad "the agent was refused something: $(grep -iE '403|forbidden' "$log" | head -3)" || ok
stop_agent
in_ns "$kroute" cleanup || bad "kroute cleanup in the namespace"

# --- minimal: without any one of the six, kroute is refused ------------------
# role_without RESOURCE VERB: the ClusterRole less that one permission.
role_without() {
	pick ClusterRole "$tmp/rbac.json" | jq --arg r "$1" --arg v "$2" '
	  .rules = [.rules[] | .resources[] as $res | .verbs[] as $verb
	    | select(($res == $r and $verb == $v) | not)
	    | {apiGroups, resources: [$res], verbs: [$verb]}]' >"$tmp/role.json"
	kubectl apply -f "$tmp/role.json" >/dev/null
}
for r in services nodes endpointslices; do
	role_without "$r" list || bad "replacing the ClusterRole"
	for i in $(seq 50); do # RBAC follows the role within a moment
		can list "$r" || break
		sleep 0.1
	done
	got=$(in_ns "$kroute" explain --kubeconfig "$sakc" --node node-a1 2>&1)
	rc=$?
	[ "$rc" = 1 ] && grep -q "listing $r: HTTP 403" <<<"$got" && ok ||
		bad "without list on $r: want exit 1 and a 403 listing $r, got $rc: $(echo "$got" | head -3)"
	role_without "$r" watch || bad "replacing the ClusterRole"
	for i in $(seq 50); do
		can watch "$r" || break
		sleep 0.1
	done
	sa_agent "$tmp/agent-$r.log" --mode iptables
	wait_log "watching $r: HTTP 403" && ok || bad "without watch on $r: no 403 watching $r: $(tail -3 "$log")"
	stop_agent
done
kubectl apply -f "$tmp/rbac.json" >/dev/null || bad "restoring the ClusterRole"
in_ns "$kroute" cleanup || bad "kroute cleanup in the namespace"

# --- capabilities: exactly the overlay's, and each one needed ----------------
# capped CAPS ARGS...: kroute run --once in the namespace as root with only CAPS
# (comma-separated, e.g. net_admin,net_raw; empty: none), output in $tmp/capped.log.
capped() {
	local caps=-all c
	for c in ${1//,/ }; do
		caps+=",+$c"
	done
	shift
	PATH=${capped_path:-$PATH} ip netns exec "$ns" setpriv --bounding-set="$caps" --inh-caps=-all -- \
		"$kroute" run --kubeconfig "$sakc" --node node-a1 --once "$@" >"$tmp/capped.log" 2>&1
}
# check_caps MODE DENIED_PATTERN ARGS...: with the overlay's capabilities the sync is clean;
# without each one it fails, or the kernel's refusal (DENIED_PATTERN) is in the log.
check_caps() {
	local mode=$1 denied=$2 all c less rc
	shift 2
	all=$(caps "$mode" | tr 'A-Z' 'a-z' | paste -sd, -)
	capped "$all" --mode "$mode" "$@"
	rc=$?
	[ "$rc" = 0 ] && ! grep -qE "warning|error" "$tmp/capped.log" && ok ||
		bad "$mode with $all ($label): want a clean sync, got $rc: $(head -3 "$tmp/capped.log")"
	PATH=${capped_path:-$PATH} in_ns "$kroute" cleanup >/dev/null 2>&1
	for c in ${all//,/ }; do
		less=$(tr , '\n' <<<"$all" | grep -vx "$c" | paste -sd, -)
		capped "$less" --mode "$mode" "$@"
		rc=$?
		if [ "${optional_cap:-}" = "$c" ]; then
			[ "$rc" = 0 ] && ok || bad "$mode without $c ($label) should still work, got $rc: $(head -3 "$tmp/capped.log")"
		else
			{ [ "$rc" != 0 ] || grep -qE "$denied" "$tmp/capped.log"; } && ok ||
				bad "$mode without $c ($label): the sync did not fail: $(head -3 "$tmp/capped.log")"
		fi
		PATH=${capped_path:-$PATH} in_ns "$kroute" cleanup >/dev/null 2>&1
	done
}
command -v setpriv >/dev/null || bad "setpriv (util-linux) is missing"
[ "$(caps iptables | sort | paste -sd' ')" = "NET_ADMIN NET_RAW" ] && ok || bad "iptables overlay caps: $(caps iptables)"
[ "$(caps userspace | sort | paste -sd' ')" = "NET_ADMIN NET_BIND_SERVICE" ] && ok ||
	bad "userspace overlay caps: $(caps userspace)"
# iptables-nft (this host's iptables): NET_RAW is not needed there.
label=iptables-nft optional_cap=net_raw check_caps iptables "Permission denied|not permitted" \
	--iptables-localhost-nodeports=false
# iptables-legacy: the same binaries under the names kroute runs, first in PATH.
legacy=$(command -v xtables-legacy-multi || echo /usr/sbin/xtables-legacy-multi)
if [ -x "$legacy" ]; then
	mkdir -p "$tmp/legacy"
	for p in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
		ln -s "$legacy" "$tmp/legacy/$p"
	done
	PATH=$tmp/legacy:$PATH ip netns exec "$ns" iptables --version | grep -q legacy && ok ||
		bad "the legacy PATH does not run iptables-legacy"
	capped_path=$tmp/legacy:$PATH label=iptables-legacy check_caps iptables \
		"Permission denied|not permitted" --iptables-localhost-nodeports=false
	PATH=$tmp/legacy:$PATH in_ns "$kroute" cleanup >/dev/null 2>&1
	capped_path=
else
	bad "xtables-legacy-multi is missing: NET_RAW's need cannot be shown"
fi
label=userspace check_caps userspace "Permission denied|not permitted"
finish
