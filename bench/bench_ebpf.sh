#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# ebpf mode (issue #16's benchmark), side by side in one run:
#
#   connect   new TCP connections, one after the other, from the node to a pod
#             on a veth (kr-probe: connect, one request line, the reply, close;
#             CONNECTS per round): to the pod's address directly and to its
#             ClusterIP, under the ebpf, iptables and nftables modes, with 10
#             and with SIZE services (gen_cluster, 10 endpoints each) beside
#             the bench service.  Each round measures both, in turn (odd
#             rounds direct first, even rounds ClusterIP first, so a drift in
#             the machine's load falls on both alike); the figures are the
#             median microseconds per connection, and the median with the
#             quartiles of the rounds' own ratios ClusterIP / direct (paired
#             rounds: a shared machine's load moves both of a pair together).
#   outside   the same from a client namespace on a second veth of the node
#             (outside the node): to the pod directly (routed by the node)
#             and to the bench service's NodePort (ETP Cluster: DNAT and SNAT;
#             the ebpf mode's tc program, the other modes' rules).
#   sync      `kroute run --mode ebpf --once` at SIZE services x 10 endpoints
#             in a fresh namespace, cgroup and bpffs: kroute's full sync
#             (its log: read, policy, apply, of which the kernel's map writes).
#   change    under the running ebpf mode at SIZE services: CHANGES times one
#             endpoint added to the bench service (its own file): the partial
#             sync from kroute's log.
#
# Everything runs in namespaces, a cgroup v2 mount and bpffs this script
# creates and removes; never the host's.
#
# Needs root, ip, curl, /usr/bin/time (PIN: taskset; PROFILE: perf).
# PIN, PROFILE, TW_REUSE: see their lines below.
# Environment: BUILD (default build), OUT (default bench/out/ebpf), SIZE
# (default 10000), ROUNDS (default 5), CONNECTS (default 500), RUNS (sync
# runs, default 3), MODES (default "ebpf iptables nftables"), CHANGES (default 5),
# PARTS (default "connect sync": which parts run).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/ebpf}
SIZE=${SIZE:-10000}
ROUNDS=${ROUNDS:-5}
CONNECTS=${CONNECTS:-500}
RUNS=${RUNS:-3}
CHANGES=${CHANGES:-5}
MODES=${MODES:-"ebpf iptables nftables"}
PARTS=${PARTS:-"connect sync"}
PIN=${PIN:-}         # "CLIENT-CPU SERVER-CPU": kr-probe and kr-backend pinned (taskset), e.g. "0 0"
PROFILE=${PROFILE:-} # N: N connections per target under perf, the ebpf mode's connect hook's cost
TW_REUSE=${TW_REUSE:-} # 1: net.ipv4.tcp_tw_reuse=1 in the node namespace (below)
has_part() { [[ " $PARTS " == *" $1 "* ]]; }
NODE=node-00001

die() { echo "bench_ebpf.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, cgroups, bpffs)"
[ -x "$BUILD/kroute" ] && [ -x "$BUILD/bench/gen_cluster" ] || die "build $BUILD first"
bench_results_init
mkdir -p "$W/bin" "$W/cg" "$W/bpf"
cp "$BUILD/kroute" "$W/bin/kroute" # others rebuild the tree meanwhile
KROUTE=$W/bin/kroute
PROBE=$BUILD/tests/cluster/kr-probe
bench_ns_init krebpfb
mount -t cgroup2 none "$W/cg"
mount -t bpf bpf "$W/bpf"
CG=$W/cg/krebpfb-$$
mkdir "$CG"
ebpf_cleanup() {
	bench_ns_cleanup
	[ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	umount "$W/cg" 2>/dev/null || true
	umount "$W/bpf" 2>/dev/null || true
}
trap ebpf_cleanup EXIT
PIN_CLIENT=() PIN_SERVER=()
if [ -n "$PIN" ]; then
	read -r pc ps <<<"$PIN"
	PIN_CLIENT=(taskset -c "$pc") PIN_SERVER=(taskset -c "${ps:-$pc}")
fi
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
# shellcheck disable=SC2016 # $$ and $@ are the inner shell's
in_cg() { sh -c 'echo $$ >"$0" && exec "$@"' "$CG/cgroup.procs" "$@"; }

bench_yaml() { # EXTRA-IP...: the bench service, its endpoint 192.168.77.2 and EXTRA-IPs
	local ip
	cat <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: bench, namespace: bench}
spec: {type: NodePort, clusterIP: 10.255.0.1, ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bench-1, namespace: bench, labels: {kubernetes.io/service-name: bench}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["192.168.77.2"], conditions: {ready: true}}
YAML
	for ip in "$@"; do printf -- '- {addresses: ["%s"], conditions: {ready: true}}\n' "$ip"; done
}
cluster() { # SIZE -> $W/cSIZE: gen_cluster's services plus the bench service
	local dir=$W/c$1
	[ -d "$dir" ] && return 0
	mkdir -p "$dir"
	"$BUILD/bench/gen_cluster" -s "$1" -e 10 -n 1000 -o "$dir/cluster.yaml"
	bench_yaml >"$dir/bench.yaml"
}
# The ebpf mode's map entries written so far (its metric).
entries_written() {
	ip netns exec "$NODE_NS" curl -s http://127.0.0.1:10249/metrics |
		sed -n 's/^kroute_ebpf_map_entries_written_total //p'
}
# change SIZE: CHANGES times the bench service's extra endpoint replaced by
# another (the first time: added); the partial syncs, and the map entries each wrote.
change() {
	local c n line e0
	for c in $(seq "$CHANGES"); do
		n=$(grep -c "partial sync:" "$W/live.log" || true)
		e0=$(entries_written)
		bench_yaml 192.168.77.$((100 + c)) >"$W/c$1/.bench.tmp"
		mv "$W/c$1/.bench.tmp" "$W/c$1/bench.yaml"
		for _ in $(seq 100); do [ "$(grep -c "partial sync:" "$W/live.log")" -gt "$n" ] && break; sleep 0.05; done
		line=$(grep "partial sync:" "$W/live.log" | tail -1)
		res mode=ebpf size="$1" target=change run="$c" load="$(loadavg)" entries=$(($(entries_written) - e0)) \
			sync_ms="$(sed -nE 's/.* in ([0-9.]+) ms .*/\1/p' <<<"$line")" \
			read_ms="$(sed -nE 's/.*\(read ([0-9.]+),.*/\1/p' <<<"$line")" \
			policy_ms="$(sed -nE 's/.*policy ([0-9.]+),.*/\1/p' <<<"$line")" \
			apply_ms="$(sed -nE 's/.*apply ([0-9.]+) .*/\1/p' <<<"$line")" \
			kernel_ms="$(sed -nE 's/.*kernel tools ([0-9.]+)\).*/\1/p' <<<"$line")"
	done
	bench_yaml >"$W/c$1/.bench.tmp"
	mv "$W/c$1/.bench.tmp" "$W/c$1/bench.yaml"
}

# ---- connect latency: node -> pod, directly and through the ClusterIP ----
per_connect_us() { # IP PORT: CONNECTS connections from the node (in the cgroup), us each
	local t0
	t0=$(now_ns)
	in_cg ip netns exec "$NODE_NS" "${PIN_CLIENT[@]}" "$PROBE" tcp "$1" "$2" --count "$CONNECTS" >"$W/probe.out"
	[ "$(grep -c '^pod=bench' "$W/probe.out")" = "$CONNECTS" ] ||
		die "$1:$2: only $(grep -c '^pod=bench' "$W/probe.out") of $CONNECTS answered"
	echo $((($(now_ns) - t0) / 1000 / CONNECTS))
}
# from_outside_us IP PORT: CONNECTS connections from the client namespace, us each
from_outside_us() {
	local t0
	t0=$(now_ns)
	ip netns exec "$CLIENT_NS" "$PROBE" tcp "$1" "$2" --count "$CONNECTS" >"$W/probe.out"
	[ "$(grep -c '^pod=bench' "$W/probe.out")" = "$CONNECTS" ] ||
		die "outside $1:$2: only $(grep -c '^pod=bench' "$W/probe.out") of $CONNECTS answered" \
			"(others: $(grep -v '^pod=bench' "$W/probe.out" | sort | uniq -c | tr '\n' ' '))"
	echo $((($(now_ns) - t0) / 1000 / CONNECTS))
}
# client_ns: CLIENT_NS 192.168.78.2 on a second veth of the node (192.168.78.1, v1), routed to the pod.
client_ns() {
	newns; CLIENT_NS=$NS; ip -n "$NS" link set lo up
	ip -n "$NODE_NS" link add v1 type veth peer name eth0 netns "$CLIENT_NS"
	ip -n "$NODE_NS" addr add 192.168.78.1/24 dev v1
	ip -n "$NODE_NS" link set v1 up
	ip -n "$CLIENT_NS" addr add 192.168.78.2/24 dev eth0
	ip -n "$CLIENT_NS" link set eth0 up
	ip -n "$CLIENT_NS" route add default via 192.168.78.1
	ip netns exec "$NODE_NS" sysctl -qw net.ipv4.ip_forward=1
}
# profile_connect4 SIZE: what the connect4 hook costs a connection (bpftool's
# prog profile is not built into Debian's bpftool): kr-probe's PROFILE
# connections under perf record (cpu-clock, call graphs), directly (the hook
# runs and finds no service) and through the ClusterIP; the share of the
# probe's samples in the cgroup hook (__cgroup_bpf_run_filter_sock_addr, with
# what it calls) and in the program itself, times the probe's CPU time per
# connection (the samples' cpu-clock total); perf.data kept per target and size.
profile_connect4() {
	local size=$1 t ip port name rep pct_hook pct_prog clock data
	for t in "192.168.77.2 8080 direct" "10.255.0.1 80 clusterip"; do
		read -r ip port name <<<"$t"
		data=$OUT/perf-$name-$size.data
		in_cg ip netns exec "$NODE_NS" "${PIN_CLIENT[@]}" perf record -q -F 10000 -g -o "$data" -- \
			"$PROBE" tcp "$ip" "$port" --count "$PROFILE" >"$W/probe.out" 2>/dev/null
		[ "$(grep -c '^pod=bench' "$W/probe.out")" = "$PROFILE" ] || die "profile $ip:$port: not every connection answered"
		rep=$(perf report -i "$data" --children --sort sym --stdio -g none 2>/dev/null)
		pct_hook=$(awk '/\] __cgroup_bpf_run_filter_sock_addr$/ { sub("%", "", $1); print $1; exit }' <<<"$rep")
		pct_prog=$(awk '/\] bpf_prog_[0-9a-f]+_kr_connect4$/ { sub("%", "", $1); print $1; exit }' <<<"$rep")
		clock=$(sed -nE 's/^# Event count \(approx\.\): ([0-9]+)/\1/p' <<<"$rep" | awk '{ print $1 / 1e6 }') # ms
		res mode=ebpf size="$size" target=profile-"$name" connects="$PROFILE" load="$(loadavg)" \
			cpu_us_per_connect="$(awk -v c="$clock" -v n="$PROFILE" 'BEGIN { printf "%.1f", c * 1000 / n }')" \
			hook_pct="${pct_hook:-0}" prog_pct="${pct_prog:-0}" \
			hook_ns="$(awk -v c="$clock" -v n="$PROFILE" -v p="${pct_hook:-0}" 'BEGIN { printf "%.0f", c * 1e6 / n * p / 100 }')" \
			prog_ns="$(awk -v c="$clock" -v n="$PROFILE" -v p="${pct_prog:-0}" 'BEGIN { printf "%.0f", c * 1e6 / n * p / 100 }')"
	done
}
connect_bench() { # MODE SIZE
	local mode=$1 size=$2 flags=() r kpid d c
	cluster "$size"
	bench_node_pod
	client_ns
	# The node's connections leave TIME_WAIT sockets (the client closes first), up to
	# tens of thousands over 100 rounds; each connect() then searches the ephemeral
	# ports past them (__inet_hash_connect: ~2 ms of CPU per connect once 10,000 are
	# held toward the pod), a cost that grows within a run and swamps the
	# connect hook's.  TW_REUSE=1 lets connect() reuse a TIME_WAIT port (the node
	# namespace's own sysctl, not the host's).
	if [ "$TW_REUSE" = 1 ]; then ip netns exec "$NODE_NS" sysctl -qw net.ipv4.tcp_tw_reuse=1; fi
	ip netns exec "$POD_NS" "${PIN_SERVER[@]}" "$BUILD/tests/cluster/kr-backend" --name bench --tcp 8080 \
		</dev/null >/dev/null 2>&1 &
	PIDS+=($!)
	[ "$mode" = ebpf ] && flags=(--bpf-root "$W/bpf/live" --cgroup-root "$CG")
	ip netns exec "$NODE_NS" "$KROUTE" run --mode "$mode" --node "$NODE" -f "$W/c$size" \
		--cluster-cidr 10.0.0.0/8 --sync-period 1h --min-sync-period 0s "${flags[@]}" \
		</dev/null >"$W/live.log" 2>&1 &
	kpid=$!
	PIDS+=("$kpid")
	for _ in $(seq 1800); do grep -q "full sync:" "$W/live.log" && break; sleep 0.1; done
	grep -q "full sync:" "$W/live.log" || die "$mode did not sync: $(tail -3 "$W/live.log")"
	per_connect_us 192.168.77.2 8080 >/dev/null # warm up (ARP, caches)
	per_connect_us 10.255.0.1 80 >/dev/null
	for r in $(seq "$ROUNDS"); do
		if [ $((r % 2)) = 1 ]; then
			d=$(per_connect_us 192.168.77.2 8080); c=$(per_connect_us 10.255.0.1 80)
		else
			c=$(per_connect_us 10.255.0.1 80); d=$(per_connect_us 192.168.77.2 8080)
		fi
		res mode="$mode" size="$size" round="$r" target=direct us="$d" load="$(loadavg)"
		res mode="$mode" size="$size" round="$r" target=clusterip us="$c" load="$(loadavg)"
		res mode="$mode" size="$size" round="$r" target=pair ratio="$(awk -v c="$c" -v d="$d" 'BEGIN { printf "%.4f", c / d }')"
	done
	[ "$mode" = ebpf ] && [ -n "$PROFILE" ] && profile_connect4 "$size"
	from_outside_us 192.168.77.2 8080 >/dev/null
	from_outside_us 192.168.78.1 30080 >/dev/null
	for r in $(seq "$ROUNDS"); do
		res mode="$mode" size="$size" round="$r" target=outside-direct us="$(from_outside_us 192.168.77.2 8080)" load="$(loadavg)"
		res mode="$mode" size="$size" round="$r" target=outside-nodeport us="$(from_outside_us 192.168.78.1 30080)" load="$(loadavg)"
	done
	[ "$mode" = ebpf ] && [ "$size" = "$SIZE" ] && change "$size"
	kill "$kpid"; wait "$kpid" 2>/dev/null || true
	[ "$mode" = ebpf ] && KROUTE_BPF_ROOT=$W/bpf/live "$KROUTE" cleanup
	delns "$CLIENT_NS"; delns "$NODE_NS"; delns "$POD_NS"
}

has_part connect && for mode in $MODES; do
	for size in 10 "$SIZE"; do
		echo "== connect: $mode mode, $size services (load $(loadavg))"
		connect_bench "$mode" "$size"
	done
done

# ---- full sync of SIZE x 10 in the ebpf mode ----
has_part sync && cluster "$SIZE"
has_part sync && for run in $(seq "$RUNS"); do
	echo "== sync: $SIZE services, run $run (load $(loadavg))"
	newns; ip -n "$NS" link set lo up
	t0=$(now_ns)
	nx /usr/bin/time -f "%M" -o "$W/rss" "$KROUTE" run --mode ebpf --node "$NODE" -f "$W/c$SIZE" \
		--cluster-cidr 10.0.0.0/8 --once --bpf-root "$W/bpf/once" --cgroup-root "$CG" \
		>"$W/once.log" 2>&1 || die "--once failed: $(tail -3 "$W/once.log")"
	ms=$(ms_since "$t0")
	line=$(grep "full sync:" "$W/once.log" | tail -1)
	res target=sync size="$SIZE" run="$run" wall_ms="$ms" rss_kb="$(cat "$W/rss")" \
		sync_ms="$(sed -nE 's/.* in ([0-9.]+) ms .*/\1/p' <<<"$line")" \
		read_ms="$(sed -nE 's/.*\(read ([0-9.]+),.*/\1/p' <<<"$line")" \
		policy_ms="$(sed -nE 's/.*policy ([0-9.]+),.*/\1/p' <<<"$line")" \
		apply_ms="$(sed -nE 's/.*apply ([0-9.]+) .*/\1/p' <<<"$line")" \
		kernel_ms="$(sed -nE 's/.*kernel tools ([0-9.]+)\).*/\1/p' <<<"$line")"
	KROUTE_BPF_ROOT=$W/bpf/once "$KROUTE" cleanup
	delns
done

echo
# median_ci: the median's 95% confidence interval by order statistics (the
# ranks 50 -/+ 98/sqrt(n) percent), for the numbers on stdin.
median_ci() {
	local v n
	v=$(cat)
	n=$(grep -c . <<<"$v" || true)
	[ "$n" -gt 0 ] || { echo -; return; }
	echo "$(pctl "$(awk -v n="$n" 'BEGIN { printf "%d", 50 - 98 / sqrt(n) }')" <<<"$v")-$(pctl "$(awk -v n="$n" 'BEGIN { printf "%d", 50 + 98 / sqrt(n) + 0.999 }')" <<<"$v")"
}
if has_part connect; then
echo "| mode | services | direct us/connect | ClusterIP us/connect | ratio of medians | paired ratio: median [p25-p75] (min-max), median's 95% CI |"
echo "|---|---|---|---|---|---|"
for mode in $MODES; do
	for size in 10 "$SIZE"; do
		d=$(get us mode="$mode" size="$size" target=direct | median)
		c=$(get us mode="$mode" size="$size" target=clusterip | median)
		echo "| $mode | $size | $d | $c | $(awk -v c="$c" -v d="$d" 'BEGIN { printf "%.3f", c / d }') |" \
			"$(get ratio mode="$mode" size="$size" target=pair | median)" \
			"[$(get ratio mode="$mode" size="$size" target=pair | pctl 25)-$(get ratio mode="$mode" size="$size" target=pair | pctl 75)]" \
			"($(get ratio mode="$mode" size="$size" target=pair | pctl 0)-$(get ratio mode="$mode" size="$size" target=pair | pctl 100))," \
			"CI $(get ratio mode="$mode" size="$size" target=pair | median_ci) |"
	done
done
echo
echo "| mode | services | from outside: direct us/connect | NodePort us/connect | ratio |"
echo "|---|---|---|---|---|"
for mode in $MODES; do
	for size in 10 "$SIZE"; do
		d=$(get us mode="$mode" size="$size" target=outside-direct | median)
		c=$(get us mode="$mode" size="$size" target=outside-nodeport | median)
		echo "| $mode | $size | $d | $c | $(awk -v c="$c" -v d="$d" 'BEGIN { printf "%.3f", c / d }') |"
	done
done
echo
fi
if has_part sync; then
echo "ebpf full sync, $SIZE services x 10: $(get sync_ms target=sync | median) ms" \
	"(read $(get read_ms target=sync | median), policy $(get policy_ms target=sync | median)," \
	"apply $(get apply_ms target=sync | median) of which map writes $(get kernel_ms target=sync | median));" \
	"wall $(get wall_ms target=sync | median) ms, peak RSS $(( $(get rss_kb target=sync | median) / 1024 )) MB"
fi
if has_part connect && [[ " $MODES " == *" ebpf "* ]]; then
echo "one endpoint changed at $SIZE services ($CHANGES changes): partial sync $(get sync_ms target=change | median) ms" \
	"($(get sync_ms target=change | pctl 0)-$(get sync_ms target=change | pctl 100))," \
	"apply $(get apply_ms target=change | median) ($(get apply_ms target=change | pctl 0)-$(get apply_ms target=change | pctl 100))," \
	"map writes $(get kernel_ms target=change | median), entries written $(get entries target=change | median)"
fi
