#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# cleanup.sh: removes test clusters that lib.sh could not tear down because
# their test was killed with SIGKILL (or the machine lost power mid-run).
# With no argument: every namespace named kr<PID>-* whose PID is gone (the
# default prefix of a dead run).  With PREFIX arguments: the namespaces
# named PREFIX*, whoever made them (for runs that set KR_PREFIX).  Kills
# the processes in those namespaces first.  Touches nothing else.
set -u
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh" || exit 1
kc_require_root
rc=0
if (($# == 0)); then
	kc_cleanup_stale || rc=1
else
	for p; do
		if ! [[ $p =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,30}$ ]]; then
			echo "cleanup.sh: bad prefix '$p'" >&2
			rc=2
			continue
		fi
		kc_teardown_prefix "$p" || rc=1
	done
fi
exit "$rc"
