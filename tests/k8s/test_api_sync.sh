#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# When the API source's view is complete, against the real control plane
# (control-plane.sh with --watch-cache=false, so watches are served by etcd
# and a compacted resourceVersion is refused), in a network namespace this
# test creates:
# - a running kroute run --mode iptables whose watches are cut (ss -K) resumes
#   them where they were, each time after the backoff's first step (a watch
#   the server accepted again ends the run of failures); after an etcd
#   compaction past its resourceVersion,
#   the resumed watches get a real 410 Gone from the server: kroute logs that
#   it lists again, the rules stay throughout, and it follows a change made
#   afterwards;
# - kroute run --once waits for every kind to be listed before its one sync
#   (the API server frozen with SIGSTOP, then let go: the full view is
#   programmed, not an empty one), and with the API server gone it fails
#   without touching the rules already in place.
# Usage: test_api_sync.sh KROUTE   (root; exits 77 when not root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=nslib.sh
. "$here/nslib.sh" "$@"
KROUTE_K8S_APISERVER_ARGS="--watch-cache=false" ns_start sync

kubectl apply -f "$src/examples/cluster/nodes.yaml" >/dev/null || bad "kubectl apply nodes.yaml"
kubectl apply -f "$src/examples/cluster/abc-svc.yaml" >/dev/null || bad "kubectl apply abc-svc.yaml"
server=$(cat "$cp/server")
api_port=${server##*:}
# etcd's client URL, from its command line (control-plane.sh keeps it on 127.0.0.1).
etcd_url=$(tr '\0' '\n' <"/proc/$(cat "$cp/run/etcd.pid")/cmdline" |
	sed -n 's/^--listen-client-urls=//p; /^--listen-client-urls$/{n;p}')
[[ $etcd_url == http://127.0.0.1:* ]] && ok || bad "no etcd client URL: '$etcd_url'"
# etcd_post PATH JSON: etcd's v3 JSON gateway.
etcd_post() { in_ns curl -sf -m 10 -X POST "$etcd_url$1" -d "$2"; }
etcd_revision() { etcd_post /v3/kv/range '{"key": "AA=="}' | jq -r .header.revision; }

# set_endpoint IP: abc-svc's EndpointSlice holds IP alone.
set_endpoint() {
	kubectl apply -f - >/dev/null <<-EOF2
	apiVersion: discovery.k8s.io/v1
	kind: EndpointSlice
	metadata:
	  name: abc-svc-7x2kq
	  namespace: default
	  labels: {kubernetes.io/service-name: abc-svc}
	addressType: IPv4
	ports: [{name: "", protocol: TCP, port: 8080}]
	endpoints:
	- addresses: [$1]
	  conditions: {ready: true, serving: true, terminating: false}
	  nodeName: node-a1
	EOF2
}
# cut_watches: kills kroute's connections to the API server (its side: the
# sockets whose peer is the API server's port), as a network failure would.
cut_watches() { in_ns ss -K dst "127.0.0.1:$api_port" >/dev/null 2>&1; }
# n_lines PATTERN: how many lines of the agent's log match.
n_lines() { grep -c -- "$1" "$log"; }

start_agent "$tmp/agent.log" --mode iptables --kubeconfig "$kc" --node node-a1 --min-sync-period 0
wait_log "full sync: .* 3 of 3 kinds read" && ok || bad "the agent did not sync: $(tail -5 "$log")"
wait_rules "first sync" "default/abc-svc -> 10.244.1.10:8080" 1 && ok

# --- a cut watch resumes where it was (no compaction: no 410) ----------------
cut_watches
wait_log "watching .*; retrying in" && ok || bad "cutting the connection was not noticed: $(tail -5 "$log")"
set_endpoint 10.244.1.21
wait_rules "a change after the watches were cut" "default/abc-svc -> 10.244.1.21:8080" 1 && ok
[ "$(n_lines "is gone (410)")" = 0 ] && [ "$(n_lines "listing again")" = 0 ] && ok ||
	bad "a watch resumed before any compaction was refused: $(grep 410 "$log")"

# --- a watch the server took back ends the run of failures ------------------
# Every cut comes after the watches were accepted again, so each retry waits the backoff's
# first step (800 ms plus at most half of it in jitter), not a step that grows with every cut
# of the agent's life.
for i in 1 2 3; do
	sleep 2 # the watches cut last are back (their retry: 1.2 s at most)
	n0=$(n_lines "watching .*; retrying in")
	cut_watches
	wait_log "watching .*; retrying in" $((n0 + 1)) || bad "cut $i was not noticed"
	set_endpoint "10.244.1.3$i"
	wait_rules "a change after cut $i" "default/abc-svc -> 10.244.1.3$i:8080" 1 && ok
done
delays=$(sed -n 's/.*watching .*; retrying in \([0-9.]*\) s$/\1/p' "$log" | tr '\n' ' ')
awk -v d="$delays" 'BEGIN { n = split(d, a, " "); for (i = 1; i <= n; i++) if (a[i] > 1.2) exit 1; exit n < 4 }' &&
	ok || bad "retries after watches that came back must wait 0.8-1.2 s, got: $delays"
set_endpoint 10.244.1.21
wait_rules "back to 10.244.1.21" "default/abc-svc -> 10.244.1.21:8080" 1 && ok

# --- compaction past kroute's resourceVersion: a real 410 -------------------
# The revision moves on with objects kroute does not watch, so its watches stay behind it.
for i in 1 2 3; do
	kubectl create configmap "filler-$i" >/dev/null || bad "kubectl create configmap"
done
rev=$(etcd_revision)
[[ $rev =~ ^[0-9]+$ ]] && ok || bad "no etcd revision: '$rev'"
etcd_post /v3/kv/compaction "{\"revision\": \"$rev\", \"physical\": true}" >/dev/null &&
	ok || bad "etcd compaction at $rev failed"
syncs_before=$(n_lines "sync: ")
cut_watches
for kind in services endpointslices nodes; do
	wait_log "watching $kind: resourceVersion [0-9]* is gone (410); listing again" &&
		ok || bad "no relist of $kind after the compaction: $(tail -5 "$log")"
	# The resourceVersion refused is older than the compaction: the server's 410, not a guess.
	old=$(sed -n "s/.*watching $kind: resourceVersion \([0-9]*\) is gone.*/\1/p" "$log" | tail -1)
	[ -n "$old" ] && [ "$old" -lt "$rev" ] && ok ||
		bad "$kind: the refused resourceVersion '$old' is not older than the compaction ($rev)"
done
has_rule "default/abc-svc -> 10.244.1.21:8080" && ok || bad "the rules went away during the relist"
# The relist replaces each kind with the same objects: nothing to program, or the same rules.
set_endpoint 10.244.1.22
wait_rules "a change after the relist" "default/abc-svc -> 10.244.1.22:8080" 1 && ok
wait_rules "the old endpoint after the relist" "default/abc-svc -> 10.244.1.21:8080" 0 && ok
[ "$(n_lines "sync: ")" -gt "$syncs_before" ] && ok || bad "no sync after the relist"
kill -0 "$agent" 2>/dev/null && ok || bad "the agent exited"
stop_agent

# --- --once waits for every list ---------------------------------------------
in_ns iptables-restore <<<$'*nat\nCOMMIT\n*filter\nCOMMIT' || bad "emptying the namespace's tables"
apiserver_pid=$(cat "$cp/run/kube-apiserver.pid")
kill -STOP "$apiserver_pid"
t0=$SECONDS
in_ns "$kroute" run --mode iptables --kubeconfig "$kc" --node node-a1 --once >"$tmp/once.log" 2>&1 &
once=$!
sleep 3
# Frozen API server: nothing answered, so nothing may be programmed yet.
kill -0 "$once" 2>/dev/null && ok || bad "run --once did not wait for the frozen API server: $(cat "$tmp/once.log")"
has_rule "KUBE-SERVICES" && bad "run --once programmed rules before the API server answered" || ok
kill -CONT "$apiserver_pid"
wait "$once"
rc=$?
[ "$rc" = 0 ] && ok || bad "run --once: exit $rc after the API server came back: $(cat "$tmp/once.log")"
[ $((SECONDS - t0)) -ge 3 ] && ok || bad "run --once returned in $((SECONDS - t0)) s: it did not wait"
has_rule "default/abc-svc -> 10.244.1.22:8080" && ok ||
	bad "run --once did not program the API's view: $(in_ns iptables-save | grep -c abc-svc) abc-svc rules"

# --- --once with the API server gone: fails, the rules stay -------------------
kill -KILL "$apiserver_pid"
for i in $(seq 50); do [ -d "/proc/$apiserver_pid" ] || break; sleep 0.1; done
got=$(in_ns "$kroute" run --mode iptables --kubeconfig "$kc" --node node-a1 --once 2>&1)
rc=$?
[ "$rc" = 1 ] && grep -q "listing .*: " <<<"$got" && ok ||
	bad "run --once without an API server: want exit 1 and the failed list, got $rc: $got"
has_rule "default/abc-svc -> 10.244.1.22:8080" && ok ||
	bad "run --once without an API server removed the rules in place"
finish
