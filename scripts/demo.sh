#!/usr/bin/env bash
# The main job on the bundled example: installs what it needs, builds kroute,
# and explains, for two nodes of examples/, where each service's traffic goes.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh release
for node in node-a1 node-b1; do
	echo "==== kroute explain -f examples --node $node"
	build/kroute explain -f examples --node "$node"
	echo
done
