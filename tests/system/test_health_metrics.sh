#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# kroute run's health and metrics servers through real HTTP, in a network
# namespace of its own (src/daemon/serve.c, docs/metrics.md):
#
#   http        /healthz and /livez (kube-proxy's status codes, headers and
#               JSON), a LoadBalancer service's healthCheckNodePort (200 with
#               the local endpoint count, 503 with none, closed when the
#               service goes, a port held by another program only logged),
#               the node tainted ToBeDeletedByClusterAutoscaler (/healthz 503,
#               /livez 200), a data plane that keeps failing (503 after twice
#               the sync period, 200 again once a sync works), /metrics
#               (promtool check metrics, kube-proxy's names, the counters
#               moving) and the metrics server's /healthz, /livez, /proxyMode;
#   prometheus  Debian's Prometheus server in the same namespace scrapes
#               kroute every second; its HTTP API (/api/v1/query) returns
#               kroute's series, and a change in the manifests reaches it.
#
# Never touches the host: everything runs in a namespace deleted on every
# exit path; Prometheus's data lives in a temporary directory removed too.
#
# usage: test_health_metrics.sh http|prometheus KROUTE   (root; exits 77 = skip otherwise)
set -u
WHAT=${1:?usage: $0 http|prometheus KROUTE}
KROUTE=$(cd "$(dirname "${2:?usage: $0 http|prometheus KROUTE}")" && pwd)/$(basename "$2")
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krhealth-$$
TMP=$(mktemp -d)
PIDS=()
tools=(ip curl jq promtool iptables iptables-restore python3)
[ "$WHAT" = prometheus ] && tools+=(prometheus)
st_init "health and metrics ($WHAT)" st_cleanup_ns "${tools[@]}"
st_node_ns 192.0.2.2/24

# iptables-restore that fails while $TMP/fail exists: a data plane that cannot sync.
REAL=$(command -v iptables-restore)
cat >"$TMP/iptables-restore" <<SH
#!/bin/sh
if [ -e "$TMP/fail" ]; then cat >/dev/null; echo "injected failure" >&2; exit 1; fi
exec "$REAL" "\$@"
SH
chmod +x "$TMP/iptables-restore"

M=$TMP/m
mkdir -p "$M"
# put FILE: replaces $M/FILE (text on stdin) by rename, as editors do.
put() { cat >"$TMP/put.tmp" && mv "$TMP/put.tmp" "$M/$1"; }
node() { # [TAINT]
	put node.yaml <<YAML
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {taints: [${1:+{key: $1, effect: NoSchedule\}}]}
status: {addresses: [{type: InternalIP, address: "192.0.2.2"}]}
YAML
}
lb_service() { # NAME CLUSTER-IP HEALTH-PORT NODE-PORT
	put "svc-$1.yaml" <<YAML
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t}
spec:
  type: LoadBalancer
  clusterIP: $2
  externalTrafficPolicy: Local
  healthCheckNodePort: $3
  ports: [{name: http, port: 80, targetPort: 8080, nodePort: $4}]
YAML
}
slice() { # SERVICE READY-LOCAL-IP... (plus one ready endpoint on another node)
	local ip
	{
		printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n'
		printf 'metadata: {name: %s-1, namespace: t, labels: {kubernetes.io/service-name: %s}}\n' "$1" "$1"
		printf 'addressType: IPv4\nports: [{name: http, port: 8080, protocol: TCP}]\nendpoints:\n'
		printf -- '- {addresses: ["10.1.0.9"], conditions: {ready: true}, nodeName: node-2}\n'
		for ip in "${@:2}"; do
			printf -- '- {addresses: ["%s"], conditions: {ready: true}, nodeName: node-1}\n' "$ip"
		done
	} | put "slice-$1.yaml"
}
node
lb_service web 10.96.0.10 30999 30080
slice web 10.0.0.5 10.0.0.6

# Background processes start through ip netns exec itself (it execs): $! is then the
# process, not a subshell whose kill would leave it running.
ip netns exec "$NS" env KROUTE_IPTABLES_RESTORE="$TMP/iptables-restore" "$KROUTE" run --mode iptables --node node-1 \
	-f "$M" --iptables-sync-period 2s --iptables-min-sync-period 0s \
	--healthz-bind-address 0.0.0.0:10256 --metrics-bind-address 127.0.0.1:10249 \
	>"$TMP/kroute.log" 2>&1 &
PIDS+=($!)
KPID=$!

# get URL: the status code; headers in $TMP/h, body in $TMP/b ("000": no connection).
get() {
	nx curl -s -m 5 -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$1"
}
header() { tr -d '\r' <"$TMP/h" | sed -n "s/^$1: //Ip"; }
# wait_for WHAT CMD...: polls CMD until it succeeds (20 s).
wait_for() {
	local i
	for i in $(seq 100); do
		"${@:2}" && return 0
		sleep 0.2
	done
	echo "FAIL: timed out waiting for $1"
	fail=$((fail + 1))
	return 1
}
code_is() { [ "$(get "$1")" = "$2" ]; }
phase() { echo "[${SECONDS}s] $*"; }
alive() { kill -0 "$KPID" 2>/dev/null || die "kroute exited: $(cat "$TMP/kroute.log")"; }

wait_for "the first sync" grep -q "full sync" "$TMP/kroute.log" || die "$(cat "$TMP/kroute.log")"
wait_for "the health server" code_is http://127.0.0.1:10256/healthz 200

test_http() {
	local body lu ct

	phase "/healthz and /livez"
	# /healthz: kube-proxy's headers and body, lastUpdated shown as now on 200.
	check "/healthz" "$(get http://127.0.0.1:10256/healthz)" 200
	check "/healthz Content-Type" "$(header Content-Type)" application/json
	check "/healthz X-Content-Type-Options" "$(header X-Content-Type-Options)" nosniff
	body=$(cat "$TMP/b")
	check "/healthz keys in kube-proxy's order" "$(jq -c keys_unsorted <<<"$body")" \
		'["lastUpdated","currentTime","nodeEligible","healthy","status"]'
	check "/healthz nodeEligible" "$(jq .nodeEligible <<<"$body")" true
	check "/healthz healthy" "$(jq .healthy <<<"$body")" true
	check "/healthz per family" "$(jq -c '.status | keys' <<<"$body")" '["IPv4","IPv6"]'
	check "/healthz IPv4 healthy" "$(jq .status.IPv4.healthy <<<"$body")" true
	lu=$(jq -r .lastUpdated <<<"$body")
	check "/healthz lastUpdated = currentTime on 200" "$lu" "$(jq -r .currentTime <<<"$body")"
	check "RFC3339 in UTC" "$(grep -cE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(\.[0-9]+)?Z$' <<<"$lu")" 1
	check "/livez" "$(get http://127.0.0.1:10256/livez)" 200
	check "/livez has no nodeEligible" "$(jq 'has("nodeEligible")' "$TMP/b")" false
	check "another path" "$(get http://127.0.0.1:10256/other)" 404
	# 0.0.0.0 listens dual-stack, as Go's listener does.
	check "/healthz over IPv6" "$(get 'http://[::1]:10256/healthz')" 200

	phase "healthCheckNodePort"
	# The service's healthCheckNodePort: two local ready endpoints.
	check "healthCheckNodePort" "$(get http://192.0.2.2:30999/anything)" 200
	check "its Content-Type" "$(header Content-Type)" application/json
	check "its X-Content-Type-Options" "$(header X-Content-Type-Options)" nosniff
	check "its X-Load-Balancing-Endpoint-Weight" "$(header X-Load-Balancing-Endpoint-Weight)" 2
	check "its body" "$(cat "$TMP/b")" "$(printf '{\n\t"service": {\n\t\t"namespace": "t",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}')"

	# One local endpoint left, then none: 503 (the other node's endpoint does not count).
	slice web 10.0.0.5
	wait_for "one local endpoint" eval '[ "$(get http://192.0.2.2:30999/)" = 200 ] && [ "$(header X-Load-Balancing-Endpoint-Weight)" = 1 ]'
	slice web
	wait_for "no local endpoint: 503" code_is http://192.0.2.2:30999/ 503
	check "localEndpoints 0" "$(jq .localEndpoints "$TMP/b")" 0
	check "weight 0" "$(header X-Load-Balancing-Endpoint-Weight)" 0
	slice web 10.0.0.5 10.0.0.6

	phase "a held port"
	# A second service whose port another program holds: logged, kroute goes on.
	ip netns exec "$NS" python3 -c 'import socket,time
s=socket.socket(socket.AF_INET6); s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", 31000)); s.listen(); time.sleep(120)' >/dev/null 2>&1 &
	PIDS+=($!)
	wait_for "the other program's listener" eval 'nx ss -Hltn "sport = :31000" | grep -q .'
	lb_service busy 10.96.0.11 31000 30081
	wait_for "the bind failure logged" grep -q "cannot serve the health check of service t/busy on port 31000" "$TMP/kroute.log"
	alive
	check "the proxy stays healthy" "$(get http://127.0.0.1:10256/healthz)" 200
	check "the first service still answers" "$(get http://192.0.2.2:30999/)" 200

	phase "a service removed"
	# The service goes: its port closes.
	rm "$M/svc-web.yaml"
	wait_for "the port closed" code_is http://192.0.2.2:30999/ 000
	lb_service web 10.96.0.10 30999 30080
	wait_for "the port open again" code_is http://192.0.2.2:30999/ 200

	phase "a tainted node"
	# The node is about to be deleted by the autoscaler: /healthz 503, /livez still 200.
	node ToBeDeletedByClusterAutoscaler
	wait_for "/healthz 503 for a tainted node" code_is http://127.0.0.1:10256/healthz 503
	check "nodeEligible false" "$(jq .nodeEligible "$TMP/b")" false
	check "healthy still true" "$(jq .healthy "$TMP/b")" true
	check "/livez ignores the node" "$(get http://127.0.0.1:10256/livez)" 200
	check "the service check ignores the node" "$(get http://192.0.2.2:30999/)" 200
	node
	wait_for "/healthz 200 again" code_is http://127.0.0.1:10256/healthz 200

	phase "a failing data plane"
	# The data plane fails every sync: a change stays pending; after twice the
	# sync period (4 s) the proxy is unhealthy everywhere, and healthy again
	# after a sync works.
	touch "$TMP/fail"
	slice web 10.0.0.5
	wait_for "/livez 503" code_is http://127.0.0.1:10256/livez 503
	check "/livez healthy false" "$(jq .healthy "$TMP/b")" false
	check "/livez IPv4 unhealthy" "$(jq .status.IPv4.healthy "$TMP/b")" false
	check "/healthz 503" "$(get http://127.0.0.1:10256/healthz)" 503
	check "/healthz lastUpdated is the last good sync" \
		"$([ "$(jq -r .lastUpdated "$TMP/b")" != "$(jq -r .currentTime "$TMP/b")" ] && echo older)" older
	check "service check 503 while unhealthy" "$(get http://192.0.2.2:30999/)" 503
	check "serviceProxyHealthy false" "$(jq .serviceProxyHealthy "$TMP/b")" false
	rm "$TMP/fail"
	wait_for "/livez 200 after a good sync" code_is http://127.0.0.1:10256/livez 200
	wait_for "the service check up again" code_is http://192.0.2.2:30999/ 200
	alive

	phase "/metrics"
	# /metrics: the text format promtool accepts, kube-proxy's names, the counts moving.
	check "/metrics" "$(get http://127.0.0.1:10249/metrics)" 200
	check "/metrics Content-Type" "$(header Content-Type)" "text/plain; version=0.0.4; charset=utf-8"
	nx promtool check metrics <"$TMP/b" >"$TMP/promtool.out" 2>&1
	check "promtool check metrics" "$?" 0
	[ -s "$TMP/promtool.out" ] && cat "$TMP/promtool.out"
	cp "$TMP/b" "$TMP/metrics"
	ct() { sed -n "s/^$1 //p" "$TMP/metrics"; }
	check "healthz 200 answers counted" "$([ "$(ct 'kubeproxy_proxy_healthz_total{code="200"}')" -ge 3 ] && echo yes)" yes
	check "healthz 503 answers counted" "$([ "$(ct 'kubeproxy_proxy_healthz_total{code="503"}')" -ge 2 ] && echo yes)" yes
	check "livez 503 answers counted" "$([ "$(ct 'kubeproxy_proxy_livez_total{code="503"}')" -ge 1 ] && echo yes)" yes
	check "restore failures (kube-proxy's counter)" \
		"$([ "$(ct kubeproxy_sync_proxy_rules_iptables_restore_failures_total)" -ge 1 ] && echo yes)" yes
	check "sync durations observed" \
		"$([ "$(ct 'kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"}')" -ge 5 ] && echo yes)" yes
	check "endpoint changes counted" \
		"$([ "$(ct kubeproxy_sync_proxy_rules_endpoint_changes_total)" -ge 4 ] && echo yes)" yes
	check "network programming observed" \
		"$([ "$(ct 'kubeproxy_network_programming_duration_seconds_count{ip_family="IPv4"}')" -ge 1 ] && echo yes)" yes
	check "web's ready endpoints" \
		"$(ct 'kroute_service_endpoints{namespace="t",service="web",port="80",protocol="TCP",ip_family="IPv4",state="ready"}')" 2
	check "web's local ready endpoints" \
		"$(ct 'kroute_service_local_ready_endpoints{namespace="t",service="web",port="80",protocol="TCP",ip_family="IPv4"}')" 1
	check "metrics /healthz" "$(get http://127.0.0.1:10249/healthz) $(cat "$TMP/b")" "200 ok"
	check "metrics /livez" "$(get http://127.0.0.1:10249/livez) $(cat "$TMP/b")" "200 ok"
	check "metrics /proxyMode" "$(get http://127.0.0.1:10249/proxyMode) $(cat "$TMP/b")" "200 iptables"
	check "metrics only on 127.0.0.1" "$(get http://192.0.2.2:10249/metrics)" 000
}

# query PROMQL: the first result's value ("" when none).
query() {
	nx curl -s -m 5 http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
		jq -r '.data.result[0].value[1] // empty'
}
query_is() { [ "$(query "$1")" = "$2" ]; }

test_prometheus() {
	mkdir -p "$TMP/prom"
	cat >"$TMP/prometheus.yml" <<'YAML'
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
- job_name: kroute
  static_configs: [{targets: ['127.0.0.1:10249']}]
YAML
	ip netns exec "$NS" prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
		--web.listen-address=127.0.0.1:9090 >"$TMP/prometheus.log" 2>&1 &
	PIDS+=($!)
	wait_for "Prometheus scraping kroute" query_is 'up{job="kroute"}' 1 ||
		die "$(tail -20 "$TMP/prometheus.log")"
	check "the target's last scrape had no error" \
		"$(nx curl -s http://127.0.0.1:9090/api/v1/targets | jq -r '.data.activeTargets[0].lastError')" ""
	# Two local endpoints and one on another node.
	check "web's ready endpoints in Prometheus" \
		"$(query 'kroute_service_endpoints{service="web",state="ready",ip_family="IPv4"}')" 3
	check "a sync timestamp in Prometheus" \
		"$([ "$(query 'kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} > 1e9')" ] && echo yes)" yes
	check "the sync histogram in Prometheus" \
		"$([ "$(query 'sum(kubeproxy_sync_proxy_rules_duration_seconds_bucket{le="+Inf"})')" -ge 2 ] && echo yes)" yes
	check "a quantile over it" \
		"$([ -n "$(query 'histogram_quantile(0.9, sum by (le) (kubeproxy_sync_proxy_rules_duration_seconds_bucket))')" ] && echo yes)" yes
	get http://127.0.0.1:10256/healthz >/dev/null
	wait_for "the healthz counter in Prometheus" eval '[ -n "$(query "kubeproxy_proxy_healthz_total{code=\"200\"} >= 1")" ]'
	# A change in the manifests reaches Prometheus through kroute.
	slice web 10.0.0.5 10.0.0.6 10.0.0.7
	wait_for "the new endpoint in Prometheus" \
		query_is 'kroute_service_endpoints{service="web",state="ready",ip_family="IPv4"}' 4
	wait_for "the changes total in Prometheus" eval \
		'[ "$(query "kubeproxy_sync_proxy_rules_endpoint_changes_total >= 2")" ]'
}

case $WHAT in
http) test_http ;;
prometheus) test_prometheus ;;
*) die "unknown test $WHAT" ;;
esac
alive
grep -q "sanitizer\|runtime error" "$TMP/kroute.log" && { cat "$TMP/kroute.log"; fail=$((fail + 1)); }
st_finish
