# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The checks of the data-plane test that are not one probe: live connections
# across endpoint changes, a scheduler that counts open connections, what is
# logged and written to the status file, running out of file descriptors, a
# bad manifest.  Services are found by name in the engine's SVC_CIP (port
# 80).  Sourced by test_dataplane.sh; scenarios.table calls each
# check_NAME with `run NAME NEEDS`, so it runs only in a mode with those
# capabilities.  They use the engine's ok/bad/check, kroute_stop,
# start_and_sync and $M, the front end's dp_endpoints (endpoint changes reach
# kroute through the source), and the cluster that scenarios.table builds.

# answers FROM N IP PORT: the sorted set of pods that answered N connections.
answers() {
	local from=$1 n=$2 ip=$3 port=$4
	kc_probe "$from" tcp "$ip" "$port" --count "$n" --timeout 700 </dev/null |
		sed -E 's/^pod=([^ ]+) .*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# held_open NAME FROM IP PORT: a keep-alive HTTP connection from FROM that
# stays open; each held_req NAME sends one request on it and prints the pod
# that answered, or "closed" when the proxy closed the connection.
declare -A HELD_FD
held_open() {
	local name=$1 from=$2 ip=$3 port=$4 dir=$DP_DIR/held-$1 fd
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
		done' _ "$ip" "$port" "$dir" </dev/null 3<&- &
	exec {fd}>"$dir/cmd"
	HELD_FD[$name]=$fd
}
held_lines() { wc -l <"$DP_DIR/held-$1/out"; }
held_grew() { [ "$(held_lines "$1")" -gt "$2" ]; }
held_req() {
	local name=$1 n
	n=$(held_lines "$name")
	echo req >&"${HELD_FD[$name]}"
	kc_wait_for -t 5 held_grew "$name" "$n" || { echo no-answer; return; }
	tail -n 1 "$DP_DIR/held-$name/out"
}
held_close() {
	echo quit >&"${HELD_FD[$1]}"
	exec {HELD_FD[$1]}>&-
}
other_pod() { if [ "$1" = web-1 ]; then echo web-2; else echo web-1; fi; }

# connected_udp: a connected UDP socket held across its endpoint's removal
# (service dns; the client sends every 0.1 s and, after an error, connects
# a new socket, as an application does) ends on the live endpoint instead
# of being blackholed.  A NAT mode moves the flow itself (it flushes the
# removed endpoint's conntrack entries, as kube-proxy does); the ebpf mode,
# which translated the socket once at connect(), aborts it (the client sees
# ECONNABORTED once) and the new socket is translated afresh.  The removed
# pod still answers, so only the mode can move the flow.
check_connected_udp() {
	local DNS=${SVC_CIP[dns]} out=$DP_DIR/connected-udp.out pid
	dns_is() { [ "$(kc_probe cli-a1 udp "$DNS" 53 --timeout 700 </dev/null | sed -E 's/^pod=([^ ]+) .*/\1/')" = "$1" ]; }
	dp_endpoints t/dns 8080/UDP:dns web-1
	kc_wait_for -t 10 dns_is web-1 && ok || bad "connected UDP: dns does not point at web-1 alone"
	kc_probe cli-a1 udp "$DNS" 53 --keep --count 60 --interval 100 --timeout 500 </dev/null >"$out" 2>&1 &
	pid=$!
	sleep 1
	dp_endpoints t/dns 8080/UDP:dns web-2
	wait "$pid"
	check "a connected UDP socket held across its endpoint's removal: web-1, then web-2" \
		"$(sed -nE 's/^pod=([^ ]+) .*/\1/p' "$out" | uniq | tr '\n' ' ')" "web-1 web-2 "
	check "the held socket's last 10 datagrams answered by web-2" \
		"$(tail -n 10 "$out" | grep -c '^pod=web-2 ')" 10
	check "at most 3 of its 60 datagrams unanswered ($(grep -v '^pod=' "$out" | sort | uniq -c | tr -s ' \n' ' '))" \
		"$(($(grep -vc '^pod=' "$out") <= 3))" 1
}

# held_on_removed NAME (service hold, from check_held_connections): both pods
# serve; a held connection NAME is opened, and its pod removed.  Sets the
# caller's first (that pod), other and removed_at (ms); returns once the
# removal applies.
held_on_removed() {
	dp_endpoints t/hold 8080/TCP:http web-1 web-2
	kc_wait_for -t 10 both_hold && ok || bad "hold: scale up not applied"
	held_open "$1" cli-a2 "$HOLD" 80
	first=$(held_req "$1")
	other=$(other_pod "$first")
	removed_at=$(kc_now_ms)
	dp_endpoints t/hold 8080/TCP:http "$other"
	kc_wait_for -t 10 only_other && ok || bad "hold: removal of $first not applied"
}

# grace-period: established connections outlive an endpoint change that keeps
# their endpoint, and are closed GRACE seconds after their endpoint goes
# (the mode sets GRACE), unless it comes back within that time.  Service hold.
check_held_connections() {
	local first other removed_at HOLD=${SVC_CIP[hold]}
	both_hold() { [ "$(answers cli-a2 30 "$HOLD" 80)" = "web-1 web-2" ]; }
	only_other() { [ "$(answers cli-a2 10 "$HOLD" 80)" = "$other" ]; }
	held_open keep cli-a2 "$HOLD" 80
	first=$(held_req keep)
	case $first in web-1 | web-2) ok ;; *) bad "the held connection did not answer: $first" ;; esac
	dp_endpoints t/hold 8080/TCP:http "$first"
	only_first() { [ "$(answers cli-a2 10 "$HOLD" 80)" = "$first" ]; }
	kc_wait_for -t 10 only_first && ok || bad "hold: scale down to $first not applied"
	sleep $((GRACE + 1))
	check "after the change and the grace period, the same connection still answers" "$(held_req keep)" "$first"
	held_close keep

	# A connection to a removed endpoint is closed after the grace period.
	held_on_removed gone
	# Still inside the grace period, if the change applied fast enough to tell.
	if [ $(($(kc_now_ms) - removed_at)) -lt $((GRACE * 1000 - 500)) ]; then
		check "within the grace period the connection still works" "$(held_req gone)" "$first"
	else
		bad "the endpoint change took longer than the grace period to apply"
	fi
	sleep $((GRACE + 1))
	check "after the grace period the connection is closed" "$(held_req gone)" closed
	held_close gone

	# An endpoint back within the grace period keeps its connections
	# (docs/userspace.md): removed, restored at once, and still answering
	# well after the period would have closed it.
	held_on_removed back
	dp_endpoints t/hold 8080/TCP:http web-1 web-2
	kc_wait_for -t 10 both_hold && ok || bad "hold: $first not restored"
	[ $(($(kc_now_ms) - removed_at)) -lt $((GRACE * 1000 - 500)) ] ||
		bad "the removal and the restore took longer than the grace period to apply"
	sleep $((GRACE + 1))
	check "an endpoint restored within the grace period keeps its connection" "$(held_req back)" "$first"
	held_close back
}

# lc: least connections (kroute.io/scheduler: lc) counts live connections.
# Service lc.
check_least_connections() {
	local LC=${SVC_CIP[lc]}
	held_open lc cli-a2 "$LC" 80
	check "lc: the first connection goes to the first endpoint" "$(held_req lc)" web-1
	# Sequential probes 100 ms apart: each has ended (and been uncounted) before the next.
	check "lc: while it is open, new connections go to the other endpoint" \
		"$(kc_probe cli-a2 tcp "$LC" 80 --count 10 --interval 100 --timeout 700 </dev/null |
			sed -E 's/^pod=([^ ]+) .*/\1/' | sort -u | tr '\n' ' ' | sed 's/ $//')" web-2
	held_close lc
	back_to_web1() { [ "$(answers cli-a2 5 "$LC" 80)" = web-1 ]; }
	kc_wait_for -t 5 back_to_web1 && ok || bad "lc: closing the connection was not counted"
}

# rr-order: kroute.io/scheduler: rr picks the endpoints in turn, whatever
# is open: with a connection held on one pod, the next connections (each
# closed before the next; they land on any worker) alternate, starting with
# the other pod.  A least-connections pick would send them all to the other
# pod, a random one would repeat a pod (all 10 alternating by chance: 2^-9).
# Service rr.
check_rr_order() {
	local RR=${SVC_CIP[rr]} held got want="" p i
	held_open rr cli-a2 "$RR" 80
	held=$(held_req rr)
	case $held in web-1 | web-2) ok ;; *) bad "rr: the held connection did not answer: $held" ;; esac
	got=$(kc_probe cli-a2 tcp "$RR" 80 --count 10 --interval 100 --timeout 700 </dev/null |
		sed -E 's/^pod=([^ ]+) .*/\1/' | tr '\n' ' ' | sed 's/ $//')
	p=$held
	for i in $(seq 10); do
		p=$(other_pod "$p")
		want+="${want:+ }$p"
	done
	check "rr: with a connection held on $held, the next picks alternate from the other pod" "$got" "$want"
	check "rr: the held connection still answers from $held" "$(held_req rr)" "$held"
	held_close rr
}

# A hostNetwork endpoint (kr-backend in node-b1's own namespace, on its
# address).  From a pod on another node both modes keep the pod's address.
# From a pod on node-b1 itself, kube-proxy's DNAT keeps it too, while
# userspace mode shows the node's address (host-endpoint-masq; the
# deviation in docs/userspace.md).  Service hostnet.
check_host_endpoint() {
	local HN=${SVC_CIP[hostnet]} want
	kc_start_backend node-b1 8081/tcp || { bad "hostnet: no backend on node-b1"; return; }
	dp_endpoints t/hostnet 8081/TCP:http node-b1
	# Both nodes the checks send from must have the endpoint (each kroute applies it on its own).
	host_answers() {
		[ "$(answers cli-b1 1 "$HN" 80)" = node-b1 ] && [ "$(answers cli-a2 1 "$HN" 80)" = node-b1 ]
	}
	kc_wait_for -t 10 host_answers && ok || bad "hostnet: the node-b1 endpoint does not answer"
	check "a hostNetwork endpoint sees a pod on another node by its own address" \
		"$(seen_by cli-a2 "$HN")" "${KC_POD_IP[cli-a2]}"
	want=${KC_POD_IP[cli-b1]}
	has_caps host-endpoint-masq >/dev/null && want=$(kc_ip node-b1)
	check "a hostNetwork endpoint sees a pod on its own node as $want" "$(seen_by cli-b1 "$HN")" "$want"
	dp_endpoints t/hostnet 8081/TCP:http
	kc_stop_backend node-b1
}

# seen_by FROM IP: the source addresses the pods saw for 5 connections from FROM to IP:80.
seen_by() {
	kc_probe "$1" tcp "$2" 80 --count 5 --timeout 700 </dev/null |
		sed -nE 's/.* client=([0-9.]+):.*/\1/p' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# passive-health: after the "dead" row (an endpoint that refuses), the
# ejection is logged, in the status file (status_file NODE, from the mode)
# and shown by kroute explain --status.
check_refused_endpoint_ejected() {
	local idle=${KC_POD_IP[idle]} status
	status=$(status_file node-a2)
	check "the ejection is logged" "$(grep -c "endpoint $idle:8080 ejected" "$DP_DIR/kroute-node-a2.log")" 1
	ejected_in_status() {
		grep -q "\"endpoint\": \"$idle:8080\", \"removed\": false, [^}]*\"ejected\": true" "$status"
	}
	kc_wait_for -t 3 ejected_in_status && ok ||
		bad "the status file does not show $idle:8080 ejected: $(cat "$status")"
	check "kroute explain --status shows the ejected endpoint next to the route" \
		"$(dp_source_args; dp_exec node-a2 "$KROUTE" explain "${SOURCE_ARGS[@]}" --node node-a2 --cluster-cidr 10.244.0.0/16 --service t/dead \
			--status "$status" 2>/dev/null | grep -c "$idle:8080 (EJECTED for")" 1
}

# passive-health: after the "slow" row, the ejection of the endpoint that
# does not answer names the timeout.
check_silent_endpoint_ejected() {
	check "the ejection names the timeout" \
		"$(grep -c "endpoint ${KC_POD_IP[mute]}:8080 ejected .*(last: Connection timed out)" \
			"$DP_DIR/kroute-node-a2.log")" 1
}

# udp_sessions_open FIRST LAST: one UDP exchange with dns from cli-b1 per
# source port FIRST..LAST, in that order: a session each, oldest first.
udp_sessions_open() {
	kc_exec cli-b1 bash -c 'for p in $(seq "$3" "$4"); do "$5" udp "$2" 53 --count 1 --timeout 200 --src "$1:$p"; done' \
		_ "$(kc_pod_ip cli-b1)" "${SVC_CIP[dns]}" "$1" "$2" "$KR_PROBE" </dev/null >/dev/null 2>&1
}
# The client ports of node-b1's UDP sessions (dns's endpoint is web-1, on
# another node, so each session's socket is bound to the client's address
# and port).
udp_session_ports() {
	kc_exec node-b1 ss -Hun dst "$(kc_pod_ip web-1)" |
		awk -v ip="$(kc_pod_ip cli-b1)" '{ for (i = 1; i <= NF; i++) if (index($i, ip ":") == 1) print substr($i, length(ip) + 2) }' |
		sort -n
}

# Userspace mode (docs/userspace.md, "File descriptors"): a worker out of
# fds logs it, closes its oldest UDP sessions, resets the client it cannot
# serve instead of leaving it waiting, and keeps running.  scenarios.table
# points dns at web-1 alone first.
check_fd_exhaustion() {
	local t0 held_s n_logged holder ports old got WEB=${SVC_CIP[web]}
	# Sessions that outlive the test: only a shed closes them, not the idle timeout (30 s) of a
	# slow run.
	local -a DP_RUN_FLAGS=("${DP_RUN_FLAGS[@]}" --udp-timeout 600s)
	kroute_stop node-b1
	# The limit bounds each worker's own fd table; about 25 fds of each go to its listeners and
	# event loop: room for some 130 UDP sessions, or 60 connections, per worker (more than the
	# 64 sessions one shed closes, so which ones go shows).
	KROUTE_WRAP="prlimit --nofile=160:160" start_and_sync node-b1 && ok ||
		bad "kroute on node-b1 did not restart"
	t0=$(kc_now_ms)
	# 400 sessions, more than both workers hold: each worker that runs out
	# closes its oldest (up to 64 at a time), so the first ones go and the
	# newest stay.
	udp_sessions_open 42001 42400
	grep -q 'out of file descriptors (opening a UDP session' "$DP_DIR/kroute-node-b1.log" && ok ||
		bad "400 UDP sessions did not run node-b1's workers out of fds"
	ports=$(udp_session_ports | tr '\n' ' ')
	old=$(for p in $ports; do [ "$p" -le 42020 ] && echo "$p"; done | tr '\n' ' ')
	check "out of fds, the oldest UDP sessions are closed first (sessions of the first 20 left)" "$old" ""
	check "the newest UDP sessions are kept" "$([ -n "$ports" ] && echo yes || echo none)" yes
	got=$(kc_probe cli-b1 udp "${SVC_CIP[dns]}" 53 --count 3 --timeout 300 --src "$(kc_pod_ip cli-b1):42001" </dev/null |
		outcomes | sort -u | tr '\n' ' ')
	check "a closed session's client is answered again (a new session)" "$([[ $got == *web-1* ]] && echo yes || echo "$got")" yes

	# 300 TCP connections held at once (kr-backend closes a silent one after
	# about 2 s); the file says they are all open.
	rm -f "$DP_DIR/fd-held"
	kc_exec cli-b1 bash -c 'for i in $(seq 300); do exec {fd}<>"/dev/tcp/$1/80" || break; done; : >"$2"; sleep 2' \
		_ "$WEB" "$DP_DIR/fd-held" </dev/null 2>/dev/null &
	holder=$!
	kc_wait_for -t 10 test -e "$DP_DIR/fd-held" || bad "the 300 connections were not opened"
	# Out of fds, a new connection is reset at once: the client must not hang.
	got=$(kc_probe cli-b1 tcp "$WEB" 80 --count 5 --timeout 1000 </dev/null | outcomes | tr '\n' ' ')
	check "out of fds, new connections are reset, not left hanging" "$got" "reset reset reset reset reset "
	check "the connections closed every UDP session to make room" "$(udp_session_ports | tr '\n' ' ')" ""
	wait "$holder"
	held_s=$((($(kc_now_ms) - t0 + 999) / 1000))
	# At most once a second per worker (one per CPU), however many connections it turns away.
	n_logged=$(grep -c 'out of file descriptors (.*; RLIMIT_NOFILE 160 per worker)' "$DP_DIR/kroute-node-b1.log")
	check "the fd exhaustion is logged with the limit, at most once a second per worker" \
		"$([ "$n_logged" -ge 1 ] && [ "$n_logged" -le $(((held_s + 1) * $(nproc))) ] && echo yes ||
			echo "$n_logged in ${held_s}s")" yes
	check "kroute is still running" "$(kill -0 "${KPID[node-b1]}" 2>/dev/null && echo yes)" yes
	both_b1() { [ "$(answers cli-b1 20 "$WEB" 80)" = "web-1 web-2" ]; }
	kc_wait_for -t 10 both_b1 && ok || bad "after the fd exhaustion the service does not answer"
}

# Every mode: a bad manifest is reported and the last good rules stay.
check_bad_input() {
	local WEB=${SVC_CIP[web]}
	printf 'apiVersion: v1\nkind: Service\nmetadata: {name: broken, namespace: t}\nspec: {ports: [{port: 99999}]}\n' \
		>"$M/broken.yaml"
	has_error() { grep -q "broken.yaml.*must be between 1 and 65535" "$DP_DIR/kroute-node-a2.log"; }
	kc_wait_for -t 10 has_error && ok || bad "the bad manifest was not reported"
	check "traffic still flows after a bad change" "$(answers cli-a2 20 "$WEB" 80)" "web-1 web-2"
	rm -f "$M/broken.yaml"
}
