#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real Kubernetes control plane for tests: etcd and kube-apiserver built
# from Kubernetes' own modules by build.sh (built on first use, then cached).
#
#   control-plane.sh start DIR   starts both, data under DIR, listening on
#                                127.0.0.1 only (free ports picked here);
#                                exit 0 only once the API server's /readyz is ok
#   control-plane.sh stop DIR    stops both and removes what start made
#
# start writes, under DIR (absolute paths inside):
#   kubeconfig       contexts "admin" (current; client certificate, user
#                    kroute-admin in system:masters) and "token" (bearer
#                    token, user kroute-token in system:masters)
#   bin/kubectl      kubectl using that kubeconfig
#   server           the API server's URL
#   token            the bearer token
#   pki/ca.crt       the CA that signed the serving and client certificates
#   pki/admin.{crt,key}, pki/sa.{key,pub} (service-account signing key)
#   log/etcd.log, log/kube-apiserver.log
# It prints nothing but errors.  A failed start stops what it started, prints
# the end of the logs and leaves DIR as it found it.  DIR must be empty or
# absent.  KROUTE_K8S_APISERVER_ARGS adds arguments to kube-apiserver.
# KROUTE_K8S_ADDRESS (default 127.0.0.1) is the address kube-apiserver listens
# on and advertises, for clients in other network namespaces (an address of
# the namespace start runs in; the serving certificate names it too); etcd
# stays on 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

# Everything start makes under DIR; stop removes exactly these.
made=(pki etcd log run bin cache kubeconfig server token)
marker=run/control-plane   # present while DIR holds a control plane
start_timeout=${KROUTE_K8S_START_TIMEOUT:-180}
address=${KROUTE_K8S_ADDRESS:-127.0.0.1}

die() { echo "control-plane.sh: $*" >&2; exit 1; }

# alive PID: the process exists and is one this DIR started (its command line
# names DIR), so a reused pid is never signalled.
alive() {
	local cmdline
	[ -r "/proc/$1/cmdline" ] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null) || return 1
	[[ "$cmdline" == *"$dir/"* ]]
}

# stop_process NAME: TERM, then KILL after 20 s; fails if it outlives both.
stop_process() {
	local pidfile=$dir/run/$1.pid pid i
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	alive "$pid" || { rm -f "$pidfile"; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do
		alive "$pid" || { rm -f "$pidfile"; return 0; }
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		alive "$pid" || { rm -f "$pidfile"; return 0; }
		sleep 0.1
	done
	echo "control-plane.sh: $1 (pid $pid) does not exit" >&2
	return 1
}

remove_made() {
	local m
	for m in "${made[@]}"; do
		rm -rf "${dir:?}/$m"
	done
}

stop_all() {
	local rc=0
	stop_process kube-apiserver || rc=1
	stop_process etcd || rc=1
	[ "$rc" = 0 ] || return 1
	remove_made
	# DIR itself goes too when start made it.
	[ "$created_dir" = 0 ] || rmdir "$dir" 2>/dev/null || true
}

# free_port: a TCP port nothing listens on (any address) and not yet chosen.
chosen_ports=" "
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		[[ "$chosen_ports" == *" $p "* ]] && continue
		[ -z "$(ss -Htln "sport = :$p")" ] || continue
		chosen_ports+="$p "
		echo "$p"
		return 0
	done
	die "no free port found"
}

# wait_for NAME CMD...: until CMD succeeds, while NAME runs, for at most
# start_timeout seconds in all since start began.  Fails when NAME exited.
wait_for() {
	local name=$1 pid
	shift
	pid=$(cat "$dir/run/$name.pid")
	until "$@" >/dev/null 2>&1; do
		alive "$pid" || return 1
		((SECONDS < start_timeout)) || die "$name not ready after ${start_timeout}s"
		sleep 0.2
	done
}

# spawn NAME ARGS...: runs the cached binary NAME in the background, output to
# log/NAME.log (appended: a retry keeps the failed try), pid in run/NAME.pid.
spawn() {
	local name=$1
	shift
	"$K8S_BIN/$name" "$@" </dev/null >>"$dir/log/$name.log" 2>&1 &
	echo $! >"$dir/run/$name.pid"
}

make_pki() {
	local pki=$dir/pki ext
	ssl() { openssl "$@" 2>"$pki/openssl.err" || { cat "$pki/openssl.err" >&2; die "openssl $1 failed"; }; }
	ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
	ssl req -x509 "${ec[@]}" -keyout "$pki/ca.key" -out "$pki/ca.crt" -days 7 \
		-subj /CN=kroute-test-ca -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign
	# sign NAME SUBJECT EXTENSIONS: a key and a certificate signed by the CA.
	sign() {
		ssl req -new "${ec[@]}" -keyout "$pki/$1.key" -out "$pki/$1.csr" -subj "$2"
		printf '%s\n' "$3" "keyUsage=critical,digitalSignature" >"$pki/$1.ext"
		ssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
			-set_serial "0x$(openssl rand -hex 8)" -days 7 -extfile "$pki/$1.ext" -out "$pki/$1.crt"
	}
	ext="subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default"
	ext+=",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"
	[ "$address" = 127.0.0.1 ] || ext+=",IP:$address"
	sign apiserver /CN=kube-apiserver "$ext
extendedKeyUsage=serverAuth"
	sign admin "/O=system:masters/CN=kroute-admin" "extendedKeyUsage=clientAuth"
	ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key"
	ssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
	rm -f "$pki"/*.csr "$pki"/*.ext "$pki/openssl.err"
	chmod 600 "$pki"/*.key
	openssl rand -hex 32 >"$dir/token"
	chmod 600 "$dir/token"
	echo "$(cat "$dir/token"),kroute-token,kroute-token,system:masters" >"$pki/tokens.csv"
}

write_kubeconfig() {
	cat >"$dir/kubeconfig" <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: kroute-test
	  cluster:
	    server: $1
	    certificate-authority: $dir/pki/ca.crt
	users:
	- name: admin
	  user:
	    client-certificate: $dir/pki/admin.crt
	    client-key: $dir/pki/admin.key
	- name: token
	  user:
	    tokenFile: $dir/token
	contexts:
	- name: admin
	  context: {cluster: kroute-test, user: admin}
	- name: token
	  context: {cluster: kroute-test, user: token}
	current-context: admin
	EOF
	chmod 600 "$dir/kubeconfig"
	printf '#!/bin/sh\nexec %q --kubeconfig %q --cache-dir %q "$@"\n' \
		"$K8S_BIN/kubectl" "$dir/kubeconfig" "$dir/cache" >"$dir/bin/kubectl"
	chmod +x "$dir/bin/kubectl"
}

# lost_port_race NAME: NAME exited because another program took its port.
lost_port_race() { grep -q 'address already in use' "$dir/log/$1.log"; }

start_etcd() {
	rm -rf "${dir:?}"/etcd/*
	etcd_port=$(free_port)
	peer_port=$(free_port)
	spawn etcd --name kroute-test --data-dir "$dir/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" \
		--advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
		--initial-cluster "kroute-test=http://127.0.0.1:$peer_port" \
		--log-level warn
	wait_for etcd curl -sf -m 2 "http://127.0.0.1:$etcd_port/health"
}

start_apiserver() {
	local url
	url=https://$address:$(free_port)
	# --endpoint-reconciler-type=none: the "kubernetes" Service's endpoints
	# would be 127.0.0.1, which the API server's own validation refuses.
	# shellcheck disable=SC2086 # KROUTE_K8S_APISERVER_ARGS is a list of words
	spawn kube-apiserver --bind-address "$address" --advertise-address "$address" \
		--secure-port "${url##*:}" --etcd-servers "http://127.0.0.1:$etcd_port" \
		--tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
		--client-ca-file "$dir/pki/ca.crt" --token-auth-file "$dir/pki/tokens.csv" \
		--service-account-key-file "$dir/pki/sa.pub" \
		--service-account-signing-key-file "$dir/pki/sa.key" \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-cluster-ip-range 10.96.0.0/12 --authorization-mode RBAC \
		--endpoint-reconciler-type none --cert-dir "$dir/pki" --profiling=false \
		${KROUTE_K8S_APISERVER_ARGS:-}
	echo "$url" >"$dir/server"
	write_kubeconfig "$url"
	wait_for kube-apiserver curl -sf -m 5 --cacert "$dir/pki/ca.crt" \
		--cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" "$url/readyz"
}

start() {
	local m try etcd_port peer_port
	for m in "${made[@]}"; do
		[ ! -e "$dir/$m" ] || die "$dir/$m exists: start needs an empty or new DIR"
	done
	mkdir -p "$dir/run"
	echo "$created_dir" >"$dir/$marker"
	# From here on, any failure stops what was started and removes what was made.
	trap 'rc=$?; if [ "$rc" != 0 ]; then start_failed; fi' EXIT
	trap 'exit 1' INT TERM HUP
	mkdir -p "$dir/pki" "$dir/etcd" "$dir/log" "$dir/bin"
	chmod 700 "$dir/pki" "$dir/etcd"
	# A first use builds the binaries: minutes, quietly (its log on failure).
	if ! k8s_built && ! "$here/build.sh" >"$dir/log/build.log" 2>&1; then
		tail -n 30 "$dir/log/build.log" >&2
		die "building the control plane failed"
	fi
	SECONDS=0
	make_pki

	# A port free when chosen can be taken before the bind: such a start is
	# retried on other ports.
	for ((try = 1; ; try++)); do
		start_etcd && break
		lost_port_race etcd && ((try < 3)) || die "etcd exited during start-up"
	done
	for ((try = 1; ; try++)); do
		start_apiserver && break
		lost_port_race kube-apiserver && ((try < 3)) || die "kube-apiserver exited during start-up"
	done
	trap - EXIT INT TERM HUP
}

start_failed() {
	local log
	trap - EXIT
	for log in "$dir"/log/etcd.log "$dir"/log/kube-apiserver.log; do
		[ -s "$log" ] || continue
		echo "--- last lines of $log" >&2
		tail -n 20 "$log" >&2
	done
	stop_all || true
	exit 1
}

[ $# = 2 ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
created_dir=0
case "$1" in
start)
	[ -e "$2" ] || created_dir=1
	mkdir -p "$2"
	dir=$(cd "$2" && pwd)
	start
	;;
stop)
	dir=$(cd "$2" 2>/dev/null && pwd) || die "$2: no such directory"
	[ -f "$dir/$marker" ] || die "$dir holds no control plane"
	created_dir=$(cat "$dir/$marker")
	stop_all
	;;
*)
	echo "usage: $0 start|stop DIR" >&2
	exit 2
	;;
esac
