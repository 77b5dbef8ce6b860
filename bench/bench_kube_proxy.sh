#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The real kube-proxy against kroute, same run, same control plane, same objects
# (issue #13's performance half; by hand, not in CI).  For each size of SIZES
# (services x 10 endpoints):
#
#   - one network namespace holds the control plane (tests/k8s/control-plane.sh:
#     etcd and kube-apiserver v1.36.3, listening on a bridge address), loaded
#     with a gen_cluster cluster by k8s_load.sh;
#   - each target of TARGETS then runs in a fresh network namespace of its own,
#     one after the other, attached to that bridge by a veth, as on a node:
#     kube-proxy (the binary tests/k8s/build.sh builds from the same release)
#     with --proxy-mode iptables or nftables, and kroute run --mode iptables or
#     nftables, both with --hostname-override, --kubeconfig and --cluster-cidr
#     as a real cluster gives them;
#   - first sync: the proxy's own kubeproxy_sync_full_proxy_rules_duration_seconds
#     (kroute exports kube-proxy's metric names) for its first full sync, and
#     the wall time from the process's start to that sync's end
#     (kubeproxy_sync_proxy_rules_last_timestamp_seconds), polled on its metrics
#     port; its peak RSS (VmHWM) then;
#   - CHANGES EndpointSlice changes through the API (api_latency.py, inside the
#     proxy's namespace): the network programming latency measured the same way
#     for every target, from the API server's response to the first connection
#     to the ClusterIP that the new endpoint answers (real packets through that
#     namespace's kernel rules), and each proxy's own figures for the change:
#     the sync's duration (partial or full) from the histograms' _sum/_count
#     before and after it, and its own network programming duration (the patch
#     carries the EndpointSlice controller's last-change-trigger-time
#     annotation, where kube-proxy starts its clock; kroute starts its own when
#     it sees the change); peak RSS at the end.
#
# A target whose first sync has not ended SYNC_TIMEOUT seconds after its start is
# stopped and reported as not finished (s=">T").
#
# Usage: bench_kube_proxy.sh   (root; results in $OUT/results.txt, logs in $OUT/work)
# Environment:
#   BUILD         build directory holding kroute and bench/gen_cluster (default build)
#   OUT           default bench/out/kube-proxy (git-ignored)
#   SIZES         services (default "1000 5000"), ENDPOINTS each (default 10)
#   NODES         nodes in the generated cluster (default 1000, fewer for small sizes)
#   TARGETS       default "kube-proxy-iptables kroute-iptables kube-proxy-nftables
#                 kroute-nftables" (in that order: a pair side by side)
#   CHANGES       endpoint changes per target (default 20)
#   SYNC_TIMEOUT  seconds for a first sync (default 600)
#   SUMMARY_ONLY  1: only print the tables of an earlier run
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$src/build}
OUT=${OUT:-$src/bench/out/kube-proxy}
SIZES=${SIZES:-1000 5000}
ENDPOINTS=${ENDPOINTS:-10}
NODES=${NODES:-1000}
TARGETS=${TARGETS:-kube-proxy-iptables kroute-iptables kube-proxy-nftables kroute-nftables}
CHANGES=${CHANGES:-20}
SYNC_TIMEOUT=${SYNC_TIMEOUT:-600}
NODE=node-00000
CLUSTER_CIDR=10.128.0.0/9 # gen_cluster's pod range
BRIDGE_NET=10.254.0
cp_sh=$src/tests/k8s/control-plane.sh
# shellcheck source=lib.sh
. "$here/lib.sh"

die() { echo "bench_kube_proxy.sh: $*" >&2; exit 1; }

summary() {
	local size t
	echo
	echo "Results (load average noted per line): $RESULTS"
	printf '| services | target | first sync: wall from start | full sync (own metric) | change: sync (own metric), median | changes partial | programming latency (API → traffic), median / p99 | own programming latency, median | peak RSS after first sync / at end | load |\n'
	printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n'
	for size in $SIZES; do
		for t in $TARGETS; do
			[ -n "$(get s size="$size" target="$t" figure=first_sync)" ] || continue
			printf '| %s | %s | %s s | %s s | %s ms | %s | %s / %s ms | %s ms | %s / %s MB | %s |\n' "$size" "$t" \
				"$(get s size="$size" target="$t" figure=first_sync)" \
				"$(get full_s size="$size" target="$t" figure=first_sync)" \
				"$(get median_ms size="$size" target="$t" figure=sync)" \
				"$(get partial size="$size" target="$t" figure=syncs)" \
				"$(get median_ms size="$size" target="$t" figure=traffic)" \
				"$(get p99_ms size="$size" target="$t" figure=traffic)" \
				"$(get median_ms size="$size" target="$t" figure=own_npl)" \
				"$(get rss_mb size="$size" target="$t" figure=first_sync)" \
				"$(get rss_mb size="$size" target="$t" figure=end)" \
				"$(get load size="$size" target="$t" figure=first_sync)"
		done
	done
}

if [ "${SUMMARY_ONLY:-0}" = 1 ]; then
	bench_results_init
	summary
	exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for p in ip curl jq python3; do command -v "$p" >/dev/null || die "$p not found"; done
[ -x "$BUILD/kroute" ] && [ -x "$BUILD/bench/gen_cluster" ] || die "build $BUILD first (scripts/build.sh)"
k8s_bin=$("$src/tests/k8s/build.sh" --print-bin) || die "tests/k8s/build.sh failed"
bench_results_init
mkdir -p "$W/bin"
cp "$BUILD/kroute" "$W/bin/kroute" # others rebuild the tree meanwhile
kroute=$W/bin/kroute
kube_proxy=$k8s_bin/kube-proxy
gen=$BUILD/bench/gen_cluster
cp=$W/cp

bench_ns_init krkpb
cp_ns=
proxy=
teardown() {
	stop_proxy
	[ -n "$cp_ns" ] && [ -f "$cp/run/control-plane" ] && ip netns exec "$cp_ns" "$cp_sh" stop "$cp"
	bench_ns_cleanup
}
trap teardown EXIT

stop_proxy() {
	[ -n "$proxy" ] || return 0
	kill "$proxy" 2>/dev/null
	wait "$proxy" 2>/dev/null
	proxy=
}

# The control plane's namespace: a bridge the proxies' namespaces join; the API
# server listens on its address.  It does not forward: a packet to a ClusterIP
# that no rule has taken yet goes nowhere.
setup_cp() {
	newns
	cp_ns=$NS
	nx ip link set lo up &&
		nx ip link add kpb0 type bridge &&
		nx ip addr add "$BRIDGE_NET.1/24" dev kpb0 &&
		nx ip link set kpb0 up || return 1
	local out
	out=$(KROUTE_K8S_ADDRESS=$BRIDGE_NET.1 nx "$cp_sh" start "$cp" 2>&1) ||
		{ echo "control-plane.sh start failed: $out" >&2; return 1; }
	printf '#!/bin/sh\nexec ip netns exec %s %s "$@"\n' "$cp_ns" "$cp/bin/kubectl" >"$W/kubectl"
	chmod +x "$W/kubectl"
}

# A node's namespace (sets NS): eth0 on the bridge, its InternalIP from the Node
# object (192.168.0.1 for node-00000), a default route to the bridge;
# api_latency.py's new endpoints (10.250.0.0/16) and gen_cluster's pod range
# are local, so a probe to an old endpoint is refused at once.
setup_node() {
	local i=$1
	newns
	ip -n "$cp_ns" link add "kpbh$i" type veth peer name eth0 netns "$NS" &&
		ip -n "$cp_ns" link set "kpbh$i" master kpb0 up &&
		nx ip link set lo up &&
		nx ip addr add "$BRIDGE_NET.$((10 + i))/24" dev eth0 &&
		nx ip addr add 192.168.0.1/32 dev eth0 &&
		nx ip link set eth0 up &&
		nx ip route add default via "$BRIDGE_NET.1" &&
		nx ip route add local 10.250.0.0/16 dev lo &&
		nx ip route add local "$CLUSTER_CIDR" dev lo
}

# metric NAME [FAMILY]: the value of NAME{ip_family=FAMILY} from $W/metrics (empty if none).
metric() {
	awk -v n="$1" -v f="ip_family=\"${2:-IPv4}\"" \
		'index($0, n "{") == 1 && index($0, f) { print $NF; exit }' "$W/metrics"
}
scrape() { nx curl -sf --max-time 5 http://127.0.0.1:10249/metrics >"$W/metrics" 2>/dev/null; }

# run_target SIZE TARGET I
run_target() {
	local size=$1 target=$2 i=$3 log=$W/$2-$1.log t0 deadline full last wall rss lat f
	local impl=${target%-*} mode=${target##*-} args
	setup_node "$i" || { echo "cannot set up the node namespace" >&2; return 1; }
	args=(--hostname-override "$NODE" --kubeconfig "$cp/kubeconfig" --cluster-cidr "$CLUSTER_CIDR")
	t0=$(date +%s.%N)
	# Not through nx: ip netns exec execs the proxy, so $! is the proxy itself.
	if [ "$impl" = kube-proxy ]; then
		# Conntrack's global limits cannot be set from a network namespace: left alone.
		ip netns exec "$NS" "$kube_proxy" --proxy-mode "$mode" "${args[@]}" \
			--conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 \
			--conntrack-tcp-timeout-close-wait 0 >"$log" 2>&1 &
	else
		ip netns exec "$NS" "$kroute" run --mode "$mode" "${args[@]}" >"$log" 2>&1 &
	fi
	proxy=$!
	deadline=$(($(date +%s) + SYNC_TIMEOUT))
	full=
	while [ "$(date +%s)" -lt "$deadline" ] && kill -0 "$proxy" 2>/dev/null; do
		if scrape; then
			full=$(metric kubeproxy_sync_full_proxy_rules_duration_seconds_count)
			[ -n "$full" ] && [ "${full%.*}" -ge 1 ] && break
		fi
		full=
		sleep 0.2
	done
	if [ -z "$full" ]; then
		local why=timeout
		kill -0 "$proxy" 2>/dev/null || why=exited
		echo "$target at $size: no first sync ($why); the log ends:" >&2
		tail -3 "$log" >&2
		res size="$size" target="$target" figure=first_sync s=">$SYNC_TIMEOUT" why="$why" \
			rss_mb="$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$proxy/status" 2>/dev/null)" \
			load="$(loadavg)"
		stop_proxy
		delns
		return 1
	fi
	rss=$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$proxy/status")
	last=$(metric kubeproxy_sync_proxy_rules_last_timestamp_seconds)
	# (awk: Go writes the gauge as 1.7646817234567e+09, which bc cannot read)
	wall=$(awk -v a="$last" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
	res size="$size" target="$target" figure=first_sync s="$wall" \
		full_s="$(printf '%.2f' "$(metric kubeproxy_sync_full_proxy_rules_duration_seconds_sum)")" \
		full_v6_s="$(metric kubeproxy_sync_full_proxy_rules_duration_seconds_sum IPv6)" \
		rss_mb="$rss" load="$(loadavg)"
	if [ "$target" = kube-proxy-nftables ]; then
		# What every one of its syncs, partial ones too, starts with: listing the
		# table's objects (knftables ListAll, an `nft list` of the chains; the namespace has only its table).
		t=$(date +%s%N)
		n=$(nx nft list chains ip 2>/dev/null | grep -c '^[[:space:]]*chain ')
		res size="$size" target="$target" figure=nft_list_chains chains="$n" \
			ms="$((($(date +%s%N) - t) / 1000000))"
	fi
	lat=$W/latency-$target-$size.txt
	# Each target's changes use new addresses: the same patch again changes nothing.
	nx /usr/bin/python3 "$here/api_latency.py" --metrics http://127.0.0.1:10249/metrics \
		--trigger-time "$cp" - "$CHANGES" "$((i * CHANGES))" 120 >"$lat" ||
		echo "$target at $size: some changes never answered (see $lat)" >&2
	for f in traffic sync own_npl; do
		res size="$size" target="$target" figure="$f" \
			median_ms="$(sed -n "s/.* ${f}_ms=\([0-9.]*\).*/\1/p" "$lat" | pctl 50)" \
			p99_ms="$(sed -n "s/.* ${f}_ms=\([0-9.]*\).*/\1/p" "$lat" | pctl 99)" \
			n="$(grep -c " ${f}_ms=[0-9]" "$lat")" load="$(loadavg)"
	done
	# How many of the syncs the changes caused were partial ones: "partial/all".
	res size="$size" target="$target" figure=syncs partial="$(awk '
		{ for (k = 1; k <= NF; k++) { split($k, kv, "="); if (kv[1] == "partial") p += kv[2]; if (kv[1] == "syncs") n += kv[2] } }
		END { print p + 0 "/" n + 0 }' "$lat")"
	res size="$size" target="$target" figure=end \
		rss_mb="$(awk '/^VmHWM/ { print int($2 / 1024) }' "/proc/$proxy/status")"
	stop_proxy
	delns
}

for size in $SIZES; do
	echo "== $size services x $ENDPOINTS endpoints ($(date -u +%T))"
	setup_cp || exit 1
	t=$(date +%s)
	"$here/k8s_load.sh" "$W/kubectl" "$cp/kubeconfig" "$gen" "$W/load" "$size" "$ENDPOINTS" \
		"$((size < NODES ? size : NODES))" || exit 1
	res size="$size" target=load figure=kubectl_create s="$(($(date +%s) - t))"
	# k8s_load.sh drops every status (the API server ignores it on create); a real
	# node has its addresses, and kube-proxy waits for them before it starts.
	"$W/kubectl" --kubeconfig "$cp/kubeconfig" patch node "$NODE" --subresource=status \
		--type=merge -p '{"status":{"addresses":[{"type":"InternalIP","address":"192.168.0.1"},
		{"type":"Hostname","address":"'"$NODE"'"}]}}' >/dev/null || exit 1
	i=0
	for target in $TARGETS; do
		i=$((i + 1))
		echo "-- $target ($(date -u +%T))"
		run_target "$size" "$target" "$i"
	done
	ip netns exec "$cp_ns" "$cp_sh" stop "$cp"
	delns "$cp_ns"
	cp_ns=
done
summary
