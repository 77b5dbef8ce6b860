/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The out-of-line half of struct sbuf: growth, number formatting and
 * termination.  Growth doubles so that appending n bytes costs O(n)
 * amortised.
 */
#include "core/sbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "core/json_escape.h"
#include "core/util.h"

/* From this size on, buffers are 2 MiB aligned and advised for transparent huge pages. */
#define SBUF_HUGE (4u << 20)
#define SBUF_HUGE_PAGE (2u << 20)

void sbuf_reserve(struct sbuf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 4096;
	void *p;

	if (b->cap - b->len >= extra)
		return;
	while (cap - b->len < extra)
		cap *= 2;
	if (cap < SBUF_HUGE) {
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
		return;
	}
	/*
	 * A large ruleset is tens of megabytes written once: with 4 KiB pages
	 * the page faults cost more than the rendering (measured: about
	 * 1.7 ms per MB on a paravirtualised VM).  Huge pages make that a few
	 * dozen faults.  Still plain malloc memory: free() releases it.
	 */
	cap = (cap + SBUF_HUGE_PAGE - 1) & ~(size_t)(SBUF_HUGE_PAGE - 1);
	if (posix_memalign(&p, SBUF_HUGE_PAGE, cap))
		p = xmalloc(cap); /* unaligned then; xmalloc aborts when memory is out */
	else
		(void)madvise(p, cap, MADV_HUGEPAGE); /* advice only; fine to fail */
	if (b->len)
		memcpy(p, b->p, b->len);
	free(b->p);
	b->p = p;
	b->cap = cap;
}

void sbuf_addu(struct sbuf *b, unsigned long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	sbuf_add(b, tmp + i, sizeof(tmp) - i);
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= b->cap - b->len) {
		sbuf_reserve(b, (size_t)n + 1);
		va_start(ap, fmt);
		(void)vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static void sbuf_sink(void *ctx, const char *s, size_t n)
{
	sbuf_add(ctx, s, n);
}

void sbuf_add_yaml_str(struct sbuf *b, const char *s)
{
	json_escape_yaml_safe(s, sbuf_sink, b);
}

void sbuf_add_json_str(struct sbuf *b, const char *s)
{
	json_escape(s, sbuf_sink, b);
}

char *sbuf_cstr(struct sbuf *b)
{
	sbuf_reserve(b, 1);
	b->p[b->len] = '\0';
	return b->p;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	*b = (struct sbuf){ 0 };
}
