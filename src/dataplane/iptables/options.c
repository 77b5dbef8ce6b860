/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables mode's flags, as kube-proxy spells and checks them
 * (pkg/proxy/apis/config/validation: the masquerade bit is 0..31).
 */
#include "dataplane/iptables/options.h"

#include <stddef.h>

#include "core/opt.h"

static const struct ipt_mode_opts ipt_defaults = {
	.masquerade_bit = 14,
	.iptables_restore = "iptables-restore",
	.ip6tables_restore = "ip6tables-restore",
};

#define FIELD(f) offsetof(struct ipt_mode_opts, f)

static const struct opt_spec ipt_flags[] = {
	{ .name = "iptables-masquerade-bit", .arg = "N", .kind = OPT_UINT, .min = 0, .max = 31,
	  .offset = FIELD(masquerade_bit),
	  .help = "mark bit (0..31) for packets to masquerade" },
	{ .name = "iptables-kube-proxy-layout", .kind = OPT_SWITCH,
	  .offset = FIELD(kube_proxy_layout),
	  .help = "one KUBE-SEP chain per endpoint, exactly as\n"
		  "kube-proxy (default: remote endpoints are\n"
		  "DNATed inline, same packet outcomes, loads\n"
		  "much faster)" },
	/* Tests and benchmarks wrap the restore programs (to record or time them). */
	{ .env = "KROUTE_IPTABLES_RESTORE", .kind = OPT_STRING, .offset = FIELD(iptables_restore) },
	{ .env = "KROUTE_IP6TABLES_RESTORE", .kind = OPT_STRING, .offset = FIELD(ip6tables_restore) },
	{ 0 },
};

const struct dp_mode_options ipt_mode_options = {
	.title = "kube-proxy's iptables layout",
	.flags = ipt_flags,
	.size = sizeof(struct ipt_mode_opts),
	.defaults = &ipt_defaults,
};
