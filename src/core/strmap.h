/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A string-keyed open-addressing hash map.  Keys are borrowed: they must
 * outlive the map (they point into the objects the map indexes).  Values are
 * borrowed pointers.  Used for object indexes (ns/name -> object).
 */
#ifndef KROUTE_CORE_STRMAP_H
#define KROUTE_CORE_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
	const char *key;
	void *value;
	uint64_t hash;
};

struct strmap {
	struct strmap_slot *slots;
	size_t cap; /* power of two, or 0 */
	size_t n;
};

uint64_t strmap_hash(const char *s);
void strmap_init(struct strmap *m);
void strmap_done(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. */
void *strmap_put(struct strmap *m, const char *key, void *value);
/* Removes key; returns its value (NULL when absent) and, in *ret_key, the key stored (to free). */
void *strmap_del(struct strmap *m, const char *key, const char **ret_key);

#endif
