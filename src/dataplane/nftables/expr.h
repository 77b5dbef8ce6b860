/* SPDX-License-Identifier: Apache-2.0 */
/* The model's rules as libnftnl expressions (expr.c). */
#ifndef KROUTE_DATAPLANE_NFTABLES_EXPR_H
#define KROUTE_DATAPLANE_NFTABLES_EXPR_H

#include "dataplane/nftables/plan.h"

struct nftnl_rule;

/* Appends the expressions of m's items to r, for a table of family. */
void nft_rule_exprs(struct nftnl_rule *r, int family, const struct nft_rule *m);
/* NF_ACCEPT, NF_DROP, NFT_RETURN, NFT_JUMP or NFT_GOTO for an enum nft_verdict. */
int nft_verdict_code(unsigned v);

#endif
