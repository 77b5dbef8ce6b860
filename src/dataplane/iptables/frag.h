/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ruleset in pieces, so a sync re-renders only what changed.
 *
 * kube-proxy's ruleset is a few shared chains (KUBE-SERVICES,
 * KUBE-NODEPORTS, KUBE-FORWARD...) plus chains each service port owns
 * (KUBE-SVC/SVL/EXT/FW/SEP).  The renderer writes a port's rules chain by
 * chain (ipt_render_chains()): its own chains whole and, in each shared
 * chain, its rules; the shared chains' fixed rules (those an empty view
 * renders) are the base.  So a port's fragment is its own chains plus its
 * share of each shared chain, and the full ruleset is: the base's chains,
 * each shared chain being every fragment's share in view order followed by
 * the fixed rules, plus every fragment's own chains.
 * tests/unit/test_iptables_render.c checks that this assembly equals
 * ipt_render_full() chain by chain for every render it makes.
 *
 * Pure: no I/O, no clock, no globals.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_FRAG_H
#define KROUTE_DATAPLANE_IPTABLES_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"
#include "dataplane/iptables/render.h"

/* The chains every ruleset declares, with their fixed rules: an empty view's render. */
struct ipt_base {
	struct ipt_part chains[IPT_N_SHARED];  /* the first n, in declaration order */
	enum ipt_shared_chain id[IPT_N_SHARED]; /* chains[i] is shared chain id[i] */
	size_t n;
};

struct ipt_frag {
	uint64_t id;                 /* the port view's id */
	char key[24];                /* id in hex: the cache key */
	struct ipt_part *own;        /* chains only this port declares, hashed */
	size_t n_own;
	struct sbuf shared[IPT_N_SHARED]; /* its rules in each shared chain */
	size_t n_rules;              /* own and shared rules */
	uint64_t seen;               /* the owner's: the last sync whose view had it */
};

uint64_t ipt_hash(const char *p, size_t n);
const char *ipt_table_name(enum ipt_table t);

/* Returns 0 or a negative errno (render errors). */
int ipt_base_render(const struct node_view *v, const struct ipt_opts *o, struct ipt_base *ret);
void ipt_base_done(struct ipt_base *b);

/*
 * Renders the fragment of pv (a port view of v), through work (a workspace
 * zeroed before its first use and reused for every fragment: see
 * ipt_render_chains(); free it with ipt_chains_done()).  0 or a negative
 * errno (render errors).
 */
int ipt_frag_render(const struct node_view *v, const struct port_view *pv,
		    const struct ipt_opts *o, struct ipt_chains *work, struct ipt_frag *ret);
void ipt_frag_done(struct ipt_frag *f);

/*
 * ipt_hash() of what ipt_shared_rules() would append, without building it:
 * a sync assembles a shared chain only when its hash says it changed.
 */
uint64_t ipt_shared_hash(const struct ipt_base *base, size_t i, struct ipt_frag *const *frags,
			 size_t n_frags);

/* Appends base chain i's rules as a full render has them to out. */
void ipt_shared_rules(const struct ipt_base *base, size_t i, struct ipt_frag *const *frags,
		      size_t n_frags, struct sbuf *out);

#endif
