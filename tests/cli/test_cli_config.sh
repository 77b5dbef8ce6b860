#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kroute run --config, --write-config-to and the log formats, end to end:
#  - a KubeProxyConfiguration written back with --write-config-to - reads
#    back to the same document (round trip), with the file's values and the
#    flags' where both are given;
#  - a bad value is exit status 2 naming file:line and the field, with
#    nothing on stdout; a field kroute lacks and an unknown one are warnings;
#  - as root, in a network namespace of its own (unshare -n, gone with the
#    process), one sync (--once) with --logging-format=json: every stderr
#    line is one JSON object (jq) with ts, caller, msg and v, and -v decides
#    whether the verbosity-2 lines appear, in JSON and in text; a running
#    agent at -v 4 (stopped by SIGTERM) adds the sync timer's debug lines.
# --write-config-to exits before any data plane or source is set up.
set -u
kroute=${1:?usage: $0 path/to/kroute}
src=${KROUTE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
manifests=$src/examples/cluster
pass=0
fail=0
skip=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check() { # NAME CONDITION-RESULT(0/1)
	if [ "$2" -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: $1"
		[ -s "$tmp/err" ] && sed 's/^/    stderr: /' "$tmp/err"
	fi
}

cat >"$tmp/kp.yaml" <<'EOF'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
bindAddress: 0.0.0.0
clientConnection:
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16,fd00:10::/56
hostnameOverride: node-a1
iptables:
  masqueradeAll: true
  masqueradeBit: 13
  localhostNodePorts: false
  syncPeriod: 45s
  minSyncPeriod: 2s
ipvs:
  scheduler: lc
mode: iptables
nodePortAddresses: [10.0.0.0/8]
logging:
  verbosity: 2
enableProfiling: true
fooBar: 1
EOF

# Round trip: the written document reads back to itself.
"$kroute" run --config "$tmp/kp.yaml" --write-config-to - >"$tmp/out1" 2>"$tmp/err"
check "--write-config-to - exits 0" $?
"$kroute" run --config "$tmp/out1" --write-config-to - >"$tmp/out2" 2>"$tmp/err"
check "the written config reads back" $?
cmp -s "$tmp/out1" "$tmp/out2"
check "the round trip gives the same document ($(diff "$tmp/out1" "$tmp/out2" | head -3))" $?
grep -qx '  syncPeriod: "45s"' "$tmp/out1" && grep -qx '  masqueradeBit: 13' "$tmp/out1" &&
	grep -qx 'clusterCIDR: "10.244.0.0/16,fd00:10::/56"' "$tmp/out1" &&
	grep -qx 'nodePortAddresses: \["10.0.0.0/8"\]' "$tmp/out1" &&
	grep -qx '  kubeconfig: "/var/lib/kube-proxy/kubeconfig.conf"' "$tmp/out1" &&
	grep -qx '  verbosity: 2' "$tmp/out1" && grep -qx 'kind: KubeProxyConfiguration' "$tmp/out1"
check "the file's values are written ($(tr '\n' ' ' <"$tmp/out1"))" $?

# The warnings name the fields; the unknown one is ignored as kube-proxy's lenient decoding does.
"$kroute" run --config "$tmp/kp.yaml" --write-config-to - >/dev/null 2>"$tmp/err"
grep -qF 'kp.yaml:21: warning: field enableProfiling is not supported by kroute and is ignored' \
	"$tmp/err" && grep -qF 'kp.yaml:22: warning: unknown field "fooBar", ignored' "$tmp/err"
check "unsupported and unknown fields are warned about by name and line" $?

# Flags override the file; to a file instead of stdout.
"$kroute" run --config "$tmp/kp.yaml" --iptables-sync-period 10s --node node-b2 -v 0 \
	--write-config-to "$tmp/written.yaml" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" -eq 0 ] && [ ! -s "$tmp/out" ] && grep -qx '  syncPeriod: "10s"' "$tmp/written.yaml" &&
	grep -qx '  minSyncPeriod: "2s"' "$tmp/written.yaml" &&
	grep -qx 'hostnameOverride: "node-b2"' "$tmp/written.yaml" &&
	grep -qx '  verbosity: 0' "$tmp/written.yaml"
check "flags override the file (status $status)" $?

# Bad values: status 2, file:line: error: field, nothing on stdout.
cat >"$tmp/bad.yaml" <<'EOF'
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
iptables:
  masqueradeBit: 32
  syncPeriod: 30
EOF
"$kroute" run --config "$tmp/bad.yaml" --mode iptables --node n1 -f "$manifests" >"$tmp/out" 2>"$tmp/err"
status=$?
[ "$status" -eq 2 ] && [ ! -s "$tmp/out" ] &&
	grep -qF 'bad.yaml:4: error: iptables.masqueradeBit: "32": must be within the range [0, 31]' \
		"$tmp/err" &&
	grep -qF 'bad.yaml:5: error: iptables.syncPeriod: must be a duration string' "$tmp/err"
check "bad values: status 2 (got $status) naming file:line and field" $?
"$kroute" run --config "$tmp/missing.yaml" --write-config-to - >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] && grep -qF 'missing.yaml: error: cannot open' "$tmp/err"
check "a missing config file is an error" $?
"$kroute" run --config "$tmp/bad.yaml" --logging-format=json --write-config-to - >/dev/null 2>"$tmp/err"
# (jq -e judges only the last input's output: the checks count "true" lines instead.)
[ "$(jq -c 'select(.file != null) | .msg and .line > 0 and .field and (has("v") | not)' \
	"$tmp/err" 2>/dev/null | grep -cx true)" -eq 2 ] &&
	[ "$(jq -c . "$tmp/err" 2>/dev/null | grep -c .)" -eq "$(grep -c . "$tmp/err")" ]
check "config errors in JSON: one object per line with file, line and field" $?

# A running agent's log: JSON per line, -v deciding the details.
if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null || ! command -v iptables-restore >/dev/null; then
	echo "SKIP: the agent's log needs root, unshare -n and iptables (not counted)"
	skip=$((skip + 1))
else
	once() { # LOGFILE FLAGS...: one iptables sync in a namespace of its own
		local log=$1
		shift
		KROUTE_CONNTRACK=true timeout 60 unshare -n "$kroute" run --node node-a1 -f "$manifests" \
			--mode iptables --once "$@" >"$tmp/out" 2>"$log"
	}
	once "$tmp/json0" --logging-format=json
	check "--once with JSON logs exits 0" $?
	once "$tmp/json2" --logging-format json -v 2
	check "--once with JSON logs at -v 2 exits 0" $?
	for f in "$tmp/json0" "$tmp/json2"; do
		lines=$(grep -c '' "$f")
		objects=$(jq -c 'select(type == "object" and (.ts | type) == "number" and
			(.caller | type) == "string" and (.msg | type) == "string" and
			((.v | type) == "number" or (has("v") | not)))' "$f" 2>/dev/null | grep -c '')
		[ "$lines" -gt 0 ] && [ "$lines" -eq "$objects" ]
		check "every line of $(basename "$f") is a log object ($objects of $lines)" $?
	done
	[ "$(jq -c 'select(.msg | startswith("full sync: ")) | .v == 0' "$tmp/json0" |
		grep -cx true)" -eq 1 ]
	check "the sync line is info at verbosity 0" $?
	n0=$(jq -c 'select(.v == 2)' "$tmp/json0" | grep -c '')
	n2=$(jq -c 'select(.v == 2 and .msg == "effective configuration" and .field and .value)' \
		"$tmp/json2" | grep -c '')
	[ "$n0" -eq 0 ] && [ "$n2" -gt 0 ]
	check "-v 2 adds the verbosity-2 lines ($n2), -v 0 has none ($n0)" $?
	[ "$(jq -c 'select(.field == "mode") | .value == "\"iptables\""' "$tmp/json2" |
		grep -cx true)" -eq 1 ]
	check "the effective mode is logged at -v 2" $?
	# The running agent (until SIGTERM): at -v 4 the sync timer's debug lines, all JSON.
	KROUTE_CONNTRACK=true timeout -s TERM 4 unshare -n "$kroute" run --node node-a1 \
		-f "$manifests" --mode iptables --logging-format json -v 4 >"$tmp/out" 2>"$tmp/json4"
	lines=$(grep -c '' "$tmp/json4")
	objects=$(jq -c 'select(.msg | type == "string")' "$tmp/json4" 2>/dev/null | grep -c '')
	n4=$(jq -c 'select(.v == 4 and (.msg | startswith("sync timer: ")))' "$tmp/json4" | grep -c '')
	exits=$(jq -c 'select(.v == 0 and (.msg | test("exiting; rules stay")))' "$tmp/json4" |
		grep -c '')
	[ "$lines" -eq "$objects" ] && [ "$n4" -gt 0 ] && [ "$exits" -eq 1 ]
	check "-v 4 adds the sync timer's lines ($n4) to a running agent's JSON log ($objects of $lines lines)" $?
	once "$tmp/text0"
	once "$tmp/text2" -v 2
	grep -q '^kroute [0-9:.]*: full sync: ' "$tmp/text0" && ! grep -q 'effective configuration' \
		"$tmp/text0" && grep -q '^kroute [0-9:.]*: effective configuration field="mode"' "$tmp/text2"
	check "text: the same lines as before at -v 0, the details at -v 2" $?
fi

# deploy/: the ConfigMap each overlay ships loads cleanly for every mode kroute
# has (no warning, no error); a mode still to come is refused by name.
for conf in "$src"/deploy/overlays/*/config.conf; do
	mode=$(sed -n 's/^mode: *"\{0,1\}\([a-z]*\).*/\1/p' "$conf")
	"$kroute" run --config "$conf" --write-config-to /dev/null >/dev/null 2>"$tmp/err"
	rc=$?
	if grep -q "unknown mode \"$mode\"" "$tmp/err"; then
		[ "$rc" -eq 2 ]
		check "deploy $mode: a mode kroute lacks is refused with status 2" $?
	else
		[ "$rc" -eq 0 ] && ! grep -qiE 'warning|error' "$tmp/err"
		check "deploy $mode: $conf loads with no warning" $?
	fi
done

echo "cli config: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
