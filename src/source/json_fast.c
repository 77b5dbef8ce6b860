/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A JSON object parsed straight into a doc tree (see doc_parse_json_fast()
 * in doc.h): the tree json.c's convert() makes from jansson's, without
 * jansson's tree in between.  It takes only what it can take exactly as
 * jansson + convert() would, and gives up (NULL) on anything else, for the
 * caller to parse with jansson: so jansson stays the judge of what is
 * valid, and of every message.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/doc.h"

#define FAST_MAX_KEYS 256    /* duplicate keys are looked for linearly */
#define FAST_MAX_DIGITS 18   /* any integer of 18 digits fits a long long */

struct jp {
	const char *p, *end;
	unsigned max_depth;
};

static void skip_ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static int escaped(char e)
{
	switch (e) {
	case '"':
	case '\\':
	case '/':
		return e;
	case 'b':
		return '\b';
	case 'f':
		return '\f';
	case 'n':
		return '\n';
	case 'r':
		return '\r';
	case 't':
		return '\t';
	}
	return -1; /* \u (or an invalid escape): jansson's */
}

/* A string at j->p ('"'): ASCII, no control character, no \u; NULL otherwise. */
static char *parse_str(struct jp *j)
{
	const char *s = j->p + 1, *q = s;
	size_t n = 0;
	bool esc = false;
	char *out;

	for (; q < j->end && *q != '"'; q++, n++) {
		unsigned char c = (unsigned char)*q;

		if (c < 0x20 || c >= 0x80)
			return NULL; /* control characters are invalid; UTF-8 is checked by jansson */
		if (c == '\\') {
			if (q + 1 >= j->end || escaped(q[1]) < 0)
				return NULL;
			q++;
			esc = true;
		}
	}
	if (q >= j->end)
		return NULL;
	out = xmalloc(n + 1);
	if (!esc) {
		memcpy(out, s, n);
	} else {
		size_t k = 0;

		for (const char *r = s; r < q; r++)
			out[k++] = *r == '\\' ? (char)escaped(*++r) : *r;
	}
	out[n] = '\0';
	j->p = q + 1;
	return out;
}

/* An integer of at most FAST_MAX_DIGITS digits, written as "%lld" writes it. */
static struct doc *parse_int(struct jp *j)
{
	const char *s = j->p, *q = s;
	long long v = 0;
	struct doc *d;
	bool neg = *q == '-';

	if (neg)
		q++;
	if (q >= j->end || *q < '0' || *q > '9')
		return NULL;
	/* "-0" prints as "0", a leading zero is invalid: both jansson's. */
	if (*q == '0' && (neg || (q + 1 < j->end && q[1] >= '0' && q[1] <= '9')))
		return NULL;
	for (; q < j->end && *q >= '0' && *q <= '9'; q++) {
		if (q - s - neg >= FAST_MAX_DIGITS)
			return NULL;
		v = v * 10 + (*q - '0');
	}
	if (q < j->end && (*q == '.' || *q == 'e' || *q == 'E'))
		return NULL; /* a real: jansson's strtod and "%g" */
	d = doc_new(DOC_INT, 0);
	d->i = neg ? -v : v;
	d->text = xstrndup(s, (size_t)(q - s));
	j->p = q;
	return d;
}

static struct doc *parse_value(struct jp *j, unsigned depth);

static struct doc *parse_map(struct jp *j, unsigned depth)
{
	struct doc *d = doc_new(DOC_MAP, 0);

	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == '}') {
		j->p++;
		return d;
	}
	for (;;) {
		struct doc *child;
		char *key;

		skip_ws(j);
		if (j->p >= j->end || *j->p != '"' || d->n >= FAST_MAX_KEYS || !(key = parse_str(j)))
			break;
		for (size_t i = 0; i < d->n && key; i++)
			if (d->keys[i][0] == key[0] && streq(d->keys[i], key)) {
				free(key); /* a duplicate: jansson refuses it, with its message */
				key = NULL;
			}
		if (!key)
			break;
		skip_ws(j);
		if (j->p >= j->end || *j->p != ':') {
			free(key);
			break;
		}
		j->p++;
		if (!(child = parse_value(j, depth + 1))) {
			free(key);
			break;
		}
		doc_append_owned(d, key, child);
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return d;
		}
		break;
	}
	doc_unref(d);
	return NULL;
}

static struct doc *parse_seq(struct jp *j, unsigned depth)
{
	struct doc *d = doc_new(DOC_SEQ, 0);

	j->p++;
	skip_ws(j);
	if (j->p < j->end && *j->p == ']') {
		j->p++;
		return d;
	}
	for (;;) {
		struct doc *child = parse_value(j, depth + 1);

		if (!child)
			break;
		doc_append_owned(d, NULL, child);
		skip_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == ']') {
			j->p++;
			return d;
		}
		break;
	}
	doc_unref(d);
	return NULL;
}

/* A literal: true, false or null, as convert() makes them. */
static struct doc *parse_literal(struct jp *j)
{
	static const struct {
		const char *word;
		enum doc_type type;
	} words[] = { { "true", DOC_BOOL }, { "false", DOC_BOOL }, { "null", DOC_NULL } };

	for (size_t i = 0; i < ARRAY_SIZE(words); i++) {
		size_t n = strlen(words[i].word);
		struct doc *d;

		if ((size_t)(j->end - j->p) < n || memcmp(j->p, words[i].word, n))
			continue;
		d = doc_new(words[i].type, 0);
		d->b = i == 0;
		d->text = xstrdup(words[i].word);
		j->p += n;
		return d;
	}
	return NULL;
}

static struct doc *parse_value(struct jp *j, unsigned depth)
{
	struct doc *d;
	char *s;

	/* convert() refuses any value deeper than the limit, a scalar too. */
	if (depth > j->max_depth)
		return NULL;
	skip_ws(j);
	if (j->p >= j->end)
		return NULL;
	switch (*j->p) {
	case '{':
		return parse_map(j, depth);
	case '[':
		return parse_seq(j, depth);
	case '"':
		if (!(s = parse_str(j)))
			return NULL;
		d = doc_new(DOC_STR, 0);
		d->text = s;
		return d;
	case '-':
	case '0' ... '9':
		return parse_int(j);
	default:
		return parse_literal(j);
	}
}

struct doc *doc_parse_json_fast(const char *buf, size_t len, unsigned max_depth)
{
	struct jp j = { buf, buf + len, max_depth };
	struct doc *d;

	skip_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return NULL;
	d = parse_value(&j, 1);
	skip_ws(&j);
	if (d && j.p != j.end) {
		doc_unref(d);
		return NULL;
	}
	return d;
}
