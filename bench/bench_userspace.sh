#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# userspace mode: kroute's L4 proxy against HAProxy and a direct connection.
# Side by side in the same run, alternating (every round measures every
# target, figure by figure), same backends, same machine:
#
#   direct          the client talks to the backend itself (the baseline)
#   haproxy         HAProxy (Debian's 2.6) in `mode tcp`, nbthread = WORKERS
#   haproxy-splice  the same with `option splice-auto` (kernel splicing), its
#                   fastest TCP forwarding
#   kroute          `kroute run --mode userspace --userspace-workers WORKERS`,
#                   the backend as a Service's endpoint, through its ClusterIP
#
# Figures, each from a client in the client's namespace:
#   tput1   iperf3, one stream, Gbit/s (to iperf3 -s)
#   tput8   iperf3 -P 8, Gbit/s
#   cps     wrk -H 'Connection: close': a new connection per request, req/s
#           (to nginx: a 3-byte `return 200`)
#   rps     wrk keep-alive, req/s; also its p99 at WRK_CONNS connections
#   lat     wrk -c 1 (one request at a time): p50 / p99 latency; the added
#           p99 is this minus direct's
#   rss     the proxy's RSS with IDLE_CONNS connections open and idle
#           (kr-stress conns, to kr-stress server; proxies only)
# plus the proxy's CPU seconds during each figure (/proc/PID/stat).
#
# TOPOLOGY picks where client, proxy and backend sit; both are measured the
# same way and reported separately (results lines carry topology=):
#
#   loopback  (default) one network namespace, every address on its
#             loopback: the cheapest possible "direct" path
#   pods      a Service's real path, pod -> veth -> node -> veth -> pod:
#             a client pod (10.244.1.20), a backend pod (10.244.2.10) and a
#             node between them (ip_forward=1), wired like tests/cluster's
#             pods (Calico style: the pod has IP/32 on eth0 and a default
#             route via 169.254.1.1 onlink; the node has a /32 route to each
#             pod through its veth; rp_filter off everywhere).  direct
#             is routed through the node; HAProxy listens on node addresses
#             (10.0.0.1, 10.0.0.2, on the node's lo); kroute runs in the node
#             with --cluster-cidr 10.244.0.0/16 and captures the ClusterIP,
#             which the client reaches by its default route.  Clients run in
#             the client pod, backends in the backend pod.
#
# The namespaces are created by this script and deleted on every exit path;
# the host namespace is never touched.
# When kroute's userspace mode is missing from the build the script says so
# and measures the others; it never invents a figure.  Needs root, ip,
# haproxy, iperf3, wrk, nginx, jq (scripts/setup.sh installs them).
#
# Results: a log on stdout, raw key=value lines in $OUT/results.txt, Markdown
# tables (medians over rounds) at the end.  See bench/README.md "userspace mode".
#
# Environment:
#   BUILD        meson build dir with kroute and tests/cluster/kr-stress (default build)
#   TOPOLOGY     loopback (default) or pods, above
#   OUT          output dir (default bench/out/userspace, for pods
#                bench/out/userspace-pods; git-ignored)
#   RUNS         rounds (default 3)
#   DURATION     seconds per figure (default 5)
#   WORKERS      proxy threads for kroute and HAProxy (default: nproc)
#   TARGETS      default "direct haproxy haproxy-splice kroute"
#   FIGURES      default "tput1 tput8 cps rps lat rss"
#   WRK_CONNS    wrk connections for cps/rps (default 32), WRK_THREADS (default 2)
#   NGINX_WORKERS  nginx worker processes (default auto)
#   IDLE_CONNS   idle connections for rss (default 10000, lowered to fit RLIMIT_NOFILE)
#   PERF         1: profile every proxy (perf record -g -p PID) during PERF_FIGURES of
#                round 1 and print its top symbols (default 0)
#   PERF_FIGURES default "tput1 cps rps"
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. tests/cluster/one_node.sh
. bench/lib.sh

BUILD=${BUILD:-build}
TOPOLOGY=${TOPOLOGY:-loopback}
case $TOPOLOGY in
loopback) OUT=${OUT:-bench/out/userspace} ;;
pods) OUT=${OUT:-bench/out/userspace-pods} ;;
*) echo "bench_userspace.sh: TOPOLOGY must be loopback or pods, not '$TOPOLOGY'" >&2; exit 1 ;;
esac
RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
WORKERS=${WORKERS:-$(nproc)}
TARGETS=${TARGETS:-"direct haproxy haproxy-splice kroute"}
FIGURES=${FIGURES:-"tput1 tput8 cps rps lat rss"}
WRK_CONNS=${WRK_CONNS:-32}
WRK_THREADS=${WRK_THREADS:-2}
NGINX_WORKERS=${NGINX_WORKERS:-auto}
IDLE_CONNS=${IDLE_CONNS:-10000}
PERF=${PERF:-0}
PERF_FIGURES=${PERF_FIGURES:-"tput1 cps rps"}

die() { echo "bench_userspace.sh: $*" >&2; exit 1; }
if [ "${SUMMARY_ONLY:-0}" != 1 ]; then
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	for p in ip haproxy iperf3 wrk nginx jq; do
		command -v "$p" >/dev/null || die "$p not found (scripts/setup.sh installs it)"
	done
	[ -x "$BUILD/kroute" ] && [ -x "$BUILD/tests/cluster/kr-stress" ] || die "build $BUILD first (ninja -C $BUILD)"
fi

bench_results_init
mkdir -p "$W/bin" "$W/m" "$W/nginx"
# Other engineers rebuild the tree while this runs: measure private copies.
if [ "${SUMMARY_ONLY:-0}" != 1 ]; then
	cp "$BUILD/kroute" "$W/bin/kroute"
	cp "$BUILD/tests/cluster/kr-stress" "$W/bin/kr-stress"
fi
KROUTE=$W/bin/kroute
STRESS=$W/bin/kr-stress

KROUTE_VIP=10.96.0.10		# a ClusterIP; kroute captures it itself
NS=krbench-us-$$
KROUTE_ARGS=()
if [ "$TOPOLOGY" = loopback ]; then
	BACKEND=10.244.1.10	# iperf3 -s :5201, nginx :8080, kr-stress server :7000
	CNS=$NS NNS=$NS BNS=$NS	# client, node (proxies), backend: one namespace
	WIRING="one namespace, every address on its loopback"
	declare -A VIP=([haproxy]=10.96.0.11 [haproxy-splice]=10.96.0.12)
else
	BACKEND=10.244.2.10
	CLIENT=10.244.1.20
	CNS=$NS-client NNS=$NS-node BNS=$NS-backend
	WIRING="client pod $CLIENT -> veth -> node (proxies) -> veth -> backend pod $BACKEND"
	declare -A VIP=([haproxy]=10.0.0.1 [haproxy-splice]=10.0.0.2)	# node addresses
	# The client pod is a pod: kroute keeps its address (transparent socket).
	KROUTE_ARGS=(--cluster-cidr 10.244.0.0/16)
fi
VIP+=([direct]=$BACKEND [kroute]=$KROUTE_VIP)
NSES=("$NS")
[ "$TOPOLOGY" = loopback ] || NSES=("$CNS" "$NNS" "$BNS")
declare -A HTTP_PORT=([direct]=8080 [haproxy]=80 [haproxy-splice]=80 [kroute]=80)
declare -A PID=()
declare -A NOTE=()

PIDS=()
nspids() { local n; for n in "${NSES[@]}"; do ip netns pids "$n" 2>/dev/null || true; done; }
# Every process left in the namespaces (by pid), then the namespaces.
cleanup() {
	local p i n
	for p in "${PIDS[@]}" $(nspids); do kill "$p" 2>/dev/null || true; done
	for ((i = 0; i < 100; i++)); do
		[ -z "$(nspids)" ] && break
		sleep 0.05
	done
	for p in $(nspids); do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
	for n in "${NSES[@]}"; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# nsconf NS [SCRIPT]: in NS only, lo up, the sysctls every namespace gets
# (many short connections), then SCRIPT (sh); pods mode adds forwarding off
# and rp_filter off before any interface exists, so each new one inherits it.
nsconf() {
	local pre=""
	[ "$TOPOLOGY" = loopback ] || pre="echo 0 >/proc/sys/net/ipv4/ip_forward
		echo 0 >/proc/sys/net/ipv4/conf/all/rp_filter
		echo 0 >/proc/sys/net/ipv4/conf/default/rp_filter"
	ip netns exec "$1" sh -e -c "
		$pre
		ip link set lo up
		echo '10000 65000' >/proc/sys/net/ipv4/ip_local_port_range
		echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse
		${2:-}"
}
# pod NS IF IP: the pod namespace NS with IP/32 on eth0 and its default
# route via 169.254.1.1 (onlink), a veth to the node whose end there is IF,
# with a /32 route to IP: tests/cluster's pods (kc_add_pod), except that the
# node owns the gateway address (on lo) rather than answering for it by proxy
# ARP, which needs a route out of some third interface.
pod() {
	ip netns add "$1"
	nsconf "$1" "
		ip link add eth0 type veth peer name $2 netns $NNS
		ip addr add $3/32 dev eth0
		ip link set eth0 up
		ip route add default via 169.254.1.1 dev eth0 onlink"
	ip netns exec "$NNS" sh -e -c "
		ip link set $2 up
		ip route add $3/32 dev $2 scope link"
}
make_namespaces() {
	if [ "$TOPOLOGY" = loopback ]; then
		ip netns add "$NS"
		nsconf "$NS" "
			ip addr add $BACKEND/32 dev lo
			ip addr add ${VIP[haproxy]}/32 dev lo
			ip addr add ${VIP[haproxy-splice]}/32 dev lo"
	else
		ip netns add "$NNS"
		# The node's addresses; the first is its source address towards the
		# pods (HAProxy's connections to the backend come from it).
		nsconf "$NNS" "
			echo 1 >/proc/sys/net/ipv4/ip_forward
			ip addr add ${VIP[haproxy]}/32 dev lo
			ip addr add ${VIP[haproxy-splice]}/32 dev lo
			ip addr add 169.254.1.1/32 dev lo"
		pod "$CNS" pc0 "$CLIENT"
		pod "$BNS" pb0 "$BACKEND"
	fi
}
# Clients run in the client namespace.
nx() { ip netns exec "$CNS" "$@"; }

# A proxy holds two sockets per connection.  HAProxy keeps them in one fd
# table, which the fd limit bounds (20,000 on the project's machine, not
# raisable there): its idle-connection figure is fitted into it.  kroute's
# workers have a table each (--userspace-workers 2 or more: 10,000 fit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
hard=$(ulimit -Hn)
IDLE_ONE_TABLE=$IDLE_CONNS
if [ "$hard" != unlimited ] && [ $((2 * IDLE_CONNS + 256)) -gt "$hard" ]; then
	IDLE_ONE_TABLE=$(((hard - 256) / 2 / 100 * 100))
	echo "note: RLIMIT_NOFILE hard limit $hard: HAProxy's rss is measured at $IDLE_ONE_TABLE idle" \
		"connections, kroute's at $IDLE_CONNS"
fi

# CPU seconds (user + system) of a process and its threads.
cpu_s() {
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
	awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"
}
listening() { ip netns exec "$BNS" ss -Hltn "sport = :$1" | grep -q .; }
wait_until() { # TRIES CMD...: polls every 50 ms
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.05; done
	return 1
}

# =====================================================================
# Summary (medians over rounds)
# =====================================================================
summary() {
	med() { get "$@" | { grep -v '^-$' || true; } | median; }
	range() {
		local v
		v=$(get "$@" | { grep -v '^-$' || true; } | sort -g)
		if [ -n "$v" ]; then echo "$(head -n1 <<<"$v")–$(tail -n1 <<<"$v")"; else echo -; fi
	}
	ratio() {
		awk -v a="$1" -v b="$2" 'BEGIN {
			if (a != "" && a != "-" && b != "" && b != "-" && b + 0 > 0) printf "%.2f", a / b; else print "-" }'
	}
	# rratio A B FIGURE: the median of A / B within each round (load drifts
	# between rounds; A and B of one round ran back to back), and the range.
	rratio() {
		local r v=""
		for ((r = 1; r <= RUNS; r++)); do
			v+="$(ratio "$(get value target=$1 figure=$3 run=$r | head -n1)" \
				"$(get value target=$2 figure=$3 run=$r | head -n1)")"$'\n'
		done
		v=$(grep -v '^-$' <<<"$v" | grep . | sort -g || true)
		if [ -n "$v" ]; then
			echo "$(median <<<"$v") ($(head -n1 <<<"$v")–$(tail -n1 <<<"$v"))"
		else
			echo -
		fi
	}
	declare -A UNIT=([tput1]="Gbit/s" [tput8]="Gbit/s" [cps]="req/s" [rps]="req/s" [lat]="req/s" [rss]="kB")
	declare -A NAME=([tput1]="iperf3, 1 stream" [tput8]="iperf3, 8 streams" [cps]="wrk, Connection: close"
		[rps]="wrk, keep-alive" [lat]="wrk -c1, keep-alive" [rss]="RSS, idle connections (counts below)")
	echo
	echo "### userspace mode, topology $TOPOLOGY: medians of $RUNS rounds (range in brackets), ${DURATION} s per figure"
	echo
	echo "Ratios: the median over rounds of the ratio within a round (range in brackets)."
	echo
	hdr="| figure | unit |"
	sep="|---|---|"
	for t in "${ACTIVE[@]}"; do hdr+=" $t |"; sep+="---:|"; done
	echo "$hdr kroute / haproxy | kroute / direct | load avg |"
	echo "$sep---:|---:|---|"
	for fig in $FIGURES; do
		row="| ${NAME[$fig]} | ${UNIT[$fig]} |"
		for t in "${ACTIVE[@]}"; do
			if [ -z "$(get value target=$t figure=$fig)" ]; then row+=" - |"; continue; fi
			row+=" $(med value target=$t figure=$fig) ($(range value target=$t figure=$fig)) |"
		done
		row+=" $(rratio kroute haproxy "$fig") | $(rratio kroute direct "$fig") | $(range load figure=$fig) |"
		echo "$row"
	done
	if [[ " $FIGURES " == *" lat "* || " $FIGURES " == *" rps "* ]]; then
		echo
		echo "Latency (wrk's p50 / p99, µs; added = target's p99 minus direct's, medians):"
		echo
		echo "| target | -c1 p50 | -c1 p99 | added p99 (-c1) | -c$WRK_CONNS keep-alive p99 | added p99 (-c$WRK_CONNS) |"
		echo "|---|---:|---:|---:|---:|---:|"
		d1=$(med p99_us target=direct figure=lat)
		d32=$(med p99_us target=direct figure=rps)
		for t in "${ACTIVE[@]}"; do
			p1=$(med p99_us target=$t figure=lat)
			p32=$(med p99_us target=$t figure=rps)
			echo "| $t | $(med p50_us target=$t figure=lat) | $p1 | $(awk -v a="$p1" -v b="$d1" 'BEGIN { if (a != "-" && b != "-") print a - b; else print "-" }')" \
				"| $p32 | $(awk -v a="$p32" -v b="$d32" 'BEGIN { if (a != "-" && b != "-") print a - b; else print "-" }') |"
		done
	fi
	if [[ " $FIGURES " == *" rss "* ]]; then
		echo
		echo "Idle connections ($IDLE_CONNS asked): RSS with them open (median), and what they added in round 1"
		echo "(later rounds start from pools the earlier ones warmed):"
		echo
		for t in "${ACTIVE[@]}"; do
			[ "$t" = direct ] && continue
			o=$(get open target=$t figure=rss | sort -n | head -n1)
			n=$(get asked target=$t figure=rss run=1)
			n=${n:-$IDLE_CONNS}
			fb=$(get fds_base target=$t figure=rss run=1)
			fo=$(get fds_open target=$t figure=rss run=1)
			if [ "$o" = "$n" ]; then
				rb=$(get rss_base_kb target=$t figure=rss run=1)
				r1=$(get value target=$t figure=rss run=1)
				echo "- $t: $(med value target=$t figure=rss) kB open with $n; round 1: $rb kB before, $r1 kB open," \
					"$(awk -v a="$r1" -v b="$rb" -v n="$o" 'BEGIN { printf "%.0f", (a - b) * 1024 / n }') bytes and" \
					"$(awk -v a="$fo" -v b="$fb" -v n="$o" 'BEGIN { printf "%.1f", (a - b) / n }') fds per connection"
			else
				echo "- $t: held only ${o:-0} of $n connections (fds in round 1: $fb before, $fo at the peak):" \
					"no RSS figure"
			fi
		done
	fi
	echo
	echo "Proxy CPU seconds per figure (median; the figure lasts ${DURATION} s):"
	echo
	for t in "${ACTIVE[@]}"; do
		[ "$t" = direct ] && continue
		line="- $t:"
		for fig in $FIGURES; do line+=" $fig $(med proxy_cpu_s target=$t figure=$fig) s;"; done
		echo "$line"
	done
	if [ -n "$(get syscalls)" ]; then
		echo
		echo "Proxy system calls (perf stat, round 1), per request (wrk) or per MB forwarded (iperf3):"
		echo
		for t in "${ACTIVE[@]}"; do
			[ "$t" = direct ] && continue
			line="- $t:"
			for fig in $PERF_FIGURES; do
				local n v
				n=$(get syscalls target=$t figure=$fig run=1)
				v=$(get value target=$t figure=$fig run=1)
				[ -n "$n" ] && [ "$v" != - ] || continue
				case $fig in
				tput*) line+=" $fig $(awk -v n="$n" -v g="$v" -v d="$DURATION" 'BEGIN { printf "%.1f", n / (g * 1e9 / 8 * d / 1e6) }')/MB;" ;;
				*) line+=" $fig $(awk -v n="$n" -v r="$v" -v d="$DURATION" 'BEGIN { printf "%.1f", n / (r * d) }')/request;" ;;
				esac
			done
			echo "$line"
		done
	fi
	local f
	for f in "$W"/perf-*.data; do
		[ -s "$f" ] || continue
		echo
		echo "perf, $(basename "$f" .data | sed 's/^perf-//'), round 1, top symbols (self):"
		perf report -i "$f" --no-children -g none --sort dso,sym 2>/dev/null | grep '%' | grep -v '^#' |
			head -n 14 | sed 's/^/    /' || true
	done
	errs=$(get errors | awk '$1 > 0' | wc -l)
	fails=$(grep -c 'failed=\|check=FAIL' "$RESULTS" || true)
	echo
	echo "wrk runs with errors: $errs; failed measurements: $fails (see $RESULTS)"
	for t in $TARGETS; do
		if [ -n "${NOTE[$t]:-}" ]; then echo "$t: ${NOTE[$t]}"; fi
	done
}

# SUMMARY_ONLY=1: the tables again from $OUT/results.txt, nothing measured.
if [ "${SUMMARY_ONLY:-0}" = 1 ]; then
	[ -s "$RESULTS" ] || die "no $RESULTS"
	read -r -a ACTIVE <<<"$(get targets what=meta | tr , ' ')"
	TOPOLOGY=$(get topology what=meta)
	TOPOLOGY=${TOPOLOGY:-loopback}	# results from before topology= existed
	FIGURES=$(get figures what=meta | tr , ' ')
	IDLE_CONNS=$(get idle_conns what=meta)
	RUNS=$(get runs what=meta)
	DURATION=$(get duration what=meta)
	WRK_CONNS=$(get wrk_conns what=meta)
	summary
	exit 0
fi

make_namespaces

# ---- backends ----
ip netns exec "$BNS" iperf3 -s -B "$BACKEND" -p 5201 >"$W/iperf3.log" 2>&1 &
PIDS+=($!)
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 20000; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $W/nginx/tmp;
  proxy_temp_path $W/nginx/tmp;
  fastcgi_temp_path $W/nginx/tmp;
  uwsgi_temp_path $W/nginx/tmp;
  scgi_temp_path $W/nginx/tmp;
  server {
    listen $BACKEND:8080 backlog=4096;
    location / { return 200 "ok\n"; }
  }
}
EOF
ip netns exec "$BNS" nginx -p "$W/nginx" -c "$W/nginx/nginx.conf" -e "$W/nginx/error.log" >"$W/nginx/out.log" 2>&1 &
PIDS+=($!)
ip netns exec "$BNS" "$STRESS" server --tcp "$BACKEND:7000" --ready-file "$W/stress.ready" >"$W/stress.log" 2>&1 &
PIDS+=($!)
wait_until 100 listening 5201 && wait_until 100 listening 8080 && wait_until 100 listening 7000 ||
	die "backends did not start: $(cat "$W/iperf3.log" "$W/nginx/error.log" "$W/stress.log" 2>/dev/null)"

# ---- proxies ----
start_haproxy() { # NAME [extra global line] [extra defaults line]
	local name=$1 gextra=${2:-} extra=${3:-} vip=${VIP[$1]}
	cat >"$W/$name.cfg" <<-EOF
		global
		  nbthread $WORKERS
		  maxconn $((IDLE_ONE_TABLE + 50))
		  $gextra
		defaults
		  mode tcp
		  timeout connect 5s
		  timeout client 120s
		  timeout server 120s
		  $extra
		listen iperf
		  bind $vip:5201
		  server s1 $BACKEND:5201
		listen http
		  bind $vip:80
		  server s1 $BACKEND:8080
		listen stress
		  bind $vip:7000
		  server s1 $BACKEND:7000
	EOF
	# Not through nx: $! must be haproxy itself (ip netns exec execs it).
	ip netns exec "$NNS" haproxy -db -f "$W/$name.cfg" >"$W/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=($!)
}

start_kroute() {
	local vip=${VIP[kroute]}
	if ! "$KROUTE" run --help 2>&1 | grep -E -- '--mode|--proxy-mode' | grep -qw userspace; then
		NOTE[kroute]="not available: this build's kroute run --help lists no userspace mode"
		return 1
	fi
	kr_one_node_manifests "$W/m/cluster.yaml" bench/bench "$vip" "$BACKEND" \
		iperf:TCP:5201:5201 http:TCP:80:8080 stress:TCP:7000:7000
	ip netns exec "$NNS" "$KROUTE" run --mode userspace --node node-1 -f "$W/m" \
		--userspace-workers "$WORKERS" "${KROUTE_ARGS[@]}" >"$W/kroute.log" 2>&1 &
	PID[kroute]=$!
	PIDS+=($!)
	if ! wait_until 200 nx "$STRESS" bulk "$vip:7000" --bytes 1 --dir both >/dev/null 2>&1; then
		NOTE[kroute]="not available: kroute run --mode userspace did not proxy $vip:7000 within 10 s: $(head -n 3 "$W/kroute.log" | tr '\n' ' ')"
		kill "${PID[kroute]}" 2>/dev/null || true
		unset 'PID[kroute]'
		return 1
	fi
}

ACTIVE=()
for t in $TARGETS; do
	case $t in
	direct) ;;
	haproxy) start_haproxy haproxy ;;
	# Pipes are fds too: the default (maxconn / 4 of them) would not fit the fd limit.
	haproxy-splice) start_haproxy haproxy-splice "maxpipes 64" "option splice-auto" ;;
	kroute) start_kroute || { echo "kroute userspace: ${NOTE[kroute]}"; continue; } ;;
	*) die "unknown target $t" ;;
	esac
	ACTIVE+=("$t")
done
for t in "${ACTIVE[@]}"; do
	[ "$t" = direct ] && continue
	wait_until 200 nx "$STRESS" bulk "${VIP[$t]}:7000" --bytes 1 --dir both >/dev/null 2>&1 ||
		die "$t does not forward to the backend: $(tail -n 5 "$W/$t.log" 2>/dev/null)"
done

echo "machine: $(nproc) CPUs, $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')," \
	"$(awk '/^MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
echo "tools:   $(haproxy -v | head -n1 | cut -d' ' -f1-3), $(iperf3 -v | head -n1 | cut -d' ' -f1-2)," \
	"$(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2), $(nginx -v 2>&1 | cut -d' ' -f3) ($NGINX_WORKERS workers)"
# The source tree BUILD was configured from (another checkout, or this one).
SRC=$(jq -r '.directories.source // empty' "$BUILD/meson-info/meson-info.json" 2>/dev/null || true)
SRC=${SRC:-$ROOT}
echo "kroute:  $("$KROUTE" version 2>&1 | head -n1), commit $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?')" \
	"($(git -C "$SRC" status --porcelain -- src 2>/dev/null | wc -l) changed files under $SRC/src/), copied from $BUILD;" \
	"userspace: ${NOTE[kroute]:-measured}"
echo "setup:   WORKERS=$WORKERS (kroute --userspace-workers, HAProxy nbthread), DURATION=${DURATION}s," \
	"wrk -t$WRK_THREADS -c$WRK_CONNS, IDLE_CONNS=$IDLE_CONNS, RUNS=$RUNS; targets: ${ACTIVE[*]}"
echo "topology: $TOPOLOGY ($WIRING)$([ "$TOPOLOGY" = loopback ] ||
	echo "; haproxy on ${VIP[haproxy]}, haproxy-splice on ${VIP[haproxy-splice]}, kroute" \
		"${KROUTE_ARGS[*]} on ClusterIP $KROUTE_VIP")"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

cat >"$W/report.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d secs=%.3f rps=%.1f errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
EOF

# One figure for one target; appends a result line.
measure() {
	local run=$1 t=$2 fig=$3 vip=${VIP[$2]} la c0 c1 out=$W/out.txt v extra=""
	local pid=${PID[$t]:-}
	la=$(loadavg)
	c0=$(cpu_s "$pid")
	local perf_pid=""
	if [ "$PERF" = 1 ] && [ "$run" = 1 ] && [ -n "$pid" ] && [[ " $PERF_FIGURES " == *" $fig "* ]]; then
		perf record -q -g -o "$W/perf-$t-$fig.data" -p "$pid" -- sleep "$DURATION" >/dev/null 2>&1 &
		perf_pid=$!
		perf stat -x, -e raw_syscalls:sys_enter -o "$W/sys-$t-$fig.txt" -p "$pid" -- sleep "$DURATION" \
			>/dev/null 2>&1 &
		perf_pid+=" $!"
	fi
	case $fig in
	tput1 | tput8)
		nx timeout $((DURATION + 20)) iperf3 -c "$vip" -p 5201 -t "$DURATION" -P "$([ $fig = tput8 ] && echo 8 || echo 1)" \
			-J >"$out" 2>&1 || true
		v=$(jq -r '.end.sum_received.bits_per_second // empty | . / 1e9 | . * 100 | round / 100' "$out" 2>/dev/null || true)
		extra="retransmits=$(jq -r '.end.sum_sent.retransmits // "-"' "$out" 2>/dev/null || echo -)"
		;;
	cps | rps | lat)
		local args=(-t "$WRK_THREADS" -c "$WRK_CONNS")
		[ $fig = lat ] && args=(-t 1 -c 1)
		[ $fig = cps ] && args+=(-H "Connection: close")
		nx timeout $((DURATION + 20)) wrk "${args[@]}" -d "${DURATION}s" -s "$W/report.lua" \
			"http://$vip:${HTTP_PORT[$t]}/" >"$out" 2>&1 || true
		v=$(sed -n 's/^WRK .* rps=\([0-9.]*\).*/\1/p' "$out")
		extra=$(sed -n 's/^WRK //p' "$out" | tr ' ' '\n' | grep -E '^(errors|p50_us|p99_us)=' | paste -sd' ')
		;;
	rss)
		[ -n "$pid" ] || return 0
		local open n=$IDLE_ONE_TABLE
		[ "$t" = kroute ] && [ "$WORKERS" -ge 2 ] && n=$IDLE_CONNS
		nx timeout 180 "$STRESS" conns "$vip:7000" --count "$n" --rounds 1 --pid "$pid" \
			--hold-ms 1000 >"$out" 2>&1 || true
		# Only a proxy that held every connection gets an RSS figure.
		open=$(sed -n 's/^round=.* open=\([0-9]*\).*/\1/p' "$out")
		v=-
		[ "$open" = "$n" ] && v=$(sed -n 's/^round=.* rss_open_kb=\([0-9]*\).*/\1/p' "$out")
		extra="asked=$n open=${open:--} rss_base_kb=$(sed -n 's/.* rss_base_kb=\([0-9]*\).*/\1/p' "$out")"
		extra+=" rss_after_kb=$(sed -n 's/.* rss_after_kb=\([0-9-]*\).*/\1/p' "$out")"
		extra+=" fds_base=$(sed -n 's/.* fds_base=\([0-9-]*\).*/\1/p' "$out")"
		extra+=" fds_open=$(sed -n 's/.* fds_open=\([0-9-]*\).*/\1/p' "$out")"
		extra+=" check=$(grep -q '^ok conns' "$out" && echo ok || echo FAIL)"
		;;
	esac
	c1=$(cpu_s "$pid")
	if [ -n "$perf_pid" ]; then
		wait $perf_pid || true
		extra+=" syscalls=$(awk -F, '/raw_syscalls/ { print $1 }' "$W/sys-$t-$fig.txt" 2>/dev/null)"
	fi
	[ -n "$v" ] || { v=-; extra+=" failed=$(tail -n 2 "$out" | tr '\n ' '__' | cut -c1-120)"; }
	res "run=$run topology=$TOPOLOGY target=$t figure=$fig value=$v load=$la proxy_cpu_s=$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.2f", b - a }') $extra"
}

echo "what=meta topology=$TOPOLOGY targets=$(tr ' ' , <<<"${ACTIVE[*]}") figures=$(tr ' ' , <<<"$FIGURES" | tr -s ,)" \
	"idle_conns=$IDLE_CONNS runs=$RUNS duration=$DURATION wrk_conns=$WRK_CONNS workers=$WORKERS" >>"$RESULTS"
for ((run = 1; run <= RUNS; run++)); do
	echo "== round $run"
	for fig in $FIGURES; do
		for t in "${ACTIVE[@]}"; do
			measure "$run" "$t" "$fig"
		done
	done
done
echo
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"

summary
