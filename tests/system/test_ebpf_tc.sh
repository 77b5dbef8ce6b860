#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The ebpf mode's tc program, packet in -> packet out (BPF_PROG_TEST_RUN,
# tc_nat_run.c): DNAT and SNAT for ETP Cluster (SNAT ports from the range the
# runner sets, filled, timed-out flows giving theirs up), DNAT only for ETP Local,
# replies translated back, a second client's SNAT port, UDP with and without
# a checksum, IPv6, loadBalancerSourceRanges, drop, reject (an ICMP port
# unreachable; for IPv6 an ICMPv6 one, quoting up to the 1280-byte minimum
# MTU), ICMP errors about a translated flow (an endpoint's port unreachable,
# a router's fragmentation needed, IPv6 packet too big, a client's error
# about a reply) translated outer and quoted headers both, errors about no
# flow untouched, a packet to no service untouched, a flow moving off a
# replaced endpoint; every checksum recomputed.  The program's FIB lookups
# (the SNAT address, the way out) use the routes of a namespace of the
# test's own: the node 192.168.50.12 / fd00:50::12 on eth0, a node's pods
# 10.244.2.0/24 behind 192.168.50.13, a local pod 10.244.1.5 on eth1.
#
# usage: test_ebpf_tc.sh TC_NAT_RUN BPF-OBJECT   (root; exit 77 = skip otherwise)
set -u
RUNNER=${1:?usage: $0 TC_NAT_RUN BPF-OBJECT}
OBJ=${2:?}
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krebpftc-$$
TMP=$(mktemp -d)
PIDS=()
st_init ebpf_tc st_cleanup_ns ip

st_node_ns 192.168.50.12/24
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 ||
	die "sysctl forwarding"
ip -n "$NS" addr add fd00:50::12/64 dev eth0 nodad
ip -n "$NS" route add 10.244.2.0/24 via 192.168.50.13 dev eth0
ip -n "$NS" route add 10.244.1.5/32 dev eth1 scope link
ip -n "$NS" route add fd00:244:2::/64 via fd00:50::13 dev eth0

out=$(nx "$RUNNER" "$OBJ" eth0 2>&1)
rc=$?
echo "$out"
if [ "$rc" = 0 ] && [[ $out =~ tc_nat:\ ([0-9]+)\ passed,\ 0\ failed ]]; then
	pass=${BASH_REMATCH[1]}
else
	fail=$((fail + 1))
fi
st_finish
