/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A growable byte buffer for building iptables-restore input.  Rendering a
 * large cluster writes hundreds of thousands of lines, so appending is
 * inline and never allocates per line: the buffer doubles when full.  Out
 * of memory aborts (core/util.h's xrealloc), as everywhere in kroute.  The
 * buffer is not NUL-terminated until ipt_buf_cstr() says so.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_BUF_H
#define KROUTE_DATAPLANE_IPTABLES_BUF_H

#include <stddef.h>
#include <string.h>

struct ipt_buf {
	char *p;    /* owned */
	size_t len;
	size_t cap;
};

/* Makes room for at least extra more bytes. */
void ipt_buf_reserve(struct ipt_buf *b, size_t extra);
/* Appends the decimal form of v. */
void ipt_buf_addu(struct ipt_buf *b, unsigned long v);
/* NUL-terminates (not counted in len) and returns the bytes. */
char *ipt_buf_cstr(struct ipt_buf *b);
void ipt_buf_free(struct ipt_buf *b);

static inline void ipt_buf_add(struct ipt_buf *b, const char *s, size_t n)
{
	if (b->cap - b->len < n)
		ipt_buf_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static inline void ipt_buf_adds(struct ipt_buf *b, const char *s)
{
	ipt_buf_add(b, s, strlen(s));
}

static inline void ipt_buf_addc(struct ipt_buf *b, char c)
{
	if (b->cap == b->len)
		ipt_buf_reserve(b, 1);
	b->p[b->len++] = c;
}

/* Appends a string literal without strlen(). */
#define IPT_BUF_ADDL(b, lit) ipt_buf_add((b), "" lit, sizeof(lit) - 1)

#endif
