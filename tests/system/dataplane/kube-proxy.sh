# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# The real kube-proxy as a mode of the data-plane tests, the reference kroute
# is compared with (sourced by mode-kube-proxy-iptables.sh and
# mode-kube-proxy-nftables.sh).  It is the kube-proxy tests/k8s/build.sh
# builds from the same Kubernetes release as the API server; it runs on every
# node of the cluster, in the node's namespace, against the test's API server
# (the api source: DP_SOURCE=api), with the flags a real cluster gives it.
# A row it fails is a difference (engine.sh: MODE_REFERENCE), which the
# comparer checks against intended-differences.table.

# Capabilities: the NAT is the kernel's and stays after kube-proxy exits;
# traffic from outside the node is handled; ClientIP affinity ends
# timeoutSeconds after the client's last new connection (iptables' recent
# match, nftables' timed set); nothing else of kroute's (no retries, weights
# or schedulers).  NodePorts on 127.0.0.1: its iptables mode only.
MODE_CAPS=(kernel-nat from-outside affinity-timeout)
MODE_REFERENCE=1
# kube-proxy -v 2 logs each sync's end; it logs nothing on SIGTERM.
MODE_SYNC_LOG="SyncProxyRules complete"
MODE_STOP_LOG=""
if [ "$DP_SOURCE" != api ]; then
	echo "$0: mode $MODE runs the real kube-proxy, which reads the API server: DP_SOURCE=api" >&2
	exit 2
fi
KUBE_PROXY=$("$API_K8S/build.sh" --print-bin 2>/dev/null)/kube-proxy
MODE_CMDS+=("$KUBE_PROXY")

# kube_proxy_start NODE PROXY-MODE: kube-proxy as NODE's agent.  As a
# real cluster runs it (kubeadm's DaemonSet): the node's name, the pods'
# CIDR (detect-local-mode ClusterCIDR), a kubeconfig; nodePortAddresses
# unset (every local address).  The conntrack limits and timeouts are left
# as they are (0): they are host-wide or not writable from a namespace.
# The sync periods are the ones kroute gets here (DP_RUN_FLAGS), so both
# follow a change as fast.
kube_proxy_start() {
	dp_source_args
	agent_run "$1" "$KUBE_PROXY" --proxy-mode "$2" --hostname-override "$1" \
		--cluster-cidr 10.244.0.0/16 "${SOURCE_ARGS[@]}" \
		--iptables-min-sync-period 100ms --iptables-sync-period 30s \
		--conntrack-max-per-core 0 --conntrack-tcp-timeout-established 0 \
		--conntrack-tcp-timeout-close-wait 0 --conntrack-udp-timeout 0 \
		--conntrack-udp-timeout-stream 0 --v 2
}

# mode_cleanup NODE: kube-proxy's own cleanup (both of its modes' state).
mode_cleanup() { dp_exec "$1" "$KUBE_PROXY" --cleanup; }
