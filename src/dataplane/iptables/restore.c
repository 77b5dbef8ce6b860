/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables-restore input of one sync, table by table: the shared chains
 * (assembled from the fragments), the own chains of the fragments rendered
 * now, and the stale per-service chains to flush and delete.  A chain the
 * mirror says is applied with the same rules is left out, so a partial sync
 * sends only what changed.  Each table is
 *
 *	*table
 *	:CHAIN - [0:0]        every chain written or deleted (creates or flushes it)
 *	-A CHAIN ...          the rules of the written chains
 *	-X CHAIN              the deleted chains, once nothing refers to them
 *	COMMIT
 *
 * and a table with nothing to change is left out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/iptables/apply.h"

/* Whether chain `name` of table must be written: a full sync, or the mirror has other rules. */
static bool chain_changed(const struct family_state *fs, bool full, const char *table,
			  const char *name, uint64_t hash)
{
	char key[8 + IPT_CHAIN_NAME_MAX];

	snprintf(key, sizeof(key), "%s/%s", table, name);
	return full || (uint64_t)(uintptr_t)strmap_get(&fs->mirror, key) != hash;
}

static void declare(struct restore_input *in, const char *name)
{
	sbuf_addc(&in->out, ':');
	sbuf_adds(&in->out, name);
	SBUF_ADDL(&in->out, " - [0:0]\n");
}

/* Writes chain `name` of table (declaration, rules) unless the mirror says it is applied already. */
static void write_chain(struct restore_input *in, const struct family_state *fs, bool full,
			const char *table, const char *name, const struct sbuf *rules,
			uint64_t hash)
{
	if (!chain_changed(fs, full, table, name, hash))
		return;
	declare(in, name);
	if (rules->len)
		sbuf_add(&in->rules, rules->p, rules->len);
	VEC_PUSH(in->pend, in->n_pend, in->cap_pend,
		 ((struct pending){ xasprintf("%s/%s", table, name), hash }));
}

/* Flushes and deletes a chain kroute no longer renders. */
static void delete_chain(struct restore_input *in, const char *table, const char *name)
{
	declare(in, name);
	SBUF_ADDL(&in->tail, "-X ");
	sbuf_adds(&in->tail, name);
	sbuf_addc(&in->tail, '\n');
	VEC_PUSH(in->pend, in->n_pend, in->cap_pend,
		 ((struct pending){ xasprintf("%s/%s", table, name), 0 }));
}

void restore_input_done(struct restore_input *in)
{
	sbuf_free(&in->out);
	sbuf_free(&in->rules);
	sbuf_free(&in->tail);
	for (size_t i = 0; i < in->n_pend; i++)
		free(in->pend[i].key);
	free(in->pend);
	*in = (struct restore_input){ 0 };
}

/* Shared chains: every fragment's rules in view order, then the fixed ones. */
static void write_shared_chains(const struct family_state *fs, struct sync_run *s,
				enum ipt_table t)
{
	const char *table = ipt_table_name(t);
	struct sbuf shared = { 0 };

	for (size_t i = 0; i < s->base.n; i++) {
		uint64_t h;

		if (s->base.chains[i].table != t)
			continue;
		h = ipt_shared_hash(&s->base, i, fs->list, s->n_list);
		shared.len = 0;
		if (chain_changed(fs, s->full, table, s->base.chains[i].name, h))
			ipt_shared_rules(&s->base, i, fs->list, s->n_list, &shared);
		write_chain(&s->in, fs, s->full, table, s->base.chains[i].name, &shared, h);
		s->n_chains++;
	}
	sbuf_free(&shared);
}

/* Own chains of the fragments rendered now; cached ones are applied as they are. */
static void write_own_chains(const struct family_state *fs, struct sync_run *s,
			     enum ipt_table t)
{
	const char *table = ipt_table_name(t);

	for (size_t k = 0; k < s->n_list; k++) {
		const struct ipt_frag *f = fs->list[k];

		if (t == IPT_TABLE_NAT)
			s->n_chains += f->n_own;
		if (!fs->fresh[k] && !s->full)
			continue;
		for (size_t c = 0; c < f->n_own; c++)
			if (f->own[c].table == t)
				write_chain(&s->in, fs, s->full, table, f->own[c].name,
					    &f->own[c].rules, f->own[c].hash);
	}
}

static void delete_once(struct sync_run *s, struct strmap *seen, const char *name)
{
	if (strmap_get(&s->current, name) || strmap_get(seen, name))
		return;
	strmap_put(seen, name, (void *)1);
	delete_chain(&s->in, "nat", name);
}

/*
 * Full sync: everything rendered now is current; any per-service chain the
 * mirror or the kernel has besides is stale (an earlier run's, or a
 * failed sync's).
 */
static void delete_unrendered_chains(const struct family_state *fs, struct sync_run *s,
				     struct strmap *seen)
{
	for (size_t k = 0; k < s->n_list; k++)
		for (size_t c = 0; c < fs->list[k]->n_own; c++)
			strmap_put(&s->current, fs->list[k]->own[c].name, fs->list[k]);
	for (size_t i = 0; i < fs->mirror.cap; i++) {
		const char *key = fs->mirror.slots[i].key;

		if (key && !strncmp(key, "nat/", 4) && ipt_is_service_chain(key + 4))
			delete_once(s, seen, key + 4);
	}
	for (size_t i = 0; i < s->kernel.cap; i++)
		if (s->kernel.slots[i].key)
			delete_once(s, seen, s->kernel.slots[i].key);
}

/* Partial sync: the own chains of cached fragments this view no longer has. */
static void delete_gone_chains(const struct family_state *fs, struct sync_run *s,
			       struct strmap *seen)
{
	for (size_t i = 0; i < fs->frags.cap; i++) {
		const struct ipt_frag *g = fs->frags.slots[i].value;

		if (!fs->frags.slots[i].key || g->seen == fs->gen)
			continue; /* in this view */
		for (size_t c = 0; c < g->n_own; c++)
			if (g->own[c].table == IPT_TABLE_NAT)
				delete_once(s, seen, g->own[c].name);
	}
}

/*
 * Stale per-service chains: those of port views that are gone or rebuilt
 * (and not rendered again under the same name) and, on a full sync, any
 * the mirror or the kernel has that nothing renders.  They are flushed in
 * the declarations and deleted after the rules that referenced them are
 * replaced.
 */
static void delete_stale_chains(const struct family_state *fs, struct sync_run *s)
{
	struct strmap seen;

	strmap_init(&seen);
	if (s->full)
		delete_unrendered_chains(fs, s, &seen);
	else
		delete_gone_chains(fs, s, &seen);
	strmap_done(&seen);
}

void restore_input_build(const struct family_state *fs, struct sync_run *s)
{
	struct restore_input *in = &s->in;

	for (int t = 0; t < IPT_N_TABLES; t++) {
		const char *table = ipt_table_name((enum ipt_table)t);
		size_t start = in->out.len, header;

		sbuf_addc(&in->out, '*');
		sbuf_adds(&in->out, table);
		sbuf_addc(&in->out, '\n');
		header = in->out.len;
		in->rules.len = in->tail.len = 0;
		write_shared_chains(fs, s, (enum ipt_table)t);
		write_own_chains(fs, s, (enum ipt_table)t);
		if (t == IPT_TABLE_NAT)
			delete_stale_chains(fs, s);
		if (in->out.len == header) {
			in->out.len = start; /* nothing to change in this table */
			continue;
		}
		if (in->rules.len)
			sbuf_add(&in->out, in->rules.p, in->rules.len);
		if (in->tail.len)
			sbuf_add(&in->out, in->tail.p, in->tail.len);
		SBUF_ADDL(&in->out, "COMMIT\n");
	}
}
