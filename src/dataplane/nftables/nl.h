/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables mode's netlink layer (libnftnl + libmnl): the changes of a
 * sync (diff.h) encoded as one nf_tables batch (a transaction: the kernel
 * applies all of it or none), sent on a netlink socket, errors read back
 * and named; the table deleted (cleanup); the kernel's view of our table
 * (the full resync's drift check).
 */
#ifndef KROUTE_DATAPLANE_NFTABLES_NL_H
#define KROUTE_DATAPLANE_NFTABLES_NL_H

#include <stddef.h>
#include <stdint.h>

#include "core/strmap.h"
#include "dataplane/nftables/diff.h"

struct diag;
struct sbuf;
struct nftnl_batch;

/*
 * What one message of a batch does, spelled out only when asked
 * (nft_batch_what: the kernel refused it, or a test reads it): a full sync
 * at 50,000 services has over 200,000 messages, and a string for each took
 * 17 MB and tens of milliseconds.  op points into the changes encoded,
 * which outlive the batch's sending.
 */
struct nft_msg_what {
	const struct nft_op *op; /* NULL: the batch's begin or end, or the table */
	uint32_t count;          /* elements: how many this message holds */
	uint8_t kind;            /* nl.c's enum msg_kind */
};

/* One encoded transaction. */
struct nft_batch {
	struct nftnl_batch *b;
	int family;
	const char *table;     /* NULL: ours (NFT_TABLE); the feature probe's throwaway table */
	uint32_t seq0, seq;    /* the batch's first and next sequence numbers */
	struct nft_msg_what *what; /* per message (seq - seq0): what it does, for errors */
	size_t n_what, cap_what;
	size_t msgs;           /* messages, without the batch's begin and end */
	size_t bytes;          /* of the whole batch */
};

/*
 * Encodes ch for the table of family (ip / ip6 kroute).  Pure (no socket):
 * tests count what a change sends.
 */
void nft_batch_encode(struct nft_batch *b, int family, const struct nft_changes *ch);
/* The same into another table (tname), which the batch deletes at its end when drop. */
void nft_batch_encode_in(struct nft_batch *b, int family, const char *tname, bool drop,
			 const struct nft_changes *ch);
void nft_batch_done(struct nft_batch *b);
/* Appends what message i (0: the batch's begin) does to out; a rule with its text. */
void nft_batch_what(const struct nft_batch *b, size_t i, struct sbuf *out);

/*
 * Sends the batch and reads the kernel's answers.  0, or a negative errno
 * with each failed message reported in d (prefix who).  Nothing is
 * applied on failure: nf_tables aborts the whole transaction.
 */
int nft_batch_send(struct nft_batch *b, const char *who, struct diag *d);

/*
 * A netfilter netlink socket kept open across syncs: closing one costs
 * milliseconds (measured 5-12 ms at 10,000 services), more than a
 * one-endpoint change's whole batch.  Zeroed: not open yet.
 */
struct mnl_socket;
struct nft_conn {
	struct mnl_socket *nl;
	int sndbuf;            /* the send buffer size set so far */
};
/* nft_batch_send on c's socket (opened when needed; closed after a failure). */
int nft_batch_send_on(struct nft_conn *c, struct nft_batch *b, const char *who, struct diag *d);
void nft_conn_close(struct nft_conn *c);

/* Deletes our table of family if it exists (one transaction: create, delete). */
int nftables_table_delete(int family, struct diag *d);

/*
 * What the kernel has in our table of family, for the drift check: every
 * chain with its rules' tags (the rules' userdata, which nl.c sets to a
 * hash of the rule), every set with its elements, as text lines
 * ("chain NAME TAG TAG...", "set NAME", "elem SET HEXKEY VALUE") in
 * out (keys owned).  -ENOENT when the table does not exist.
 */
int nft_table_dump(int family, struct strmap *out, struct diag *d);

/* The tag nl.c stores with a rule (its userdata): a hash of the rule's items. */
uint64_t nft_rule_tag(const struct nft_rule *r);
/*
 * The userdata holds it as one type-length-value record, as nft reads
 * userdata, of a type nft does not know and skips (nft reads comments from
 * type 0; the bare 8 bytes it took for a record of garbage and listed as a
 * comment).  nft_rule_tag_put writes NFT_TAG_UDATA_LEN bytes; nft_rule_tag_get
 * reads them back (0: not our tag).
 */
#define NFT_TAG_UDATA_LEN 10
void nft_rule_tag_put(uint8_t buf[NFT_TAG_UDATA_LEN], uint64_t tag);
uint64_t nft_rule_tag_get(const void *ud, uint32_t len);

#endif
