/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ebpf mode's flags.  --cgroup-root is Cilium's flag name (its default
 * there is a cgroup2 mount of its own; here the host's unified hierarchy at
 * /sys/fs/cgroup).  Both have an environment override, which is also how
 * `kroute cleanup` (which takes no mode flags) finds a --bpf-root that is
 * not the default.
 */
#include <stddef.h>

#include "core/opt.h"
#include "dataplane/ebpf/ebpf.h"

static const struct ebpf_mode_opts ebpf_defaults = {
	.bpf_root = EBPF_DEFAULT_BPF_ROOT,
	.cgroup_root = EBPF_DEFAULT_CGROUP_ROOT,
};

#define FIELD(f) offsetof(struct ebpf_mode_opts, f)

static const struct opt_spec ebpf_flags[] = {
	{ .name = "bpf-root", .arg = "PATH", .kind = OPT_STRING, .offset = FIELD(bpf_root),
	  .env = "KROUTE_BPF_ROOT",
	  .help = "bpffs directory for the pinned maps and links\n"
		  "(also $KROUTE_BPF_ROOT, which kroute cleanup reads)" },
	{ .name = "cgroup-root", .arg = "PATH", .kind = OPT_STRING, .offset = FIELD(cgroup_root),
	  .env = "KROUTE_CGROUP_ROOT",
	  .help = "cgroup v2 directory whose sockets are load-balanced" },
	{ .name = "tc-devices", .arg = "LIST", .kind = OPT_STRING, .offset = FIELD(tc_devices),
	  .env = "KROUTE_TC_DEVICES",
	  .help = "interfaces (comma-separated) whose ingress gets the tc program for\n"
		  "traffic from outside the node (NodePorts, LB and external IPs);\n"
		  "default every interface but lo, looked at every sync; none: no tc" },
	/* no flag: the tests' way to a services map that fills up (a failed sync) */
	{ .env = "KROUTE_EBPF_MAX_SERVICES", .kind = OPT_UINT, .min = 1, .max = 1 << 24,
	  .offset = FIELD(max_services) },
	{ 0 },
};

const struct dp_mode_options ebpf_mode_options = {
	.title = "socket-level load balancing for in-cluster traffic, tc programs for traffic from\n"
		 "outside, src/dataplane/ebpf/README.md",
	.flags = ebpf_flags,
	.size = sizeof(struct ebpf_mode_opts),
	.defaults = &ebpf_defaults,
};
