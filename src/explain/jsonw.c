/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming JSON writer; see jsonw.h. */
#include "explain/jsonw.h"

#include "core/json_escape.h"

void jsonw_init(struct jsonw *w, FILE *f, bool pretty)
{
	*w = (struct jsonw){ .f = f, .pretty = pretty };
	w->first[0] = true;
}

static void indent(struct jsonw *w)
{
	if (!w->pretty)
		return;
	fputc('\n', w->f);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->f);
}

/* Before a value or key in the current container. */
static void sep(struct jsonw *w)
{
	if (!w->first[w->depth])
		fputc(',', w->f);
	w->first[w->depth] = false;
	if (w->depth)
		indent(w);
}

static void value_start(struct jsonw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	sep(w);
}

static void open_c(struct jsonw *w, char c)
{
	value_start(w);
	fputc(c, w->f);
	if (w->depth + 1 < JSONW_MAX_DEPTH)
		w->depth++;
	w->first[w->depth] = true;
}

static void close_c(struct jsonw *w, char c)
{
	bool empty = w->first[w->depth];

	if (w->depth)
		w->depth--;
	if (!empty)
		indent(w);
	fputc(c, w->f);
	if (!w->depth && w->pretty)
		fputc('\n', w->f);
}

void jsonw_obj_open(struct jsonw *w)
{
	open_c(w, '{');
}

void jsonw_obj_close(struct jsonw *w)
{
	close_c(w, '}');
}

void jsonw_arr_open(struct jsonw *w)
{
	open_c(w, '[');
}

void jsonw_arr_close(struct jsonw *w)
{
	close_c(w, ']');
}

void jsonw_key(struct jsonw *w, const char *key)
{
	sep(w);
	json_fputs(key, w->f);
	fputs(w->pretty ? ": " : ":", w->f);
	w->after_key = true;
}

void jsonw_str(struct jsonw *w, const char *s)
{
	value_start(w);
	if (s)
		json_fputs(s, w->f);
	else
		fputs("null", w->f);
}

void jsonw_bool(struct jsonw *w, bool b)
{
	value_start(w);
	fputs(b ? "true" : "false", w->f);
}

void jsonw_null(struct jsonw *w)
{
	value_start(w);
	fputs("null", w->f);
}

void jsonw_uint(struct jsonw *w, unsigned long long v)
{
	value_start(w);
	fprintf(w->f, "%llu", v);
}

void jsonw_kstr(struct jsonw *w, const char *key, const char *s)
{
	jsonw_key(w, key);
	jsonw_str(w, s);
}

void jsonw_kbool(struct jsonw *w, const char *key, bool b)
{
	jsonw_key(w, key);
	jsonw_bool(w, b);
}

void jsonw_kuint(struct jsonw *w, const char *key, unsigned long long v)
{
	jsonw_key(w, key);
	jsonw_uint(w, v);
}
