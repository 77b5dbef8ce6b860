#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Opt-in smoke test of bench/bench_kube_proxy.sh (KROUTE_BENCH_SMOKE=1; SKIP
# otherwise): the benchmark at 20 services x 10 endpoints, every target (the
# real kube-proxy and kroute, iptables and nftables), 3 changes each.  It
# checks that the benchmark measures, never how fast: every target reached a
# first sync (its own metrics said so), every change was answered by the new
# endpoint through real connections to the ClusterIP in that target's
# namespace, every change's sync was counted in the target's own histograms,
# and the benchmark's namespaces are gone afterwards.  About 1.5 minutes.
# Usage: test_bench_kube_proxy.sh KROUTE   (root; kroute's build directory
# holds bench/gen_cluster)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=testlib.sh
. "$here/testlib.sh"
[ "${KROUTE_BENCH_SMOKE:-0}" = 1 ] || { echo "SKIP: opt-in (KROUTE_BENCH_SMOKE=1)"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }
build=$(cd "$(dirname "$(realpath "${1:?usage: $0 KROUTE}")")" && pwd)
out=$(mktemp -d /tmp/kroute-bench-kp-test.XXXXXX)
trap 'rm -rf "$out"' EXIT
targets="kube-proxy-iptables kroute-iptables kube-proxy-nftables kroute-nftables"
changes=3

before=$(ip netns list | grep -c '^krkpb-')
BUILD=$build OUT=$out SIZES=20 NODES=5 CHANGES=$changes SYNC_TIMEOUT=120 TARGETS=$targets \
	"$here/../../bench/bench_kube_proxy.sh" >"$out/bench.log" 2>&1 ||
	bad "bench_kube_proxy.sh failed: $(tail -5 "$out/bench.log")"
r=$out/results.txt
for t in $targets; do
	line=$(grep " target=$t figure=first_sync " "$r")
	[[ $line =~ \ s=[0-9.]+\  ]] && [[ $line =~ \ full_s=[0-9.]+\  ]] && ok ||
		bad "$t: no first sync measured: ${line:-no line}"
	for f in traffic sync; do
		grep -q " target=$t figure=$f .* n=$changes " "$r" && ok ||
			bad "$t: not every change measured ($f): $(grep " target=$t figure=$f " "$r")"
	done
	grep -q " target=$t figure=end rss_mb=[1-9]" "$r" && ok || bad "$t: no peak RSS"
done
grep -q " target=kube-proxy-nftables figure=nft_list_chains chains=[1-9]" "$r" && ok ||
	bad "kube-proxy's nftables chains not listed: $(grep nft_list "$r")"
[ "$(ip netns list | grep -c '^krkpb-')" = "$before" ] && ok || bad "the benchmark left namespaces"
finish
