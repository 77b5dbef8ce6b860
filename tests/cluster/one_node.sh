# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# tests/cluster/one_node.sh: manifests for a one-node cluster whose single
# Service has one endpoint, for proxies measured in one namespace (the
# userspace stress test and bench/bench_userspace.sh).  Source it.

# kr_one_node_manifests FILE NS/SVC CLUSTER_IP ENDPOINT_IP NAME:PROTO:PORT:TARGET...
# writes FILE: Node node-1 (pod CIDR 10.244.1.0/24), the Service with those
# ports, and its EndpointSlice with ENDPOINT_IP on node-1, ready.
kr_one_node_manifests() {
	local file=$1 ns=${2%%/*} svc=${2#*/} vip=$3 ep=$4 p name proto port target
	shift 4
	local sports="" eports=""
	for p; do
		IFS=: read -r name proto port target <<<"$p"
		sports+="  - {name: $name, protocol: $proto, port: $port, targetPort: $target}"$'\n'
		eports+="- {name: $name, protocol: $proto, port: $target}"$'\n'
	done
	cat >"$file" <<EOF
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {kubernetes.io/hostname: node-1}
spec: {podCIDR: 10.244.1.0/24, podCIDRs: [10.244.1.0/24]}
status:
  addresses: [{type: InternalIP, address: 192.168.50.11}]
---
apiVersion: v1
kind: Service
metadata: {name: $svc, namespace: $ns}
spec:
  clusterIP: $vip
  ports:
${sports%$'\n'}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: $svc-1
  namespace: $ns
  labels: {kubernetes.io/service-name: $svc}
addressType: IPv4
ports:
${eports%$'\n'}
endpoints:
- addresses: [$ep]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-1
EOF
}
