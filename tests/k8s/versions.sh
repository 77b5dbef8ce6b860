# SPDX-License-Identifier: Apache-2.0
# Sourced by build.sh and control-plane.sh: the one place that says which
# Kubernetes release the tests run and where its binaries are cached.
#
# KROUTE_K8S_VERSION  the k8s.io/kubernetes module version (a release tag)
# KROUTE_K8S_CACHE    the cache root, outside the checkout; the binaries of a
#                     version live in $KROUTE_K8S_CACHE/$KROUTE_K8S_VERSION/bin
#                     and Go's module and build caches in $KROUTE_K8S_CACHE/go
K8S_VERSION=${KROUTE_K8S_VERSION:-v1.36.3}
K8S_CACHE=${KROUTE_K8S_CACHE:-/var/cache/kroute-k8s}
K8S_BIN=$K8S_CACHE/$K8S_VERSION/bin
# Every binary a complete build holds; build.sh writes $K8S_BIN/.complete last.
K8S_BINARIES=(etcd kube-apiserver kubectl kube-proxy)

# k8s_built: true when the cached build of K8S_VERSION is complete.
k8s_built() {
	local b
	[ -f "$K8S_BIN/.complete" ] || return 1
	for b in "${K8S_BINARIES[@]}"; do
		[ -x "$K8S_BIN/$b" ] || return 1
	done
}
