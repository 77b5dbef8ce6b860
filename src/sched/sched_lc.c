/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection-ranking schedulers of IPVS: lc, wlc, sed, nq (ip_vs_lc.c,
 * ip_vs_wlc.c, ip_vs_sed.c, ip_vs_nq.c) and the weight-ranking fo and ovf
 * (ip_vs_fo.c, ip_vs_ovf.c). Each is one ranking over a tournament tree
 * (sched_tree.c): the pick reads the root, and each connection change
 * re-ranks one leaf in O(log n). The results, ties included, are those of the
 * kernel's linear scans.
 */
#include <stdlib.h>

#include "sched/sched_internal.h"

static enum sched_rank rank_of(const struct sched_state *st)
{
	if (st->ops == &sched_lc_ops)
		return SCHED_RANK_LC;
	if (st->ops == &sched_wlc_ops)
		return SCHED_RANK_WLC;
	if (st->ops == &sched_sed_ops)
		return SCHED_RANK_SED;
	if (st->ops == &sched_nq_ops)
		return SCHED_RANK_NQ;
	if (st->ops == &sched_fo_ops)
		return SCHED_RANK_FO;
	return SCHED_RANK_OVF;
}

static int rank_prepare(struct sched_state *st)
{
	struct sched_tree *t = st->priv;
	bool fresh = !t;
	int r;

	if (fresh) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
	}
	r = sched_tree_build(t, rank_of(st), st->dests, st->n_dests);
	if (r < 0) {
		if (fresh)
			free(t);
		return r;
	}
	st->priv = t;
	return 0;
}

static int rank_pick(struct sched_state *st, const struct sched_flow *flow, uint64_t now_ns)
{
	uint32_t best = sched_tree_best(st->priv);

	return best == SCHED_NO_DEST ? -EHOSTUNREACH : (int)best;
}

static void rank_changed(struct sched_state *st, size_t idx)
{
	sched_tree_update(st->priv, st->dests, idx);
}

static size_t rank_memory(const struct sched_state *st)
{
	const struct sched_tree *t = st->priv;

	return t ? sizeof(*t) + sched_tree_memory(t) : 0;
}

static void rank_destroy(struct sched_state *st)
{
	struct sched_tree *t = st->priv;

	if (t)
		sched_tree_done(t);
	free(t);
	st->priv = NULL;
}

#define RANK_OPS(n, text, caps)                                                                    \
	const struct sched_ops sched_##n##_ops = {                                                 \
		.info = { #n, text, caps },                                                        \
		.prepare = rank_prepare,                                                           \
		.pick = rank_pick,                                                                 \
		.conn_changed = rank_changed,                                                      \
		.memory = rank_memory,                                                             \
		.destroy = rank_destroy,                                                           \
	}

RANK_OPS(lc, "least connections: min 256*active + inactive (IPVS lc)", SCHED_CAP_CONNS);
RANK_OPS(wlc, "weighted least connections: min (256*active + inactive)/weight (IPVS wlc)",
	 SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS);
RANK_OPS(sed, "shortest expected delay: min (active + 1)/weight (IPVS sed)",
	 SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS);
RANK_OPS(nq, "never queue: first idle endpoint, else sed (IPVS nq)",
	 SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS);
RANK_OPS(fo, "weighted failover: highest weight (IPVS fo)", SCHED_CAP_WEIGHTS);
RANK_OPS(ovf, "overflow: highest weight with active <= weight (IPVS ovf)",
	 SCHED_CAP_WEIGHTS | SCHED_CAP_CONNS);
