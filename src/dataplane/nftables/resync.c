/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The full resync's repair (resync.h): the fresh plan compared with what
 * the kernel holds.  A chain is rewritten when its rules' tags differ from
 * the plan's (a rule deleted, added or changed by hand), added when
 * missing, deleted when it is not ours any more; a set likewise, and its
 * elements one by one.  Pure: the kernel's state comes in as a struct
 * nft_kstate (dump.c).
 */
#include "dataplane/nftables/resync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/nftables/nl.h"

void nft_kstate_init(struct nft_kstate *k)
{
	strmap_init(&k->chains);
	strmap_init(&k->sets);
}

void nft_kstate_done(struct nft_kstate *k)
{
	for (size_t i = 0; i < k->chains.cap; i++) {
		struct nft_kchain *c = k->chains.slots[i].value;

		if (k->chains.slots[i].key) {
			free(c->tags);
			free(c);
			free((char *)k->chains.slots[i].key);
		}
	}
	for (size_t i = 0; i < k->sets.cap; i++) {
		struct nft_kset *s = k->sets.slots[i].value;

		if (k->sets.slots[i].key) {
			free(s->set.elems);
			free(s);
		}
	}
	strmap_done(&k->chains);
	strmap_done(&k->sets);
}

struct nft_kchain *nft_kstate_chain(struct nft_kstate *k, const char *name)
{
	struct nft_kchain *c = strmap_get(&k->chains, name);

	if (!c) {
		c = xcalloc(1, sizeof(*c));
		strmap_put(&k->chains, xstrdup(name), c);
	}
	return c;
}

struct nft_kset *nft_kstate_set(struct nft_kstate *k, const char *name)
{
	struct nft_kset *s = strmap_get(&k->sets, name);

	if (!s) {
		s = xcalloc(1, sizeof(*s));
		snprintf(s->set.name, sizeof(s->set.name), "%s", name);
		strmap_put(&k->sets, s->set.name, s);
	}
	return s;
}

static bool same_rules(const struct nft_chain *c, const struct nft_kchain *k)
{
	if (c->n_rules != k->n)
		return false;
	for (size_t i = 0; i < c->n_rules; i++)
		if (nft_rule_tag(&c->rules[i]) != k->tags[i])
			return false;
	return true;
}

static void repair_chain(struct nft_diff *d, const struct nft_chain *c, struct nft_kstate *k)
{
	struct nft_kchain *kc = strmap_get(&k->chains, c->name);

	if (kc)
		kc->seen = true;
	if (kc && same_rules(c, kc))
		return;
	if (kc)
		nft_diff_op(d, PH_FLUSH_CHAINS, (struct nft_op){ .name = c->name });
	else
		nft_diff_op(d, PH_ADD_CHAINS, (struct nft_op){ .name = c->name, .chain = c });
	for (size_t i = 0; i < c->n_rules; i++)
		nft_diff_op(d, PH_ADD_RULES, (struct nft_op){ .name = c->name, .rule = &c->rules[i] });
	d->chains_written++;
}

/*
 * A sized set is kept at the kernel's size if the elements fit in it (an
 * unsized one has whatever the kernel gave it: 65535 for the affinity sets).
 */
static bool same_type(const struct nft_set *s, const struct nft_kset *ks, int family)
{
	return ks->flags == nft_set_flags(s->kind) && ks->key_len == nft_key_len(s->kind, family) &&
	       (!nft_data_len(s->kind, family) || ks->data_len == nft_data_len(s->kind, family)) &&
	       (s->kind != NS_AFFINITY || ks->timeout_ms == (uint64_t)s->timeout_s * 1000) &&
	       (!s->size || (ks->size && ks->size >= s->kcount));
}

/* false: the set exists with another type (only a reset changes that). */
static bool repair_set(struct nft_diff *d, struct nft_set *s, struct nft_kstate *k, int family)
{
	struct nft_kset *ks = strmap_get(&k->sets, s->name);

	if (!ks) {
		nft_diff_add_set(d, s);
		return true;
	}
	ks->seen = true;
	if (!same_type(s, ks, family))
		return false;
	if (s->size)
		s->size = ks->size;
	ks->set.kind = s->kind;
	nft_diff_set_elems(d, &ks->set, s);
	return true;
}

/* The shared maps' elements as the claims decide them (the base's sets carry none). */
static void shared_wanted(struct nft_diff *d)
{
	for (int i = 0; i < SH_N; i++) {
		struct nft_set *s = &d->kernel_shared[i];

		free(s->elems);
		*s = (struct nft_set){ .kind = (uint8_t)nft_shared_kind((enum nft_shared)i) };
		snprintf(s->name, sizeof(s->name), "%s", nft_shared_names[i]);
	}
	for (size_t t = 0; t < d->n_touched; t++) {
		const struct nft_elem *e = nft_shared_winner(d->touched[t]);

		if (e)
			*nft_set_elem(&d->kernel_shared[d->touched[t]->set]) = *e;
	}
}

/* The base's set name: the whole map as it should be (its fragment's set carries no elements). */
static struct nft_set *base_set(struct nft_diff *d, const char *name)
{
	for (int i = 0; i < SH_N; i++)
		if (streq(nft_shared_names[i], name))
			return &d->kernel_shared[i];
	for (size_t i = 0; i < ARRAY_SIZE(d->kernel_slots); i++)
		if (streq(d->kernel_slots[i].name, name))
			return &d->kernel_slots[i];
	return NULL;
}

/* The endpoint maps' elements: every fragment's slices. */
static void slots_wanted(struct nft_diff *d)
{
	size_t pick0 = NFT_EPS_SHARDS + NFT_EPV_SHARDS;

	for (size_t i = 0; i < ARRAY_SIZE(d->kernel_slots); i++) {
		struct nft_set *s = &d->kernel_slots[i];
		bool verdict = i >= NFT_EPS_SHARDS;

		free(s->elems);
		if (i >= pick0) {
			/* pick-1..N, pick-endpoints, the two masquerade sets */
			size_t p = i - pick0;

			*s = (struct nft_set){ .kind = p == NFT_PICK_MAX_N ? NS_PICK_EPS : NS_SVC_SET };
			if (p < NFT_PICK_MAX_N)
				nft_pick_set(s->name, (unsigned)p + 1);
			else
				snprintf(s->name, sizeof(s->name), "%s", p == NFT_PICK_MAX_N ? NFT_PICK_EPS :
					 p == NFT_PICK_MAX_N + 1 ? NFT_PICK_MASQ : NFT_PICK_MASQ_EXT);
			continue;
		}
		*s = (struct nft_set){ .kind = verdict ? NS_EP_VMAP : NS_EP_MAP };
		nft_slots_map(s->name, verdict, (uint64_t)(verdict ? i - NFT_EPS_SHARDS : i) << 56);
	}
	for (size_t f = 0; f < d->n_fresh; f++) {
		const struct nft_frag *fr = d->fresh[f];

		for (size_t i = 0; i < fr->n_sets; i++) {
			const struct nft_set *sl = &fr->sets[i];
			struct nft_set *to;

			if (!sl->in_map[0])
				continue;
			to = base_set(d, sl->in_map);
			for (size_t k = 0; k < sl->n_elems; k++)
				*nft_set_elem(to) = sl->elems[k];
		}
	}
}


static void free_ops(struct nft_changes *ch)
{
	for (int p = 0; p < PH_N; p++)
		free(ch->ops[p]);
}

static bool repair(struct nft_diff *d, struct nft_kstate *k, int family)
{
	shared_wanted(d);
	slots_wanted(d);
	for (size_t f = 0; f < d->n_fresh; f++) {
		struct nft_frag *fr = d->fresh[f];
		bool base = streq(fr->key, "base");

		for (size_t i = 0; i < fr->n_sets; i++) {
			struct nft_set *fs = &fr->sets[i], *s = base ? base_set(d, fs->name) : NULL;

			if (fs->in_map[0])
				continue; /* in its base map (slots_wanted) */
			if (s) {
				s->size = fs->size;
				s->kcount = fs->kcount;
			}
			if (!repair_set(d, s ? s : fs, k, family))
				return false;
			if (s)
				fs->size = s->size; /* the kernel's, kept */
		}
		for (size_t i = 0; i < fr->n_chains; i++)
			repair_chain(d, &fr->chains[i], k);
	}
	/* What the kernel has that the plan does not: flushed first, then deleted. */
	for (size_t i = 0; i < k->sets.cap; i++) {
		const struct nft_kset *ks = k->sets.slots[i].value;

		if (k->sets.slots[i].key && !ks->seen)
			nft_diff_op(d, PH_DEL_SETS, (struct nft_op){ .name = ks->set.name });
	}
	for (size_t i = 0; i < k->chains.cap; i++) {
		const char *name = k->chains.slots[i].key;
		const struct nft_kchain *kc = k->chains.slots[i].value;

		if (!name || kc->seen)
			continue;
		nft_diff_op(d, PH_FLUSH_CHAINS, (struct nft_op){ .name = name });
		nft_diff_op(d, PH_DEL_CHAINS, (struct nft_op){ .name = name });
	}
	return true;
}

bool nft_diff_against_kernel(struct nft_diff *d, struct nft_mirror *m, struct nft_kstate *k,
			     int family)
{
	struct nft_changes against_empty = d->ch;
	size_t counts[3] = { d->elems_added, d->elems_deleted, d->chains_written };

	(void)m;
	d->ch = (struct nft_changes){ 0 };
	d->elems_added = d->elems_deleted = d->chains_written = 0;
	if (repair(d, k, family)) {
		free_ops(&against_empty);
		return true;
	}
	free_ops(&d->ch);
	d->ch = against_empty;
	d->elems_added = counts[0];
	d->elems_deleted = counts[1];
	d->chains_written = counts[2];
	return false;
}
