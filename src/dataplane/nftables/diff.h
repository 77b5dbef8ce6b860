/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mirror of what the last successful sync applied, and the differ that
 * turns a view's fragments into the changes the kernel needs: only chains
 * whose rules changed, only elements that changed.  Pure: nl.c sends the
 * changes in one batch; the mirror takes the new state only once the kernel
 * took the batch (nft_diff_commit), so a failed batch leaves both as they
 * were.
 *
 * Changes come in phases, in the order a transaction must make them
 * (nothing is deleted while something still refers to it, nothing is
 * referred to before it exists).
 */
#ifndef KROUTE_DATAPLANE_NFTABLES_DIFF_H
#define KROUTE_DATAPLANE_NFTABLES_DIFF_H

#include "core/strmap.h"
#include "dataplane/nftables/plan.h"

enum nft_phase {
	PH_TABLE,        /* the table created, deleted and created again ("reset"), or deleted ("delete") */
	PH_DEL_ELEMS,
	PH_FLUSH_CHAINS,
	PH_DEL_SETS,     /* before chains: a deleted verdict map may name deleted chains */
	PH_DEL_CHAINS,
	PH_ADD_SETS,
	PH_ADD_CHAINS,
	PH_ADD_RULES,
	PH_ADD_ELEMS,
	PH_N,
};

/*
 * One change; a full sync at 50,000 services makes over a million: two
 * pointers (an element's set, its name and its kind, is where it points).
 */
struct nft_op {
	union {
		const char *name;              /* the chain or set (PH_TABLE: what to do) */
		const struct nft_set *in;      /* PH_*_ELEMS: the set, or the slice, the element is of */
	};
	union {
		const struct nft_chain *chain; /* PH_ADD_CHAINS */
		const struct nft_set *set;     /* PH_ADD_SETS */
		const struct nft_rule *rule;   /* PH_ADD_RULES (name: its chain) */
		const struct nft_elem *elem;   /* PH_*_ELEMS: one element; nl.c packs a set's run into one message */
	};
};

/* An element change's set in the kernel (a slice's base map). */
static inline const char *nft_op_set(const struct nft_op *op)
{
	return nft_set_kname(op->in);
}

struct nft_changes {
	struct nft_op *ops[PH_N];
	size_t n[PH_N], cap[PH_N];
};

/* A shared-map element as a set of claims: the first fragment claiming a key gets it. */
struct nft_claim {
	struct nft_elem e;
	uint32_t count;                /* fragments claiming it, as applied */
	int32_t delta;                 /* this sync's change, not yet applied */
};

/*
 * One allocation per key, its map key inside: a full sync at 50,000 services
 * makes half a million keys, most of them @hairpin elements.  A map's key
 * keeps its claims, each with its value (the first one with a count wins);
 * a plain set's (@hairpin: no value, so one claim) only its count and,
 * while this sync touches it, a claiming or releasing fragment's element to
 * send (those fragments live until the commit).  That made a @hairpin key
 * 64 bytes of heap instead of 144.
 */
struct nft_shared_key {
	uint8_t set;                   /* enum nft_shared */
	bool touched;
	uint32_t n, cap;               /* a map's claims */
	struct nft_claim *v;           /* a map's claims (NULL for a plain set) */
	uint32_t count;                /* a plain set: fragments claiming it, as applied */
	int32_t delta;                 /* a plain set: this sync's change, not yet applied */
	const struct nft_elem *e;      /* a plain set: the element, while touched */
	char mkey[];                   /* its key in the mirror's map */
};

struct nft_mirror {
	struct strmap frags;           /* fragment key -> struct nft_frag *, as applied */
	struct strmap by_id;           /* port view id (hex) -> the same fragments */
	struct strmap shared;          /* "set/hex key" -> struct nft_shared_key * */
	uint64_t gen;
	bool applied;                  /* a sync has succeeded into this mirror */
	uint64_t *ids;                 /* the port view ids of the last sync, sorted (sync.c) */
	size_t n_ids;
	uint64_t view_gen;             /* the view's generation the last sync applied (0: none) */
	uint64_t view_next_id;         /* and its next_id then: the same view, not another's */
	size_t n_rules, n_chains;      /* over the fragments */
};

struct nft_diff {
	struct nft_changes ch;
	struct nft_frag **fresh;       /* planned this sync; owned until commit */
	size_t n_fresh, cap_fresh;
	const struct nft_frag **gone;  /* the mirror's fragments this sync removes */
	size_t n_gone, cap_gone;
	struct nft_shared_key **touched;
	size_t n_touched, cap_touched;
	size_t elems_added, elems_deleted, chains_written;
	uint64_t *ids;                 /* the mirror's ids once this diff is applied, sorted (NULL: as they are) */
	size_t n_ids;
	uint64_t view_gen, view_next_id; /* the view this diff brings the mirror to */
	/*
	 * The shared maps, named and of their kind from nft_diff_init (their
	 * element changes point here); a full resync's shared maps as they
	 * should be (resync.c).
	 */
	struct nft_set kernel_shared[SH_N];
	/* and its endpoint maps, then the pick sets and maps (resync.c: slots_wanted), every slice */
	struct nft_set kernel_slots[NFT_EPS_SHARDS + NFT_EPV_SHARDS + NFT_PICK_MAX_N + 3];
};

void nft_mirror_init(struct nft_mirror *m);
void nft_mirror_done(struct nft_mirror *m);
/* The mirror's fragment for this port view id, or NULL. */
struct nft_frag *nft_mirror_by_id(const struct nft_mirror *m, uint64_t id);

/* Starts a sync's diff against m (a new generation of "seen"). */
void nft_diff_init(struct nft_diff *d, struct nft_mirror *m);
/*
 * Adds the changes from the mirror's fragment with nf's key (if any) to
 * nf; the diff takes nf.  nf->key NULL: nothing (the fragment is freed).
 */
void nft_diff_frag(struct nft_diff *d, struct nft_mirror *m, struct nft_frag *nf);
/*
 * The mirror's fragments of these port view ids are deleted, unless
 * replaced since nft_diff_init() (a fragment of the same key planned).
 */
void nft_diff_gone(struct nft_diff *d, struct nft_mirror *m, const uint64_t *ids, size_t n);
/* The shared maps' element changes; after every fragment, before sending. */
void nft_diff_shared(struct nft_diff *d, struct nft_mirror *m);
/* The kernel took the changes: the mirror becomes the new state. */
void nft_diff_commit(struct nft_diff *d, struct nft_mirror *m);
/* Frees what the diff still owns (call after commit, or instead of it). */
void nft_diff_done(struct nft_diff *d, struct nft_mirror *m);

/* For resync.c: one change; a set added with its elements; a set's elements against old's. */
void nft_diff_op(struct nft_diff *d, enum nft_phase ph, struct nft_op op);
void nft_diff_add_set(struct nft_diff *d, const struct nft_set *s);
void nft_diff_set_elems(struct nft_diff *d, const struct nft_set *old, struct nft_set *s);
/* The claim a shared key's element carries once this diff is applied, or NULL. */
const struct nft_elem *nft_shared_winner(const struct nft_shared_key *k);
/* The element a shared key has in the kernel as last applied; false: none (tests: a kernel from a mirror). */
bool nft_shared_applied(const struct nft_shared_key *k, struct nft_elem *ret);

#endif
