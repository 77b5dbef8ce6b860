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

struct id_at {
	uint64_t id;
	size_t at;     /* in the view's ports */
};

static int cmp_id_at(const void *a, const void *b)
{
	uint64_t x = ((const struct id_at *)a)->id, y = ((const struct id_at *)b)->id;

	return (x > y) - (x < y);
}

static int plan_one(struct nft_diff *diff, struct nft_mirror *m, const struct port_view *pv,
		    const struct nft_plan_opts *po, struct nft_sync_info *info, struct diag *d)
{
	struct nft_frag *f = xmalloc(sizeof(*f));
	int r = nft_plan_port(pv, po, f);

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
	return 0;
}

/*
 * Plans every port view of the family whose id the mirror does not have,
 * and deletes the fragments of ids gone.  The ids are compared as sorted
 * arrays: a change at 10,000 services touches only its own fragments, not
 * every fragment of the mirror (each its own allocation: a cache miss).
 */
static int plan_ports(struct nft_diff *diff, struct nft_mirror *m, const struct node_view *v,
		      const struct nft_plan_opts *po, bool full, struct nft_sync_info *info,
		      struct diag *d)
{
	struct id_at *cur = xmalloc((v->n_ports + 1) * sizeof(*cur));
	uint64_t *gone = NULL;
	size_t n = 0, n_gone = 0, cap_gone = 0, i = 0, k = 0;
	int r = 0;

	for (size_t p = 0; p < v->n_ports; p++)
		if (v->ports[p].family == po->family)
			cur[n++] = (struct id_at){ .id = v->ports[p].id, .at = p };
	qsort(cur, n, sizeof(*cur), cmp_id_at);
	while (r >= 0 && (i < n || k < m->n_ids)) {
		if (k == m->n_ids || (i < n && cur[i].id < m->ids[k])) {
			r = plan_one(diff, m, &v->ports[cur[i++].at], po, info, d);
		} else if (i == n || m->ids[k] < cur[i].id) {
			VEC_PUSH(gone, n_gone, cap_gone, m->ids[k]);
			k++;
		} else {
			/* Known: a full sync plans it again all the same. */
			if (full)
				r = plan_one(diff, m, &v->ports[cur[i].at], po, info, d);
			i++;
			k++;
		}
	}
	if (r >= 0)
		nft_diff_gone(diff, m, gone, n_gone);
	free(gone);
	diff->ids = xmalloc((n + 1) * sizeof(*diff->ids));
	for (size_t j = 0; j < n; j++)
		diff->ids[j] = cur[j].id;
	diff->n_ids = n;
	info->ports_looked_at = n;
	free(cur);
	return r;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Whether the view's change info (policy.h: generation, changed_all,
 * rebuilt_at, gone_ids) says everything that changed since m's last sync:
 * m applied the view one update ago (or this very view), and that update
 * was not a rebuild of everything.  A full sync, a rebuild, a generation
 * gap (a sync skipped or failed: m kept an older state) all walk.
 */
static bool changes_known(const struct nft_mirror *m, const struct node_view *v, bool full)
{
	if (full || !m->applied || !m->view_gen)
		return false;
	/* An update gives each port view it builds the next id: a view of another lineage differs. */
	if (v->generation == m->view_gen)
		return v->next_id == m->view_next_id; /* the view m applied: nothing changed */
	return v->generation == m->view_gen + 1 && !v->changed_all &&
	       v->next_id == m->view_next_id + v->n_rebuilt;
}

/*
 * plan_ports for a partial sync whose changes the view knows: plans the
 * new port views of the family and deletes the fragments of the ids gone,
 * without looking at any other port view.  The mirror's sorted ids are
 * kept by a merge (new ids are never seen before; the copy is the only
 * part that grows with the services, 8 bytes each).
 */
static int plan_changed(struct nft_diff *diff, struct nft_mirror *m, const struct node_view *v,
			const struct nft_plan_opts *po, struct nft_sync_info *info,
			struct diag *d)
{
	uint64_t *fresh, *gone;
	size_t n_fresh = 0, n_gone = v->n_gone, i = 0, k = 0, g = 0, out = 0;
	int r = 0;

	diff->view_gen = v->generation;
	diff->view_next_id = v->next_id;
	if (v->generation == m->view_gen || (!v->n_rebuilt && !v->n_gone))
		return 0;
	fresh = xmalloc((v->n_rebuilt + 1) * sizeof(*fresh));
	gone = xmalloc((n_gone + 1) * sizeof(*gone));
	for (size_t j = 0; j < v->n_rebuilt && r >= 0; j++) {
		const struct port_view *pv = &v->ports[v->rebuilt_at[j]];

		info->ports_looked_at++;
		if (pv->family != po->family)
			continue;
		fresh[n_fresh++] = pv->id;
		r = plan_one(diff, m, pv, po, info, d);
	}
	if (n_gone) /* gone_ids is NULL until an update removes something */
		memcpy(gone, v->gone_ids, n_gone * sizeof(*gone));
	info->ports_looked_at += n_gone;
	qsort(fresh, n_fresh, sizeof(*fresh), cmp_u64);
	qsort(gone, n_gone, sizeof(*gone), cmp_u64);
	if (r >= 0)
		nft_diff_gone(diff, m, gone, n_gone);
	/* The mirror's ids without the gone ones, merged with the new ones. */
	diff->ids = xmalloc((m->n_ids + n_fresh + 1) * sizeof(*diff->ids));
	while (i < m->n_ids || k < n_fresh) {
		if (i < m->n_ids) {
			while (g < n_gone && gone[g] < m->ids[i])
				g++;
			if (g < n_gone && gone[g] == m->ids[i]) {
				i++;
				continue;
			}
		}
		if (k == n_fresh || (i < m->n_ids && m->ids[i] < fresh[k]))
			diff->ids[out++] = m->ids[i++];
		else
			diff->ids[out++] = fresh[k++];
	}
	diff->n_ids = out;
	free(fresh);
	free(gone);
	return r;
}

/*
 * Set sizes (README.md, "Set sizes"): each set of the base is created with
 * a size, so the kernel allocates its hash table once instead of growing it
 * element by element.  A full sync sizes each set after the elements it will
 * hold (counted from the diff against the empty mirror, before the drift
 * check replaces it); a partial sync keeps the mirror's sizes and counts, and
 * -ENOSPC when a set would overflow (the kernel would refuse the batch).
 */
static int fit_sizes(struct nft_diff *diff, struct nft_frag *base, const struct nft_frag *old,
		     bool full)
{
	int64_t *n = xcalloc(base->n_sets + 1, sizeof(*n));
	struct strmap at;
	int r = 0;

	strmap_init(&at);
	for (size_t i = 0; i < base->n_sets; i++)
		strmap_put(&at, base->sets[i].name, (void *)(uintptr_t)(i + 1));
	for (size_t i = 0; !full && old && i < old->n_sets; i++) {
		uintptr_t at_new = (uintptr_t)strmap_get(&at, old->sets[i].name);

		if (!at_new)
			continue;
		base->sets[at_new - 1].size = old->sets[i].size;
		n[at_new - 1] = old->sets[i].kcount;
	}
	for (int ph = PH_DEL_ELEMS; ph <= PH_ADD_ELEMS; ph += PH_ADD_ELEMS - PH_DEL_ELEMS) {
		const char *last = NULL;
		uintptr_t idx = 0;

		for (size_t k = 0; k < diff->ch.n[ph]; k++) {
			const struct nft_op *op = &diff->ch.ops[ph][k];

			if (nft_op_set(op) != last) /* a set's ops come in runs */
				idx = (uintptr_t)strmap_get(&at, (last = nft_op_set(op)));
			if (idx)
				n[idx - 1] += ph == PH_ADD_ELEMS ? 1 : -1;
		}
	}
	for (size_t i = 0; i < base->n_sets; i++) {
		struct nft_set *s = &base->sets[i];

		s->kcount = n[i] > 0 ? (uint32_t)n[i] : 0;
		if (full)
			s->size = nft_set_size_for(s->kind, s->kcount);
		else if (s->size && s->kcount > s->size)
			r = -ENOSPC;
	}
	strmap_done(&at);
	free(n);
	return r;
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
	if (userdata)
		return nft_batch_send_on(userdata, b, "nftables", d);
	return nft_batch_send(b, "nftables", d);
}

static int read_kernel(int family, struct nft_kstate *k, void *userdata, struct diag *d)
{
	return nft_table_read(family, k, d);
}

static const struct nft_io kernel_io = { .send = send_kernel, .read = read_kernel };

void nft_io_kernel(struct nft_io *io, struct nft_conn *conn)
{
	*io = kernel_io;
	io->userdata = conn;
}

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
	info->from_changes = changes_known(m, v, full);
	if (info->from_changes) {
		r = plan_changed(&diff, m, v, po, info, d);
	} else {
		diff.view_gen = v->generation;
		diff.view_next_id = v->next_id;
		r = plan_ports(&diff, m, v, po, full, info, d);
	}
	if (r >= 0) {
		nft_diff_shared(&diff, m);
		r = fit_sizes(&diff, base, strmap_get(&m->frags, "base"), full);
		info->resize = r == -ENOSPC;
	}
	if (r >= 0) {
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
