/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ruleset in pieces, so a sync re-renders only what changed.
 *
 * kube-proxy's ruleset is a few shared chains (KUBE-SERVICES,
 * KUBE-NODEPORTS, KUBE-FORWARD...) plus chains each service port owns
 * (KUBE-SVC/SVL/EXT/FW/SEP).  Rendering a view of one port view gives that
 * port's own chains whole and, in each shared chain, its rules followed by
 * the chain's fixed rules (those an empty view renders: the base).  So a
 * port's fragment is its own chains plus its slice of each shared chain, and
 * the full ruleset is: the base's chains, each shared chain being every
 * fragment's slice in view order followed by the fixed rules, plus every
 * fragment's own chains.  tests/unit/test_iptables_frag.c checks that this
 * assembly equals ipt_render_full() chain by chain for every golden view.
 *
 * Pure: no I/O, no clock, no globals.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_FRAG_H
#define KROUTE_DATAPLANE_IPTABLES_FRAG_H

#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"
#include "dataplane/iptables/render.h"

enum ipt_table { IPT_TABLE_FILTER, IPT_TABLE_NAT, IPT_N_TABLES };

/* One chain's rules within a rendered ruleset. */
struct ipt_part {
	enum ipt_table table;
	char name[IPT_CHAIN_NAME_MAX];
	struct sbuf rules;           /* "-A NAME ...\n" lines; empty when none */
	uint64_t hash;               /* of rules (never 0) */
};

/* The chains every ruleset declares, with their fixed rules: an empty view's render. */
struct ipt_base {
	struct ipt_part *chains;     /* in declaration order */
	size_t n;
};

struct ipt_frag {
	uint64_t id;                 /* the port view's id */
	char key[24];                /* id in hex: the cache key */
	struct ipt_part *own;        /* chains only this port declares */
	size_t n_own;
	struct ipt_part *shared;     /* its rules in base chain i, at index i */
	size_t n_shared;             /* the base's chain count */
	size_t n_rules;              /* own and shared rules */
	uint64_t seen;               /* the owner's: the last sync whose view had it */
};

uint64_t ipt_hash(const char *p, size_t n);
const char *ipt_table_name(enum ipt_table t);

/* Returns 0 or a negative errno (render errors; -EPROTO for output it cannot split). */
int ipt_base_render(const struct node_view *v, const struct ipt_opts *o, struct ipt_base *ret);
void ipt_base_done(struct ipt_base *b);

/*
 * Renders the fragment of pv (a port view of v).  -EPROTO when a shared
 * chain's rules do not end with the base's fixed rules (the assembly would
 * then differ from a full render).
 */
int ipt_frag_render(const struct node_view *v, const struct port_view *pv,
		    const struct ipt_opts *o, const struct ipt_base *base, struct ipt_frag *ret);
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
