#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the real Kubernetes components the tests run, from Kubernetes' own Go
# modules: kube-apiserver, kubectl and kube-proxy from k8s.io/kubernetes at
# K8S_VERSION (versions.sh), and etcd from go.etcd.io/etcd/server/v3 at the
# version that release's go.mod pins.  Go is used for nothing else.
#
# The binaries are cached outside the checkout in $K8S_BIN, keyed by version;
# when a complete build is there this does nothing and prints nothing.  Builds
# run under `nice` with at most KROUTE_K8S_JOBS (default 2) packages at once;
# a lock lets concurrent callers wait for one build instead of racing it.
#
# Usage: build.sh [--print-bin]   (--print-bin: print the bin directory)
# Environment: GO (the go command; default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/versions.sh"

print_bin=0
case "${1:-}" in
"") ;;
--print-bin) print_bin=1 ;;
*) echo "usage: $0 [--print-bin]" >&2; exit 2 ;;
esac

done_ok() {
	[ "$print_bin" = 1 ] && echo "$K8S_BIN"
	exit 0
}
k8s_built && done_ok

GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
[ -x "$GO" ] || { echo "build.sh: no Go toolchain (set GO=/path/to/go)" >&2; exit 1; }
jobs=${KROUTE_K8S_JOBS:-2}

mkdir -p "$K8S_CACHE"
exec 9>"$K8S_CACHE/.lock"
# Another caller may be building this version: wait for it (bounded; a first
# build takes minutes, not hours), then use its result.
flock -w 3600 9 || { echo "build.sh: timed out waiting for $K8S_CACHE/.lock" >&2; exit 1; }
k8s_built && done_ok

# Go's caches and the scratch modules live in the cache, never in the checkout.
# GOTOOLCHAIN=local: a Go too old for the release fails here with Go's own
# message instead of silently fetching another toolchain.
export GOMODCACHE=$K8S_CACHE/go/mod GOCACHE=$K8S_CACHE/go/build GOPATH=$K8S_CACHE/go/path
export GOFLAGS="-trimpath -mod=mod" GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
work=$K8S_CACHE/$K8S_VERSION/src
out=$K8S_CACHE/$K8S_VERSION/bin.new
rm -rf "$work" "$out"
mkdir -p "$work/kubernetes" "$work/etcd" "$out"

# The release's own go.mod says which staging modules (k8s.io/*, required at
# v0.0.0 and replaced by ./staging/src in the kubernetes tree) it needs and
# which etcd it pins.  The staging modules are published as v0.N.P for release
# v1.N.P: a scratch module requires the release and replaces each of them.
k8s_mod=$(cd "$work/kubernetes" && "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
	sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')
[ -f "$k8s_mod" ] || { echo "build.sh: cannot download k8s.io/kubernetes@$K8S_VERSION" >&2; exit 1; }
staging_version=v0.${K8S_VERSION#v1.}
etcd_version=$(awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }' "$k8s_mod")
[ -n "$etcd_version" ] || { echo "build.sh: $k8s_mod pins no go.etcd.io/etcd/server/v3" >&2; exit 1; }
go_version=$(awk '$1 == "go" { print $2; exit }' "$k8s_mod")
{
	echo "module kroute.test/k8s-build"
	echo
	echo "go $go_version"
	echo
	echo "require k8s.io/kubernetes $K8S_VERSION"
	echo
	echo "replace ("
	awk -v v="$staging_version" '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print "\t" $1 " => " $1 " " v }' "$k8s_mod"
	echo ")"
} >"$work/kubernetes/go.mod"
printf 'module kroute.test/etcd-build\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 %s\n' \
	"$go_version" "$etcd_version" >"$work/etcd/go.mod"

# The version the binaries report (kubectl version, /version), as the
# release's own build (hack/lib/version.sh) stamps it; the date is the tag's.
k8s_time=$(cd "$work/kubernetes" && "$GO" list -m -json "k8s.io/kubernetes@$K8S_VERSION" |
	sed -n 's/^[[:space:]]*"Time": "\([^"]*\)".*/\1/p')
minor=${K8S_VERSION#v1.}
minor=${minor%%.*}
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$k8s_time"
done

(cd "$work/kubernetes" && nice "$GO" build -p "$jobs" -ldflags="$ldflags" -o "$out/" \
	k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kube-proxy)
(cd "$work/etcd" && nice "$GO" build -p "$jobs" -ldflags="-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3)

printf 'kubernetes %s\netcd %s\ngo %s\n' "$K8S_VERSION" "$etcd_version" "$("$GO" env GOVERSION)" \
	>"$out/VERSIONS"
touch "$out/.complete"
rm -rf "$K8S_BIN"
mv "$out" "$K8S_BIN"
k8s_built || { echo "build.sh: $K8S_BIN is incomplete after the build" >&2; exit 1; }
done_ok
