/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Small helpers every module uses: checked allocation, growable arrays and
 * string helpers.  Out-of-memory is the one condition kroute does not try to
 * survive: every allocation goes through xmalloc() and friends, which abort
 * with a message, so callers never carry a half-built object around.
 */
#ifndef KROUTE_CORE_UTIL_H
#define KROUTE_CORE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* Grows *p to hold at least want elements of elem bytes, doubling. */
void *xgrow(void *p, size_t *cap, size_t want, size_t elem);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Appends one element to a (ptr, n, cap) array triple. */
#define VEC_PUSH(ptr, n, cap, val)                                              \
	do {                                                                    \
		(ptr) = xgrow((ptr), &(cap), (n) + 1, sizeof(*(ptr)));          \
		(ptr)[(n)++] = (val);                                           \
	} while (0)

static inline bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static inline bool streq_null(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

/* Frees an array of n owned strings and the array itself. */
void strv_free(char **v, size_t n);

/* How many of the n bytes at p equal c (eight at a time: lines of a large file). */
size_t memcount(const void *p, size_t n, unsigned char c);

/* CLOCK_MONOTONIC in ns: durations, deadlines, rate limits. */
uint64_t mono_ns(void);

/* FNV-1a, 64 bit, streamable: the hash of a concatenation is the updates in order. */
#define FNV1A_OFFSET 0xcbf29ce484222325ull
static inline uint64_t fnv1a_update(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#endif
