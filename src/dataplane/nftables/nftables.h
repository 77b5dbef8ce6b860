/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables mode's sync of one family (sync.c), for the mode's ops
 * (dp_nftables.c) and the tests: plan, diff against a mirror, one batch,
 * commit.  See README.md.
 */
#ifndef KROUTE_DATAPLANE_NFTABLES_NFTABLES_H
#define KROUTE_DATAPLANE_NFTABLES_NFTABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dataplane/nftables/diff.h"
#include "dataplane/nftables/nl.h"
#include "dataplane/nftables/plan.h"

struct diag;
struct node_view;
struct dataplane;

/* What one sync sent. */
struct nft_sync_info {
	size_t msgs, bytes;              /* the batch's messages (without begin/end) and bytes */
	size_t elems_added, elems_deleted, chains_written;
	size_t planned;                  /* fragments planned (port views with new ids, and the base) */
	/*
	 * Port views whose ids were looked at: every one of the family, or with
	 * from_changes (a partial sync one view update after the last) only
	 * those the view's change info names (policy.h: rebuilt_at, gone_ids).
	 */
	size_t ports_looked_at;
	bool from_changes;
	bool read_back;                  /* the kernel's table was read (full resyncs only) */
	bool reset;                      /* the table was created afresh */
	bool resize;                     /* -ENOSPC: a set would overflow its size; sync in full */
	uint64_t kernel_ns;              /* in sendmsg() and reading the answers */
};

struct nft_kstate;

/* How a sync reaches the kernel; tests record batches and hand in a kernel state instead. */
struct nft_io {
	int (*send)(struct nft_batch *b, void *userdata, struct diag *d);   /* nft_batch_send */
	int (*read)(int family, struct nft_kstate *k, void *userdata, struct diag *d); /* nft_table_read */
	void *userdata;
};

/*
 * Makes the kernel's table of po->family match v, through m.  full (m must
 * be empty then): everything is planned and compared with what the kernel
 * holds (io->read), and only the differences are sent (the table is
 * created when missing, reset when a set has the wrong type or cannot be
 * read).  Otherwise only port views whose ids m does not know are planned
 * and only their changes sent, nothing read (when m applied the view one
 * update ago, the view's change info names them: no other port view is
 * looked at; info->from_changes); -ENOSPC (info->resize, nothing
 * sent or reported) when a set would outgrow its size: sync in full then.  On success m is the new
 * state; on failure m is as it was (and nothing was applied).  io NULL:
 * the kernel.  0 or a negative errno (reported in d).
 */
/*
 * Whether the kernel has every nf_tables feature the mode uses: one
 * transaction that builds a throwaway table with one of each and deletes
 * it (probe.c); nothing stays.  0, or an error in d naming what the kernel
 * refused.
 */
int nft_probe(int family, const struct nft_io *io, struct diag *d);

/* The kernel's io, batches sent on conn (kept open across syncs). */
struct nft_conn;
void nft_io_kernel(struct nft_io *io, struct nft_conn *conn);

int nft_sync_mirror(struct nft_mirror *m, const struct node_view *v, const struct nft_plan_opts *po,
		    bool full, const struct nft_io *io, struct nft_sync_info *info, struct diag *d);

/* The last sync's batch (both families), for tests and benchmarks. */
void nft_dp_last_sync(const struct dataplane *dp, struct nft_sync_info *ret);

#endif
