#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kroute run's flag values, checked as kube-proxy checks them: a bad value is
# exit status 2 with a message naming the flag (as spelled) and the value, and
# nothing else happens; good values in kube-proxy's syntax still work.
#
# Every check runs with --mode none: flags are parsed and checked before the
# mode is looked up, so "unknown --mode" proves the values passed, and even a
# kroute that wrongly accepts a value stops there instead of programming
# anything.  As root, each run is also in a network namespace of its own
# (unshare -n; it goes away with the process) and time-limited.  The values
# reaching the data plane: as root, in such a namespace, --once applies the
# rules and the iptables-restore input shows the mark bit.
set -u
kroute=${1:?usage: $0 path/to/kroute}
src=${KROUTE_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
manifests=$src/examples/cluster
pass=0
fail=0
skip=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base=(run --node node-a1 -f "$manifests")
isolate=(timeout 60)
if [ "$(id -u)" -eq 0 ] && unshare -n true 2>/dev/null; then
	isolate+=(unshare -n)
fi

report() {
	fail=$((fail + 1))
	echo "FAIL: kroute $1 -> status $2, stderr:"
	sed 's/^/    /' "$tmp/err"
	echo "    (wanted: $3)"
}

# bad MESSAGE -- FLAGS...: status 2, MESSAGE on stderr, nothing on stdout.
bad() {
	local msg=$1
	shift 2
	"${isolate[@]}" "$kroute" "${base[@]}" --mode none "$@" >"$tmp/out" 2>"$tmp/err"
	local status=$?
	if [ "$status" -eq 2 ] && grep -qF -- "$msg" "$tmp/err" && [ ! -s "$tmp/out" ]; then
		pass=$((pass + 1))
	else
		report "$*" "$status" "status 2 and: $msg"
	fi
}

# good FLAGS...: every value accepted; the run stops only at the unknown mode.
good() {
	"${isolate[@]}" "$kroute" "${base[@]}" "$@" --mode none >"$tmp/out" 2>"$tmp/err"
	local status=$?
	if [ "$status" -eq 2 ] && grep -qF 'unknown --mode "none"' "$tmp/err" &&
		[ "$(grep -c . "$tmp/err")" -eq 1 ]; then
		pass=$((pass + 1))
	else
		report "$*" "$status" "only: unknown --mode \"none\""
	fi
}

# Durations: Go's time.ParseDuration, then kube-proxy's validation (> 0).
bad '--iptables-sync-period "nan": not a duration' -- --iptables-sync-period nan
bad '--iptables-sync-period "inf": not a duration' -- --iptables-sync-period inf
bad '--iptables-sync-period "0s": must be greater than 0' -- --iptables-sync-period 0s
bad '--sync-period "0": must be greater than 0' -- --sync-period 0
bad '--iptables-sync-period "-1s": must be greater than 0' -- --iptables-sync-period -1s
bad '--iptables-sync-period "30": missing unit' -- --iptables-sync-period 30
bad '--iptables-sync-period "": not a duration' -- --iptables-sync-period ''
bad '--iptables-sync-period "1sec": unknown unit "sec"' -- --iptables-sync-period 1sec
bad '--iptables-sync-period "1e3s": unknown unit "e"' -- --iptables-sync-period 1e3s
bad '--iptables-sync-period "3000000h": out of range' -- --iptables-sync-period 3000000h
bad '--iptables-sync-period "9223372036854775808ns": out of range' -- --iptables-sync-period 9223372036854775808ns
bad '--iptables-sync-period " 1s": not a duration' -- --iptables-sync-period ' 1s'
bad '--iptables-min-sync-period "-1ns": must be greater than or equal to 0' -- --iptables-min-sync-period -1ns
bad '--min-sync-period "nan": not a duration' -- --min-sync-period nan
bad '--iptables-sync-period (1s) must be greater than or equal to --iptables-min-sync-period (5s)' -- \
	--min-sync-period 5s --sync-period 1s
# Integers: Go's ParseInt (base prefixes, int32), then the range.
bad '--iptables-masquerade-bit "14x": not an integer' -- --iptables-masquerade-bit 14x
bad '--iptables-masquerade-bit "-1": must be within the range [0, 31]' -- --iptables-masquerade-bit -1
bad '--iptables-masquerade-bit "32": must be within the range [0, 31]' -- --iptables-masquerade-bit 32
bad '--iptables-masquerade-bit "": not an integer' -- --iptables-masquerade-bit ''
bad '--iptables-masquerade-bit "4294967310": out of range' -- --iptables-masquerade-bit 4294967310
bad '--iptables-masquerade-bit "08": not an integer' -- --iptables-masquerade-bit 08
bad '--iptables-masquerade-bit "1.5": not an integer' -- --iptables-masquerade-bit 1.5
# Booleans: Go's ParseBool; a switch takes "=value" only.
bad '--iptables-localhost-nodeports "yes": not a boolean' -- --iptables-localhost-nodeports yes
bad '--iptables-localhost-nodeports "": not a boolean' -- --iptables-localhost-nodeports ''
bad '--masquerade-all "maybe": not a boolean' -- --masquerade-all=maybe
bad 'unexpected argument "false"' -- --masquerade-all false
# Strings and lists.
bad '--node "": must not be empty' -- --node ''
bad '-f "": must not be empty' -- -f ''
bad '--service-proxy-name "": must not be empty' -- --service-proxy-name ''
bad '--cluster-cidr "10.0.0.0/8,10.1.0.0/16": one CIDR, or one IPv4 and one IPv6' -- \
	--cluster-cidr 10.0.0.0/8,10.1.0.0/16
bad '--cluster-cidr "10.0.0.0/8,": an empty CIDR in the list' -- --cluster-cidr 10.0.0.0/8,
bad '--nodeport-addresses "10.0.0.0/8,,10.1.0.0/16": an empty CIDR' -- \
	--nodeport-addresses 10.0.0.0/8,,10.1.0.0/16
bad '--nodeport-addresses "10.0.0.0/33": "10.0.0.0/33" is not a valid CIDR' -- \
	--nodeport-addresses 10.0.0.0/33
# The userspace mode's flags: checked whatever the mode (kube-proxy checks all of them too).
bad '--userspace-workers "0": must be within the range [1, 256]' -- --userspace-workers 0
bad '--userspace-workers "257": must be within the range [1, 256]' -- --userspace-workers 257
bad '--userspace-workers "4x": not an integer' -- --userspace-workers 4x
bad '--userspace-grace-period "0s": must be greater than 0' -- --userspace-grace-period 0s
bad '--udp-timeout "0": must be greater than 0' -- --udp-timeout 0
bad '--udp-timeout "-250ms": must be greater than 0' -- --udp-timeout -250ms
bad '--userspace-connect-timeout "1": missing unit' -- --userspace-connect-timeout 1
bad '--userspace-eject-time "inf": not a duration' -- --userspace-eject-time inf
bad '--userspace-status-file "": must not be empty' -- --userspace-status-file ''
bad '--mode "": must not be empty' -- --mode ''

# Good values in kube-proxy's syntax.
good --iptables-sync-period 30s --iptables-min-sync-period 0
good --sync-period 1h30m --min-sync-period 1.5s
good --sync-period 2562047h47m16.854775807s --min-sync-period +500ms
good --sync-period .5s --min-sync-period 100us
good --sync-period 1m --min-sync-period 100µs
good --sync-period 1m --min-sync-period -0
good --iptables-masquerade-bit 0 --iptables-masquerade-bit 31
good --iptables-masquerade-bit 0x0e --iptables-masquerade-bit 016 --iptables-masquerade-bit 0b1110
good --iptables-masquerade-bit +1_4
good --iptables-localhost-nodeports false --iptables-localhost-nodeports T
good --masquerade-all --masquerade-all=false --masquerade-all=1 --once=false
good --iptables-kube-proxy-layout=true
good --cluster-cidr 10.244.0.0/16,fd00:10:244::/56 --nodeport-addresses 192.168.0.0/16,10.0.0.0/8
good --cluster-cidr ''
good --userspace-workers 2 --userspace-grace-period 3s --udp-timeout 250ms \
	--userspace-connect-timeout 300ms --userspace-eject-time 1m --userspace-status-file "$tmp/st.json"
good --proxy-mode=iptables --hostname-override=node-a1 --scheduler rr

# As root in a namespace of its own: the values reach the data plane.
if [ "$(id -u)" -ne 0 ] || ! unshare -n true 2>/dev/null || ! command -v iptables-restore >/dev/null; then
	echo "SKIP: applying rules needs root, unshare -n and iptables (not counted)"
	skip=$((skip + 1))
else
	# The restore wrapper keeps each input, then applies it.
	cat >"$tmp/restore" <<-EOF
		#!/bin/sh
		tee -a "$tmp/restore.in" | iptables-restore "\$@"
	EOF
	cat >"$tmp/restore6" <<-EOF
		#!/bin/sh
		cat >/dev/null
	EOF
	chmod +x "$tmp/restore" "$tmp/restore6"
	# applied WANT_MARK FLAGS...: --once exits 0 and the rules carry mark WANT_MARK.
	applied() {
		local mark=$1
		shift
		: >"$tmp/restore.in"
		KROUTE_IPTABLES_RESTORE=$tmp/restore KROUTE_IP6TABLES_RESTORE=$tmp/restore6 \
			KROUTE_CONNTRACK=true timeout 60 unshare -n "$kroute" "${base[@]}" --mode iptables --once \
			"$@" >"$tmp/out" 2>"$tmp/err"
		local status=$?
		if [ "$status" -eq 0 ] && grep -q -- "-j MARK --or-mark $mark\$" "$tmp/restore.in"; then
			pass=$((pass + 1))
		else
			report "$* (applied)" "$status" "status 0 and mark $mark in the rules"
		fi
	}
	applied 0x00004000
	applied 0x00004000 --iptables-masquerade-bit 0x0e --sync-period 1h30m --min-sync-period 0
	applied 0x00004000 --iptables-masquerade-bit 016
	applied 0x00000002 --iptables-masquerade-bit 0b1
	applied 0x80000000 --iptables-masquerade-bit 31
	# Another mode's flag: accepted, ignored, and said so.
	applied 0x00004000 --userspace-workers 2
	if grep -qF -- '--userspace-workers is a flag of --mode userspace; ignored in --mode iptables' "$tmp/err"; then
		pass=$((pass + 1))
	else
		report "--userspace-workers 2 (applied)" 0 "a warning that --userspace-workers is ignored"
	fi
	# kroute cleanup starts from run's defaults, environment included: the
	# wrapper that applied the rules is the one that removes them.
	: >"$tmp/restore.in"
	KROUTE_IPTABLES_RESTORE=$tmp/restore KROUTE_IP6TABLES_RESTORE=$tmp/restore6 KROUTE_CONNTRACK=true \
		KROUTE=$kroute MANIFESTS=$manifests IN=$tmp/restore.in timeout 60 unshare -n bash -c '
			"$KROUTE" run --node node-a1 -f "$MANIFESTS" --mode iptables --once \
				>/dev/null 2>&1 || exit 10
			: >"$IN"
			exec "$KROUTE" cleanup' >"$tmp/out" 2>"$tmp/err"
	status=$?
	if [ "$status" -eq 0 ] && grep -q '^-X KUBE-SERVICES' "$tmp/restore.in"; then
		pass=$((pass + 1))
	else
		report "cleanup with KROUTE_IPTABLES_RESTORE" "$status" "status 0, cleanup through the wrapper"
	fi
fi

echo "cli flags: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
