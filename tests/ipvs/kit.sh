#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The guest kit for tests/ipvs/in-guest.sh: a Debian kernel that has IPVS
# (this project's machines run one without it) and an initramfs holding
# busybox, the kernel modules the tests need and the guest's /init
# (tests/ipvs/guest-init.sh).  Built once and cached outside the checkout:
#
#   tests/ipvs/kit.sh                 build the kit unless the cached one is current
#   tests/ipvs/kit.sh --print-dir     print the kit's directory (vmlinuz, initramfs.cpio.gz):
#                                     /var/cache/kroute-ipvs/kit-HASH, HASH of kit.sh and guest-init.sh
#
# The kernel is the package Debian's linux-image-amd64 depends on, fetched with
# `apt-get download` and unpacked with `dpkg -x`: never installed on the host.
# Its .deb is kept in the cache, so a rebuild (this script or guest-init.sh
# changed) needs no network.  Debian ships no modules.dep; busybox depmod
# makes one (and modules.alias, for the kernel's on-demand loads).
#
# Cache: $KROUTE_IPVS_CACHE (default /var/cache/kroute-ipvs); concurrent runs
# wait for each other on a lock there.  About 10 s to build, 80 MB kept.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${KROUTE_IPVS_CACHE:-/var/cache/kroute-ipvs}

log() { echo "ipvs kit: $*" >&2; }

# What goes into the initramfs (module names; their dependencies come along).
# PRELOAD is loaded at boot: ip_vs with every scheduler this kernel has, and
# what the netns test cluster and kroute's modes use from the first packet.
# PACK is there too, loaded by the kernel on demand (busybox modprobe).
PRELOAD_BOOT="crc32c_generic virtio_pci virtio_console 9pnet_virtio 9p overlay"
PRELOAD_NET="veth dummy bridge br_netfilter
  nf_conntrack nf_nat nf_conntrack_netlink nf_tables nft_compat nft_chain_nat nft_ct nft_nat
  nft_masq nft_reject nft_reject_inet nft_fib_inet nft_numgen nft_hash nft_limit nft_redir
  x_tables xt_tcpudp xt_conntrack xt_comment xt_mark xt_MASQUERADE xt_nat xt_addrtype
  xt_multiport xt_statistic xt_recent xt_physdev xt_set xt_ipvs
  ip_tables iptable_filter iptable_nat iptable_mangle ip6_tables ip6table_filter ip6table_nat
  ip_set ip_set_hash_ip ip_set_hash_ipport ip_set_hash_ipportip ip_set_hash_ipportnet
  ip_set_hash_net ip_set_bitmap_port"
# Every IPVS module of the kernel (ip_vs, its schedulers, ftp/sip helpers) is
# added from the package itself, so a scheduler it has is never left out.
PACK_DIRS="kernel/net/netfilter kernel/net/ipv4/netfilter kernel/net/ipv6/netfilter kernel/net/bridge"

print_dir=0
case "${1:-}" in
	--print-dir) print_dir=1 ;;
	"") ;;
	*) echo "usage: $0 [--print-dir]" >&2; exit 2 ;;
esac
# A kit is made by this script and this guest init: its folder is named after
# their hash, so checkouts with other versions (a branch, CI) keep their own.
want_stamp() { cat "$0" "$HERE/guest-init.sh" | sha256sum | cut -d' ' -f1; }
KIT=$CACHE/kit-$(want_stamp | cut -c1-16)
if [ "$print_dir" = 1 ]; then echo "$KIT"; exit 0; fi

kit_current() {
	[ -f "$KIT/vmlinuz" ] && [ -f "$KIT/initramfs.cpio.gz" ] && [ -f "$KIT/stamp" ] &&
		[ "$(cat "$KIT/stamp")" = "$(want_stamp)" ]
}
if kit_current; then exit 0; fi

for t in busybox dpkg apt-get; do
	command -v "$t" >/dev/null || { log "needs $t (scripts/setup.sh installs it)"; exit 1; }
done
# busybox-static: the guest has no libc of its own before it reaches the host's.
busybox=$(command -v busybox)
if ldd "$busybox" >/dev/null 2>&1; then log "$busybox is not static (install busybox-static)"; exit 1; fi

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9
if kit_current; then exit 0; fi # another run built it meanwhile

# The kernel package: the one in the cache, else the one linux-image-amd64 names.
deb=$(ls "$CACHE"/linux-image-*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$deb" ]; then
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		apt-get update -qq
		pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	fi
	[ -n "$pkg" ] || { log "apt-cache names no kernel for linux-image-amd64"; exit 1; }
	log "downloading $pkg"
	(cd "$CACHE" && apt-get download "$pkg" 2>&1 | grep -v 'unsandboxed as root' >&2 || true)
	deb=$(ls "$CACHE"/linux-image-*.deb 2>/dev/null | head -n 1 || true)
	[ -n "$deb" ] || { log "apt-get download $pkg failed"; exit 1; }
fi

work=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg -x "$deb" "$work/pkg"
KV=$(ls "$work/pkg/lib/modules")
MS=$work/pkg/lib/modules/$KV
"$busybox" depmod -b "$work/pkg" "$KV"

# The initramfs: busybox (its applets as links), the modules, /init.
R=$work/root
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,host,hostro,ovl,lib/modules/"$KV"}
cp "$busybox" "$R/bin/busybox"
for p in $("$busybox" --list-full); do [ -e "$R/$p" ] || ln -s /bin/busybox "$R/$p"; done

# Module name -> path in modules.dep ('-' and '_' are the same in names).
path_of() {
	awk -F: -v m="$1" '{n=$1; sub(/.*\//,"",n); sub(/\.ko$/,"",n); gsub(/-/,"_",n);
		if (n==m) {print $1; exit}}' "$MS/modules.dep"
}
declare -A packed=()
pack() { # PATH: the module and what it depends on
	local q=$1 d
	[ -n "${packed[$q]:-}" ] && return 0
	packed[$q]=1
	for d in $(awk -F: -v p="$q" '$1==p {print $2}' "$MS/modules.dep"); do pack "$d"; done
	mkdir -p "$R/lib/modules/$KV/$(dirname "$q")"
	cp "$MS/$q" "$R/lib/modules/$KV/$q"
}
: >"$R/etc/kroute-preload"
for m in $PRELOAD_BOOT $PRELOAD_NET $(cd "$MS/kernel/net/netfilter/ipvs" && ls | sed 's/\.ko$//'); do
	q=$(path_of "$m")
	[ -n "$q" ] || { log "kernel $KV has no module $m"; exit 1; }
	pack "$q"
	echo "$m" >>"$R/etc/kroute-preload"
done
for dir in $PACK_DIRS; do
	for q in $(cd "$MS" && find "$dir" -name '*.ko' | sort); do pack "$q"; done
done
cp "$MS"/modules.builtin* "$MS/modules.order" "$R/lib/modules/$KV/"
"$busybox" depmod -b "$R" "$KV"
cp "$HERE/guest-init.sh" "$R/init"
chmod 755 "$R/init"

mkdir -p "$work/kit"
(cd "$R" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1 >"$work/kit/initramfs.cpio.gz")
cp "$work/pkg/boot/vmlinuz-$KV" "$work/kit/vmlinuz"
echo "$KV" >"$work/kit/kernel"
want_stamp >"$work/kit/stamp"
rm -rf "$KIT.old"
[ -d "$KIT" ] && mv "$KIT" "$KIT.old"
mv "$work/kit" "$KIT"
rm -rf "$KIT.old"
log "built $KIT: kernel $KV, ${#packed[@]} modules, initramfs $(du -h "$KIT/initramfs.cpio.gz" | cut -f1)"
