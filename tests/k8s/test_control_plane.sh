#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real control plane (control-plane.sh) end to end: start prints nothing
# and listens on 127.0.0.1 only; the admin client certificate and the bearer
# token both authenticate and a wrong token does not; every example under
# examples/cluster/ applies with kubectl and reads back (kubectl get) with the
# spec it was written with; stop leaves no process, port or file behind; a
# start that fails part-way stops what it started.  Builds the binaries first
# when they are not cached (build.sh).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${KROUTE_SRC:-$(cd "$here/../.." && pwd)}
cp_sh=$here/control-plane.sh
# shellcheck source=testlib.sh
. "$here/testlib.sh"
tmp=$(mktemp -d /tmp/kroute-k8s-test.XXXXXX)
cleanup() {
	local d
	for d in "$tmp"/cp*; do
		[ -f "$d/run/control-plane" ] && "$cp_sh" stop "$d"
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP


"$here/build.sh" || { bad "build.sh failed"; finish; }

# pids_of DIR: the pids control-plane.sh recorded for DIR.
pids_of() { cat "$1"/run/*.pid 2>/dev/null; }
# procs_naming DIR: running control-plane binaries whose command line names DIR.
. "$here/versions.sh"
procs_naming() {
	local p exe
	for p in /proc/[0-9]*; do
		exe=$(readlink "$p/exe" 2>/dev/null) || continue
		[[ "$exe" == "$K8S_BIN/"* ]] || continue
		tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$1/" && echo "${p#/proc/}"
	done
}

# --- start: silent, ready, loopback only -----------------------------------
cp=$tmp/cp
if ! out=$("$cp_sh" start "$cp" 2>&1); then
	bad "control-plane.sh start failed: $out"
	finish
fi
[ -z "$out" ] && ok || bad "start printed: $out"
kubectl=$cp/bin/kubectl
server=$(cat "$cp/server")
ca=$cp/pki/ca.crt
pids=$(pids_of "$cp")
[ "$(echo "$pids" | wc -w)" = 2 ] && ok || bad "expected 2 pids (etcd, kube-apiserver), got: $pids"

ready=$(curl -sS -m 10 --cacert "$ca" --cert "$cp/pki/admin.crt" --key "$cp/pki/admin.key" "$server/readyz")
[ "$ready" = ok ] && ok || bad "/readyz says: $ready"

# Every listening socket of etcd and kube-apiserver is on 127.0.0.1.
listens=$(ss -Htlnp | grep -E "pid=($(echo $pids | tr ' ' '|'))," | awk '{ print $4 }')
[ -n "$listens" ] && ok || bad "no listening socket found for pids $pids"
others=$(echo "$listens" | grep -v '^127\.0\.0\.1:' || true)
[ -z "$others" ] && ok || bad "listening beyond 127.0.0.1: $others"

# --- identities: client certificate, bearer token --------------------------
who=$("$kubectl" auth whoami -o json 2>&1)
jq -e '.status.userInfo.username == "kroute-admin" and
	(.status.userInfo.groups | index("system:masters"))' <<<"$who" >/dev/null &&
	ok || bad "client certificate identity: $who"
who=$("$kubectl" --context token auth whoami -o json 2>&1)
jq -e '.status.userInfo.username == "kroute-token" and
	(.status.userInfo.groups | index("system:masters"))' <<<"$who" >/dev/null &&
	ok || bad "bearer token identity (kubeconfig): $who"
# http_code ARGS...: the HTTP status of GET /api/v1/namespaces/default.
http_code() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" "$server/api/v1/namespaces/default"; }
code=$(http_code --cacert "$ca" -H "Authorization: Bearer $(cat "$cp/token")")
[ "$code" = 200 ] && ok || bad "GET with the bearer token: HTTP $code, want 200"
code=$(http_code --cacert "$ca" -H "Authorization: Bearer not-$(cat "$cp/token")")
[ "$code" = 401 ] && ok || bad "GET with a wrong token: HTTP $code, want 401"
code=$(http_code --cacert "$ca")
[ "$code" = 403 ] && ok || bad "GET as anonymous: HTTP $code, want 403"
# The serving certificate verifies against the CA only (curl 60: not trusted).
curl -s -m 10 -o /dev/null "$server/readyz"
rc=$?
[ "$rc" = 60 ] && ok || bad "curl without the CA: exit $rc, want 60 (certificate not trusted)"

# --- the examples: apply, read back, compare -------------------------------
# jq_subset: the keys (Kind/namespace/name) of the objects in $want that are
# missing from $got or differ: every field $want gives must be in $got with
# the same value; $got may have more (defaults the server adds).
jq_subset='def sub($a; $b):
	if $a == [] or $a == {} then $b == null or ($b | type) == ($a | type) and ($b | length) == 0 or
		($a | type) == "object" and ($b | type) == "object"  # Go: nil and empty are one
	elif ($a | type) == "object" then
		($b | type) == "object" and all($a | keys[]; . as $k | sub($a[$k]; $b[$k]))
	elif ($a | type) == "array" then
		($b | type) == "array" and ($a | length) == ($b | length) and
		all(range($a | length); sub($a[.]; $b[.]))
	else $a == $b end;
def items: if .kind == "List" then .items[] else . end;
def key: "\(.kind)/\(.metadata.namespace // "default")/\(.metadata.name)";
([$want[] | items | del(.metadata.creationTimestamp | nulls)
	| {key: key, value: .}] | from_entries) as $w |
([$got[] | items | {key: key, value: .}] | from_entries) as $g |
[$w | to_entries[] | select(sub(.value; $g[.key]) | not) | .key]'
"$kubectl" create namespace shop >/dev/null || bad "kubectl create namespace shop"
for f in "$src"/examples/cluster/*.yaml; do
	name=$(basename "$f" .yaml)
	if ! err=$("$kubectl" apply -f "$f" 2>&1 >/dev/null); then
		bad "kubectl apply -f examples/cluster/$name.yaml: $err"
		continue
	fi
	ok
	# What the file holds, as kubectl parses it (no server involved).
	"$kubectl" create --dry-run=client -o json -f "$f" >"$tmp/$name.want.json" ||
		{ bad "$name: kubectl cannot parse it"; continue; }
	# The API server ignores status on create (Services): a status the file
	# gives goes through the status subresource, as a controller's would.
	if jq -s -e 'any(.[] | if .kind == "List" then .items[] else . end;
		.status | . != null and . != {} and . != {loadBalancer: {}})' "$tmp/$name.want.json" >/dev/null; then
		err=$("$kubectl" apply --server-side --subresource=status -f "$f" 2>&1 >/dev/null) &&
			ok || bad "$name: applying its status failed: $err"
	fi
	"$kubectl" get -f "$f" -o yaml >"$tmp/$name.got.yaml" &&
		"$kubectl" get -f "$f" -o json >"$tmp/$name.got.json" ||
		{ bad "$name: reading it back failed"; continue; }
	want_n=$(jq -s '[.[] | if .kind == "List" then .items[] else . end] | length' "$tmp/$name.want.json")
	got_n=$(jq -s '[.[] | if .kind == "List" then .items[] else . end] | length' "$tmp/$name.got.json")
	[ "$want_n" -gt 0 ] && [ "$want_n" = "$got_n" ] && ok ||
		bad "$name: $want_n objects in the file, $got_n read back"
	# The YAML dump, parsed back by kubectl, and the JSON both hold the file.
	"$kubectl" create --dry-run=client -o json -f "$tmp/$name.got.yaml" >"$tmp/$name.got-yaml.json" ||
		bad "$name: kubectl cannot parse its own -o yaml output"
	for got in got got-yaml; do
		differ=$(jq -n -c --slurpfile want "$tmp/$name.want.json" \
			--slurpfile got "$tmp/$name.$got.json" "$jq_subset")
		[ "$differ" = "[]" ] && ok || bad "$name: $got read back differently from the file: $differ"
	done
done

# --- stop: nothing left ---------------------------------------------------
if out=$("$cp_sh" stop "$cp" 2>&1) && [ -z "$out" ]; then ok; else bad "stop: $out"; fi
# A zombie has exited (its reaping is init's business, not the script's).
left=$(for p in $pids; do
	[ -r "/proc/$p/stat" ] && [ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" != Z ] && echo "$p"
done; procs_naming "$cp")
[ -z "$left" ] && ok || bad "still running after stop: $left"
[ ! -e "$cp" ] && ok || bad "stop left $cp: $(ls -A "$cp")"
[ -z "$(echo "$listens" | while read -r a; do ss -Htln "sport = :${a##*:}"; done)" ] &&
	ok || bad "ports still listened on after stop: $listens"

# --- a start that fails part-way: etcd started, kube-apiserver refuses a flag
cp=$tmp/cp-fail
if KROUTE_K8S_APISERVER_ARGS=--no-such-flag "$cp_sh" start "$cp" >"$tmp/fail.out" 2>&1; then
	bad "start with a bad kube-apiserver flag succeeded"
else
	grep -q 'kube-apiserver exited during start-up' "$tmp/fail.out" && ok ||
		bad "failed start did not say why: $(cat "$tmp/fail.out")"
fi
left=$(procs_naming "$cp")
[ -z "$left" ] && ok || bad "a failed start left processes running: $left"
[ ! -e "$cp" ] && ok || bad "a failed start left $cp: $(ls -A "$cp")"
finish
