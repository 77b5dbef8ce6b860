#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# nftables mode: sync time, side by side in one run (issue #14's benchmark):
#
#   nftables  `kroute run --mode nftables --once` in a fresh network namespace:
#             wall time, peak RSS, and kroute's own split (apply, of which in
#             the kernel: sendmsg of the batch)
#   iptables  `kroute run --mode iptables --once`, the same way (up to IPT_MAX
#             services: it takes minutes beyond)
#   peer      kube-proxy's nftables mode's shape for the same services, loaded
#             the way kube-proxy loads a full sync: one `nft -f` of the whole
#             table (a chain per service with `numgen random mod N vmap` to a
#             chain per endpoint, a service-ips verdict map).  The script is
#             made from kroute's own table (nft -j list) by peer_script below,
#             so both hold the same services and endpoints.  (Up to PEER_MAX.)
#
# then, at CHANGE_SIZE services under a running `kroute run --mode nftables`:
# one endpoint change of a service of its own (kroute's partial sync from its
# log, and the time from the file's rename until the element is in the kernel,
# polled with nft), and the first-packet connect latency to a ClusterIP at 10
# and at CHANGE_SIZE services (a pod namespace running kr-backend, kr-probe
# from the node; N connections each, each a new connection).
#
# Every command that touches nf_tables runs in a namespace this script creates
# (krnftb-PID-N) and deletes.  Needs root, ip, nft, python3, /usr/bin/time.
#
# Environment: BUILD (default build), OUT (default bench/out/nftables), SIZES
# (default "1000 10000 50000"; empty: none, the live part only), IPT_MAX (default 10000), PEER_MAX (default
# 10000), RUNS (default 3, medians), CHANGE_SIZE (default 10000), CHANGES
# (default 5), CONNECTS (default 200), LAT_ROUNDS (default 3: connect latency at 10 and at
# CHANGE_SIZE services, in turn), LIVE (default 1; 0: full syncs only).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/nftables}
SIZES=${SIZES-"1000 10000 50000"} # empty: no full syncs
IPT_MAX=${IPT_MAX:-10000}
PEER_MAX=${PEER_MAX:-10000}
RUNS=${RUNS:-3}
CHANGE_SIZE=${CHANGE_SIZE:-10000}
CHANGES=${CHANGES:-5}
CONNECTS=${CONNECTS:-200}
LAT_ROUNDS=${LAT_ROUNDS:-3}
LIVE=${LIVE:-1}
NODE=node-00001

die() { echo "bench_nftables.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for p in ip nft python3 /usr/bin/time; do command -v "$p" >/dev/null || die "$p not found"; done
[ -x "$BUILD/kroute" ] && [ -x "$BUILD/bench/gen_cluster" ] || die "build $BUILD first"
bench_results_init
mkdir -p "$W/bin"
cp "$BUILD/kroute" "$W/bin/kroute" # others rebuild the tree meanwhile
KROUTE=$W/bin/kroute

bench_ns_init krnftb
newns_lo() { newns; ip -n "$NS" link set lo up; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }

# peer_script < nft -j list table ip kroute: kube-proxy's nftables layout for the same services.
peer_script() {
	python3 -c '
import json, sys
d = json.load(sys.stdin)["nftables"]
maps = {o["map"]["name"]: o["map"] for o in d if "map" in o}
out = ["table ip kube-proxy {",
       " chain mark-for-masquerade {\n  meta mark set meta mark | 0x4000\n }",
       " chain masquerading {\n  meta mark & 0x4000 == 0 return\n  meta mark set meta mark ^ 0x4000\n  masquerade fully-random\n }",
       " chain nat-prerouting {\n  type nat hook prerouting priority dstnat; policy accept;\n  jump services\n }",
       " chain nat-output {\n  type nat hook output priority -100; policy accept;\n  jump services\n }",
       " chain nat-postrouting {\n  type nat hook postrouting priority srcnat; policy accept;\n  jump masquerading\n }"]
# kroute keeps the slots of every service in endpoints-XX, keyed id . slot (id: two host-order
# words); the id of a cluster set is the hash its svc-H chain is named after.
slots = {}
for name, m in maps.items():
    if not name.startswith("endpoints-"):
        continue
    for key, ep in m.get("elem", []):
        w0, w1, slot = key["concat"]
        slots.setdefault("%016x" % (w0 | w1 << 32), []).append((slot, ep))
# Ports with a cluster IP only have no chain: their slots are in pick-endpoints, keyed
# address . protocol . port . slot.
picked = {}
for key, ep in maps.get("pick-endpoints", {}).get("elem", []):
    ip, proto, port, slot = key["concat"]
    picked.setdefault((ip, proto, port), []).append((slot, ep))
targets = []
for key, verdict in maps["services"].get("elem", []):
    ip, proto, port = key["concat"]
    target = verdict["goto"]["target"]
    if target.startswith("svc-"):
        targets.append((ip, proto, port, target[4:], slots.get(target[4:], [])))
for (ip, proto, port), eps in sorted(picked.items()):
    targets.append((ip, proto, port, "%016x" % (hash((ip, proto, port)) & (2**64 - 1)), eps))
elems = []
for ip, proto, port, h, eps in targets:
    eps = sorted(eps, key=lambda e: e[0])
    svc = "service-%s-%s/%s/%s" % (h[:8], ip, proto, port)
    vm = []
    for i, (_, ep) in enumerate(eps):
        eip, eport = ep["concat"]
        ch = "endpoint-%s-%s/%s__%s/%s" % (h[:8], ip, port, eip, eport)
        out.append(" chain %s {\n  ip saddr %s jump mark-for-masquerade\n  meta l4proto %s dnat to %s:%s\n }" % (ch, eip, proto, eip, eport))
        vm.append("%d : goto %s" % (i, ch))
    # (services whose endpoints kroute keeps elsewhere, affinity ones, get the masquerade rule only)
    pick = "\n  numgen random mod %d vmap { %s }" % (len(vm), ", ".join(vm)) if vm else ""
    out.append(" chain %s {\n  ip daddr %s %s dport %s ip saddr != 10.0.0.0/8 jump mark-for-masquerade%s\n }" % (svc, ip, proto, port, pick))
    elems.append("%s . %s . %s : goto %s" % (ip, proto, port, svc))
out.append(" map service-ips {\n  type ipv4_addr . inet_proto . inet_service : verdict\n  elements = { %s }\n }" % ",\n   ".join(elems))
out.append(" chain services {\n  ip daddr . meta l4proto . th dport vmap @service-ips\n }")
out.append("}")
print("\n".join(out))
'
}

# once MODE DIR: kroute run --once in a fresh namespace; records wall, RSS and kroute's split.
once() {
	local mode=$1 dir=$2 size=$3 run=$4 t0 ms line
	newns_lo
	t0=$(now_ns)
	nx /usr/bin/time -f "%M" -o "$W/rss" "$KROUTE" run --mode "$mode" --node "$NODE" -f "$dir" \
		--cluster-cidr 10.0.0.0/8 --once >"$W/once.log" 2>&1 || die "$mode --once failed: $(tail -3 "$W/once.log")"
	ms=$(ms_since "$t0")
	line=$(grep "full sync:" "$W/once.log" | tail -1)
	res size="$size" target="$mode" run="$run" wall_ms="$ms" rss_kb="$(cat "$W/rss")" \
		read_ms="$(sed -nE 's/.*\(read ([0-9.]+),.*/\1/p' <<<"$line")" \
		policy_ms="$(sed -nE 's/.* policy ([0-9.]+),.*/\1/p' <<<"$line")" \
		apply_ms="$(sed -nE 's/.*apply ([0-9.]+) .*/\1/p' <<<"$line")" \
		kernel_ms="$(sed -nE 's/.*kernel tools ([0-9.]+)\).*/\1/p' <<<"$line")"
	[ "$mode" = nftables ] && [ "$run" = 1 ] && nx nft -j list table ip kroute >"$W/kroute-$size.json"
	delns
}

peer() {
	local size=$1 run=$2 t0
	[ -s "$W/peer-$size.nft" ] || peer_script <"$W/kroute-$size.json" >"$W/peer-$size.nft"
	newns_lo
	t0=$(now_ns)
	nx /usr/bin/time -f "%M" -o "$W/rss" nft -f "$W/peer-$size.nft" || die "nft -f failed"
	res size="$size" target=peer run="$run" wall_ms="$(ms_since "$t0")" rss_kb="$(cat "$W/rss")" \
		chains="$(grep -c '^ chain' "$W/peer-$size.nft")"
	delns
}

for size in $SIZES; do
	dir=$W/c$size
	mkdir -p "$dir"
	"$BUILD/bench/gen_cluster" -s "$size" -e 10 -n 1000 -o "$dir/cluster.yaml"
	for run in $(seq "$RUNS"); do
		echo "== $size services, run $run (load $(loadavg))"
		once nftables "$dir" "$size" "$run"
		[ "$size" -le "$PEER_MAX" ] && peer "$size" "$run"
		[ "$size" -le "$IPT_MAX" ] && once iptables "$dir" "$size" "$run"
	done
done

# ---- one endpoint change and connect latency at CHANGE_SIZE (and 10) services ----
# A pod namespace with kr-backend, a service of its own (10.255.0.1) in a small
# file next to the generated cluster.
latency_setup() {
	# (two declarations: in one, $size would be expanded before the first assignment,
	# reading the full-sync loop's variable, unset when SIZES is empty)
	local size=$1
	local dir=$W/live$size
	mkdir -p "$dir"
	"$BUILD/bench/gen_cluster" -s "$size" -e 10 -n 1000 -o "$dir/cluster.yaml"
	bench_service "$dir"
	bench_slice "$dir" 192.168.77.2
	bench_node_pod
	ip netns exec "$POD_NS" "$BUILD/tests/cluster/kr-backend" --name bench --tcp 8080 \
		--ready-file "$W/ready" </dev/null >/dev/null 2>&1 &
	PIDS+=($!)
	ip netns exec "$NODE_NS" "$KROUTE" run --mode nftables --node "$NODE" -f "$dir" \
		--cluster-cidr 10.0.0.0/8 --min-sync-period 0s --sync-period 1h </dev/null >"$W/live.log" 2>&1 &
	PIDS+=($!)
	KR_PID=$!
	for _ in $(seq 600); do grep -q "full sync:" "$W/live.log" && break; sleep 0.1; done
	grep -q "full sync:" "$W/live.log" || die "kroute did not sync: $(tail -3 "$W/live.log")"
	LIVE_DIR=$dir
}
latency_teardown() {
	kill "$KR_PID"; wait "$KR_PID" 2>/dev/null || true
	delns "$NODE_NS"
	delns "$POD_NS"
}
connect_latency() { # SIZE: CONNECTS sequential connections to the ClusterIP
	local t0
	ip netns exec "$NODE_NS" "$BUILD/tests/cluster/kr-probe" tcp 10.255.0.1 80 --count 5 >/dev/null
	t0=$(now_ns)
	ip netns exec "$NODE_NS" "$BUILD/tests/cluster/kr-probe" tcp 10.255.0.1 80 --count "$CONNECTS" \
		>"$W/probe.out"
	res size="$1" target=connect round="${2:-1}" connects="$CONNECTS" \
		answered="$(grep -c '^pod=bench' "$W/probe.out")" \
		us_per_connect="$((($(now_ns) - t0) / 1000 / CONNECTS))"
}

[ "$LIVE" = 1 ] || { echo "(LIVE=0: no live change or connect latency)"; SKIP_LIVE=1; }
# The bench service (a cluster IP only, random picks) has no chain: its second endpoint is
# the element 10.255.0.1 . tcp . 80 . 1 of pick-endpoints (plan.h), looked up by key (a
# listing of the map takes seconds at 10,000 services).
in_kernel() { # IP: whether slot 1 of the bench service holds IP
	ip netns exec "$NODE_NS" nft get element ip kroute pick-endpoints '{ 10.255.0.1 . tcp . 80 . 1 }' \
		2>/dev/null | grep -q "$1 . 8080"
}
# Connect latency at 10 and at CHANGE_SIZE services, LAT_ROUNDS rounds in turn (the
# machine is shared: a round of each side by side, medians).
for round in $([ -z "${SKIP_LIVE:-}" ] && seq "$LAT_ROUNDS"); do
	latency_setup 10
	connect_latency 10 "$round"
	latency_teardown
	[ "$round" = "$LAT_ROUNDS" ] && break
	latency_setup "$CHANGE_SIZE"
	connect_latency "$CHANGE_SIZE" "$round"
	latency_teardown
done
[ -z "${SKIP_LIVE:-}" ] && latency_setup "$CHANGE_SIZE" && connect_latency "$CHANGE_SIZE" "$LAT_ROUNDS"
for c in $([ -z "${SKIP_LIVE:-}" ] && seq "$CHANGES"); do
	n=$(grep -c "partial sync:" "$W/live.log" || true)
	ip=192.168.77.$((100 + c))
	t0=$(now_ns)
	bench_slice "$LIVE_DIR" 192.168.77.2 "$ip"
	until in_kernel "$ip"; do :; done
	in_kernel=$(ms_since "$t0")
	for _ in $(seq 100); do [ "$(grep -c "partial sync:" "$W/live.log")" -gt "$n" ] && break; sleep 0.05; done
	line=$(grep "partial sync:" "$W/live.log" | tail -1)
	res size="$CHANGE_SIZE" target=change run="$c" until_in_kernel_ms="$in_kernel" \
		sync_ms="$(sed -nE 's/.* in ([0-9.]+) ms .*/\1/p' <<<"$line")" \
		policy_ms="$(sed -nE 's/.* policy ([0-9.]+),.*/\1/p' <<<"$line")" \
		apply_ms="$(sed -nE 's/.*apply ([0-9.]+) .*/\1/p' <<<"$line")" \
		kernel_ms="$(sed -nE 's/.*kernel tools ([0-9.]+)\).*/\1/p' <<<"$line")"
done
[ -z "${SKIP_LIVE:-}" ] && latency_teardown

echo
echo "| services | target | wall ms (median) | reading the YAML ms | policy ms | apply ms | of which kernel ms | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
	for t in nftables peer iptables; do
		w=$(get wall_ms size="$size" target="$t" | median)
		[ "$w" = - ] && continue
		echo "| $size | $t | $w | $(get read_ms size="$size" target="$t" | median) |" \
			"$(get policy_ms size="$size" target="$t" | median) |" \
			"$(get apply_ms size="$size" target="$t" | median) |" \
			"$(get kernel_ms size="$size" target="$t" | median) |" \
			"$(( $(get rss_kb size="$size" target="$t" | median) / 1024 )) |"
	done
done
echo
if [ -z "${SKIP_LIVE:-}" ]; then
	echo "one endpoint change at $CHANGE_SIZE services: sync $(get sync_ms target=change | median) ms" \
		"(policy $(get policy_ms target=change | median), apply $(get apply_ms target=change | median)," \
		"kernel $(get kernel_ms target=change | median)); all: $(get sync_ms target=change | tr '\n' ' ');" \
		"file rename to element in the kernel $(get until_in_kernel_ms target=change | median) ms"
	c10=$(get us_per_connect size=10 target=connect | median)
	cbig=$(get us_per_connect size="$CHANGE_SIZE" target=connect | median)
	echo "connect (median of $LAT_ROUNDS rounds): $c10 us per connection at 10 services, $cbig us at" \
		"$CHANGE_SIZE ($(awk -v a="$c10" -v b="$cbig" 'BEGIN { printf "%+.0f%%", (b / a - 1) * 100 }'));" \
		"rounds: $(get us_per_connect size=10 target=connect | tr '\n' ' ')/ $(get us_per_connect size="$CHANGE_SIZE" target=connect | tr '\n' ' ')"
fi
echo "ratios at each size (same run): peer / kroute nftables and iptables / kroute nftables, wall time:"
for size in $SIZES; do
	k=$(get wall_ms size="$size" target=nftables | median)
	p=$(get wall_ms size="$size" target=peer | median)
	i=$(get wall_ms size="$size" target=iptables | median)
	echo "  $size: peer $(awk -v a="$p" -v b="$k" 'BEGIN { if (a == "-") print "-"; else printf "%.1fx", a / b }')," \
		"iptables $(awk -v a="$i" -v b="$k" 'BEGIN { if (a == "-") print "-"; else printf "%.1fx", a / b }')"
done
