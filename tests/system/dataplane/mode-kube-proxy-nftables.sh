# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The real kube-proxy in nftables mode (kube-proxy.sh): the reference for
# kroute's modes.  Needs DP_SOURCE=api.

# shellcheck source=kube-proxy.sh
. "$DP_DATA/kube-proxy.sh"
MODE_CMDS+=(nft conntrack)

mode_start() { kube_proxy_start "$1" nftables; }

# mode_leftovers NODE: after kube-proxy --cleanup, its tables (ip and ip6 kube-proxy).
mode_leftovers() {
	echo "$(dp_exec "$1" nft list tables | grep -c kube-proxy) kube-proxy nft tables"
}

# mode_diagnose NODE SERVICE: NODE's kube-proxy chains for the service
# (named after t/SERVICE) and the last syncs of its log, shown when a probe
# fails the reference once (engine.sh: scenario).
mode_diagnose() {
	dp_exec "$1" nft list table ip kube-proxy |
		awk -v name="t/$2/" '/^\tchain / && index($0, name) { p = 1 } p { print } /^\t}/ { p = 0 }'
	grep -F -- "$MODE_SYNC_LOG" "$DP_DIR/kroute-$1.log" | tail -n 3
}
