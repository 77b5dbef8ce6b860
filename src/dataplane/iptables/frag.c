/* SPDX-License-Identifier: Apache-2.0 */
/* The ruleset in per-port fragments; see frag.h. */
#include "dataplane/iptables/frag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/util.h"

uint64_t ipt_hash(const char *p, size_t n)
{
	uint64_t h = fnv1a_update(FNV1A_OFFSET, p, n);

	return h ? h : 1;
}

const char *ipt_table_name(enum ipt_table t)
{
	return t == IPT_TABLE_NAT ? "nat" : "filter";
}

int ipt_base_render(const struct node_view *v, const struct ipt_opts *o, struct ipt_base *ret)
{
	struct ipt_chains ch;
	int r = ipt_render_chains(v, NULL, o, &ch);

	*ret = (struct ipt_base){ .n = 0 };
	if (r < 0)
		return r;
	for (size_t i = 0; i < IPT_N_SHARED; i++) {
		struct ipt_part *c = &ret->chains[ret->n];

		if (!ch.declared[i])
			continue;
		*c = (struct ipt_part){ .table = ipt_shared_chains[i].table, .rules = ch.shared[i] };
		snprintf(c->name, sizeof(c->name), "%s", ipt_shared_chains[i].name);
		c->hash = ipt_hash(c->rules.p, c->rules.len);
		ch.shared[i] = (struct sbuf){ 0 };
		ret->id[ret->n++] = (enum ipt_shared_chain)i;
	}
	ipt_chains_done(&ch);
	return 0;
}

void ipt_base_done(struct ipt_base *b)
{
	for (size_t i = 0; i < b->n; i++)
		sbuf_free(&b->chains[i].rules);
	*b = (struct ipt_base){ .n = 0 };
}

static size_t count_lines(const struct sbuf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->p[i] == '\n';
	return n;
}

int ipt_frag_render(const struct node_view *v, const struct port_view *pv,
		    const struct ipt_opts *o, const struct ipt_base *base, struct ipt_frag *ret)
{
	struct ipt_chains ch;
	int r = ipt_render_chains(v, pv, o, &ch);

	(void)base; /* the fixed rules are not rendered with a port: nothing to take off */
	*ret = (struct ipt_frag){ .id = pv->id };
	snprintf(ret->key, sizeof(ret->key), "%" PRIx64, pv->id);
	if (r < 0)
		return r;
	ret->own = ch.own;
	ret->n_own = ch.n_own;
	for (size_t i = 0; i < ret->n_own; i++) {
		ret->own[i].hash = ipt_hash(ret->own[i].rules.p, ret->own[i].rules.len);
		ret->n_rules += count_lines(&ret->own[i].rules);
	}
	for (size_t i = 0; i < IPT_N_SHARED; i++) {
		ret->shared[i] = ch.shared[i];
		ret->n_rules += count_lines(&ret->shared[i]);
	}
	return 0;
}

void ipt_frag_done(struct ipt_frag *f)
{
	for (size_t i = 0; i < f->n_own; i++)
		sbuf_free(&f->own[i].rules);
	free(f->own);
	for (size_t i = 0; i < IPT_N_SHARED; i++)
		sbuf_free(&f->shared[i]);
	*f = (struct ipt_frag){ 0 };
}

uint64_t ipt_shared_hash(const struct ipt_base *base, size_t i, struct ipt_frag *const *frags,
			 size_t n_frags)
{
	enum ipt_shared_chain id = base->id[i];
	uint64_t h = FNV1A_OFFSET;

	for (size_t k = 0; k < n_frags; k++)
		h = fnv1a_update(h, frags[k]->shared[id].p, frags[k]->shared[id].len);
	h = fnv1a_update(h, base->chains[i].rules.p, base->chains[i].rules.len);
	return h ? h : 1;
}

void ipt_shared_rules(const struct ipt_base *base, size_t i, struct ipt_frag *const *frags,
		      size_t n_frags, struct sbuf *out)
{
	enum ipt_shared_chain id = base->id[i];

	for (size_t k = 0; k < n_frags; k++)
		if (frags[k]->shared[id].len)
			sbuf_add(out, frags[k]->shared[id].p, frags[k]->shared[id].len);
	if (base->chains[i].rules.len)
		sbuf_add(out, base->chains[i].rules.p, base->chains[i].rules.len);
}
