/* SPDX-License-Identifier: Apache-2.0 */
/* Open-addressing (linear probing) string map; see strmap.h. */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* FNV-1a, 64 bit: cheap and good enough for object names. */
uint64_t strmap_hash(const char *s)
{
	return fnv1a_update(FNV1A_OFFSET, s, strlen(s));
}

void strmap_init(struct strmap *m)
{
	*m = (struct strmap){ 0 };
}

void strmap_done(struct strmap *m)
{
	free(m->slots);
	*m = (struct strmap){ 0 };
}

static struct strmap_slot *find(const struct strmap *m, const char *key, uint64_t h)
{
	size_t mask = m->cap - 1;

	for (size_t i = h & mask;; i = (i + 1) & mask) {
		struct strmap_slot *s = &m->slots[i];

		if (!s->key || (s->hash == h && streq(s->key, key)))
			return s;
	}
}

void *strmap_get(const struct strmap *m, const char *key)
{
	struct strmap_slot *s;

	if (!m->cap)
		return NULL;
	s = find(m, key, strmap_hash(key));
	return s->key ? s->value : NULL;
}

static void grow(struct strmap *m)
{
	struct strmap old = *m;

	m->cap = old.cap ? old.cap * 2 : 16;
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++) {
		if (old.slots[i].key) {
			*find(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
			m->n++;
		}
	}
	free(old.slots);
}

void *strmap_put(struct strmap *m, const char *key, void *value)
{
	uint64_t h = strmap_hash(key);
	struct strmap_slot *s;
	void *prev;

	if ((m->n + 1) * 4 > m->cap * 3)
		grow(m);
	s = find(m, key, h);
	if (s->key) {
		prev = s->value;
		s->value = value;
		return prev;
	}
	*s = (struct strmap_slot){ .key = key, .value = value, .hash = h };
	m->n++;
	return NULL;
}

void *strmap_del(struct strmap *m, const char *key, const char **ret_key)
{
	struct strmap_slot *s;
	size_t mask, hole;
	void *value;

	if (ret_key)
		*ret_key = NULL;
	if (!m->cap)
		return NULL;
	s = find(m, key, strmap_hash(key));
	if (!s->key)
		return NULL;
	value = s->value;
	if (ret_key)
		*ret_key = s->key;
	/*
	 * Backward-shift deletion keeps linear probing's invariant (no empty
	 * slot between an entry's home and its slot) without tombstones.
	 */
	mask = m->cap - 1;
	hole = (size_t)(s - m->slots);
	for (size_t j = (hole + 1) & mask; m->slots[j].key; j = (j + 1) & mask) {
		size_t home = m->slots[j].hash & mask;
		bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);

		if (!stays) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole] = (struct strmap_slot){ 0 };
	m->n--;
	return value;
}
