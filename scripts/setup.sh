#!/usr/bin/env bash
# Installs every build and test dependency of kroute on Debian 12 (run as root).
# Idempotent: apt-get skips what is already there.
set -euo pipefail
pkgs=(
  build-essential meson ninja-build pkg-config
  libyaml-dev libjansson-dev libcurl4-openssl-dev libcmocka-dev
  clang llvm libclang-rt-14-dev
  jq iproute2 iptables nftables conntrack procps
  haproxy iperf3 wrk nginx-light  # userspace stress test and bench_userspace.sh (peer, load, backends)
  openssl curl ca-certificates  # tests/k8s/control-plane.sh (its CA and certificates, /readyz)
  libmicrohttpd-dev  # health, healthCheckNodePort and metrics servers
  prometheus  # the metrics test scrapes kroute with the real server; promtool checks the format
  libnftnl-dev libmnl-dev  # nftables mode speaks netlink
  qemu-system-x86 busybox-static  # IPVS tests boot a kernel that has ip_vs (tests/ipvs/)
  ipvsadm ipset  # what the IPVS tests and bench compare kroute's state with, inside that guest
  libbpf-dev bpftool  # ebpf mode: libbpf loads the programs clang builds; bpftool writes their skeletons
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # haproxy and nginx are peers and backends the tests start inside their own
  # network namespaces; their packages would also start system services on the
  # host (nginx on port 80).  Debian's policy-rc.d hook keeps the install from
  # starting any service; it is removed again on every exit path.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\n# kroute setup.sh: no service starts during this install\nexit 101\n' \
      >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The IPVS tests' guest (tests/ipvs/kit.sh): Debian's kernel package, unpacked
# (never installed) with an initramfs, cached in /var/cache/kroute-ipvs.
"$(dirname "$0")/../tests/ipvs/kit.sh" ||
	echo "setup: no IPVS guest kit (tests/ipvs/kit.sh failed): the ipvs tests will fail"
