/* SPDX-License-Identifier: Apache-2.0 */
/* The ebpf mode's options (its flags: options.c) and what its files share. */
#ifndef KROUTE_DATAPLANE_EBPF_EBPF_H
#define KROUTE_DATAPLANE_EBPF_EBPF_H

#include "dataplane/dataplane.h"

#define EBPF_DEFAULT_BPF_ROOT "/sys/fs/bpf/kroute"
#define EBPF_DEFAULT_CGROUP_ROOT "/sys/fs/cgroup"

struct ebpf_mode_opts {
	const char *bpf_root;    /* --bpf-root: the bpffs directory of the pinned maps and links */
	const char *cgroup_root; /* --cgroup-root: the cgroup v2 directory the programs attach to */
	const char *tc_devices;  /* --tc-devices: interfaces of the tc program; NULL: all but lo */
	unsigned max_services;   /* $KROUTE_EBPF_MAX_SERVICES (tests: a full map); 0: the default */
};

extern const struct dp_mode_options ebpf_mode_options;

#endif
