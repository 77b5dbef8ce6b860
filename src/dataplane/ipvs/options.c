/* SPDX-License-Identifier: Apache-2.0 */
/* The IPVS mode's flags, as kube-proxy spells them (options.h). */
#include "dataplane/ipvs/options.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/addr.h"
#include "core/opt.h"

#define MINUTE_NS (60ull * 1000000000ull)

static const struct ipvs_mode_opts ipvs_defaults = {
	.drain_timeout_ns = 15 * MINUTE_NS,
};

#define FIELD(f) offsetof(struct ipvs_mode_opts, f)

/* Checked when given (a typo fails the start), kept as text for the data plane. */
static int set_exclude_cidrs(void *opts, const char *arg, char *err, size_t errlen)
{
	struct cidr *v = NULL;
	size_t n = 0;

	if (*arg && cidr_list_parse(arg, &v, &n, err, errlen) < 0)
		return -EINVAL;
	free(v);
	((struct ipvs_mode_opts *)opts)->exclude_cidrs = *arg ? arg : NULL;
	return 0;
}

static int set_graceful(void *opts, const char *arg, char *err, size_t errlen)
{
	bool on;

	if (opt_parse_go_bool(arg, &on) < 0) {
		snprintf(err, errlen, "not a boolean");
		return -EINVAL;
	}
	((struct ipvs_mode_opts *)opts)->no_graceful = !on;
	return 0;
}

static const struct opt_spec ipvs_flags[] = {
	{ .name = "ipvs-strict-arp", .kind = OPT_SWITCH, .offset = FIELD(strict_arp),
	  .help = "answer ARP only for addresses of the asking\n"
		  "interface (arp_ignore=1, arp_announce=2), so\n"
		  "kube-ipvs0's addresses are not announced" },
	{ .name = "ipvs-tcp-timeout", .arg = "D", .kind = OPT_DURATION, .min = 0,
	  .offset = FIELD(tcp_timeout_ns), .default_text = "the kernel's",
	  .help = "idle timeout of established TCP connections" },
	{ .name = "ipvs-tcpfin-timeout", .arg = "D", .kind = OPT_DURATION, .min = 0,
	  .offset = FIELD(tcpfin_timeout_ns), .default_text = "the kernel's",
	  .help = "timeout of TCP connections after a FIN" },
	{ .name = "ipvs-udp-timeout", .arg = "D", .kind = OPT_DURATION, .min = 0,
	  .offset = FIELD(udp_timeout_ns), .default_text = "the kernel's",
	  .help = "timeout of UDP flows" },
	{ .name = "ipvs-exclude-cidrs", .arg = "CIDRS", .kind = OPT_CUSTOM,
	  .parse = set_exclude_cidrs, .default_text = "none",
	  .help = "virtual services on these addresses are never\n"
		  "deleted by kroute (someone else's)" },
	{ .name = "ipvs-graceful-termination", .arg = "BOOL", .kind = OPT_CUSTOM,
	  .parse = set_graceful, .default_text = "true",
	  .help = "a removed TCP/SCTP endpoint keeps weight 0 until\n"
		  "its connections end, then is deleted" },
	{ .name = "ipvs-drain-timeout", .arg = "D", .kind = OPT_DURATION, .min = 0,
	  .offset = FIELD(drain_timeout_ns),
	  .help = "delete a draining endpoint after D even with\nconnections left" },
	{ 0 },
};

const struct dp_mode_options ipvs_mode_options = {
	.title = "kube-proxy's IPVS mode: the kernel's IP Virtual Server",
	.flags = ipvs_flags,
	.size = sizeof(struct ipvs_mode_opts),
	.defaults = &ipvs_defaults,
};
