/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connected UDP sockets to a removed endpoint, aborted (bpf/udp_abort.bpf.c,
 * a BPF socket iterator calling bpf_sock_destroy(), Linux 6.5+).  connect()
 * translated such a socket once, so without this it would keep sending to
 * the endpoint that is gone; aborted, the application sees ECONNABORTED and
 * its next connect() is translated to a live endpoint.
 *
 * An iterator sees the sockets of the network namespace of the thread that
 * creates it, and the socket programs serve every process in --cgroup-root
 * whatever its namespace (a pod's own, the node's): so each run visits
 * kroute's own namespace and that of every process in the cgroup tree,
 * from a thread of its own (setns there never moves kroute's other threads).
 */
#ifndef KROUTE_DATAPLANE_EBPF_UDP_ABORT_H
#define KROUTE_DATAPLANE_EBPF_UDP_ABORT_H

#include <stddef.h>

#include "dataplane/ebpf/bpf/maps.h"

struct diag;
struct ebpf_udp_abort;

/*
 * Loads the iterator, sharing the kr_revnat map pinned under bpf_root (the
 * socket programs are loaded first).  NULL, with a warning in d, when the
 * kernel cannot (no bpf_sock_destroy before Linux 6.5): the feature is off.
 */
struct ebpf_udp_abort *ebpf_udp_abort_open(const char *bpf_root, const char *cgroup_root,
					   struct diag *d);
/*
 * Aborts the connected UDP sockets that a socket program translated to one
 * of gone[0..n).  Returns the number aborted, or a negative errno (a warning
 * in d: the maps are written, only the sockets stay).
 */
long ebpf_udp_abort_run(struct ebpf_udp_abort *ua, const struct kr_backend *gone, size_t n,
			struct diag *d);
void ebpf_udp_abort_close(struct ebpf_udp_abort *ua);

#endif
