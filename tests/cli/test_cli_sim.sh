#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kroute sim end to end on the bundled example with tests/cli/sim/example.traffic:
# the table and JSON match their reviewed files (UPDATE_GOLDEN=1 rewrites them;
# review the diff), the facts the example is built to show are asserted with jq
# (so a regenerated golden file with a bug still fails), the SVG is well-formed
# with one bar per variant and measure, and bad usage exits 2.
set -u
. "$(dirname "$0")/testlib.sh"
dir=$src/tests/cli/sim

args=(-f "$src/examples" --traffic "$dir/example.traffic")
for o in table json; do
	"$kroute" sim "${args[@]}" -o "$o" >"$tmp/example.$o" 2>"$tmp/err"
	eq "-o $o: exit status" "$?" 0
	[ "${UPDATE_GOLDEN:-}" = 1 ] && cp "$tmp/example.$o" "$dir/example.$o"
	if diff -u "$dir/example.$o" "$tmp/example.$o" >"$tmp/diff"; then ok; else
		bad "-o $o differs from $dir/example.$o"
		head -n 40 "$tmp/diff"
	fi
done

r() { jq -c ".results[] | select(.variant == \"$1\") | $2" "$tmp/example.json"; }
# web-local (eTP Local, endpoints on node-a1 and node-a2): node-b1's 300 external requests are
# dropped as is and under Local (300 of 900), not under Cluster, which masquerades them.
eq "as-is dropped" "$(r as-is .dropped)" 300
eq "Local dropped" "$(r Local .dropped)" 300
eq "Cluster dropped" "$(r Cluster .dropped)" 0
eq "as-is client IP kept" "$(r as-is .client_ip_kept_fraction)" 1
eq "Cluster client IP kept" "$(r Cluster .client_ip_kept_fraction)" 0.333333
# As is, node-a1's external requests all stay on node-a1's one local endpoint.
eq "web-local on node-a1" "$(r as-is '[.endpoints[] | select(.name | startswith("shop/web-local")) | .requests]')" '[300,0]'
# Local keeps every forwarded request on its node: nothing crosses nodes or zones.
eq "Local crossings" "$(r Local '[.cross_node_fraction, .cross_zone_fraction, .added_latency_ms]')" '[0,0,0]'
# Every request is accounted for: forwarded + dropped + rejected = requests, in every result.
eq "accounting" "$(jq -c '[.results[] | .forwarded + .dropped + .rejected == .requests] | all' "$tmp/example.json")" true
eq "per-endpoint sums" "$(jq -c '[.results[] | ([.endpoints[].requests] | add) == .forwarded] | all' "$tmp/example.json")" true

# The chart: well-formed, 5 variants x 4 measures bars (+ 5 legend squares + the background).
"$kroute" sim "${args[@]}" --svg "$tmp/c.svg" >/dev/null 2>&1
eq "--svg: exit status" "$?" 0
python3 -c "import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(len(d.getElementsByTagName('rect')))" "$tmp/c.svg" >"$tmp/n" 2>&1
eq "--svg rects" "$(cat "$tmp/n")" 26

# Variants and schedulers chosen: one result each pair, in order.
"$kroute" sim "${args[@]}" --variants Cluster,as-is --schedulers rr,maglev -o json >"$tmp/v.json" 2>&1
eq "--variants/--schedulers" "$(jq -c '[.results[] | .variant + "/" + .scheduler]' "$tmp/v.json")" \
	'["as-is/rr","as-is/maglev","Cluster/rr","Cluster/maglev"]'

usage_error sim "--traffic FILE is required" -f "$src/examples"
usage_error sim "-f PATH is required" --traffic "$dir/example.traffic"
usage_error sim 'is not as-is, Cluster' "${args[@]}" --variants Sideways
usage_error sim 'unknown scheduler "fastest"' "${args[@]}" --schedulers rr,fastest
printf 'pods node-a1 shop/nope 5\n' >"$tmp/bad.traffic"
usage_error sim 'traffic line 1: no service shop/nope' -f "$src/examples" --traffic "$tmp/bad.traffic"
printf 'pods node-a1 shop/web-cluster many\n' >"$tmp/bad2.traffic"
usage_error sim "bad2.traffic:1: \"many\" is not a request rate" -f "$src/examples" --traffic "$tmp/bad2.traffic"
usage_error sim 'cannot open' -f "$src/examples" --traffic "$tmp/none"

finish sim
