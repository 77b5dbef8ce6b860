#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# IPVS mode: sync time against ipvsadm, side by side in one run (issue #15's
# benchmark), in a kernel that has IPVS: the guest of tests/ipvs/in-guest.sh
# (Debian's kernel under qemu, software emulation: read the ratios, not the
# absolute times).
#
#   kroute  `kroute run --mode ipvs --once` in a fresh network namespace:
#           wall time and kroute's own split (read, policy, apply); its
#           virtual services and real servers are counted with ipvsadm and
#           saved with `ipvsadm-save -n`
#   peer    `ipvsadm-restore` of that saved set in another fresh namespace:
#           the same virtual services and real servers (IPVS only: no
#           kube-ipvs0 addresses, no nft table, which kroute's time includes)
#
# for 1,000 and 10,000 services x 10 endpoints (bench/gen_cluster), then at
# CHANGE_SIZE services under a running `kroute run --mode ipvs`: one
# endpoint of a service of its own replaced (the time from the file's rename
# until ipvsadm lists the new real server and not the old one, and kroute's
# partial sync from its log) against the two ipvsadm commands that make the
# same change (-a the new, -d the old) on the same table.
#
#   bench/bench_ipvs.sh      (root; boots the guest and runs itself inside)
#
# Results: OUT/results.txt (key=value lines, bench/lib.sh) and a table on
# stdout.  The guest writes them through a directory shared with it (OUT);
# nothing else it does reaches the host (its working files stay in its RAM).
#
# Environment: BUILD (default build), OUT (default bench/out/ipvs), SIZES
# (default "1000 10000"), RUNS (default 3, medians), CHANGE_SIZE (default
# 10000), CHANGES (default 5; 0: no change part), KROUTE_GUEST_TIMEOUT
# (default here 3600).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/ipvs}
SIZES=${SIZES:-"1000 10000"}
RUNS=${RUNS:-3}
CHANGE_SIZE=${CHANGE_SIZE:-10000}
CHANGES=${CHANGES:-5}
NODE=node-00001

die() { echo "bench_ipvs.sh: $*" >&2; exit 1; }

# ---- on the host: the guest runs this script with --in-guest ----
if [ "${1:-}" != --in-guest ]; then
	[ "$(id -u)" = 0 ] || die "needs root (the guest kit, tests/ipvs/kit.sh)"
	[ -x "$BUILD/kroute" ] && [ -x "$BUILD/bench/gen_cluster" ] || die "build $BUILD first"
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	BUILD=$(cd "$BUILD" && pwd)
	export BUILD OUT SIZES RUNS CHANGE_SIZE CHANGES
	KROUTE_GUEST_SHARE=$OUT KROUTE_GUEST_TIMEOUT=${KROUTE_GUEST_TIMEOUT:-3600} \
		tests/ipvs/in-guest.sh bench/bench_ipvs.sh --in-guest
	exit
fi

# ---- in the guest ----
. bench/lib.sh
for p in ip ipvsadm ipvsadm-save ipvsadm-restore; do command -v "$p" >/dev/null || die "$p not found"; done
bench_results_init
# Working files in guest RAM: the shared directory (9p) is slow to read and
# sends no inotify events for kroute's watch.
W=$(mktemp -d /tmp/krvsb.XXXXXX)
KROUTE=$BUILD/kroute
bench_ns_init krvsb
newns_lo() { newns; ip -n "$NS" link set lo up; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
n_services() { nx ipvsadm -Ln | grep -cE '^(TCP|UDP|SCTP) '; }
n_servers() { nx ipvsadm -Ln | grep -c -- '->.*Masq'; }

once() { # DIR SIZE RUN
	local dir=$1 size=$2 run=$3 t0 ms line
	newns_lo
	t0=$(now_ns)
	nx "$KROUTE" run --mode ipvs --node "$NODE" -f "$dir" --cluster-cidr 10.0.0.0/8 --once \
		>"$W/once.log" 2>&1 || die "kroute --once failed: $(tail -3 "$W/once.log")"
	ms=$(ms_since "$t0")
	line=$(grep "full sync:" "$W/once.log" | tail -1)
	res size="$size" target=kroute run="$run" wall_ms="$ms" services="$(n_services)" servers="$(n_servers)" \
		read_ms="$(sed -nE 's/.*\(read ([0-9.]+).*/\1/p' <<<"$line")" \
		apply_ms="$(sed -nE 's/.*apply ([0-9.]+).*/\1/p' <<<"$line")" \
		tools_ms="$(sed -nE 's/.*kernel tools ([0-9.]+).*/\1/p' <<<"$line")"
	[ "$run" = 1 ] && nx ipvsadm-save -n >"$W/save-$size"
	delns
}

peer() { # SIZE RUN
	local size=$1 run=$2 t0 ms
	newns_lo
	t0=$(now_ns)
	nx ipvsadm-restore <"$W/save-$size" || die "ipvsadm-restore failed"
	ms=$(ms_since "$t0")
	res size="$size" target=ipvsadm-restore run="$run" wall_ms="$ms" services="$(n_services)" servers="$(n_servers)"
	delns
}

for size in $SIZES; do
	dir=$W/c$size
	mkdir -p "$dir"
	"$BUILD/bench/gen_cluster" -s "$size" -e 10 -n 1000 -o "$dir/cluster.yaml"
	for run in $(seq "$RUNS"); do
		echo "== $size services, run $run (guest load $(loadavg))"
		once "$dir" "$size" "$run"
		peer "$size" "$run"
	done
done

# ---- one endpoint change at CHANGE_SIZE services ----
# swapped NEW OLD: whether the bench service's real servers include NEW:8080
# and not OLD:8080 (one ipvsadm run: each takes a while under emulation).
swapped() {
	local l
	l=$(nx ipvsadm -Ln -t 10.255.0.1:80 2>/dev/null)
	grep -q -- "-> $1:8080 " <<<"$l" && ! grep -q -- "-> $2:8080 " <<<"$l"
}

if [ "$CHANGES" -gt 0 ]; then
	dir=$W/live
	mkdir -p "$dir"
	"$BUILD/bench/gen_cluster" -s "$CHANGE_SIZE" -e 10 -n 1000 -o "$dir/cluster.yaml"
	bench_service "$dir"
	bench_slice "$dir" 192.168.77.2
	newns_lo
	# Graceful termination off: the replaced endpoint leaves at once, as the
	# peer's ipvsadm -d does.
	nx "$KROUTE" run --mode ipvs --node "$NODE" -f "$dir" --cluster-cidr 10.0.0.0/8 \
		--min-sync-period 0s --sync-period 1h --ipvs-graceful-termination=false </dev/null >"$W/live.log" 2>&1 &
	PIDS+=($!)
	KR_PID=$!
	for _ in $(seq 3000); do grep -q "full sync:" "$W/live.log" && break; sleep 0.1; done
	grep -q "full sync:" "$W/live.log" || die "kroute did not sync: $(tail -3 "$W/live.log")"
	old=192.168.77.2
	for c in $(seq "$CHANGES"); do
		n=$(grep -c "partial sync:" "$W/live.log" || true)
		new=192.168.77.$((100 + c))
		t0=$(now_ns)
		bench_slice "$dir" "$new"
		until swapped "$new" "$old"; do
			[ "$(ms_since "$t0")" -lt 120000 ] || die "change $c: $new not listed after 120 s"
		done
		in_kernel=$(ms_since "$t0")
		for _ in $(seq 200); do [ "$(grep -c "partial sync:" "$W/live.log")" -gt "$n" ] && break; sleep 0.05; done
		line=$(grep "partial sync:" "$W/live.log" | tail -1)
		res size="$CHANGE_SIZE" target=kroute-change run="$c" until_listed_ms="$in_kernel" \
			sync_ms="$(sed -nE 's/.* in ([0-9.]+) ms.*/\1/p' <<<"$line")" \
			apply_ms="$(sed -nE 's/.*apply ([0-9.]+).*/\1/p' <<<"$line")"
		old=$new
	done
	kill "$KR_PID"
	wait "$KR_PID" 2>/dev/null || true
	# The same change by hand on the same table (kroute's, left in place on exit).
	for c in $(seq "$CHANGES"); do
		new=192.168.78.$((100 + c))
		t0=$(now_ns)
		nx ipvsadm -a -t 10.255.0.1:80 -r "$new:8080" -m
		nx ipvsadm -d -t 10.255.0.1:80 -r "$old:8080"
		res size="$CHANGE_SIZE" target=ipvsadm-change run="$c" until_listed_ms="$(ms_since "$t0")"
		old=$new
	done
	delns
fi

echo
echo "| services | target | virtual services | real servers | wall ms (median) | kroute read ms | kroute apply ms | of which nft, ip |"
echo "|---|---|---|---|---|---|---|---|"
for size in $SIZES; do
	for t in kroute ipvsadm-restore; do
		echo "| $size | $t | $(get services size="$size" target="$t" | median) |" \
			"$(get servers size="$size" target="$t" | median) | $(get wall_ms size="$size" target="$t" | median) |" \
			"$(get read_ms size="$size" target="$t" | median) | $(get apply_ms size="$size" target="$t" | median) |" \
			"$(get tools_ms size="$size" target="$t" | median) |"
	done
	k=$(get wall_ms size="$size" target=kroute | median)
	p=$(get wall_ms size="$size" target=ipvsadm-restore | median)
	echo "| $size | kroute / ipvsadm-restore | | | $(awk -v k="$k" -v p="$p" 'BEGIN {printf "%.2f", k / p}') | | | |"
done
[ "$CHANGES" -gt 0 ] || exit 0
echo
k=$(get until_listed_ms target=kroute-change | median)
p=$(get until_listed_ms target=ipvsadm-change | median)
echo "one endpoint change at $CHANGE_SIZE services: kroute $k ms from the file's rename until ipvsadm" \
	"lists it (partial sync $(get sync_ms target=kroute-change | median) ms, apply" \
	"$(get apply_ms target=kroute-change | median) ms); ipvsadm -a + -d $p ms;" \
	"ratio $(awk -v k="$k" -v p="$p" 'BEGIN {printf "%.2f", k / p}')"
