/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The startup feature probe (nftables.h: nft_probe).  One transaction that
 * creates a throwaway table holding one of everything kroute's table uses
 * (sets and maps keyed by concatenations, a timed set, nat and filter base
 * chains, and a chain per kind of expression, named after it), then
 * deletes the table.  The kernel builds each message's objects while it
 * reads the batch, so a missing feature refuses its message and the whole
 * transaction is aborted: nothing stays either way, and the refused
 * messages name the feature.  Run in the agent's own network namespace
 * before its first sync of a family.
 */
#include "dataplane/nftables/nftables.h"

#include <netinet/in.h> /* before the kernel's headers: glibc's in.h must come first */
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/nftables/plan_int.h"

/* A regular chain named after the feature its one rule needs. */
static struct nft_rule *feature(struct nft_frag *f, const char *name)
{
	return nft_chain_rule(nft_frag_chain(f, name));
}

static void probe_frag(struct nft_frag *f, int family)
{
	struct nft_chain *c;
	struct nft_rule *r;
	struct nft_x *x;

	*f = (struct nft_frag){ 0 };
	nft_frag_set(f, "verdict-map", NS_SVC_VMAP);
	nft_frag_set(f, "data-map", NS_EP_MAP);
	nft_frag_set(f, "timeout-set", NS_AFFINITY)->timeout_s = 60;
	nft_frag_set(f, "key-set", NS_SVC_SET);
	nft_frag_set(f, NFT_PICK_EPS, NS_PICK_EPS);
	c = nft_frag_chain(f, "nat-chain-type");
	c->type = "nat";
	c->hook = NF_INET_LOCAL_OUT;
	c->prio = -100;
	c = nft_frag_chain(f, "filter-chain-type");
	c->type = "filter";
	c->hook = NF_INET_LOCAL_OUT;
	c->prio = -110;
	x_flag(feature(f, "ct-state"), NX_CT_STATE, CT_NEW, false);
	x_flag(feature(f, "ct-status"), NX_CT_DNAT, 0, false);
	x_flag(feature(f, "fib"), NX_FIB_LOCAL, 0, false)->which = NX_DADDR;
	x_flag(feature(f, "meta-mark"), NX_MARK_OR, 1u << 14, false);
	x_named(feature(f, "verdict-map-lookup"), NX_VMAP_SVC, "verdict-map", 0);
	x_named(feature(f, "numgen-nat-map"), NX_DNAT_NUMGEN, "data-map", 2)->id = 1;
	x_named(feature(f, "jhash-nat-map"), NX_DNAT_JHASH, "data-map", 2)->id = 1;
	r = feature(f, "packet-keyed-nat-map");
	x_named(r, NX_SVC_IN_SET, "key-set", 0);
	x_named(r, NX_PICK, NFT_PICK_EPS, 2);
	x = x_named(feature(f, "dynset-timeout"), NX_UPDATE, "timeout-set", 60);
	x->id = 1;
	(void)nft_rule_x(feature(f, "masquerade"), NX_MASQ);
	(void)nft_rule_x(feature(f, "reject"), NX_REJECT);
	r = feature(f, "dnat");
	x = nft_rule_x(r, NX_DNAT);
	x->cidr.addr.family = family;
	x->cidr.addr.bytes[0] = family == AF_INET6 ? 0xfd : 10;
	x->port = 80;
	nft_frag_finish(f);
}

int nft_probe(int family, const struct nft_io *io, struct diag *d)
{
	struct nft_diff ops = { 0 };
	struct nft_frag f;
	struct nft_batch b;
	char table[40];
	int r;

	snprintf(table, sizeof(table), "%s-probe-%ld", NFT_TABLE, (long)getpid());
	probe_frag(&f, family);
	nft_diff_op(&ops, PH_TABLE, (struct nft_op){ .name = "create" });
	for (size_t i = 0; i < f.n_sets; i++)
		nft_diff_op(&ops, PH_ADD_SETS, (struct nft_op){ .name = f.sets[i].name, .set = &f.sets[i] });
	for (size_t i = 0; i < f.n_chains; i++) {
		const struct nft_chain *c = &f.chains[i];

		nft_diff_op(&ops, PH_ADD_CHAINS, (struct nft_op){ .name = c->name, .chain = c });
		for (size_t k = 0; k < c->n_rules; k++)
			nft_diff_op(&ops, PH_ADD_RULES, (struct nft_op){ .name = c->name,
									 .rule = &c->rules[k] });
	}
	nft_batch_encode_in(&b, family, table, true, &ops.ch);
	r = io->send(&b, io->userdata, d);
	if (r < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "nftables: this kernel's nf_tables (%s) lacks what kroute needs: the refused"
			 " messages above name the chain of the feature missing (kroute needs nf_tables"
			 " with nat and filter chains, sets and maps keyed by concatenations, verdict"
			 " maps, numgen, jhash, fib, ct, meta mark, dynset with timeouts, masquerade and"
			 " reject); nothing was changed", family == AF_INET6 ? "ip6" : "ip");
	nft_batch_done(&b);
	for (int p = 0; p < PH_N; p++)
		free(ops.ch.ops[p]);
	nft_frag_done(&f);
	return r;
}
