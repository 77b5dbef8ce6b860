# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The ebpf mode for the data-plane tests (test_dataplane.sh): cgroup v2
# socket programs translate service addresses at connect() and sendmsg().
# They see the sockets of the processes in the node's cgroup only, so every
# node gets a cgroup of its own (KC_CGROUPS=1: tests/cluster/lib.sh starts a
# node's and its pods' processes in it), and kroute pins its maps and links
# on a bpffs of the test's own.  The host's cgroups and /sys/fs/bpf are not
# touched.

# Capabilities (dataplane/README.md lists them all):
#   kernel-nat   the programs stay attached (pinned links) and keep
#                translating after kroute exits
#   from-outside the external client's packets to a NodePort, an LB IP or an
#                external IP go through the tc program (on every interface of
#                the node's namespace but lo: the default of --tc-devices)
#   icmp-related an ICMP error about a flow the tc program translated (an
#                endpoint's port unreachable) reaches its sender translated
#   localhost-nodeports  NodePorts answer on 127.0.0.1 (translated at connect)
#   affinity-timeout     ClientIP affinity ends timeoutSeconds after the client's last new connection
#   socket-lb    translation at the socket, not on the packet's path: no
#                masquerade for in-cluster clients (a pod keeps its own
#                address, hairpin included) and loadBalancerSourceRanges
#                are not checked for them (rows marked !socket-lb)
MODE_CAPS=(kernel-nat localhost-nodeports affinity-timeout socket-lb from-outside icmp-related)
MODE_CMDS=(bpftool)
KC_CGROUPS=1

# The bpffs of the test (mounted at the first start, gone at teardown).
ebpf_bpf_root() { echo "$DP_DIR/bpffs/$1"; }
ebpf_bpffs() {
	[ -d "$DP_DIR/bpffs" ] && return 0
	mkdir -p "$DP_DIR/bpffs" && mount -t bpf bpf "$DP_DIR/bpffs" || return 1
	KC_TEARDOWN_HOOKS+=("umount -l '$DP_DIR/bpffs'")
}

# mode_start NODE: starts kroute on NODE (the engine waits for its sync).
mode_start() {
	ebpf_bpffs || { bad "cannot mount a bpffs under $DP_DIR"; return 1; }
	kroute_run "$1" --mode ebpf --bpf-root "$(ebpf_bpf_root "$1")" \
		--cgroup-root "$KC_CGROUP_DIR/$1"
}

# mode_cleanup NODE: kroute cleanup finds the node's bpffs directory by $KROUTE_BPF_ROOT.
mode_cleanup() {
	KROUTE_BPF_ROOT=$(ebpf_bpf_root "$1") dp_exec "$1" "$KROUTE" cleanup
}

# mode_leftovers NODE: after `kroute cleanup`, one line per kind of state
# the mode installs: COUNT WHAT (every COUNT must be 0).
mode_leftovers() {
	local root
	root=$(ebpf_bpf_root "$1")
	echo "$(find "$root" -mindepth 1 2>/dev/null | wc -l) pinned maps or links (the tc program's tcx links too)"
	echo "$(bpftool cgroup show "$KC_CGROUP_DIR/$1" 2>/dev/null | grep -c kr_) programs attached to the node's cgroup"
}
