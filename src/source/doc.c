/* SPDX-License-Identifier: Apache-2.0 */
/* The document tree shared by the YAML and JSON readers; see doc.h. */
#include "source/doc.h"

#include <errno.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include "core/util.h"

const struct doc_limits doc_default_limits = {
	.max_depth = 64,
	.max_weight = 1000000,
	.max_file_size = 512u << 20,
	.max_objects = 2000000,
};

struct doc *doc_new(enum doc_type type, int line)
{
	struct doc *d = xcalloc(1, sizeof(*d));

	d->type = type;
	d->line = line;
	d->refs = 1;
	d->weight = 1;
	return d;
}

void doc_unref(struct doc *d)
{
	if (!d || d->pooled || --d->refs > 0)
		return;
	for (size_t i = 0; i < d->n; i++) {
		doc_unref(d->v[i]);
		if (d->keys)
			free(d->keys[i]);
	}
	free(d->v);
	free(d->keys);
	free(d->text);
	free(d);
}

void doc_append(struct doc *parent, const char *key, struct doc *child)
{
	doc_append_owned(parent, key ? xstrdup(key) : NULL, child);
}

void doc_append_owned(struct doc *parent, char *key, struct doc *child)
{
	size_t cap = parent->cap;

	parent->v = xgrow(parent->v, &parent->cap, parent->n + 1, sizeof(*parent->v));
	if (parent->type == DOC_MAP) {
		size_t kcap = cap;

		parent->keys = xgrow(parent->keys, &kcap, parent->n + 1, sizeof(*parent->keys));
		parent->keys[parent->n] = key;
	}
	parent->v[parent->n++] = child;
	parent->weight += child->weight;
}

/* Chunks of 256 KiB: a typical object (an EndpointSlice of 100 endpoints) fits in one. */
#define ARENA_CHUNK (256u << 10)

struct doc_arena_chunk {
	struct doc_arena_chunk *next;
	size_t size;            /* bytes after the header */
	max_align_t data[];
};

void doc_arena_init(struct doc_arena *a)
{
	*a = (struct doc_arena){ 0 };
}

static void arena_use(struct doc_arena *a, struct doc_arena_chunk *c)
{
	a->cur = (char *)c->data;
	a->end = a->cur + c->size;
}

void doc_arena_reset(struct doc_arena *a)
{
	struct doc_arena_chunk *c = a->chunks;

	if (!c)
		return;
	/* Keep the first (oldest) chunk: the next object most likely fits it again. */
	while (c->next) {
		struct doc_arena_chunk *next = c->next;

		free(c);
		c = next;
	}
	a->chunks = c;
	arena_use(a, c);
}

void doc_arena_done(struct doc_arena *a)
{
	doc_arena_reset(a);
	free(a->chunks);
	doc_arena_init(a);
}

void *doc_arena_alloc(struct doc_arena *a, size_t size)
{
	struct doc_arena_chunk *c;
	void *p;

	size = (size + 7) & ~(size_t)7;
	if ((size_t)(a->end - a->cur) < size) {
		size_t csize = size > ARENA_CHUNK ? size : ARENA_CHUNK;

		c = xmalloc(sizeof(*c) + csize);
		c->size = csize;
		c->next = a->chunks;
		a->chunks = c;
		arena_use(a, c);
	}
	p = a->cur;
	a->cur += size;
	return p;
}

char *doc_arena_strndup(struct doc_arena *a, const char *s, size_t len)
{
	char *p = doc_arena_alloc(a, len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

struct doc *doc_arena_new(struct doc_arena *a, enum doc_type type, int line)
{
	struct doc *d = doc_arena_alloc(a, sizeof(*d));

	*d = (struct doc){ .type = type, .line = line, .refs = 1, .weight = 1, .pooled = true };
	return d;
}

void doc_arena_append(struct doc_arena *a, struct doc *parent, char *key, struct doc *child)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 4;
		struct doc **v = doc_arena_alloc(a, cap * sizeof(*v));

		/* The old arrays stay in the arena until its reset: at most as much again. */
		if (parent->n)
			memcpy(v, parent->v, parent->n * sizeof(*v));
		parent->v = v;
		if (parent->type == DOC_MAP) {
			char **keys = doc_arena_alloc(a, cap * sizeof(*keys));

			if (parent->n)
				memcpy(keys, parent->keys, parent->n * sizeof(*keys));
			parent->keys = keys;
		}
		parent->cap = cap;
	}
	if (parent->type == DOC_MAP)
		parent->keys[parent->n] = key;
	parent->v[parent->n++] = child;
	parent->weight += child->weight;
}

const struct doc *doc_get(const struct doc *map, const char *key)
{
	if (!map || map->type != DOC_MAP)
		return NULL;
	/* The first byte first: most keys of a mapping differ there (a hot path when decoding). */
	for (size_t i = 0; i < map->n; i++)
		if (map->keys[i][0] == key[0] && streq(map->keys[i], key))
			return map->v[i];
	return NULL;
}

const char *doc_type_name(enum doc_type t)
{
	switch (t) {
	case DOC_NULL:
		return "null";
	case DOC_BOOL:
		return "boolean";
	case DOC_INT:
		return "integer";
	case DOC_FLOAT:
		return "number";
	case DOC_STR:
		return "string";
	case DOC_MAP:
		return "mapping";
	case DOC_SEQ:
		return "list";
	}
	return "?";
}

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (streq(s, *list))
			return true;
	return false;
}

/* Integer forms of YAML 1.1: decimal, 0x hex, 0o / leading-0 octal, 0b binary, '_' separators. */
static bool parse_yaml_int(const char *s, long long *ret)
{
	char digits[80];
	size_t n = 0;
	bool neg = false;
	int base = 10;
	unsigned long long v = 0;
	const char *p = s;

	if (*p == '-' || *p == '+')
		neg = (*p++ == '-');
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2;
	else if (p[0] == '0' && p[1] == 'o')
		base = 8, p += 2;
	else if (p[0] == '0' && p[1])
		base = 8, p += 1;
	for (; *p; p++) {
		if (*p == '_')
			continue;
		if (n + 1 >= sizeof(digits))
			return false;
		digits[n++] = *p;
	}
	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int dv;
		char c = digits[i];

		if (c >= '0' && c <= '9')
			dv = c - '0';
		else if (c >= 'a' && c <= 'f')
			dv = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			dv = c - 'A' + 10;
		else
			return false;
		if (dv >= base)
			return false;
		if (v > (ULLONG_MAX - (unsigned)dv) / (unsigned)base)
			return false; /* out of range: treated as a non-integer */
		v = v * base + dv;
	}
	if (v > (unsigned long long)INT64_MAX)
		return false;
	*ret = neg ? -(long long)v : (long long)v;
	return true;
}

static bool is_yaml_float(const char *s)
{
	static const char *const special[] = { ".inf", ".Inf", ".INF", "+.inf", "-.inf",
					       "+.Inf", "-.Inf", ".nan", ".NaN", ".NAN",
					       NULL };
	const char *p = s;
	bool digits = false;

	/* Each special starts with '.', '+' or '-' and has at most 5 bytes (addresses do not). */
	if ((*s == '.' || *s == '+' || *s == '-') && strnlen(s, 6) <= 5 && in_list(s, special))
		return true;
	if (*p == '-' || *p == '+')
		p++;
	while ((*p >= '0' && *p <= '9') || *p == '_')
		digits = true, p++;
	if (*p == '.') {
		p++;
		while ((*p >= '0' && *p <= '9') || *p == '_')
			digits = true, p++;
	}
	if (!digits)
		return false;
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '-' || *p == '+')
			p++;
		if (!(*p >= '0' && *p <= '9'))
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == '\0';
}

void doc_resolve_plain(struct doc *d)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const trues[] = { "y", "Y", "yes", "Yes", "YES", "true", "True",
					     "TRUE", "on", "On", "ON", NULL };
	static const char *const falses[] = { "n", "N", "no", "No", "NO", "false", "False",
					      "FALSE", "off", "Off", "OFF", NULL };
	const char *s = d->text;
	/* Every word of the lists has at most 5 bytes: longer text needs no comparison. */
	bool word = strnlen(s, 6) <= 5;

	/*
	 * Most scalars are names and addresses: decide from the first byte
	 * which word lists can match at all (this runs for every scalar of
	 * every object, so it matters at 10,000 services).
	 */
	switch (s[0]) {
	case '\0':
	case '~':
		d->type = DOC_NULL;
		return;
	case 'n':
	case 'N':
		if (word && in_list(s, nulls)) {
			d->type = DOC_NULL;
			return;
		}
		/* FALLTHROUGH */
	case 'f':
	case 'F':
	case 'o':
	case 'O':
		if (word && in_list(s, falses)) {
			d->type = DOC_BOOL;
			d->b = false;
			return;
		}
		if (s[0] != 'o' && s[0] != 'O')
			break;
		/* FALLTHROUGH */
	case 'y':
	case 'Y':
	case 't':
	case 'T':
		if (word && in_list(s, trues)) {
			d->type = DOC_BOOL;
			d->b = true;
			return;
		}
		break;
	case '0' ... '9':
	case '-':
	case '+':
	case '.':
		if (parse_yaml_int(s, &d->i))
			d->type = DOC_INT;
		else if (is_yaml_float(s))
			d->type = DOC_FLOAT;
		else
			d->type = DOC_STR;
		return;
	default:
		break;
	}
	d->type = DOC_STR;
}
