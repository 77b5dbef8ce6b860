#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# /init of the IPVS test guest (tests/ipvs/kit.sh puts it in the initramfs;
# busybox sh, PID 1).  Loads the modules the tests need, makes the host's
# file system visible read-only at the same paths (9p) with a writable layer
# in guest RAM (overlay), chroots into it and runs the job that
# tests/ipvs/in-guest.sh appended to the initramfs (/job: conf, run.sh).
# The job's output goes to the virtio port "kroute.out" (the caller's stdout);
# its exit status + 1 goes to qemu's isa-debug-exit port, which makes qemu
# exit with ((status + 1) << 1) | 1.  Anything that goes wrong before the job runs powers
# off without a status: the host then reports a dead guest, never a pass.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
echo "kroute-guest: init at $(cut -d' ' -f1 /proc/uptime) s"

die() {
	echo "kroute-guest: $*"
	poweroff -f
	sleep 60
}

# Modules: busybox modprobe resolves dependencies from modules.dep; the kernel
# loads the others on demand through the same modprobe (/proc/sys/kernel/modprobe).
# crc32c_generic comes first: the Intel-optimised crc32c libcrc32c would take
# does not load on qemu's default CPU.  dummy would create dummy0 by itself.
while read -r m; do
	case "$m" in
	dummy) modprobe dummy numdummies=0 ;;
	*) modprobe "$m" ;;
	esac || die "cannot load module $m"
done </etc/kroute-preload

echo "kroute-guest: modules loaded at $(cut -d' ' -f1 /proc/uptime) s"

# Without lo up the IPv4 local table does not exist yet, and IPVS refuses real
# servers ("address not unicast").
ip link set lo up
hostname kroute-ipvs-guest
# Linux 6.1 rate-limits "no route" ICMP errors per source with one global
# setting (one a second after a short burst); the tests' nodes answer an
# unrouted address with ICMP unreachable and must do so every time, as the
# host's kernel (where the setting is per namespace) lets them.
sysctl -qw net.ipv4.route.error_cost=0 || die "cannot set net.ipv4.route.error_cost"

. /job/conf || die "no job"

# The host's / read-only (9p, cached: it does not change under a test that
# reads it) under a tmpfs upper layer: everything looks writable, writes stay
# in guest RAM.
mkdir -p /hostro /ovl /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=262144 hostroot /hostro ||
	die "cannot mount the host's file system (9p)"
mount -t tmpfs -o mode=755 tmpfs /ovl
mkdir -p /ovl/upper /ovl/work
mount -t overlay overlay -o lowerdir=/hostro,upperdir=/ovl/upper,workdir=/ovl/work /host ||
	die "cannot mount the overlay"
mount -t proc proc /host/proc
mount -t sysfs sysfs /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
# What udev would add: bash's process substitution needs /dev/fd.
ln -sf /proc/self/fd /host/dev/fd
ln -sf /proc/self/fd/0 /host/dev/stdin
ln -sf /proc/self/fd/1 /host/dev/stdout
ln -sf /proc/self/fd/2 /host/dev/stderr
mount -t devpts devpts /host/dev/pts
mount -t tmpfs tmpfs /host/dev/shm
# The guest's /run and /tmp are fresh; a checkout below them (a CI clone in
# a temporary directory) is kept visible at its path through a bind mount
# of its overlay view, taken before they are covered.
keep=
case "$JOB_ROOT" in
/tmp/* | /run/*)
	mkdir -p /keep && mount -o bind "/host$JOB_ROOT" /keep || die "cannot keep the checkout $JOB_ROOT"
	keep=$JOB_ROOT ;;
esac
mount -t tmpfs tmpfs /host/run
mount -t tmpfs -o mode=1777 tmpfs /host/tmp
if [ -n "$keep" ]; then
	mkdir -p "/host$keep" && mount -o bind /keep "/host$keep" || die "cannot mount the checkout $keep"
fi
# Host directories the caller shares read-write, at the same paths.
i=0
for dir in $JOB_SHARES; do
	i=$((i + 1))
	mkdir -p "/host$dir" && mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 "share$i" "/host$dir" ||
		die "cannot mount the shared directory $dir"
done
mkdir -p /host/run/kroute-job
cp /job/run.sh /host/run/kroute-job/run.sh

out=
for p in /sys/class/virtio-ports/*; do
	[ "$(cat "$p/name" 2>/dev/null)" = kroute.out ] && out=/dev/${p##*/}
done
[ -n "$out" ] && [ -c "$out" ] || die "no output port"

echo "kroute-guest: running the job at $(cut -d' ' -f1 /proc/uptime) s"
chroot /host /bin/bash /run/kroute-job/run.sh >"$out" 2>&1 </dev/null
rc=$?
echo "kroute-guest: the job exited $rc at $(cut -d' ' -f1 /proc/uptime) s"
# qemu exits with (value << 1) | 1, in 8 bits, and with 1 on an error of its
# own: the value sent is the status + 1 (so no status looks like qemu's
# error), which leaves 0..126.
if [ "$rc" -gt 126 ]; then
	echo "kroute-guest: exit status $rc reported as 126" >"$out"
	rc=126
fi
sync
printf "\\$(printf %o $((rc + 1)))" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
die "isa-debug-exit did not stop qemu"
