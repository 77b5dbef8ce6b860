/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mirror and the differ (diff.h).  A fragment is compared with the
 * mirror's fragment of the same key: chains by the hash of their rules,
 * sets element by element (sorted by key, merged).  Shared-map elements
 * are claims counted per (map, key, data): an element goes to the kernel
 * when its first claim appears and leaves with its last, so two ports
 * sharing an endpoint share its hairpin element, and an address claimed by
 * two services keeps the first one's verdict.
 */
#include "dataplane/nftables/diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

void nft_diff_op(struct nft_diff *d, enum nft_phase ph, struct nft_op op)
{
	struct nft_changes *c = &d->ch;

	c->ops[ph] = xgrow(c->ops[ph], &c->cap[ph], c->n[ph] + 1, sizeof(*c->ops[ph]));
	c->ops[ph][c->n[ph]++] = op;
}

/* An element of set s (a slice goes to its base map, named after the slice for errors). */
static void set_elem_op(struct nft_diff *d, enum nft_phase ph, const struct nft_set *s,
			const struct nft_elem *e)
{
	nft_diff_op(d, ph, (struct nft_op){ .in = s, .elem = e });
	if (ph != PH_DEL_ELEMS)
		d->elems_added++;
	else
		d->elems_deleted++;
}

void nft_mirror_init(struct nft_mirror *m)
{
	*m = (struct nft_mirror){ 0 };
	strmap_init(&m->frags);
	strmap_init(&m->by_id);
	strmap_init(&m->shared);
}

static void shared_key_free(struct nft_shared_key *k)
{
	free(k->v);
	free(k);
}

/* A shared set without values (@hairpin): a key is claimed or not, nothing to choose between. */
static bool plain_set(uint8_t set)
{
	enum nft_set_kind kind = nft_shared_kind((enum nft_shared)set);

	return kind != NS_SVC_VMAP && kind != NS_PORT_VMAP;
}

void nft_mirror_done(struct nft_mirror *m)
{
	for (size_t i = 0; i < m->frags.cap; i++) {
		struct nft_frag *f = m->frags.slots[i].value;

		if (m->frags.slots[i].key) {
			nft_frag_done(f);
			free(f);
		}
	}
	for (size_t i = 0; i < m->by_id.cap; i++)
		free((char *)m->by_id.slots[i].key);
	for (size_t i = 0; i < m->shared.cap; i++) {
		struct nft_shared_key *k = m->shared.slots[i].value;

		if (m->shared.slots[i].key)
			shared_key_free(k);
	}
	free(m->ids);
	strmap_done(&m->frags);
	strmap_done(&m->by_id);
	strmap_done(&m->shared);
}

/* The port view id as a map key: 16 hex digits (every sync looks up every port view). */
static void id_key(uint64_t id, char buf[24])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, id >>= 4)
		buf[i] = hex[id & 15];
	buf[16] = '\0';
}

struct nft_frag *nft_mirror_by_id(const struct nft_mirror *m, uint64_t id)
{
	char k[24];

	id_key(id, k);
	return strmap_get(&m->by_id, k);
}

void nft_diff_init(struct nft_diff *d, struct nft_mirror *m)
{
	*d = (struct nft_diff){ 0 };
	for (int i = 0; i < SH_N; i++) {
		d->kernel_shared[i].kind = (uint8_t)nft_shared_kind((enum nft_shared)i);
		snprintf(d->kernel_shared[i].name, sizeof(d->kernel_shared[i].name), "%s",
			 nft_shared_names[i]);
	}
	m->gen++;
}

/* ---- chains ---- */

static const struct nft_chain *chain_in(const struct nft_frag *f, const char *name)
{
	for (size_t i = 0; f && i < f->n_chains; i++)
		if (streq(f->chains[i].name, name))
			return &f->chains[i];
	return NULL;
}

static const struct nft_set *set_in(const struct nft_frag *f, const char *name)
{
	for (size_t i = 0; f && i < f->n_sets; i++)
		if (streq(f->sets[i].name, name))
			return &f->sets[i];
	return NULL;
}

/*
 * The same lookups, trying position i first: a fragment planned again has
 * its chains and sets in the same order, so the base's 300-odd sets are
 * matched in one pass instead of a walk per set, on every sync.
 */
static const struct nft_chain *chain_at(const struct nft_frag *f, size_t i, const char *name)
{
	if (f && i < f->n_chains && streq(f->chains[i].name, name))
		return &f->chains[i];
	return chain_in(f, name);
}

static const struct nft_set *set_at(const struct nft_frag *f, size_t i, const char *name)
{
	if (f && i < f->n_sets && streq(f->sets[i].name, name))
		return &f->sets[i];
	return set_in(f, name);
}

static void write_rules(struct nft_diff *d, const struct nft_chain *c)
{
	for (size_t k = 0; k < c->n_rules; k++)
		nft_diff_op(d, PH_ADD_RULES, (struct nft_op){ .name = c->name, .rule = &c->rules[k] });
	d->chains_written++;
}

static void diff_chains(struct nft_diff *d, const struct nft_frag *old, const struct nft_frag *nf,
			bool rewrite_all)
{
	for (size_t i = 0; nf && i < nf->n_chains; i++) {
		const struct nft_chain *c = &nf->chains[i], *o = chain_at(old, i, c->name);

		if (!o) {
			nft_diff_op(d, PH_ADD_CHAINS, (struct nft_op){ .name = c->name, .chain = c });
			write_rules(d, c);
		} else if (o->hash != c->hash || rewrite_all) {
			nft_diff_op(d, PH_FLUSH_CHAINS, (struct nft_op){ .name = c->name });
			write_rules(d, c);
		}
	}
	for (size_t i = 0; old && i < old->n_chains; i++) {
		if (chain_at(nf, i, old->chains[i].name))
			continue;
		nft_diff_op(d, PH_FLUSH_CHAINS, (struct nft_op){ .name = old->chains[i].name });
		nft_diff_op(d, PH_DEL_CHAINS, (struct nft_op){ .name = old->chains[i].name });
	}
}

/* ---- sets ---- */

static int elem_key_cmp(const void *a, const void *b)
{
	const struct nft_elem *x = *(const struct nft_elem *const *)a;
	const struct nft_elem *y = *(const struct nft_elem *const *)b;

	return memcmp(x->key, y->key, NFT_KEY_MAX);
}

static const struct nft_elem **sorted(const struct nft_set *s)
{
	const struct nft_elem **v = xmalloc((s->n_elems + 1) * sizeof(*v));

	for (size_t i = 0; i < s->n_elems; i++)
		v[i] = &s->elems[i];
	qsort(v, s->n_elems, sizeof(*v), elem_key_cmp);
	return v;
}

static bool same_value(const struct nft_elem *a, const struct nft_elem *b)
{
	return a->verdict == b->verdict && !memcmp(a->chain, b->chain, sizeof(a->chain));
}

/* Element by element: deleted, added, or both when a key's data changed. */
static void diff_elems(struct nft_diff *d, const struct nft_set *o, const struct nft_set *s)
{
	const struct nft_elem **a = sorted(o), **b = sorted(s);
	size_t i = 0, k = 0;

	while (i < o->n_elems || k < s->n_elems) {
		int c = i == o->n_elems ? 1 : k == s->n_elems ? -1 : elem_key_cmp(&a[i], &b[k]);

		if (c < 0) {
			set_elem_op(d, PH_DEL_ELEMS, s, a[i++]);
		} else if (c > 0) {
			set_elem_op(d, PH_ADD_ELEMS, s, b[k++]);
		} else {
			if (!same_value(a[i], b[k])) {
				set_elem_op(d, PH_DEL_ELEMS, s, a[i]);
				set_elem_op(d, PH_ADD_ELEMS, s, b[k]);
			}
			i++;
			k++;
		}
	}
	free(a);
	free(b);
}

/*
 * Random picks do not care which slot holds which endpoint: endpoints that
 * stay keep their slots, and new ones take the slots that were freed, so a
 * one-endpoint change is one element, not a reshuffle of every slot.
 * Rewrites s's elements to that assignment (s is the new fragment's).
 */
static void keep_slots(const struct nft_set *o, struct nft_set *s)
{
	size_t n = s->n_elems, f = 0, at = s->slot_off ? s->slot_off : 8;
	struct nft_elem *want = xmalloc((n + 1) * sizeof(*want));
	bool *taken = xcalloc(n + 1, sizeof(*taken)), *placed = xcalloc(n + 1, sizeof(*placed));

	memcpy(want, s->elems, n * sizeof(*want));
	/* Old slots that stay (below the new count) keep their endpoint if it is still wanted. */
	for (size_t i = 0; i < o->n_elems; i++) {
		uint32_t slot;

		memcpy(&slot, o->elems[i].key + at, 4); /* the key: id (or address . protocol . port) . slot */
		if (slot >= n)
			continue;
		for (size_t k = 0; k < n; k++) {
			if (taken[k] || !same_value(&want[k], &o->elems[i]))
				continue;
			taken[k] = true;
			placed[slot] = true;
			s->elems[slot] = o->elems[i];
			break;
		}
	}
	/* The endpoints still to place go to the free slots, in order. */
	for (size_t k = 0; k < n; k++) {
		if (taken[k])
			continue;
		while (placed[f])
			f++;
		s->elems[f] = want[k];
		memcpy(s->elems[f].key + at, &(uint32_t){ (uint32_t)f }, 4);
		placed[f++] = true;
	}
	free(want);
	free(taken);
	free(placed);
}

void nft_diff_add_set(struct nft_diff *d, const struct nft_set *s)
{
	if (!s->in_map[0])
		nft_diff_op(d, PH_ADD_SETS, (struct nft_op){ .name = s->name, .set = s });
	for (size_t k = 0; k < s->n_elems; k++)
		set_elem_op(d, PH_ADD_ELEMS, s, &s->elems[k]);
}

/* A set that goes: deleted, or a slice's elements deleted from its base map. */
static void del_set(struct nft_diff *d, const struct nft_set *o)
{
	if (!o->in_map[0]) {
		nft_diff_op(d, PH_DEL_SETS, (struct nft_op){ .name = o->name });
		return;
	}
	for (size_t k = 0; k < o->n_elems; k++)
		set_elem_op(d, PH_DEL_ELEMS, o, &o->elems[k]);
}

/* Returns whether a set was redefined (deleted and added): its rules must be written again. */
static bool diff_sets(struct nft_diff *d, const struct nft_frag *old, struct nft_frag *nf)
{
	bool redefined = false;

	for (size_t i = 0; nf && i < nf->n_sets; i++) {
		struct nft_set *s = &nf->sets[i];
		const struct nft_set *o = set_at(old, i, s->name);

		if (o && (o->kind != s->kind || o->timeout_s != s->timeout_s ||
			  !streq(o->in_map, s->in_map))) {
			del_set(d, o);
			redefined = !o->in_map[0];
			o = NULL;
		}
		if (!o) {
			nft_diff_add_set(d, s);
			continue;
		}
		nft_diff_set_elems(d, o, s);
	}
	for (size_t i = 0; old && i < old->n_sets; i++)
		if (!set_at(nf, i, old->sets[i].name))
			del_set(d, &old->sets[i]);
	return redefined;
}

/* ---- shared maps: claims ---- */

static void claim(struct nft_diff *d, struct nft_mirror *m, const struct nft_shared_elem *se,
		  int delta)
{
	size_t kl = sizeof(se->e.key);
	char key[4 + 2 * sizeof(se->e.key) + 1];
	struct nft_shared_key *k;
	struct nft_claim *c = NULL;
	static const char hex[] = "0123456789abcdef";
	size_t n;

	/*
	 * By hand, not snprintf: a full sync makes a key per hairpin element
	 * (one per endpoint).  Trailing zero bytes left out (keys are
	 * zero-padded to NFT_KEY_MAX: still one string per key).
	 */
	while (kl && !se->e.key[kl - 1])
		kl--;
	n = (size_t)snprintf(key, 5, "%u/", se->set);
	for (size_t i = 0; i < kl; i++) {
		key[n++] = hex[se->e.key[i] >> 4];
		key[n++] = hex[se->e.key[i] & 15];
	}
	key[n] = '\0';
	k = strmap_get(&m->shared, key);
	if (!k) {
		k = xmalloc(sizeof(*k) + n + 1);
		*k = (struct nft_shared_key){ .set = se->set };
		memcpy(k->mkey, key, n + 1);
		strmap_put(&m->shared, k->mkey, k);
	}
	if (!k->touched) {
		k->touched = true;
		VEC_PUSH(d->touched, d->n_touched, d->cap_touched, k);
	}
	if (plain_set(k->set)) {
		k->delta += delta;
		k->e = &se->e; /* the same key whoever claims it: any claimant's element will do */
		return;
	}
	for (size_t i = 0; i < k->n && !c; i++)
		if (same_value(&k->v[i].e, &se->e))
			c = &k->v[i];
	if (!c) {
		/* One claim at a time: almost every key has one (xgrow would make room for 4). */
		if (k->n == k->cap)
			k->v = xrealloc(k->v, ++k->cap * sizeof(*k->v));
		c = &k->v[k->n++];
		*c = (struct nft_claim){ .e = se->e };
	}
	c->delta += delta;
}

static void claim_all(struct nft_diff *d, struct nft_mirror *m, const struct nft_frag *f, int delta)
{
	for (size_t i = 0; f && i < f->n_shared; i++)
		claim(d, m, &f->shared[i], delta);
}

/* The first claim with a count wins the key; an element moves when the winner changes. */
void nft_diff_shared(struct nft_diff *d, struct nft_mirror *m)
{
	for (size_t t = 0; t < d->n_touched; t++) {
		struct nft_shared_key *k = d->touched[t];
		const struct nft_claim *before = NULL, *after = NULL;
		const struct nft_set *set = &d->kernel_shared[k->set];

		if (plain_set(k->set)) {
			bool was = k->count > 0, is = (int64_t)k->count + k->delta > 0;

			if (was != is)
				set_elem_op(d, was ? PH_DEL_ELEMS : PH_ADD_ELEMS, set, k->e);
			continue;
		}
		for (size_t i = 0; i < k->n; i++) {
			if (!before && k->v[i].count > 0)
				before = &k->v[i];
			if (!after && (int64_t)k->v[i].count + k->v[i].delta > 0)
				after = &k->v[i];
		}
		if (before == after)
			continue;
		if (before)
			set_elem_op(d, PH_DEL_ELEMS, set, &before->e);
		if (after)
			set_elem_op(d, PH_ADD_ELEMS, set, &after->e);
	}
}

/* ---- fragments ---- */

void nft_diff_set_elems(struct nft_diff *d, const struct nft_set *o, struct nft_set *s)
{
	if (s->slots_free)
		keep_slots(o, s);
	if (s->kind != NS_AFFINITY) /* the kernel fills those */
		diff_elems(d, o, s);
}

const struct nft_elem *nft_shared_winner(const struct nft_shared_key *k)
{
	if (plain_set(k->set))
		return (int64_t)k->count + k->delta > 0 ? k->e : NULL;
	for (size_t i = 0; i < k->n; i++)
		if ((int64_t)k->v[i].count + k->v[i].delta > 0)
			return &k->v[i].e;
	return NULL;
}

bool nft_shared_applied(const struct nft_shared_key *k, struct nft_elem *ret)
{
	const char *h = strchr(k->mkey, '/') + 1;

	if (!plain_set(k->set)) {
		for (size_t i = 0; i < k->n; i++) {
			if (k->v[i].count > 0) {
				*ret = k->v[i].e;
				return true;
			}
		}
		return false;
	}
	/* A plain set's element is its key, which the map key spells in hex. */
	*ret = (struct nft_elem){ 0 };
	for (size_t i = 0; h[2 * i] && h[2 * i + 1] && i < sizeof(ret->key); i++) {
		char byte[3] = { h[2 * i], h[2 * i + 1], '\0' };

		ret->key[i] = (uint8_t)strtoul(byte, NULL, 16);
	}
	return k->count > 0;
}

static void diff_pair(struct nft_diff *d, struct nft_mirror *m, const struct nft_frag *old,
		      struct nft_frag *nf)
{
	bool redefined = diff_sets(d, old, nf);

	diff_chains(d, old, nf, redefined);
	claim_all(d, m, old, -1);
	claim_all(d, m, nf, +1);
}

void nft_diff_frag(struct nft_diff *d, struct nft_mirror *m, struct nft_frag *nf)
{
	struct nft_frag *old;

	if (!nf->key) {
		nft_frag_done(nf);
		free(nf);
		return;
	}
	old = strmap_get(&m->frags, nf->key);
	if (old)
		old->seen = m->gen; /* replaced on commit, not gone */
	diff_pair(d, m, old, nf);
	VEC_PUSH(d->fresh, d->n_fresh, d->cap_fresh, nf);
}

void nft_diff_gone(struct nft_diff *d, struct nft_mirror *m, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct nft_frag *f = nft_mirror_by_id(m, ids[i]);

		if (!f || f->seen == m->gen)
			continue; /* nothing was programmed for it, or it was replaced */
		f->seen = m->gen;
		diff_pair(d, m, f, NULL);
		VEC_PUSH(d->gone, d->n_gone, d->cap_gone, f);
	}
}

/* ---- the end of a sync ---- */

static void settle_claims(struct nft_diff *d, struct nft_mirror *m, bool applied)
{
	for (size_t t = 0; t < d->n_touched; t++) {
		struct nft_shared_key *k = d->touched[t];
		size_t n = 0;

		k->touched = false;
		if (plain_set(k->set)) {
			if (applied)
				k->count = (uint32_t)((int64_t)k->count + k->delta);
			k->delta = 0;
			k->e = NULL; /* the fragments it points into may go with the commit */
			continue;
		}
		for (size_t i = 0; i < k->n; i++) {
			if (applied)
				k->v[i].count = (uint32_t)((int64_t)k->v[i].count + k->v[i].delta);
			k->v[i].delta = 0;
			if (k->v[i].count)
				k->v[n++] = k->v[i];
		}
		k->n = n;
	}
	/* Keys nobody claims any more leave the map. */
	for (size_t t = 0; t < d->n_touched; t++) {
		struct nft_shared_key *k = d->touched[t];

		if (plain_set(k->set) ? k->count : k->n)
			continue;
		strmap_del(&m->shared, k->mkey, NULL);
		shared_key_free(k);
	}
	d->n_touched = 0;
}

static void forget(struct nft_mirror *m, struct nft_frag *f)
{
	char k[24];
	const char *stored = NULL;

	id_key(f->view_id, k);
	if (strmap_get(&m->by_id, k) == f) {
		strmap_del(&m->by_id, k, &stored);
		free((char *)stored);
	}
	strmap_del(&m->frags, f->key, NULL);
	m->n_rules -= f->n_rules;
	m->n_chains -= f->n_chains;
	nft_frag_done(f);
	free(f);
}

void nft_diff_commit(struct nft_diff *d, struct nft_mirror *m)
{
	char k[24];

	for (size_t i = 0; i < d->n_gone; i++)
		forget(m, (struct nft_frag *)d->gone[i]);
	d->n_gone = 0;
	for (size_t i = 0; i < d->n_fresh; i++) {
		struct nft_frag *nf = d->fresh[i], *old = strmap_get(&m->frags, nf->key);

		if (old)
			forget(m, old);
		strmap_put(&m->frags, nf->key, nf);
		m->n_rules += nf->n_rules;
		m->n_chains += nf->n_chains;
		if (streq(nf->key, "base"))
			continue; /* planned again every sync */
		id_key(nf->view_id, k);
		strmap_put(&m->by_id, xstrdup(k), nf);
	}
	d->n_fresh = 0;
	settle_claims(d, m, true);
	if (d->ids) {
		free(m->ids);
		m->ids = d->ids;
		m->n_ids = d->n_ids;
		d->ids = NULL;
	}
	m->view_gen = d->view_gen;
	m->view_next_id = d->view_next_id;
	m->applied = true;
}

void nft_diff_done(struct nft_diff *d, struct nft_mirror *m)
{
	for (size_t i = 0; i < d->n_fresh; i++) {
		nft_frag_done(d->fresh[i]);
		free(d->fresh[i]);
	}
	settle_claims(d, m, false);
	for (int p = 0; p < PH_N; p++)
		free(d->ch.ops[p]);
	for (int i = 0; i < SH_N; i++)
		free(d->kernel_shared[i].elems);
	for (size_t i = 0; i < ARRAY_SIZE(d->kernel_slots); i++)
		free(d->kernel_slots[i].elems);
	free(d->fresh);
	free(d->gone);
	free(d->ids);
	free(d->touched);
	*d = (struct nft_diff){ 0 };
}
