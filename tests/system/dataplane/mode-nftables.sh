# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The nftables mode for the data-plane tests (test_dataplane.sh,
# test_ipv6.sh): one nf_tables table per family (ip kroute, ip6 kroute),
# written over netlink; verdict maps dispatch, the NAT is the kernel's.

# Capabilities (dataplane/README.md lists them all):
#   kernel-nat   the rules stay in the kernel and keep forwarding after kroute exits
#   weights      kroute.io/endpoint-weights is honoured (numgen slots per weight)
#   localhost-nodeports  NodePorts answer on 127.0.0.1
#   affinity-timeout     ClientIP affinity ends timeoutSeconds after the client's last new connection
#   from-outside       traffic from outside the node (the external client) is handled
#   icmp-related       an ICMP error about a NATed flow reaches its sender translated (conntrack)
MODE_CAPS=(kernel-nat weights localhost-nodeports affinity-timeout from-outside icmp-related remote-hairpin)
# Commands the mode (or its checks) needs; the test skips without them.
MODE_CMDS=(nft conntrack)

# mode_start NODE: starts kroute on NODE (the engine waits for its sync).
mode_start() {
	kroute_run "$1" --mode nftables
}

# mode_leftovers NODE: after `kroute cleanup`, one line per kind of state
# the mode installs: COUNT WHAT (every COUNT must be 0).
mode_leftovers() {
	echo "$(dp_exec "$1" nft list tables | grep -cw kroute) kroute nft tables"
}
