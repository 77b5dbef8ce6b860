# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The IPVS mode for the data-plane tests (test_dataplane.sh, test_ipv6.sh):
# the kernel's IP Virtual Server balances (virtual services over generic
# netlink, NAT forwarding), service addresses live on kube-ipvs0, and one nft
# table per family (kroute_ipvs) drops, rejects and marks for masquerade.
# Needs a kernel with IPVS: run it inside tests/ipvs/in-guest.sh.

# Capabilities (dataplane/README.md lists them all):
#   kernel-nat   IPVS keeps forwarding after kroute exits
#   weights      kroute.io/endpoint-weights is honoured (real server weights)
#   lc           lc is the kernel's least-connection scheduler, counting live connections
#   rr-order     rr is the kernel's round robin, in turn whatever is open
#   remote-hairpin  a pod on another node reaching itself through this node's
#                ETP=Local NodePort is masqueraded here (svc_loopback)
MODE_CAPS=(kernel-nat weights lc rr-order from-outside remote-hairpin)
MODE_CMDS=(ipvsadm nft conntrack)

mode_start() {
	kroute_run "$1" --mode ipvs
}

mode_leftovers() {
	local n=$1
	echo "$(dp_exec "$n" ipvsadm -Ln | grep -cE '^(TCP|UDP|SCTP|FWM) ') virtual services"
	echo "$(dp_exec "$n" ip -br link show kube-ipvs0 2>/dev/null | wc -l) kube-ipvs0 interface"
	echo "$(dp_exec "$n" nft list tables | grep -cw kroute_ipvs) nft tables"
}
