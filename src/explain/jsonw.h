/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal streaming JSON writer: correct escaping and comma placement,
 * nothing else.  Explain output can be large (100,000 flow picks), so it is
 * written as it goes instead of being built as a tree.
 */
#ifndef KROUTE_EXPLAIN_JSONW_H
#define KROUTE_EXPLAIN_JSONW_H

#include <stdbool.h>
#include <stdio.h>

#define JSONW_MAX_DEPTH 32

struct jsonw {
	FILE *f;
	int depth;
	bool first[JSONW_MAX_DEPTH]; /* no element written yet at this depth */
	bool pretty;
	bool after_key; /* a key was written; the next value follows it */
};

void jsonw_init(struct jsonw *w, FILE *f, bool pretty);
void jsonw_obj_open(struct jsonw *w);
void jsonw_obj_close(struct jsonw *w);
void jsonw_arr_open(struct jsonw *w);
void jsonw_arr_close(struct jsonw *w);
void jsonw_key(struct jsonw *w, const char *key);
void jsonw_str(struct jsonw *w, const char *s); /* NULL writes null */
void jsonw_bool(struct jsonw *w, bool b);
void jsonw_null(struct jsonw *w);
void jsonw_uint(struct jsonw *w, unsigned long long v);
/* key + value shorthands */
void jsonw_kstr(struct jsonw *w, const char *key, const char *s);
void jsonw_kbool(struct jsonw *w, const char *key, bool b);
void jsonw_kuint(struct jsonw *w, const char *key, unsigned long long v);

#endif
