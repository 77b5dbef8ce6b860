#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/bench_api.sh: kroute against the real API server (issue #11's
# benchmark; by hand, not in CI).  For each size (SIZES services x 10
# endpoints), in a network namespace of its own: the real control plane
# (tests/k8s/control-plane.sh), the cluster loaded by k8s_load.sh, then
# (a) initial list + first sync: `kroute explain --kubeconfig` (RUNS runs,
#     wall time and peak RSS), and `kroute run --mode M` for each of MODES
#     (start -> its first "full sync:" log line, peak RSS after it, and the
#     agent's own "listed ... in N ms" note);
# (b) network programming latency with that agent running: api_latency.py
#     makes CHANGES EndpointSlice changes and times, from the API server's
#     response, the agent's sync log line and the new endpoint answering
#     real connections to the ClusterIP (median and p99).
# Results in OUT/results.txt (bench/lib.sh), logs in OUT/work.
# Usage: bench_api.sh [OUT]   (root; default OUT /tmp/kroute-bench-api)
# Environment: SIZES ("100 10000"), MODES ("iptables userspace"), CHANGES
# (50), RUNS (3), MODES empty: explain only; BUILD (the build directory holding kroute and
# bench/gen_cluster; default build), COMPARE ("label=/path/to/kroute ...":
# other builds whose explain is timed in the same runs), SUMMARY_ONLY=1
# reprints OUT's results.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$src/build}
kroute=$BUILD/kroute
gen=$BUILD/bench/gen_cluster
cp_sh=$src/tests/k8s/control-plane.sh
SIZES=${SIZES:-100 10000}
MODES=${MODES-iptables userspace}  # empty: explain only
CHANGES=${CHANGES:-50}
RUNS=${RUNS:-3}
OUT=${1:-/tmp/kroute-bench-api}
# shellcheck source=lib.sh
. "$here/lib.sh"
bench_results_init

[ "$(id -u)" = 0 ] || { echo "bench_api.sh: needs root (network namespaces)" >&2; exit 1; }
# Userspace mode holds a listener per service port and node address: 10,000 services
# need more than a default hard limit of 20,000 descriptors (kroute raises its soft limit).
ulimit -Hn 1048576 2>/dev/null && ulimit -n 1048576
for f in "$kroute" "$gen"; do
	[ -x "$f" ] || { echo "bench_api.sh: $f missing: build first (scripts/build.sh)" >&2; exit 1; }
done

ns=kr-bapi-$$
first=0
cp=$W/cp
agent=
stop_agent() {
	if [ -n "$agent" ]; then
		kill "$agent" 2>/dev/null
		wait "$agent" 2>/dev/null
		agent=
	fi
}
teardown() {
	stop_agent
	[ -f "$cp/run/control-plane" ] && ip netns exec "$ns" "$cp_sh" stop "$cp"
	ip netns del "$ns" 2>/dev/null
}
trap teardown EXIT
trap 'exit 1' INT TERM
in_ns() { ip netns exec "$ns" "$@"; }

# The node's namespace: lo; a default route into an empty bridge (ClusterIPs must be routable
# before the agent's DNAT or proxy takes them); 10.250.0.0/16 local, where
# api_latency.py's backend answers as every new endpoint; gen_cluster's pod
# range 10.128.0.0/9 local too, so a probe sent to an old endpoint is refused
# (or answered with the old address) at once instead of waiting out a timeout.
setup_ns() {
	ip netns add "$ns" || return 1
	in_ns ip link set lo up &&
		in_ns ip link add kbench0 type bridge &&
		in_ns ip addr add 10.255.0.1/24 dev kbench0 &&
		in_ns ip link set kbench0 up &&
		in_ns ip route add default dev kbench0 &&
		in_ns ip route add local 10.250.0.0/16 dev lo &&
		in_ns ip route add local 10.128.0.0/9 dev lo
}

# stamp_s LINE: the epoch seconds of a "kroute HH:MM:SS.mmm: ..." log line (UTC, today).
stamp_s() {
	local hms=${1:7:12}
	echo "$(date -u -d "$(date -u +%F) ${hms%.*}" +%s).${hms#*.}"
}

# first_sync FILE: the agent's first "full sync:" line, once it is there; fails when
# the agent exits, or logs two failed full syncs (it would retry them forever).
first_sync() {
	local i line
	for ((i = 0; i < 18000; i++)); do
		line=$(grep -m1 -- "full sync: " "$1" 2>/dev/null) && { echo "$line"; return 0; }
		[ "$(grep -c "full sync failed" "$1")" -ge 2 ] && return 1
		[ -n "$agent" ] && ! kill -0 "$agent" 2>/dev/null && return 1
		sleep 0.1
	done
	return 1
}

# measure_explain SIZE: RUNS timed runs of explain --kubeconfig, of this build and of
# each COMPARE build (label=path), taken in turn so they share the machine's load.
measure_explain() {
	local size=$1 run t u rss b label bin
	for ((run = 1; run <= RUNS; run++)); do
		for b in "explain=$kroute" ${COMPARE:-}; do
			label=${b%%=*} bin=${b#*=}
			[ "$label" = explain ] || label=explain-$label
			if ! in_ns /usr/bin/time -f "%e %U %M" -o "$W/explain.time" "$bin" explain \
				--kubeconfig "$cp/kubeconfig" --node node-00000 -o json >/dev/null \
				2>"$W/explain-$size.err"; then
				echo "$label failed: $(head -3 "$W/explain-$size.err")" >&2
				return 1
			fi
			read -r t u rss <"$W/explain.time"
			res size="$size" target="$label" run="$run" figure=list_and_view s="$t" \
				user_s="$u" rss_mb="$((rss / 1024))" load="$(loadavg)"
		done
	done
}

measure_mode() {
	local size=$1 mode=$2 log=$W/agent-$mode-$size.log t0 line listed rss lat extra=()
	[ "$mode" = userspace ] && extra=(--userspace-status-file "$W/status-$size.json")
	t0=$(date +%s.%N)
	# Not through in_ns: $! must be kroute itself (ip netns exec execs it), for kill and VmHWM.
	ip netns exec "$ns" "$kroute" run --mode "$mode" --kubeconfig "$cp/kubeconfig" \
		--node node-00000 "${extra[@]}" 2>"$log" &
	agent=$!
	if ! line=$(first_sync "$log"); then
		echo "$mode at $size: no first sync; the log ends:" >&2
		tail -5 "$log" >&2
		res size="$size" target="$mode" figure=first_sync s=failed \
			why="$(grep -m1 -o 'full sync failed.*' "$log" | tr ' ' _ | cut -c1-120)" \
			load="$(loadavg)"
		stop_agent
		in_ns "$kroute" cleanup >/dev/null 2>&1
		return 1
	fi
	rss=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$agent/status")
	listed=$(grep -m1 -o 'listed .* over HTTP[^ ]*' "$log")
	res size="$size" target="$mode" figure=first_sync \
		s="$(printf '%.3f' "$(echo "$(stamp_s "$line") - $t0" | bc)")" \
		list_ms="$(sed -n 's/.* in \([0-9]*\) ms over .*/\1/p' <<<"$listed")" \
		http="${listed##* }" rss_mb="$rss" load="$(loadavg)"
	lat=$W/latency-$mode-$size.txt
	# Each mode's changes get their own new addresses: the same patch again changes nothing.
	in_ns /usr/bin/python3 "$here/api_latency.py" "$cp" "$log" "$CHANGES" "$first" >"$lat" ||
		echo "$mode at $size: some changes never answered (see $lat)" >&2
	for f in traffic_ms log_ms; do
		res size="$size" target="$mode" figure="${f%_ms}" \
			median_ms="$(sed -n "s/.* $f=\(-\?[0-9.]*\).*/\1/p" "$lat" | pctl 50)" \
			p99_ms="$(sed -n "s/.* $f=\(-\?[0-9.]*\).*/\1/p" "$lat" | pctl 99)" \
			n="$(grep -c " $f=-\?[0-9]" "$lat")" load="$(loadavg)"
	done
	res size="$size" target="$mode" figure=accepted \
		median_ms="$(sed -n 's/.* accepted_ms=\([0-9.]*\).*/\1/p' "$lat" | pctl 50)"
	first=$((first + CHANGES))
	stop_agent
	in_ns "$kroute" cleanup >"$W/cleanup.log" 2>&1 || echo "kroute cleanup failed: $(cat "$W/cleanup.log")" >&2
}

if [ "${SUMMARY_ONLY:-0}" != 1 ]; then
	for size in $SIZES; do
		echo "== $size services x 10 endpoints"
		setup_ns || { echo "cannot set up namespace $ns" >&2; exit 1; }
		if ! out=$(in_ns "$cp_sh" start "$cp" 2>&1); then
			echo "control-plane.sh start failed: $out" >&2
			exit 1
		fi
		printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$ns" "$cp/bin/kubectl" >"$W/kubectl"
		chmod +x "$W/kubectl"
		nodes=$((size < 1000 ? size : 1000))
		t=$(date +%s)
		if ! "$here/k8s_load.sh" "$W/kubectl" "$cp/kubeconfig" "$gen" "$W/load" "$size" 10 \
			"$nodes"; then
			exit 1
		fi
		res size="$size" target=load figure=kubectl_create s="$(($(date +%s) - t))"
		measure_explain "$size"
		for mode in $MODES; do
			measure_mode "$size" "$mode"
		done
		teardown
	done
fi

echo
echo "Results (load average noted per line): $RESULTS"
for size in $SIZES; do
	printf '%s services x 10: explain %s s, %s MB peak (runs)\n' "$size" \
		"$(get s size="$size" target=explain | paste -sd, -)" \
		"$(get rss_mb size="$size" target=explain | paste -sd, -)"
	for c in ${COMPARE:-}; do
		printf '  %s: explain %s s, %s MB peak (runs)\n' "${c%%=*}" \
			"$(get s size="$size" target="explain-${c%%=*}" | paste -sd, -)" \
			"$(get rss_mb size="$size" target="explain-${c%%=*}" | paste -sd, -)"
	done
	for mode in $MODES; do
		printf '  %-9s first sync %s s (list %s ms, %s), %s MB peak; latency median/p99: ' \
			"$mode" "$(get s size="$size" target="$mode" figure=first_sync)" \
			"$(get list_ms size="$size" target="$mode" figure=first_sync)" \
			"$(get http size="$size" target="$mode" figure=first_sync)" \
			"$(get rss_mb size="$size" target="$mode" figure=first_sync)"
		printf 'traffic %s/%s ms, log %s/%s ms\n' \
			"$(get median_ms size="$size" target="$mode" figure=traffic)" \
			"$(get p99_ms size="$size" target="$mode" figure=traffic)" \
			"$(get median_ms size="$size" target="$mode" figure=log)" \
			"$(get p99_ms size="$size" target="$mode" figure=log)"
	done
done
