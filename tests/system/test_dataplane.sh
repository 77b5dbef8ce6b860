#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Real packets through a kroute data plane, in the netns test cluster
# (tests/cluster): the driver that runs the scenario table
# dataplane/scenarios.table against one mode.  kroute runs in every node's
# namespace, fed the same cluster as YAML; every scenario is a connection
# from a pod, a node or the external client to one address of one service,
# checking which pods answered, the source address they saw, and drop
# (timeout) versus reject (refused) exactly as kube-proxy behaves.
#
#   test_dataplane.sh MODE KROUTE KR-BACKEND KR-PROBE
#
# A mode is dataplane/mode-MODE.sh: how kroute is started in it, the commands
# it needs, what it leaves in a node, and its capabilities.  A row that needs
# a capability the mode lacks is skipped, printed as SKIP and not counted as
# passed.  The checks that are not one probe (live connections across
# endpoint changes, log and status-file contents, running out of file
# descriptors) are functions in dataplane/checks.sh that the table calls with
# `run`.  Format and how to add a mode: dataplane/README.md.
#
# Never touches the host: everything happens in namespaces lib.sh creates and
# tears down on every exit path.
set -u
mode=${1:?usage: $0 MODE KROUTE KR-BACKEND KR-PROBE}
KROUTE=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
export KR_BACKEND=$3 KR_PROBE=$4
here=$(cd "$(dirname "$0")" && pwd)
D=$here/dataplane
TABLE=${DATAPLANE_TABLE:-$D/scenarios.table}
. "$here/../cluster/lib.sh"
[ -f "$D/mode-$mode.sh" ] || { echo "test_dataplane.sh: no mode '$mode' ($D/mode-$mode.sh)" >&2; exit 2; }
MODE_CAPS=()
MODE_CMDS=()
. "$D/mode-$mode.sh"
. "$D/checks.sh"
kc_require_root
kc_require_cmd "${MODE_CMDS[@]}"

pass=0
fail=0
skip=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# check DESC GOT WANT
check() { if [ "$2" = "$3" ]; then ok; else bad "$1: got '$2', want '$3'"; fi; }
skipped() { skip=$((skip + 1)); echo "SKIP: $*"; }

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

# ---- kroute, started per mode ----
M=""
declare -A KPID
# kroute_run NODE FLAGS...: starts kroute in NODE's namespace with the flags
# every mode shares and the mode's own; $KROUTE_WRAP is a command that execs
# kroute (prlimit), so KPID stays kroute's pid.
kroute_run() {
	local node=$1 wrap=()
	shift
	[ -n "${KROUTE_WRAP:-}" ] && read -ra wrap <<<"$KROUTE_WRAP"
	# ip netns exec execs kroute itself, so $! is kroute's pid.
	ip netns exec "$(kc_node_ns "$node")" "${wrap[@]}" "$KROUTE" run --node "$node" -f "$M" \
		--cluster-cidr 10.244.0.0/16 --min-sync-period 100ms --sync-period 30s "$@" \
		</dev/null >>"$KC_RUNDIR/kroute-$node.log" 2>&1 3<&- &
	KPID[$node]=$!
}
kroute_stop() {
	kill -TERM "${KPID[$1]}" 2>/dev/null
	wait "${KPID[$1]}" 2>/dev/null
}
n_synced() {
	local c
	c=$(grep -c "full sync:" "$KC_RUNDIR/kroute-$1.log" 2>/dev/null)
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
# load_services FILE: copies FILE into the manifests with @ip:POD@ filled
# in, and notes each service's addresses (the subset of YAML that file uses).
load_services() {
	local src=$1 line name="" p
	line=$(cat "$src") || return 1
	for p in "${KC_PODS[@]}"; do line=${line//@ip:$p@/${KC_POD_IP[$p]}}; done
	[[ $line =~ @ip:[a-z0-9-]+@ ]] && { echo "unknown pod in ${BASH_REMATCH[0]} in $src" >&2; return 1; }
	printf '%s\n' "$line" >"$M/services.yaml"
	while IFS= read -r line; do
		if [[ $line =~ ^metadata:\ \{name:\ ([^,}]+) ]] || [[ $line =~ ^\ \ name:\ (.+)$ ]]; then
			name=${BASH_REMATCH[1]}
		elif [[ $line =~ ^\ \ clusterIP:\ (.+)$ ]]; then
			SVC_CIP[$name]=${BASH_REMATCH[1]}
		elif [[ $line =~ ^\ \ externalIPs:\ \[([^],]+) ]]; then
			SVC_EXTIP[$name]=${BASH_REMATCH[1]}
		elif [[ $line =~ ingress:\ \[\{ip:\ ([^}]+)\} ]]; then
			SVC_LBIP[$name]=${BASH_REMATCH[1]}
		fi
		if [[ $line =~ ^\ \ ports:\ \[\{.*[{\ ]port:\ ([0-9]+) ]]; then
			SVC_PORT[$name]=${BASH_REMATCH[1]}
			[[ $line =~ nodePort:\ ([0-9]+) ]] && SVC_NODEPORT[$name]=${BASH_REMATCH[1]}
		fi
	done <"$M/services.yaml"
	return 0
}

# resolve SERVICE TO: sets DST_IP, DST_PORT and VIA (the node the client's
# packets for a VIP are routed through; empty for none).
resolve() {
	local svc=$1 to=$2 kind node=""
	kind=${to%%@*}
	[[ $to == *@* ]] && node=${to#*@}
	VIA=""
	DST_PORT=${SVC_PORT[$svc]-}
	case $kind in
	clusterIP) DST_IP=${SVC_CIP[$svc]-} VIA=$node ;;
	externalIP) DST_IP=${SVC_EXTIP[$svc]-} VIA=$node ;;
	lb) DST_IP=${SVC_LBIP[$svc]-} VIA=$node ;;
	nodePort)
		DST_IP=${KC_NODE_IP[$node]-}
		DST_PORT=${SVC_NODEPORT[$svc]-}
		;;
	*) DST_IP="" ;;
	esac
	[ -n "$DST_IP" ] && [ -n "$DST_PORT" ] && { [ -z "$VIA" ] || [ -n "${KC_NODE_IP[$VIA]-}" ]; }
}

# ---- one scenario ----
# outcome word of a kr-probe line: the pod, or drop/reject/... for failures.
outcomes() {
	sed -E 's/^pod=([^ ]+) .*/\1/; s/^timeout$/drop/; s/^refused$/reject/; s/^error /error-/'
}
sorted_set() { sort -u | tr '\n' ',' | sed 's/,$//'; }

# expect_holds EXPECT FILE N: whether the outcomes in FILE (one a line) are
# what EXPECT says (see scenarios.table) for N attempts.
expect_holds() {
	local want=$1 f=$2 n=$3 alt got
	[ "$(wc -l <"$f")" -eq "$n" ] || return 1
	case $want in
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

# seen_ip SEEN FROM: the source address SEEN names for a sender FROM.
seen_ip() {
	case $1 in
	sender) kc_ip "$2" ;;
	*) kc_ip "$1" 2>/dev/null || echo "$1" ;;
	esac
}

# attempt FROM PROTO N OPTS: runs the probe into $KC_RUNDIR/out (outcomes)
# and $KC_RUNDIR/seen (source addresses the pods saw, one per answer).
attempt() {
	local from=$1 proto=$2 n=$3 opts=$4 o args=() timeout=700
	for o in ${opts//,/ }; do
		case $o in
		-) ;;
		timeout=*) timeout=${o#*=} ;;
		interval=*) args+=(--interval "${o#*=}") ;;
		src=:*) args+=(--src "$(kc_ip "$from"):${o#src=:}") ;;
		*) echo "bad probe option '$o'" >"$KC_RUNDIR/out"; return 1 ;;
		esac
	done
	kc_probe "$from" "$proto" "$DST_IP" "$DST_PORT" --count "$n" --timeout "$timeout" "${args[@]}" \
		</dev/null >"$KC_RUNDIR/raw"
	outcomes <"$KC_RUNDIR/raw" >"$KC_RUNDIR/out"
	sed -nE 's/.* client=\[?([^] ]*[^]:])\]?:[0-9]+ .*/\1/p' "$KC_RUNDIR/raw" >"$KC_RUNDIR/seen"
}

# scenario VERB FROM PROTO SERVICE TO N EXPECT SEEN NEEDS OPTS WHAT...
scenario() {
	local verb=$1 from=$2 proto=$3 svc=$4 to=$5 n=$6 want=$7 seen=$8 needs=$9 opts=${10}
	local what="${*:11}" missing want_seen="" deadline=0 held
	if ! missing=$(has_caps "$needs"); then
		skipped "$what ($mode mode: needs $missing)"
		return
	fi
	if ! resolve "$svc" "$to"; then
		bad "$what: cannot resolve '$to' of service '$svc' (line $LINE_NO)"
		return
	fi
	[ "$seen" != - ] && want_seen=$(seen_ip "$seen" "$from")
	[ -n "$VIA" ] && kc_client_route "$DST_IP" "$VIA"
	[ "$verb" = await ] && kc__deadline deadline 10
	while :; do
		attempt "$from" "$proto" "$n" "$opts"
		held=yes
		expect_holds "$want" "$KC_RUNDIR/out" "$n" || held=no
		if [ "$held" = yes ] && { [ -z "$want_seen" ] ||
			[ "$(sorted_set <"$KC_RUNDIR/seen")" = "$want_seen" ]; }; then
			break
		fi
		[ "$verb" = await ] && ! kc__past "$deadline" || break
		sleep 0.1
	done
	[ -n "$VIA" ] && kc_client_unroute "$DST_IP"
	local dst="$from $proto $DST_IP:$DST_PORT${VIA:+ via $VIA}"
	if [ "$held" = yes ]; then
		ok
		echo "ok: $what"
	else
		bad "$what: $dst: got '$(sorted_set <"$KC_RUNDIR/out")', want '$want'"
	fi
	if [ -n "$want_seen" ]; then
		check "$what: the source address seen ($dst)" "$(sorted_set <"$KC_RUNDIR/seen")" "$want_seen"
	fi
}

# ---- setup and change steps ----
# stop NODE: SIGTERM; kroute says it leaves its state in place.
step_stop() {
	kroute_stop "$1"
	check "kroute on $1 logged a clean exit" "$(grep -c 'rules stay in place' "$KC_RUNDIR/kroute-$1.log")" 1
}

# cleanup: stops kroute everywhere, runs `kroute cleanup`, and checks that
# nothing the mode installs is left (mode_leftovers: COUNT WHAT lines).
step_cleanup() {
	local n out count what
	for n in "${KC_NODES[@]}"; do
		kroute_stop "$n"
		out=$(kc_exec "$n" "$KROUTE" cleanup 2>&1) || bad "cleanup failed on $n (status $?): $out"
		while read -r count what; do
			check "no $what left on $n" "$count" 0
		done < <(mode_leftovers "$n")
	done
}

step_start() {
	local n
	if [ $# -eq 0 ]; then
		# Every node at once, then wait for each: the first sync of each.
		for n in "${KC_NODES[@]}"; do mode_start "$n"; done
		for n in "${KC_NODES[@]}"; do
			kc_wait_for -t 20 synced_more "$n" 0 ||
				{ bad "kroute on $n did not sync"; cat "$KC_RUNDIR/kroute-$n.log"; exit 1; }
		done
	else
		start_and_sync "$1" && ok || bad "kroute on $1 did not sync after a restart"
	fi
}

# Runs the table, one line at a time, in order.
run_table() {
	local line f missing n
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
		pod) kc_add_pod "${f[2]}" "${f[1]}" || exit 1 ;;
		backend) kc_start_backend "${f[1]}" "${f[@]:2}" || exit 1 ;;
		blackhole) kc_blackhole "${f[1]}" on || exit 1 ;;
		vip-route)
			for n in "${KC_NODES[@]}"; do ip -n "$(kc_node_ns "$n")" route add "${f[1]}" dev eth0 || exit 1; done
			;;
		services) load_services "$D/${f[1]}" || exit 1 ;;
		endpoints) kc_write_endpointslice "$M" "t/${f[1]}" "${f[2]}" "${f[@]:3}" || exit 1 ;;
		start) step_start "${f[@]:1}" ;;
		stop) step_stop "${f[1]}" ;;
		cleanup) step_cleanup ;;
		run)
			if ! declare -F "check_${f[1]}" >/dev/null; then
				bad "$TABLE:$LINE_NO: no function check_${f[1]} in checks.sh"
			elif missing=$(has_caps "${f[2]:--}"); then
				echo "== ${f[1]//_/ }"
				"check_${f[1]}"
			else
				skipped "${f[1]//_/ } ($mode mode: needs $missing)"
			fi
			;;
		*) bad "$TABLE:$LINE_NO: unknown step '${f[0]}'" ;;
		esac
	done 3<"$TABLE"
}

kc_setup || exit 1
M=$KC_RUNDIR/m
mkdir -p "$M"
kc_write_manifests "$M" || exit 1
# Every node of the cluster exists before the table adds pods to them.
run_table
echo "dataplane $mode: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
