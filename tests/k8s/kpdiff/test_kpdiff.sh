#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The pure parts of the comparisons with the real kube-proxy, without root:
# - iptables_outcomes.py reads a real kube-proxy iptables-save (fixture.rules,
#   from a generated batch of test_kube_proxy_generated.sh) into exactly
#   fixture.json, and a line it cannot read is an error naming the line;
# - compare.py on that fixture and kroute explain's JSON, with a planted
#   difference: listed passes, unlisted fails naming it;
# - tests/system/dataplane/compare-outcomes.py: same outcomes pass, a listed
#   difference passes, an unlisted one fails, a stale entry fails, a bad
#   outcome line is an error naming file and line.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dp=$here/../../system/dataplane
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# ---- iptables_outcomes.py ----
if out=$(python3 "$here/iptables_outcomes.py" "$here/fixture.rules"); then
	diff <(echo "$out") "$here/fixture.json" >/dev/null && ok ||
		bad "iptables_outcomes.py on fixture.rules: $(diff <(echo "$out") "$here/fixture.json" | head -20)"
else
	bad "iptables_outcomes.py failed on fixture.rules"
fi
{ head -n 5 "$here/fixture.rules"; echo "-A KUBE-SERVICES -j"; echo "this is not iptables-save"; } >"$tmp/bad.rules"
out=$(python3 "$here/iptables_outcomes.py" "$tmp/bad.rules" 2>&1) && bad "bad rules accepted" ||
	{ [[ $out == *"line 7: cannot read"* ]] && ok || bad "bad rules: unexpected message: $out"; }

# ---- compare-outcomes.py ----
row() { printf '%s\t%s\t%s\t%s\t%s\n' "$@"; }
{ row 10 ok web-1,web-2 - "both reach"; row 11 ok drop - "a drop"; row 12 skip:retry - - "retried"; } >"$tmp/kube-proxy-x.tsv"
{ row 10 ok web-1 - "both reach"; row 11 fail web-1 - "a drop"; row 12 ok web-1 - "retried"; } >"$tmp/kr.tsv"
cat >"$tmp/intended" <<'EOT'
kube-proxy-* | kr | a drop | planted
kube-proxy-* | kr | cap:retry | planted capability
EOT
cmp_out() { python3 "$dp/compare-outcomes.py" --intended "$tmp/intended" --reference kube-proxy-x "$tmp/kube-proxy-x.tsv" "$tmp/kr.tsv"; }
out=$(cmp_out) && ok || bad "listed differences failed: $out"
grep -q "because: planted capability" <<<"$out" && ok || bad "the capability's reason is not printed: $out"
sed -i 's/^kube-proxy-\* | kr | a drop | planted$//' "$tmp/intended"
out=$(cmp_out) && bad "an unlisted difference passed" ||
	{ grep -q "NOT INTENDED: line 11: a drop" <<<"$out" && ok || bad "unlisted: unexpected output: $out"; }
echo "kube-proxy-* | kr | a drop | planted" >>"$tmp/intended"
echo "kube-proxy-* | kr | both reach | never differs" >>"$tmp/intended"
out=$(cmp_out) && bad "a stale entry passed" ||
	{ grep -q "STALE: .*'both reach'" <<<"$out" && ok || bad "stale: unexpected output: $out"; }
printf '10\tok\n' >"$tmp/kr.tsv"
out=$(cmp_out 2>&1) && bad "a bad outcome line passed" ||
	{ [[ $out == *"kr.tsv:1: expected 5"* ]] && ok || bad "bad line: unexpected message: $out"; }

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
