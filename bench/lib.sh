# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# bench/lib.sh: what the benchmark scripts share: their output directory
# and results file, and the helpers that write and read it.  Source it
# after OUT and SUMMARY_ONLY are set.
#
# Results are lines of key=value words; a figure is found by its filters:
#   res run=1 target=x figure=y value=3     (appends a line, echoes it)
#   get value target=x figure=y             (the values of matching lines)

# bench_results_init: OUT made absolute; W=$OUT/work and RESULTS=$OUT/results.txt.
# Unless SUMMARY_ONLY=1 (which reprints an earlier run), both start empty.
bench_results_init() {
	mkdir -p "$OUT"
	OUT=$(cd "$OUT" && pwd)
	W=$OUT/work
	RESULTS=$OUT/results.txt
	if [ "${SUMMARY_ONLY:-0}" != 1 ]; then
		rm -rf "$W"
		: >"$RESULTS"
	fi
	mkdir -p "$W"
}

loadavg() { cut -d' ' -f1 /proc/loadavg; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }
res() { echo "$*" >>"$RESULTS"; echo "  $*"; }
# get KEY FILTER...: the value of KEY in every results line matching all filters.
get() {
	local key=$1 f lines
	shift
	lines=$(cat "$RESULTS")
	for f in "$@"; do lines=$(grep -E -- "(^| )$f( |\$)" <<<"$lines" || true); done
	sed -n "s/.* $key=\([^ ]*\).*/\1/p" <<<"$lines"
}

# ---- network namespaces and processes a benchmark owns, removed on any exit ----
# bench_ns_init PREFIX: namespaces are PREFIX-PID-N; every pid pushed on PIDS is
# killed and waited for, every namespace newns made is deleted, on exit or signal.
bench_ns_init() {
	BENCH_NS_PREFIX=$1-$$
	NSES=()
	PIDS=()
	NS_SEQ=0
	trap bench_ns_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
}
bench_ns_cleanup() {
	local p n
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for n in "${NSES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
newns() { # -> sets NS
	NS_SEQ=$((NS_SEQ + 1))
	NS=$BENCH_NS_PREFIX-$NS_SEQ
	ip netns add "$NS"
	NSES+=("$NS")
}
delns() { # [NAME]: default $NS
	local n=${1:-$NS} i
	ip netns del "$n"
	for i in "${!NSES[@]}"; do [ "${NSES[$i]}" = "$n" ] && unset 'NSES[i]'; done
	return 0
}
nx() { ip netns exec "$NS" "$@"; }
now_ns() { date +%s%N; }

# ---- a service of the benchmark's own beside a generated cluster ----
# bench_service DIR: Service bench/bench on 10.255.0.1:80 (targetPort 8080), in DIR/bench-svc.yaml.
bench_service() {
	printf '%s\n' 'apiVersion: v1' 'kind: Service' 'metadata: {name: bench, namespace: bench}' \
		'spec: {clusterIP: 10.255.0.1, ports: [{name: http, port: 80, targetPort: 8080}]}' \
		>"$1/bench-svc.yaml"
}
# bench_slice DIR IP...: its EndpointSlice with these endpoints, replaced by
# rename (one inotify event, as an editor's save).
bench_slice() {
	local ip
	{
		printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
		printf 'metadata: {name: bench-1, namespace: bench, labels: {kubernetes.io/service-name: bench}}\n'
		printf 'addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n'
		for ip in "${@:2}"; do printf -- '- {addresses: ["%s"], conditions: {ready: true}}\n' "$ip"; done
	} >"$1/.bench-slice.tmp"
	mv "$1/.bench-slice.tmp" "$1/bench-slice.yaml"
}
