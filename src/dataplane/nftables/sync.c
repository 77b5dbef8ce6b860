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

int nft_sync_mirror(struct nft_mirror *m, const struct node_view *v, const struct nft_plan_opts *po,
		    bool full, nft_send_fn send, void *send_data, struct nft_sync_info *info,
		    struct diag *d)
{
	struct nft_op reset = { .name = "reset" };
	struct nft_diff diff;
	struct nft_batch b = { 0 };
	struct nft_frag *base = xmalloc(sizeof(*base));
	int r;

	*info = (struct nft_sync_info){ 0 };
	nft_diff_init(&diff, m);
	if (full) {
		diff.ch.ops[PH_TABLE] = xmalloc(sizeof(reset));
		diff.ch.ops[PH_TABLE][0] = reset;
		diff.ch.n[PH_TABLE] = diff.ch.cap[PH_TABLE] = 1;
	}
	nft_plan_base(po, base);
	info->planned++;
	nft_diff_frag(&diff, m, base);
	r = plan_ports(&diff, m, v, po, full, info, d);
	if (r >= 0) {
		nft_diff_sweep(&diff, m);
		nft_diff_shared(&diff, m);
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
		r = (send ? send : send_kernel)(&b, send_data, d);
		info->kernel_ns = mono_ns() - t0;
		nft_batch_done(&b);
	}
	if (r >= 0)
		nft_diff_commit(&diff, m);
	nft_diff_done(&diff, m);
	return r < 0 ? r : 0;
}
