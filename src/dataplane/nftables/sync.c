/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One family's sync (nftables.h): the fragments of what changed, the
 * differ, one batch, and the mirror's commit once the kernel took it.
 */
#include "dataplane/nftables/nftables.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/nftables/resync.h"
#include "policy/policy.h"

/* Plans every port view of the family that m does not know, into the diff. */
static int plan_ports(struct nft_diff *diff, struct nft_mirror *m, const struct node_view *v,
		      const struct nft_plan_opts *po, bool full, struct nft_sync_info *info,
		      struct diag *d)
{
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];
		struct nft_frag *f;
		int r;

		if (pv->family != po->family)
			continue;
		f = full ? NULL : nft_mirror_by_id(m, pv->id);
		if (f) {
			nft_mirror_seen(m, f);
			continue;
		}
		f = xmalloc(sizeof(*f));
		r = nft_plan_port(pv, po, f);
		if (r < 0) {
			free(f);
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL, "nftables: cannot plan %s: %s",
				 pv->svc->key, strerror(-r));
			return r;
		}
		if (f->warning)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL, "%s", f->warning);
		info->planned++;
		nft_diff_frag(diff, m, f);
	}
	return 0;
}

static bool has_changes(const struct nft_changes *ch)
{
	for (int p = 0; p < PH_N; p++)
		if (ch->n[p])
			return true;
	return false;
}

static int send_kernel(struct nft_batch *b, void *userdata, struct diag *d)
{
	return nft_batch_send(b, "nftables", d);
}

static int read_kernel(int family, struct nft_kstate *k, void *userdata, struct diag *d)
{
	return nft_table_read(family, k, d);
}

static const struct nft_io kernel_io = { .send = send_kernel, .read = read_kernel };

static void table_op(struct nft_diff *diff, const char *what)
{
	free(diff->ch.ops[PH_TABLE]);
	diff->ch.ops[PH_TABLE] = xmalloc(sizeof(struct nft_op));
	diff->ch.ops[PH_TABLE][0] = (struct nft_op){ .name = what };
	diff->ch.n[PH_TABLE] = diff->ch.cap[PH_TABLE] = 1;
}

/*
 * A full sync's changes: against what the kernel holds.  No table: create
 * it (the diff against the empty mirror adds everything).  A table we
 * cannot read or whose sets have other types: reset it.
 */
static void against_kernel(struct nft_diff *diff, struct nft_mirror *m, int family,
			   const struct nft_io *io, struct nft_kstate *k, struct nft_sync_info *info,
			   struct diag *d)
{
	int r = io->read(family, k, io->userdata, d);

	if (r == -ENOENT) {
		table_op(diff, "create");
		return;
	}
	info->read_back = r >= 0;
	if (r >= 0 && nft_diff_against_kernel(diff, m, k, family))
		return;
	/* The diff against the empty mirror, after a reset: everything. */
	table_op(diff, "reset");
	info->reset = true;
}

int nft_sync_mirror(struct nft_mirror *m, const struct node_view *v, const struct nft_plan_opts *po,
		    bool full, const struct nft_io *io, struct nft_sync_info *info, struct diag *d)
{
	struct nft_diff diff;
	struct nft_batch b = { 0 };
	struct nft_frag *base = xmalloc(sizeof(*base));
	struct nft_kstate k;
	int r;

	*info = (struct nft_sync_info){ 0 };
	if (!io)
		io = &kernel_io;
	nft_kstate_init(&k);
	nft_diff_init(&diff, m);
	nft_plan_base(po, base);
	info->planned++;
	nft_diff_frag(&diff, m, base);
	r = plan_ports(&diff, m, v, po, full, info, d);
	if (r >= 0) {
		nft_diff_sweep(&diff, m);
		nft_diff_shared(&diff, m);
		if (full)
			against_kernel(&diff, m, po->family, io, &k, info, d);
		info->elems_added = diff.elems_added;
		info->elems_deleted = diff.elems_deleted;
		info->chains_written = diff.chains_written;
	}
	if (r >= 0 && has_changes(&diff.ch)) {
		uint64_t t0;

		nft_batch_encode(&b, po->family, &diff.ch);
		info->msgs = b.msgs;
		info->bytes = b.bytes;
		t0 = mono_ns();
		r = io->send(&b, io->userdata, d);
		info->kernel_ns = mono_ns() - t0;
		nft_batch_done(&b);
	}
	if (r >= 0)
		nft_diff_commit(&diff, m);
	nft_diff_done(&diff, m);
	nft_kstate_done(&k);
	return r < 0 ? r : 0;
}
