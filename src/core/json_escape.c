/* SPDX-License-Identifier: Apache-2.0 */
/* JSON string escaping; see json_escape.h. */
#include "core/json_escape.h"

void json_escape(const char *s, json_sink_fn sink, void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p;

	sink(ctx, "\"", 1);
	for (; *p; p++) {
		char esc[6] = { '\\', 0, '0', '0', 0, 0 };
		size_t n = 2;

		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\t': esc[1] = 't'; break;
		case '\r': esc[1] = 'r'; break;
		default:
			if (*p >= 0x20)
				continue;
			esc[1] = 'u';
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		}
		if (p > run)
			sink(ctx, (const char *)run, (size_t)(p - run));
		sink(ctx, esc, n);
		run = p + 1;
	}
	if (p > run)
		sink(ctx, (const char *)run, (size_t)(p - run));
	sink(ctx, "\"", 1);
}

static void file_sink(void *ctx, const char *s, size_t n)
{
	fwrite(s, 1, n, ctx);
}

void json_fputs(const char *s, FILE *f)
{
	json_escape(s, file_sink, f);
}
