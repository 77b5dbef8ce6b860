/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What IPVS cannot do itself, as one nft table per family (ip / ip6
 * kroute_ipvs), the role kube-proxy's IPVS mode gives its ipsets and few
 * iptables rules (here nft sets hold the keys the planner listed, and the
 * whole table is replaced in one `nft -f` transaction):
 *
 * - before IPVS sees a packet (input at filter - 10, ahead of IPVS's
 *   LOCAL_IN; output at mangle - 10, ahead of its LOCAL_OUT for the node's
 *   own connections): drop the routes that drop, reject those that reject,
 *   drop load-balancer clients outside loadBalancerSourceRanges;
 * - mark what must be masqueraded (the masquerade bit, kube-proxy's 0x4000):
 *   external ports of externalTrafficPolicy Cluster, cluster IPs from outside
 *   the cluster CIDR (or every one with --masquerade-all);
 * - postrouting: masquerade the marked packets, and an endpoint that reached
 *   itself through its service (hairpin).
 *
 * IPVS's NAT forwarding keeps the packet's mark, and with the vs/conntrack
 * sysctl the connection goes through conntrack, so the kernel's NAT sees it.
 * Rendering is pure (the unit tests read the text); applying runs nft.
 */
#ifndef KROUTE_DATAPLANE_IPVS_RULES_H
#define KROUTE_DATAPLANE_IPVS_RULES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"
#include "core/sbuf.h"
#include "dataplane/ipvs/plan.h"

#define IPVS_NFT_TABLE "kroute_ipvs"
#define IPVS_MASQ_MARK 0x4000u

struct ipvs_rules_opts {
	int family;
	bool masquerade_all;
	const struct cidr *cluster_cidrs; /* all families; those of family apply */
	size_t n_cluster_cidrs;
};

/* "ip" or "ip6". */
const char *ipvs_nft_family(int family);
/* The whole table's nft script for plan p into b. */
void ipvs_rules_render(const struct ipvs_plan *p, const struct ipvs_rules_opts *o, struct sbuf *b);

#endif
