#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Self-test of tests/ipvs/in-guest.sh: proves the guest before any IPVS test
# trusts it.
#
#   test_harness.sh KR-BACKEND KR-PROBE
#
# On the host it boots guests and checks what comes back: a command's exit
# status passed through (0, 1, 77), a guest that panics reported as a
# failure (125, never a pass), the arguments and the environment arriving
# intact, output reaching the caller, writes to the host's file system
# staying in the guest while a shared directory brings a file out, and no
# qemu there is a skip.  The first guest runs this script with --in-guest,
# which checks the inside: another kernel, root, the checkout's root as the
# working directory, every IPVS scheduler module loaded, ipvsadm (generic
# netlink) adding a service with each, and real TCP through IPVS NAT between
# network namespaces (kr-backend and kr-probe of tests/cluster).
#
# Prints a line per failure and "N passed, N failed"; exits 1 on a failure,
# 77 when no guest can run here.  About four boots (about a minute).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=../system/testlib.sh
. "$ROOT/tests/system/testlib.sh"
ST_NAME=ipvs_harness
# holds DESC CMD...: a check that passes when CMD succeeds.
holds() {
	local d=$1
	shift
	if "$@"; then check "$d" ok ok; else check "$d" "failed: $*" ok; fi
}
report() {
	st_finish
	exit
}

# The schedulers Linux 6.1 has (twos came later).
SCHEDULERS="rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh"

# ---- inside the guest ----
in_guest() {
	local backend=$1 probe=$2 s out ns i
	holds "a kernel other than the host's ($(uname -r) vs $HOST_KERNEL)" [ "$(uname -r)" != "$HOST_KERNEL" ]
	holds "runs as root" [ "$(id -u)" = 0 ]
	holds "runs from the checkout's root" [ "$PWD" = "$ROOT" ]
	holds "the caller's environment arrives intact" [ "$HARNESS_VAR" = "$HARNESS_VAR_WANT" ]
	holds "arguments arrive intact" [ "$3|$4" = "two words|it's \"quoted\" \$x" ]
	for s in $SCHEDULERS; do
		holds "scheduler module ip_vs_$s is loaded" [ -d "/sys/module/ip_vs_$s" ]
	done
	holds "/tmp is writable" sh -c 'echo x >/tmp/harness && [ "$(cat /tmp/harness)" = x ]'
	holds "the host's tree is writable in the guest (overlay)" sh -c "echo guest >'$ROOT/.in-guest-write-test'"
	holds "a shared directory is writable" sh -c "echo from-guest >'$HARNESS_SHARE/out'"

	# ipvsadm speaks generic netlink: every scheduler by name, in a namespace.
	ns=harness-dir
	ip netns add $ns && ip -n $ns link set lo up
	i=0
	out=$(for s in $SCHEDULERS; do
		i=$((i + 1))
		ip netns exec $ns ipvsadm -A -t "10.0.0.1:$((1000 + i))" -s "$s" 2>&1 ||
			echo "ipvsadm -s $s failed"
	done)
	holds "ipvsadm adds a virtual service with every scheduler" [ -z "$out" ]
	holds "ipvsadm lists them" [ "$(ip netns exec $ns ipvsadm -Ln | grep -c '^TCP')" -ge 13 ]
	ip netns exec $ns ipvsadm -C

	# Real TCP through IPVS NAT: client -> director (VIP on a dummy) -> rs1, rs2.
	ip -n $ns link add vip0 type dummy && ip -n $ns addr add 10.0.0.1/32 dev vip0 && ip -n $ns link set vip0 up
	ip netns exec $ns sysctl -qw net.ipv4.ip_forward=1
	for i in 1 2 3; do
		local peer=harness-p$i net=10.0.$i
		ip netns add $peer
		ip -n $ns link add d$i type veth peer name eth0 netns $peer
		ip -n $ns addr add $net.1/24 dev d$i && ip -n $ns link set d$i up
		ip -n $peer addr add $net.2/24 dev eth0 && ip -n $peer link set eth0 up && ip -n $peer link set lo up
		ip -n $peer route add default via $net.1
	done
	ip netns exec $ns ipvsadm -A -t 10.0.0.1:80 -s rr
	for i in 2 3; do
		ip netns exec harness-p$i "$backend" --name rs$i --tcp 80 --ready-file /tmp/rs$i.ready &
		ip netns exec $ns ipvsadm -a -t 10.0.0.1:80 -r 10.0.$i.2:80 -m
	done
	for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /tmp/rs2.ready ] && [ -f /tmp/rs3.ready ] && break; sleep 0.5; done
	out=$(ip netns exec harness-p1 "$probe" tcp 10.0.0.1 80 --count 4 --timeout 3000 2>&1)
	echo "$out" | sed 's/^/#   /'
	holds "TCP through IPVS NAT, rr: each real server answers twice, seeing the client's address" \
		[ "$(grep -c 'pod=rs2 client=10.0.1.2:' <<<"$out") $(grep -c 'pod=rs3 client=10.0.1.2:' <<<"$out")" = "2 2" ]
	holds "IPVS counted the connections" [ "$(ip netns exec $ns ipvsadm -Lnc | grep -c 10.0.0.1:80)" = 4 ]
	kill $(jobs -p) 2>/dev/null
	wait
	for i in 1 2 3; do ip netns del harness-p$i; done
	ip netns del $ns
	report
}
if [ "${1:-}" = --in-guest ]; then
	shift
	in_guest "$@"
fi

# ---- on the host ----
[ $# = 2 ] || { echo "usage: $0 KR-BACKEND KR-PROBE" >&2; exit 2; }
# The guest runs from the checkout's root: the fixtures by full path.
backend=$(realpath "$1") probe=$(realpath "$2")
guest=$HERE/in-guest.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$ROOT/.in-guest-write-test"' EXIT
rm -f "$ROOT/.in-guest-write-test"

# No qemu: a skip, never a pass.
out=$(KROUTE_GUEST_QEMU=/nonexistent/qemu "$guest" true 2>&1)
rc=$?
holds "no qemu: SKIP, exit 77 (got $rc: $out)" [ "$rc:${out:0:5}" = "77:SKIP:" ]

# The inside, and what the caller gets back.  The first boot decides whether
# a guest can run here at all.
export HARNESS_VAR="a b \$c 'd' \"e\"" HARNESS_VAR_WANT="a b \$c 'd' \"e\"" HARNESS_SHARE=$tmp
export HOST_KERNEL
HOST_KERNEL=$(uname -r)
KROUTE_GUEST_SHARE=$tmp "$guest" tests/ipvs/test_harness.sh --in-guest "$backend" "$probe" \
	"two words" "it's \"quoted\" \$x" >"$tmp/inside" 2>&1
rc=$?
sed 's/^/  guest: /' "$tmp/inside"
if [ $rc = 77 ]; then
	echo "SKIP: no guest can run here"
	exit 77
fi
holds "the guest's checks pass, exit status 0 (got $rc)" [ "$rc" = 0 ]
holds "their output reaches the caller" grep -q '^ipvs_harness: [0-9]* passed, 0 failed$' "$tmp/inside"
holds "a write to the host's tree stays in the guest" [ ! -e "$ROOT/.in-guest-write-test" ]
holds "the shared directory brings a file out" [ "$(cat "$tmp/out" 2>/dev/null)" = from-guest ]

"$guest" sh -c 'echo failing; exit 1' >"$tmp/one" 2>&1
rc=$?
holds "exit status 1 passed through, with the output (got $rc)" [ "$rc:$(grep -cx failing "$tmp/one")" = 1:1 ]
"$guest" sh -c 'echo "SKIP: testing"; exit 77' >"$tmp/skip" 2>&1
rc=$?
holds "exit status 77 passed through, with the output (got $rc)" [ "$rc:$(grep -cx 'SKIP: testing' "$tmp/skip")" = 77:1 ]

# A kernel panic in the middle of a command that would exit 0.
"$guest" sh -c 'echo c >/proc/sysrq-trigger; sleep 30; exit 0' >"$tmp/panic" 2>&1
rc=$?
holds "a guest that panics fails, exit 125 (got $rc)" [ "$rc" = 125 ]
holds "with the panic shown" grep -q 'sysrq' "$tmp/panic"

# Opt-in (another boot and a wait): a guest that runs too long.
if [ "${KROUTE_IPVS_LONG:-0}" = 1 ]; then
	KROUTE_GUEST_TIMEOUT=30 "$guest" sleep 600 >"$tmp/slow" 2>&1
	rc=$?
	holds "a guest over its time limit fails, exit 125 (got $rc)" \
		[ "$rc:$(grep -c 'ran out of time' "$tmp/slow")" = 125:1 ]
fi
report
