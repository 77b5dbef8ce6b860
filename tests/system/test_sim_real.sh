#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kroute sim's prediction against reality.  One scenario runs twice: first
# through `kroute sim`, then on the netns test cluster (tests/cluster), with
# real connections from the external client through kroute's iptables mode
# (kube-proxy's rules; the kernel picks endpoints at random).  The measured
# share of each endpoint, as a fraction of all requests, must equal the
# prediction within TOLERANCE (0.05 absolute), and the share of drops within
# DROP_TOLERANCE (0.005: a drop is decided by the policy, not by chance).
#
# Scenario (nodes: node-a1, node-a2 in zone-a; node-b1 in zone-b):
#   t/simlocal    NodePort 30180, externalTrafficPolicy Local;
#                 endpoints web-1, web-2 on node-a1 and web-3 on node-a2
#   t/simcluster  NodePort 30181, externalTrafficPolicy Cluster; the same pods
#   traffic       800 to node-a1:30180 (web-1 and web-2 share them),
#                 200 to node-a2:30180 (all to web-3),
#                 100 to node-b1:30180 (no local endpoint: dropped),
#                 900 to node-b1:30181 (spread over the three pods)
#
# Why 0.05: the random choices are draws on both sides (the kernel's, and
# the seeded replay of kroute's random scheduler in the prediction).  A
# pod's count of node-a1's 800 is binomial with sd 14.1, as is its count of
# the 900 (sd 14.1): 0.0071 of the 2000 requests; the difference of two such
# draws has sd 0.010, so 0.05 is 5 sd: a correct proxy fails about once in
# a million comparisons.  A wrong policy is off by much more: web-3 getting
# its share of node-a1's traffic moves 0.13, node-b1 forwarding instead of
# dropping moves the drops by 0.05 (against 0.005).
#
#   test_sim_real.sh KROUTE KR-BACKEND KR-PROBE
#
# Root only (77 otherwise); everything happens in namespaces lib.sh creates
# and removes on every exit path.  Run under the shared lock.
set -u
D=$(cd "$(dirname "$0")" && pwd)/dataplane
. "$D/../../cluster/lib.sh"
. "$D/engine.sh"
dp_begin iptables "$@" -- jq
TOLERANCE=0.05
DROP_TOLERANCE=0.005

dp_ns() { kc_ns "$@"; }
dp_ip() { kc_ip "$@"; }
DP_RUN_FLAGS=(--cluster-cidr 10.244.0.0/16 --min-sync-period 100ms --sync-period 30s)

kc_setup || exit 1
M=$KC_RUNDIR/m
DP_DIR=$KC_RUNDIR
mkdir -p "$M"
kc_write_manifests "$M" || exit 1
kc_add_pod node-a1 web-1 && kc_add_pod node-a1 web-2 && kc_add_pod node-a2 web-3 || exit 1
for p in web-1 web-2 web-3; do kc_start_backend "$p" 8080/tcp || exit 1; done
for s in simlocal:30180:Local:10.96.0.80 simcluster:30181:Cluster:10.96.0.81; do
	IFS=: read -r name np etp cip <<<"$s"
	cat >"$M/svc-$name.yaml" <<-YAML
		apiVersion: v1
		kind: Service
		metadata: {name: $name, namespace: t}
		spec:
		  type: NodePort
		  clusterIP: $cip
		  externalTrafficPolicy: $etp
		  ports: [{name: web, protocol: TCP, port: 80, targetPort: 8080, nodePort: $np}]
	YAML
	kc_write_endpointslice "$M" "t/$name" 8080/tcp:web web-1 web-2 web-3 || exit 1
done

# The prediction.
cat >"$KC_RUNDIR/traffic" <<EOF
external node-a1 t/simlocal 800
external node-a2 t/simlocal 200
external node-b1 t/simlocal 100
external node-b1 t/simcluster 900
EOF
if ! "$KROUTE" sim -f "$M" --traffic "$KC_RUNDIR/traffic" --variants as-is -o json \
	>"$KC_RUNDIR/predicted.json" 2>"$KC_RUNDIR/sim.err"; then
	bad "kroute sim failed: $(cat "$KC_RUNDIR/sim.err")"
	dp_report "sim vs real"
	exit 1
fi

# Reality: kroute on every node, then the same connections from the client.
for n in "${KC_NODES[@]}"; do
	start_and_sync "$n" || { bad "kroute on $n did not sync: $(tail -5 "$DP_DIR/kroute-$n.log")"; exit 1; }
done
: >"$KC_RUNDIR/real"
while read -r _ node svc count; do
	port=30180
	[ "$svc" = t/simcluster ] && port=30181
	dp_exec client "$KR_PROBE" tcp "$(kc_node_ip "$node")" "$port" --count "$count" --timeout 200 \
		</dev/null | outcomes | sed "s|^|$svc |" >>"$KC_RUNDIR/real"
done <"$KC_RUNDIR/traffic"
total=$(wc -l <"$KC_RUNDIR/real")
check "connection attempts made" "$total" 2000

# Compare: every endpoint's share (the pods' names are their endpoints), and drops.
frac() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && -d <= t) }'; }
# compare WHAT PREDICTED MEASURED [TOLERANCE]
compare() {
	local what=$1 want=$2 got=$3 tol=${4:-$TOLERANCE}
	if within "$got" "$want" "$tol"; then
		ok
		echo "ok: $what: predicted $want, measured $got"
	else
		bad "$what: predicted $want, measured $got (tolerance $tol)"
	fi
}
for svc in t/simlocal t/simcluster; do
	for pod in web-1 web-2 web-3; do
		ip=$(kc_pod_ip "$pod")
		want=$(jq -r --arg n "$svc:web $ip:8080" '.results[0].endpoints[] | select(.name == $n) | .fraction' \
			"$KC_RUNDIR/predicted.json")
		[ -n "$want" ] || { bad "no prediction for $svc $pod"; continue; }
		got=$(frac "$(grep -c "^$svc $pod\$" "$KC_RUNDIR/real")" "$total")
		compare "$svc $pod" "$want" "$got"
	done
done
compare "dropped" "$(jq -r '.results[0].dropped_fraction' "$KC_RUNDIR/predicted.json")" \
	"$(frac "$(grep -c ' drop$' "$KC_RUNDIR/real")" "$total")" "$DROP_TOLERANCE"
# The comparison tells policies apart: the prediction for the Cluster variant (no drops,
# web-3 sharing node-a1's traffic) must not pass as this reality.
"$KROUTE" sim -f "$M" --traffic "$KC_RUNDIR/traffic" --variants Cluster -o json >"$KC_RUNDIR/cluster.json" 2>&1
measured_drop=$(frac "$(grep -c ' drop$' "$KC_RUNDIR/real")" "$total")
if within "$measured_drop" "$(jq -r '.results[0].dropped_fraction' "$KC_RUNDIR/cluster.json")" "$DROP_TOLERANCE"; then
	bad "the Cluster variant's drops match the measurement too: the comparison cannot tell policies apart"
else
	ok
fi
# Nothing else happened: every attempt reached a pod or was dropped.
check "other outcomes" "$(grep -cvE ' (web-[123]|drop)$' "$KC_RUNDIR/real")" 0

dp_report "sim vs real"
