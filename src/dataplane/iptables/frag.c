/* SPDX-License-Identifier: Apache-2.0 */
/* The ruleset in per-port fragments; see frag.h. */
#include "dataplane/iptables/frag.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	struct ipt_chains ch = { 0 };
	int r = ipt_render_chains(v, NULL, o, &ch);

	*ret = (struct ipt_base){ .n = 0 };
	if (r < 0) {
		ipt_chains_done(&ch);
		return r;
	}
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

/* An exact-size copy: fragments are cached for every port, the workspace's buffers are not. */
static struct sbuf sbuf_copy(const struct sbuf *b)
{
	struct sbuf c = { 0 };

	if (b->len) {
		c.p = xmalloc(b->len);
		memcpy(c.p, b->p, b->len);
		c.len = c.cap = b->len;
	}
	return c;
}

int ipt_frag_render(const struct node_view *v, const struct port_view *pv,
		    const struct ipt_opts *o, struct ipt_chains *work, struct ipt_frag *ret)
{
	int r = ipt_render_chains(v, pv, o, work);

	*ret = (struct ipt_frag){ .id = pv->id };
	snprintf(ret->key, sizeof(ret->key), "%" PRIx64, pv->id);
	if (r < 0)
		return r;
	ret->n_own = work->n_own;
	ret->own = xcalloc(MAX(ret->n_own, 1), sizeof(*ret->own));
	for (size_t i = 0; i < ret->n_own; i++) {
		struct ipt_part *part = &ret->own[i];

		*part = work->own[i];
		part->rules = sbuf_copy(&work->own[i].rules);
		part->hash = ipt_hash(part->rules.p, part->rules.len);
		ret->n_rules += count_lines(&part->rules);
	}
	for (size_t i = 0; i < IPT_N_SHARED; i++) {
		ret->shared[i] = sbuf_copy(&work->shared[i]);
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
