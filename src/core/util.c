/* SPDX-License-Identifier: Apache-2.0 */
/* Checked allocation helpers; see util.h for why OOM aborts. */
#include "core/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void oom(void)
{
	fputs("kroute: out of memory\n", stderr);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xgrow(void *p, size_t *cap, size_t want, size_t elem)
{
	size_t c = *cap;

	if (want <= c)
		return p;
	if (c < 4)
		c = 4;
	while (c < want) {
		if (c > ((size_t)-1) / 2 / elem)
			oom();
		c *= 2;
	}
	p = xrealloc(p, c * elem);
	*cap = c;
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return s;
}

void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t memcount(const void *p, size_t n, unsigned char c)
{
	const unsigned char *b = p;
	const uint64_t lows = 0x7f7f7f7f7f7f7f7full, ones = 0x0101010101010101ull;
	const uint64_t pattern = ones * c;
	size_t count = 0, i = 0;

	while (i + 8 <= n) {
		uint64_t per_byte = 0; /* eight counters of up to 255 */

		for (unsigned k = 0; k < 255 && i + 8 <= n; k++, i += 8) {
			uint64_t w;

			memcpy(&w, b + i, 8);
			w ^= pattern; /* a byte equal to c is now 0 */
			/* High bit of each byte set when the byte is not 0; no carry crosses bytes. */
			w = ((w & lows) + lows) | w;
			per_byte += (~w & ~lows) >> 7;
		}
		/* The eight counters summed in four 16-bit lanes (each at most 510), then added. */
		per_byte = (per_byte & 0x00ff00ff00ff00ffull) + ((per_byte >> 8) & 0x00ff00ff00ff00ffull);
		count += (size_t)((per_byte * 0x0001000100010001ull) >> 48);
	}
	for (; i < n; i++)
		count += b[i] == c;
	return count;
}
