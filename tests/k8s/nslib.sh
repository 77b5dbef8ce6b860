# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared by the tests in tests/k8s that run kroute against the control plane
# inside a network namespace of their own (sourced after testlib.sh; root):
# the API server listens on that namespace's 127.0.0.1 and kroute's rules go
# into that namespace only.
#   ns_start NAME          makes the namespace kr-NAME-PID, a scratch
#                          directory ($tmp) and starts the control plane in
#                          it ($cp; KROUTE_K8S_APISERVER_ARGS passes through);
#                          sets $kc (the kubeconfig); a trap undoes it all.
#                          The same in two steps: ns_init NAME, ns_start_cp
#   in_ns CMD...           CMD in the namespace
#   kubectl ARGS...        kubectl against that API server
#   start_agent LOG ARGS...  kroute run ARGS in the namespace, logging to LOG
#                          ($log); $agent is its pid
#   stop_agent             SIGTERM, and waits for it
#   has_rule PATTERN       the namespace's iptables-save holds PATTERN
#   wait_rules WHAT PATTERN 1|0   polls for PATTERN present (1) or gone (0),
#                          10 s; counts a failure (bad) if it never happens
#   wait_log PATTERN [N]   the agent's log holds PATTERN (N times, default 1), 30 s
#   create_services NS N   N services s1..sN in namespace NS (one kubectl
#                          create of a List)
#   dump_selected FILE     a kubectl get -o yaml dump of the objects
#                          kube-proxy's selectors pick (what the API source
#                          lists), one List per kind in FILE
# Sourced after set -uo pipefail and here=DIR-OF-THE-TEST; reads the test's
# argument KROUTE and sets $kroute, $src (the checkout) and $cp_sh, sources
# testlib.sh, and exits 77 when not root.

kroute=$(realpath "${1:?usage: $0 KROUTE}")
src=${KROUTE_SRC:-$(cd "$here/../.." && pwd)}
cp_sh=$here/control-plane.sh
# shellcheck source=testlib.sh
. "$here/testlib.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (network namespaces)"; exit 77; }

agent=
ns_cleanup() {
	stop_agent
	[ -f "$cp/run/control-plane" ] && ip netns exec "$ns" "$cp_sh" stop "$cp"
	ip netns del "$ns" 2>/dev/null
	rm -rf "$tmp"
}

ns_start() {
	ns_init "$1"
	ns_start_cp
}
# What an earlier run of a test left when it died without its trap (SIGKILL,
# a lost machine): namespaces kr-NAME-PID and directories
# /tmp/kroute-NAME-test-PID.* whose PID is gone; processes still in such a
# namespace (the control plane) are killed first.  A live PID is left alone.
ns_sweep_stale() {
	local n pid d
	while read -r n _; do
		[[ $n =~ ^kr-[a-z0-9-]+-([0-9]+)$ ]] || continue
		pid=${BASH_REMATCH[1]}
		[ -e "/proc/$pid" ] && continue
		echo "removing the namespace $n of an earlier run (pid $pid is gone)"
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
		ip netns del "$n" 2>/dev/null
	done < <(ip netns list 2>/dev/null)
	for d in /tmp/kroute-*-test-[0-9]*.??????; do
		[[ -d $d && ${d##*/} =~ ^kroute-[a-z0-9-]+-test-([0-9]+)\.[A-Za-z0-9]{6}$ ]] || continue
		[ -e "/proc/${BASH_REMATCH[1]}" ] || rm -rf -- "$d"
	done
}

ns_init() {
	ns_sweep_stale
	ns=kr-$1-$$
	tmp=$(mktemp -d "/tmp/kroute-$1-test-$$.XXXXXX")
	cp=$tmp/cp
	kc=$cp/kubeconfig
	trap ns_cleanup EXIT
	trap 'exit 1' INT TERM HUP
	"$here/build.sh" || { bad "build.sh failed"; finish; }
	ip netns add "$ns" || { bad "cannot create netns $ns"; finish; }
	in_ns ip link set lo up
}
ns_start_cp() {
	local out
	if ! out=$(in_ns "$cp_sh" start "$cp" 2>&1); then
		bad "control-plane.sh start failed: $out"
		finish
	fi
}

in_ns() { ip netns exec "$ns" "$@"; }
kubectl() { in_ns "$cp/bin/kubectl" --kubeconfig "$kc" "$@"; }

# ip netns exec execs kroute, so $! is the agent itself.
start_agent() {
	log=$1
	shift
	ip netns exec "$ns" "$kroute" run "$@" >"$log" 2>&1 &
	agent=$!
}
stop_agent() {
	[ -n "$agent" ] || return 0
	kill "$agent" 2>/dev/null
	wait "$agent" 2>/dev/null
	agent=
}

# has_rule PATTERN: read whole (grep -q closing the pipe early would fail the
# pipeline under pipefail).
has_rule() {
	local rules
	rules=$(in_ns iptables-save 2>/dev/null)
	grep -qF -- "$1" <<<"$rules"
}

wait_rules() {
	local i
	for i in $(seq 100); do
		if has_rule "$2"; then
			[ "$3" = 1 ] && return 0
		else
			[ "$3" = 0 ] && return 0
		fi
		sleep 0.1
	done
	bad "$1 (pattern $2, want present=$3); agent log:
$(tail -5 "$log")"
	return 1
}

wait_log() {
	local i
	for i in $(seq 150); do
		[ "$(grep -c -- "$1" "$log")" -ge "${2:-1}" ] && return 0
		sleep 0.2
	done
	return 1
}

create_services() {
	local i
	for i in $(seq "$2"); do
		printf '{"apiVersion":"v1","kind":"Service","metadata":{"name":"s%d","namespace":"%s"},' "$i" "$1"
		printf '"spec":{"ports":[{"port":80,"protocol":"TCP"}]}}\n'
	done | jq -s '{apiVersion: "v1", kind: "List", items: .}' >"$tmp/services-$1.json" &&
		kubectl create -f "$tmp/services-$1.json" >/dev/null
}

dump_selected() {
	{
		kubectl get services -A -l '!service.kubernetes.io/service-proxy-name' \
			--field-selector 'spec.clusterIP!=None' -o yaml &&
		echo --- &&
		kubectl get endpointslices.discovery.k8s.io -A -l '!service.kubernetes.io/headless' -o yaml &&
		echo --- &&
		kubectl get nodes -o yaml
	} >"$1"
}
