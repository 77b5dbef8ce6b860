# SPDX-License-Identifier: Apache-2.0
# Shared by the tests in tests/k8s (sourced): the pass/fail counters.
#   ok                 counts a pass
#   bad MESSAGE        counts a failure and prints it
#   finish             the closing line, then exits with the verdict
pass=0
fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
finish() {
	echo "$pass passed, $fail failed"
	[ "$fail" = 0 ]
	exit
}
