# SPDX-License-Identifier: Apache-2.0
# Shared by the tests in tests/k8s (sourced): the pass/fail counters.
#   ok                 counts a pass
#   bad MESSAGE        counts a failure and prints it
#   finish             the closing line, then exits with the verdict
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
}

# The tests that run the control plane in a network namespace of their own
# (root; the caller sets here and cp_sh first):
#   k8s_netns_start NAME  a namespace NAME-$$ ($ns, lo up) holding the
#                         control plane ($cp, kubeconfig $kc), a scratch
#                         directory $tmp; all of it undone on exit, after
#                         killing the process whose pid is in $agent
#   in_ns CMD...          runs CMD in that namespace
#   kubectl ARGS...       the control plane's kubectl there, as admin
#   has_rule PATTERN      the namespace's iptables-save holds PATTERN
#   wait_log PATTERN      the file $log shows PATTERN (30 s)
agent=
k8s_netns_stop() {
	[ -n "$agent" ] && kill "$agent" 2>/dev/null && wait "$agent" 2>/dev/null
	[ -f "$cp/run/control-plane" ] && ip netns exec "$ns" "$cp_sh" stop "$cp"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}
k8s_netns_start() {
	ns=$1-$$
	tmp=$(mktemp -d "/tmp/kroute-$1-test.XXXXXX")
	cp=$tmp/cp
	kc=$cp/kubeconfig
	trap k8s_netns_stop EXIT
	"$here/build.sh" || { bad "build.sh failed"; finish; }
	ip netns add "$ns" || { bad "cannot create netns $ns"; finish; }
	in_ns ip link set lo up
	if ! out=$(in_ns "$cp_sh" start "$cp" 2>&1); then
		bad "control-plane.sh start failed: $out"
		finish
	fi
}
in_ns() { ip netns exec "$ns" "$@"; }
kubectl() { in_ns "$cp/bin/kubectl" --kubeconfig "$kc" "$@"; }
# (read whole: grep -q closing the pipe early would fail the pipeline under pipefail)
has_rule() {
	local rules
	rules=$(in_ns iptables-save 2>/dev/null)
	grep -qF -- "$1" <<<"$rules"
}
wait_log() {
	local i
	for i in $(seq 150); do
		grep -q -- "$1" "$log" && return 0
		sleep 0.2
	done
	return 1
}
