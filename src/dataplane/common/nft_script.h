/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nft scripts that own one table: its declarations (table, chains, sets,
 * maps) written into a core/sbuf, and the whole table replaced in one
 * `nft -f` transaction, so the kernel has either the old table or the new
 * one, never a mix.  Rules are the mode's own text (sbuf_printf).  Used by
 * userspace (table inet kroute_userspace) and meant for the nftables mode.
 *
 *	nft_table_begin(&b, "inet", "t");
 *	nft_chain_begin(&b, "input", "filter", "input", "filter - 1", "accept");
 *	nft_rule(&b, "tcp dport 80 drop");
 *	nft_chain_end(&b);
 *	nft_table_end(&b);
 *	r = nft_apply(nft, sbuf_cstr(&b), "userspace", "table inet t", d);
 */
#ifndef KROUTE_DATAPLANE_COMMON_NFT_SCRIPT_H
#define KROUTE_DATAPLANE_COMMON_NFT_SCRIPT_H

#include <stdbool.h>

#include "core/sbuf.h"

struct diag;

/*
 * "table F T / delete table F T / table F T {": declaring the table first
 * makes the delete valid whether or not it existed, so the script replaces
 * it in one transaction.
 */
void nft_table_begin(struct sbuf *b, const char *family, const char *table);
void nft_table_end(struct sbuf *b);
/*
 * A chain; with hook (NULL: a regular chain for jumps) a base chain of
 * type, at priority (e.g. "mangle", "filter - 1"), with policy.
 */
void nft_chain_begin(struct sbuf *b, const char *name, const char *type, const char *hook,
		     const char *priority, const char *policy);
void nft_chain_end(struct sbuf *b);
/* One rule line (the text without indentation or newline). */
void nft_rule(struct sbuf *b, const char *rule);
/*
 * A set ("type T;") or, with value_type, a map ("type T : V;"), with flags
 * (NULL: none, e.g. "interval").  Elements follow with nft_element; *first
 * tracks the separator.
 */
void nft_set_begin(struct sbuf *b, const char *name, const char *key_type,
		   const char *value_type, const char *flags, bool *first);
/* "key" for a set, "key : value" for a map. */
void nft_element(struct sbuf *b, const char *element, bool *first);
void nft_set_end(struct sbuf *b, bool first);
/* Runs `nft -f -` with script; on failure an error naming what in d. */
int nft_apply(const char *nft, const char *script, const char *who, const char *what,
	      struct diag *d);
/* Deletes table family/table when it exists (cleanup). */
int nft_table_delete(const char *nft, const char *family, const char *table, const char *who,
		     struct diag *d);

#endif
