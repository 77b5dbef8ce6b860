/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The userspace mode's flags.  --udp-timeout is kube-proxy's (its old
 * userspace mode: "must be greater than 0"); the others are kroute's own,
 * and every duration must be greater than 0 too: no grace, no connect
 * timeout or no ejection time is never what a user means.
 */
#include "dataplane/userspace/options.h"

#include <stddef.h>

#include "core/opt.h"
#include "dataplane/userspace/proxy.h"

static const struct us_mode_opts us_defaults = {
	.workers = 0,
	.grace_ns = 5 * US_NS_PER_SEC,
	.udp_timeout_ns = 30 * US_NS_PER_SEC,
	.connect_timeout_ns = 1 * US_NS_PER_SEC,
	.eject_ns = 10 * US_NS_PER_SEC,
};

#define FIELD(f) offsetof(struct us_mode_opts, f)

static const struct opt_spec us_flags[] = {
	{ .name = "userspace-workers", .arg = "N", .kind = OPT_UINT, .min = 1, .max = 256,
	  .offset = FIELD(workers), .default_text = "one per CPU",
	  .help = "proxy threads" },
	{ .name = "userspace-grace-period", .arg = "D", .kind = OPT_DURATION, .min = 1,
	  .offset = FIELD(grace_ns),
	  .help = "removed endpoints' connections close after D" },
	{ .name = "udp-timeout", .arg = "D", .kind = OPT_DURATION, .min = 1,
	  .offset = FIELD(udp_timeout_ns),
	  .help = "idle UDP sessions end after D" },
	{ .name = "userspace-connect-timeout", .arg = "D", .kind = OPT_DURATION, .min = 1,
	  .offset = FIELD(connect_timeout_ns),
	  .help = "per connect attempt; then another endpoint" },
	{ .name = "userspace-eject-time", .arg = "D", .kind = OPT_DURATION, .min = 1,
	  .offset = FIELD(eject_ns),
	  .help = "a failing endpoint gets no new flows for D" },
	{ .name = "userspace-status-file", .arg = "PATH", .kind = OPT_STRING,
	  .offset = FIELD(status_file),
	  .help = "JSON status (endpoints, ejections, counters)" },
	{ 0 },
};

const struct dp_mode_options us_mode_options = {
	.title = "an L4 proxy in threads, docs/userspace.md",
	.flags = us_flags,
	.size = sizeof(struct us_mode_opts),
	.defaults = &us_defaults,
};
