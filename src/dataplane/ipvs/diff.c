/* SPDX-License-Identifier: Apache-2.0 */
/* Changes between two tables of virtual services, and draining (diff.h). */
#include "dataplane/ipvs/diff.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void ipvs_ops_done(struct ipvs_ops *o)
{
	free(o->v);
	*o = (struct ipvs_ops){ 0 };
}

static void push(struct ipvs_ops *ops, enum ipvs_op_kind kind, const struct ipvs_svc *s,
		 const struct ipvs_dest *d)
{
	struct ipvs_op op = { .kind = kind, .key = s->key, .conf = s->conf };

	if (d)
		op.dest = *d;
	VEC_PUSH(ops->v, ops->n, ops->cap, op);
}

static bool conf_eq(const struct ipvs_svc_conf *a, const struct ipvs_svc_conf *b)
{
	return streq(a->sched, b->sched) && a->flags == b->flags && a->timeout == b->timeout;
}

static const struct ipvs_dest *find_dest(const struct ipvs_svc *s, const struct ipvs_dest *d)
{
	size_t lo = 0, hi = s->n_dests;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = ipvs_dest_cmp(&s->dests[mid], d);

		if (!c)
			return &s->dests[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int dest_cmp_qsort(const void *a, const void *b)
{
	return ipvs_dest_cmp(a, b);
}

/* The dests of one service that stays: want's, then have's that leave. */
static void diff_dests(const struct ipvs_svc *h, const struct ipvs_svc *w,
		       const struct ipvs_diff_opts *o, struct ipvs_ops *ops, struct ipvs_svc *n)
{
	size_t cap = w->n_dests + h->n_dests + 1, k = 0;
	bool graceful = o->graceful && w->key.proto != IPPROTO_UDP;

	n->dests = xmalloc(cap * sizeof(*n->dests));
	for (size_t i = 0; i < h->n_dests; i++) {
		struct ipvs_dest d = h->dests[i];

		if (find_dest(w, &d))
			continue;
		if (!graceful) {
			push(ops, IPVS_OP_DEL_DEST, w, &d);
			continue;
		}
		if (!d.drain_since) {
			if (d.weight) {
				d.weight = 0;
				push(ops, IPVS_OP_SET_DEST, w, &d);
			}
			d.drain_since = o->now_ns ? o->now_ns : 1;
			d.conns = UINT32_MAX; /* not read yet: never done before a read */
		}
		n->dests[k++] = d;
	}
	for (size_t i = 0; i < w->n_dests; i++) {
		const struct ipvs_dest *d = &w->dests[i], *old = find_dest(h, d);

		if (!old)
			push(ops, IPVS_OP_ADD_DEST, w, d);
		else if (old->weight != d->weight || old->drain_since)
			push(ops, IPVS_OP_SET_DEST, w, d);
		n->dests[k] = *d;
		n->dests[k].drain_since = 0;
		n->dests[k++].conns = 0;
	}
	n->n_dests = k;
	qsort(n->dests, k, sizeof(*n->dests), dest_cmp_qsort);
}

void ipvs_diff(const struct ipvs_table *have, const struct ipvs_table *want,
	       const struct ipvs_diff_opts *o, struct ipvs_ops *ops, struct ipvs_table *next)
{
	for (size_t i = 0; i < have->n; i++)
		if (!ipvs_table_get(want, &have->v[i].key))
			push(ops, IPVS_OP_DEL_SVC, &have->v[i], NULL);
	for (size_t i = 0; i < want->n; i++) {
		const struct ipvs_svc *w = &want->v[i], *h = ipvs_table_get(have, &w->key);
		struct ipvs_svc n = *w;

		n.owner = w->owner ? xstrdup(w->owner) : NULL;
		if (!h) {
			push(ops, IPVS_OP_ADD_SVC, w, NULL);
			/*
			 * The kernel puts each new dest at the head of its list, and its
			 * schedulers break ties (lc, wlc...) and start (rr) there: added
			 * last to first, the list is in the plan's order.
			 */
			for (size_t k = w->n_dests; k-- > 0;)
				push(ops, IPVS_OP_ADD_DEST, w, &w->dests[k]);
			n.dests = xmalloc((w->n_dests + 1) * sizeof(*n.dests));
			if (w->n_dests)
				memcpy(n.dests, w->dests, w->n_dests * sizeof(*n.dests));
		} else {
			if (!conf_eq(&h->conf, &w->conf))
				push(ops, IPVS_OP_SET_SVC, w, NULL);
			diff_dests(h, w, o, ops, &n);
		}
		ipvs_table_add(next, &n);
	}
}

size_t ipvs_draining(const struct ipvs_table *t)
{
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		for (size_t k = 0; k < t->v[i].n_dests; k++)
			n += t->v[i].dests[k].drain_since != 0;
	return n;
}

void ipvs_drain(struct ipvs_table *t, uint64_t now_ns, uint64_t timeout_ns, struct ipvs_ops *ops)
{
	for (size_t i = 0; i < t->n; i++) {
		struct ipvs_svc *s = &t->v[i];
		size_t k = 0;

		for (size_t j = 0; j < s->n_dests; j++) {
			const struct ipvs_dest *d = &s->dests[j];
			bool done = d->drain_since &&
				    (!d->conns || now_ns - d->drain_since >= timeout_ns);

			if (done)
				push(ops, IPVS_OP_DEL_DEST, s, d);
			else
				s->dests[k++] = *d;
		}
		s->n_dests = k;
	}
}
