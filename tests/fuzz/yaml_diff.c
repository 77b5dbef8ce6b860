/* SPDX-License-Identifier: Apache-2.0 */
/* The fast YAML path's differential check; see yaml_diff.h. */
#include "yaml_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "source/doc.h"

/* Serialising stops after this many nodes (alias expansion can reach the weight limit). */
#define MAX_NODES 200000

struct outcome {
	struct sbuf out;
	size_t nodes;
};

static void put_node(struct outcome *o, const struct doc *d, int indent)
{
	if (++o->nodes > MAX_NODES) {
		if (o->nodes == MAX_NODES + 1)
			sbuf_printf(&o->out, "...\n");
		return;
	}
	sbuf_printf(&o->out, "%*s%s@%d", indent, "", doc_type_name(d->type), d->line);
	if (d->text)
		sbuf_printf(&o->out, " text=[%s]", d->text);
	if (d->type == DOC_INT)
		sbuf_printf(&o->out, " i=%lld", d->i);
	if (d->type == DOC_BOOL)
		sbuf_printf(&o->out, " b=%d", d->b);
	sbuf_printf(&o->out, " weight=%llu n=%zu\n", (unsigned long long)d->weight, d->n);
	for (size_t i = 0; i < d->n; i++) {
		if (d->type == DOC_MAP)
			sbuf_printf(&o->out, "%*skey=[%s]\n", indent + 1, "", d->keys[i]);
		put_node(o, d->v[i], indent + 2);
	}
}

static int on_object(const struct doc *obj, void *userdata)
{
	struct outcome *o = userdata;

	sbuf_printf(&o->out, "object\n");
	put_node(o, obj, 1);
	return 0;
}

/* The pieces the chunked read gets: at most step bytes per call. */
struct pieces {
	const char *buf;
	size_t len, step;
};

static int pieces_read(void *data, unsigned char *out, size_t size, size_t *size_read)
{
	struct pieces *p = data;
	size_t n = p->len < size ? p->len : size;

	if (n > p->step)
		n = p->step;
	memcpy(out, p->buf, n);
	p->buf += n;
	p->len -= n;
	*size_read = n;
	return 1;
}

enum how { LIBYAML, FAST, CHUNKED };

static char *read_with(enum how how, const char *buf, size_t len, uint32_t bits)
{
	struct doc_limits limits = doc_default_limits;
	struct outcome o = { 0 };
	struct diag d;
	struct doc_reader r;
	char line[4096];
	int ret = 0;

	if (bits & 1) {
		limits.max_depth = 2 + (bits >> 1) % 6;
		limits.max_weight = 5 + (bits >> 4) % 60;
		limits.max_objects = 1 + (bits >> 10) % 4;
	}
	diag_init(&d);
	r = (struct doc_reader){ .file = "f.yaml", .limits = &limits, .diag = &d,
				 .on_object = on_object, .userdata = &o,
				 .line_base = (int)((bits >> 12) & 3) * 100 };
	switch (how) {
	case LIBYAML:
		ret = doc_read_yaml_libyaml(&r, buf, len);
		break;
	case FAST:
		ret = doc_read_yaml(&r, buf, len);
		break;
	case CHUNKED: {
		struct pieces p = { buf, len, 1 + (bits >> 14) % 97 };

		ret = doc_read_yaml_chunked(&r, pieces_read, &p, doc_yaml_ascii(buf, len),
					    1 + (bits >> 21) % 211);
		break;
	}
	}
	sbuf_printf(&o.out, "result %d objects %zu\n", ret, r.n_objects);
	for (size_t i = 0; i < d.n; i++) {
		diag_msg_format(&d.msgs[i], line, sizeof(line));
		sbuf_printf(&o.out, "%s\n", line);
	}
	diag_done(&d);
	return sbuf_cstr(&o.out); /* the caller frees it */
}

char *yaml_diff_reference(const char *buf, size_t len)
{
	return read_with(LIBYAML, buf, len, 0);
}

int yaml_diff_check(const char *buf, size_t len, uint32_t bits)
{
	char *want = read_with(LIBYAML, buf, len, bits);
	int ret = 0;

	/*
	 * Input the fast path may not read goes to libyaml whole; read in small
	 * pieces, libyaml itself may then hand out an object before a bad byte
	 * it would have seen first in one buffer: nothing of the fast path's.
	 */
	enum how last = doc_yaml_ascii(buf, len) ? CHUNKED : FAST;

	for (enum how how = FAST; how <= last && !ret; how++) {
		char *got = read_with(how, buf, len, bits);

		if (strcmp(want, got)) {
			fprintf(stderr, "yaml_diff: %s read differs from libyaml's (bits %#x)\n"
				"--- libyaml:\n%s--- %s:\n%s", how == FAST ? "fast" : "chunked", bits,
				want, how == FAST ? "fast" : "chunked", got);
			ret = -1;
		}
		free(got);
	}
	free(want);
	return ret;
}
