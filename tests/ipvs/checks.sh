# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The checks of tests/ipvs/schedulers.table that are not one probe: what
# kroute asked IPVS for (read back with ipvsadm), weights counted over many
# connections, schedulers against live connection counts, persistence, and
# graceful draining under live connections.  Sourced by
# tests/system/test_dataplane.sh through DATAPLANE_CHECKS, after
# tests/system/dataplane/checks.sh (answers, held_open, held_req ...).
# Connections come from cli-a2, so node-a2's IPVS is the one that picks.

IPVS_NODE=node-a2
# ipvs_service SERVICE: node-a2's virtual service for SERVICE's ClusterIP, port 80.
ipvs_service() { dp_exec "$IPVS_NODE" ipvsadm -Ln -t "${SVC_CIP[$1]}:80" 2>&1; }
# ipvs_weight SERVICE POD: the weight of POD's real server, or "none".
ipvs_weight() {
	ipvs_service "$1" | awk -v rs="${KC_POD_IP[$2]}:8080" '$1 == "->" && $2 == rs {w = $4} END {print w == "" ? "none" : w}'
}
# picks SERVICE N: the pod of each of N sequential connections, in order.
picks() {
	kc_probe cli-a2 tcp "${SVC_CIP[$1]}" 80 --count "$2" --timeout 700 </dev/null |
		sed -E 's/^pod=([^ ]+) .*/\1/' | tr '\n' ' ' | sed 's/ $//'
}
count_of() { tr ' ' '\n' <<<"$1" | grep -cx "$2"; }

# The scheduler, its flags, persistence and weights of every service, as
# ipvsadm lists them.
check_ipvs_schedulers() {
	local svc want line
	for svc in rr:rr wrr:wrr lc:lc wlc:wlc sh:sh sh-port:sh mh:mh mh-port:mh drain:rr dh:dh \
		lblc:lblc lblcr:lblcr sed:sed nq:nq fo:fo ovf:ovf; do
		want=${svc#*:}
		svc=${svc%%:*}
		line=$(ipvs_service "$svc" | awk '$1 == "TCP"')
		check "$svc: virtual service ${SVC_CIP[$svc]}:80 with scheduler $want" \
			"$(awk '{print $3}' <<<"$line")" "$want"
	done
	check "sh-port: the port is in the hash" "$(ipvs_service sh-port | grep -c 'sh-port')" 1
	check "mh-port: the port is in the hash" "$(ipvs_service mh-port | grep -c 'mh-port')" 1
	check "sticky: persistent for the service's timeout (5 s)" \
		"$(ipvs_service sticky | awk '$1 == "TCP" {for (i = 1; i < NF; i++) if ($i == "persistent") print $(i + 1)}')" 5
	check "wrr: weights 3 and 1" "$(ipvs_weight wrr web-1) $(ipvs_weight wrr web-2)" "3 1"
	check "sh: three real servers, masqueraded" "$(ipvs_service sh | grep -c 'Masq')" 3
}

# rr: strictly in turn, 12 sequential connections alternate.
check_ipvs_rr() {
	local got first want="" p i
	got=$(picks rr 12)
	first=${got%% *}
	p=$first
	for i in $(seq 12); do
		want+="${want:+ }$p"
		p=$(other_pod "$p")
	done
	check "rr: 12 connections alternate" "$got" "$want"
}

# wrr, weights 3 and 1: every cycle of 4 picks gives web-1 three.
check_ipvs_wrr() {
	local got
	got=$(picks wrr 40)
	check "wrr 3:1: web-1's share of 40 connections" "$(count_of "$got" web-1)" 30
	check "wrr 3:1: web-2's share of 40 connections" "$(count_of "$got" web-2)" 10
}

# lc: a held connection makes its server busier than any number of closed
# ones (IPVS counts an active connection 256 times an inactive one).
check_ipvs_lc() {
	local held other got
	held_open ipvs-lc cli-a2 "${SVC_CIP[lc]}" 80
	held=$(held_req ipvs-lc)
	case $held in web-1 | web-2) ok ;; *) bad "lc: the held connection did not answer: $held" ;; esac
	other=$(other_pod "$held")
	got=$(picks lc 10)
	check "lc: while $held holds a connection, 10 new ones go to $other" "$(count_of "$got" "$other")" 10
	check "lc: the held connection still answers from $held" "$(held_req ipvs-lc)" "$held"
	held_close ipvs-lc
	# Closed, it leaves one inactive connection on $held against ten on $other.
	back() { [ "$(picks lc 1)" = "$held" ]; }
	kc_wait_for -t 5 back && ok || bad "lc: closing the held connection was not counted"
}

# wlc, weights 2 and 1: six connections held open one after another split
# 4 to 2 (lc would split them 3 to 3), whatever the order of the servers.
check_ipvs_wlc() {
	local i got=""
	for i in 1 2 3 4 5 6; do
		held_open "ipvs-wlc$i" cli-a2 "${SVC_CIP[wlc]}" 80
		got+="${got:+ }$(held_req "ipvs-wlc$i")"
	done
	check "wlc 2:1: of six held connections, web-1 holds" "$(count_of "$got" web-1)" 4
	check "wlc 2:1: of six held connections, web-2 holds" "$(count_of "$got" web-2)" 2
	check "wlc: IPVS counts them active" \
		"$(ipvs_service wlc | awk '$1 == "->" {n += $5} END {print n}')" 6
	for i in 1 2 3 4 5 6; do held_close "ipvs-wlc$i"; done
}

# ClientIP affinity is a persistence template per client address, which
# lives the service's timeout (after the connections it holds are gone).
check_ipvs_persistence() {
	local cli=${KC_POD_IP[cli-a2]} conns n
	conns=$(dp_exec "$IPVS_NODE" ipvsadm -Lnc)
	# A template is the entry with source port 0 (its expiry is rearmed while
	# the connections it holds, here in TIME_WAIT for 2 min, live).
	n=$(awk -v c="$cli:0" -v v="${SVC_CIP[sticky]}:80" '$4 == c && $5 == v {n++} END {print n + 0}' <<<"$conns")
	check "sticky: one persistence template for cli-a2 (ipvsadm -Lnc: source port 0)" "$n" 1
	[ "$n" = 1 ] || grep -F "${SVC_CIP[sticky]}:80" <<<"$conns" | sed 's/^/#   /'
}

# Endpoint churn under live connections: a removed endpoint's real server
# stays with weight 0 while its connection lives (it keeps answering) and
# takes no new ones; the connection to the endpoint that stays is never
# reset; the endpoint coming back gets its weight again.
check_ipvs_draining() {
	local D=${SVC_CIP[drain]} a b gone stays
	both() { [ "$(answers cli-a2 10 "$D" 80)" = "web-1 web-2" ]; }
	only() { [ "$(answers cli-a2 10 "$D" 80)" = "$1" ]; }
	held_open drain-a cli-a2 "$D" 80
	a=$(held_req drain-a)
	held_open drain-b cli-a2 "$D" 80
	b=$(held_req drain-b)
	check "drain: two held connections, one on each pod (rr)" "$(echo "$a $b" | tr ' ' '\n' | sort | tr '\n' ' ')" "web-1 web-2 "
	gone=web-1
	stays=web-2
	dp_endpoints t/drain 8080/TCP:http "$stays"
	kc_wait_for -t 10 only "$stays" && ok || bad "drain: the removal of $gone was not applied"
	check "drain: $gone's real server stays, weight 0, while its connection lives" "$(ipvs_weight drain "$gone")" 0
	check "drain: the connection to the removed $gone still answers" "$(held_req "drain-$([ "$a" = "$gone" ] && echo a || echo b)")" "$gone"
	check "drain: the connection to $stays, which stays, still answers" "$(held_req "drain-$([ "$a" = "$stays" ] && echo a || echo b)")" "$stays"
	dp_endpoints t/drain 8080/TCP:http web-1 web-2
	kc_wait_for -t 10 both && ok || bad "drain: $gone coming back was not applied"
	check "drain: $gone back while draining: its weight again" "$(ipvs_weight drain "$gone")" 1
	check "drain: both held connections answered all along" "$(held_req drain-a) $(held_req drain-b)" "$a $b"
	held_close drain-a
	held_close drain-b
}

# After kroute cleanup: no virtual service and no kube-ipvs0 on any node.
check_ipvs_nothing_left() {
	local n
	for n in "${DP_NODES[@]}"; do
		check "$n: no virtual service after cleanup" "$(dp_exec "$n" ipvsadm -Ln | grep -cE '^(TCP|UDP|SCTP) ')" 0
		check "$n: no kube-ipvs0 after cleanup" "$(dp_exec "$n" ip -br link show kube-ipvs0 2>/dev/null | wc -l)" 0
	done
}
