/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ebpf mode's kernel side (libbpf): loads the socket programs (the
 * skeleton bpftool writes from bpf/sock_lb.bpf.c), pins their maps and
 * cgroup links under one bpffs directory so they outlive the agent and a
 * restart picks them up, writes plan diffs into the maps in batches, reads
 * the maps back for a full sync, and removes everything for cleanup.
 *
 *   BPF_ROOT/kr_services ... kr_state   the maps (bpf/maps.h)
 *   BPF_ROOT/link-<program>             each program's cgroup link
 */
#ifndef KROUTE_DATAPLANE_EBPF_LOADER_H
#define KROUTE_DATAPLANE_EBPF_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/ebpf/plan.h"

struct bpf_link_info;
struct diag;
struct ebpf_kernel;

/*
 * A link an earlier run pinned at path: when keep() says it is still the
 * one to keep (from its info: the same cgroup, the same interface), it gets
 * prog_fd in place (bpf_link_update: no moment without a program) and the
 * result is 1; otherwise the pin is removed (detaching that link) and the
 * result is 0, as when nothing is pinned there.  A negative errno when the
 * update fails.  (loader.c's cgroup links and tc.c's tcx links.)
 */
int ebpf_pinned_link_reuse(const char *path, int prog_fd,
			   bool (*keep)(const struct bpf_link_info *info, const void *arg), const void *arg);

/*
 * Checks that bpf_root is on a BPF filesystem and cgroup_root is a cgroup
 * v2 directory, loads the programs (reusing the pinned maps), and attaches
 * them to cgroup_root (max_services: the services map's size, 0 for
 * KR_MAX_SERVICES; a pinned link is moved to the new program in place,
 * so there is no moment without one).  0, or a negative errno with the
 * reason in d; nothing is left half-attached.
 */
int ebpf_kernel_open(const char *bpf_root, const char *cgroup_root, unsigned max_services,
		     struct ebpf_kernel **ret, struct diag *d);
/*
 * Writes d's changes (in its order, batched per map and kind) and the
 * drop-service count.  between (may be NULL) is called after the slot
 * updates and before any service entry is written (slots no service names
 * yet are seen by no program): the first sync joins the tc program's load
 * there, and adds the source ranges; if it fails, the slot updates are
 * undone and its error returned.  On a failure, undoes what it wrote and
 * returns a negative errno: the maps are as before.  *ret_ops: entries written.
 */
int ebpf_kernel_apply(struct ebpf_kernel *k, const struct ebpf_diff *df, uint32_t drop_services,
		      int (*between)(void *arg, struct diag *d), void *arg, size_t *ret_ops,
		      struct diag *d);
/* The services and slots maps' contents, sorted (for a full sync's diff). */
int ebpf_kernel_read(struct ebpf_kernel *k, struct ebpf_plan *ret, struct diag *d);
void ebpf_kernel_close(struct ebpf_kernel *k);
/* Unpins every link (detaching its program) and map under bpf_root; removes the directory. */
int ebpf_kernel_cleanup(const char *bpf_root, struct diag *d);

#endif
