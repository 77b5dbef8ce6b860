#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Real packets through a kroute data plane, in the netns test cluster
# (tests/cluster): kroute runs in every node's namespace, fed the same
# cluster as YAML, and every assertion is a connection from a pod, a node or
# the external client, checking which pod answered, the source address it
# saw, and drop (timeout) versus reject (refused) exactly as kube-proxy
# behaves.  Endpoint changes are applied by editing the manifests while
# kroute runs.  Parameterised by mode: test_dataplane.sh MODE KROUTE BACKEND PROBE.
# The same scenarios run for every mode; where a mode cannot behave as
# kube-proxy does (a userspace proxy stops proxying when it exits), the check
# asserts what that mode does, and docs/userspace.md says why.  Userspace
# adds its own checks (connections across endpoint changes, least
# connections, passive health checking).
#
# Never touches the host: everything happens in namespaces lib.sh creates and
# tears down on every exit path.
set -u
mode=${1:?usage: $0 MODE KROUTE KR-BACKEND KR-PROBE}
KROUTE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
export KR_BACKEND=$3 KR_PROBE=$4
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../cluster/lib.sh"
kc_require_root
kc_require_cmd iptables-save iptables-restore conntrack
[ "$mode" = userspace ] && kc_require_cmd nft ss

pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# check DESC GOT WANT
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }

kc_setup || exit 1
M=$KC_RUNDIR/m
mkdir -p "$M"
# idle is a pod with no server: listed as an endpoint, it refuses connections;
# mute is one whose packets vanish (blackholed below), so connects time out.
for p in web-1:node-a1 web-2:node-b1 cli-a1:node-a1 cli-a2:node-a2 cli-b1:node-b1 idle:node-a2 \
	mute:node-a1; do
	kc_add_pod "${p#*:}" "${p%%:*}" || exit 1
done
for p in web-1 web-2; do kc_start_backend "$p" 8080/tcp 8080/udp || exit 1; done
kc_write_manifests "$M" || exit 1
# Real nodes have a default route; the cluster's nodes have none (so unknown
# addresses fail fast).  Service VIPs need one: routing happens before the
# filter rules that drop or reject, as on a real node.
for n in "${KC_NODES[@]}"; do
	ip -n "$(kc_node_ns "$n")" route add 10.96.0.0/16 dev eth0 || exit 1
	ip -n "$(kc_node_ns "$n")" route add 192.0.2.0/24 dev eth0 || exit 1
	ip -n "$(kc_node_ns "$n")" route add 198.51.100.0/24 dev eth0 || exit 1
done

services() {
	cat >"$M/services.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-itp-local, namespace: t}
spec:
  clusterIP: 10.96.0.11
  internalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-etp-local, namespace: t}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.12
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: t}
spec:
  clusterIP: 10.96.0.13
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty-udp, namespace: t}
spec:
  clusterIP: 10.96.0.17
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: t}
spec:
  clusterIP: 10.96.0.14
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 1}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: t}
spec:
  clusterIP: 10.96.0.15
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: t}
spec:
  clusterIP: 10.96.0.16
  externalIPs: [192.0.2.10]
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: hold, namespace: t}
spec:
  clusterIP: 10.96.0.20
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: lc
  namespace: t
  annotations: {kroute.io/scheduler: lc}
spec:
  clusterIP: 10.96.0.21
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: dead, namespace: t}
spec:
  clusterIP: 10.96.0.22
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: slow, namespace: t}
spec:
  clusterIP: 10.96.0.23
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: refuse, namespace: t}
spec:
  clusterIP: 10.96.0.24
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: weighted
  namespace: t
  annotations: {kroute.io/scheduler: rr, kroute.io/endpoint-weights: "${KC_POD_IP[web-2]}=0"}
spec:
  clusterIP: 10.96.0.25
  ports: [{name: http, port: 80, targetPort: 8080}]
YAML
}
services
# web-1 is on node-a1, web-2 on node-b1; node-a2 has no endpoint.
for s in web web-itp-local web-etp-local sticky ext; do
	kc_write_endpointslice "$M" "t/$s" 8080/TCP:http web-1 web-2 || exit 1
done
kc_write_endpointslice "$M" t/empty 8080/TCP:http || exit 1
kc_write_endpointslice "$M" t/empty-udp 8080/UDP:dns || exit 1
kc_write_endpointslice "$M" t/dns 8080/UDP:dns web-1 web-2 || exit 1
for s in hold lc; do kc_write_endpointslice "$M" "t/$s" 8080/TCP:http web-1 web-2 || exit 1; done
kc_write_endpointslice "$M" t/dead 8080/TCP:http web-1 idle || exit 1
kc_write_endpointslice "$M" t/slow 8080/TCP:http web-2 mute || exit 1
kc_write_endpointslice "$M" t/refuse 8080/TCP:http idle || exit 1
kc_write_endpointslice "$M" t/weighted 8080/TCP:http web-1 web-2 || exit 1
kc_blackhole mute on || exit 1

declare -A KPID
GRACE=3
start_kroute() {
	local node=$1 extra=() wrap=()
	[ "$mode" = userspace ] && extra=(--userspace-grace-period "${GRACE}s"
		--userspace-status-file "$KC_RUNDIR/status-$node.json" --userspace-connect-timeout 300ms)
	# A command that execs kroute (prlimit), so $! stays kroute's pid.
	[ -n "${KROUTE_WRAP:-}" ] && read -ra wrap <<<"$KROUTE_WRAP"
	# ip netns exec execs kroute itself, so $! is kroute's pid.
	ip netns exec "$(kc_node_ns "$node")" "${wrap[@]}" "$KROUTE" run --mode "$mode" --node "$node" -f "$M" \
		--cluster-cidr 10.244.0.0/16 --min-sync-period 100ms --sync-period 30s "${extra[@]}" \
		>>"$KC_RUNDIR/kroute-$node.log" 2>&1 &
	KPID[$node]=$!
}
for n in "${KC_NODES[@]}"; do start_kroute "$n"; done
synced() { grep -q "full sync:" "$KC_RUNDIR/kroute-$1.log"; }
for n in "${KC_NODES[@]}"; do
	kc_wait_for -t 20 synced "$n" || { bad "kroute on $n did not sync"; cat "$KC_RUNDIR/kroute-$n.log"; exit 1; }
done
for n in node-a1 node-a2 node-b1; do kc_client_route 198.51.100.7 "$n" 2>/dev/null; break; done
kc_client_unroute 198.51.100.7 2>/dev/null

# probe FROM PROTO IP PORT [args]: prints pod name, or the failure word.
probe() {
	local from=$1
	shift
	kc_probe "$from" "$@" --timeout 700 | sed -E 's/^pod=([^ ]+) .*/\1/'
}
# probe_client FROM IP PORT: the client address the backend saw (IP only).
probe_client() {
	kc_probe "$1" tcp "$2" "$3" --timeout 700 | sed -nE 's/.* client=([0-9.]+):[0-9]+ .*/\1/p'
}
# answers FROM N IP PORT: the sorted set of pods that answered N connections.
answers() {
	local from=$1 n=$2 ip=$3 port=$4
	kc_probe "$from" tcp "$ip" "$port" --count "$n" --timeout 700 |
		sed -E 's/^pod=([^ ]+) .*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

A1=${KC_NODE_IP[node-a1]} A2=${KC_NODE_IP[node-a2]}
CLI_A2=${KC_POD_IP[cli-a2]}

echo "== ClusterIP, internalTrafficPolicy Cluster"
check "pod on a node without endpoints reaches both pods" "$(answers cli-a2 30 10.96.0.10 80)" "web-1 web-2"
check "pod source IP is kept (no masquerade)" "$(probe_client cli-a2 10.96.0.10 80)" "$CLI_A2"
check "the node itself reaches the service" "$(answers node-a2 20 10.96.0.10 80)" "web-1 web-2"
check "hairpin: an endpoint reaching itself through the service" \
	"$(kc_probe web-1 tcp 10.96.0.10 80 --count 20 --timeout 700 | grep -c '^pod=')" 20

echo "== ClusterIP, internalTrafficPolicy Local"
check "pod on node-a1 reaches only its local endpoint" "$(answers cli-a1 20 10.96.0.11 80)" "web-1"
check "pod on node-b1 reaches only its local endpoint" "$(answers cli-b1 20 10.96.0.11 80)" "web-2"
check "pod on a node without a local endpoint: dropped" "$(probe cli-a2 tcp 10.96.0.11 80)" "timeout"

echo "== no endpoints anywhere: rejected"
check "ClusterIP of an empty service: refused" "$(probe cli-a2 tcp 10.96.0.13 80)" "refused"
check "UDP to an empty service: refused" "$(kc_probe cli-a2 udp 10.96.0.17 53 --timeout 700)" "refused"

echo "== NodePort, externalTrafficPolicy Cluster"
check "external client via node-a2 reaches both pods" "$(answers client 30 "$A2" 30080)" "web-1 web-2"
check "external client is masqueraded to the node IP" "$(probe_client client "$A2" 30080)" "$A2"

echo "== NodePort and LoadBalancer, externalTrafficPolicy Local"
check "external client via node-a1 reaches the local pod" "$(answers client 20 "$A1" 30081)" "web-1"
check "external client IP is preserved" "$(probe_client client "$A1" 30081)" "$KC_CLIENT_IP"
check "via a node without a local endpoint: dropped" "$(probe client tcp "$A2" 30081)" "timeout"
check "pod traffic to that NodePort short-circuits to cluster endpoints" \
	"$(answers cli-a2 30 "$A2" 30081)" "web-1 web-2"
check "the node's own traffic to that NodePort goes to cluster endpoints" \
	"$(answers node-a2 30 "$A2" 30081)" "web-1 web-2"
check "the short-circuited pod keeps its source IP" "$(probe_client cli-a2 "$A2" 30081)" "$CLI_A2"
kc_client_route 198.51.100.7 node-a1
check "LB IP via node-a1: local pod, client IP kept" \
	"$(kc_probe client tcp 198.51.100.7 80 --timeout 700 | sed -E 's/^pod=([^ ]+) client=([0-9.]+):.*/\1 \2/')" \
	"web-1 $KC_CLIENT_IP"
kc_client_unroute 198.51.100.7
kc_client_route 198.51.100.7 node-a2
check "LB IP via node-a2 (no local endpoint): dropped" "$(probe client tcp 198.51.100.7 80)" "timeout"
kc_client_unroute 198.51.100.7

echo "== externalIPs"
kc_client_route 192.0.2.10 node-b1
check "external IP via node-b1 reaches the service, masqueraded" \
	"$(kc_probe client tcp 192.0.2.10 80 --count 10 --timeout 700 | sed -nE 's/.* client=([0-9.]+):.*/\1/p' | sort -u)" \
	"${KC_NODE_IP[node-b1]}"
kc_client_unroute 192.0.2.10

echo "== session affinity (ClientIP, 1 s)"
first=$(probe cli-a2 tcp 10.96.0.14 80)
check "affinity: 15 connections within the timeout go to one pod" "$(answers cli-a2 15 10.96.0.14 80)" "$first"
# After the timeout a client is picked afresh: sampled 12 times, one pod every
# time would happen by chance with probability 2^-11.
seen=""
for _ in $(seq 1 12); do
	sleep 1.2
	seen="$seen $(probe cli-a2 tcp 10.96.0.14 80)"
done
check "affinity expires after its timeout" "$(echo $seen | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')" "web-1 web-2"

echo "== UDP"
check "UDP to the ClusterIP answers" "$(kc_probe cli-a2 udp 10.96.0.15 53 --count 10 --timeout 700 | grep -c '^pod=')" 10

echo "== endpoint changes while kroute runs"
# Scale web down to web-2 only: traffic moves without restarting kroute.
kc_write_endpointslice "$M" t/web 8080/TCP:http web-2
only_web2() { [ "$(answers cli-a2 10 10.96.0.10 80)" = "web-2" ]; }
kc_wait_for -t 10 only_web2 && ok || bad "scale down to web-2 not applied: $(answers cli-a2 10 10.96.0.10 80)"
# Scale to zero: rejected.
kc_write_endpointslice "$M" t/web 8080/TCP:http
refused() { [ "$(probe cli-a2 tcp 10.96.0.10 80)" = refused ]; }
kc_wait_for -t 10 refused && ok || bad "scale to zero did not reject"
# Terminating but serving endpoints are used when nothing is ready.
kc_write_endpointslice "$M" t/web 8080/TCP:http web-1:terminating web-2:notready
only_web1() { [ "$(answers cli-a2 10 10.96.0.10 80)" = "web-1" ]; }
kc_wait_for -t 10 only_web1 && ok || bad "terminating fallback not applied: $(answers cli-a2 10 10.96.0.10 80)"
kc_write_endpointslice "$M" t/web 8080/TCP:http web-1 web-2
both() { [ "$(answers cli-a2 30 10.96.0.10 80)" = "web-1 web-2" ]; }
kc_wait_for -t 10 both && ok || bad "scale back up not applied"

echo "== UDP flows to a removed endpoint are moved, not blackholed"
kc_write_endpointslice "$M" t/dns 8080/UDP:dns web-1
only_udp_web1() { [ "$(kc_probe cli-a1 udp 10.96.0.15 53 --timeout 700 --src "${KC_POD_IP[cli-a1]}:5353" | sed -E 's/^pod=([^ ]+) .*/\1/')" = web-1 ]; }
kc_wait_for -t 10 only_udp_web1 && ok || bad "UDP did not reach web-1"
kc_write_endpointslice "$M" t/dns 8080/UDP:dns web-2
only_udp_web2() { [ "$(kc_probe cli-a1 udp 10.96.0.15 53 --timeout 700 --src "${KC_POD_IP[cli-a1]}:5353" | sed -E 's/^pod=([^ ]+) .*/\1/')" = web-2 ]; }
# The same source port: without the conntrack flush this flow would stay on web-1's entry.
kc_wait_for -t 10 only_udp_web2 && ok || bad "UDP flow stuck on the removed endpoint"

if [ "$mode" = userspace ]; then
# held_open NAME FROM IP PORT: a keep-alive HTTP connection from FROM that
# stays open; each held_req NAME sends one request on it and prints the pod
# that answered, or "closed" when the proxy closed the connection.
declare -A HELD_FD
held_open() {
	local name=$1 from=$2 ip=$3 port=$4 dir=$KC_RUNDIR/held-$1 fd
	mkdir -p "$dir" && rm -f "$dir/out" "$dir/cmd" && mkfifo "$dir/cmd" && : >"$dir/out"
	kc_exec "$from" bash -c '
		trap "" PIPE
		exec 3<>"/dev/tcp/$1/$2" || { echo connect-failed >>"$3/out"; exit 1; }
		exec 4<"$3/cmd"
		while read -r cmd <&4; do
			[ "$cmd" = quit ] && break
			res=closed
			if printf "GET / HTTP/1.1\r\nHost: t\r\n\r\n" >&3 2>/dev/null; then
				while IFS= read -r -t 3 line <&3; do
					case $line in pod=*) res=${line%% *}; res=${res#pod=}; break ;; esac
				done
			fi
			echo "$res" >>"$3/out"
		done' _ "$ip" "$port" "$dir" &
	exec {fd}>"$dir/cmd"
	HELD_FD[$name]=$fd
}
held_lines() { wc -l <"$KC_RUNDIR/held-$1/out"; }
held_grew() { [ "$(held_lines "$1")" -gt "$2" ]; }
held_req() {
	local name=$1 n
	n=$(held_lines "$name")
	echo req >&"${HELD_FD[$name]}"
	kc_wait_for -t 5 held_grew "$name" "$n" || { echo no-answer; return; }
	tail -n 1 "$KC_RUNDIR/held-$name/out"
}
held_close() {
	echo quit >&"${HELD_FD[$1]}"
	exec {HELD_FD[$1]}>&-
}
other_pod() { if [ "$1" = web-1 ]; then echo web-2; else echo web-1; fi; }

echo "== userspace: an established connection survives a change that keeps its endpoint"
held_open keep cli-a2 10.96.0.20 80
first=$(held_req keep)
case $first in web-1 | web-2) ok ;; *) bad "the held connection did not answer: $first" ;; esac
kc_write_endpointslice "$M" t/hold 8080/TCP:http "$first"
only_first() { [ "$(answers cli-a2 10 10.96.0.20 80)" = "$first" ]; }
kc_wait_for -t 10 only_first && ok || bad "hold: scale down to $first not applied"
sleep $((GRACE + 1))
check "after the change and the grace period, the same connection still answers" "$(held_req keep)" "$first"
held_close keep

echo "== userspace: a connection to a removed endpoint is closed after the grace period"
kc_write_endpointslice "$M" t/hold 8080/TCP:http web-1 web-2
both_hold() { [ "$(answers cli-a2 30 10.96.0.20 80)" = "web-1 web-2" ]; }
kc_wait_for -t 10 both_hold && ok || bad "hold: scale up not applied"
held_open gone cli-a2 10.96.0.20 80
first=$(held_req gone)
other=$(other_pod "$first")
removed_at=$(kc_now_ms)
kc_write_endpointslice "$M" t/hold 8080/TCP:http "$other"
only_other() { [ "$(answers cli-a2 10 10.96.0.20 80)" = "$other" ]; }
kc_wait_for -t 10 only_other && ok || bad "hold: removal of $first not applied"
# Still inside the grace period, if the change applied fast enough to tell.
if [ $(($(kc_now_ms) - removed_at)) -lt $((GRACE * 1000 - 500)) ]; then
	check "within the grace period the connection still works" "$(held_req gone)" "$first"
else
	bad "the endpoint change took longer than the grace period to apply"
fi
sleep $((GRACE + 1))
check "after the grace period the connection is closed" "$(held_req gone)" closed
held_close gone

echo "== userspace: least connections (kroute.io/scheduler: lc) counts live connections"
held_open lc cli-a2 10.96.0.21 80
check "lc: the first connection goes to the first endpoint" "$(held_req lc)" web-1
# Sequential probes 100 ms apart: each has ended (and been uncounted) before the next.
check "lc: while it is open, new connections go to the other endpoint" \
	"$(kc_probe cli-a2 tcp 10.96.0.21 80 --count 10 --interval 100 --timeout 700 |
		sed -E 's/^pod=([^ ]+) .*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//')" web-2
held_close lc
back_to_web1() { [ "$(answers cli-a2 5 10.96.0.21 80)" = web-1 ]; }
kc_wait_for -t 5 back_to_web1 && ok || bad "lc: closing the connection was not counted"

echo "== userspace: a listed endpoint that refuses is retried and ejected"
check "every connection is answered (retried on web-1)" \
	"$(kc_probe cli-a2 tcp 10.96.0.22 80 --count 20 --timeout 700 | sed -E 's/^pod=([^ ]+) .*/\1/' | sort | uniq -c | sed 's/^ *//')" \
	"20 web-1"
IDLE=${KC_POD_IP[idle]}
check "the ejection is logged" "$(grep -c "endpoint $IDLE:8080 ejected" "$KC_RUNDIR/kroute-node-a2.log")" 1
ejected_in_status() {
	grep -q "\"endpoint\": \"$IDLE:8080\", \"removed\": false, [^}]*\"ejected\": true" \
		"$KC_RUNDIR/status-node-a2.json"
}
kc_wait_for -t 3 ejected_in_status && ok ||
	bad "the status file does not show $IDLE:8080 ejected: $(cat "$KC_RUNDIR/status-node-a2.json")"
check "kroute explain --status shows the ejected endpoint next to the route" \
	"$("$KROUTE" explain -f "$M" --node node-a2 --cluster-cidr 10.244.0.0/16 --service t/dead \
		--status "$KC_RUNDIR/status-node-a2.json" 2>/dev/null | grep -c "$IDLE:8080 (EJECTED for")" 1

echo "== userspace: every endpoint refuses: the client gets a reset, also once they are all ejected"
check "each connection is reset (the attempts fail; the proxy cannot refuse an accepted one)" \
	"$(kc_probe cli-a2 tcp 10.96.0.24 80 --count 6 --timeout 2000 | sort | uniq -c | sed 's/^ *//')" \
	"6 reset"

echo "== userspace: rr with kroute.io/endpoint-weights: a weight-0 endpoint gets no new flows"
check "every connection goes to web-1 (web-2 has weight 0)" \
	"$(answers cli-a2 20 10.96.0.25 80)" web-1

echo "== userspace: an endpoint that does not answer is retried after the connect timeout and ejected"
check "every connection is answered (retried on web-2 after 300 ms)" \
	"$(kc_probe cli-a2 tcp 10.96.0.23 80 --count 10 --timeout 3000 | sed -E 's/^pod=([^ ]+) .*/\1/' | sort | uniq -c | sed 's/^ *//')" \
	"10 web-2"
check "the ejection names the timeout" \
	"$(grep -c "endpoint ${KC_POD_IP[mute]}:8080 ejected .*(last: Connection timed out)" "$KC_RUNDIR/kroute-node-a2.log")" 1

echo "== userspace: out of file descriptors: a clear message, and kroute keeps serving"
kill -TERM "${KPID[node-b1]}"
wait "${KPID[node-b1]}" 2>/dev/null
# The limit bounds each worker's own fd table; about 25 fds of each go to its listeners and
# event loop: room for a few dozen connections per worker.
KROUTE_WRAP="prlimit --nofile=96:96" start_kroute node-b1
synced_b1() { [ "$(grep -c 'full sync:' "$KC_RUNDIR/kroute-node-b1.log")" -ge 2 ]; }
kc_wait_for -t 20 synced_b1 && ok || bad "kroute on node-b1 did not restart"
# 160 connections held at once (kr-backend closes a silent one after about 2 s).
t0=$(kc_now_ms)
kc_exec cli-b1 bash -c 'for i in $(seq 160); do exec {fd}<>/dev/tcp/10.96.0.10/80 || break; done; sleep 2' \
	2>/dev/null
held_s=$((($(kc_now_ms) - t0 + 999) / 1000))
# At most once a second per worker (one per CPU), however many connections it turns away.
n_logged=$(grep -c 'out of file descriptors (.*; RLIMIT_NOFILE 96 per worker)' "$KC_RUNDIR/kroute-node-b1.log")
check "the fd exhaustion is logged with the limit, at most once a second per worker" \
	"$([ "$n_logged" -ge 1 ] && [ "$n_logged" -le $(((held_s + 1) * $(nproc))) ] && echo yes ||
		echo "$n_logged in ${held_s}s")" yes
check "kroute is still running" "$(kill -0 "${KPID[node-b1]}" 2>/dev/null && echo yes)" yes
both_b1() { [ "$(answers cli-b1 20 10.96.0.10 80)" = "web-1 web-2" ]; }
kc_wait_for -t 10 both_b1 && ok || bad "after the fd exhaustion the service does not answer"
fi

echo "== bad input keeps the last good rules"
cp "$M/services.yaml" "$KC_RUNDIR/services.good"
printf 'apiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: t}\nspec: {ports: [{port: 99999}]}\n' >"$M/broken.yaml"
has_error() { grep -q "broken.yaml.*must be between 1 and 65535" "$KC_RUNDIR/kroute-node-a2.log"; }
kc_wait_for -t 10 has_error && ok || bad "the bad manifest was not reported"
check "traffic still flows after a bad change" "$(answers cli-a2 20 10.96.0.10 80)" "web-1 web-2"
rm -f "$M/broken.yaml"

echo "== SIGTERM leaves the rules in place"
kill -TERM "${KPID[node-a2]}"
wait "${KPID[node-a2]}" 2>/dev/null
if [ "$mode" = userspace ]; then
	# The proxy is the process: its addresses stay on kroute0 with nothing
	# listening, so clients are refused at once instead of hanging.
	check "after kroute exits, the service refuses" "$(probe cli-a2 tcp 10.96.0.10 80)" refused
else
	check "after kroute exits, traffic still flows" "$(answers cli-a2 20 10.96.0.10 80)" "web-1 web-2"
fi
check "kroute logged a clean exit" "$(grep -c 'rules stay in place' "$KC_RUNDIR/kroute-node-a2.log")" 1
start_kroute node-a2
synced2() { [ "$(grep -c 'full sync:' "$KC_RUNDIR/kroute-node-a2.log")" -ge 2 ]; }
kc_wait_for -t 20 synced2 && ok || bad "kroute restart did not sync"
check "after a restart, traffic flows" "$(answers cli-a2 20 10.96.0.10 80)" "web-1 web-2"

echo "== kroute cleanup removes everything it installed"
for n in "${KC_NODES[@]}"; do
	kill -TERM "${KPID[$n]}" 2>/dev/null
	wait "${KPID[$n]}" 2>/dev/null
	out=$(kc_exec "$n" "$KROUTE" cleanup 2>&1) || bad "cleanup failed on $n (status $?): $out"
	left=$(kc_exec "$n" iptables-save | grep -c -- 'KUBE-' || true)
	check "no KUBE- rules or chains left on $n" "$left" 0
	if [ "$mode" = userspace ]; then
		check "no kroute0 interface left on $n" "$(kc_exec "$n" ip -br link show kroute0 2>/dev/null | wc -l)" 0
		check "no nft table left on $n" "$(kc_exec "$n" nft list tables | grep -c kroute_userspace)" 0
		check "no fwmark rule left on $n" "$(kc_exec "$n" ip rule show | grep -c 'lookup 4751')" 0
		check "no routes left in table 4751 on $n" "$(kc_exec "$n" ip route show table 4751 2>/dev/null | wc -l)" 0
		check "no listener left on $n" "$(kc_exec "$n" ss -Hltnu | wc -l)" 0
	fi
done
# Without rules the VIP is just an address routed onto the LAN, where nobody has it.
check "after cleanup, the ClusterIP no longer answers" "$(probe cli-a2 tcp 10.96.0.10 80)" "timeout"

echo "dataplane $mode: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
