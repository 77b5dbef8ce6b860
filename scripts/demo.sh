#!/usr/bin/env bash
# The main job on the bundled example: installs what it needs, builds kroute,
# explains the example cluster for two nodes, then (as root) runs the live
# demo: kroute in iptables mode on a three-node cluster made of throwaway
# network namespaces, with real traffic under each traffic policy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
for node in node-a1 node-b1; do
	echo "==== kroute explain -f examples --node $node"
	build/kroute explain -f examples --node "$node"
	echo
done
if [ "$(id -u)" -eq 0 ]; then
	scripts/demo-cluster.sh
else
	echo "(run as root for the live demo: scripts/demo-cluster.sh)"
fi
