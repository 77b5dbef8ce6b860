#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Schedulers through kroute explain: the global --scheduler, per-service
# annotations, weights, and --flow/--flows picks.  Bad annotations are reported
# and fall back to the default without touching other services.
set -u
kroute=${1:?usage: $0 path/to/kroute}
src=${KROUTE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
data=$src/tests/data/sched/cluster.yaml
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got $2, want $3"; fi; }

flows=()
for i in $(seq 1 12); do flows+=(--flow "192.0.2.$i:40000"); done
"$kroute" explain -f "$data" --node n1 -o json "${flows[@]}" >"$tmp/out.json" 2>"$tmp/err"
eq "exit status" "$?" 0
picks() { jq -c "[.services[] | select(.service == \"t/$1\") | .routes[0].picks[].endpoint]" "$tmp/out.json"; }
sched() { jq -r ".services[] | select(.service == \"t/$1\") | .scheduler" "$tmp/out.json"; }

# rr: strict rotation in endpoint order.
eq "rr scheduler" "$(sched rr-svc)" rr
eq "rr picks" "$(picks rr-svc)" \
	'["10.0.0.1:8080","10.0.0.2:8080","10.0.0.3:8080","10.0.0.1:8080","10.0.0.2:8080","10.0.0.3:8080","10.0.0.1:8080","10.0.0.2:8080","10.0.0.3:8080","10.0.0.1:8080","10.0.0.2:8080","10.0.0.3:8080"]'
# wrr 4:2:0, as a kernel IPVS service built the way ipvsadm builds it (destinations added one
# by one, each add running ip_vs_wrr_dest_changed, which leaves cw = 1): a b a a b a ...;
# weight 0 never.
eq "wrr picks" "$(picks wrr-svc)" \
	'["10.0.0.1:8080","10.0.0.2:8080","10.0.0.1:8080","10.0.0.1:8080","10.0.0.2:8080","10.0.0.1:8080","10.0.0.1:8080","10.0.0.2:8080","10.0.0.1:8080","10.0.0.1:8080","10.0.0.2:8080","10.0.0.1:8080"]'
# Unknown scheduler annotation: default (random) used, reported on stderr and in every route's reason.
eq "bad annotation falls back" "$(sched bad-svc)" random
grep -q 'Service t/bad-svc: annotation kroute.io/scheduler: unknown scheduler "leastconn"' "$tmp/err" && ok || bad "stderr lacks the bad-svc warning: $(cat "$tmp/err")"
eq "reason names the problem" "$(jq -r '.services[] | select(.service == "t/bad-svc") | .routes[0].reason | test("unknown scheduler")' "$tmp/out.json")" true
# Malformed weights: lc kept, weights ignored, reported.
eq "lc kept with bad weights" "$(sched badweights-svc)" lc
grep -q 'Service t/badweights-svc: annotation kroute.io/endpoint-weights:.*heavy' "$tmp/err" && ok || bad "stderr lacks the weights warning"
# lc with every flow staying open spreads evenly, first minimum in order first.
eq "lc picks" "$(picks badweights-svc | jq -c '.[0:3]')" '["10.0.0.1:8080","10.0.0.2:8080","10.0.0.3:8080"]'
# Services with good annotations are untouched by the bad ones.
eq "maglev" "$(sched maglev-svc)" maglev
# Hash schedulers: the same flow always lands on the same endpoint, across runs.
"$kroute" explain -f "$data" --node n1 -o json "${flows[@]}" --service t/maglev-svc 2>/dev/null >"$tmp/again.json"
eq "maglev stable across runs" "$(jq -c '.services[0].routes[0].picks' "$tmp/again.json")" \
	"$(jq -c '.services[] | select(.service == "t/maglev-svc") | .routes[0].picks' "$tmp/out.json")"

# Global default: --scheduler applies to services without an annotation; unknown is a startup error.
"$kroute" explain -f "$src/examples" --node node-a1 -o json --scheduler wlc 2>/dev/null >"$tmp/g.json"
eq "global scheduler" "$(jq -r '.services[] | select(.service == "shop/web-cluster") | .scheduler' "$tmp/g.json")" wlc
"$kroute" explain -f "$src/examples" --node node-a1 --scheduler nope >/dev/null 2>"$tmp/e"
eq "unknown --scheduler exits 2" "$?" 2
grep -q 'unknown scheduler "nope"; valid: ' "$tmp/e" && ok || bad "unknown --scheduler message: $(cat "$tmp/e")"
"$kroute" explain -f "$src/examples" --node node-a1 --scheduler-flags mh-port,bogus >/dev/null 2>"$tmp/e"
eq "bad --scheduler-flags exits 2" "$?" 2

# --flows FILE: 100,000 flows in one call; random shares within 3% of 1/3 each.
python3 -c '
import random
random.seed(7)
for i in range(100000):
    print("10.%d.%d.%d:%d" % (random.randint(0, 255), random.randint(0, 255), random.randint(1, 254), random.randint(1024, 65535)))' >"$tmp/flows"
"$kroute" explain -f "$src/examples" --node node-a1 --service shop/web-cluster -o json --flows "$tmp/flows" 2>/dev/null >"$tmp/many.json"
eq "100k picks" "$(jq '.services[0].routes[0].picks | length' "$tmp/many.json")" 100000
share=$(jq '[.services[0].routes[0].picks | group_by(.endpoint)[] | length] | map(. / 100000 - 1/3 | fabs) | max < 0.03' "$tmp/many.json")
eq "random shares within 3%" "$share" true
printf '10.0.0.1:80\nnot-a-flow\n' >"$tmp/badflows"
"$kroute" explain -f "$src/examples" --node node-a1 --flows "$tmp/badflows" >/dev/null 2>"$tmp/e"
eq "bad --flows exits 2" "$?" 2
grep -q "badflows:2: \"not-a-flow\" is not SRC_IP:SRC_PORT" "$tmp/e" && ok || bad "bad --flows message: $(cat "$tmp/e")"

echo "cli sched: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
