/* SPDX-License-Identifier: Apache-2.0 */
/* The ruleset in per-port fragments; see frag.h. */
#include "dataplane/iptables/frag.h"

#include <errno.h>
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

uint64_t ipt_shared_hash(const struct ipt_base *base, size_t i, struct ipt_frag *const *frags,
			 size_t n_frags)
{
	uint64_t h = FNV1A_OFFSET;

	for (size_t k = 0; k < n_frags; k++)
		if (frags[k]->shared[i].rules.len)
			h = fnv1a_update(h, frags[k]->shared[i].rules.p, frags[k]->shared[i].rules.len);
	if (base->chains[i].rules.len)
		h = fnv1a_update(h, base->chains[i].rules.p, base->chains[i].rules.len);
	return h ? h : 1;
}

const char *ipt_table_name(enum ipt_table t)
{
	return t == IPT_TABLE_NAT ? "nat" : "filter";
}

/* A render split into chains: declaration order, each with its rules. */
struct split {
	struct ipt_part *v;
	size_t n, cap;
};

/* 1 + the position of chain name[0..len) of table in v, or 0: renders have few chains per port. */
static size_t find_part(const struct ipt_part *v, size_t n, int table, const char *name,
			size_t len)
{
	for (size_t i = 0; i < n; i++)
		if ((int)v[i].table == table && !strncmp(v[i].name, name, len) && !v[i].name[len])
			return i + 1;
	return 0;
}

static void split_done(struct split *s, bool free_rules)
{
	for (size_t i = 0; i < s->n && free_rules; i++)
		sbuf_free(&s->v[i].rules);
	free(s->v);
}

static int split_render(const char *buf, size_t len, struct split *s)
{
	const char *p = buf, *end = buf + len;
	int table = -1;
	*s = (struct split){ 0 };
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		const char *name = p + (*p == ':' ? 1 : 3);
		const char *sp = memchr(name, ' ', (size_t)(p + l - name));
		size_t nlen = sp ? (size_t)(sp - name) : 0;

		if (l == 8 && !strncmp(p, "*filter\n", 8)) {
			table = IPT_TABLE_FILTER;
		} else if (l == 5 && !strncmp(p, "*nat\n", 5)) {
			table = IPT_TABLE_NAT;
		} else if (l >= 6 && !strncmp(p, "COMMIT", 6)) {
			table = -1;
		} else if (table >= 0 && (*p == ':' || !strncmp(p, "-A ", 3)) && nlen &&
			   nlen < IPT_CHAIN_NAME_MAX) {
			size_t pos = find_part(s->v, s->n, table, name, nlen);

			if (*p == ':') {
				struct ipt_part *c;

				if (pos)
					return -EPROTO; /* declared twice */
				s->v = xgrow(s->v, &s->cap, s->n + 1, sizeof(*s->v));
				c = &s->v[s->n];
				*c = (struct ipt_part){ .table = (enum ipt_table)table };
				memcpy(c->name, name, nlen);
				s->n++;
			} else {
				if (!pos)
					return -EPROTO; /* a rule in a chain never declared */
				sbuf_add(&s->v[pos - 1].rules, p, l);
			}
		} else {
			return -EPROTO;
		}
		p += l;
	}
	for (size_t i = 0; i < s->n; i++)
		s->v[i].hash = ipt_hash(s->v[i].rules.p, s->v[i].rules.len);
	return 0;
}

static int render_split(const struct node_view *v, const struct ipt_opts *o, struct split *s)
{
	char *buf;
	size_t len;
	int r = ipt_render_full(v, o, &buf, &len);

	if (r < 0)
		return r;
	r = split_render(buf, len, s);
	free(buf);
	if (r < 0)
		split_done(s, true);
	return r;
}

int ipt_base_render(const struct node_view *v, const struct ipt_opts *o, struct ipt_base *ret)
{
	struct node_view empty = *v;
	struct split s;
	int r;

	empty.ports = NULL;
	empty.n_ports = 0;
	r = render_split(&empty, o, &s);
	if (r < 0)
		return r;
	*ret = (struct ipt_base){ .chains = s.v, .n = s.n };
	return 0;
}

void ipt_base_done(struct ipt_base *b)
{
	for (size_t i = 0; i < b->n; i++)
		sbuf_free(&b->chains[i].rules);
	free(b->chains);
	*b = (struct ipt_base){ 0 };
}

int ipt_frag_render(const struct node_view *v, const struct port_view *pv,
		    const struct ipt_opts *o, const struct ipt_base *base, struct ipt_frag *ret)
{
	struct node_view one = *v;
	struct split s;
	size_t own_cap = 0;
	int r;

	*ret = (struct ipt_frag){ .id = pv->id };
	snprintf(ret->key, sizeof(ret->key), "%" PRIx64, pv->id);
	one.ports = (struct port_view *)pv;
	one.n_ports = 1;
	r = render_split(&one, o, &s);
	if (r < 0)
		return r;
	ret->shared = xcalloc(MAX(base->n, 1), sizeof(*ret->shared));
	ret->n_shared = base->n;
	for (size_t i = 0; i < s.n; i++) {
		struct ipt_part *c = &s.v[i];
		size_t pos = find_part(base->chains, base->n, (int)c->table, c->name,
				       strlen(c->name));

		if (!pos) {
			VEC_PUSH(ret->own, ret->n_own, own_cap, *c);
			c->rules = (struct sbuf){ 0 };
			continue;
		}
		{
			const struct ipt_part *fixed = &base->chains[pos - 1];
			struct ipt_part *mine = &ret->shared[pos - 1];

			if (c->rules.len < fixed->rules.len ||
			    (fixed->rules.len &&
			     memcmp(c->rules.p + c->rules.len - fixed->rules.len, fixed->rules.p,
				    fixed->rules.len))) {
				r = -EPROTO;
				break;
			}
			*mine = *c;
			mine->rules.len = c->rules.len - fixed->rules.len;
			mine->hash = ipt_hash(mine->rules.p, mine->rules.len);
			c->rules = (struct sbuf){ 0 };
		}
	}
	split_done(&s, true);
	if (r < 0) {
		ipt_frag_done(ret);
		return r;
	}
	for (size_t i = 0; i < ret->n_own; i++)
		for (size_t k = 0; k < ret->own[i].rules.len; k++)
			ret->n_rules += ret->own[i].rules.p[k] == '\n';
	for (size_t i = 0; i < base->n; i++)
		for (size_t k = 0; k < ret->shared[i].rules.len; k++)
			ret->n_rules += ret->shared[i].rules.p[k] == '\n';
	return 0;
}

void ipt_frag_done(struct ipt_frag *f)
{
	for (size_t i = 0; i < f->n_own; i++)
		sbuf_free(&f->own[i].rules);
	free(f->own);
	for (size_t i = 0; i < f->n_shared; i++)
		sbuf_free(&f->shared[i].rules);
	free(f->shared);
	*f = (struct ipt_frag){ 0 };
}

void ipt_shared_rules(const struct ipt_base *base, size_t i, struct ipt_frag *const *frags,
		      size_t n_frags, struct sbuf *out)
{
	for (size_t k = 0; k < n_frags; k++) {
		const struct ipt_part *mine = &frags[k]->shared[i];

		if (mine->rules.len)
			sbuf_add(out, mine->rules.p, mine->rules.len);
	}
	if (base->chains[i].rules.len)
		sbuf_add(out, base->chains[i].rules.p, base->chains[i].rules.len);
}
