#!/usr/bin/env bash
# Builds everything and runs every test: unit and CLI tests under ASan+UBSan,
# then each fuzz target for a bounded time.  Ends with "N passed, N failed"
# and exits non-zero when anything failed.  After it, build/kroute exists.
set -uo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-45}
passed=0
failed=0

scripts/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }
if ! scripts/build.sh release || ! scripts/build.sh asan; then
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

# The real Kubernetes control plane the k8s suite runs (tests/k8s/build.sh):
# built once from Kubernetes' Go modules and cached outside the checkout, so
# a first build on a fresh machine shows here with its time.
k8s_start=$(date +%s)
if nice tests/k8s/build.sh; then
	echo "k8s control plane: $(tests/k8s/build.sh --print-bin) ready after $(($(date +%s) - k8s_start))s"
else
	echo "k8s control plane: build failed after $(($(date +%s) - k8s_start))s (the k8s suite will fail)"
fi

# Unit, CLI, system and k8s tests (registered with meson) under the sanitizers.
meson test -C build-asan --print-errorlogs --num-processes 2 || true
log=build-asan/meson-logs/testlog.json
if [ -f "$log" ]; then
	p=$(jq -s '[.[] | select(.result == "OK")] | length' "$log")
	f=$(jq -s '[.[] | select(.result != "OK" and .result != "SKIP")] | length' "$log")
	s=$(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$s" -gt 0 ] && echo "note: $s test(s) skipped (not counted as passed)"
else
	echo "no meson test log"
	failed=$((failed + 1))
fi

# Fuzzing: each target for FUZZ_SECONDS from its seed corpus.
if scripts/build.sh fuzz; then
	for fz in build-fuzz/tests/fuzz/fuzz_*; do
		[ -f "$fz" ] && [ -x "$fz" ] || continue
		name=$(basename "$fz")
		corpus=$(mktemp -d)
		seeds=tests/fuzz/corpus/${name#fuzz_}
		if "$fz" -max_total_time="$FUZZ_SECONDS" -max_len=65536 -rss_limit_mb=2048 \
			-timeout=10 -print_final_stats=0 -artifact_prefix="build-fuzz/$name-" \
			"$corpus" ${seeds:+$( [ -d "$seeds" ] && echo "$seeds")} >"build-fuzz/$name.log" 2>&1; then
			echo "fuzz $name: ok ($(grep -c '' "build-fuzz/$name.log") log lines, ${FUZZ_SECONDS}s)"
			passed=$((passed + 1))
		else
			echo "fuzz $name: FAILED, see build-fuzz/$name.log"
			tail -n 40 "build-fuzz/$name.log"
			failed=$((failed + 1))
		fi
		rm -rf "$corpus"
	done
else
	echo "fuzz build failed"
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
