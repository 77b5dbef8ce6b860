# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The real kube-proxy in iptables mode (kube-proxy.sh): the reference for
# kroute's modes.  Needs DP_SOURCE=api.

# shellcheck source=kube-proxy.sh
. "$DP_DATA/kube-proxy.sh"
MODE_CMDS+=(iptables-save iptables-restore conntrack)
# iptables.localhostNodePorts defaults to true: NodePorts answer on 127.0.0.1.
MODE_CAPS+=(localhost-nodeports)

mode_start() { kube_proxy_start "$1" iptables; }

# mode_leftovers NODE: after kube-proxy --cleanup, its KUBE-* chains.  It
# leaves KUBE-FIREWALL (the 127.0.0.0/8 guard, a chain kubelet makes too) and
# its jumps: that one is not counted.
mode_leftovers() {
	echo "$(dp_exec "$1" iptables-save | grep -- 'KUBE-' | grep -vc -- 'KUBE-FIREWALL') KUBE- rules or chains but KUBE-FIREWALL"
}
