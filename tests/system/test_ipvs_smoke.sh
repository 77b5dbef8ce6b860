#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The IPVS mode with real packets, small: one node namespace running
# `kroute run --mode ipvs`, a pod behind it (kr-backend, TCP and UDP) and an
# external client on the node's LAN.  A ClusterIP + NodePort service: the
# node, and the client through the node, reach the pod over IPVS (TCP and
# UDP); the client's NodePort traffic is masqueraded to the node's address;
# kube-ipvs0 holds the cluster IP; the virtual service has the scheduler and
# persistence asked for; an endpoint removed under a live connection drains
# (weight 0, the connection keeps working) and a new one takes new
# connections; `kroute cleanup` leaves no virtual service, link or table.
# Needs a kernel with IPVS: tests/ipvs/in-guest.sh runs it in one (skips, 77,
# on a kernel without it).
#
# usage: test_ipvs_smoke.sh KROUTE KR-BACKEND KR-PROBE   (root)
set -u
abs() { echo "$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"; }
KROUTE=$(abs "${1:?usage: $0 KROUTE KR-BACKEND KR-PROBE}")
BACKEND=$(abs "${2:?}")
PROBE=$(abs "${3:?}")
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krvs-node-$$
POD=krvs-pod-$$
POD2=krvs-pod2-$$
CLI=krvs-cli-$$
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	st_stop "${PIDS[@]}"
	for n in "$NS" "$POD" "$POD2" "$CLI"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
}
st_init "ipvs smoke" cleanup ip nft ipvsadm timeout
modprobe ip_vs 2>/dev/null
[ -e /proc/net/ip_vs ] || { echo "SKIP: this kernel has no IPVS (run it in tests/ipvs/in-guest.sh)"; exit "$ST_SKIP"; }

# node: eth0 192.168.0.2 on the LAN (client 192.168.0.100), pods on veths.
ip netns add "$NS" && ip netns add "$POD" && ip netns add "$POD2" && ip netns add "$CLI" || die "netns"
for n in "$NS" "$POD" "$POD2" "$CLI"; do ip -n "$n" link set lo up; done
ip -n "$NS" link add eth0 type veth peer name eth0 netns "$CLI"
ip -n "$NS" addr add 192.168.0.2/24 dev eth0
ip -n "$NS" link set eth0 up
ip -n "$CLI" addr add 192.168.0.100/24 dev eth0
ip -n "$CLI" link set eth0 up
ip -n "$CLI" route add 10.96.0.0/16 via 192.168.0.2
pod_link() { # NS-OF-POD IF POD-IP
	ip -n "$NS" link add "$2" type veth peer name eth0 netns "$1"
	ip -n "$NS" addr add "10.244.1.1/32" dev "$2" 2>/dev/null
	ip -n "$NS" link set "$2" up
	ip -n "$NS" route add "$3/32" dev "$2"
	ip -n "$1" addr add "$3/32" dev eth0
	ip -n "$1" link set eth0 up
	ip -n "$1" route add default via 10.244.1.1 dev eth0 onlink
}
pod_link "$POD" veth1 10.244.1.10
pod_link "$POD2" veth2 10.244.1.11
nx sysctl -qw net.ipv4.ip_forward=1
for p in "$POD:web-1" "$POD2:web-2"; do
	ip netns exec "${p%%:*}" "$BACKEND" --name "${p#*:}" --tcp 8080 --udp 8080 \
		--ready-file "$TMP/${p#*:}.ready" >/dev/null 2>&1 &
	PIDS+=($!)
done

M=$TMP/m
mkdir -p "$M"
cat >"$M/node.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: 192.168.0.2}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: t, annotations: {kroute.io/scheduler: wlc}}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 77}}
  ports:
  - {name: http, port: 80, targetPort: 8080, nodePort: 30080, protocol: TCP}
  - {name: dns, port: 53, targetPort: 8080, nodePort: 30053, protocol: UDP}
YAML
slice() { # ENDPOINT-IP...
	{
		printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
		printf 'metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}\n'
		printf 'addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}, {name: dns, port: 8080, protocol: UDP}]\n'
		printf 'endpoints:\n'
		for ip in "$@"; do
			printf -- '- {addresses: [%s], conditions: {ready: true}, nodeName: node-1}\n' "$ip"
		done
	} >"$TMP/slice.yaml"
	mv "$TMP/slice.yaml" "$M/slice.yaml"
}
slice 10.244.1.10
for i in $(seq 50); do [ -f "$TMP/web-1.ready" ] && [ -f "$TMP/web-2.ready" ] && break; sleep 0.1; done

LOG=$TMP/kroute.log
ip netns exec "$NS" "$KROUTE" run --mode ipvs --node node-1 -f "$M" --cluster-cidr 10.244.0.0/16 \
	--ipvs-min-sync-period 0s --ipvs-sync-period 2s --ipvs-tcp-timeout 300s \
	--ipvs-drain-timeout 30s >"$LOG" 2>&1 &
KR=$!
PIDS+=("$KR")
synced() { [ "$(grep -c 'sync:' "$LOG")" -ge "$1" ]; }
for i in $(seq 200); do synced 1 && break; sleep 0.1; done
check "kroute synced" "$(synced 1 && echo yes)" yes

first() { "$@" 2>&1 | head -1; }
pod_of() { sed -n 's/.*pod=\([^ ]*\).*/\1/p' | head -1; }
client_of() { sed -n 's/.*client=\([^:]*\):.*/\1/p' | head -1; }

vs=$(nx ipvsadm -Ln)
check "a virtual service on the cluster IP with wlc and persistence 77 s" \
	"$(echo "$vs" | grep -c 'TCP  10.96.0.10:80 wlc persistent 77')" 1
check "a virtual service on the node address for the NodePort" \
	"$(echo "$vs" | grep -c 'TCP  192.168.0.2:30080 wlc')" 1
check "every real server forwards by masquerading (one per virtual service)" \
	"$(echo "$vs" | grep -c '10.244.1.10:8080 *Masq')" "$(echo "$vs" | grep -cE '^(TCP|UDP) ')"
check "no NodePort on 127.0.0.1 (IPVS cannot NAT a loopback source)" "$(echo "$vs" | grep -c '127.0.0.1')" 0
check "kube-ipvs0 holds the cluster IP" "$(nx ip -br addr show kube-ipvs0 | grep -c 10.96.0.10/32)" 1
check "the IPVS timeouts were set" "$(nx ipvsadm -L --timeout | grep -c '(tcp tcpfin udp): 300 ')" 1

r=$(nx "$PROBE" tcp 10.96.0.10 80 --timeout 2000)
check "the node reaches the pod through the cluster IP (TCP)" "$(echo "$r" | pod_of)" web-1
r=$(ip netns exec "$CLI" "$PROBE" tcp 10.96.0.10 80 --timeout 2000)
check "the client reaches the pod through the cluster IP" "$(echo "$r" | pod_of)" web-1
check "off-cluster traffic to the cluster IP is masqueraded" \
	"$([ "$(echo "$r" | client_of)" != 192.168.0.100 ] && echo yes)" yes
r=$(ip netns exec "$CLI" "$PROBE" tcp 192.168.0.2 30080 --timeout 2000)
check "the client reaches the pod through the NodePort" "$(echo "$r" | pod_of)" web-1
check "NodePort traffic is masqueraded to the node" \
	"$(echo "$r" | client_of | grep -c '^10.244.1.1$\|^192.168.0.2$')" 1
r=$(ip netns exec "$CLI" "$PROBE" udp 10.96.0.10 53 --timeout 2000)
check "UDP through the cluster IP" "$(echo "$r" | pod_of)" web-1
r=$(ip netns exec "$POD2" "$PROBE" tcp 10.96.0.10 80 --timeout 2000)
check "a pod reaches the service and keeps its source address" "$(echo "$r" | client_of)" 10.244.1.11

# Drain: a live connection to web-1 while web-1 is replaced by web-2.
# One keep-alive HTTP connection, a request every 0.1 s for 2 s or more; each answer's pod on a line.
ip netns exec "$CLI" bash -c '
	trap "" PIPE
	exec 3<>/dev/tcp/10.96.0.10/80 || exit 1
	for i in $(seq 20); do
		printf "GET / HTTP/1.1\r\nHost: t\r\n\r\n" >&3 || { echo closed; continue; }
		res=none
		while IFS= read -r -t 3 line <&3; do
			case $line in pod=*) res=${line%% *}; break ;; esac
		done
		echo "$res"
		sleep 0.1
	done' >"$TMP/held.out" 2>&1 &
HELD=$!
sleep 0.8
before=$(grep -c 'sync:' "$LOG")
slice 10.244.1.11
for i in $(seq 100); do synced $((before + 1)) && break; sleep 0.1; done
vs=$(nx ipvsadm -Ln)
check "the removed endpoint stays with weight 0 while its connection lives" \
	"$(echo "$vs" | awk '/10.96.0.10:80/{s=1;next} /^(TCP|UDP)/{s=0} s && /10.244.1.10:8080/{print $4}')" 0
check "the new endpoint is in with weight 1" \
	"$(echo "$vs" | awk '/10.96.0.10:80/{s=1;next} /^(TCP|UDP)/{s=0} s && /10.244.1.11:8080/{print $4}')" 1
check "the UDP real server was deleted at once" \
	"$(echo "$vs" | awk '/UDP  10.96.0.10:53/{s=1;next} /^(TCP|UDP)/{s=0} s && /10.244.1.10/' | wc -l)" 0
r=$(ip netns exec "$CLI" "$PROBE" tcp 10.96.0.10 80 --timeout 2000 --src 192.168.0.100)
check "a new connection goes to the new endpoint (persistence template not reused)" \
	"$(echo "$r" | pod_of)" web-2
wait "$HELD"
check "the held connection kept answering from web-1 through the change" \
	"$(grep -c 'pod=web-1' "$TMP/held.out") $(grep -vc 'pod=web-1' "$TMP/held.out")" "20 0"
# Its connection closed, it lingers in TIME_WAIT (an inactive connection) until
# --ipvs-drain-timeout (30 s: longer than the held connection, even emulated), then a periodic
# sync (2 s) deletes it.
gone=no
for i in $(seq 250); do
	if ! nx ipvsadm -Ln | grep -q '10.244.1.10:8080'; then gone=yes; break; fi
	sleep 0.2
done
check "the drained endpoint is deleted (connections ended, or the drain timeout)" "$gone" yes

kill -TERM "$KR"
wait "$KR"
PIDS=("${PIDS[@]:0:2}")
check "after kroute exits, IPVS keeps forwarding" \
	"$(ip netns exec "$CLI" "$PROBE" tcp 10.96.0.10 80 --timeout 2000 | pod_of)" web-2
nx "$KROUTE" cleanup >"$TMP/cleanup.log" 2>&1
check "kroute cleanup succeeds" "$?" 0
check "no virtual service left" "$(nx ipvsadm -Ln | grep -c '^TCP\|^UDP')" 0
check "no kube-ipvs0 left" "$(nx ip -br link show kube-ipvs0 2>/dev/null | wc -l)" 0
check "no nft table left" "$(nx nft list tables | grep -c kroute_ipvs)" 0
if [ "$fail" -ne 0 ]; then
	echo "--- kroute"; cat "$LOG"; echo "--- held"; cat "$TMP/held.out"; echo "--- cleanup"; cat "$TMP/cleanup.log"
	echo "--- ipvsadm"; nx ipvsadm -Ln; echo "--- nft"; nx nft list ruleset
fi
st_finish
