/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --mode iptables: the mode's own flags and the struct they fill
 * (dp_opts.mode_opts); the table is in options.c.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_OPTIONS_H
#define KROUTE_DATAPLANE_IPTABLES_OPTIONS_H

#include <stdbool.h>

#include "dataplane/dataplane.h"

struct ipt_mode_opts {
	unsigned masquerade_bit;            /* --iptables-masquerade-bit: mark 1 << bit (0..31) */
	bool kube_proxy_layout;             /* --iptables-kube-proxy-layout: a SEP chain per endpoint */
	const char *iptables_restore;       /* program to run (KROUTE_IPTABLES_RESTORE wraps it) */
	const char *ip6tables_restore;      /* the same for IPv6 (KROUTE_IP6TABLES_RESTORE) */
};

extern const struct dp_mode_options ipt_mode_options;

#endif
