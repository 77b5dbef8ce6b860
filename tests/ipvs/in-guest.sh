#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Runs a command inside a Linux kernel that has IPVS: Debian's kernel
# (tests/ipvs/kit.sh) booted under qemu, with ip_vs and every scheduler it has
# loaded, and the modules the netns test cluster and kroute's other modes use.
#
#   tests/ipvs/in-guest.sh CMD [ARGS...]
#
# CMD runs as root in the guest, from this checkout's root, with the caller's
# environment, in the host's file system (read-only 9p at the same paths,
# with a writable layer in guest RAM; /tmp and /run are fresh tmpfs).  Its
# stdout and stderr reach the caller's stdout; the exit status is CMD's
# (0..126; 77 stays 77, a skip).  The guest has no network card: nothing it
# does reaches the host, except in the directories shared with it.
#
# A guest that dies (kernel panic, /init failing) or runs out of time is a
# failure, exit 125, with the end of its console printed.  Where qemu cannot
# run here the command prints a SKIP line and exits 77.
#
# Environment:
#   KROUTE_GUEST_TIMEOUT  seconds for the whole guest (default 600)
#   KROUTE_GUEST_MEM      guest RAM in MB (default 2048: ASan builds need it)
#   KROUTE_GUEST_CPUS     vCPUs (default 2; TCG runs one host thread each)
#   KROUTE_GUEST_SHARE    host directories (colon-separated) shared read-write,
#                         at the same paths: how results leave the guest
#   KROUTE_GUEST_ACCEL    qemu accelerator (default tcg)
#   KROUTE_GUEST_CONSOLE  1: print the guest's console after the run
#   KROUTE_GUEST_QEMU     the qemu program (default qemu-system-x86_64)
#   KROUTE_GUEST_APPEND   more kernel command line (loglevel=7, say)
# Run it under `flock /tmp/kroute-qemu.lock` next to other guests: two
# emulated guests on a 2-core machine slow each other down.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
GUEST_FAIL=125

say() { echo "in-guest: $*" >&2; }
skip() {
	echo "SKIP: in-guest: $*"
	exit 77
}

if [ $# -lt 1 ]; then
	echo "usage: $0 CMD [ARGS...]" >&2
	exit 2
fi
qemu=$(command -v "${KROUTE_GUEST_QEMU:-qemu-system-x86_64}") || skip "qemu-system-x86_64 is not installed (scripts/setup.sh installs it)"
"$qemu" -version >/dev/null 2>&1 || skip "$qemu does not run here"

# The kit (kernel + initramfs), built once into the cache; building needs root.
kit=$("$ROOT/tests/ipvs/kit.sh" --print-dir)
if [ "$(id -u)" -ne 0 ] && [ ! -f "$kit/stamp" ]; then
	skip "no guest kit in $kit and not root to build it (run scripts/setup.sh)"
fi
if [ "$(id -u)" -eq 0 ]; then
	"$ROOT/tests/ipvs/kit.sh" || {
		say "cannot build the guest kit"
		exit 1
	}
fi

timeout_s=${KROUTE_GUEST_TIMEOUT:-600}
mem=${KROUTE_GUEST_MEM:-2048}
cpus=${KROUTE_GUEST_CPUS:-2}
# Software emulation: this project's machines have a /dev/kvm on which a
# guest hangs before its first console line (seen: 10 min, no output).
accel=${KROUTE_GUEST_ACCEL:-tcg}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kroute-guest.XXXXXX")
qpid=
cpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# The job: /job/conf for /init, /job/run.sh for bash in the host's tree.
mkdir -p "$tmp/job/job"
shares=()
if [ -n "${KROUTE_GUEST_SHARE:-}" ]; then
	IFS=: read -r -a shares <<<"$KROUTE_GUEST_SHARE"
fi
for d in "${shares[@]}"; do
	case "$d" in
	/*) [ -d "$d" ] || { say "KROUTE_GUEST_SHARE: $d is not a directory"; exit 2; } ;;
	*) say "KROUTE_GUEST_SHARE: $d is not an absolute path"; exit 2 ;;
	esac
	case "$d" in *[[:space:]]* | *\'*) say "KROUTE_GUEST_SHARE: $d: no spaces or quotes"; exit 2 ;; esac
done
case "$ROOT" in *[[:space:]]* | *\'*) say "the checkout's path $ROOT: no spaces or quotes"; exit 2 ;; esac
{
	echo "JOB_SHARES='${shares[*]}'"
	# /init gives the guest a fresh /tmp and /run; a checkout there is
	# carried over from the host's tree (CI clones into a temporary directory).
	echo "JOB_ROOT='$ROOT'"
} >"$tmp/job/job/conf"
{
	echo '#!/bin/bash'
	# The caller's environment, minus what belongs to this shell.
	export -p | grep -v -E '^declare -x (PWD|OLDPWD|SHLVL|_|BASH_FUNC_[^=]*)(=|$)'
	printf 'cd %q || exit 1\n' "$ROOT"
	printf 'exec'
	printf ' %q' "$@"
	printf '\n'
} >"$tmp/job/job/run.sh"
(cd "$tmp/job" && find job | busybox cpio -o -H newc 2>/dev/null | gzip -1 >"$tmp/job.cpio.gz") ||
	{ say "cannot pack the job"; exit 1; }
# The kernel unpacks both archives, the second over the first.
cat "$kit/initramfs.cpio.gz" "$tmp/job.cpio.gz" >"$tmp/initrd.gz"

share_args=()
i=0
for d in "${shares[@]}"; do
	i=$((i + 1))
	share_args+=(-virtfs "local,path=$d,mount_tag=share$i,security_model=none,multidevs=remap")
done

# CMD's output: a virtio port written to a FIFO that cat copies to stdout
# (opening the caller's stdout by name could truncate a file it appends to).
mkfifo "$tmp/out"
cat "$tmp/out" &
cpid=$!

start=$(date +%s)
timeout -k 5 "$timeout_s" "$qemu" -accel "$accel" -m "$mem" -smp "$cpus" \
	-display none -monitor none -no-reboot -nic none \
	-serial "file:$tmp/console" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-device virtio-serial-pci \
	-chardev "file,id=out,path=$tmp/out" -device virtserialport,chardev=out,name=kroute.out \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	"${share_args[@]}" \
	-kernel "$kit/vmlinuz" -initrd "$tmp/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1 oops=panic ${KROUTE_GUEST_APPEND:-}" </dev/null &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
# A qemu that never opened the FIFO (it failed to start) leaves cat waiting
# in open: a read-write open (which never blocks) and close end it.
exec {fifo}<>"$tmp/out"
exec {fifo}>&-
wait "$cpid"
cpid=
secs=$(($(date +%s) - start))

console() { sed 's/\r$//; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g' "$tmp/console"; }
# console_end: what tells why a guest died (its init's lines, a panic, an
# oops), then the console's last lines.
console_end() {
	console | grep -E 'kroute-guest:|Kernel panic|BUG:|Oops|sysrq' | head -n 12 | sed 's/^/  /' >&2
	echo "  ... the console's last lines:" >&2
	console | tail -n 20 | sed 's/^/  /' >&2
}
[ "${KROUTE_GUEST_CONSOLE:-0}" = 1 ] && console | sed 's/^/guest console: /' >&2
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	say "FAIL: the guest ran out of time (${timeout_s} s, KROUTE_GUEST_TIMEOUT); its console:"
	console_end
	exit $GUEST_FAIL
fi
# The status the guest reported (guest-init.sh), when its console agrees.
if [ $((qrc % 2)) = 1 ] && [ "$qrc" -ge 3 ]; then
	rc=$(((qrc - 1) / 2 - 1))
	if console | grep -qx "kroute-guest: the job exited [0-9]* at .*"; then
		exit "$rc"
	fi
fi
say "FAIL: the guest stopped without an exit status (qemu exit $qrc after ${secs} s); its console:"
console_end
exit $GUEST_FAIL
