/* SPDX-License-Identifier: Apache-2.0 */
/* The nftables model (plan.h) in nft syntax, for people and tests; see text.c. */
#ifndef KROUTE_DATAPLANE_NFTABLES_TEXT_H
#define KROUTE_DATAPLANE_NFTABLES_TEXT_H

#include "core/sbuf.h"
#include "dataplane/nftables/plan.h"

void nft_rule_text(struct sbuf *b, const struct nft_rule *r, int family);
void nft_elem_text(struct sbuf *b, enum nft_set_kind k, const struct nft_elem *e, int family);
/* Sets with their elements, the shared elements ("@map key : verdict"), then chains. */
void nft_frag_text(struct sbuf *b, const struct nft_frag *f, int family);

#endif
