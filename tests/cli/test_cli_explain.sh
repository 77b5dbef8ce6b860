#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kroute explain: the golden cases (tests/golden/cases/*/ with an
# expect.explain.json, tests/golden/README.md) each match their reviewed
# file (UPDATE_GOLDEN=1 rewrites them; review the diff), and for the bundled
# example the facts a user relies on are asserted one by one with jq, so a
# golden file regenerated with a bug still fails here.
set -u
kroute=${1:?usage: $0 path/to/kroute}
src=${KROUTE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
cases=$src/tests/golden/cases
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# explain_args DIR: sets ARGS to kroute explain's arguments for the case in
# DIR: its args (kroute flags; -f relative to the source tree), then its
# input.yaml.  A setting that is not a flag (the node's environment, which
# explain does not read) is an error.
explain_args() {
	local key val
	ARGS=()
	while read -r key val; do
		case $key in
		'') ;;
		-f) ARGS+=(-f "$src/$val") ;;
		--*) ARGS+=("$key" ${val:+"$val"}) ;;
		*) echo "'$key' is not an explain flag"; return 1 ;;
		esac
	done < <(sed 's/#.*//' "$1/args")
	[ -f "$1/input.yaml" ] && ARGS+=(-f "$1/input.yaml")
	return 0
}

n_cases=0
for want in "$cases"/*/expect.explain.json; do
	[ -f "$want" ] || continue
	dir=${want%/*}
	name=${dir##*/}
	n_cases=$((n_cases + 1))
	if ! msg=$(explain_args "$dir"); then
		bad "$name: $dir/args: $msg"
		continue
	fi
	explain_args "$dir"
	if ! "$kroute" explain "${ARGS[@]}" -o json >"$tmp/$name.json" 2>"$tmp/$name.err"; then
		bad "$name: explain ${ARGS[*]} failed: $(cat "$tmp/$name.err")"
		continue
	fi
	jq -e . "$tmp/$name.json" >/dev/null || bad "$name: output is not valid JSON"
	[ "${UPDATE_GOLDEN:-}" = 1 ] && cp "$tmp/$name.json" "$want"
	if diff -u "$want" "$tmp/$name.json" >"$tmp/diff"; then
		ok
	else
		bad "$name: output differs from $want"
		head -n 60 "$tmp/diff"
	fi
done
[ "$n_cases" -gt 0 ] || bad "no golden case in $cases has an expect.explain.json"

# The facts below read the explain of the bundled example for each node.
for node in node-a1 node-a2 node-b1; do
	"$kroute" explain -f "$src/examples" --node "$node" -o json >"$tmp/$node.json" 2>"$tmp/$node.err" ||
		bad "explain --node $node failed: $(cat "$tmp/$node.err")"
done

# check NODE JQ_EXPR EXPECTED: one fact, with its meaning in the message.
check() {
	local node=$1 expr=$2 want=$3 got
	got=$(jq -c "$expr" "$tmp/$node.json" 2>&1)
	if [ "$got" = "$want" ]; then ok; else bad "$node: $expr = $got, want $want"; fi
}
svc() { echo ".services[] | select(.service == \"$1\" and .port == \"$2\")"; }

# The user's example: iTP Local forwards to the one local pod.  It sets no
# eTP (the API server refuses eTP on a ClusterIP service), so no eTP note.
check node-a1 "$(svc default/abc-svc 80) | .localEndpoints" '["10.244.1.10:8080"]'
check node-a1 "$(svc default/abc-svc 80) | .clusterEndpoints" 'null'
check node-a1 "$(svc default/abc-svc 80) | .routes[0].address" 'null'
check node-a1 "$(svc default/abc-svc 80) | .notes | map(select(test(\"externalTrafficPolicy\"))) | length" '0'
# On node-a2 (no abc pod) iTP Local drops.
check node-a2 "$(svc default/abc-svc 80) | .routes[0].action" '"drop"'
# iTP Local without a local endpoint drops; with one it forwards.
check node-a1 "$(svc shop/cache-local redis) | .routes[0].action" '"drop"'
check node-a2 "$(svc shop/cache-local redis) | .routes[0].action" '"forward"'
# No endpoints at all rejects.
check node-a1 "$(svc shop/orphan http) | [.hasAnyEndpoints, .routes[0].action]" '[false,"reject"]'
# eTP Local: NodePort and LB forward to local only, keep the client IP; drop where none is local.
check node-a1 "$(svc shop/web-local http) | [.routes[] | [.kind, .action, .masquerade, .preservesSourceIP]]" \
	'[["clusterIP","forward",false,true],["nodePort","forward",false,true],["loadBalancer","forward",false,true]]'
check node-b1 "$(svc shop/web-local http) | [.routes[] | .action]" '["forward","drop","drop"]'
check node-a1 "$(svc shop/web-local http) | .routes[2].sourceRanges" '["203.0.113.0/24"]'
# eTP Cluster masquerades external traffic.
check node-b1 "$(svc shop/web-cluster http) | .routes[1] | [.kind, .address, .masquerade]" '["nodePort","192.168.50.21:30080",true]'
# Terminating fallback.
check node-b1 "$(svc shop/draining http) | .clusterEndpoints" '["10.244.1.50:8080","10.244.3.50:8080"]'
# Zone hints.
check node-a2 "$(svc shop/zonal grpc) | [.topology, .clusterEndpoints]" '["PreferSameZone",["10.244.1.60:9090","10.244.2.60:9090"]]'
check node-b1 "$(svc shop/zonal grpc) | .allEndpoints" '["10.244.3.60:9090"]'
# Headless: listed, no routes.
check node-a1 "$(svc shop/peers gossip) | .routes" '[]'

# --service filter and the table form.
"$kroute" explain -f "$src/examples" --node node-b1 --service shop/web-local >"$tmp/table" 2>/dev/null
if grep -q "^shop/web-local port http" "$tmp/table" && grep -q "DROP" "$tmp/table" &&
	grep -q "why: externalTrafficPolicy is Local and this node has no ready or serving endpoint" "$tmp/table" &&
	! grep -q "shop/web-cluster" "$tmp/table"; then ok; else bad "table output for --service"; cat "$tmp/table"; fi
# JSON from stdin, and the same result as from files.
for f in "$src"/examples/cluster/*.yaml; do cat "$f"; echo ---; done | "$kroute" explain -f - --node node-a1 -o json >"$tmp/stdin.json" 2>/dev/null
if diff -q "$tmp/stdin.json" "$tmp/node-a1.json" >/dev/null; then ok; else bad "stdin input differs from directory input"; fi
# --masquerade-all and --cluster-cidr change the clusterIP masquerade facts.
"$kroute" explain -f "$src/examples" --node node-a1 --masquerade-all -o json 2>/dev/null >"$tmp/m.json"
got=$(jq -c "$(svc shop/web-cluster http) | .routes[0] | [.masquerade, .preservesSourceIP]" "$tmp/m.json")
[ "$got" = '[true,false]' ] && ok || bad "--masquerade-all: $got"

# --status: a running userspace proxy's state next to the route's endpoints.
cat >"$tmp/status.json" <<'JSON'
{"mode": "userspace", "workers": 2, "counters": {},
 "services": [{"key": "shop/web-cluster:80/TCP/4/cluster", "scheduler": "lc", "endpoints": [
   {"endpoint": "10.244.1.20:8080", "removed": false, "weight": 1, "active": 4, "connections": 9,
    "failures": 0, "ejections": 0, "ejected": false, "ejected_for_ms": 0},
   {"endpoint": "10.244.2.20:8080", "removed": false, "weight": 1, "active": 0, "connections": 3,
    "failures": 3, "ejections": 1, "ejected": true, "ejected_for_ms": 9400}]}],
 "listeners": []}
JSON
"$kroute" explain -f "$src/examples" --node node-a1 --service shop/web-cluster --status "$tmp/status.json" 	>"$tmp/st.table" 2>/dev/null
if grep -q "10.244.2.20:8080 (EJECTED for 9.4 s after 3 failed connects)" "$tmp/st.table" &&
	grep -q "10.244.1.20:8080 (4 active)" "$tmp/st.table" &&
	grep -q "Runtime state from .*status.json (userspace mode)" "$tmp/st.table"; then ok; else bad "--status table"; cat "$tmp/st.table"; fi
"$kroute" explain -f "$src/examples" --node node-a1 --service shop/web-cluster --status "$tmp/status.json" 	-o json >"$tmp/st.json" 2>/dev/null
got=$(jq -c '.services[0].routes[0].runtime | map([.endpoint, .activeConnections, .ejected, .ejectedForMs])' "$tmp/st.json")
want='[["10.244.1.20:8080",4,false,0],["10.244.2.20:8080",0,true,9400]]'
[ "$got" = "$want" ] && ok || bad "--status json: $got"
# A broken status file is an error that names it.
echo '{"mode": "userspace", "services": [{"key": 1}]}' >"$tmp/bad.json"
if ! "$kroute" explain -f "$src/examples" --node node-a1 --status "$tmp/bad.json" >/dev/null 2>"$tmp/bad.err" &&
	grep -q "bad.json: services\[0\]" "$tmp/bad.err"; then ok; else bad "bad --status file: $(cat "$tmp/bad.err")"; fi

echo "cli explain: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
