#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# A userspace sync that fails late leaves the previous state as it was.
# kroute runs in a namespace of its own with an `nft` on PATH that fails
# (`nft -f`) while a flag file exists.  A change that adds two services (a
# new address on kroute0, a new listener, a new drop rule) is then made: the
# sync fails at the nft step, and kroute0's addresses, the listening
# sockets and the nft table must be exactly what they were before.  Once
# nft works again, the retried sync applies the change.  Then a listener
# whose port another program holds: a warning, the rest of the change is
# applied.
#
# Never touches the host: everything lives in a namespace this script
# creates and deletes on every exit path.
#
# usage: test_userspace_sync.sh KROUTE   (root; exits 77 = skip otherwise)
set -u
KROUTE=$(cd "$(dirname "${1:?usage: $0 KROUTE}")" && pwd)/$(basename "$1")
# shellcheck source=testlib.sh
. "$(dirname "$0")/testlib.sh"

NS=krsync-$$
TMP=$(mktemp -d)
PIDS=()
st_init test_userspace_sync.sh st_cleanup_ns ip nft ss python3
REAL_NFT=$(command -v nft)
st_node_ns 192.0.2.2/24

mkdir -p "$TMP/bin" "$TMP/m"
cat >"$TMP/bin/nft" <<SH
#!/bin/sh
if [ -e "$TMP/nft-fails" ] && [ "\$1" = -f ]; then echo "injected failure" >&2; exit 1; fi
exec "$REAL_NFT" "\$@"
SH
chmod +x "$TMP/bin/nft"

M=$TMP/m
cat >"$M/node.yaml" <<'YAML'
apiVersion: v1
kind: Node
metadata: {name: node-1}
status: {addresses: [{type: InternalIP, address: "192.0.2.2"}]}
YAML
svc() { # NAME IP PORT [itp]
	cat <<YAML
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: t}
spec:
  clusterIP: $2
  ${4:+internalTrafficPolicy: Local}
  ports: [{name: http, port: $3, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: $1-1, namespace: t, labels: {kubernetes.io/service-name: $1}}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints:
- {addresses: ["192.0.2.50"], conditions: {ready: true}, nodeName: ${4:-node-1}}
YAML
}
svc web 10.96.0.10 80 >"$M/services.yaml"

ip netns exec "$NS" env PATH="$TMP/bin:$PATH" "$KROUTE" run --mode userspace --node node-1 -f "$M" \
	--userspace-workers 1 --min-sync-period 100ms >"$TMP/kroute.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do grep -q "full sync:" "$TMP/kroute.log" && break; sleep 0.05; done
grep -q "full sync:" "$TMP/kroute.log" || die "kroute did not sync: $(cat "$TMP/kroute.log")"

state() { # what a failed sync must not change
	echo "addresses: $(nx ip -br addr show dev kroute0 | cut -d' ' -f2- | tr -s ' ')"
	echo "listeners: $(nx ss -Hltn | awk '{print $4}' | sort | tr '\n' ' ')"
	nx "$REAL_NFT" list table inet kroute_userspace
}
before=$(state)
check "the first sync listens on the ClusterIP" "$(nx ss -Hltn | grep -c '10.96.0.10:80 ')" 1

echo "== a sync that fails at the nft step"
touch "$TMP/nft-fails"
{ svc web 10.96.0.10 80; svc web2 10.96.0.11 81; svc itp 10.96.0.12 80 node-2; } >"$M/services.yaml"
failed() { [ "$(grep -c 'sync failed' "$TMP/kroute.log")" -ge 2 ]; } # the change, and a full retry
for _ in $(seq 100); do failed && break; sleep 0.05; done
failed || die "the sync did not fail: $(cat "$TMP/kroute.log")"
check "nft's failure is reported" "$(grep -c 'nft (table inet kroute_userspace) failed (status 1): injected failure' "$TMP/kroute.log" | sed 's/^[1-9][0-9]*$/yes/')" yes
after=$(state)
check "kroute0's addresses, the listeners and the nft table are as before" "$after" "$before"
[ "$after" = "$before" ] || diff <(echo "$before") <(echo "$after")

echo "== nft works again: the retry applies the change"
rm -f "$TMP/nft-fails"
n_ok=$(grep -c "full sync:" "$TMP/kroute.log")
applied() { [ "$(grep -c 'full sync:' "$TMP/kroute.log")" -gt "$n_ok" ]; }
for _ in $(seq 200); do applied && break; sleep 0.05; done
check "a full sync succeeds" "$(applied && echo yes)" yes
check "the new address is on kroute0" "$(nx ip -br addr show dev kroute0 | grep -c '10.96.0.11/32')" 1
check "the new ClusterIP is listened on" "$(nx ss -Hltn | grep -c '10.96.0.11:81 ')" 1
check "the drop rule is in the table" "$(nx "$REAL_NFT" list table inet kroute_userspace | grep -c 'ip daddr 10.96.0.12 tcp dport 80 drop')" 1

echo "== a port another program holds: a warning, the rest is applied"
# Bound without SO_REUSEPORT, so kroute's bind fails with EADDRINUSE.
ip netns exec "$NS" python3 -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address is not on kroute0 yet
s.bind(("10.96.0.13", 82)); s.listen(1)
open(sys.argv[1], "w").close()
time.sleep(60)' "$TMP/held" &
PIDS+=($!)
for _ in $(seq 100); do [ -e "$TMP/held" ] && break; sleep 0.05; done
n_ok=$(grep -c "sync:" "$TMP/kroute.log")
{ svc web 10.96.0.10 80; svc web2 10.96.0.11 81; svc itp 10.96.0.12 80 node-2; svc held 10.96.0.13 82; svc web3 10.96.0.14 83; } >"$M/services.yaml"
synced() { [ "$(grep -c 'sync:' "$TMP/kroute.log")" -gt "$n_ok" ]; }
for _ in $(seq 200); do synced && break; sleep 0.05; done
check "the sync succeeds" "$(synced && ! tail -n1 "$TMP/kroute.log" | grep -q 'sync failed' && echo yes)" yes
check "the held port is named in a warning" "$(grep -c 't/held:82 clusterIP 10.96.0.13:82/TCP: cannot listen: Address already in use; not served on this node' "$TMP/kroute.log" | sed 's/^[1-9][0-9]*$/yes/')" yes
check "the other new service is listened on" "$(nx ss -Hltn | grep -c '10.96.0.14:83 ')" 1

st_finish
