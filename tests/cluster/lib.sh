# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/cluster/lib.sh: a Kubernetes-shaped network on one machine, built
# from network namespaces, for testing a service proxy with real packets.
# Source it from a bash test script (it is `set -u` safe and sets no shell
# options), call kc_setup, then add pods, start kr-backend in them and probe
# with kr-probe.  Topology, addresses and every function: README.md here.
#
# Safety rules, which every function here keeps:
#  - everything happens inside namespaces this library creates, all named
#    with one prefix per run (kr<PID>- or $KR_PREFIX); the host namespace's
#    addresses, routes, sysctls and firewall are never changed (every
#    mutating ip/sysctl/nft/tc command runs with -n NS or inside
#    `ip netns exec NS`, and an empty NS is refused);
#  - traffic only goes to addresses inside those namespaces;
#  - kc_setup installs traps on EXIT, INT, TERM and HUP that call
#    kc_teardown, which kills every process in the namespaces and deletes
#    them; it is idempotent and works on a half-built cluster.
# Speed matters (every data-plane test builds a cluster): namespaces are
# configured with one `ip netns exec NS sh` + `ip -batch` each, and
# teardown finds processes with one scan of /proc.

[ -n "${KC__LIB_LOADED:-}" ] && return 0
KC__LIB_LOADED=1

if [ -z "${BASH_VERSINFO:-}" ] || [ "${BASH_VERSINFO[0]}" -lt 5 ]; then
	echo "kc: lib.sh needs bash 5 or later" >&2
	return 1
fi

# shellcheck disable=SC2034 # for test scripts: where lib.sh and its tools' sources are
KC_LIB_DIR=${BASH_SOURCE[0]%/*}
[ "$KC_LIB_DIR" = "${BASH_SOURCE[0]}" ] && KC_LIB_DIR=.
KC_LIB_DIR=$(cd "$KC_LIB_DIR" && pwd)

# Parameters (set before sourcing or before kc_setup to change them).
: "${KC_LAN_NET:=192.168.50}"		# the node LAN, a /24
: "${KC_CLIENT_IP:=$KC_LAN_NET.100}"	# the external client on that LAN
: "${KC_POD_NET:=10.244}"		# node number i gets $KC_POD_NET.i.0/24
: "${KC_POD_FIRST_HOST:=10}"		# first automatic pod address in a /24
: "${KC_GATEWAY:=169.254.1.1}"		# pods' default gateway (Calico's choice)
: "${KC_DEFAULT_SPEC:=node-a1:zone-a node-a2:zone-a node-b1:zone-b}"
: "${KC_BACKEND_PORTS:=8080/tcp 8080/udp}"
: "${KC_WAIT_TIMEOUT:=5}"		# seconds, for kc_wait_for without -t
: "${KC_SKIP_RC:=4}"			# exit status for "cannot run here"
: "${KC_KILL_GRACE:=2}"			# seconds between SIGTERM and SIGKILL
# 1: every node gets a cgroup v2 group of its own (KC_CGROUP_DIR/NODE), and
# the processes kc_exec, kc_probe and kc_start_backend start for a node or
# one of its pods run in it (kc_in_cgroup): socket-level data planes (the
# ebpf mode) attach to a node's group.  kc_setup skips without cgroup v2.
: "${KC_CGROUPS:=0}"
KC__NETNS_DIR=/var/run/netns		# where `ip netns` keeps its names

# State, filled by kc_setup / kc_add_pod.  Read them, do not write them.
declare -g KC_PREFIX="${KC_PREFIX:-}"
declare -g KC_RUNDIR=""
declare -g KC_CGROUP_DIR=""		# with KC_CGROUPS=1: the nodes' groups are under it
declare -g KC_LAN_NS="" KC_CLIENT_NS=""
declare -ga KC_NODES=() KC_PODS=()
declare -gA KC_NODE_ZONE=() KC_NODE_IP=() KC_NODE_CIDR=() KC_NODE_NS=() KC_NODE_IDX=()
declare -gA KC_POD_NODE=() KC_POD_IP=() KC_POD_NS=() KC_POD_IF=()
declare -gA KC_BACKEND_PID=()
declare -ga KC_TEARDOWN_HOOKS=()	# commands kc_teardown evals before it kills anything
declare -ga KC_TEARDOWN_PIDS=()		# what the last kc_teardown found and killed
declare -g KC__STATE=down
declare -g KC__POD_SEQ=0
declare -gA KC__USED_IP=()
declare -ga KC__PIDS=()
declare -g KC__NOW=0

kc_log() { echo "kc: $*" >&2; }
kc__err() { echo "kc: error: $*" >&2; }

# kc_skip MSG: this test cannot run here (not root, missing feature): exit
# with $KC_SKIP_RC (4; the meson test sets 77), tearing down what exists.
kc_skip() {
	echo "kc: SKIP: $*" >&2
	exit "$KC_SKIP_RC"
}

# Sets KC__NOW to CLOCK_REALTIME in ms, without a subshell.
kc__now() {
	local t=${EPOCHREALTIME//[!0-9]/}
	KC__NOW=$((10#$t / 1000))
}

# kc_now_ms: prints the time in ms, for tests that measure.
kc_now_ms() {
	kc__now
	echo "$KC__NOW"
}

# kc__deadline VAR SECONDS: VAR = now + SECONDS ("2", "0.5") in ms.
kc__deadline() {
	local s=$2 int frac
	if ! [[ $s =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		kc__err "bad duration '$s'"
		return 1
	fi
	int=${s%%.*}
	frac=000
	[[ $s == *.* ]] && frac="${s#*.}000"
	kc__now
	printf -v "$1" %d $((KC__NOW + 10#$int * 1000 + 10#${frac:0:3}))
}

kc__past() {
	kc__now
	((KC__NOW >= $1))
}

# kc_require_cmd CMD...: skip the test when a command is missing.
kc_require_cmd() {
	local c
	for c; do
		command -v "$c" >/dev/null 2>&1 || kc_skip "needs '$c' (not installed)"
	done
}

kc_require_root() {
	[ "$EUID" -eq 0 ] || kc_skip "needs root (network namespaces)"
}

# kc_find_tools: sets KR_BACKEND and KR_PROBE.  Taken from the environment
# if set, else from $KC_BIN_DIR, else from PATH.
kc_find_tools() {
	local t var dir=${KC_BIN_DIR:-}
	for t in kr-backend kr-probe; do
		var=KR_BACKEND
		[ "$t" = kr-probe ] && var=KR_PROBE
		if [ -z "${!var:-}" ]; then
			if [ -n "$dir" ] && [ -x "$dir/$t" ]; then
				printf -v "$var" %s "$dir/$t"
			else
				printf -v "$var" %s "$(command -v "$t" 2>/dev/null)"
			fi
		fi
		if [ -z "${!var}" ] || [ ! -x "${!var}" ]; then
			kc__err "$t not found: build it (meson) and set KC_BIN_DIR or $var"
			return 1
		fi
		# Absolute, because it runs from other working directories.
		printf -v "$var" %s "$(cd "$(dirname "${!var}")" && pwd)/$(basename "${!var}")"
	done
	export KR_BACKEND KR_PROBE
}

# Runs a command; on failure prints it with its output and returns 1.
kc__do() {
	local out
	if ! out=$("$@" 2>&1); then
		kc__err "failed: $* : $out"
		return 1
	fi
}

# ip in namespace NS; refuses an empty name, which would mean the host.
kc__ip() {
	local ns=$1
	shift
	[ -n "$ns" ] || { kc__err "internal: empty namespace for ip $*"; return 1; }
	kc__do ip -n "$ns" "$@"
}

# kc__nsconf NS [KEY=VALUE...]: in NS, sets the sysctls (inside NS only)
# and then runs the `ip -batch` commands read from stdin, all in one
# process.  Keys use dots (net.ipv4.ip_forward); a key whose file does not
# exist in NS is skipped if it is prefixed with '?'.
kc__nsconf() {
	local ns=$1 kv key val opt script="set -e" out
	shift
	[ -n "$ns" ] || { kc__err "internal: empty namespace for kc__nsconf"; return 1; }
	for kv; do
		key=${kv%%=*}
		opt=""
		[[ $key == \?* ]] && { key=${key#\?}; opt=1; }
		if [[ $kv != *=* ]] || ! [[ $key =~ ^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$ ]]; then
			kc__err "bad sysctl '$kv' (want KEY=VALUE, KEY like net.ipv4.ip_forward)"
			return 1
		fi
		key=/proc/sys/${key//.//}
		printf -v val %q "${kv#*=}"
		if [ -n "$opt" ]; then
			script+="; if [ -e $key ]; then echo $val >$key; fi"
		else
			script+="; echo $val >$key"
		fi
	done
	script+="; exec ip -batch -"
	if ! out=$(ip netns exec "$ns" sh -c "$script" 2>&1); then
		kc__err "configuring $ns failed: $out"
		return 1
	fi
}

# kc_node_sysctl NODE KEY=VALUE...: e.g. net.ipv4.conf.all.route_localnet=1
# for NodePorts on 127.0.0.1 (kube-proxy's iptables mode sets it).  Inside
# the node's namespace only.
kc_node_sysctl() {
	local ns
	ns=$(kc_node_ns "${1:-}") || return 1
	shift
	kc__nsconf "$ns" "$@" </dev/null
}

# Namespaces whose name starts with PREFIX, one a line.
kc__list_ns() {
	local prefix=$1 f
	[ -n "$prefix" ] || return 0
	for f in "$KC__NETNS_DIR/$prefix"*; do
		[ -e "$f" ] && echo "${f##*/}"
	done
	return 0
}

# kc_ns NAME: the namespace of a node, a pod, "client" or "lan"; a full
# namespace name with our prefix is accepted as is.
kc_ns() {
	local n=${1:-}
	if [ -n "${KC_NODE_NS[$n]-}" ]; then
		echo "${KC_NODE_NS[$n]}"
	elif [ -n "${KC_POD_NS[$n]-}" ]; then
		echo "${KC_POD_NS[$n]}"
	elif [ "$n" = client ] && [ -n "$KC_CLIENT_NS" ]; then
		echo "$KC_CLIENT_NS"
	elif [ "$n" = lan ] && [ -n "$KC_LAN_NS" ]; then
		echo "$KC_LAN_NS"
	elif [ -n "$KC_PREFIX" ] && [[ $n == "$KC_PREFIX"?* ]]; then
		echo "$n"
	else
		kc__err "no node, pod or namespace called '$n'"
		return 1
	fi
}

kc_node_ns() {
	[ -n "${KC_NODE_NS[${1:-}]-}" ] || { kc__err "no node '${1:-}'"; return 1; }
	echo "${KC_NODE_NS[$1]}"
}

kc_pod_ns() {
	[ -n "${KC_POD_NS[${1:-}]-}" ] || { kc__err "no pod '${1:-}'"; return 1; }
	echo "${KC_POD_NS[$1]}"
}

kc_node_ip() {
	[ -n "${KC_NODE_IP[${1:-}]-}" ] || { kc__err "no node '${1:-}'"; return 1; }
	echo "${KC_NODE_IP[$1]}"
}

kc_pod_ip() {
	[ -n "${KC_POD_IP[${1:-}]-}" ] || { kc__err "no pod '${1:-}'"; return 1; }
	echo "${KC_POD_IP[$1]}"
}

kc_pod_node() {
	[ -n "${KC_POD_NODE[${1:-}]-}" ] || { kc__err "no pod '${1:-}'"; return 1; }
	echo "${KC_POD_NODE[$1]}"
}

# kc_ip NAME: a pod's IP, a node's IP, or the client's IP.
kc_ip() {
	local n=${1:-}
	if [ -n "${KC_POD_IP[$n]-}" ]; then
		echo "${KC_POD_IP[$n]}"
	elif [ -n "${KC_NODE_IP[$n]-}" ]; then
		echo "${KC_NODE_IP[$n]}"
	elif [ "$n" = client ]; then
		echo "$KC_CLIENT_IP"
	else
		kc__err "no pod, node or client called '$n'"
		return 1
	fi
}

# kc_exec NAME CMD...: runs CMD in the namespace of NAME (see kc_ns).
kc_exec() {
	local ns name=${1:-}
	ns=$(kc_ns "$name") || return 1
	shift
	kc_in_cgroup "$name" ip netns exec "$ns" "$@"
}

# kc_probe NAME ARGS...: runs kr-probe ARGS in NAME's namespace.
kc_probe() {
	local ns name=${1:-}
	ns=$(kc_ns "$name") || return 1
	shift
	[ -n "${KR_PROBE:-}" ] || kc_find_tools || return 1
	kc_in_cgroup "$name" ip netns exec "$ns" "$KR_PROBE" "$@"
}

# kc_wait_for [-t SECONDS] CMD...: runs CMD until it succeeds (returns 0)
# or the timeout ($KC_WAIT_TIMEOUT) passes (returns 1).  Polls from every
# 10 ms up to every 100 ms; use it instead of sleep.
kc_wait_for() {
	local timeout=$KC_WAIT_TIMEOUT deadline delay=10
	if [ "${1:-}" = -t ]; then
		timeout=${2:-}
		shift 2
	fi
	kc__deadline deadline "$timeout" || return 1
	while :; do
		"$@" && return 0
		kc__past "$deadline" && return 1
		sleep "0.$(printf %03d "$delay")"
		((delay < 100)) && delay=$((delay * 2))
		((delay > 100)) && delay=100
	done
}

# True while PID exists and is not a zombie (a dead child not yet reaped).
# Builtins only: it runs in polling loops.
kc__alive() {
	local stat
	read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
	stat=${stat##*) }
	[ "${stat:0:1}" != Z ]
}

# Prints the pids of processes whose network namespace is one of the named
# ones.  One scan of /proc instead of `ip netns pids` per namespace.
kc__ns_pids() {
	local ns ino dir link pid
	local -A want=()
	local files=()
	(($#)) || return 0
	for ns; do files+=("$KC__NETNS_DIR/$ns"); done
	while read -r ino; do
		want[$ino]=1
	done < <(stat -L -c %i -- "${files[@]}" 2>/dev/null)
	((${#want[@]})) || return 0
	# Each line: "/proc/PID/ns net:[INODE]".
	while read -r dir link; do
		link=${link#net:\[}
		link=${link%]}
		# Empty for a process that exited during the scan.
		if [ -z "$link" ] || [ -z "${want[$link]-}" ]; then
			continue
		fi
		pid=${dir#/proc/}
		pid=${pid%/ns}
		echo "$pid"
	done < <(find /proc/[0-9]*/ns/net -maxdepth 0 -printf '%h %l\n' 2>/dev/null)
}

kc__check_env() {
	kc_require_root
	kc_require_cmd ip find stat
	ip netns list >/dev/null 2>&1 || kc_skip "'ip netns' does not work here"
}

# Parses kc_setup's words into the node arrays.  Each word is
# NAME:ZONE[:IP[:PODCIDR]]; see kc_setup for the defaults.
kc__parse_spec() {
	local word name zone ip cidr rest i=0 z nzones=0
	local -A zone_no=() zone_count=() seen_ip=()
	for word; do
		IFS=: read -r name zone ip cidr rest <<<"$word"
		if [ -n "${rest:-}" ] || [ -z "$name" ] || [ -z "${zone:-}" ]; then
			kc__err "bad node spec '$word' (want NAME:ZONE[:IP[:PODCIDR]])"
			return 1
		fi
		if ! [[ $name =~ ^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$ ]] || [ "$name" = lan ] ||
			[ "$name" = client ] || [[ $name == pod-* ]]; then
			kc__err "bad node name '$name' (a DNS label; not lan, client or pod-*)"
			return 1
		fi
		[ -n "${KC_NODE_IDX[$name]-}" ] && { kc__err "node '$name' given twice"; return 1; }
		i=$((i + 1))
		if [ -z "${zone_no[$zone]-}" ]; then
			nzones=$((nzones + 1))
			zone_no[$zone]=$nzones
			zone_count[$zone]=0
		fi
		zone_count[$zone]=$((zone_count[$zone] + 1))
		if [ -z "${ip:-}" ]; then
			z=${zone_no[$zone]}
			if ((z > 9 || zone_count[$zone] > 9)); then
				kc__err "more than 9 zones or 9 nodes in a zone: give node IPs in the spec"
				return 1
			fi
			ip=$KC_LAN_NET.$((z * 10 + zone_count[$zone]))
		fi
		if ! [[ $ip =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]]; then
			kc__err "bad node IP '$ip' in '$word'"
			return 1
		fi
		if [ -n "${cidr:-}" ] && ! [[ $cidr =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]]; then
			kc__err "bad pod CIDR '$cidr' in '$word'"
			return 1
		fi
		[ -n "${seen_ip[$ip]-}" ] && { kc__err "node IP $ip used twice"; return 1; }
		seen_ip[$ip]=1
		[ -n "${cidr:-}" ] || cidr=$KC_POD_NET.$i.0/24
		KC_NODES+=("$name")
		KC_NODE_IDX[$name]=$i
		KC_NODE_ZONE[$name]=$zone
		KC_NODE_IP[$name]=$ip
		KC_NODE_CIDR[$name]=$cidr
		KC_NODE_NS[$name]=$KC_PREFIX$name
	done
	((i > 0)) || { kc__err "no nodes in spec"; return 1; }
}

# The run's own mount of the cgroup v2 hierarchy (under KC_RUNDIR, so
# `ip netns exec`, which mounts a fresh /sys, still sees it) and a group per
# node under a group of the run's.
kc__cgroup_setup() {
	local n m=$KC_RUNDIR/cgroup2
	mkdir -p "$m" || return 1
	mount -t cgroup2 none "$m" 2>/dev/null || kc_skip "cannot mount a cgroup v2 hierarchy"
	KC_CGROUP_DIR=$m/${KC_PREFIX}cluster
	mkdir "$KC_CGROUP_DIR" || return 1
	for n in "${KC_NODES[@]}"; do mkdir "$KC_CGROUP_DIR/$n" || return 1; done
}

# After the namespaces' processes are gone: anything still in a node's group
# (started there by this run) is killed, the groups removed, the mount undone.
kc__cgroup_teardown() {
	local g pid rc=0
	[ -n "$KC_CGROUP_DIR" ] || return 0
	for g in "$KC_CGROUP_DIR"/*/; do
		[ -d "$g" ] || continue
		while read -r pid; do kill -KILL "$pid" 2>/dev/null; done <"$g/cgroup.procs"
		kc_wait_for -t 3 kc__cgroup_empty "$g"
		rmdir "$g" || rc=1
	done
	rmdir "$KC_CGROUP_DIR" || rc=1
	umount "${KC_CGROUP_DIR%/*}" || rc=1
	KC_CGROUP_DIR=""
	return "$rc"
}
kc__cgroup_empty() { [ ! -s "$1/cgroup.procs" ]; }

# kc_cgroup_prefix VAR NAME: sets the array VAR to the words that run a
# command in the cgroup of NAME's node (NAME a node or a pod) with
# KC_CGROUPS=1, or to nothing (otherwise, or for the client).  The words are
# a shell that execs the command, so a background job's $! stays its pid.
kc_cgroup_prefix() {
	local -n kc__pre=$1
	local node=""
	if [ -n "${KC_POD_NODE[$2]-}" ]; then
		node=${KC_POD_NODE[$2]}
	elif [ -n "${KC_NODE_NS[$2]-}" ]; then
		node=$2
	fi
	kc__pre=()
	# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
	[ -n "$KC_CGROUP_DIR" ] && [ -n "$node" ] &&
		kc__pre=(sh -c 'echo $$ >"$0" && exec "$@"' "$KC_CGROUP_DIR/$node/cgroup.procs")
	return 0
}

# kc_in_cgroup NAME CMD...: CMD (as a rule `ip netns exec NS ...`) in the
# cgroup of NAME's node (kc_cgroup_prefix).  Not for a background job whose
# pid is needed: a function runs there in a subshell of its own.
kc_in_cgroup() {
	local pre
	kc_cgroup_prefix pre "$1"
	shift
	"${pre[@]}" "$@"
}

kc__on_exit() {
	local rc=$?
	kc_teardown || { [ "$rc" -eq 0 ] && rc=1; }
	exit "$rc"
}

kc__on_signal() {
	kc_log "caught SIG$1, tearing down"
	kc_teardown
	trap - EXIT
	exit "$2"
}

# kc_setup [SPEC...]: builds the LAN, the nodes and the external client.
# SPEC words are NAME:ZONE[:IP[:PODCIDR]]; default $KC_DEFAULT_SPEC:
# node-a1, node-a2 in zone-a and node-b1 in zone-b.  Without an IP, the
# k-th node of the z-th zone gets $KC_LAN_NET.(10z+k) (.11 .12 .21); the
# i-th node gets pod CIDR $KC_POD_NET.i.0/24.  Installs the teardown traps
# first (unless KC_NO_TRAP=1), so an interrupted setup is cleaned up too.
# Exits with $KC_SKIP_RC when the machine cannot run it; returns 1 on
# other errors (the traps still clean up).
kc_setup() {
	local n other cmds out ports=""
	kc__check_env
	if [ "$KC__STATE" = up ]; then
		kc__err "kc_setup: a cluster is already set up (prefix $KC_PREFIX)"
		return 1
	fi
	KC_PREFIX=${KR_PREFIX:-kr$$-}
	if ! [[ $KC_PREFIX =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$ ]]; then
		kc__err "bad prefix '$KC_PREFIX' (letters, digits, _ . -; at most 31)"
		return 1
	fi
	if [ -n "$(kc__list_ns "$KC_PREFIX")" ]; then
		kc__err "namespaces with prefix '$KC_PREFIX' exist already; not touching them"
		return 1
	fi
	KC_NODES=() KC_PODS=()
	KC_NODE_ZONE=() KC_NODE_IP=() KC_NODE_CIDR=() KC_NODE_NS=() KC_NODE_IDX=()
	KC_POD_NODE=() KC_POD_IP=() KC_POD_NS=() KC_POD_IF=() KC_BACKEND_PID=()
	KC__USED_IP=() KC__PIDS=() KC__POD_SEQ=0
	# shellcheck disable=SC2048,SC2086 # the spec is a word list
	if (($#)); then set -- $*; else set -- $KC_DEFAULT_SPEC; fi
	kc__parse_spec "$@" || return 1

	if [ "${KC_NO_TRAP:-0}" != 1 ]; then
		trap 'kc__on_exit' EXIT
		trap 'kc__on_signal INT 130' INT
		trap 'kc__on_signal TERM 143' TERM
		trap 'kc__on_signal HUP 129' HUP
	fi
	KC__STATE=up
	KC_RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/${KC_PREFIX}XXXXXX") || return 1
	[ "$KC_CGROUPS" = 1 ] && { kc__cgroup_setup || return 1; }
	KC_LAN_NS=${KC_PREFIX}lan
	KC_CLIENT_NS=${KC_PREFIX}client

	# All namespaces at once.  Failing here means this machine cannot,
	# unless a name was taken in the meantime.
	cmds="netns add $KC_LAN_NS"$'\n'"netns add $KC_CLIENT_NS"$'\n'
	for n in "${KC_NODES[@]}"; do cmds+="netns add ${KC_NODE_NS[$n]}"$'\n'; done
	if ! out=$(ip -batch - <<<"$cmds" 2>&1); then
		if [[ $out == *[Ee]xists* ]]; then
			kc__err "creating namespaces: $out"
			return 1
		fi
		kc_skip "cannot create network namespaces: $out"
	fi

	# The LAN: one bridge.  br_netfilter, if loaded on the host, would pass
	# bridged frames through this namespace's iptables; there are no rules
	# here, but turn it off so the LAN is a plain switch.
	ip -n "$KC_LAN_NS" link add br0 type bridge 2>/dev/null ||
		kc_skip "no Linux bridge support in this kernel"
	kc__nsconf "$KC_LAN_NS" '?net.bridge.bridge-nf-call-iptables=0' \
		'?net.bridge.bridge-nf-call-ip6tables=0' '?net.bridge.bridge-nf-call-arptables=0' \
		<<-EOF || return 1
		link set lo up
		link set br0 up
	EOF

	# Nodes.  Sysctls go first, before any interface exists, so each new
	# one inherits "default": forwarding on (a node routes pod traffic) and
	# rp_filter off (a proxy forwards DNATed and asymmetric flows that a
	# strict reverse-path check drops; kube-proxy and Calico relax it too).
	# 169.254.1.1 via eth0 exists only so that proxy ARP answers the pods'
	# gateway: the kernel proxies only addresses routed out another
	# interface (Calico relies on the default route for that).  Nodes have
	# no default route, so a packet to an address nobody owns gets ICMP
	# unreachable at once instead of vanishing.  ICMP errors are not rate
	# limited (icmp_ratelimit=0): with the kernel's default (a burst of 6,
	# then one a second per peer) a REJECT answers only the first few
	# attempts of a quick series and the rest time out like a DROP, so a
	# test could not tell the two apart (kroute issue #18).
	for n in "${KC_NODES[@]}"; do
		cmds="link add eth0 type veth peer name n${KC_NODE_IDX[$n]} netns $KC_LAN_NS
link set lo up
addr add ${KC_NODE_IP[$n]}/24 dev eth0
link set eth0 up
route add $KC_GATEWAY/32 dev eth0 scope link
"
		for other in "${KC_NODES[@]}"; do
			[ "$other" = "$n" ] && continue
			cmds+="route add ${KC_NODE_CIDR[$other]} via ${KC_NODE_IP[$other]} dev eth0"$'\n'
		done
		if ! kc__nsconf "${KC_NODE_NS[$n]}" net.ipv4.ip_forward=1 \
			net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
			net.ipv4.icmp_ratelimit=0 <<<"$cmds"; then
			ip -n "$KC_LAN_NS" link add kcvprobe type veth peer name kcvprobe1 \
				>/dev/null 2>&1 || kc_skip "no veth support in this kernel"
			return 1
		fi
		ports+="link set n${KC_NODE_IDX[$n]} master br0"$'\n'
		ports+="link set n${KC_NODE_IDX[$n]} up"$'\n'
	done

	# The external client: on the LAN, not a node; it reaches service VIPs
	# through the routes kc_client_route adds.
	kc__lan_host "$KC_CLIENT_NS" "$KC_CLIENT_IP" c0 || return 1
	ports+="link set c0 master br0"$'\n'"link set c0 up"$'\n'
	kc__nsconf "$KC_LAN_NS" <<<"$ports" || return 1
}

# kc__lan_host NS IP PORT: NS (not forwarding) gets eth0 with IP/24, its veth
# peer PORT in the LAN namespace (the caller puts it on the bridge).
kc__lan_host() {
	kc__nsconf "$1" net.ipv4.ip_forward=0 <<-EOF
		link add eth0 type veth peer name $3 netns $KC_LAN_NS
		link set lo up
		addr add $2/24 dev eth0
		link set eth0 up
	EOF
}

# kc_add_lan_host NAME IP: a namespace ${KC_PREFIX}NAME on the LAN at IP that
# is neither a node nor the client: a server every node reaches (the test
# API server of tests/system/dataplane/source-api.sh).  Torn down with the
# cluster.  NAME: at most 14 characters (its LAN port is "x" NAME).
kc_add_lan_host() {
	local ns=${KC_PREFIX}${1:-} port=x${1:-}
	[ "$KC__STATE" = up ] || { kc__err "kc_add_lan_host: no cluster (kc_setup first)"; return 1; }
	[[ ${1:-} =~ ^[a-z0-9-]{1,14}$ ]] || { kc__err "bad LAN host name '${1:-}'"; return 1; }
	kc__do ip netns add "$ns" || return 1
	kc__lan_host "$ns" "$2" "$port" || return 1
	kc__nsconf "$KC_LAN_NS" <<<"link set $port master br0"$'\n'"link set $port up"
}

# kc_add_pod NODE POD [IP]: a pod namespace routed from NODE, Calico style:
# POD has IP/32 on eth0 and "default via 169.254.1.1 dev eth0 onlink"; the
# node side (kp<N>) has proxy_arp=1 and a /32 route to IP.  No bridge: every
# pod packet passes through the node's netfilter.  IP defaults to the next
# free address from .10 up in the node's /24.
kc_add_pod() {
	local node=${1:-} pod=${2:-} ip=${3:-} nodens podns ifn base h
	[ "$KC__STATE" = up ] || { kc__err "kc_add_pod: no cluster (kc_setup first)"; return 1; }
	nodens=$(kc_node_ns "$node") || return 1
	if ! [[ $pod =~ ^[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?$ ]]; then
		kc__err "bad pod name '$pod' (a DNS label, at most 42 characters)"
		return 1
	fi
	if [ -n "${KC_POD_NS[$pod]-}" ] || [ -n "${KC_NODE_NS[$pod]-}" ] ||
		[ "$pod" = client ] || [ "$pod" = lan ]; then
		kc__err "name '$pod' is taken"
		return 1
	fi
	if [ -z "$ip" ]; then
		if ! [[ ${KC_NODE_CIDR[$node]} =~ ^([0-9]+\.[0-9]+\.[0-9]+)\.0/24$ ]]; then
			kc__err "node $node's CIDR is not a /24: give the pod IP"
			return 1
		fi
		base=${BASH_REMATCH[1]}
		for ((h = KC_POD_FIRST_HOST; h < 255; h++)); do
			[ -z "${KC__USED_IP[$base.$h]-}" ] && { ip=$base.$h; break; }
		done
		[ -n "$ip" ] || { kc__err "no free address on $node"; return 1; }
	elif ! [[ $ip =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
		kc__err "bad pod IP '$ip'"
		return 1
	fi
	[ -n "${KC__USED_IP[$ip]-}" ] && { kc__err "IP $ip is used by ${KC__USED_IP[$ip]}"; return 1; }

	KC__POD_SEQ=$((KC__POD_SEQ + 1))
	ifn=kp$KC__POD_SEQ
	podns=${KC_PREFIX}pod-$pod
	# Recorded before creation, so a half-made pod is listed too.
	KC_POD_NS[$pod]=$podns
	KC_POD_NODE[$pod]=$node
	KC_POD_IP[$pod]=$ip
	KC_POD_IF[$pod]=$ifn
	KC__USED_IP[$ip]=$pod
	KC_PODS+=("$pod")

	kc__do ip netns add "$podns" || return 1
	kc__nsconf "$podns" net.ipv4.ip_forward=0 <<-EOF || return 1
		link add eth0 type veth peer name $ifn netns $nodens
		link set lo up
		addr add $ip/32 dev eth0
		link set eth0 up
		route add default via $KC_GATEWAY dev eth0 onlink
	EOF
	# proxy_delay=0: answer ARP at once, not after up to 0.8 s.
	kc__nsconf "$nodens" "net.ipv4.conf.$ifn.proxy_arp=1" "net.ipv4.neigh.$ifn.proxy_delay=0" \
		"net.ipv4.conf.$ifn.rp_filter=0" <<-EOF || return 1
		link set $ifn up
		route add $ip/32 dev $ifn scope link
	EOF
}

# Kills every process in the given namespaces: SIGTERM, then SIGKILL after
# $KC_KILL_GRACE seconds.  Appends what it found to KC_TEARDOWN_PIDS.
kc__kill_ns() {
	local pid all=() left deadline
	(($#)) || return 0
	for pid in $(kc__ns_pids "$@"); do
		# Never ourselves, whatever namespace we may have been put in.
		[ "$pid" = $$ ] || [ "$pid" = "$BASHPID" ] && continue
		all+=("$pid")
	done
	((${#all[@]})) || return 0
	KC_TEARDOWN_PIDS+=("${all[@]}")
	kill -TERM "${all[@]}" 2>/dev/null
	kc__deadline deadline "$KC_KILL_GRACE"
	left=("${all[@]}")
	while :; do
		local still=()
		for pid in "${left[@]}"; do kc__alive "$pid" && still+=("$pid"); done
		((${#still[@]})) || break
		left=("${still[@]}")
		if kc__past "$deadline"; then
			kc_log "SIGKILL to ${left[*]} (still running after SIGTERM)"
			kill -KILL "${left[@]}" 2>/dev/null
			kc__deadline deadline 5
		fi
		sleep 0.01
	done
	# Reap our own children (backends) so no zombie is left; for other
	# pids wait just fails.
	for pid in "${all[@]}"; do wait "$pid" 2>/dev/null; done
	return 0
}

# kc_del_pod POD: kills its processes and deletes its namespace (which also
# deletes the veth pair and the node's route to it).
kc_del_pod() {
	local pod=${1:-} ns p keep=()
	ns=$(kc_pod_ns "$pod") || return 1
	kc__kill_ns "$ns"
	kc__do ip netns del "$ns" || return 1
	unset "KC__USED_IP[${KC_POD_IP[$pod]}]"
	unset "KC_POD_NS[$pod]" "KC_POD_NODE[$pod]" "KC_POD_IP[$pod]" "KC_POD_IF[$pod]"
	unset "KC_BACKEND_PID[$pod]"
	for p in "${KC_PODS[@]}"; do [ "$p" != "$pod" ] && keep+=("$p"); done
	KC_PODS=("${keep[@]}")
}

# kc_start_backend NAME [PORT[/tcp|/udp]...]: starts kr-backend in a pod,
# or in a node's own namespace (a hostNetwork pod) when NAME is a node;
# it answers as "pod=NAME".  Default ports: $KC_BACKEND_PORTS (8080 TCP
# and UDP).  Extra kr-backend options: $KC_BACKEND_ARGS.  Returns once it
# listens on every port; its log is $KC_RUNDIR/NAME.log.  One per NAME.
kc_start_backend() {
	local name=${1:-} ns p tcp=() udp=() args pid ready log deadline pre
	ns=$(kc_ns "$name") || return 1
	shift
	[ -n "${KR_BACKEND:-}" ] || kc_find_tools || return 1
	if [ -n "${KC_BACKEND_PID[$name]-}" ]; then
		kc__err "a backend runs in $name already (kc_stop_backend first)"
		return 1
	fi
	# shellcheck disable=SC2086 # a word list
	(($#)) || set -- $KC_BACKEND_PORTS
	for p; do
		if ! [[ $p =~ ^([0-9]+)(/(tcp|TCP|udp|UDP))?$ ]]; then
			kc__err "bad port '$p' (PORT, PORT/tcp or PORT/udp)"
			return 1
		fi
		case ${BASH_REMATCH[3]} in
		udp | UDP) udp+=("${BASH_REMATCH[1]}") ;;
		*) tcp+=("${BASH_REMATCH[1]}") ;;
		esac
	done
	ready=$KC_RUNDIR/$name.ready
	log=$KC_RUNDIR/$name.log
	args=(--name "$name" --ready-file "$ready")
	((${#tcp[@]})) && args+=(--tcp "$(IFS=,; echo "${tcp[*]}")")
	((${#udp[@]})) && args+=(--udp "$(IFS=,; echo "${udp[*]}")")
	rm -f "$ready"
	# `ip netns exec` execs the command, so $! is kr-backend itself.
	# shellcheck disable=SC2086 # extra options are a word list
	kc_cgroup_prefix pre "$name"
	"${pre[@]}" ip netns exec "$ns" "$KR_BACKEND" "${args[@]}" ${KC_BACKEND_ARGS:-} \
		</dev/null >>"$log" 2>&1 &
	pid=$!
	KC_BACKEND_PID[$name]=$pid
	KC__PIDS+=("$pid")
	kc__deadline deadline "$KC_WAIT_TIMEOUT"
	while [ ! -s "$ready" ]; do
		if ! kc__alive "$pid"; then
			wait "$pid" 2>/dev/null
			unset "KC_BACKEND_PID[$name]"
			kc__err "kr-backend in $name exited: $(tail -n 8 "$log")"
			return 1
		fi
		if kc__past "$deadline"; then
			kc__err "kr-backend in $name not ready after ${KC_WAIT_TIMEOUT}s"
			return 1
		fi
		sleep 0.005
	done
}

# kc_stop_backend NAME: SIGTERM and wait; returns kr-backend's exit status
# (0 when it shut down cleanly; 137 if it had to be killed).
kc_stop_backend() {
	local name=${1:-} pid deadline
	pid=${KC_BACKEND_PID[$name]-}
	[ -n "$pid" ] || { kc__err "no backend running in '$name'"; return 1; }
	unset "KC_BACKEND_PID[$name]"
	kill -TERM "$pid" 2>/dev/null
	kc__deadline deadline "$KC_KILL_GRACE"
	while kc__alive "$pid"; do
		if kc__past "$deadline"; then
			kill -KILL "$pid" 2>/dev/null
			break
		fi
		sleep 0.01
	done
	wait "$pid" 2>/dev/null
}

# kc_client_route VIP[/LEN] NODE: the external client sends traffic for VIP
# (a LoadBalancer IP, externalIP or, for tests, a cluster IP) to NODE, as an
# upstream router would.
kc_client_route() {
	local vip=${1:-} node=${2:-} ip
	ip=$(kc_node_ip "$node") || return 1
	[[ $vip == */* ]] || vip=$vip/32
	kc__ip "$KC_CLIENT_NS" route replace "$vip" via "$ip" dev eth0
}

# kc_client_unroute VIP[/LEN]
kc_client_unroute() {
	local vip=${1:-}
	[[ $vip == */* ]] || vip=$vip/32
	kc__ip "$KC_CLIENT_NS" route del "$vip"
}

# kc_blackhole NAME [on|off]: silently drop every packet to NAME (a DROP,
# so senders see "timeout"), or stop doing so.  Two ways:
#   nft    a table "inet kc_blackhole" in NAME's namespace dropping all of
#          prerouting (so forwarded traffic too); any pod, node or client;
#   route  for a pod only: its /32 route on its node becomes a blackhole
#          route, which drops forwarded packets without an ICMP error (the
#          node itself gets EINVAL instead); needs nothing but ip.
# Default nft when nft is installed, else route; KC_BLACKHOLE_WITH chooses.
kc_blackhole() {
	local name=${1:-} ns how=${KC_BLACKHOLE_WITH:-} mode=${2:-on} nodens
	ns=$(kc_ns "$name") || return 1
	if [ -z "$how" ]; then
		how=route
		command -v nft >/dev/null 2>&1 && how=nft
	fi
	if [ "$how" = route ]; then
		if [ -z "${KC_POD_NODE[$name]-}" ]; then
			kc__err "kc_blackhole $name: without nft only pods can be blackholed"
			return 1
		fi
		nodens=${KC_NODE_NS[${KC_POD_NODE[$name]}]}
	fi
	case $how/$mode in
	nft/on)
		kc__do ip netns exec "$ns" nft -f - <<-'EOF'
			table inet kc_blackhole {
				chain pre {
					type filter hook prerouting priority -300; policy drop;
				}
			}
		EOF
		;;
	nft/off) kc__do ip netns exec "$ns" nft delete table inet kc_blackhole ;;
	route/on) kc__ip "$nodens" route replace blackhole "${KC_POD_IP[$name]}/32" ;;
	route/off)
		kc__ip "$nodens" route replace "${KC_POD_IP[$name]}/32" dev "${KC_POD_IF[$name]}" \
			scope link
		;;
	*) kc__err "kc_blackhole: bad way or mode '$how/$mode' (nft|route, on|off)"; return 1 ;;
	esac
}

# kc_write_manifests DIR: writes DIR/nodes.yaml, the cluster's Node objects
# (name, hostname and zone labels, podCIDR(s), InternalIP), as kubectl
# prints them, so kroute can be given the same cluster (-f DIR).
kc_write_manifests() {
	local dir=${1:-} n f
	[ -n "$dir" ] || { kc__err "kc_write_manifests DIR"; return 1; }
	[ "$KC__STATE" = up ] || { kc__err "kc_write_manifests: no cluster"; return 1; }
	mkdir -p "$dir" || return 1
	f=$dir/nodes.yaml
	{
		echo "# The test cluster's nodes, written by tests/cluster/lib.sh."
		echo "apiVersion: v1"
		echo "kind: List"
		echo "items:"
		for n in "${KC_NODES[@]}"; do
			cat <<-EOF
				- apiVersion: v1
				  kind: Node
				  metadata:
				    name: $n
				    labels:
				      kubernetes.io/hostname: $n
				      kubernetes.io/os: linux
				      topology.kubernetes.io/zone: ${KC_NODE_ZONE[$n]}
				  spec:
				    podCIDR: ${KC_NODE_CIDR[$n]}
				    podCIDRs: [${KC_NODE_CIDR[$n]}]
				  status:
				    addresses:
				    - {type: InternalIP, address: ${KC_NODE_IP[$n]}}
				    - {type: Hostname, address: $n}
			EOF
		done
	} >"$f.tmp" && mv "$f.tmp" "$f"
}

# kc_write_endpointslice DIR NAMESPACE/SERVICE PORT[/PROTO][:NAME] POD[:STATE][@ZONE[,ZONE]]...
# writes DIR/endpointslice-NAMESPACE-SERVICE.yaml (replacing it): one IPv4
# EndpointSlice for SERVICE with each pod's IP, nodeName and zone.  A node
# name instead of a pod stands for a hostNetwork pod on it (the node's IP).
# STATE: ready (default), notready, or terminating (serving, terminating).
# @ZONE,...: the endpoint's topology hints (hints.forZones), as the
# EndpointSlice controller writes them for topology-aware routing.
kc_write_endpointslice() {
	local dir=${1:-} key=${2:-} spec=${3:-} ns svc port proto pname e name state ip node
	local ready serving term f hints z h
	if [ -z "$dir" ] || [[ $key != ?*/?* ]] || [ -z "$spec" ]; then
		kc__err "usage: kc_write_endpointslice DIR NS/SVC PORT[/PROTO][:NAME] POD[:STATE]..."
		return 1
	fi
	shift 3
	ns=${key%%/*}
	svc=${key#*/}
	pname=""
	[[ $spec == *:* ]] && { pname=${spec#*:}; spec=${spec%%:*}; }
	port=${spec%%/*}
	proto=TCP
	[[ $spec == */* ]] && proto=${spec#*/}
	proto=${proto^^}
	if ! [[ $port =~ ^[0-9]+$ ]] || ! [[ $proto =~ ^(TCP|UDP|SCTP)$ ]]; then
		kc__err "bad port '$spec'"
		return 1
	fi
	mkdir -p "$dir" || return 1
	f=$dir/endpointslice-$ns-$svc.yaml
	{
		echo "# Written by tests/cluster/lib.sh (kc_write_endpointslice)."
		echo "apiVersion: discovery.k8s.io/v1"
		echo "kind: EndpointSlice"
		echo "metadata:"
		echo "  name: $svc-kc"
		echo "  namespace: $ns"
		echo "  labels: {kubernetes.io/service-name: $svc}"
		echo "addressType: IPv4"
		if [ -n "$pname" ]; then
			echo "ports: [{name: $pname, protocol: $proto, port: $port}]"
		else
			echo "ports: [{protocol: $proto, port: $port}]"
		fi
		(($#)) && echo "endpoints:" || echo "endpoints: []"
		for e; do
			hints=""
			[[ $e == *@* ]] && { hints=${e#*@}; e=${e%%@*}; }
			name=${e%%:*}
			state=ready
			[[ $e == *:* ]] && state=${e#*:}
			case $state in
			ready) ready=true serving=true term=false ;;
			notready) ready=false serving=false term=false ;;
			terminating) ready=false serving=true term=true ;;
			*) kc__err "bad endpoint state '$state'"; return 1 ;;
			esac
			if [ -n "${KC_POD_IP[$name]-}" ]; then
				ip=${KC_POD_IP[$name]}
				node=${KC_POD_NODE[$name]}
			elif [ -n "${KC_NODE_IP[$name]-}" ]; then
				ip=${KC_NODE_IP[$name]}
				node=$name
			else
				kc__err "no pod or node '$name'"
				return 1
			fi
			echo "- addresses: [$ip]"
			echo "  conditions: {ready: $ready, serving: $serving, terminating: $term}"
			echo "  nodeName: $node"
			echo "  zone: ${KC_NODE_ZONE[$node]}"
			if [ -n "$hints" ]; then
				z=""
				for h in ${hints//,/ }; do z+="${z:+, }{name: $h}"; done
				echo "  hints: {forZones: [$z]}"
			fi
			if [ -n "${KC_POD_IP[$name]-}" ]; then
				echo "  targetRef: {kind: Pod, namespace: $ns, name: $name}"
			fi
		done
	} >"$f.tmp" && mv "$f.tmp" "$f"
}

# kc_teardown_prefix PREFIX: kills every process in the namespaces named
# PREFIX* and deletes them.  Returns 1 if any is left.
kc_teardown_prefix() {
	local prefix=${1:-} all=() ns out
	[ -n "$prefix" ] || return 0
	mapfile -t all < <(kc__list_ns "$prefix")
	((${#all[@]})) || return 0
	kc__kill_ns "${all[@]}"
	out=$(for ns in "${all[@]}"; do echo "netns del $ns"; done | ip -force -batch - 2>&1) ||
		kc_log "netns del: $out"
	if [ -n "$(kc__list_ns "$prefix")" ]; then
		kc__err "namespaces left behind: $(kc__list_ns "$prefix" | tr '\n' ' ')"
		return 1
	fi
}

# kc_teardown: evals KC_TEARDOWN_HOOKS, kills every process in this run's
# namespaces, deletes them and the run directory (kept if KC_KEEP_RUNDIR=1).
# Idempotent; safe on a half-built cluster and from traps.  INT, TERM and
# HUP are ignored while it runs, so a second Ctrl-C cannot cut it short.
kc_teardown() {
	local rc=0 h pid
	trap '' INT TERM HUP
	if [ "$KC__STATE" = up ]; then
		for h in "${KC_TEARDOWN_HOOKS[@]}"; do
			eval "$h" || kc_log "teardown hook failed: $h"
		done
	fi
	KC_TEARDOWN_PIDS=()
	kc_teardown_prefix "$KC_PREFIX" || rc=1
	# Backends are our children: reap them even if one left its namespace.
	for pid in "${KC__PIDS[@]}"; do
		kc__alive "$pid" && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	KC__PIDS=()
	KC_BACKEND_PID=()
	kc__cgroup_teardown || rc=1
	if [ -n "$KC_RUNDIR" ] && [ -d "$KC_RUNDIR" ]; then
		if [ "${KC_KEEP_RUNDIR:-0}" = 1 ]; then
			kc_log "kept $KC_RUNDIR"
		elif [[ $KC_RUNDIR == "${TMPDIR:-/tmp}/$KC_PREFIX"* ]]; then
			rm -rf -- "$KC_RUNDIR"
		fi
	fi
	KC_RUNDIR=""
	KC__STATE=down
	trap - INT TERM HUP
	return "$rc"
}

# kc_cleanup_stale: deletes what earlier runs left when they died without
# tearing down (SIGKILL, a crash): namespaces and run directories with the
# default prefix kr<PID>- whose PID no longer exists.
kc_cleanup_stale() {
	local name pid d seen=" " rc=0
	while read -r name; do
		[[ $name =~ ^kr([0-9]+)- ]] || continue
		pid=${BASH_REMATCH[1]}
		[[ $seen == *" $pid "* ]] && continue
		seen+="$pid "
		[ -e "/proc/$pid" ] && continue
		kc_log "removing stale namespaces kr$pid-*"
		kc_teardown_prefix "kr$pid-" || rc=1
	done < <(kc__list_ns kr)
	for d in "${TMPDIR:-/tmp}"/kr[0-9]*-??????; do
		[ -d "$d" ] || continue
		[[ ${d##*/} =~ ^kr([0-9]+)-[A-Za-z0-9]{6}$ ]] || continue
		[ -e "/proc/${BASH_REMATCH[1]}" ] && continue
		kc_log "removing stale run directory $d"
		rm -rf -- "$d"
	done
	return "$rc"
}
