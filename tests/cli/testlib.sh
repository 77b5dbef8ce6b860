# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# What the cli tests of kroute lint and kroute sim share, sourced after
# `set -u` with the kroute binary as $1: kroute, src (the source tree), tmp
# (removed on exit), the pass/fail counters and their helpers.
kroute=${1:?usage: $0 path/to/kroute}
src=${KROUTE_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
pass=0
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
eq() { if [ "$2" = "$3" ]; then ok; else bad "$1: got $2, want $3"; fi; }

# usage_error CMD WANT ARGS...: kroute CMD ARGS exits 2 and says WANT on stderr.
usage_error() {
	local cmd=$1 want=$2
	shift 2
	"$kroute" "$cmd" "$@" >"$tmp/out" 2>"$tmp/err"
	eq "$cmd $*: exit status" "$?" 2
	grep -qF -- "$want" "$tmp/err" && ok || bad "$cmd $*: stderr lacks '$want': $(cat "$tmp/err")"
}

# finish NAME: the closing line, and the exit status.
finish() {
	echo "$1: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
