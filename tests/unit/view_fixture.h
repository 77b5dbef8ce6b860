/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One node's view of a cluster given as YAML, for the data planes' unit
 * tests (nftables, ipvs, ebpf): the manifest loaded (a load error fails the
 * test), kube-proxy's default policy options with 10.244.0.0/16 as the
 * cluster CIDR, and the view built.  Include after <cmocka.h>.
 */
#ifndef KROUTE_TESTS_VIEW_FIXTURE_H
#define KROUTE_TESTS_VIEW_FIXTURE_H

#include <stdbool.h>
#include <string.h>

#include "core/diag.h"
#include "policy/policy.h"
#include "source/manifest.h"

/* The cluster, the CIDR and the options stay the caller's: the view borrows them. */
static inline struct node_view *view_fixture_build(struct cluster *c, struct cidr *cidr,
						   struct policy_opts *po, const char *yaml,
						   const char *node, bool masquerade_all)
{
	struct diag d;

	cluster_init(c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("t.yaml", yaml, strlen(yaml), false, NULL, c, &d), 0);
	diag_done(&d);
	policy_opts_init(po);
	assert_int_equal(cidr_parse("10.244.0.0/16", cidr), 0);
	po->cluster_cidrs = cidr;
	po->n_cluster_cidrs = 1;
	po->masquerade_all = masquerade_all;
	return policy_build_view(c, node, po);
}

#endif
