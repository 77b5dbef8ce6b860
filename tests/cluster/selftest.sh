#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# selftest.sh: proves the test cluster (lib.sh, kr-backend, kr-probe) before
# any data plane is tested on it.  Builds the default three-node cluster,
# starts backends in pods and on a node, and checks with real packets and
# no NAT anywhere: pod to pod on one node, across nodes and zones, node to
# pod, external client to a node IP and to a VIP routed via a node, that
# every backend sees the true client address, UDP, HTTP keep-alive, and the
# three failure outcomes (refused, timeout from a DROP, unreachable).  Then
# it tears down and checks that no namespace, process or host change is
# left.  Prints "ok N - ..." lines and ends with "N passed, N failed";
# exits 1 on any failure, $KC_SKIP_RC (4) when it cannot run here.
#
# usage: selftest.sh [--backend PATH] [--probe PATH] [--kroute PATH] [--hold SECONDS]
#   (tools default to $KC_BIN_DIR or PATH; --kroute also checks that kroute
#   reads the manifests the library writes; --hold waits that long after
#   setup, for poking at the cluster or interrupting it)
# shellcheck disable=SC2016 # single-quoted commands run in a namespace's shell
set -u
here=$(cd "$(dirname "$0")" && pwd)
kroute=""
hold=0
while (($#)); do
	case $1 in
	--backend) export KR_BACKEND=${2:?}; shift 2 ;;
	--probe) export KR_PROBE=${2:?}; shift 2 ;;
	--kroute) kroute=${2:?}; shift 2 ;;
	--hold) hold=${2:?}; shift 2 ;;
	*) echo "usage: $0 [--backend PATH] [--probe PATH] [--kroute PATH] [--hold SECONDS]" >&2
	   exit 2 ;;
	esac
done

# shellcheck source=lib.sh
. "$here/lib.sh" || exit 1
kc_require_root
kc_find_tools || exit 1

t0=$(kc_now_ms)
pass=0
fail=0
n=0
ok() {
	n=$((n + 1)) pass=$((pass + 1))
	echo "ok $n - $1"
}
not_ok() {
	n=$((n + 1)) fail=$((fail + 1))
	echo "not ok $n - $1"
	[ -n "${2:-}" ] && echo "#   $2"
	return 0
}
# die MSG: a step the rest depends on failed; the traps tear down.
die() {
	not_ok "$1"
	echo "$pass passed, $fail failed"
	exit 1
}
# check DESC CMD...: passes when CMD succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc" "failed: $*"; fi
}
# expect DESC REGEX CMD...: passes when CMD's whole output matches REGEX.
expect() {
	local desc=$1 want=$2 got
	shift 2
	got=$("$@" 2>&1)
	if [[ $got =~ ^${want}$ ]]; then ok "$desc"; else not_ok "$desc" "got '$got', want /$want/"; fi
}
# reply POD CLIENT-IP LOCAL-IP:PORT [CLIENT-PORT]: the regex of
# kr-backend's line (any client port unless given).
reply() {
	local s="pod=$1 client=$2:${4:-[0-9]+} local=$3"
	echo "${s//./\\.}"
}

# What the host looks like, to prove afterwards that nothing changed.
host_state() {
	ip -o addr show
	ip route show table all
	ip rule show
	sysctl net.ipv4.ip_forward net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter \
		net.ipv4.conf.all.proxy_arp net.ipv4.conf.all.route_localnet 2>&1
	if command -v nft >/dev/null 2>&1; then nft list ruleset 2>&1; fi
}
host_before=$(host_state)

# --- build -----------------------------------------------------------------
kc_setup || die "kc_setup"
prefix=$KC_PREFIX
kc_add_pod node-a1 cli-a1 || die "kc_add_pod node-a1 cli-a1"
kc_add_pod node-a1 web-a1 || die "kc_add_pod node-a1 web-a1"
kc_add_pod node-a2 web-a2 || die "kc_add_pod node-a2 web-a2"
kc_add_pod node-b1 web-b1 || die "kc_add_pod node-b1 web-b1"
kc_start_backend web-a1 || die "kc_start_backend web-a1"
kc_start_backend web-a2 || die "kc_start_backend web-a2"
kc_start_backend web-b1 8080/tcp 8080/udp 8443 || die "kc_start_backend web-b1"
# A hostNetwork-style server in node-a2's own namespace.
kc_start_backend node-a2 31000/tcp 31000/udp || die "kc_start_backend node-a2"
started_pids=("${KC_BACKEND_PID[@]}")
t_setup=$(($(kc_now_ms) - t0))
echo "# cluster with 4 pods and 4 backends up in ${t_setup} ms (prefix $prefix)"
if [ "$hold" != 0 ]; then
	echo "# holding for ${hold}s (rundir $KC_RUNDIR)"
	sleep "$hold"
fi

a1=$(kc_node_ip node-a1) a2=$(kc_node_ip node-a2) b1=$(kc_node_ip node-b1)
cli=$(kc_pod_ip cli-a1) w1=$(kc_pod_ip web-a1) w2=$(kc_pod_ip web-a2) w3=$(kc_pod_ip web-b1)

# --- shape -------------------------------------------------------------------
expect "addresses follow the defaults" \
	"192.168.50.11 192.168.50.12 192.168.50.21 10.244.1.10 10.244.1.11 10.244.2.10 10.244.3.10" \
	echo "$a1 $a2 $b1 $cli $w1 $w2 $w3"
expect "one namespace per lan, node, pod and client" 9 \
	bash -c "ip netns list | grep -c '^$prefix'"
expect "node forwards, rp_filter off (inside the node only)" "1 0 0" \
	kc_exec node-a1 bash -c 'echo $(cat /proc/sys/net/ipv4/ip_forward \
		/proc/sys/net/ipv4/conf/all/rp_filter /proc/sys/net/ipv4/conf/eth0/rp_filter)'
expect "pod veth on the node: proxy_arp=1, /32 route" \
	"1 $w1 dev ${KC_POD_IF[web-a1]} scope link ?" \
	kc_exec node-a1 bash -c "echo \$(cat /proc/sys/net/ipv4/conf/${KC_POD_IF[web-a1]}/proxy_arp) \
		\$(ip route show $w1/32)"
expect "pod: /32 address, default via 169.254.1.1 onlink" \
	"inet $w2/32 default via 169.254.1.1 dev eth0 onlink ?" \
	kc_exec web-a2 bash -c 'echo $(ip -o -4 addr show dev eth0 | grep -o "inet [^ ]*") \
		$(ip route show default)'
expect "node routes other pod CIDRs via their node IPs" \
	"10.244.2.0/24 via $a2 dev eth0 10.244.3.0/24 via $b1 dev eth0 ?" \
	kc_exec node-a1 bash -c 'echo $(ip route show | grep "^10\.244\.[0-9]*\.0/24")'

# --- reachability, true client addresses ---------------------------------------
expect "pod -> pod, same node (tcp)" "$(reply web-a1 "$cli" "$w1:8080")" \
	kc_probe cli-a1 tcp "$w1" 8080
expect "pod -> pod, other node same zone (tcp)" "$(reply web-a2 "$cli" "$w2:8080")" \
	kc_probe cli-a1 tcp "$w2" 8080
expect "pod -> pod, other zone (tcp)" "$(reply web-b1 "$cli" "$w3:8080")" \
	kc_probe cli-a1 tcp "$w3" 8080
expect "pod -> pod, other zone (udp)" "$(reply web-b1 "$cli" "$w3:8080")" \
	kc_probe cli-a1 udp "$w3" 8080
expect "pod -> pod, second port" "$(reply web-b1 "$cli" "$w3:8443")" \
	kc_probe cli-a1 tcp "$w3" 8443
expect "node -> pod on another node: source is the node IP" "$(reply web-b1 "$a1" "$w3:8080")" \
	kc_probe node-a1 tcp "$w3" 8080
expect "node -> its own pod" "$(reply web-b1 "$b1" "$w3:8080")" \
	kc_probe node-b1 tcp "$w3" 8080
expect "pod -> pod from another node's pod (reply routed back)" "$(reply web-a1 "$w3" "$w1:8080")" \
	kc_probe web-b1 tcp "$w1" 8080
expect "pod -> hostNetwork server on another node" "$(reply node-a2 "$cli" "$a2:31000")" \
	kc_probe cli-a1 tcp "$a2" 31000
expect "external client -> node IP (tcp)" "$(reply node-a2 "$KC_CLIENT_IP" "$a2:31000")" \
	kc_probe client tcp "$a2" 31000
expect "external client -> node IP (udp)" "$(reply node-a2 "$KC_CLIENT_IP" "$a2:31000")" \
	kc_probe client udp "$a2" 31000
expect "--src IP:PORT: the backend sees that port" "$(reply web-b1 "$cli" "$w3:8080" 40001)" \
	kc_probe cli-a1 tcp "$w3" 8080 --src "$cli:40001"
expect "--src IP:PORT over udp" "$(reply web-b1 "$cli" "$w3:8080" 40002)" \
	kc_probe cli-a1 udp "$w3" 8080 --src "$cli:40002"
expect "--count prints one line per attempt" \
	"($(reply web-a2 "$cli" "$w2:8080")"$'\n'"){2}$(reply web-a2 "$cli" "$w2:8080")" \
	kc_probe cli-a1 tcp "$w2" 8080 --count 3
# Three requests on one connection: the same client port in every line.
http=$(kc_probe cli-a1 tcp "$w2" 8080 --http --requests 3)
first=${http%%$'\n'*}
if [[ $first =~ ^$(reply web-a2 "$cli" "$w2:8080")$ ]] &&
	[ "$http" = "$first"$'\n'"$first"$'\n'"$first" ]; then
	ok "HTTP/1.1 keep-alive: 3 requests, one connection"
else
	not_ok "HTTP/1.1 keep-alive: 3 requests, one connection" "got '$http'"
fi
if command -v curl >/dev/null 2>&1; then
	expect "curl: HTTP 200 and the line" "$(reply web-a2 "$cli" "$w2:8080")"$'\n'"200" \
		kc_exec cli-a1 curl -s -m 2 -w '%{http_code}' "http://$w2:8080/x"
fi

# --- failure outcomes -----------------------------------------------------------
expect "no listener: tcp refused" refused kc_probe cli-a1 tcp "$w3" 9999
expect "no listener: udp refused (ICMP port unreachable)" refused kc_probe cli-a1 udp "$w3" 9999
expect "no such pod: unreachable (ICMP from its node)" unreachable \
	kc_probe cli-a1 tcp 10.244.3.99 8080
expect "no such pod: udp unreachable" unreachable kc_probe cli-a1 udp 10.244.3.99 8080
expect "unrouted VIP from a pod: unreachable" unreachable kc_probe cli-a1 tcp 10.96.0.10 80
check "kc_blackhole web-a2 on" kc_blackhole web-a2 on
expect "DROP: tcp timeout" timeout kc_probe cli-a1 tcp "$w2" 8080 --timeout 300
expect "DROP: udp timeout" timeout kc_probe cli-a1 udp "$w2" 8080 --timeout 300
check "kc_blackhole web-a2 off" kc_blackhole web-a2 off
expect "after the DROP is gone: reply again" "$(reply web-a2 "$cli" "$w2:8080")" \
	kc_probe cli-a1 tcp "$w2" 8080
KC_BLACKHOLE_WITH=route kc_blackhole web-a2 on
expect "DROP by a blackhole route on the node: timeout" timeout \
	kc_probe cli-a1 tcp "$w2" 8080 --timeout 300
KC_BLACKHOLE_WITH=route kc_blackhole web-a2 off
expect "blackhole route removed: reply" "$(reply web-a2 "$cli" "$w2:8080")" \
	kc_probe cli-a1 tcp "$w2" 8080
rc_none=0 rc_reply=0
kc_probe cli-a1 tcp "$w3" 9999 >/dev/null || rc_none=$?
kc_probe cli-a1 tcp "$w3" 8080 >/dev/null || rc_reply=$?
expect "kr-probe exit status: 1 without a reply, 0 with one" "1 0" echo "$rc_none $rc_reply"

# --- the external client's routes ------------------------------------------------
# A VIP owned by node-a2 (as IPVS mode binds VIPs to a dummy device), reached
# from the client through kc_client_route; UDP also proves the reply leaves
# from the VIP, or the client's connected socket would not take it.
vip=10.96.0.10
kc__ip "$(kc_node_ns node-a2)" addr add $vip/32 dev lo
check "kc_client_route $vip node-a2" kc_client_route $vip node-a2
expect "client route points at the node" "$vip via $a2 dev eth0 ?" \
	kc_exec client bash -c "echo \$(ip route show $vip)"
expect "client -> VIP via node (tcp)" "$(reply node-a2 "$KC_CLIENT_IP" "$vip:31000")" \
	kc_probe client tcp $vip 31000
expect "client -> VIP via node (udp, reply from the VIP)" \
	"$(reply node-a2 "$KC_CLIENT_IP" "$vip:31000")" kc_probe client udp $vip 31000
check "kc_client_unroute $vip" kc_client_unroute $vip
expect "client without the route: unreachable" unreachable kc_probe client tcp $vip 31000

# --- helpers -----------------------------------------------------------------------
tw=$(kc_now_ms)
if kc_wait_for -t 0.3 false; then r=1; else r=0; fi
tw=$(($(kc_now_ms) - tw))
check "kc_wait_for gives up after its timeout (${tw} ms)" \
	test "$r" = 0 -a "$tw" -ge 300 -a "$tw" -lt 1500
flag=$KC_RUNDIR/flag
(sleep 0.2; touch "$flag") &
check "kc_wait_for returns once the command succeeds" kc_wait_for -t 3 test -e "$flag"
wait $!

# --- manifests -----------------------------------------------------------------------
mdir=$KC_RUNDIR/manifests
check "kc_write_manifests" kc_write_manifests "$mdir"
check "kc_write_endpointslice" kc_write_endpointslice "$mdir" shop/web 8080/TCP:http \
	web-a1 web-a2 web-b1:terminating node-a2
cat >"$mdir/service.yaml" <<-EOF
	apiVersion: v1
	kind: Service
	metadata: {name: web, namespace: shop}
	spec:
	  clusterIP: 10.96.0.20
	  ports: [{name: http, protocol: TCP, port: 80, targetPort: 8080}]
EOF
expect "nodes.yaml has each node's InternalIP" 3 grep -c 'type: InternalIP, address: 192.168.50' \
	"$mdir/nodes.yaml"
if [ -n "$kroute" ]; then
	if out=$("$kroute" explain -f "$mdir" --node node-a1 -o json 2>&1); then
		ok "kroute reads the written manifests"
		expect "kroute sees node-a1's zone" '"zone-a"' jq -c .zone <<<"$out"
		# Ready endpoints only: the terminating one is not used while
		# ready ones exist.
		expect "kroute sees the slice's endpoints" \
			'\["10\.244\.1\.11:8080","10\.244\.2\.10:8080","192\.168\.50\.12:8080"\]' \
			jq -c '.services[] | select(.service == "shop/web") | .clusterEndpoints' <<<"$out"
	else
		not_ok "kroute reads the written manifests" "$out"
	fi
else
	echo "# no --kroute given: manifests not fed to kroute"
fi

# --- pods and backends come and go ----------------------------------------------------
rc=0
kc_stop_backend web-b1 || rc=$?
check "kr-backend exits 0 on SIGTERM" test "$rc" = 0
check "its log has the exit summary" grep -q "exiting: tcp=" "$KC_RUNDIR/web-b1.log"
expect "stopped backend: refused" refused kc_probe cli-a1 tcp "$w3" 8080
check "backend restarts in the same pod" kc_start_backend web-b1
wpid=${KC_BACKEND_PID[web-a1]}
check "kc_del_pod web-a1" kc_del_pod web-a1
check "its namespace is gone" test -z "$(ip netns list | grep "^${prefix}pod-web-a1")"
check "its backend is gone" test ! -e "/proc/$wpid"
expect "deleted pod's IP: unreachable" unreachable kc_probe cli-a1 tcp "$w1" 8080
check "a new pod gets the freed IP" kc_add_pod node-a1 web-a1b
expect "... which is $w1" "$w1" kc_pod_ip web-a1b

# Every backend but node-a2's stops on SIGTERM with status 0 (under ASan
# that includes no leaks); node-a2's is left for kc_teardown to kill.
started_pids+=("${KC_BACKEND_PID[@]}")
bad=""
for b in web-a2 web-b1; do
	rc=0
	kc_stop_backend "$b" || rc=$?
	[ "$rc" = 0 ] || bad+=" $b:$rc"
done
check "backends exit 0 on SIGTERM after serving" test -z "$bad"

# --- teardown ------------------------------------------------------------------------------
td=$(kc_now_ms)
check "kc_teardown" kc_teardown
td=$(($(kc_now_ms) - td))
echo "# teardown took ${td} ms and stopped ${#KC_TEARDOWN_PIDS[@]} process(es)"
check "teardown found the running backend" test "${#KC_TEARDOWN_PIDS[@]}" -eq 1
expect "no namespace with the prefix left" 0 bash -c "ip netns list | grep -c '^$prefix'"
alive=""
for p in "${started_pids[@]}" "${KC_TEARDOWN_PIDS[@]}"; do
	kc__alive "$p" && alive+=" $p"
done
check "no process left (${#started_pids[@]} backends were started)" test -z "$alive"
check "run directory removed" test -z "$(ls -d "${TMPDIR:-/tmp}/$prefix"* 2>/dev/null)"
check "kc_teardown again is a no-op" kc_teardown

# --- a second cluster from a custom spec -----------------------------------------------------
# A prefix that is not an extension of the first one ("kr<PID>-"), since
# teardown removes everything starting with the prefix.
check "a bad spec is refused before anything is made" \
	bash -c ". '$here/lib.sh'; ! KR_PREFIX=kry$$- kc_setup 'Bad_Name:z' 2>/dev/null &&
		test -z \"\$(ls $KC__NETNS_DIR | grep '^kry$$-')\""
KR_PREFIX=krx$$- kc_setup "w1:east w2:east:192.168.50.77 w3:west" || die "kc_setup (custom spec)"
expect "custom spec: IPs, zones and pod CIDRs" \
	"192.168.50.11 east 10.244.1.0/24, 192.168.50.77 east 10.244.2.0/24, \
192.168.50.21 west 10.244.3.0/24" \
	echo "${KC_NODE_IP[w1]} ${KC_NODE_ZONE[w1]} ${KC_NODE_CIDR[w1]}," \
	"${KC_NODE_IP[w2]} ${KC_NODE_ZONE[w2]} ${KC_NODE_CIDR[w2]}," \
	"${KC_NODE_IP[w3]} ${KC_NODE_ZONE[w3]} ${KC_NODE_CIDR[w3]}"
kc_add_pod w2 p2 10.244.2.99 || die "kc_add_pod w2 p2"
kc_start_backend p2 9000 || die "kc_start_backend p2"
expect "custom spec: node -> pod on another node" "$(reply p2 192.168.50.11 10.244.2.99:9000)" \
	kc_probe w1 tcp 10.244.2.99 9000
check "kc_node_sysctl sets a sysctl in the node only" kc_node_sysctl w1 \
	net.ipv4.conf.all.route_localnet=1
expect "... and it is set there" 1 kc_exec w1 cat /proc/sys/net/ipv4/conf/all/route_localnet
check "second cluster torn down" kc_teardown
expect "no namespace of either cluster left" 0 \
	bash -c "ls $KC__NETNS_DIR | grep -c -e '^$prefix' -e '^krx$$-'"
host_after=$(host_state)
if [ "$host_before" = "$host_after" ]; then
	ok "host addresses, routes, rules, sysctls and nft ruleset unchanged"
else
	not_ok "host addresses, routes, rules, sysctls and nft ruleset unchanged" \
		"$(diff <(echo "$host_before") <(echo "$host_after") | head -n 20)"
fi

echo "# total $(($(kc_now_ms) - t0)) ms"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
