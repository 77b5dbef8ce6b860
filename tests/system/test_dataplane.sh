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
#   test_dataplane.sh MODE KROUTE KR-BACKEND KR-PROBE
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

# ---- what the engine asks of a front end: the cluster of tests/cluster ----
dp_ns() { kc_ns "$@"; }
dp_ip() { kc_ip "$@"; }
dp_route() { kc_client_route "$@"; }
dp_unroute() { kc_client_unroute "$@"; }
# with KC_CGROUPS=1 (a mode file sets it), a node's and its pods' processes run in its cgroup
dp_exec_wrap() { kc_in_cgroup "$@"; }
DP_RUN_FLAGS=(--cluster-cidr 10.244.0.0/16 --min-sync-period 100ms --sync-period 30s)

# ---- the table's steps that build the cluster ----
step_pod() { kc_add_pod "$2" "$1" || exit 1; }
step_backend() { kc_start_backend "$@" || exit 1; }
step_blackhole() { kc_blackhole "$1" on || exit 1; }
# vip-route CIDR: routing happens before the rules that drop or reject.
step_vip_route() {
	local n
	for n in "${KC_NODES[@]}"; do ip -n "$(kc_node_ns "$n")" route add "$1" dev eth0 || exit 1; done
}
# sysctl NODE KEY=VALUE: inside the node's namespace.
step_sysctl() { kc_node_sysctl "$@" || exit 1; }
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
run_table
dp_report "dataplane $MODE"
