/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The full resync's drift check: what the kernel holds in our table
 * (dump.c reads it over netlink: chains with their rules' tags, sets with
 * their elements), and the repair (resync.c, pure): the changes that make
 * the kernel hold what the fresh plan wants, and nothing else.
 */
#ifndef KROUTE_DATAPLANE_NFTABLES_RESYNC_H
#define KROUTE_DATAPLANE_NFTABLES_RESYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "core/strmap.h"
#include "dataplane/nftables/diff.h"

struct diag;

struct nft_kchain {
	uint64_t *tags;          /* its rules' tags (nl.c: the rule's userdata), in order; 0 = none */
	size_t n, cap;
	bool seen;
};

struct nft_kset {
	struct nft_set set;      /* name, elements (key and value as plan.c lays them out) */
	uint32_t flags, key_len, data_len, size;
	uint64_t timeout_ms;
	bool seen;
};

struct nft_kstate {
	struct strmap chains;    /* name -> struct nft_kchain * (keys owned) */
	struct strmap sets;      /* name -> struct nft_kset * (keys borrowed from set.name) */
};

void nft_kstate_init(struct nft_kstate *k);
void nft_kstate_done(struct nft_kstate *k);
struct nft_kchain *nft_kstate_chain(struct nft_kstate *k, const char *name);
struct nft_kset *nft_kstate_set(struct nft_kstate *k, const char *name);

/*
 * Reads our table of family into k (dump.c).  -ENOENT: no such table.
 * Elements of dynamic sets (affinity) are not read.
 */
int nft_table_read(int family, struct nft_kstate *k, struct diag *d);
/*
 * Whether our table of family exists (dump.c): 1, 0 (also when the kernel
 * has no nf_tables at all: nothing of ours can be there), or a negative
 * errno (no permission...).
 */
int nft_table_exists(int family);

/*
 * The repair (resync.c): d holds a diff of the fresh plan against an empty
 * mirror m (nft_diff_frag for every fragment, nft_diff_shared); its
 * changes are replaced by those that turn what k holds into that plan.
 * Returns false when a set must change its type (the caller resets the
 * table instead).
 */
bool nft_diff_against_kernel(struct nft_diff *d, struct nft_mirror *m, struct nft_kstate *k,
			     int family);

#endif
