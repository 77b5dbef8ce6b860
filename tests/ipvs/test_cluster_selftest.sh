#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The netns test cluster's own self-test (tests/cluster/selftest.sh) inside
# the IPVS guest: the cluster the IPVS data-plane tests build there works as
# it does on the host.  Opt-in (KROUTE_IPVS_LONG=1): about a minute and a
# half of emulation, and dataplane_ipvs fails anyway when the cluster does
# not work in the guest.  Otherwise it prints SKIP and exits 77.
#
#   test_cluster_selftest.sh SELFTEST-ARGS...
set -u
if [ "${KROUTE_IPVS_LONG:-0}" != 1 ]; then
	echo "SKIP: the cluster self-test in the IPVS guest is opt-in (KROUTE_IPVS_LONG=1)"
	exit 77
fi
exec "$(dirname "$0")/in-guest.sh" tests/cluster/selftest.sh "$@"
