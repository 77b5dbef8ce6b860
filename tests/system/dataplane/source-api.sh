# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The API source for the data-plane tests: the same manifests, applied with
# kubectl to a real kube-apiserver (tests/k8s/control-plane.sh), which kroute
# lists and watches (--kubeconfig), as on a real cluster.  Needs the IPv4
# front end (test_dataplane.sh, the cluster of tests/cluster): the control
# plane runs in a namespace of its own on the cluster's LAN,
# ${KC_PREFIX}apiserver at $KC_LAN_NET.2, where every node reaches it; etcd
# stays on that namespace's 127.0.0.1.  The cluster's teardown stops it (a
# teardown hook) and removes the namespace with the others.
#
# Every file is applied server-side (kubectl apply --server-side, one field
# manager), so a field a later version of the file leaves out is removed, as
# an edit of the file would; a status the file gives (the load-balancer
# ingress, a Node's addresses) goes through the status subresource, as a
# controller's would.  The objects' namespace (t) is created at start.

# No manifest-files: the API server refuses a bad manifest itself, so that
# check (run bad_input) is skipped here.
SOURCE_CAPS=()
SOURCE_CMDS=(openssl curl ss)
API_K8S=$DP_DATA/../../k8s

# api_kubectl ARGS...: kubectl against the test's API server, from its namespace.
api_kubectl() { ip netns exec "$API_NS" "$API_DIR/bin/kubectl" "$@"; }

dp_source_start() {
	local out
	API_NS=${KC_PREFIX}apiserver
	API_IP=$KC_LAN_NET.2
	API_DIR=$DP_DIR/control-plane
	"$API_K8S/build.sh" >"$DP_DIR/k8s-build.log" 2>&1 ||
		{ tail -n 20 "$DP_DIR/k8s-build.log" >&2; bad "building the control plane failed"; return 1; }
	kc_add_lan_host apiserver "$API_IP" || return 1
	KC_TEARDOWN_HOOKS+=("dp_source_stop")
	if ! out=$(KROUTE_K8S_ADDRESS=$API_IP ip netns exec "$API_NS" "$API_K8S/control-plane.sh" start "$API_DIR" 2>&1); then
		bad "control-plane.sh start failed: $out"
		return 1
	fi
	api_kubectl create namespace t >/dev/null
}

dp_source_stop() {
	[ -f "$API_DIR/run/control-plane" ] || return 0
	ip netns exec "$API_NS" "$API_K8S/control-plane.sh" stop "$API_DIR"
}

dp_source_args() { SOURCE_ARGS=(--kubeconfig "$API_DIR/kubeconfig"); }

# dp_publish FILE...: applies each file; its status too when it gives one.
dp_publish() {
	local f out
	for f; do
		out=$(api_kubectl apply --server-side --force-conflicts --field-manager kroute-test \
			-f "$f" 2>&1) || { bad "kubectl apply -f $f: $out"; return 1; }
		grep -q '^ *status:' "$f" || continue
		out=$(api_kubectl apply --server-side --force-conflicts --field-manager kroute-test \
			--subresource=status -f "$f" 2>&1) || { bad "kubectl apply --subresource=status -f $f: $out"; return 1; }
	done
}

# dp_unpublish KIND NAMESPACE/NAME: kubectl delete.
dp_unpublish() {
	local out
	out=$(api_kubectl delete "$1" -n "${2%%/*}" "${2#*/}" 2>&1) ||
		{ bad "kubectl delete $1 $2: $out"; return 1; }
}
