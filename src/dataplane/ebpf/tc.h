/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ebpf mode's tc side (libbpf): loads the tc program (the skeleton
 * bpftool writes from bpf/tc_nat.bpf.c) with the services and slots maps the
 * socket programs pinned (loader.c loads those first), pins its own maps
 * (kr_ct, kr_tc_affinity) beside them, and attaches it at tc ingress (tcx
 * links, Linux 6.6 or later) of the node's interfaces, each link pinned:
 *
 *   BPF_ROOT/link-tc-<ifindex>   the tcx link of one interface
 *
 * A restart moves a pinned link to the newly loaded program in place; a
 * pin whose interface is gone is removed.  `kroute cleanup` unpins the
 * links with the others (loader.c: every link-* pin), which detaches them.
 */
#ifndef KROUTE_DATAPLANE_EBPF_TC_H
#define KROUTE_DATAPLANE_EBPF_TC_H

#include <stdbool.h>
#include <stddef.h>

#include "dataplane/ebpf/plan.h"

struct diag;
struct ebpf_tc;

/*
 * Loads the tc program over the maps pinned under bpf_root.  devices: a
 * comma-separated list of interface names, or NULL for every interface of
 * the network namespace but lo (pods' interfaces come and go: each
 * ebpf_tc_attach looks again).  The program's SNAT ports are those above
 * the ephemeral range of the calling thread's network namespace
 * (snat_ports.h; a warning in d when they cannot be).  Touches no
 * interface yet.  0, or a negative errno with the reason in d.
 */
int ebpf_tc_open(const char *bpf_root, const char *devices, struct ebpf_tc **ret, struct diag *d);
/* Every interface the comma-separated list names exists (checked before anything is loaded). */
int ebpf_tc_check_devices(const char *devices, struct diag *d);
/*
 * Attaches the program to every selected interface that does not have it
 * from this process yet (a named one that is gone meanwhile is skipped).
 */
int ebpf_tc_attach(struct ebpf_tc *t, struct diag *d);
void ebpf_tc_close(struct ebpf_tc *t);

/*
 * The source ranges (kr_src_ranges, plan.h's ranges): add writes those of
 * to that from lacks (before the services that name them are written);
 * else deletes those of from that to lacks (after).  On a failure it
 * undoes its own writes and returns a negative errno.  *written counts.
 */
int ebpf_tc_ranges(struct ebpf_tc *t, const struct ebpf_plan *from, const struct ebpf_plan *to,
		   bool add, size_t *written, struct diag *d);
/* Reads kr_src_ranges into p's ranges (sorted), for a full sync's diff. */
int ebpf_tc_read_ranges(struct ebpf_tc *t, struct ebpf_plan *p, struct diag *d);

#endif
