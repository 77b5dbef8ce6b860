#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# iptables mode: sync time.  Side by side, in the same run, alternating:
#
#   kroute   `kroute run --mode iptables --once` in a fresh network namespace:
#            wall time and peak RSS, split into kroute's own time (load,
#            policy, render, iptables-save, jumps) and the time inside
#            iptables-restore and ip6tables-restore (KROUTE_IPTABLES_RESTORE
#            and KROUTE_IP6TABLES_RESTORE wrappers record the inputs and time
#            the real programs; gen_cluster makes ~5% of services dual-stack).
#   peer     (opt-in: PEER_MAX, step peer-change; the real kube-proxy against
#            kroute is bench_kube_proxy.sh, which needs the API server: this
#            stand-in stays for file-fed runs and the restore-input analysis)
#            kube-proxy's rulesets for the same node, loaded the way kube-proxy
#            loads them: `iptables-restore -w --noflush`, then (the IPv6
#            proxier of a dual-stack node) `ip6tables-restore -w --noflush`,
#            into one fresh namespace.  The rulesets are kroute's renderer in
#            --iptables-kube-proxy-layout (kube-proxy's layout chain by chain,
#            checked against upstream's expected rules), recorded through the
#            wrappers.
#   flush    the same peer inputs without --noflush, a second reference only:
#            kube-proxy never loads them that way (it would flush every other
#            component's rules in the filter and nat tables).
#
# then one endpoint change under a running `kroute run` (the changed
# EndpointSlice in its own small file), kube-proxy's partial restore for the
# same change, the nf_tables "floor" (what any --noflush restore that adds a
# rule costs once the built-in chains jump into the service chains), and an
# analysis of where iptables-restore --noflush spends its time (perf,
# restore-input variants, a cost model, synthetic chain/rule scaling).
#
# Every iptables, iptables-restore and kroute command runs inside a network
# namespace this script creates (krbench-PID-N) and deletes; the host's own
# tables are never touched.  Needs root, ip(8), iptables-nft, python3,
# /usr/bin/time; perf is optional.
#
# Results: a log on stdout, raw key=value lines in $OUT/results.txt, Markdown
# tables at the end.  See bench/README.md "iptables mode: sync time".
#
# Environment:
#   BUILD          meson build dir holding kroute and bench/gen_cluster (default build)
#   OUT            work and output dir (default bench/out/iptables, git-ignored)
#   SIZES          service counts (default "1000 5000 10000"), 10 endpoints each
#   NODES          nodes in the generated cluster (default 1000)
#   NODE           the node kroute programs (default node-00001; gen_cluster names
#                  nodes node-00000 ... node-00999)
#   MINIMAL        1 to generate with gen_cluster --minimal (default 0: full objects)
#   RUNS           rounds per size; medians are reported (default 3)
#   MAX_RUN_S      a measurement whose first run took longer is not repeated (default 300)
#   PEER_TIMEOUT   seconds before a restore is killed and reported as ">" (default 14400)
#   PEER_MAX       the peer and the flush reference only up to this size (default 0: off)
#   KP_LAYOUT_MAX  also apply kroute --iptables-kube-proxy-layout up to this size (default 1000)
#   CHANGE_SIZE    size for the one-endpoint-change test (default 10000)
#   CHANGES        endpoint changes (default 3); also the number of peer partial restores
#   CHANGE_FAST_FIRST  1: the running kroute's first (full) restore is loaded without
#                  --noflush into the empty namespace, to reach the starting state
#                  quickly; the measured partial syncs are untouched (default 1)
#   ANALYSIS_SIZE  size for the restore-input variants and perf (default 1000)
#   VARIANTS       restore-input variants to time (default: all, see analysis())
#   SYNTHETIC      1 to time the synthetic chains x rules inputs (default 1)
#   PERF           1 to profile with perf when installed (default 1)
#   FLOOR          1: measure the nf_tables floor after the change tests (default 1)
#   FLOOR_RUNS     rounds of the floor inputs (default 5)
#   SUMMARY_ONLY   1: only print the tables from an earlier run's $OUT/results.txt
#   STEPS          any of "full change peer-change analysis own" (default
#                  "full change analysis"; own: kroute alone per size,
#                  restore input recorded, nothing applied)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. bench/lib.sh

BUILD=${BUILD:-build}
OUT=${OUT:-bench/out/iptables}
SIZES=${SIZES:-"1000 5000 10000"}
NODES=${NODES:-1000}
NODE=${NODE:-node-00001}
MINIMAL=${MINIMAL:-0}
RUNS=${RUNS:-3}
MAX_RUN_S=${MAX_RUN_S:-300}
PEER_TIMEOUT=${PEER_TIMEOUT:-14400}
PEER_MAX=${PEER_MAX:-0}
KP_LAYOUT_MAX=${KP_LAYOUT_MAX:-1000}
CHANGE_SIZE=${CHANGE_SIZE:-10000}
CHANGES=${CHANGES:-3}
CHANGE_FAST_FIRST=${CHANGE_FAST_FIRST:-1}
ANALYSIS_SIZE=${ANALYSIS_SIZE:-1000}
VARIANTS=${VARIANTS:-"noflush flush nocomment chainsonly table-split interleave batch1000 batch4000 inline inline-batch1000 legacy-noflush"}
SYNTHETIC=${SYNTHETIC:-1}
PERF=${PERF:-1}
FLOOR=${FLOOR:-1}
FLOOR_RUNS=${FLOOR_RUNS:-5}
STEPS=${STEPS:-"full change analysis"}
SUMMARY_ONLY=${SUMMARY_ONLY:-0}

die() { echo "bench_iptables.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for p in ip iptables-restore iptables-save ip6tables-restore python3 /usr/bin/time; do
	command -v "$p" >/dev/null || die "$p not found"
done
[ -x "$BUILD/kroute" ] && [ -x "$BUILD/bench/gen_cluster" ] || die "build $BUILD first (ninja -C $BUILD)"

bench_results_init
mkdir -p "$W/bin" "$W/rec" "$W/watch" "$W/stage" "$W/v" "$W/syn" "$W/split"

# Other engineers rebuild the tree while this runs: measure a private copy.
cp "$BUILD/kroute" "$W/bin/kroute"
KROUTE=$W/bin/kroute
KP_FLAG=--iptables-kube-proxy-layout
"$KROUTE" run --help 2>&1 | grep -q -- "$KP_FLAG" || KP_FLAG="" # older builds: kube-proxy layout only

# ---- namespaces and processes this script owns; removed on any exit (bench/lib.sh) ----
bench_ns_init krbench

# ---- the iptables-restore wrappers kroute runs (KROUTE_IPTABLES_RESTORE,
# KROUTE_IP6TABLES_RESTORE); a name ending in 6 wraps ip6tables-restore ----
# rec: records each input as $KRB_REC/in.N (IPv6: in6.N) and times the real
# program (wall s, max RSS KB, status); with KRB_FAST_FIRST=1 the first call
# runs without --noflush.  With KRB_LIGHT=1 every call after the first only
# records its input (sh builtins) and execs the real program: a bash, a cat
# and /usr/bin/time per call cost ~90 ms on this loaded 2-CPU machine, as
# much as the restore itself, and kroute's log counts them in "kernel tools".
cat >"$W/bin/restore-light" <<'EOF'
#!/bin/sh
case $0 in *6) prog=ip6tables-restore; pre=in6 ;; *) prog=iptables-restore; pre=in ;; esac
d=$KRB_REC
if [ "${KRB_LIGHT:-0}" = 1 ] && [ -e "$d/$pre.0" ]; then
	f=$d/$pre.light.$$
	while IFS= read -r line; do printf '%s\n' "$line"; done >"$f"
	exec $prog "$@" <"$f"
fi
exec "${0%-light*}-rec${0##*-light}" "$@"
EOF
cat >"$W/bin/restore-rec" <<'EOF'
#!/bin/bash
d=${KRB_REC:?}
case $0 in *6) prog=ip6tables-restore; pre=in6 ;; *) prog=iptables-restore; pre=in ;; esac
n=0
while [ -e "$d/$pre.$n" ]; do n=$((n + 1)); done
f=$d/$pre.$n
cat >"$f"
args=("$@")
if [ "$n" = 0 ] && [ "${KRB_FAST_FIRST:-0}" = 1 ]; then
	args=(); for a in "$@"; do [ "$a" = --noflush ] || args+=("$a"); done
fi
/usr/bin/time -f "%e %M" -o "$f.time" $prog "${args[@]}" <"$f"
rc=$?
echo "$(cat "$f.time") $rc ${args[*]}" >"$f.t"
exit $rc
EOF
# cap: only records the input to $KRB_OUT (IPv6: $KRB_OUT6); the sync then
# fails at the jump checks: nothing is loaded.
cat >"$W/bin/restore-cap" <<'EOF'
#!/bin/sh
case $0 in *6) cat >"${KRB_OUT6:-/dev/null}" ;; *) cat >"${KRB_OUT:?}" ;; esac
EOF
cp "$W/bin/restore-rec" "$W/bin/restore-rec6"
cp "$W/bin/restore-light" "$W/bin/restore-light6"
cp "$W/bin/restore-cap" "$W/bin/restore-cap6"
# peer-load MODE TIMES V4 V6: the peer's load, IPv4 then IPv6 (skipped when V6
# is empty) in the same namespace, each timed; MODE noflush or flush.  Writes
# "v4_s v6_s" to TIMES (v6_s "-" while it runs).
cat >"$W/bin/peer-load" <<'EOF'
#!/bin/bash
flag=(); [ "$1" = noflush ] && flag=(--noflush)
t0=$(date +%s%N)
iptables-restore -w "${flag[@]}" <"$3" || exit
t1=$(date +%s%N)
v4=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
echo "$v4 -" >"$2"
[ -s "$4" ] || { echo "$v4 0" >"$2"; exit 0; }
ip6tables-restore -w "${flag[@]}" <"$4" || exit
t2=$(date +%s%N)
echo "$v4 $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')" >"$2"
EOF
chmod +x "$W"/bin/restore-rec* "$W"/bin/restore-light* "$W"/bin/restore-cap* "$W/bin/peer-load"
REC4=$W/bin/restore-rec REC6=$W/bin/restore-rec6 CAP4=$W/bin/restore-cap CAP6=$W/bin/restore-cap6

# capture OUT4 OUT6 kroute-run-args...: kroute's restore inputs for one full
# sync, recorded in a fresh namespace, nothing applied; sets T_WALL, T_RSS.
capture() {
	local o4=$1 o6=$2; shift 2
	newns
	KRB_OUT=$o4 KRB_OUT6=$o6 KROUTE_IPTABLES_RESTORE=$CAP4 KROUTE_IP6TABLES_RESTORE=$CAP6 \
		/usr/bin/time -f "%e %M" -o "$W/time" \
		ip netns exec "$NS" "$KROUTE" run --mode iptables --node "$NODE" --once "$@" >/dev/null 2>&1 || true
	delns "$NS"
	read -r T_WALL T_RSS < <(tail -n1 "$W/time")
}

cluster_file() { # size -> path (generated once)
	local n=$1 f
	f=$OUT/cluster-${n}x10-${NODES}n$([ "$MINIMAL" = 1 ] && echo -min).yaml
	if [ ! -s "$f" ]; then
		"$BUILD/bench/gen_cluster" --services "$n" --endpoints 10 --nodes "$NODES" \
			--seed 1 $([ "$MINIMAL" = 1 ] && echo --minimal) --output "$f"
	fi
	echo "$f"
}

# Runs "$@" in a fresh namespace under /usr/bin/time; sets T_WALL, T_RSS, T_RC.
timed_ns() {
	local limit=$1; shift
	newns
	T_RC=0
	/usr/bin/time -f "%e %M" -o "$W/time" timeout "$limit" ip netns exec "$NS" "$@" || T_RC=$?
	read -r T_WALL T_RSS < <(tail -n1 "$W/time" | grep -E '^[0-9.]+ [0-9]+$' || echo "- -")
	[ "$T_RC" = 124 ] && T_WALL=">$limit"
	delns "$NS"
}

is_slow() { awk -v w="${1#>}" -v m="$MAX_RUN_S" 'BEGIN { exit !(w > m) }'; }
stats() { # file -> "lines chains rules"
	echo "$(wc -l <"$1") $(grep -c '^:' "$1") $(grep -c '^-A' "$1")"
}

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
	"$(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "tools:   $(iptables --version), $(python3 --version)"
echo "kroute:  $("$KROUTE" version 2>&1 | head -n1), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
	"($(git -C "$ROOT" status --porcelain -- src 2>/dev/null | wc -l) changed files under src/), copied from $BUILD"
echo "cluster: gen_cluster -e 10 -n $NODES --seed 1$([ "$MINIMAL" = 1 ] && echo ' --minimal'); node $NODE"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# =====================================================================
# 1 + 2. Full sync: kroute vs peer (noflush) vs flush reference
# =====================================================================
full_size() {
	local n=$1 file peer peer6 rec i kind la ms rs rr rs6 rr6 own
	file=$(cluster_file "$n")
	peer=$W/peer-$n.rules
	peer6=$W/peer-$n.rules6
	echo "== $n services x 10 endpoints ($file, $(du -m "$file" | cut -f1) MB)"

	# The peer's inputs: kube-proxy's layout, both families, recorded (nothing applied).
	capture "$peer" "$peer6" -f "$file" ${KP_FLAG:+$KP_FLAG}
	read -r s c r <<<"$(stats "$peer")"
	read -r s6 c6 r6 <<<"$(stats "$peer6")"
	res "size=$n what=peer-input lines=$s chains=$c rules=$r bytes=$(stat -c %s "$peer")" \
		"lines6=$s6 chains6=$c6 rules6=$r6 kroute_kp_own_s=$T_WALL kroute_kp_own_rss_kb=$T_RSS"

	declare -A slow=()
	for ((i = 1; i <= RUNS; i++)); do
		# kroute, default layout, through the recording wrappers
		if [ -z "${slow[kroute]:-}" ]; then
			rec=$W/rec/full-$n-$i
			rm -rf "$rec"; mkdir -p "$rec"
			la=$(loadavg)
			KRB_REC=$rec KROUTE_IPTABLES_RESTORE=$REC4 KROUTE_IP6TABLES_RESTORE=$REC6 \
				timed_ns "$PEER_TIMEOUT" "$KROUTE" run --mode iptables --node "$NODE" -f "$file" --once 2>"$rec/log" ||
				true
			ms=$(sed -n 's/.*full sync: .* in \([0-9.]*\) ms.*/\1/p' "$rec/log" | tail -n1)
			read -r rs rr _ <"$rec/in.0.t"
			rs6=0 rr6=0
			[ ! -e "$rec/in6.0.t" ] || read -r rs6 rr6 _ <"$rec/in6.0.t"
			own=$(awk -v w="$T_WALL" -v r="$rs" -v r6="$rs6" 'BEGIN { printf "%.2f", w - r - r6 }')
			read -r s c r <<<"$(stats "$rec/in.0")"
			c6=0 r6=0
			[ ! -e "$rec/in6.0" ] || read -r _ c6 r6 <<<"$(stats "$rec/in6.0")"
			res "size=$n run=$i what=kroute load=$la rc=$T_RC wall_s=$T_WALL rss_kb=$T_RSS sync_ms=${ms:--}" \
				"restore_s=$(awk -v a="$rs" -v b="$rs6" 'BEGIN { printf "%.2f", a + b }') restore4_s=$rs restore6_s=$rs6" \
				"restore_rss_kb=$rr restore6_rss_kb=$rr6 own_s=$own lines=$s chains=$c rules=$r chains6=$c6 rules6=$r6"
			[ "$T_RC" = 0 ] || { cat "$rec/log" >&2; die "kroute --once failed"; }
			if is_slow "$T_WALL"; then slow[kroute]=1; fi
		fi
		# peer: kube-proxy's inputs, IPv4 then IPv6, --noflush (and the flush reference)
		for kind in peer flush; do
			[ -z "${slow[$kind]:-}" ] && [ "$n" -le "$PEER_MAX" ] || continue
			la=$(loadavg)
			rm -f "$W/peer.t"
			timed_ns "$PEER_TIMEOUT" "$W/bin/peer-load" "$([ $kind = peer ] && echo noflush || echo flush)" \
				"$W/peer.t" "$peer" "$peer6"
			v4=">$PEER_TIMEOUT" v6=-
			[ ! -s "$W/peer.t" ] || read -r v4 v6 <"$W/peer.t"
			# timed out: during IPv4 (v6 not run) or during IPv6 (v6 > what was left)
			if [ "$T_RC" = 124 ] && [ "$v6" = - ]; then
				[[ $v4 == ">"* ]] && v6=not-run || v6=">$(awk -v l="$PEER_TIMEOUT" -v a="$v4" 'BEGIN { printf "%.0f", l - a }')"
			fi
			res "size=$n run=$i what=$kind load=$la rc=$T_RC wall_s=$T_WALL rss_kb=$T_RSS v4_s=$v4 v6_s=$v6"
			if is_slow "$T_WALL"; then slow[$kind]=1; fi
		done
		# kroute in kube-proxy's layout (applied), small sizes only
		if [ -n "$KP_FLAG" ] && [ "$n" -le "$KP_LAYOUT_MAX" ] && [ -z "${slow[kroute_kp]:-}" ]; then
			rec=$W/rec/fullkp-$n-$i
			rm -rf "$rec"; mkdir -p "$rec"
			la=$(loadavg)
			KRB_REC=$rec KROUTE_IPTABLES_RESTORE=$REC4 KROUTE_IP6TABLES_RESTORE=$REC6 \
				timed_ns "$PEER_TIMEOUT" "$KROUTE" run --mode iptables --node "$NODE" -f "$file" --once \
				"$KP_FLAG" 2>"$rec/log" || true
			read -r rs rr _ <"$rec/in.0.t"
			rs6=0
			[ ! -e "$rec/in6.0.t" ] || read -r rs6 _ <"$rec/in6.0.t"
			own=$(awk -v w="$T_WALL" -v r="$rs" -v r6="$rs6" 'BEGIN { printf "%.2f", w - r - r6 }')
			res "size=$n run=$i what=kroute_kp load=$la rc=$T_RC wall_s=$T_WALL rss_kb=$T_RSS" \
				"restore_s=$(awk -v a="$rs" -v b="$rs6" 'BEGIN { printf "%.2f", a + b }') restore4_s=$rs restore6_s=$rs6" \
				"restore_rss_kb=$rr own_s=$own"
			cmp -s "$rec/in.0" "$peer" || echo "  note: kroute_kp IPv4 input differs from the peer input"
			[ ! -e "$rec/in6.0" ] || cmp -s "$rec/in6.0" "$peer6" || echo "  note: kroute_kp IPv6 input differs from the peer input"
			if is_slow "$T_WALL"; then slow[kroute_kp]=1; fi
		fi
	done
}

# =====================================================================
# 3. One endpoint change under a running kroute
# =====================================================================
# Picks a TCP cluster-IP service port without session affinity and its first
# endpoint from a recorded full-sync input; prints
# "svcportname svcchain ip port" (the endpoint's IP occurs once in the manifest).
pick_endpoint() {
	python3 - "$1" "$2" <<-'EOF'
	import re, sys
	rules, manifest = sys.argv[1], sys.argv[2]
	chains, svc = {}, []
	for line in open(rules):
	    if line.startswith('-A '):
	        c = line.split(' ', 2)[1]
	        chains.setdefault(c, []).append(line)
	        m = re.search(r'--comment "([^" ]+) cluster IP".* -p tcp .*-j (KUBE-SVC-\S+)', line)
	        if c == 'KUBE-SERVICES' and m:
	            svc.append(m.groups())
	text = open(manifest).read()
	for name, chain in svc:
	    body = chains.get(chain, [])
	    if not body or any(' recent ' in r for r in body):
	        continue
	    r = body[-1]
	    m = re.search(r'--to-destination ([0-9.]+):(\d+)', r)
	    if not m:
	        sep = r.split()[-1]
	        m = re.search(r'--to-destination ([0-9.]+):(\d+)', ''.join(chains.get(sep, [])))
	    if m and text.count('\n  - %s\n' % m.group(1)) == 1:
	        print(name, chain, m.group(1), m.group(2))
	        break
	EOF
}
sep_name() { # svcportname proto ip:port -> KUBE-SEP-... (kube-proxy's hash)
	python3 -c 'import sys, hashlib, base64; print("KUBE-SEP-" + base64.b32encode(hashlib.sha256("".join(sys.argv[1:]).encode()).digest())[:16].decode())' "$@"
}
log_ns() { # "HH:MM:SS.mmm" (UTC, today) -> ns since the epoch
	date -u -d "$(date -u +%F) $1" +%s%N
}

# The change arrives as one object: the watched directory holds the cluster
# file minus one EndpointSlice (cluster.yaml) and that slice in its own small
# file (slice.yaml); a change rewrites slice.yaml.  Picks the endpoint, writes
# $W/split/{cluster,slice}.yaml and sets CH_NAME CH_CHAIN CH_IP CH_PORT.
CH_IP=""
change_prepare() {
	[ -z "$CH_IP" ] || return 0
	local file; file=$(cluster_file "$CHANGE_SIZE")
	capture "$W/change-lean.rules" /dev/null -f "$file"
	read -r CH_NAME CH_CHAIN CH_IP CH_PORT <<<"$(pick_endpoint "$W/change-lean.rules" "$file")"
	[ -n "${CH_PORT:-}" ] || die "no endpoint to change found"
	python3 - "$file" "$CH_IP" "$W/split" <<-'EOF'
	import re, sys
	path, ip, out = sys.argv[1:4]
	docs = re.split(r'(?m)^---\n', open(path).read())
	hit = [i for i, d in enumerate(docs) if re.search(r'(?m)^kind: EndpointSlice$', d) and '\n  - %s\n' % ip in d]
	assert len(hit) == 1, hit
	with open(out + '/slice.yaml', 'w') as f:
	    f.write(docs[hit[0]])
	with open(out + '/cluster.yaml', 'w') as f:
	    f.write('---\n'.join(d for i, d in enumerate(docs) if i != hit[0]))
	EOF
	echo "  endpoint $CH_IP:$CH_PORT of $CH_NAME ($CH_CHAIN); its EndpointSlice in its own file" \
		"($(wc -c <"$W/split/slice.yaml") bytes; the rest $(du -m "$W/split/cluster.yaml" | cut -f1) MB)"
}
# state_dir DIR IP: the split cluster with the changed endpoint's IP set to IP.
state_dir() {
	rm -rf "$1"; mkdir -p "$1"
	ln "$W/split/cluster.yaml" "$1/cluster.yaml"
	sed "s/^  - $CH_IP\$/  - $2/" "$W/split/slice.yaml" >"$1/slice.yaml"
}

change_test() {
	local n=$CHANGE_SIZE rec watch pid i
	rec=$W/rec/change
	watch=$W/watch
	echo "== one endpoint change at $n services (kroute run, --iptables-sync-period 1h," \
		"first restore $([ "$CHANGE_FAST_FIRST" = 1 ] && echo 'without --noflush' || echo 'as kroute runs it'))"
	change_prepare
	rm -rf "$rec" "$watch" "$W/stage"/*; mkdir -p "$rec"
	state_dir "$watch" "$CH_IP"
	newns
	local ns=$NS t_start; t_start=$(now_ns)
	KRB_REC=$rec KRB_FAST_FIRST=$CHANGE_FAST_FIRST KRB_LIGHT=1 \
		KROUTE_IPTABLES_RESTORE=$W/bin/restore-light KROUTE_IP6TABLES_RESTORE=$W/bin/restore-light6 \
		ip netns exec "$ns" "$KROUTE" run --mode iptables --node "$NODE" -f "$watch" \
		--iptables-sync-period 1h >"$rec/log" 2>&1 &
	pid=$!
	PIDS+=("$pid")
	until grep -q "full sync" "$rec/log"; do
		kill -0 "$pid" 2>/dev/null || { cat "$rec/log" >&2; die "kroute run exited"; }
		sleep 0.2
	done
	res "size=$n what=change-start wall_to_first_sync_s=$(awk -v a="$t_start" -v b="$(now_ns)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" \
		"$(grep 'full sync' "$rec/log" | sed 's/.*full sync: /log="/; s/$/"/' | tr ' ' '_')"
	local name=$CH_NAME chain=$CH_CHAIN port=$CH_PORT inline=1
	grep -q -- "^-A $chain .*--to-destination $CH_IP:$port" "$rec/in.0" || inline=0
	echo "  $([ $inline = 1 ] && echo 'DNAT inline in the KUBE-SVC chain' || echo 'own KUBE-SEP chain')"
	local old=$CH_IP
	for ((i = 1; i <= CHANGES; i++)); do
		local new=10.250.0.$i nsync t0 t1 line ms stamp probe la save_s
		sleep 2 # past --min-sync-period (1 s) since the last sync
		nsync=$(grep -c "sync: " "$rec/log")
		sed "s/^  - $old\$/  - $new/" "$watch/slice.yaml" >"$W/stage/slice.yaml"
		if [ $inline = 1 ]; then
			probe=(iptables -w -t nat -S "$chain")
		else
			probe=(iptables -w -t nat -S "$(sep_name "$name" tcp "$new:$port")")
		fi
		la=$(loadavg)
		t0=$(now_ns)
		mv "$W/stage/slice.yaml" "$watch/slice.yaml"
		until ip netns exec "$ns" "${probe[@]}" 2>/dev/null | grep -q -- "--to-destination $new:$port"; do
			kill -0 "$pid" 2>/dev/null || die "kroute run exited"
		done
		t1=$(now_ns)
		until [ "$(grep -c "sync: " "$rec/log")" -gt "$nsync" ]; do sleep 0.05; done
		line=$(grep "sync: " "$rec/log" | sed -n "$((nsync + 1))p")
		echo "  $line"
		ms=$(sed -n 's/.* in \([0-9.]*\) ms.*/\1/p' <<<"$line")
		stamp=$(sed -n 's/^kroute \([0-9:.]*\): .*/\1/p' <<<"$line")
		local parts; parts=$(sed -n 's/.*(read \([0-9.]*\), policy \([0-9.]*\), apply \([0-9.]*\) of which kernel tools \([0-9.]*\)).*/read_ms=\1 policy_ms=\2 apply_ms=\3 kernel_ms=\4/p' <<<"$line")
		local files; files=$(sed -n 's/.*(\([0-9]*\) rebuilt, \([0-9]*\) of \([0-9]*\) files read).*/rebuilt=\1 files_read=\2\/\3/p' <<<"$line")
		local ts; ts=$(now_ns)
		local hits; hits=$(ip netns exec "$ns" iptables-save -t nat | grep -c -- "--to-destination $new:$port" || true)
		save_s=$(awk -v a="$ts" -v b="$(now_ns)" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
		local lin; lin=$(ls -t "$rec"/in.light.* | sed -n 1p)
		read -r s c r <<<"$(stats "$lin")"
		res "size=$n change=$i what=change load=$la kind=$(awk '{print $3}' <<<"$line" | tr -d :)" \
			"sync_ms=$ms ${parts:-read_ms=- policy_ms=- apply_ms=- kernel_ms=-} ${files:-rebuilt=- files_read=-}" \
			"e2e_probe_ms=$(( (t1 - t0) / 1000000 )) e2e_log_ms=$(( ($(log_ns "$stamp") - t0) / 1000000 ))" \
			"restore_lines=$s restore_chains=$c restore_rules=$r" \
			"iptables_save_hits=$hits iptables_save_s=$save_s"
		old=$new
	done
	sleep 1
	res "size=$n what=change-end syncs_logged=$(grep -c 'sync: ' "$rec/log") restores4=$(ls "$rec"/in.* | grep -cv '\.t\(ime\)\?$')" \
		"restores6=$(ls "$rec"/in6.* 2>/dev/null | grep -cv '\.t\(ime\)\?$' || true)"
	kill "$pid"; wait "$pid" 2>/dev/null || true
	# The floor on kroute's own (lean) ruleset, its jumps in place.
	[ "$FLOOR" != 1 ] || floor_inputs "$ns" kroute-lean-jumps "$rec/in.0"
	delns "$ns"
}

# =====================================================================
# 3b. kube-proxy's partial restore for the same change, and the floor
# =====================================================================
# partial.py FROM TO SVCCHAIN OUT: kube-proxy's partial-sync input for a
# change of one service from the full input FROM to the full input TO (both
# kube-proxy layout): every fixed chain in full, the service's own chains
# (its KUBE-SVC/SVL/EXT/FW chains and the KUBE-SEP chains they jump to) as in
# TO, each declared with ":NAME - [0:0]", and the service's chains only FROM
# has declared and deleted (-X), as kube-proxy deletes stale chains.
cat >"$W/bin/partial.py" <<'EOF'
import re, sys
frm, to, svc, out = sys.argv[1:5]
FIXED = {'filter': ['KUBE-SERVICES', 'KUBE-EXTERNAL-SERVICES', 'KUBE-FORWARD', 'KUBE-NODEPORTS',
                    'KUBE-PROXY-FIREWALL', 'KUBE-FIREWALL'],
         'nat': ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']}
def parse(path):
    tabs, cur = {}, None
    for line in open(path):
        if line[0] == '*':
            cur = tabs.setdefault(line[1:].strip(), {})
        elif line[0] == ':':
            cur.setdefault(line[1:line.index(' ')], [])
        elif line.startswith('-A '):
            cur.setdefault(line.split(' ', 2)[1], []).append(line)
    return tabs
h = svc.split('-', 2)[2]
def own(t):
    names = [c for c in t if c.split('-', 2)[-1] == h and c.split('-')[1] in ('SVC', 'SVL', 'EXT', 'FW')]
    for c in list(names):
        for r in t[c]:
            m = re.search(r' -j (KUBE-SEP-\S+)', r)
            if m and m.group(1) not in names:
                names.append(m.group(1))
    return names
A, B = parse(frm), parse(to)
assert svc in B.get('nat', {}), 'no %s in %s' % (svc, to)
with open(out, 'w') as f:
    for tab, t in B.items():
        fixed = [c for c in FIXED.get(tab, []) if c in t]
        mine = own(t)
        stale = [c for c in own(A.get(tab, {})) if c not in t]
        f.write('*%s\n' % tab)
        f.writelines(':%s - [0:0]\n' % c for c in fixed + mine + stale)
        for c in fixed + mine:
            f.writelines(t[c])
        f.writelines('-X %s\n' % c for c in stale)
        f.write('COMMIT\n')
EOF

# install_jumps RULES: the jumps from the built-in chains kroute (and
# kube-proxy) install (ipt_jump_rules in src/dataplane/iptables/render.c),
# into the namespace $NS; KUBE-FIREWALL's only if RULES declares that chain.
install_jumps() {
	{
		echo '*filter'
		echo '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES'
		echo '-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES'
		echo '-I INPUT 1 -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS'
		echo '-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-I FORWARD 1 -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'
		echo '-I INPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL'
		echo '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL'
		echo '-I FORWARD 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL'
		if grep -q '^:KUBE-FIREWALL ' "$1"; then
			echo '-I INPUT 1 -j KUBE-FIREWALL'
			echo '-I OUTPUT 1 -j KUBE-FIREWALL'
		fi
		echo 'COMMIT'
		echo '*nat'
		echo '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
		echo '-I POSTROUTING 1 -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'
		echo 'COMMIT'
	} >"$W/jumps.rules"
	nx iptables-restore -w --noflush <"$W/jumps.rules"
}

# ms_restore NS FILE: one `iptables-restore -w --noflush` of FILE in NS; prints
# its wall ms, timed inside the namespace (ip netns exec not counted).
ms_restore() {
	ip netns exec "$1" bash -c 's=$EPOCHREALTIME; iptables-restore -w --noflush <"$1" || exit; e=$EPOCHREALTIME
		us=$(( ${e/./} - ${s/./} )); printf "%d.%d" $((us / 1000)) $((us % 1000 / 100))' _ "$2" ||
		die "restore of $2 failed in $1"
}

# floor_inputs NS LABEL RULES: FLOOR_RUNS rounds of two one-chain inputs
# into the loaded namespace NS: "flush" only flushes KUBE-MARK-MASQ
# (":KUBE-MARK-MASQ - [0:0]"), "add1" flushes it and adds back its one rule
# (as found in RULES).  Net state is unchanged after each round.
floor_inputs() {
	local ns=$1 label=$2 i la ms input
	printf '*nat\n:KUBE-MARK-MASQ - [0:0]\nCOMMIT\n' >"$W/floor-flush"
	{ printf '*nat\n:KUBE-MARK-MASQ - [0:0]\n'; grep -m1 '^-A KUBE-MARK-MASQ ' "$3"; echo COMMIT; } >"$W/floor-add1"
	echo "  floor on $label (nat: $(ip netns exec "$ns" iptables -w -t nat -S PREROUTING | grep -c KUBE-SERVICES) jump(s) PREROUTING -> KUBE-SERVICES)"
	for ((i = 1; i <= FLOOR_RUNS; i++)); do
		for input in flush add1; do
			la=$(loadavg)
			ms=$(ms_restore "$ns" "$W/floor-$input")
			res "what=floor base=$label input=$input run=$i load=$la wall_ms=$ms"
		done
	done
}

# perf_floor NS: kernel profile of 10 add1 restores in NS.
perf_floor() {
	[ "$PERF" = 1 ] && command -v perf >/dev/null || return 0
	perf record -q -g -o "$W/perf-floor.data" -- ip netns exec "$1" \
		sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do iptables-restore -w --noflush <'$W/floor-add1'; done" >/dev/null 2>&1 || return 0
	perf report -i "$W/perf-floor.data" --no-children --sort sym -g none 2>/dev/null | grep '%' | grep -v '^#' |
		head -n 12 >"$OUT/perf-floor-self.txt" || true
	perf report -i "$W/perf-floor.data" --children --sort sym -g none 2>/dev/null | grep '%' | grep -v '^#' |
		grep -E 'validate|nf_tables_|commit|sendmsg' | head -n 12 >"$OUT/perf-floor-children.txt" || true
	echo "  perf (10 add1 restores, $2): self, top 12:"
	sed 's/^/    /' "$OUT/perf-floor-self.txt"
	echo "  children (validate / commit path):"
	sed 's/^/    /' "$OUT/perf-floor-children.txt"
}

peer_change() {
	local n=$CHANGE_SIZE i la ms t0 t1 in
	echo "== kube-proxy's partial restore for one endpoint change at $n services"
	change_prepare
	state_dir "$W/state0" "$CH_IP"
	state_dir "$W/state1" 10.250.0.1
	capture "$W/kp0.rules" /dev/null -f "$W/state0" ${KP_FLAG:+$KP_FLAG}
	capture "$W/kp1.rules" /dev/null -f "$W/state1" ${KP_FLAG:+$KP_FLAG}
	python3 "$W/bin/partial.py" "$W/kp0.rules" "$W/kp1.rules" "$CH_CHAIN" "$W/partial01.rules"
	python3 "$W/bin/partial.py" "$W/kp1.rules" "$W/kp0.rules" "$CH_CHAIN" "$W/partial10.rules"
	read -r s c r <<<"$(stats "$W/partial01.rules")"
	res "size=$n what=peer-change-input lines=$s chains=$c rules=$r deletes=$(grep -c '^-X' "$W/partial01.rules")" \
		"full_lines=$(wc -l <"$W/kp0.rules")"

	# The unchanged state, loaded quickly (without --noflush: the namespace is
	# empty, so the result is the same), then the built-in chains' jumps.
	newns
	t0=$(now_ns)
	nx iptables-restore -w <"$W/kp0.rules"
	t1=$(now_ns)
	install_jumps "$W/kp0.rules"
	res "size=$n what=peer-change-base load_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')" \
		"jumps_nat=$(nx iptables -w -t nat -S | grep -c '^-A \(PREROUTING\|OUTPUT\|POSTROUTING\) .*-j KUBE-')" \
		"jumps_filter=$(nx iptables -w -t filter -S | grep -c '^-A \(INPUT\|FORWARD\|OUTPUT\) .*-j KUBE-')"
	for ((i = 1; i <= CHANGES; i++)); do
		in=$W/partial01.rules; [ $((i % 2)) = 1 ] || in=$W/partial10.rules
		la=$(loadavg)
		ms=$(ms_restore "$NS" "$in")
		if [ "$i" = 1 ]; then
			nx iptables-save -t nat >"$W/save"
			grep -q -- "--to-destination 10.250.0.1:$CH_PORT" "$W/save" || die "partial restore did not apply the change"
		fi
		res "size=$n what=peer-change run=$i load=$la dir=$(basename "$in" .rules) wall_ms=$ms"
	done
	if [ "$FLOOR" = 1 ]; then
		floor_inputs "$NS" kp-jumps "$W/kp0.rules"
		perf_floor "$NS" "kube-proxy layout, jumps in place"
	fi
	delns "$NS"
	[ "$FLOOR" = 1 ] || return 0
	# The same ruleset without the jumps: nothing reaches the service chains.
	newns
	nx iptables-restore -w <"$W/kp0.rules"
	floor_inputs "$NS" kp-nojumps "$W/kp0.rules"
	for ((i = 1; i <= 2; i++)); do
		in=$W/partial01.rules; [ $((i % 2)) = 1 ] || in=$W/partial10.rules
		la=$(loadavg)
		res "size=$n what=peer-change-nojumps run=$i load=$la dir=$(basename "$in" .rules) wall_ms=$(ms_restore "$NS" "$in")"
	done
	delns "$NS"
}

# =====================================================================
# 4. Where --noflush spends its time
# =====================================================================
# Cost model of iptables-nft 1.8.9's restore --noflush: every command
# (":CHAIN", "-A CHAIN ... [-j TARGET]") inserts CHAIN (and TARGET) into a
# name-sorted linked list (nft-cache.c, cache_chain_list_insert), walking it
# with strcmp from the head; the list is per COMMIT.  Prints the strcmp count.
cat >"$W/bin/model.py" <<'EOF'
import bisect, sys
for path in sys.argv[1:]:
    names, cmp, cmds = [], 0, 0
    def ins(n):
        global cmp
        i = bisect.bisect_left(names, n)
        cmp += min(i + 1, len(names))
        if i == len(names) or names[i] != n:
            names.insert(i, n)
    for line in open(path):
        if line[0] == '*':
            names = []
        elif line[0] == ':':
            cmds += 1; ins(line[1:line.index(' ')])
        elif line.startswith('-A ') or line.startswith('-X '):
            cmds += 1
            p = line.split()
            ins(p[1])
            if '-j' in p:
                ins(p[p.index('-j') + 1])
    print(path, cmds, cmp)
EOF

# Restore-input variants of a kube-proxy-layout input (see README):
#   nocomment   every "-m comment --comment ..." removed
#   chainsonly  the ":CHAIN" declarations only, no rules
#   table-*     one restore per table
#   interleave  each chain declared right before its rules, leaves first
#   batchB.*    bottom-up restores of about B chains each, grouped by service,
#               the chains entered from the built-in chains in the last one
#   inline      remote endpoints' SEP chains folded into the KUBE-SVC rule
#               (what kroute's default lean layout renders)
cat >"$W/bin/variants.py" <<'EOF'
import ipaddress, re, sys
src, prefix, podcidr = sys.argv[1], sys.argv[2], sys.argv[3]
local = ipaddress.ip_network(podcidr)
tables, cur = [], None
for line in open(src):
    if line[0] == '*':
        cur = {'name': line[1:].strip(), 'decl': {}, 'order': [], 'rules': {}, 'other': []}
        tables.append(cur)
    elif line.startswith('COMMIT'):
        pass
    elif line[0] == ':':
        c = line[1:line.index(' ')]
        cur['decl'][c] = line; cur['order'].append(c); cur['rules'].setdefault(c, [])
    elif line.startswith('-A '):
        cur['rules'].setdefault(line.split(' ', 2)[1], []).append(line)
    else:
        cur['other'].append(line)

def emit(path, tabs):
    with open(path, 'w') as f:
        for t in tabs:
            f.write('*%s\n' % t['name'])
            for c in t['order']:
                f.write(t['decl'][c])
            for c in t['order']:
                f.writelines(t['rules'].get(c, []))
            f.writelines(t['other'])
            f.write('COMMIT\n')

COMMENT = re.compile(r' -m comment --comment ("[^"]*"|\S+)')
with open(prefix + '.nocomment', 'w') as f:
    for line in open(src):
        f.write(COMMENT.sub('', line))
with open(prefix + '.chainsonly', 'w') as f:
    for t in tables:
        f.write('*%s\n' % t['name'])
        for c in t['order']:
            f.write(t['decl'][c])
        f.write('COMMIT\n')
for t in tables:
    emit(prefix + '.table-' + t['name'], [t])

def rank(c):
    for i, p in enumerate(('KUBE-MARK-MASQ', 'KUBE-SEP-', 'KUBE-SVL-', 'KUBE-SVC-', 'KUBE-EXT-', 'KUBE-FW-')):
        if c.startswith(p):
            return i
    return 9
with open(prefix + '.interleave', 'w') as f:
    for t in tables:
        f.write('*%s\n' % t['name'])
        order = sorted(t['order'], key=rank)
        for c in order:
            if rank(c) == 9:  # top-level chains jump to each other: declared together
                f.write(t['decl'][c])
        for c in order:
            if rank(c) < 9:
                f.write(t['decl'][c])
            f.writelines(t['rules'].get(c, []))
        f.writelines(t['other']); f.write('COMMIT\n')

nat = next(t for t in tables if t['name'] == 'nat')
filt = [t for t in tables if t['name'] != 'nat']
inner = [c for c in nat['order'] if rank(c) < 9]
parent = {c: c for c in inner}
def find(c):
    while parent[c] != c:
        parent[c] = parent[parent[c]]; c = parent[c]
    return c
for c in inner:
    if c == 'KUBE-MARK-MASQ':
        continue
    for r in nat['rules'].get(c, []):
        p = r.split()
        if '-j' in p and p[p.index('-j') + 1] in parent and p[p.index('-j') + 1] != 'KUBE-MARK-MASQ':
            parent[find(p[p.index('-j') + 1])] = find(c)
groups = {'KUBE-MARK-MASQ': []}  # first batch: every SEP chain jumps to it
for c in inner:
    groups.setdefault(find(c), []).append(c)
for B in (1000, 4000):
    batches, cb = [], []
    for g in groups.values():
        cb += g
        if len(cb) >= B:
            batches.append(cb); cb = []
    if cb:
        batches.append(cb)
    for n, b in enumerate(batches):
        emit('%s.batch%d.%03d' % (prefix, B, n), [dict(nat, order=sorted(b, key=rank), other=[])])
    emit('%s.batch%d.%03d' % (prefix, B, len(batches)),
         filt + [dict(nat, order=[c for c in nat['order'] if rank(c) == 9])])

dnat = {}
for c, rules in nat['rules'].items():
    if not c.startswith('KUBE-SEP-') or any(' recent ' in r for r in rules):
        continue
    d = [r for r in rules if ' DNAT ' in r]
    m = len(d) == 1 and re.search(r'--to-destination \[?([0-9a-f.:]+?)\]?:\d+', d[0])
    if m and ipaddress.ip_address(m.group(1)) not in local:
        dnat[c] = COMMENT.sub('', d[0].rstrip('\n').split(' ', 2)[2])
inl = dict(nat, order=[c for c in nat['order'] if c not in dnat], rules={})
for c, rules in nat['rules'].items():
    if c in dnat:
        continue
    out = []
    for r in rules:
        p = r.rstrip('\n').split(' ')
        if '-j' in p and p[p.index('-j') + 1] in dnat:
            j = p.index('-j')
            r = ' '.join(p[:j]) + ' ' + dnat[p[j + 1]] + '\n'
        out.append(r)
    inl['rules'][c] = out
emit(prefix + '.inline', filt + [inl])
EOF

# N chains named like SEP chains, k DNAT rules each (nat table).
cat >"$W/bin/synth.py" <<'EOF'
import base64, hashlib, sys
N, k, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
names = ['KUBE-SEP-' + base64.b32encode(hashlib.sha256(b'%d' % i).digest())[:16].decode() for i in range(N)]
with open(out, 'w') as f:
    f.write('*nat\n')
    f.writelines(':%s - [0:0]\n' % n for n in names)
    for i, n in enumerate(names):
        for j in range(k):
            f.write('-A %s -m tcp -p tcp -j DNAT --to-destination 10.%d.%d.%d:8080\n'
                    % (n, 128 + (i >> 16) % 64, (i >> 8) & 255, i & 255))
    f.write('COMMIT\n')
EOF

# Normalised ruleset of the namespace $NS (declarations sorted, rules by chain in order).
ruleset() {
	local t
	for t in filter nat; do
		echo "*$t"
		nx iptables-save -t "$t" >"$W/save"
		grep '^:' "$W/save" | sed 's/ \[[0-9]*:[0-9]*\]$//' | sort
		grep '^-A' "$W/save" | sort -s -k2,2
	done
}

# Loads the given files one after another with CMD... in a fresh namespace; sets T_WALL.
# With SAME_AS=file, compares the resulting ruleset with that file's and sets T_SAME.
load_files() {
	local cmd=$1; shift
	newns
	local t0 t1 f rc=0
	t0=$(now_ns)
	for f in "$@"; do ip netns exec "$NS" $cmd <"$f" || rc=1; done
	t1=$(now_ns)
	T_WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	T_RC=$rc
	T_SAME=-
	if [ -n "${SAME_AS:-}" ]; then
		ruleset >"$W/ruleset.now"
		cmp -s "$W/ruleset.now" "$SAME_AS" && T_SAME=yes || T_SAME=no
	fi
	delns "$NS"
}

analysis() {
	local n=$ANALYSIS_SIZE peer file cidr v i
	file=$(cluster_file "$n")
	peer=$W/peer-$n.rules
	[ -s "$peer" ] || capture "$peer" "$peer.6" -f "$file" ${KP_FLAG:+$KP_FLAG}
	echo "== where --noflush spends its time ($n services, kube-proxy layout)"
	cidr=$(awk -v n="  name: $NODE" '$0 == n { f = 1 } f && /podCIDR:/ { print $2; exit }' "$file")
	python3 "$W/bin/variants.py" "$peer" "$W/v/in" "$cidr"
	python3 "$W/bin/variants.py" "$W/v/in.inline" "$W/v/lean" "$cidr" # batches of the lean input

	# Reference rulesets: the peer input and its lean variant, loaded without --noflush.
	newns
	nx iptables-restore -w <"$peer"
	ruleset >"$W/ruleset.ref"
	delns "$NS"
	newns
	nx iptables-restore -w <"$W/v/in.inline"
	ruleset >"$W/ruleset.lean"
	delns "$NS"
	# The inline variant is what kroute renders by default (lean layout)?
	capture "$W/lean.rules" /dev/null -f "$file"
	res "size=$n what=inline-vs-kroute identical=$(cmp -s "$W/lean.rules" "$W/v/in.inline" && echo yes || echo no)"

	if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
		newns
		nx perf record -o "$W/perf.data" iptables-restore -w --noflush <"$peer" >/dev/null 2>&1
		delns "$NS"
		echo "  perf report (iptables-restore -w --noflush, $n services), by object:"
		perf report -i "$W/perf.data" --no-children --sort dso 2>/dev/null | grep '%' | grep -v '^#' | head -n 4 | sed 's/^/    /' || true
		echo "  by symbol or address (top 6):"
		perf report -i "$W/perf.data" --no-children --sort dso,sym 2>/dev/null >"$W/perf.txt" || true
		grep '%' "$W/perf.txt" | grep -v '^#' | head -n 6 | sed 's/^/    /' || true
		# The hot spot in the stripped binary: the function holding the hottest address.
		local addr
		addr=$(sed -n 's/.*xtables-nft-multi *\[\.\] 0x0*\([0-9a-f]*\).*/\1/p' "$W/perf.txt" | head -n1 || true)
		if [ -n "$addr" ]; then
			echo "  code around xtables-nft-multi+0x$addr (calls):"
			objdump -d --start-address=$((0x$addr - 0x40)) --stop-address=$((0x$addr + 0x50)) \
				"$(readlink -f "$(command -v xtables-nft-multi)")" >"$W/objdump.txt" 2>/dev/null || true
			grep -o 'call .*' "$W/objdump.txt" | sed 's/^/    /' || true
		fi
	fi

	# Variants: 3 rounds, alternating, each in a fresh namespace.
	local names; read -r -a names <<<"$VARIANTS"
	for ((i = 1; i <= RUNS; i++)); do
		for v in "${names[@]}"; do
			local files=() cmd="iptables-restore -w --noflush" la
			SAME_AS=""
			case $v in
			noflush) files=("$peer") ;;
			flush) files=("$peer"); cmd="iptables-restore -w" ;;
			nocomment) files=("$W/v/in.nocomment") ;;
			chainsonly) files=("$W/v/in.chainsonly") ;;
			table-split) files=("$W/v/in.table-filter" "$W/v/in.table-nat"); SAME_AS=$W/ruleset.ref ;;
			interleave) files=("$W/v/in.interleave"); SAME_AS=$W/ruleset.ref ;;
			batch1000) files=("$W"/v/in.batch1000.*); SAME_AS=$W/ruleset.ref ;;
			batch4000) files=("$W"/v/in.batch4000.*); SAME_AS=$W/ruleset.ref ;;
			inline) files=("$W/v/in.inline") ;;
			inline-batch1000) files=("$W"/v/lean.batch1000.*); SAME_AS=$W/ruleset.lean ;;
			legacy-noflush) command -v iptables-legacy-restore >/dev/null || continue
				files=("$peer"); cmd="iptables-legacy-restore -w --noflush" ;;
			esac
			[ "$i" = 1 ] || SAME_AS=""
			la=$(loadavg)
			load_files "$cmd" "${files[@]}"
			local lines=0 chains=0 rules=0 f strc=0 cmds=0
			for f in "${files[@]}"; do
				read -r s c r <<<"$(stats "$f")"
				lines=$((lines + s)); chains=$((chains + c)); rules=$((rules + r))
			done
			if [ "$i" = 1 ]; then
				read -r cmds strc <<<"$(python3 "$W/bin/model.py" "${files[@]}" | awk '{ c += $2; s += $3 } END { print c, s }')"
				res "size=$n run=$i what=variant variant=$v load=$la rc=$T_RC wall_s=$T_WALL calls=${#files[@]}" \
					"lines=$lines chains=$chains rules=$rules model_cmds=$cmds model_strcmp=$strc same_ruleset=$T_SAME"
			else
				res "size=$n run=$i what=variant variant=$v load=$la rc=$T_RC wall_s=$T_WALL"
			fi
		done
	done

	local nk N k
	[ "$SYNTHETIC" = 1 ] && echo "== synthetic: N chains x k DNAT rules (nat), --noflush and without"
	for ((i = 1; i <= RUNS * SYNTHETIC; i++)); do
		for nk in "2000 0" "4000 0" "8000 0" "16000 0" "32000 0" "4000 2" "8000 2" "16000 2" "1 40000"; do
			read -r N k <<<"$nk"
			[ -s "$W/syn/$N-$k" ] || python3 "$W/bin/synth.py" "$N" "$k" "$W/syn/$N-$k"
			local la a b strc; la=$(loadavg)
			load_files "iptables-restore -w --noflush" "$W/syn/$N-$k"; a=$T_WALL
			load_files "iptables-restore -w" "$W/syn/$N-$k"; b=$T_WALL
			strc=$(python3 "$W/bin/model.py" "$W/syn/$N-$k" | awk '{ print $3 }')
			res "run=$i what=synthetic chains=$N rules_per_chain=$k load=$la noflush_s=$a flush_s=$b model_strcmp=$strc"
		done
	done

	# kroute's own time: where it goes at the largest size (capture only, nothing applied).
	if [ "$PERF" = 1 ] && command -v perf >/dev/null; then
		local big; big=$(tr ' ' '\n' <<<"$SIZES" | sort -n | tail -n1)
		newns
		KRB_OUT=/dev/null KROUTE_IPTABLES_RESTORE=$CAP4 KROUTE_IP6TABLES_RESTORE=$CAP6 ip netns exec "$NS" \
			perf record -o "$W/perf-kroute.data" "$KROUTE" run --mode iptables --node "$NODE" \
			-f "$(cluster_file "$big")" --once >/dev/null 2>&1 || true
		delns "$NS"
		echo "  perf report (kroute's own time, $big services, input recorded, not applied; top 6):"
		perf report -i "$W/perf-kroute.data" --no-children --sort sym 2>/dev/null >"$W/perf-kroute.txt" || true
		grep '%' "$W/perf-kroute.txt" | grep -v '^#' | head -n 6 | sed 's/^/    /' || true
	fi
}

# =====================================================================
# kroute alone: own time and peak RSS with the restore input recorded (nothing applied)
# =====================================================================
own() {
	local n file i layout
	for n in $SIZES; do
		file=$(cluster_file "$n")
		for ((i = 1; i <= RUNS; i++)); do
			for layout in default ${KP_FLAG:+kube-proxy}; do
				local la; la=$(loadavg)
				capture "$W/own.rules" "$W/own.rules6" -f "$file" $([ $layout = kube-proxy ] && echo "$KP_FLAG")
				res "size=$n run=$i what=own layout=$layout load=$la wall_s=$T_WALL" \
					"rss_kb=$T_RSS lines=$(wc -l <"$W/own.rules") lines6=$(wc -l <"$W/own.rules6")"
			done
		done
	done
}

# =====================================================================
for step in $STEPS; do
	[ "$SUMMARY_ONLY" != 1 ] || break
	case $step in
	full) for n in $SIZES; do full_size "$n"; done ;;
	change) change_test ;;
	peer-change) peer_change ;;
	analysis) analysis ;;
	own) own ;;
	*) die "unknown step $step" ;;
	esac
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

# =====================================================================
# Summary tables (medians over runs)
# =====================================================================
med() { get "$@" | grep -v '^-$' | median; }
nruns() { get wall_s "$@" | wc -l; }
if [[ " $STEPS " == *" full "* ]]; then
	echo
	echo "### Full sync (median of the runs; n = runs)"
	echo
	echo "| services | kroute input chains / rules (IPv4; IPv6) | kroute wall s | kroute own s | in restore s (v4 + v6) | kroute peak RSS MB | peer input chains / rules (IPv4; IPv6) | peer --noflush s (v4 + v6) | peer RSS MB | kroute / peer | without --noflush s (v4 + v6, reference) | load avg |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for n in $SIZES; do
		kw=$(med wall_s size=$n what=kroute); pw=$(get wall_s size=$n what=peer | sed -n 1p)
		[ "$(nruns size=$n what=peer)" -gt 1 ] && pw=$(med wall_s size=$n what=peer)
		[ "$(get rc size=$n what=peer | sed -n 1p)" != 124 ] || pw=">$PEER_TIMEOUT"
		ratio=$(awk -v k="$kw" -v p="${pw#>}" 'BEGIN { if (p + 0 > 0) printf "%.3f", k / p; else print "-" }')
		[[ $pw == ">"* ]] && ratio="<$ratio"
		echo "| $n | $(get chains size=$n what=kroute | sed -n 1p) / $(get rules size=$n what=kroute | sed -n 1p);" \
			"$(get chains6 size=$n what=kroute | sed -n 1p) / $(get rules6 size=$n what=kroute | sed -n 1p)" \
			"| $kw (n=$(nruns size=$n what=kroute)) | $(med own_s size=$n what=kroute)" \
			"| $(med restore_s size=$n what=kroute) ($(med restore4_s size=$n what=kroute) + $(med restore6_s size=$n what=kroute))" \
			"| $(awk -v r="$(get rss_kb size=$n what=kroute | sort -n | tail -n1)" 'BEGIN { printf "%.0f", r / 1024 }')" \
			"| $(get chains size=$n what=peer-input) / $(get rules size=$n what=peer-input);" \
			"$(get chains6 size=$n what=peer-input) / $(get rules6 size=$n what=peer-input)" \
			"| $pw (n=$(nruns size=$n what=peer); $(get v4_s size=$n what=peer | sed -n 1p) + $(get v6_s size=$n what=peer | sed -n 1p))" \
			"| $(awk -v r="$(get rss_kb size=$n what=peer | sort -n | tail -n1)" 'BEGIN { printf "%.0f", r / 1024 }')" \
			"| $ratio | $(med wall_s size=$n what=flush) (n=$(nruns size=$n what=flush); $(med v4_s size=$n what=flush) + $(med v6_s size=$n what=flush))" \
			"| $(get load size=$n | sort -g | sed -n 1p)–$(get load size=$n | sort -g | tail -n1) |"
	done
	if [ -n "$(get wall_s what=kroute_kp)" ]; then
		echo
		echo "kroute in kube-proxy's layout ($KP_FLAG), applied:"
		for n in $SIZES; do
			[ -n "$(get wall_s size=$n what=kroute_kp)" ] || continue
			echo "- $n services: wall $(med wall_s size=$n what=kroute_kp) s, own $(med own_s size=$n what=kroute_kp) s," \
				"in iptables-restore $(med restore_s size=$n what=kroute_kp) s (n=$(nruns size=$n what=kroute_kp))"
		done
	fi
	echo
	echo "kroute's own time for kube-proxy's layout (input recorded, nothing applied):" \
		"$(for n in $SIZES; do echo -n "$n: $(get kroute_kp_own_s size=$n what=peer-input) s; "; done)"
fi
if [[ " $STEPS " == *" change "* ]]; then
	echo
	echo "### One endpoint change at $CHANGE_SIZE services (the EndpointSlice in its own file)"
	echo
	echo "| change | sync kind | files read | sync ms | read ms | policy ms | apply ms | of which kernel tools ms | mv -> log line ms | mv -> DNAT visible ms | restore input lines | load avg |"
	echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
	for ((i = 1; i <= CHANGES; i++)); do
		echo "| $i | $(get kind change=$i) | $(get files_read change=$i) | $(get sync_ms change=$i) | $(get read_ms change=$i)" \
			"| $(get policy_ms change=$i) | $(get apply_ms change=$i) | $(get kernel_ms change=$i) | $(get e2e_log_ms change=$i)" \
			"| $(get e2e_probe_ms change=$i) | $(get restore_lines change=$i) | $(get load change=$i) |"
	done
	echo
	echo "median: sync $(med sync_ms what=change) ms (read $(med read_ms what=change), policy $(med policy_ms what=change)," \
		"apply $(med apply_ms what=change), kernel tools $(med kernel_ms what=change)); mv -> DNAT visible $(med e2e_probe_ms what=change) ms"
fi
if [[ " $STEPS " == *" peer-change "* ]]; then
	echo
	echo "### kube-proxy's partial restore for the same change ($CHANGE_SIZE services)"
	echo
	echo "input: $(get lines what=peer-change-input) lines, $(get chains what=peer-change-input) chains," \
		"$(get rules what=peer-change-input) rules, $(get deletes what=peer-change-input) chain delete(s)" \
		"(full input: $(get full_lines what=peer-change-input) lines)"
	echo
	echo "| run | direction | iptables-restore -w --noflush ms | load avg |"
	echo "|---:|---|---:|---|"
	for ((i = 1; i <= CHANGES; i++)); do
		echo "| $i | $(get dir what=peer-change run=$i) | $(get wall_ms what=peer-change run=$i) | $(get load what=peer-change run=$i) |"
	done
	echo
	echo "median $(med wall_ms what=peer-change) ms; kroute's sync / peer's restore: $(awk -v k="$(med sync_ms what=change)" \
		-v p="$(med wall_ms what=peer-change)" 'BEGIN { if (p + 0 > 0 && k != "-") printf "%.2f", k / p; else print "-" }');" \
		"without the jumps: $(get wall_ms what=peer-change-nojumps | tr '\n' ' ')ms"
fi
if [ -n "$(get wall_ms what=floor)" ]; then
	echo
	echo "### The floor: one-chain --noflush restores into a loaded $CHANGE_SIZE-service ruleset (median ms, n = $FLOOR_RUNS)"
	echo
	echo "| ruleset | jumps from the built-in chains | flush only | flush + add 1 rule | load avg |"
	echo "|---|---|---:|---:|---|"
	for b in kroute-lean-jumps kp-jumps kp-nojumps; do
		[ -n "$(get wall_ms what=floor base=$b)" ] || continue
		echo "| $(case $b in kroute*) echo "kroute (lean)" ;; *) echo "kube-proxy layout" ;; esac)" \
			"| $(case $b in *nojumps) echo no ;; *) echo yes ;; esac)" \
			"| $(med wall_ms what=floor base=$b input=flush) | $(med wall_ms what=floor base=$b input=add1)" \
			"| $(get load what=floor base=$b | sort -g | sed -n 1p)–$(get load what=floor base=$b | sort -g | tail -n1) |"
	done
fi
if [[ " $STEPS " == *" analysis "* ]]; then
	echo
	echo "### Restore-input variants ($ANALYSIS_SIZE services, median of the runs)"
	echo
	echo "| variant | restore calls | chains | rules | model strcmp | time s | same ruleset as the peer |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	for v in $VARIANTS; do
		[ -n "$(get wall_s variant=$v)" ] || continue
		local_m=$(get model_strcmp variant=$v); case $v in flush | legacy*) local_m="n/a" ;; esac
		echo "| $v | $(get calls variant=$v) | $(get chains variant=$v) | $(get rules variant=$v) | $local_m" \
			"| $(med wall_s variant=$v) | $(get same_ruleset variant=$v) |"
	done
	if [ "$SYNTHETIC" = 1 ]; then
		echo
		echo "### Synthetic: N chains x k rules (median of the runs)"
		echo
		echo "| chains | rules/chain | model strcmp | --noflush s | without s |"
		echo "|---:|---:|---:|---:|---:|"
		for nk in "2000 0" "4000 0" "8000 0" "16000 0" "32000 0" "4000 2" "8000 2" "16000 2" "1 40000"; do
			read -r N k <<<"$nk"
			echo "| $N | $k | $(get model_strcmp what=synthetic chains=$N rules_per_chain=$k | sed -n 1p)" \
				"| $(med noflush_s what=synthetic chains=$N rules_per_chain=$k) | $(med flush_s what=synthetic chains=$N rules_per_chain=$k) |"
		done
	fi
fi
if [[ " $STEPS " == *" own "* ]]; then
	echo
	echo "### kroute alone (restore input recorded, nothing applied; median of the runs)"
	echo
	echo "| services | layout | wall s | peak RSS MB | input lines |"
	echo "|---:|---|---:|---:|---:|"
	for n in $SIZES; do
		for layout in default kube-proxy; do
			[ -n "$(get wall_s what=own size=$n layout=$layout)" ] || continue
			echo "| $n | $layout | $(med wall_s what=own size=$n layout=$layout)" \
				"| $(awk -v r="$(get rss_kb what=own size=$n layout=$layout | sort -n | tail -n1)" 'BEGIN { printf "%.0f", r / 1024 }')" \
				"| $(get lines what=own size=$n layout=$layout | sed -n 1p) |"
		done
	done
fi
