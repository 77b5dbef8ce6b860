# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The userspace mode for the data-plane tests (test_dataplane.sh,
# test_ipv6.sh): kroute is the proxy; service addresses live on the kroute0
# interface, an nft table and a fwmark routing table steer traffic to its
# listeners.

# Capabilities (dataplane/README.md lists them all):
#   retry              a connection to an endpoint that refuses or does not
#                      answer is retried on another one
#   accept-first       the client's connection is accepted before an endpoint
#                      is connected, so an endpoint's refusal becomes a reset
#   passive-health     failing endpoints are ejected, logged and shown in the
#                      status file (status_file NODE)
#   weights            kroute.io/endpoint-weights is honoured
#   lc                 the least-connections scheduler counts live connections
#   rr-order           kroute.io/scheduler: rr picks endpoints in turn
#   grace-period       established connections outlive their endpoint's
#                      removal by GRACE seconds, then are closed
#   fd-per-connection  every connection costs the agent file descriptors
#   host-endpoint-masq an endpoint on this node's own address sees the node's
#                      address, not the client's (docs/userspace.md)
#   node-passes-source-ranges  the node's own connections to an LB IP pass its
#                      loadBalancerSourceRanges (docs/userspace.md)
#   localhost-nodeports  NodePorts answer on 127.0.0.1
#   affinity-timeout     ClientIP affinity ends timeoutSeconds after the client's last new connection
#   from-outside       traffic from outside the node (the external client) is handled
#   remote-hairpin     a pod on another node reaching itself through this node's
#                      ETP=Local NodePort is masqueraded (its connection works)
MODE_CAPS=(retry accept-first passive-health weights lc rr-order grace-period fd-per-connection host-endpoint-masq
	node-passes-source-ranges localhost-nodeports affinity-timeout from-outside remote-hairpin)
MODE_CMDS=(iptables-save iptables-restore conntrack nft ss)

GRACE=3
status_file() { echo "$DP_DIR/status-$1.json"; }

mode_start() {
	kroute_run "$1" --mode userspace --userspace-grace-period "${GRACE}s" \
		--userspace-status-file "$(status_file "$1")" --userspace-connect-timeout 300ms
}

mode_leftovers() {
	local n=$1
	echo "$(dp_exec "$n" iptables-save | grep -c -- 'KUBE-') KUBE- rules or chains"
	echo "$(dp_exec "$n" ip -br link show kroute0 2>/dev/null | wc -l) kroute0 interface"
	echo "$(dp_exec "$n" nft list tables | grep -c kroute_userspace) nft table"
	echo "$(dp_exec "$n" ip rule show | grep -c 'lookup 4751') fwmark rule"
	echo "$(dp_exec "$n" ip route show table 4751 2>/dev/null | wc -l) routes in table 4751"
	echo "$(dp_exec "$n" ss -Hltnu | wc -l) listener"
}
