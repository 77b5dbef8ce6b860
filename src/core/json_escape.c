/* SPDX-License-Identifier: Apache-2.0 */
/* JSON string escaping; see json_escape.h. */
#include "core/json_escape.h"

#include <stdbool.h>

/*
 * The length of a character at p that YAML may not hold raw in a
 * double-quoted scalar although JSON may: DEL, the C1 controls
 * (U+0080..U+009F; U+0085 is a YAML line break), U+2028 and U+2029 (line
 * and paragraph separators), U+FEFF (a byte order mark) and U+FFFE/U+FFFF;
 * 0 for anything else.  *ret_cp is its code point.
 */
static size_t yaml_unsafe(const unsigned char *p, unsigned *ret_cp)
{
	if (p[0] == 0x7f) {
		*ret_cp = 0x7f;
		return 1;
	}
	if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
		*ret_cp = p[1];
		return 2;
	}
	if ((p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) ||
	    (p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) ||
	    (p[0] == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf))) {
		*ret_cp = ((unsigned)(p[0] & 0x0f) << 12) | ((unsigned)(p[1] & 0x3f) << 6) |
			  (p[2] & 0x3fu);
		return 3;
	}
	return 0;
}

static void escape(const char *s, bool yaml_safe, json_sink_fn sink, void *ctx)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *run = p;

	sink(ctx, "\"", 1);
	while (*p) {
		char esc[6] = { '\\', 0, '0', '0', 0, 0 };
		size_t n = 2, skip = 1;
		unsigned cp = *p;

		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\t': esc[1] = 't'; break;
		case '\r': esc[1] = 'r'; break;
		default:
			if (*p >= 0x20 && !(yaml_safe && (skip = yaml_unsafe(p, &cp)))) {
				p++;
				continue;
			}
			esc[1] = 'u';
			esc[2] = hex[(cp >> 12) & 15];
			esc[3] = hex[(cp >> 8) & 15];
			esc[4] = hex[(cp >> 4) & 15];
			esc[5] = hex[cp & 15];
			n = 6;
		}
		if (p > run)
			sink(ctx, (const char *)run, (size_t)(p - run));
		sink(ctx, esc, n);
		p += skip;
		run = p;
	}
	if (p > run)
		sink(ctx, (const char *)run, (size_t)(p - run));
	sink(ctx, "\"", 1);
}

void json_escape(const char *s, json_sink_fn sink, void *ctx)
{
	escape(s, false, sink, ctx);
}

void json_escape_yaml_safe(const char *s, json_sink_fn sink, void *ctx)
{
	escape(s, true, sink, ctx);
}

static void file_sink(void *ctx, const char *s, size_t n)
{
	fwrite(s, 1, n, ctx);
}

void json_fputs(const char *s, FILE *f)
{
	json_escape(s, file_sink, f);
}
