/* SPDX-License-Identifier: Apache-2.0 */
/* What the planner's files (plan.c, base.c, port.c) share; nothing outside includes it. */
#ifndef KROUTE_DATAPLANE_NFTABLES_PLAN_INT_H
#define KROUTE_DATAPLANE_NFTABLES_PLAN_INT_H

#include "dataplane/nftables/plan.h"

/* The fixed chains' names (base.c declares them; port fragments jump to some). */
#define CH_MARK_MASQ "mark-for-masquerade"
#define CH_REJECT "reject-chain"

struct nft_elem *plan_shared(struct nft_frag *f, enum nft_shared set);

/* Key pieces; each returns the bytes it wrote. */
size_t key_addr(uint8_t *p, const struct addr *a);
size_t key_proto(uint8_t *p, int ipproto);
size_t key_port(uint8_t *p, uint16_t port);
/* An endpoint map's key: the service's id . slot. */
void key_slot(uint8_t *p, uint64_t id, uint32_t slot);

void x_verdict(struct nft_rule *r, enum nft_verdict v, const char *chain);
void x_addr(struct nft_rule *r, int which, const struct cidr *c, bool neg);
struct nft_x *x_named(struct nft_rule *r, enum nft_x_kind k, const char *name, uint32_t num);
struct nft_x *x_flag(struct nft_rule *r, enum nft_x_kind k, uint32_t num, bool neg);
void rule_to(struct nft_chain *c, enum nft_verdict v, const char *target);

/* The cluster CIDR of the family (the local detector), or NULL; *err -EINVAL for two. */
const struct cidr *plan_detector(const struct nft_plan_opts *o, int *err);

/* ct state bits as the kernel has them (NF_CT_STATE_BIT). */
#define CT_INVALID 1u
#define CT_ESTABLISHED 2u
#define CT_RELATED 4u
#define CT_NEW 8u

#endif
