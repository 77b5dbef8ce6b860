/* SPDX-License-Identifier: Apache-2.0 */
/* Open-addressing (linear probing) string map; see strmap.h. */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

/* FNV-1a, 64 bit: cheap and good enough for object names. */
uint64_t strmap_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
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
