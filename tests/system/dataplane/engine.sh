# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The scenario engine of the data-plane tests: runs a table (format:
# README.md here) against one mode.  Sourced by a front end that owns the
# network (test_dataplane.sh: the IPv4 test cluster of tests/cluster;
# test_ipv6.sh: its own IPv6 namespaces) after tests/cluster/lib.sh (for
# kc_wait_for, kc_now_ms and the skip helpers); the front end then passes
# its arguments to dp_begin, which loads the mode file.  The front end sets:
#
#   TABLE, M (the manifest directory kroute reads), DP_DIR (logs and
#   scratch files), DP_NODES (the nodes kroute runs on), DP_RUN_FLAGS
#   (kroute run flags every mode shares there)
#
# and defines:
#
#   dp_ns NAME         the namespace of a node, a pod or "client"
#   dp_ip NAME         the address of a pod, a node or "client"
#   dp_route VIP NODE / dp_unroute VIP
#                      the client's route for a VIP through NODE
#   step_VERB ARGS...  the table's setup steps that need its network (pods,
#                      endpoints, ...); run NAME calls check_NAME
#
# It runs probe, await, run, services, service-set, delete, start, stop and
# cleanup itself.
#
# kroute reads its objects from a source, source-SOURCE.sh here (DP_SOURCE,
# default files): the manifests under $M as they are, or the same manifests
# applied to a real kube-apiserver with kubectl (api).  The engine and the
# front end write every change under $M and hand the file to dp_publish.

pass=0
fail=0
skip=0
differ=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# check DESC GOT WANT
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
skipped() { skip=$((skip + 1)); echo "SKIP: $*"; }
# differs DESC: a reference mode's row that does not hold (not a failure by
# itself: the comparer decides).
differs() { differ=$((differ + 1)); echo "DIFF: $*"; }
# The closing line, and the exit status.  After a run with a reference mode
# (kube-proxy), the comparer prints every mode's outcome of every row side
# by side and fails on a difference intended-differences.table does not list.
dp_report() {
	local refs=() m
	local extra=""
	((${#DP_REFERENCES[@]})) && extra=", $differ differ from the table"
	echo "$1: $pass passed, $fail failed, $skip skipped$extra"
	for m in "${DP_REFERENCES[@]}"; do refs+=(--reference "$m"); done
	if ((${#refs[@]})); then
		python3 "$DP_DATA/compare-outcomes.py" --intended "$DP_DATA/intended-differences.table" \
			"${refs[@]}" "${DP_OUTCOME_FILES[@]}" || fail=$((fail + 1))
	fi
	[ "$fail" -eq 0 ]
}

# dp_record VERDICT OUTCOMES SEEN WHAT: one row's outcome in this mode, a
# line of $DP_OUTCOMES (when set): the table's line, VERDICT (ok, fail or
# skip:CAPABILITY), the outcomes and the sources seen (comma lists), WHAT.
dp_record() {
	[ -n "${DP_OUTCOMES:-}" ] || return 0
	printf '%s\t%s\t%s\t%s\t%s\n' "$LINE_NO" "$1" "${2:--}" "${3:--}" "$4" >>"$DP_OUTCOMES"
}

# dp_begin MODE[,MODE...] KROUTE KR-BACKEND KR-PROBE [-- CMD...]: a front
# end's arguments.  Sets DP_MODES (the modes, run one after the other on the
# same network by dp_run_modes), KROUTE, KR_BACKEND, KR_PROBE and DP_DATA
# (this folder), sources source-$DP_SOURCE.sh and the first mode's file
# (dp_load_mode; exit 2 when there is none), then skips the test (kc_skip)
# without root, any mode's or the source's commands or the front end's CMDs.
dp_begin() {
	local m cmds=()
	if [ $# -lt 4 ] || { [ $# -gt 4 ] && [ "$5" != -- ]; }; then
		echo "usage: $0 MODE[,MODE...] KROUTE KR-BACKEND KR-PROBE" >&2
		exit 2
	fi
	DP_DATA=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	IFS=, read -ra DP_MODES <<<"$1"
	DP_SOURCE=${DP_SOURCE:-files}
	[ -f "$DP_DATA/source-$DP_SOURCE.sh" ] ||
		{ echo "$0: no source '$DP_SOURCE' ($DP_DATA/source-$DP_SOURCE.sh)" >&2; exit 2; }
	KROUTE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
	export KR_BACKEND=$3 KR_PROBE=$4
	SOURCE_CAPS=()
	SOURCE_CMDS=()
	shift 4
	[ $# -gt 0 ] && shift
	# shellcheck source=/dev/null
	. "$DP_DATA/source-$DP_SOURCE.sh"
	for m in "${DP_MODES[@]}"; do
		dp_load_mode "$m"
		cmds+=("${MODE_CMDS[@]}")
	done
	dp_load_mode "${DP_MODES[0]}"
	kc_require_root
	kc_require_cmd "${cmds[@]}" "${SOURCE_CMDS[@]}" "$@"
}

# dp_load_mode MODE: makes MODE the mode the table runs against: sources
# mode-MODE.sh after putting back the defaults its hooks may override
# (README.md, "Adding a mode"); the source's capabilities join the mode's.
dp_load_mode() {
	local f=$DP_DATA/mode-$1.sh
	[ -f "$f" ] || { echo "$0: no mode '$1' ($f)" >&2; exit 2; }
	MODE=$1
	MODE_CAPS=()
	MODE_CMDS=()
	# A reference mode (the real kube-proxy) is what kroute is compared with:
	# a row it fails is recorded as a difference, and the comparer
	# (compare-outcomes.py) decides whether the difference is an intended one.
	MODE_REFERENCE=0
	# The agent's log line that ends a sync the engine waits for, and the
	# one a clean exit writes (empty: none is checked).
	MODE_SYNC_LOG="full sync:"
	MODE_STOP_LOG="rules stay in place"
	unset -f mode_cleanup mode_diagnose
	# shellcheck source=/dev/null
	. "$f"
	MODE_CAPS+=("${SOURCE_CAPS[@]}")
}

# has_caps NEEDS: whether the mode has every capability of the comma list
# NEEDS ("-" for none; "!cap": the mode must not have cap).  Prints the
# first one that does not hold.
has_caps() {
	local need c have
	[ "$1" = - ] && return 0
	for need in ${1//,/ }; do
		have=no
		for c in "${MODE_CAPS[@]}"; do [ "$c" = "${need#!}" ] && have=yes; done
		if [ "${need:0:1}" = "!" ]; then
			[ "$have" = no ] || { echo "$need"; return 1; }
		else
			[ "$have" = yes ] || { echo "$need"; return 1; }
		fi
	done
}

# dp_exec NAME CMD...: CMD in NAME's namespace (and, when the front end
# defines dp_exec_wrap NAME CMD..., through it: the IPv4 front end puts a
# node's and its pods' processes in the node's cgroup).
dp_exec() {
	local ns name=$1
	ns=$(dp_ns "$name") || return 1
	shift
	if declare -F dp_exec_wrap >/dev/null; then
		dp_exec_wrap "$name" ip netns exec "$ns" "$@"
	else
		ip netns exec "$ns" "$@"
	fi
}

# ---- the agent: kroute (or, in a reference mode, kube-proxy) ----
# Its pid per node is KPID, its log $DP_DIR/kroute-NODE.log whichever it is.
declare -A KPID
# kroute_run NODE FLAGS...: starts kroute in NODE's namespace with
# DP_RUN_FLAGS and the mode's own FLAGS (mode_start calls it).
# $KROUTE_WRAP is a command that execs kroute (prlimit), so KPID stays
# kroute's pid.
kroute_run() {
	local node=$1 wrap=()
	shift
	[ -n "${KROUTE_WRAP:-}" ] && read -ra wrap <<<"$KROUTE_WRAP"
	dp_source_args
	agent_run "$node" "${wrap[@]}" "$KROUTE" run --node "$node" "${SOURCE_ARGS[@]}" \
		"${DP_RUN_FLAGS[@]}" "$@"
}
# agent_run NODE CMD...: CMD in NODE's namespace as its agent (KPID, log).
agent_run() {
	local node=$1
	shift
	# ip netns exec execs the command itself, so $! is the agent's pid.
	ip netns exec "$(dp_ns "$node")" "$@" </dev/null >>"$DP_DIR/kroute-$node.log" 2>&1 3<&- &
	KPID[$node]=$!
}
kroute_stop() {
	kill -TERM "${KPID[$1]}" 2>/dev/null
	wait "${KPID[$1]}" 2>/dev/null
}
n_synced() {
	local c
	c=$(grep -c -- "$MODE_SYNC_LOG" "$DP_DIR/kroute-$1.log" 2>/dev/null)
	echo "${c:-0}"
}
synced_more() { [ "$(n_synced "$1")" -gt "$2" ]; }
# start_and_sync NODE: starts kroute (mode_start) and waits for its next full sync.
start_and_sync() {
	local before
	before=$(n_synced "$1")
	mode_start "$1"
	kc_wait_for -t 20 synced_more "$1" "$before"
}

# ---- the services' addresses, read from the services manifest ----
declare -A SVC_CIP SVC_PORT SVC_NODEPORT SVC_EXTIP SVC_LBIP
# load_services FILE: copies FILE into the manifests with @ip:NAME@ filled
# in (dp_ip NAME), and notes each service's addresses: its clusterIP,
# externalIPs[0], load-balancer IP, and per protocol its first port and
# nodePort (SVC_PORT[name/tcp]).  It reads the subset of YAML those files use.
load_services() {
	local src=$1 text
	text=$(cat "$src") || return 1
	while [[ $text =~ @ip:([a-z0-9-]+)@ ]]; do
		text=${text//${BASH_REMATCH[0]}/$(dp_ip "${BASH_REMATCH[1]}")} || return 1
	done
	printf '%s\n' "$text" >"$DP_DIR/services.yaml.new" &&
		mv "$DP_DIR/services.yaml.new" "$M/services.yaml" && note_services &&
		dp_publish "$M/services.yaml"
}

# note_services: the services' addresses, (re)read from $M/services.yaml.
note_services() {
	local name="" line proto
	SVC_CIP=() SVC_PORT=() SVC_NODEPORT=() SVC_EXTIP=() SVC_LBIP=()
	while IFS= read -r line; do
		line=${line//\"/}
		if [[ $line =~ ^metadata:\ \{name:\ ([^,}]+) ]] || [[ $line =~ ^\ \ name:\ (.+)$ ]]; then
			name=${BASH_REMATCH[1]}
		elif [[ $line =~ ^\ \ clusterIP:\ (.+)$ ]]; then
			SVC_CIP[$name]=${BASH_REMATCH[1]}
		elif [[ $line =~ ^\ \ externalIPs:\ \[([^],]+) ]]; then
			SVC_EXTIP[$name]=${BASH_REMATCH[1]}
		elif [[ $line =~ ingress:\ \[\{ip:\ ([^}]+)\} ]]; then
			SVC_LBIP[$name]=${BASH_REMATCH[1]}
		fi
		# A port: "{name: http, port: 80, ...}", in a flow list or a block list.
		if [[ $line =~ \{.*[{\ ]port:\ ([0-9]+) ]]; then
			proto=tcp
			[[ $line =~ protocol:\ (UDP|SCTP) ]] && proto=${BASH_REMATCH[1],,}
			[ -n "${SVC_PORT[$name/$proto]-}" ] && continue
			[[ $line =~ \{.*[{\ ]port:\ ([0-9]+) ]] && SVC_PORT[$name/$proto]=${BASH_REMATCH[1]}
			[[ $line =~ nodePort:\ ([0-9]+) ]] && SVC_NODEPORT[$name/$proto]=${BASH_REMATCH[1]}
		fi
	done <"$M/services.yaml"
	return 0
}

# resolve SERVICE PROTO TO: sets DST_IP, DST_PORT and VIA (the node the
# client's packets for a VIP are routed through; empty for none).
resolve() {
	local svc=$1 proto=$2 to=$3 kind node=""
	kind=${to%%@*}
	[[ $to == *@* ]] && node=${to#*@}
	VIA=""
	DST_PORT=${SVC_PORT[$svc/$proto]-}
	case $kind in
	clusterIP) DST_IP=${SVC_CIP[$svc]-} VIA=$node ;;
	externalIP) DST_IP=${SVC_EXTIP[$svc]-} VIA=$node ;;
	lb) DST_IP=${SVC_LBIP[$svc]-} VIA=$node ;;
	nodePort)
		DST_IP=$(dp_ip "$node" 2>/dev/null)
		[ "$node" = localhost ] && DST_IP=127.0.0.1
		DST_PORT=${SVC_NODEPORT[$svc/$proto]-}
		;;
	*) DST_IP="" ;;
	esac
	[ -n "$DST_IP" ] && [ -n "$DST_PORT" ] && { [ -z "$VIA" ] || dp_ip "$VIA" >/dev/null 2>&1; }
}

# ---- one scenario ----
# The outcome of each kr-probe line: the pod, or drop/reject/... for failures.
outcomes() {
	sed -E 's/^pod=([^ ]+) .*/\1/; s/^timeout$/drop/; s/^refused$/reject/; s/^error /error-/'
}
sorted_set() { sort -u | tr '\n' ',' | sed 's/,$//'; }

# expect_holds EXPECT FILE N: whether the outcomes in FILE (one a line) are
# what EXPECT says (README.md) for N attempts.
expect_holds() {
	local want=$1 f=$2 n=$3 alt got
	[ "$(wc -l <"$f")" -eq "$n" ] || return 1
	case $want in
	none) ! grep -q '^pod=' "$DP_DIR/raw" ;;
	same:*)
		alt="|${want#same:}|"
		got=$(sorted_set <"$f")
		[[ $got != *,* ]] && [[ $alt == *"|$got|"* ]]
		;;
	*"|"*)
		alt="|$want|"
		while read -r got; do [[ $alt == *"|$got|"* ]] || return 1; done <"$f"
		;;
	*) [ "$(sorted_set <"$f")" = "$(tr ',' '\n' <<<"$want" | sorted_set)" ] ;;
	esac
}

# want_seen SEEN FROM OPTS: what the seen column asks for, as the pods print
# it: an address, or [address]:port / address:port for sender+port.
want_seen() {
	local ip
	case $1 in
	sender) dp_ip "$2" ;;
	sender+port)
		ip=$(dp_ip "$2")
		[[ $ip == *:* ]] && ip="[$ip]"
		[[ $3 =~ src=:([0-9]+) ]] && echo "$ip:${BASH_REMATCH[1]}"
		;;
	*) dp_ip "$1" 2>/dev/null || echo "$1" ;;
	esac
}

# attempt FROM PROTO N OPTS SEEN: runs the probe; $DP_DIR/out gets the
# outcomes, $DP_DIR/seen the source the pods saw on each answer (its
# address, or address and port for sender+port).
attempt() {
	local from=$1 proto=$2 n=$3 opts=$4 seen=$5 o args=() timeout=$PROBE_TIMEOUT ip
	for o in ${opts//,/ }; do
		case $o in
		-) ;;
		timeout=*) timeout=${o#*=} ;;
		interval=*) args+=(--interval "${o#*=}") ;;
		say=*) args+=(--payload "${o#say=}"$'\n') ;;
		src=:*)
			ip=$(dp_ip "$from")
			[[ $ip == *:* ]] && ip="[$ip]"
			args+=(--src "$ip:${o#src=:}")
			;;
		*) echo "bad probe option '$o'" >"$DP_DIR/out"; return 1 ;;
		esac
	done
	dp_exec "$from" "$KR_PROBE" "$proto" "$DST_IP" "$DST_PORT" --count "$n" \
		--timeout "$timeout" "${args[@]}" </dev/null >"$DP_DIR/raw"
	outcomes <"$DP_DIR/raw" >"$DP_DIR/out"
	if [ "$seen" = sender+port ]; then
		sed -nE 's/.* client=([^ ]+) .*/\1/p' "$DP_DIR/raw"
	else
		sed -nE 's/.* client=\[?([^] ]*[^]:])\]?:[0-9]+ .*/\1/p' "$DP_DIR/raw"
	fi >"$DP_DIR/seen"
}

PROBE_TIMEOUT=700
AWAIT_S=10
# scenario VERB FROM PROTO SERVICE TO N EXPECT SEEN NEEDS OPTS WHAT...
scenario() {
	local verb=$1 from=$2 proto=$3 svc=$4 to=$5 n=$6 want=$7 seen=$8 needs=$9 opts=${10}
	local what="${*:11}" missing want_ip="" end held dst got got_seen verdict
	if ! missing=$(has_caps "$needs"); then
		skipped "$what ($MODE mode, $DP_SOURCE source: needs $missing)"
		dp_record "skip:$missing" - - "$what"
		return
	fi
	if ! resolve "$svc" "$proto" "$to"; then
		bad "$what: cannot resolve $proto '$to' of service '$svc' ($TABLE:$LINE_NO)"
		dp_record fail - - "$what"
		return
	fi
	if [ "$seen" != - ] && ! want_ip=$(want_seen "$seen" "$from" "$opts"); then
		bad "$what: bad seen '$seen' ($TABLE:$LINE_NO)"
		return
	fi
	[ -n "$VIA" ] && dp_route "$DST_IP" "$VIA"
	end=$((SECONDS + AWAIT_S))
	while :; do
		attempt "$from" "$proto" "$n" "$opts" "$seen"
		held=yes
		expect_holds "$want" "$DP_DIR/out" "$n" || held=no
		if [ "$held" = yes ] && { [ -z "$want_ip" ] || [ "$(sorted_set <"$DP_DIR/seen")" = "$want_ip" ]; }; then
			break
		fi
		[ "$verb" = await ] && [ "$SECONDS" -lt "$end" ] || break
		sleep 0.1
	done
	dst="$from $proto $DST_IP:$DST_PORT${VIA:+ via $VIA}"
	got=$(sorted_set <"$DP_DIR/out")
	got_seen=$(sorted_set <"$DP_DIR/seen")
	# The reference is not under test, and its agent's timing is not ours:
	# a probe it fails once (it did once in CI: kube-proxy-iptables sent a
	# zone-hinted service's traffic to both endpoints, nothing changed for
	# seconds before) is shown with the agent's rules for the service, then
	# tried again as an await would be.  The row records the outcome it
	# settles on; the first one stays in the log.
	if [ "$MODE_REFERENCE" = 1 ] && [ "$verb" = probe ] &&
		! { [ "$held" = yes ] && { [ -z "$want_ip" ] || [ "$got_seen" = "$want_ip" ]; }; }; then
		echo "reference: $what: $dst: first attempt got '$got' seen '$got_seen'; its rules:"
		declare -F mode_diagnose >/dev/null && mode_diagnose "$(kc_pod_node "$from" 2>/dev/null || echo "$from")" "$svc" | sed 's/^/    /'
		end=$((SECONDS + AWAIT_S))
		while [ "$SECONDS" -lt "$end" ]; do
			sleep 0.5
			attempt "$from" "$proto" "$n" "$opts" "$seen"
			held=yes
			expect_holds "$want" "$DP_DIR/out" "$n" || held=no
			if [ "$held" = yes ] && { [ -z "$want_ip" ] || [ "$(sorted_set <"$DP_DIR/seen")" = "$want_ip" ]; }; then
				break
			fi
		done
		got=$(sorted_set <"$DP_DIR/out")
		got_seen=$(sorted_set <"$DP_DIR/seen")
		echo "reference: $what: after retries got '$got' seen '$got_seen'"
	fi
	[ -n "$VIA" ] && dp_unroute "$DST_IP"
	verdict=ok
	{ [ "$held" = yes ] && { [ -z "$want_ip" ] || [ "$got_seen" = "$want_ip" ]; }; } || verdict=fail
	dp_record "$verdict" "$got" "$got_seen" "$what"
	if [ "$MODE_REFERENCE" = 1 ] && [ "$verdict" = fail ]; then
		differs "$what: $dst: got '$got' seen '$got_seen', the table wants '$want' seen '${want_ip:--}'"
		return
	fi
	if [ "$held" = yes ]; then
		ok
		echo "ok: $what [$got]"
	else
		bad "$what: $dst: got '$got', want '$want'"
	fi
	if [ -n "$want_ip" ]; then
		check "$what: the source seen ($dst)" "$got_seen" "$want_ip"
	fi
}

# ---- the steps every front end shares ----
step_services() { load_services "$DP_DATA/$1" || exit 1; }

# service-set SERVICE KEY VALUE: edits SERVICE alone in the services
# manifest kroute reads (its EndpointSlice, in a file of its own, stays as
# it is): the first "KEY: OLD" of its document becomes "KEY: VALUE" (KEY
# port: its first port), or "  KEY: VALUE" is added under spec:.  The file
# is replaced by rename, as editors do; the addresses are read again.
step_service_set() {
	local svc=$1 key=$2 value=$3
	[ $# -eq 3 ] || { bad "$TABLE:$LINE_NO: usage: service-set SERVICE KEY VALUE"; return; }
	awk -v svc="$svc" -v key="$key" -v value="$value" '
		/^---/ { mine = 0; done = 0 }
		$0 ~ "^metadata: \\{name: " svc "," { mine = 1 }
		mine && !done && match($0, "[{ ]" key ": [^,}]+") {
			$0 = substr($0, 1, RSTART) key ": " value substr($0, RSTART + RLENGTH)
			done = 1
		}
		{ print }
	' "$M/services.yaml" >"$DP_DIR/services.yaml.new" || exit 1
	if cmp -s "$M/services.yaml" "$DP_DIR/services.yaml.new"; then
		awk -v svc="$svc" -v key="$key" -v value="$value" '
			/^---/ { mine = 0 }
			$0 ~ "^metadata: \\{name: " svc "," { mine = 1 }
			{ print }
			mine && /^spec:$/ { print "  " key ": " value; mine = 0 }
		' "$M/services.yaml" >"$DP_DIR/services.yaml.new" || exit 1
	fi
	cmp -s "$M/services.yaml" "$DP_DIR/services.yaml.new" &&
		{ bad "$TABLE:$LINE_NO: service-set changes nothing (no service '$svc', or already so)"; return; }
	mv "$DP_DIR/services.yaml.new" "$M/services.yaml" && note_services &&
		dp_publish "$M/services.yaml" || exit 1
}

# delete SERVICE: deletes the Service and its EndpointSlice (the file the
# front end's endpoints step wrote, if any): its document leaves the services
# manifest, the slice's file goes, and the source deletes both
# (dp_unpublish).  The `to` column keeps its old addresses, so the rows
# after it can show that nothing answers there any more.
step_delete() {
	local svc=$1 slice
	[ $# -eq 1 ] || { bad "$TABLE:$LINE_NO: usage: delete SERVICE"; return; }
	[ -n "${SVC_CIP[$svc]-}" ] || { bad "$TABLE:$LINE_NO: delete: no service '$svc'"; return; }
	# Documents are separated by "---" lines; the one naming the service goes.
	awk -v svc="$svc" '
		function flush() { if (!mine) printf "%s", doc; doc = ""; mine = 0 }
		/^---/ { flush(); doc = $0 "\n"; next }
		$0 ~ "^metadata: \\{name: " svc "," { mine = 1 }
		{ doc = doc $0 "\n" }
		END { flush() }
	' "$M/services.yaml" >"$DP_DIR/services.yaml.new" || exit 1
	cmp -s "$M/services.yaml" "$DP_DIR/services.yaml.new" &&
		{ bad "$TABLE:$LINE_NO: delete: '$svc' is not in the services manifest"; return; }
	mv "$DP_DIR/services.yaml.new" "$M/services.yaml" || exit 1
	slice=$M/endpointslice-t-$svc.yaml
	if [ -f "$slice" ]; then
		rm -f "$slice"
		dp_unpublish endpointslice "t/$svc-kc" || exit 1
	fi
	dp_unpublish service "t/$svc" || exit 1
}
step_probe_timeout() { PROBE_TIMEOUT=$1; }

# start [NODE]: kroute on every node of DP_NODES at once, waiting for each
# one's first sync; or restarts it on NODE.
step_start() {
	local n
	if [ $# -eq 0 ]; then
		# Counted from here: a start after cleanup waits for a new sync too.
		local -A before
		for n in "${DP_NODES[@]}"; do before[$n]=$(n_synced "$n"); done
		for n in "${DP_NODES[@]}"; do mode_start "$n"; done
		for n in "${DP_NODES[@]}"; do
			kc_wait_for -t 20 synced_more "$n" "${before[$n]}" ||
				{ bad "kroute on $n did not sync"; cat "$DP_DIR/kroute-$n.log"; exit 1; }
		done
	else
		start_and_sync "$1" && ok || bad "kroute on $1 did not sync after a restart"
	fi
}

# stop NODE: SIGTERM; kroute says it leaves its state in place.
step_stop() {
	kroute_stop "$1"
	if [ -n "$MODE_STOP_LOG" ]; then
		check "kroute on $1 logged a clean exit" "$(grep -c -- "$MODE_STOP_LOG" "$DP_DIR/kroute-$1.log")" 1
	else
		check "the agent on $1 exited" "$(kill -0 "${KPID[$1]}" 2>/dev/null && echo running)" ""
	fi
}

# cleanup: stops kroute everywhere, runs `kroute cleanup` (the mode's
# mode_cleanup NODE when it has one), and checks that
# nothing is left: the mode's state (mode_leftovers: COUNT WHAT lines), or
# DP_LEFTOVERS's when the front end checks more.
step_cleanup() {
	local n out count what
	for n in "${DP_NODES[@]}"; do
		kroute_stop "$n"
		if declare -F mode_cleanup >/dev/null; then
			out=$(mode_cleanup "$n" 2>&1)
		else
			out=$(dp_exec "$n" "$KROUTE" cleanup 2>&1)
		fi
		if [ $? -eq 0 ]; then
			ok
		else
			bad "$MODE cleanup failed on $n: $out"
		fi
		while read -r count what; do
			check "no $what left on $n" "$count" 0
		done < <("${DP_LEFTOVERS:-mode_leftovers}" "$n")
	done
}

# Runs the table TABLE, one line at a time, in order.
run_table() {
	local line f missing step failed_before
	LINE_NO=0
	# fd 3: the steps' own commands may read standard input.
	while IFS= read -r -u 3 line; do
		LINE_NO=$((LINE_NO + 1))
		line=${line%%#*}
		read -ra f <<<"$line"
		((${#f[@]})) || continue
		case ${f[0]} in
		probe | await)
			if ((${#f[@]} < 11)); then bad "$TABLE:$LINE_NO: too few columns"; continue; fi
			scenario "${f[@]}"
			;;
		run)
			if ! declare -F "check_${f[1]}" >/dev/null; then
				bad "$TABLE:$LINE_NO: no function check_${f[1]}"
			elif missing=$(has_caps "${f[2]:--}"); then
				echo "== ${f[1]//_/ }"
				failed_before=$fail
				"check_${f[1]}"
				if [ "$fail" -eq "$failed_before" ]; then
					dp_record ok - - "run ${f[1]}"
				else
					dp_record fail - - "run ${f[1]}"
					# A reference mode's failed check is a difference too.
					if [ "$MODE_REFERENCE" = 1 ]; then
						differ=$((differ + fail - failed_before))
						fail=$failed_before
					fi
				fi
			else
				skipped "${f[1]//_/ } ($MODE mode, $DP_SOURCE source: needs $missing)"
				dp_record "skip:$missing" - - "run ${f[1]}"
			fi
			;;
		*)
			step=step_${f[0]//-/_}
			if declare -F "$step" >/dev/null; then
				"$step" "${f[@]:1}"
			else
				bad "$TABLE:$LINE_NO: unknown step '${f[0]}'"
			fi
			;;
		esac
	done 3<"$TABLE"
}

# dp_run_modes: runs the table against each mode of DP_MODES in turn, on
# the same network: the first pass builds it (the front end's steps that
# build pods and routes check dp_first_pass), every pass ends with the
# table's own cleanup, and between passes the front end's dp_between_modes
# (if any) puts back what an agent leaves behind outside its rules
# (conntrack entries, sysctls).  Each mode's outcomes go to
# $DP_OUTCOMES_DIR/MODE.tsv (dp_record; default $DP_DIR/outcomes, removed
# with the cluster), its agents' logs to $DP_DIR/logs-MODE/; a line per
# mode gives its counts.
DP_PASS=0
DP_REFERENCES=()
DP_OUTCOME_FILES=()
dp_first_pass() { [ "$DP_PASS" -eq 0 ]; }
dp_run_modes() {
	local i p0 f0 s0 d0
	DP_OUTCOMES_DIR=${DP_OUTCOMES_DIR:-$DP_DIR/outcomes}
	mkdir -p "$DP_OUTCOMES_DIR" || exit 1
	for i in "${!DP_MODES[@]}"; do
		DP_PASS=$i
		if ((i > 0)); then
			dp_load_mode "${DP_MODES[$i]}"
			if declare -F dp_between_modes >/dev/null; then dp_between_modes || exit 1; fi
		fi
		[ "$MODE_REFERENCE" = 1 ] && DP_REFERENCES+=("$MODE")
		((${#DP_MODES[@]} > 1)) && echo "==== mode $MODE"
		PROBE_TIMEOUT=700
		KPID=()
		DP_OUTCOMES=$DP_OUTCOMES_DIR/$MODE.tsv
		DP_OUTCOME_FILES+=("$DP_OUTCOMES")
		: >"$DP_OUTCOMES"
		p0=$pass f0=$fail s0=$skip d0=$differ
		run_table
		((${#DP_MODES[@]} > 1)) && echo "dataplane $MODE: $((pass - p0)) passed, $((fail - f0)) failed," \
			"$((skip - s0)) skipped, $((differ - d0)) differ from the table"
		mkdir -p "$DP_DIR/logs-$MODE" && mv "$DP_DIR"/kroute-*.log "$DP_DIR/logs-$MODE/" 2>/dev/null
	done
	return 0
}
