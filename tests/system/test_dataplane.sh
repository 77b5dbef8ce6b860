#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Real packets through a kroute data plane, in the netns test cluster
# (tests/cluster): runs the scenario table dataplane/scenarios.table against
# one mode, with the scenario engine dataplane/engine.sh.  kroute runs in
# every node's namespace, fed the same cluster as YAML; every scenario is a
# connection from a pod, a node or the external client to one address of one
# service, checking which pods answered, the source address they saw, and drop
# (timeout) versus reject (refused) exactly as kube-proxy behaves.
#
#   test_dataplane.sh MODE[,MODE...] KROUTE KR-BACKEND KR-PROBE
#
# With several modes the table runs against each in turn on the same cluster
# (and API server), and every row's outcome is recorded per mode; with a
# reference mode among them (kube-proxy-iptables, kube-proxy-nftables: the
# real kube-proxy) the outcomes are compared side by side
# (dataplane/compare-outcomes.py, dataplane/intended-differences.table).
#
# DP_SOURCE=api reads the same objects from a real kube-apiserver, applied
# with kubectl (dataplane/source-api.sh); the default is the files.
#
# A mode is dataplane/mode-MODE.sh: how kroute is started in it, the commands
# it needs, what it leaves in a node, and its capabilities.  A row that needs
# a capability the mode lacks is skipped, printed as SKIP and not counted as
# passed.  The checks that are not one probe (live connections across
# endpoint changes, log and status-file contents, running out of file
# descriptors) are functions in dataplane/checks.sh that the table calls with
# `run`.  This file is the front end: the cluster, and the table's steps
# that build it.  Format and how to add a mode: dataplane/README.md.
#
# Never touches the host: everything happens in namespaces lib.sh creates and
# tears down on every exit path.
set -u
D=$(cd "$(dirname "$0")" && pwd)/dataplane
. "$D/../../cluster/lib.sh"
. "$D/engine.sh"
dp_begin "$@"
TABLE=${DATAPLANE_TABLE:-$D/scenarios.table}
. "$D/checks.sh"
# A table of another folder may bring checks of its own (tests/ipvs/checks.sh).
if [ -n "${DATAPLANE_CHECKS:-}" ]; then
	. "$DATAPLANE_CHECKS" || exit 2
fi

# ---- what the engine asks of a front end: the cluster of tests/cluster ----
dp_ns() { kc_ns "$@"; }
dp_ip() { kc_ip "$@"; }
dp_route() { kc_client_route "$@"; }
dp_unroute() { kc_client_unroute "$@"; }
# with KC_CGROUPS=1 (a mode file sets it), a node's and its pods' processes run in its cgroup
dp_exec_wrap() { kc_in_cgroup "$@"; }
DP_RUN_FLAGS=(--cluster-cidr 10.244.0.0/16 --min-sync-period 100ms --sync-period 30s)

# ---- the table's steps that build the cluster ----
# (Built by the first mode's pass; the passes after it reuse them.)
step_pod() { dp_first_pass || return 0; kc_add_pod "$2" "$1" || exit 1; }
step_backend() { dp_first_pass || return 0; kc_start_backend "$@" || exit 1; }
step_blackhole() { dp_first_pass || return 0; kc_blackhole "$1" on || exit 1; }
# vip-route CIDR: routing happens before the rules that drop or reject.
step_vip_route() {
	local n
	dp_first_pass || return 0
	for n in "${KC_NODES[@]}"; do ip -n "$(kc_node_ns "$n")" route add "$1" dev eth0 || exit 1; done
}
# sysctl NODE KEY=VALUE: inside the node's namespace.
step_sysctl() { kc_node_sysctl "$@" || exit 1; }
# Between two modes' passes (MODE,MODE... on the command line): what the
# previous agent left outside its rules goes, so no pass inherits it: the
# nodes' conntrack entries (a UDP flow would keep its old NAT) and
# route_localnet (both kube-proxy and kroute's iptables mode set it; the
# NodePort on 127.0.0.1 row must see each agent set it itself).
dp_between_modes() {
	local n
	for n in "${KC_NODES[@]}"; do
		ip netns exec "$(kc_node_ns "$n")" conntrack -F 2>/dev/null
		kc_node_sysctl "$n" net.ipv4.conf.all.route_localnet=0 || return 1
	done
}
# dp_endpoints NS/SERVICE SPEC...: the service's EndpointSlice
# (kc_write_endpointslice) written under $M and handed to the source; the
# table's endpoints step and the checks change endpoints through it.
dp_endpoints() {
	kc_write_endpointslice "$M" "$@" && dp_publish "$M/endpointslice-${1%%/*}-${1#*/}.yaml"
}
step_endpoints() { dp_endpoints "t/$1" "${@:2}" || exit 1; }

kc_setup || exit 1
M=$KC_RUNDIR/m
DP_DIR=$KC_RUNDIR
DP_NODES=("${KC_NODES[@]}")
mkdir -p "$M"
kc_write_manifests "$M" || exit 1
dp_source_start && dp_publish "$M/nodes.yaml" || exit 1
dp_run_modes
dp_report "dataplane ${DP_MODES[*]}"
