#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Generated cases against the real kube-proxy (kroute issue #13): seeded
# random clusters (kpdiff/gen.py: nodes in zones, services with random types,
# ports, traffic policies, affinity, external and load-balancer IPs, source
# ranges, traffic distribution; EndpointSlices with random endpoint states,
# nodes, zones and hints) applied to the real API server, in a network
# namespace this test creates.  For each batch, one node (a different one per
# batch): the real kube-proxy (iptables mode, as that node) programs the
# namespace and is stopped; its iptables-save is read back into per-route
# outcomes (kpdiff/iptables_outcomes.py) and compared with `kroute explain
# --kubeconfig --node NODE -o json` (kpdiff/compare.py): per cluster IP,
# NodePort, external and LB IP of every service port, the action, the
# endpoints and the masquerading.  A difference not listed in
# kpdiff/intended-differences.table fails.
#
# Usage: test_kube_proxy_generated.sh KROUTE   (root; exits 77 when not root)
# Environment: KROUTE_KPDIFF_BATCHES (default 3), KROUTE_KPDIFF_SERVICES per
# batch (default 100), KROUTE_KPDIFF_SEED (the first batch's seed, default 1;
# batch i uses SEED+i).  Many more on demand: KROUTE_KPDIFF_BATCHES=50.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nslib.sh
. "$here/nslib.sh" "$@"
gen=$here/kpdiff
batches=${KROUTE_KPDIFF_BATCHES:-3}
per=${KROUTE_KPDIFF_SERVICES:-100}
seed0=${KROUTE_KPDIFF_SEED:-1}
ns_start kpgen
kube_proxy=$("$here/build.sh" --print-bin)/kube-proxy
[ -x "$kube_proxy" ] || { bad "no kube-proxy at $kube_proxy"; finish; }
nodes=(gn-a1 gn-a2 gn-b1 gn-c1)

# kube_proxy_rules NODE OUT: kube-proxy (iptables mode) as NODE until its
# first sync is done, then stopped; its rules saved to OUT and removed
# (kube-proxy --cleanup), so the next batch starts from nothing.
kube_proxy_rules() {
	local node=$1 out=$2 i pid
	log=$tmp/kube-proxy-$node.log
	ip netns exec "$ns" "$kube_proxy" --proxy-mode iptables --hostname-override "$node" \
		--cluster-cidr 10.244.0.0/16 --kubeconfig "$kc" --conntrack-max-per-core 0 \
		--conntrack-tcp-timeout-established 0 --conntrack-tcp-timeout-close-wait 0 \
		--iptables-min-sync-period 0 --v 2 >"$log" 2>&1 &
	pid=$!
	wait_log "SyncProxyRules complete"
	i=$?
	kill "$pid"
	wait "$pid" 2>/dev/null
	[ "$i" = 0 ] || { bad "kube-proxy as $node did not sync: $(tail -5 "$log")"; return 1; }
	in_ns iptables-save >"$out" || { bad "iptables-save"; return 1; }
	in_ns "$kube_proxy" --cleanup >/dev/null 2>&1 || { bad "kube-proxy --cleanup"; return 1; }
}

total_routes=0
for ((b = 0; b < batches; b++)); do
	seed=$((seed0 + b))
	node=${nodes[$((b % ${#nodes[@]}))]}
	d=$tmp/batch-$seed
	mkdir -p "$d"
	python3 "$gen/gen.py" "$seed" "$per" "$d" || { bad "gen.py $seed"; continue; }
	# Each batch alone: the previous batch's objects go first.  Not the
	# namespace: without kube-controller-manager (its namespace controller)
	# a deleted namespace stays Terminating for ever.
	out=$(kubectl delete -n gen services,endpointslices.discovery.k8s.io --all --ignore-not-found \
		--wait=true 2>&1) || { bad "seed $seed: kubectl delete: $(tail -3 <<<"$out")"; continue; }
	out=$(kubectl apply --server-side --force-conflicts -f "$d/objects.json" 2>&1) ||
		{ bad "seed $seed: kubectl apply: $(tail -3 <<<"$out")"; continue; }
	out=$(kubectl apply --server-side --force-conflicts --subresource=status -f "$d/status.json" 2>&1) ||
		{ bad "seed $seed: kubectl apply status: $(tail -3 <<<"$out")"; continue; }
	kube_proxy_rules "$node" "$d/iptables-save" || continue
	if ! python3 "$gen/iptables_outcomes.py" "$d/iptables-save" >"$d/kube-proxy.json"; then
		bad "seed $seed: reading kube-proxy's rules failed"
		continue
	fi
	if ! in_ns "$kroute" explain --kubeconfig "$kc" --node "$node" -o json >"$d/explain.json" 2>"$d/explain.err"; then
		bad "seed $seed: kroute explain failed: $(tail -3 "$d/explain.err")"
		continue
	fi
	echo "== seed $seed, $per services, node $node"
	if res=$(python3 "$gen/compare.py" --intended "$gen/intended-differences.table" \
		--objects "$d/objects.json" "$d/explain.json" "$d/kube-proxy.json"); then
		ok
	else
		bad "seed $seed (node $node): kroute explain and kube-proxy differ"
	fi
	grep -v '^intended:' <<<"$res"
	n=$(sed -nE 's/^compare: ([0-9]+) routes.*/\1/p' <<<"$res")
	total_routes=$((total_routes + ${n:-0}))
	# A batch whose rules came back empty would compare nothing.
	[ "${n:-0}" -ge "$per" ] && ok || bad "seed $seed: only ${n:-0} routes compared"
	[ -n "${KROUTE_KPDIFF_KEEP:-}" ] && cp -r "$d" "$KROUTE_KPDIFF_KEEP/"
done
echo "generated: $batches batches of $per services, $total_routes routes compared"
finish
