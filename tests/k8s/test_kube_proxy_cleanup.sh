#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `kroute cleanup --kube-proxy` against the rules the real kube-proxy programs
# (built with the control plane, tests/k8s/build.sh), all inside a network
# namespace this test creates, with the control plane in it:
# - kube-proxy --proxy-mode iptables programs the examples (both families);
#   the test adds rules of its own (a filter chain and its jump, a nat chain
#   named KUBE-MINE and its jump, an nft table, a link); from that same state,
#   `kube-proxy --cleanup` and `kroute cleanup --kube-proxy` leave exactly the
#   same iptables rules in both families, nothing of kube-proxy's chains
#   remains, and what the test added stays;
# - plain `kroute cleanup` on that state removes kube-proxy's chains but the
#   three KUBE-PROXY-CANARY chains, and removes KUBE-FIREWALL (kroute's
#   iptables mode owns chains of the same names; docs/deploy.md);
# - kube-proxy --proxy-mode nftables: its tables `ip kube-proxy` and
#   `ip6 kube-proxy` go; an IPVS-style kube-ipvs0 link goes; the rest stays.
# Usage: test_kube_proxy_cleanup.sh KROUTE   (root; exits 77 when not root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nslib.sh
. "$here/nslib.sh" "$@"
ns_start kpclean
kube_proxy=$("$here/build.sh" --print-bin)/kube-proxy
[ -x "$kube_proxy" ] || { bad "no kube-proxy at $kube_proxy"; finish; }
kubectl create namespace shop >/dev/null || bad "kubectl create namespace shop"
for f in "$src"/examples/cluster/*.yaml; do
	kubectl apply -f "$f" >/dev/null 2>&1 || bad "kubectl apply -f $f"
done

# run_kube_proxy MODE READY: kube-proxy as node-a1 until its rules are in (READY,
# a command, succeeds: polled), then stopped (it leaves its rules, as on a node).
# Conntrack sysctls are left alone: a namespace cannot set the global ones.
run_kube_proxy() {
	local mode=$1 ready=$2 i
	cat >"$tmp/kube-proxy.conf" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $kc
mode: $mode
hostnameOverride: node-a1
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
  udpTimeout: 0s
  udpStreamTimeout: 0s
EOF
	# ip netns exec execs kube-proxy, so $! is kube-proxy itself (a function would fork).
	ip netns exec "$ns" "$kube_proxy" --config "$tmp/kube-proxy.conf" >"$tmp/kube-proxy-$mode.log" 2>&1 &
	agent=$!
	for i in $(seq 150); do
		"$ready" && break
		sleep 0.2
	done
	kill "$agent"
	wait "$agent" 2>/dev/null
	agent=
	"$ready" && ok ||
		bad "kube-proxy --proxy-mode $mode did not program its rules: $(tail -5 "$tmp/kube-proxy-$mode.log")"
}
# rules FAMILY: the family's iptables-save without comments and counters.
rules() { in_ns "$1-save" | grep -v '^#' | sed 's/ \[[0-9]*:[0-9]*\]$//'; }
both() { rules iptables && echo "--- ip6" && rules ip6tables; }
restore_state() {
	in_ns iptables-restore <"$tmp/state4" && in_ns ip6tables-restore <"$tmp/state6" ||
		bad "restoring the saved state"
}

# --- iptables mode ------------------------------------------------------------
# Both families synced: the IPv4 rules of a service, and the rule every IPv6 sync
# ends KUBE-SERVICES with (kube-proxy syncs the families one after the other).
# (Read whole: grep -q closing the pipe early would fail the pipeline under pipefail.)
iptables_ready() {
	has_rule "default/abc-svc -> 10.244.1.10:8080" &&
		grep -qF "kubernetes service nodeports; NOTE: this must be the last rule" \
			<<<"$(in_ns ip6tables-save -t nat 2>/dev/null)"
}
run_kube_proxy iptables iptables_ready
# The test's own: they must stay.
in_ns iptables -N MY-FW && in_ns iptables -I INPUT -j MY-FW &&
	in_ns iptables -A MY-FW -p tcp --dport 9 -j DROP &&
	in_ns iptables -t nat -N KUBE-MINE && in_ns iptables -t nat -A OUTPUT -j KUBE-MINE &&
	in_ns ip6tables -N MY-FW6 && in_ns ip6tables -A INPUT -j MY-FW6 &&
	in_ns nft add table inet keepme || bad "adding the test's own rules"
in_ns iptables-save >"$tmp/state4"
in_ns ip6tables-save >"$tmp/state6"
n=$(grep -c '^:KUBE-SEP-' "$tmp/state4")
[ "$n" -ge 10 ] && ok || bad "expected kube-proxy's endpoint chains, found $n"

in_ns "$kube_proxy" --cleanup >"$tmp/kp-cleanup.log" 2>&1 || bad "kube-proxy --cleanup failed: $(tail -3 "$tmp/kp-cleanup.log")"
want=$(both)
restore_state
[ "$(both)" != "$want" ] && ok || bad "restoring the state did not bring kube-proxy's rules back"
out=$(in_ns "$kroute" cleanup --kube-proxy 2>&1) && ok || bad "kroute cleanup --kube-proxy failed: $out"
got=$(both)
[ "$got" = "$want" ] && ok ||
	bad "kroute cleanup --kube-proxy differs from kube-proxy --cleanup: $(diff <(echo "$want") <(echo "$got") | head -20)"
left=$(grep -E '^:KUBE-(SERVICES|NODEPORTS|POSTROUTING|MARK-MASQ|EXTERNAL-SERVICES|FORWARD|PROXY-FIREWALL|PROXY-CANARY|SVC-|SVL-|SEP-|EXT-|FW-)' <<<"$got")
[ -z "$left" ] && ok || bad "kube-proxy's chains left: $left"
grep -q -- '-A INPUT -j MY-FW$' <<<"$got" && grep -q -- '-A MY-FW -p tcp -m tcp --dport 9 -j DROP' <<<"$got" &&
	grep -q -- '-A OUTPUT -j KUBE-MINE$' <<<"$got" && grep -q -- '-A INPUT -j MY-FW6$' <<<"$got" &&
	grep -q '^:KUBE-FIREWALL' <<<"$got" && ok || bad "the test's own rules or KUBE-FIREWALL went: $got"
in_ns nft list table inet keepme >/dev/null && ok || bad "the test's nft table went"
# Again: nothing left to remove is no error.
out=$(in_ns "$kroute" cleanup --kube-proxy 2>&1) && [ "$(both)" = "$want" ] && ok ||
	bad "a second kroute cleanup --kube-proxy: $out"

# Plain kroute cleanup on the same state: the chains kroute's iptables mode shares with
# kube-proxy go, KUBE-FIREWALL too (kroute's iptables mode makes it); the canaries stay.
restore_state
out=$(in_ns "$kroute" cleanup 2>&1) || bad "kroute cleanup failed: $out"
got=$(both)
left=$(grep -E '^:KUBE-' <<<"$got" | sort | uniq -c | sed 's/^ *//')
[ "$left" = "$(printf '%s\n' "1 :KUBE-MINE -" "6 :KUBE-PROXY-CANARY -")" ] && ok ||
	bad "kroute cleanup on kube-proxy's rules left: $left"

# --- nftables mode, and IPVS's link ------------------------------------------
restore_state
in_ns "$kroute" cleanup --kube-proxy >/dev/null 2>&1 || bad "kroute cleanup --kube-proxy"
nftables_ready() {
	grep -q "10.96.0.10" <<<"$(in_ns nft list table ip kube-proxy 2>/dev/null)" &&
		in_ns nft list table ip6 kube-proxy >/dev/null 2>&1
}
run_kube_proxy nftables nftables_ready
# kube-ipvs0 as kube-proxy's IPVS mode makes it: a dummy link (a bridge where there is no dummy driver).
in_ns ip link add kube-ipvs0 type dummy 2>/dev/null || in_ns ip link add kube-ipvs0 type bridge ||
	bad "cannot add kube-ipvs0"
in_ns ip link add keep0 type dummy 2>/dev/null || in_ns ip link add keep0 type bridge || bad "cannot add keep0"
before=$(both)
out=$(in_ns "$kroute" cleanup --kube-proxy 2>&1) && ok || bad "kroute cleanup --kube-proxy failed: $out"
tables=$(in_ns nft list tables)
grep -q "kube-proxy" <<<"$tables" && bad "kube-proxy's nft tables stay: $tables" || ok
grep -q "table inet keepme" <<<"$tables" && ok || bad "the test's nft table went: $tables"
in_ns ip link show kube-ipvs0 >/dev/null 2>&1 && bad "kube-ipvs0 stays" || ok
in_ns ip link show keep0 >/dev/null 2>&1 && ok || bad "keep0 went"
[ "$(both)" = "$before" ] && ok || bad "the iptables rules changed: $(diff <(echo "$before") <(both) | head)"
finish
