/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one growable string builder: iptables-restore input, nft scripts, the
 * userspace plan's keys, status JSON, HTTP bodies.  Rendering a large
 * cluster writes hundreds of thousands of lines, so appending is inline and
 * never allocates per line: the buffer doubles when full.  Out
 * of memory aborts (core/util.h's xrealloc), as everywhere in kroute.  The
 * buffer is not NUL-terminated until sbuf_cstr() says so.
 */
#ifndef KROUTE_CORE_SBUF_H
#define KROUTE_CORE_SBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

struct sbuf {
	char *p;    /* owned */
	size_t len;
	size_t cap;
};

/* Makes room for at least extra more bytes. */
void sbuf_reserve(struct sbuf *b, size_t extra);
/* Appends the decimal form of v. */
void sbuf_addu(struct sbuf *b, unsigned long v);
/* Appends printf-style formatted text. */
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included (core/json_escape.h). */
void sbuf_add_json_str(struct sbuf *b, const char *s);
/* Appends s as a double-quoted YAML scalar (a JSON literal too; json_escape_yaml_safe()). */
void sbuf_add_yaml_str(struct sbuf *b, const char *s);
/* NUL-terminates (not counted in len) and returns the bytes. */
char *sbuf_cstr(struct sbuf *b);
void sbuf_free(struct sbuf *b);

static inline void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->cap - b->len < n)
		sbuf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

static inline void sbuf_addc(struct sbuf *b, char c)
{
	if (b->cap == b->len)
		sbuf_reserve(b, 1);
	b->p[b->len++] = c;
}

/* Appends a string literal without strlen(). */
#define SBUF_ADDL(b, lit) sbuf_add((b), "" lit, sizeof(lit) - 1)

#endif
