# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The real kube-proxy in iptables mode (kube-proxy.sh): the reference for
# kroute's modes.  Needs DP_SOURCE=api.

# shellcheck source=kube-proxy.sh
. "$DP_DATA/kube-proxy.sh"
MODE_CMDS+=(iptables-save iptables-restore conntrack)
# iptables.localhostNodePorts defaults to true: NodePorts answer on 127.0.0.1.
MODE_CAPS+=(localhost-nodeports remote-hairpin)

mode_start() { kube_proxy_start "$1" iptables; }

# mode_leftovers NODE: after kube-proxy --cleanup, its KUBE-* chains.  It
# leaves KUBE-FIREWALL (the 127.0.0.0/8 guard, a chain kubelet makes too) and
# its jumps: that one is not counted.
mode_leftovers() {
	echo "$(dp_exec "$1" iptables-save | grep -- 'KUBE-' | grep -vc -- 'KUBE-FIREWALL') KUBE- rules or chains but KUBE-FIREWALL"
}

# mode_diagnose NODE SERVICE: NODE's NAT rules for the service (kube-proxy
# names it t/SERVICE in its comments) and the last syncs of its log, shown
# when a probe fails the reference once (engine.sh: scenario).
mode_diagnose() {
	dp_exec "$1" iptables-save -t nat | grep -F -- "t/$2:"
	grep -F -- "$MODE_SYNC_LOG" "$DP_DIR/kroute-$1.log" | tail -n 3
}
