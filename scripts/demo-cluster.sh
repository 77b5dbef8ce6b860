#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/demo-cluster.sh: the live demo.  Builds the netns test cluster of
# tests/cluster (3 nodes in 2 zones, routed pods, an external client), runs
# `kroute run --mode iptables` on every node, sends real traffic to a
# handful of services from a pod, a node and the external client, and
# prints one table: who answered, which source IP the pod saw, or whether
# the packets were dropped or rejected.  Then `kroute explain` for one node
# on the same manifests, one live endpoint change, `kroute cleanup` and the
# teardown.
#
#   sudo scripts/demo-cluster.sh
#   KROUTE=path/to/kroute KC_BIN_DIR=dir/with/kr-backend+kr-probe sudo -E scripts/demo-cluster.sh
#
# DEMO_TRIES (10) connections per table row, DEMO_TIMEOUT_MS (500) per
# connection.  Root, Linux, bash 5.  It needs the build (kroute,
# kr-backend, kr-probe) and iptables; it installs nothing.  Everything happens in network
# namespaces named kr<PID>-*, which lib.sh deletes on every exit path
# (normal end, error, Ctrl-C, SIGTERM, SIGHUP); after a SIGKILL run
# tests/cluster/cleanup.sh.  Traffic only goes to addresses inside them.
# The host's addresses, routes, sysctls and firewall are not touched.
#
# Logs (kroute per node, the backends, the manifests, explain's output) are
# kept in a directory printed at the end (/tmp/kroute-demo.XXXXXX).
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
: "${KROUTE:=$root/build/kroute}"
: "${KC_BIN_DIR:=$root/build/tests/cluster}"
export KC_BIN_DIR
TRIES=${DEMO_TRIES:-10}		# connections per table row
TIMEOUT_MS=${DEMO_TIMEOUT_MS:-500}	# per connection: no answer by then = dropped
CLUSTER_CIDR=10.244.0.0/16

die() { echo "demo: $*" >&2; exit 1; }

if [ ! -x "$KROUTE" ]; then
	die "kroute not found at $KROUTE: build it first (scripts/build.sh) or set KROUTE=path"
fi
KROUTE=$(cd "$(dirname "$KROUTE")" && pwd)/$(basename "$KROUTE")

. "$root/tests/cluster/lib.sh" || exit 1
kc_find_tools || exit 1		# KR_BACKEND, KR_PROBE (from KC_BIN_DIR)
kc_require_root
kc_require_cmd iptables-save iptables-restore

T0=$(kc_now_ms)
elapsed() { local n; n=$(kc_now_ms); printf '%d.%d s' $(((n - $1) / 1000)) $((((n - $1) % 1000) / 100)); }

# Where the logs stay after the namespaces are gone.
LOGDIR=$(mktemp -d "${TMPDIR:-/tmp}/kroute-demo.XXXXXX") || die "cannot create a log directory"
M=$LOGDIR/manifests
mkdir -p "$M"
DONE=0
declare -a JOBS=()
declare -A KPID=()

# Runs from kc_teardown (on every exit path) before the namespaces go:
# keeps the backends' logs.  (Probes still running are in the namespaces,
# so the teardown stops and reaps them.)
demo_on_teardown() {
	[ -n "$KC_RUNDIR" ] && cp "$KC_RUNDIR"/*.log "$LOGDIR"/ 2>/dev/null
	if [ "$DONE" = 0 ]; then
		echo
		echo "demo: stopped early; tearing down the namespaces.  Logs: $LOGDIR"
	fi
	return 0
}
KC_TEARDOWN_HOOKS+=(demo_on_teardown)

hr() { printf '%s\n' "$(printf '%*s' "${1:-78}" '' | tr ' ' "${2:--}")"; }

cat <<EOF
kroute live demo: real packets through \`kroute run --mode iptables\`
$(hr 78 =)
Everything below runs in throwaway network namespaces on this machine
(kr$$-*): 3 nodes in 2 zones, routed pods and one client outside the
cluster.  kroute runs in each node's namespace, fed the same manifests.
The namespaces are deleted at the end, also on Ctrl-C; the host's own
network is not touched.

EOF

# ---------------------------------------------------------------- cluster
t=$(kc_now_ms)
printf '%-52s' "building the cluster..."
kc_setup || exit 1
for p in web-1:node-a1 cli-a1:node-a1 cli-a2:node-a2 web-2:node-b1; do
	kc_add_pod "${p#*:}" "${p%%:*}" || exit 1
done
for p in web-1 web-2; do kc_start_backend "$p" 8080/tcp 8080/udp || exit 1; done
# The nodes have no default route (unknown addresses fail fast); service
# VIPs and LB IPs need a route, as on a real node, because routing happens
# before the filter rules that drop or reject.
for n in "${KC_NODES[@]}"; do
	ip -n "$(kc_node_ns "$n")" route add 10.96.0.0/16 dev eth0 || exit 1
	ip -n "$(kc_node_ns "$n")" route add 198.51.100.0/24 dev eth0 || exit 1
done
# A REJECT answers with ICMP port unreachable, which the kernel rate-limits
# per destination (net.ipv4.icmp_ratelimit: a burst of 6, then 1 a second),
# so some of a quick series of rejected connections would time out.  Off
# inside the node namespaces, so the table shows what the rules do.
for n in "${KC_NODES[@]}"; do kc_node_sysctl "$n" net.ipv4.icmp_ratelimit=0 || exit 1; done
# An upstream load balancer: each LB IP is routed to one node.
kc_client_route 198.51.100.7 node-a1 || exit 1
kc_client_route 198.51.100.8 node-a2 || exit 1
echo "done in $(elapsed "$t")"

A1=${KC_NODE_IP[node-a1]} A2=${KC_NODE_IP[node-a2]} B1=${KC_NODE_IP[node-b1]}
cat <<EOF

  node-a1  zone-a  $A1   pods: web-1 ${KC_POD_IP[web-1]} (backend), cli-a1 ${KC_POD_IP[cli-a1]}
  node-a2  zone-a  $A2   pods: cli-a2 ${KC_POD_IP[cli-a2]}    <- no backend on this node
  node-b1  zone-b  $B1   pods: web-2 ${KC_POD_IP[web-2]} (backend)
  client   outside $KC_CLIENT_IP  LB 198.51.100.7 routed to node-a1, 198.51.100.8 to node-a2

EOF

# -------------------------------------------------------------- manifests
kc_write_manifests "$M" || exit 1
cat >"$M/services.yaml" <<'YAML'
# The demo's services, all in namespace "demo"; endpoints in endpointslice-*.yaml.
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  clusterIP: 10.96.0.10
  internalTrafficPolicy: Cluster
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-local, namespace: demo}
spec:
  clusterIP: 10.96.0.11
  internalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: demo}
spec:
  clusterIP: 10.96.0.12
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np, namespace: demo}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  externalTrafficPolicy: Cluster
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-lb, namespace: demo}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.21
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30081}]
status:
  loadBalancer:
    ingress: [{ip: 198.51.100.7}, {ip: 198.51.100.8}]
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: demo}
spec:
  clusterIP: 10.96.0.14
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: demo}
spec:
  clusterIP: 10.96.0.15
  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 8080}]
YAML
for s in web web-local web-np web-lb sticky; do
	kc_write_endpointslice "$M" "demo/$s" 8080/TCP:http web-1 web-2 || exit 1
done
kc_write_endpointslice "$M" demo/empty 8080/TCP:http || exit 1
kc_write_endpointslice "$M" demo/dns 8080/UDP:dns web-1 web-2 || exit 1

# ----------------------------------------------------------------- kroute
t=$(kc_now_ms)
printf '%-52s' "starting kroute run --mode iptables on 3 nodes..."
for n in "${KC_NODES[@]}"; do
	: >"$LOGDIR/kroute-$n.log"
	# ip netns exec execs kroute itself, so $! is kroute's pid.
	ip netns exec "$(kc_node_ns "$n")" "$KROUTE" run --mode iptables --node "$n" -f "$M" \
		--cluster-cidr "$CLUSTER_CIDR" --min-sync-period 100ms --sync-period 30s \
		</dev/null >>"$LOGDIR/kroute-$n.log" 2>&1 &
	KPID[$n]=$!
done
synced() { grep -q "full sync:" "$LOGDIR/kroute-$1.log"; }
for n in "${KC_NODES[@]}"; do
	if ! kc_wait_for -t 20 synced "$n"; then
		echo
		echo "demo: kroute on $n did not sync; its log:" >&2
		cat "$LOGDIR/kroute-$n.log" >&2
		exit 1
	fi
done
echo "synced in $(elapsed "$t")"

# ------------------------------------------------------------------ table
# One row: a service, a kind of traffic, a sender.  All rows run at once
# (a dropped connection costs a whole timeout), then the table is printed.
declare -a R_SVC=() R_KIND=() R_FROM=() R_WHO=() R_ARGS=()
row() { # SVC-LABEL KIND FROM-LABEL SENDER PROTO IP PORT
	R_SVC+=("$1") R_KIND+=("$2") R_FROM+=("$3") R_WHO+=("$4") R_ARGS+=("$5 $6 $7")
}
P1="pod cli-a1 on node-a1" P2="pod cli-a2 on node-a2" N2="node-a2 itself"
# The SERVICE cell: the name starts a group, indented lines describe it.
row "web" "ClusterIP 10.96.0.10:80" "$P1" cli-a1 tcp 10.96.0.10 80
row "  ClusterIP," "ClusterIP 10.96.0.10:80" "$P2" cli-a2 tcp 10.96.0.10 80
row "  iTP Cluster" "ClusterIP 10.96.0.10:80" "$N2" node-a2 tcp 10.96.0.10 80
row "web-local" "ClusterIP 10.96.0.11:80" "$P1" cli-a1 tcp 10.96.0.11 80
row "  ClusterIP," "ClusterIP 10.96.0.11:80" "$P2" cli-a2 tcp 10.96.0.11 80
row "  iTP Local" "ClusterIP 10.96.0.11:80" "$N2" node-a2 tcp 10.96.0.11 80
row "empty" "ClusterIP 10.96.0.12:80" "$P2" cli-a2 tcp 10.96.0.12 80
row "  no endpoints" "ClusterIP 10.96.0.12:80" "$N2" node-a2 tcp 10.96.0.12 80
row "web-np" "NodePort $A1:30080" "client -> node-a1" client tcp "$A1" 30080
row "  NodePort," "NodePort $A2:30080" "client -> node-a2" client tcp "$A2" 30080
row "  eTP Cluster" "ClusterIP 10.96.0.20:80" "$P2" cli-a2 tcp 10.96.0.20 80
row "web-lb" "NodePort $A1:30081" "client -> node-a1" client tcp "$A1" 30081
row "  NodePort and" "NodePort $A2:30081" "client -> node-a2" client tcp "$A2" 30081
row "  LoadBalancer," "LB IP 198.51.100.7:80" "client -> node-a1" client tcp 198.51.100.7 80
row "  eTP Local" "LB IP 198.51.100.8:80" "client -> node-a2" client tcp 198.51.100.8 80
row "" "NodePort $A2:30081" "$P2" cli-a2 tcp "$A2" 30081
row "sticky" "ClusterIP 10.96.0.14:80" "$P1" cli-a1 tcp 10.96.0.14 80
row "  ClientIP affinity" "ClusterIP 10.96.0.14:80" "$P2" cli-a2 tcp 10.96.0.14 80
row "dns" "ClusterIP 10.96.0.15:53/udp" "$P1" cli-a1 udp 10.96.0.15 53
row "  UDP" "ClusterIP 10.96.0.15:53/udp" "$P2" cli-a2 udp 10.96.0.15 53
row "" "ClusterIP 10.96.0.15:53/udp" "$N2" node-a2 udp 10.96.0.15 53

# name_of IP: who owns an address (pod, node or the client), or nothing.
name_of() {
	local k
	for k in "${!KC_POD_IP[@]}"; do [ "${KC_POD_IP[$k]}" = "$1" ] && { echo "$k"; return; }; done
	for k in "${!KC_NODE_IP[@]}"; do [ "${KC_NODE_IP[$k]}" = "$1" ] && { echo "$k"; return; }; done
	[ "$1" = "$KC_CLIENT_IP" ] && echo client
}

# summarize TEXT SENDER: from kr-probe's lines, sets ANS (who answered, how often) and SRC (the
# source address the pods saw, and whether it is the sender's own).
summarize() {
	local text=$1 who=$2 line w ip own n k keys
	local -A cnt=() ips=()
	while read -r line; do
		if [[ $line =~ ^pod=([^ ]+)\ client=([0-9.]+): ]]; then
			w=${BASH_REMATCH[1]}
			ips[${BASH_REMATCH[2]}]=1
		else
			w=${line:-no output}
		fi
		cnt[$w]=$((${cnt[$w]:-0} + 1))
	done <<<"$text"
	ANS=""
	mapfile -t keys < <(printf '%s\n' "${!cnt[@]}" | sort)
	for k in "${keys[@]}"; do
		n=${cnt[$k]}
		case $k in
		timeout) k="DROPPED (timeout)" ;;
		refused) k="REJECTED (refused)" ;;
		esac
		ANS+="${ANS:+, }$k x$n"
	done
	[ -n "$ANS" ] || ANS="(no output)"
	SRC="-"
	((${#ips[@]})) || return 0
	SRC=""
	own=$(kc_ip "$who")
	for ip in $(printf '%s\n' "${!ips[@]}" | sort); do
		if [ "$ip" = "$own" ]; then
			SRC+="${SRC:+, }$(printf '%-15s' "$ip") = sender's own IP"
		else
			n=$(name_of "$ip")
			case $n in
			node-*) SRC+="${SRC:+, }$(printf '%-15s' "$ip") masqueraded: $n's IP" ;;
			"") SRC+="${SRC:+, }$(printf '%-15s' "$ip") masqueraded" ;;
			*) SRC+="${SRC:+, }$(printf '%-15s' "$ip") $n's IP, not the sender's" ;;
			esac
		fi
	done
}

t=$(kc_now_ms)
printf '%-52s' "sending traffic ($TRIES connections per row)..."
OUT=$LOGDIR/probes
mkdir -p "$OUT"
for i in "${!R_WHO[@]}"; do
	# Not kc_probe, a function, which would run in a subshell: this way
	# $! is kr-probe itself, in a namespace, which the teardown (on Ctrl-C)
	# stops and reaps.
	# shellcheck disable=SC2086 # R_ARGS is "PROTO IP PORT"
	ip netns exec "$(kc_ns "${R_WHO[$i]}")" "$KR_PROBE" ${R_ARGS[$i]} --count "$TRIES" \
		--timeout "$TIMEOUT_MS" >"$OUT/row-$i.txt" 2>&1 &
	JOBS+=($!)
done
wait "${JOBS[@]}"
JOBS=()
echo "done in $(elapsed "$t")"

declare -a C1=("SERVICE") C2=("TRAFFIC") C3=("FROM") \
	C4=("ANSWERED BY (pod xN of $TRIES tries)") C5=("SOURCE IP THE POD SAW")
for i in "${!R_WHO[@]}"; do
	summarize "$(<"$OUT/row-$i.txt")" "${R_WHO[$i]}"
	C1+=("${R_SVC[$i]}") C2+=("${R_KIND[$i]}") C3+=("${R_FROM[$i]}") C4+=("$ANS") C5+=("$SRC")
done
w1=0 w2=0 w3=0 w4=0
for i in "${!C1[@]}"; do
	((${#C1[$i]} > w1)) && w1=${#C1[$i]}
	((${#C2[$i]} > w2)) && w2=${#C2[$i]}
	((${#C3[$i]} > w3)) && w3=${#C3[$i]}
	((${#C4[$i]} > w4)) && w4=${#C4[$i]}
done
line() { printf "%-${w1}s  %-${w2}s  %-${w3}s  %-${w4}s  %s\n" "$@"; }
{
	echo
	echo "What happened to real connections (DROPPED = no answer within ${TIMEOUT_MS} ms,"
	echo "REJECTED = connection refused / ICMP port unreachable):"
	echo
	line "${C1[0]}" "${C2[0]}" "${C3[0]}" "${C4[0]}" "${C5[0]}"
	line "$(hr "$w1")" "$(hr "$w2")" "$(hr "$w3")" "$(hr "$w4")" "$(hr 30)"
	for ((i = 1; i < ${#C1[@]}; i++)); do
		[[ ${C1[$i]} == [!\ ]* ]] && ((i > 1)) && echo
		line "${C1[$i]}" "${C2[$i]}" "${C3[$i]}" "${C4[$i]}" "${C5[$i]}"
	done
	echo
	echo "iTP/eTP = internal/externalTrafficPolicy Cluster or Local."
	echo "web-1 runs on node-a1, web-2 on node-b1; node-a2 has no endpoint."
	echo "sticky: all connections from one client go to one pod (which one is random)."
	echo "The nodes' ICMP rate limit (net.ipv4.icmp_ratelimit) is off in their namespaces;"
	echo "with the default, only the first 6 of a quick burst of rejects get an answer."
} | tee "$LOGDIR/table.txt"

# ---------------------------------------------------------------- explain
SVCS="web web-local empty web-np web-lb sticky dns"
echo
echo "What kroute predicts for node-a2 (the node with no backend), from the same"
echo "manifests: rows above sent from or via node-a2 went through these rules."
echo "  \$ kroute explain -f $M --node node-a2 --cluster-cidr $CLUSTER_CIDR --service demo/NAME"
hr 78
for s in $SVCS; do
	echo
	"$KROUTE" explain -f "$M" --node node-a2 --cluster-cidr "$CLUSTER_CIDR" --service "demo/$s" 2>&1 |
		grep -v '^Node node-a2' | sed '/^$/d'
done | tee "$LOGDIR/explain-node-a2.txt"

# ------------------------------------------------------------ live change
# sample FROM N: "web-1 xA, web-2 xB" for N connections to demo/web.
# (No redirection on a function call here and below: a trap that runs
# meanwhile, on Ctrl-C, would print into the file.)
sample() {
	summarize "$(kc_probe "$1" tcp 10.96.0.10 80 --count "$2" --timeout "$TIMEOUT_MS" 2>&1)" "$1"
	LIVE=$ANS
}
# seen FROM WANT: true once N connections are answered by exactly WANT
# (the set of pod names or failure words).
seen() {
	local got
	got=$(kc_probe "$1" tcp 10.96.0.10 80 --count 5 --timeout "$TIMEOUT_MS" 2>&1 |
		sed -E 's/^pod=([^ ]+) .*/\1/' | sort -u | tr '\n' ' ')
	[ "${got% }" = "$2" ]
}
live_step() { # DESCRIPTION WANT ENDPOINT...
	local desc=$1 want=$2 t took
	shift 2
	t=$(kc_now_ms)
	kc_write_endpointslice "$M" demo/web 8080/TCP:http "$@" || exit 1
	if kc_wait_for -t 10 seen cli-a2 "$want"; then
		took="seen after $(elapsed "$t")"
	else
		took="NOT seen within 10 s"
	fi
	sample cli-a2 20
	printf '  %-34s %-36s %s\n' "$desc" "$LIVE" "($took)"
}
echo
echo "A live change: demo/web is scaled down by rewriting its EndpointSlice file,"
echo "manifests/endpointslice-demo-web.yaml, while kroute runs (it watches the files"
echo "with inotify and resyncs).  20 connections from pod cli-a2 to 10.96.0.10:80 each time:"
hr 78
sample cli-a2 20
printf '  %-34s %s\n' "endpoints web-1, web-2" "$LIVE"
live_step "scaled down to web-2 only" "web-2" web-2
live_step "scaled down to no endpoints" "refused"
live_step "scaled back up to web-1, web-2" "web-1 web-2" web-1 web-2
echo "  node-a2's kroute log, last line: $(tail -n 1 "$LOGDIR/kroute-node-a2.log")"

# ----------------------------------------------------------------- cleanup
echo
echo "kroute cleanup on every node (after stopping kroute; it leaves its rules on SIGTERM):"
hr 78
for n in "${KC_NODES[@]}"; do
	kill -TERM "${KPID[$n]}" 2>/dev/null
	wait "${KPID[$n]}"
	before=$(kc_exec "$n" iptables-save | grep -c -- 'KUBE-')
	if ip netns exec "$(kc_node_ns "$n")" "$KROUTE" cleanup >>"$LOGDIR/kroute-$n.log" 2>&1; then
		res=ok
	else
		res=FAILED
	fi
	after=$(kc_exec "$n" iptables-save | grep -c -- 'KUBE-')
	printf '  %-8s kroute cleanup %-6s  iptables lines with KUBE-: %4d -> %d\n' "$n" "$res" "$before" "$after"
done

echo
printf '%-52s' "tearing down the namespaces..."
t=$(kc_now_ms)
DONE=1
kc_teardown
echo "done in $(elapsed "$t")"
nleft=$(ip netns list | grep -c "^kr$$-")
echo
echo "Demo finished in $(elapsed "$T0"); namespaces left: $nleft."
echo "Logs were kept in $LOGDIR:"
echo "  kroute-node-*.log (kroute run per node), web-*.log (backends), manifests/,"
echo "  table.txt, explain-node-a2.txt, probes/ (every connection's answer)"
