#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Load + policy benchmark: generates synthetic clusters (1,000 and 10,000
# services x 10 endpoints on 1,000 nodes by default), runs bench_load on each
# RUNS times with an optimised build, and prints one summary row per size and
# format (median times, highest peak RSS).  For context it also times a peer
# parsing the same YAML: kubectl when it can work offline (it cannot without
# an API server: client-side dry-run still needs API discovery), otherwise
# PyYAML's C loader (libyaml, the same parser kroute uses).
#
# Goal (see bench/README.md "Core: load + policy"): load + full policy
# computation for one node at 10,000 services x 10 endpoints, 1,000 nodes,
# under 1 s and under 150 MB peak RSS.
#
# Environment:
#   BUILD      meson build dir (default /tmp/kroute-bench-load; buildtype release)
#   OUT        where generated manifests go (default bench/out/load, git-ignored)
#   SIZES      service counts (default "1000 10000")
#   ENDPOINTS  endpoints per service (default 10)
#   NODES      nodes (default 1000)
#   FORMATS    gen_cluster formats to measure: yaml list json (default "yaml json")
#   RUNS       runs per size (default 3)
#   PEER       1 to time the peer too (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-/tmp/kroute-bench-load}
OUT=${OUT:-bench/out/load}
SIZES=${SIZES:-"1000 10000"}
ENDPOINTS=${ENDPOINTS:-10}
NODES=${NODES:-1000}
FORMATS=${FORMATS:-"yaml json"}
RUNS=${RUNS:-3}
PEER=${PEER:-1}

# Only this benchmark's targets: the rest of bench/ may not build yet.
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --buildtype=release -Dtests=false >/dev/null
fi
if ! ninja -C "$BUILD" bench/gen_cluster bench/bench_load >"$BUILD/run_load-build.log" 2>&1; then
	cat "$BUILD/run_load-build.log" >&2
	echo "run_load.sh: build failed" >&2
	exit 1
fi
mkdir -p "$OUT"

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
	"$(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo)"
echo "build:   $BUILD, $(python3 - "$BUILD" <<-'EOF'
	import json, subprocess, sys
	info = sys.argv[1] + "/meson-info/"
	opts = json.load(open(info + "intro-buildoptions.json"))
	t = next(t for t in json.load(open(info + "intro-targets.json")) if t["name"] == "bench_load")
	cc = t["target_sources"][0]["compiler"]
	ver = subprocess.run(cc + ["--version"], capture_output=True, text=True).stdout.splitlines()[0]
	print("buildtype " + next(o["value"] for o in opts if o["name"] == "buildtype") + ", " + ver)
	EOF
	)"
# Other jobs on the machine inflate wall times; the CPU column is steadier.
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# key=value line -> value of one key
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
maxv() { sort -g | tail -n1; }

ext() { case $1 in yaml) echo yaml ;; list) echo list.yaml ;; json) echo json ;; esac; }

rows=()
for n in $SIZES; do
	for fmt in $FORMATS; do
		file="$OUT/cluster-${n}x${ENDPOINTS}-${NODES}n.$(ext "$fmt")"
		if [ ! -s "$file" ]; then
			"$BUILD/bench/gen_cluster" --services "$n" --endpoints "$ENDPOINTS" \
				--nodes "$NODES" --zones 3 --seed 1 --format "$fmt" --output "$file"
		fi
		load=() pol=() expl=() total=() cpu=() rss=()
		for ((i = 1; i <= RUNS; i++)); do
			line=$("$BUILD/bench/bench_load" "$file")
			echo "run $i: $line"
			load+=("$(kv "$line" load_s)")
			pol+=("$(kv "$line" policy_s)")
			expl+=("$(kv "$line" explain_s)")
			total+=("$(kv "$line" load_policy_s)")
			cpu+=("$(kv "$line" load_policy_cpu_s)")
			rss+=("$(kv "$line" peak_rss_mb)")
		done
		size_mb=$(awk -v b="$(stat -c %s "$file")" 'BEGIN { printf "%.1f", b / 1048576 }')
		rows+=("$(printf '| %6s | %3s | %-4s | %7s | %6s | %6s | %6s | %6s | %6s | %7s |' \
			"$n" "$ENDPOINTS" "$fmt" "$size_mb" \
			"$(printf '%s\n' "${load[@]}" | median)" "$(printf '%s\n' "${pol[@]}" | median)" \
			"$(printf '%s\n' "${expl[@]}" | median)" "$(printf '%s\n' "${total[@]}" | median)" \
			"$(printf '%s\n' "${cpu[@]}" | median)" "$(printf '%s\n' "${rss[@]}" | maxv)")")
	done
done

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "kroute (median of $RUNS runs; peak RSS: highest of the runs)"
echo "| services | endpoints/svc | format | file MB | load s | policy s | explain s | load+policy s | load+policy CPU s | peak RSS MB |"
echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|"
for r in "${rows[@]}"; do echo "$r"; done

[ "$PEER" = 1 ] || exit 0
echo
if timeout 20 kubectl create --dry-run=client --validate=false -o name \
	-f examples/cluster/services.yaml >/dev/null 2>&1; then
	echo "peer: kubectl create --dry-run=client -o name (parse + decode, no policy)"
	for n in $SIZES; do
		file="$OUT/cluster-${n}x${ENDPOINTS}-${NODES}n.yaml"
		/usr/bin/time -f "kubectl $n services: %e s, peak RSS %M KB" \
			kubectl create --dry-run=client --validate=false -o name -f "$file" >/dev/null
	done
else
	echo "peer: kubectl cannot parse offline here (client-side dry-run still needs API discovery)"
fi
if python3 -c 'import yaml; yaml.CSafeLoader' 2>/dev/null; then
	echo "peer: python3 PyYAML $(python3 -c 'import yaml; print(yaml.__version__)') CSafeLoader" \
		"(libyaml; parse to Python objects only, no decode or policy; in-process time, median of $RUNS)"
	for n in $SIZES; do
		file="$OUT/cluster-${n}x${ENDPOINTS}-${NODES}n.yaml"
		[ -s "$file" ] || "$BUILD/bench/gen_cluster" --services "$n" --endpoints "$ENDPOINTS" \
			--nodes "$NODES" --zones 3 --seed 1 --format yaml --output "$file"
		out=$(for ((i = 1; i <= RUNS; i++)); do
			python3 - "$file" <<-'EOF'
			import resource, sys, time, yaml
			t = time.perf_counter()
			with open(sys.argv[1]) as f:
			    n = sum(1 for _ in yaml.load_all(f, Loader=yaml.CSafeLoader))
			t = time.perf_counter() - t
			rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
			print(f"objects={n} parse_s={t:.3f} peak_rss_mb={rss:.1f}")
			EOF
		done)
		echo "  $n services: $(head -n1 <<<"$out" | cut -d' ' -f1)" \
			"parse_s=$(sed -n 's/.*parse_s=\([^ ]*\).*/\1/p' <<<"$out" | median) (median)" \
			"peak_rss_mb=$(sed -n 's/.*peak_rss_mb=\([^ ]*\).*/\1/p' <<<"$out" | maxv)"
	done
else
	echo "peer: no offline YAML peer found (no PyYAML); only kroute's numbers are reported"
fi
