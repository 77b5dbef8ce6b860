# SPDX-License-Identifier: Apache-2.0
# Shared by the standalone system tests (sourced): the skip rules, one set of
# traps, the pass/fail counters and check().  The scenario tests have their
# own engine (dataplane/engine.sh).
#
#   st_init NAME CLEANUP_FN TOOL...   skips (exit $KC_SKIP_RC, 77) without root
#                                     or a tool; CLEANUP_FN runs on every exit
#   check WHAT GOT WANT               counts a pass, or prints the failure
#   die MESSAGE                       fails the whole test at once
#   st_stop PID...                    TERM, then wait for, each process
#   st_cleanup_ns                     a CLEANUP_FN: st_stop PIDS, delete $NS, remove $TMP
#   st_node_ns CIDR                   creates $NS: lo, and eth0 (veth) holding CIDR
#   nx CMD...                         runs CMD in $NS
#   st_cgroup_bpffs                   mounts a cgroup v2 at $TMP/cg and a bpffs at $TMP/bpf (skips without)
#   st_cgroup_bpffs_done              unmounts them (for a CLEANUP_FN)
#   st_finish                         the closing line; the exit status
ST_SKIP=${KC_SKIP_RC:-77}
ST_NAME=test
pass=0
fail=0

st_init() {
	local c
	ST_NAME=$1
	# Traps first: a skip still removes what the script made before st_init.
	# shellcheck disable=SC2064 # the cleanup function's name is fixed now
	trap "$2" EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit "$ST_SKIP"; }
	for c in "${@:3}"; do
		command -v "$c" >/dev/null || { echo "skip: no $c"; exit "$ST_SKIP"; }
	done
}

check() {
	if [ "$2" = "$3" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1: got '$2', want '$3'"
	fi
}

die() { echo "$ST_NAME: $*" >&2; exit 1; }

# st_stop PID...: TERM every one, then wait for each (for cleanup functions).
st_stop() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do wait "$p" 2>/dev/null; done
}

# nx CMD...: runs CMD inside $NS.
nx() { ip netns exec "$NS" "$@"; }

# st_node_ns CIDR: creates $NS, a node with lo up and eth0 holding CIDR (a
# veth whose peer, eth1, stays in the namespace: a link that is up, no traffic).
st_node_ns() {
	ip netns add "$NS" || die "ip netns add $NS"
	ip -n "$NS" link set lo up
	ip -n "$NS" link add eth0 type veth peer name eth1
	ip -n "$NS" addr add "$1" dev eth0
	ip -n "$NS" link set eth0 up
	ip -n "$NS" link set eth1 up
}

# The cleanup of a test with one namespace $NS, a temporary directory $TMP and
# background processes in the array PIDS: give its name to st_init.
st_cleanup_ns() {
	st_stop "${PIDS[@]}"
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}

st_cgroup_bpffs() {
	mkdir -p "$TMP/cg" "$TMP/bpf"
	mount -t cgroup2 none "$TMP/cg" || { echo "skip: cannot mount cgroup v2"; exit "$ST_SKIP"; }
	mount -t bpf bpf "$TMP/bpf" || { echo "skip: cannot mount a bpffs"; exit "$ST_SKIP"; }
}
st_cgroup_bpffs_done() {
	if mountpoint -q "$TMP/cg"; then umount "$TMP/cg"; fi
	if mountpoint -q "$TMP/bpf"; then umount "$TMP/bpf"; fi
}

st_finish() {
	echo "$ST_NAME: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
