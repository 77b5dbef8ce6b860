#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The kroute binary on bad input and bad usage: exit status 2, a message that
# names the file, line and field, nothing printed on stdout, and no crash
# (this runs against the sanitizer build, where any memory error aborts).
set -u
kroute=${1:?usage: $0 path/to/kroute}
src=${KROUTE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
data=$src/tests/data/bad
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect STATUS STDERR_SUBSTRING -- kroute args...
expect() {
	local want_status=$1 want_msg=$2
	shift 3
	"$kroute" "$@" >"$tmp/out" 2>"$tmp/err"
	local status=$?
	if [ "$status" -eq "$want_status" ] && grep -qF -- "$want_msg" "$tmp/err" &&
		{ [ "$want_status" -eq 0 ] || [ ! -s "$tmp/out" ]; }; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: kroute $* -> status $status (want $want_status), stderr:"
		sed 's/^/    /' "$tmp/err"
		echo "    (wanted: $want_msg)"
	fi
}

expect 2 "bad-ip.yaml:9: error: Service default/web: spec.clusterIP: \"10.96.0.999\" is not a valid IP address" -- explain -f "$data/bad-ip.yaml" --node n1
expect 2 "bad-port.yaml:7: error: Service default/web: spec.ports[0].port: must be between 1 and 65535, got 99999" -- explain -f "$data/bad-port.yaml" --node n1
expect 2 "bad-yaml.yaml:4: error: invalid YAML" -- explain -f "$data/bad-yaml.yaml" --node n1
expect 2 "bad-type.json: error: Service default/web: spec.ports[0].port: expected an integer, got boolean true" -- explain -f "$data/bad-type.json" --node n1
# A directory with one bad file loads nothing at all.
expect 2 "nothing loaded" -- explain -f "$data" --node n1
expect 2 "cannot read: No such file or directory" -- explain -f "$tmp/missing.yaml" --node n1
expect 2 "--node NAME is required" -- explain -f "$src/examples"
expect 2 "-f PATH is required" -- explain --node n1
# The API source (--kubeconfig, --master): client config errors exit 2 before any network.
expect 2 "-f and --kubeconfig/--master exclude each other" -- explain -f "$src/examples" --kubeconfig k --node n1
expect 2 "-f and --kubeconfig/--master exclude each other" -- run --mode iptables --node n1 -f "$src/examples" --master http://127.0.0.1:1
expect 2 "$tmp/missing.kubeconfig: error: cannot read the kubeconfig: No such file or directory" -- explain --kubeconfig "$tmp/missing.kubeconfig" --node n1
expect 2 "is not an http:// or https:// URL" -- explain --master 127.0.0.1:6443 --node n1
expect 2 "-o must be table or json" -- explain -f "$src/examples" --node n1 -o xml
expect 2 "--service takes NAMESPACE/NAME" -- explain -f "$src/examples" --node n1 --service web
expect 2 "no service shop/nope" -- explain -f "$src/examples" --node n1 --service shop/nope
expect 2 "not a valid CIDR" -- explain -f "$src/examples" --node n1 --cluster-cidr 10.0.0.0/99
expect 2 "unknown command" -- frobnicate
# A node no Node object names is allowed, with a warning.
expect 0 "no Node object is named \"ghost\"" -- explain -f "$src/examples" --node ghost

# Huge input is bounded: a 600 MB file is refused by size, not read into memory.
truncate -s 600M "$tmp/huge.yaml"
expect 2 "file too large" -- explain -f "$tmp/huge.yaml" --node n1
# Binary input.
head -c 4096 /dev/urandom >"$tmp/random.yaml"
printf 'x\0y' >>"$tmp/random.yaml"
expect 2 "error" -- explain -f "$tmp/random.yaml" --node n1
# Deep nesting.
python3 -c 'print("a: " + "[" * 100000 + "]" * 100000)' >"$tmp/deep.yaml"
expect 2 "nesting too deep" -- explain -f "$tmp/deep.yaml" --node n1
python3 -c 'print("[" * 100000 + "]" * 100000)' >"$tmp/deep.json"
expect 2 "error" -- explain -f "$tmp/deep.json" --node n1

# kroute cleanup checks its arguments before it removes anything: a typo must
# not clean up (it used to be ignored, and the cleanup ran).  As root, in a
# network namespace of its own, so even a regression cannot touch the host.
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
	in_own_netns=(unshare -n)
else
	in_own_netns=() # not root: a cleanup could change nothing anyway
fi
for args in "--bogus" "--kube-proxy extra"; do
	# shellcheck disable=SC2086 # the words of args are separate arguments
	"${in_own_netns[@]}" "$kroute" cleanup $args >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [ "$status" -eq 2 ] && grep -qF "unknown argument \"${args##* }\"" "$tmp/err" &&
		grep -qF "usage: kroute cleanup [--kube-proxy]" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		echo "FAIL: kroute cleanup $args -> status $status (want 2, the argument named), stderr:"
		sed 's/^/    /' "$tmp/err"
	fi
done
"${in_own_netns[@]}" "$kroute" cleanup --help >"$tmp/out" 2>"$tmp/err"
status=$?
if [ "$status" -eq 0 ] && grep -qF -- "--kube-proxy" "$tmp/out"; then
	pass=$((pass + 1))
else
	fail=$((fail + 1))
	echo "FAIL: kroute cleanup --help -> status $status (want 0 and --kube-proxy described)"
fi

echo "cli errors: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
