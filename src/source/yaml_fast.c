/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast YAML path: the block-style subset "kubectl get -o yaml" prints,
 * read straight into doc trees without libyaml, one document at a time.
 *
 * libyaml allocates and frees several buffers per token and event; for the
 * large multi-document files kroute reads, that was about half the load time.
 * This reader takes only what it can take exactly as libyaml and yaml.c
 * would (the same tree, types, texts and lines): printable ASCII lines
 * indented with spaces; block mappings with plain keys; block sequences
 * (indented or not) of scalars or mappings; plain scalars on one line,
 * resolved by doc_resolve_plain(); single- and double-quoted scalars on one
 * line without backslash escapes; "{}" and "[]".  A document with anything
 * else (comments, anchors, tags, flow collections, block or multi-line
 * scalars, empty values, a top-level "items" List, tabs, a duplicate key,
 * a limit reached...) is not judged here: from that document's start on,
 * the rest of the input goes to libyaml (yaml.c), which reads it, or reports
 * its errors, as if it had read the whole input.  A "---" line at column 0
 * always starts a document, so the rest is a YAML stream of its own.
 *
 * tests/fuzz/fuzz_yaml_fast.c checks that for any input this reader and the
 * libyaml-only one give the same objects (trees, lines) and messages.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/doc.h"

/* One document's lines; the current line is the next one with content. */
struct fast {
	const char *end;        /* the document's end */
	const char *next;       /* the line after the current one */
	const char *lp, *cp;    /* current line: start and first non-space byte */
	const char *le;         /* current line's end (its '\n' or end) */
	int col;                /* cp - lp, or -1 at the document's end */
	int line;               /* current line number (line_base included) */
	int next_line;          /* number of the line at next */
	const struct doc_limits *limits;
	struct doc_arena *arena; /* every node, key and text of the document */
	bool gave_up;
	/*
	 * A List (a top-level "items" sequence) is streamed as yaml.c streams
	 * it: each item is built in item_arena, handed on and dropped.  The
	 * document is read twice: first only to learn that this reader takes
	 * all of it (so that libyaml, reading it again from its start, never
	 * repeats an item already handed on), then with emit set.
	 */
	struct doc_reader *r;
	struct doc_arena *item_arena;
	bool emit;
	bool list;               /* the root has an "items" sequence */
	size_t n_items;
	int err;                 /* the callback's error */
};

/* Moves to the next line with content, skipping lines of spaces only. */
static void advance(struct fast *f)
{
	for (;;) {
		const char *p = f->next, *nl;

		if (p >= f->end) {
			f->col = -1;
			f->lp = f->cp = f->le = f->end;
			return;
		}
		nl = memchr(p, '\n', (size_t)(f->end - p));
		f->lp = p;
		f->le = nl ? nl : f->end;
		f->next = nl ? nl + 1 : f->end;
		f->line = f->next_line++;
		for (f->cp = p; f->cp < f->le && *f->cp == ' '; f->cp++)
			;
		if (f->cp < f->le) {
			f->col = (int)(f->cp - f->lp);
			return;
		}
	}
}

/* The partial tree stays in the arena until its reset. */
static struct doc *give_up(struct fast *f, struct doc *partial)
{
	(void)partial;
	f->gave_up = true;
	return NULL;
}

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A "- " sequence entry at the current line's content. */
static bool at_entry(const struct fast *f)
{
	return f->col >= 0 && f->cp + 1 < f->le && f->cp[0] == '-' && f->cp[1] == ' ';
}

/*
 * Where a plain key starting at p ends (its ':' followed by a space or the
 * line's end), or NULL when p does not start one this reader takes.
 */
static const char *key_end(const char *p, const char *le)
{
	if (p >= le || !(is_alnum(*p) || *p == '_' || *p == '/'))
		return NULL;
	for (const char *q = p; q < le; q++) {
		if (*q == '#' && q[-1] == ' ')
			return NULL; /* a comment */
		if (*q == ':' && (q + 1 == le || q[1] == ' '))
			return q[-1] == ' ' || q - p > 1000 ? NULL : q; /* libyaml: keys up to 1024 */
	}
	return NULL;
}

/* A scalar, "{}" or "[]" filling [p, le) on the current line. */
static struct doc *inline_value(struct fast *f, const char *p, const char *le)
{
	struct doc *d;

	if (p >= le || *p == ' ' || le[-1] == ' ')
		return give_up(f, NULL);
	if (le - p == 2 && ((p[0] == '{' && p[1] == '}') || (p[0] == '[' && p[1] == ']')))
		return doc_arena_new(f->arena, p[0] == '{' ? DOC_MAP : DOC_SEQ, f->line);
	if (*p == '"') {
		const char *q = memchr(p + 1, '"', (size_t)(le - p - 1));

		if (!q || q + 1 != le || memchr(p + 1, '\\', (size_t)(q - p - 1)))
			return give_up(f, NULL);
		d = doc_arena_new(f->arena, DOC_STR, f->line);
		d->text = doc_arena_strndup(f->arena, p + 1, (size_t)(q - p - 1));
		return d;
	}
	if (*p == '\'') {
		char *out = doc_arena_alloc(f->arena, (size_t)(le - p)), *o = out;
		const char *q = p + 1;

		for (;; q++) {
			if (q >= le)
				return give_up(f, NULL);
			if (*q == '\'') {
				if (q + 1 < le && q[1] == '\'') {
					*o++ = '\'';
					q++;
					continue;
				}
				break;
			}
			*o++ = *q;
		}
		if (q + 1 != le)
			return give_up(f, NULL);
		*o = '\0';
		d = doc_arena_new(f->arena, DOC_STR, f->line);
		d->text = out;
		return d;
	}
	/* Plain: not starting with an indicator ("-x" is plain, "- x" an entry). */
	if (strchr("?:,[]{}#&*!|>\"%@`", *p) || (*p == '-' && (p + 1 == le || p[1] == ' ')))
		return give_up(f, NULL);
	for (const char *q = p; q < le; q++)
		if ((*q == '#' && q > p && q[-1] == ' ') || (*q == ':' && (q + 1 == le || q[1] == ' ')))
			return give_up(f, NULL);
	d = doc_arena_new(f->arena, DOC_STR, f->line);
	d->text = doc_arena_strndup(f->arena, p, (size_t)(le - p));
	doc_resolve_plain(d);
	return d;
}

static struct doc *block(struct fast *f, unsigned depth);
static struct doc *sequence(struct fast *f, int col, unsigned depth);

static struct doc *list_items(struct fast *f, int col, unsigned depth);

/* A mapping at column col whose first key starts at p on the current line. */
static struct doc *mapping(struct fast *f, int col, const char *p, unsigned depth)
{
	struct doc *map, *child;

	if (depth + 1 >= f->limits->max_depth)
		return give_up(f, NULL);
	map = doc_arena_new(f->arena, DOC_MAP, f->line);
	for (;;) {
		const char *ke = key_end(p, f->le);
		char *key;

		if (!ke)
			return give_up(f, map);
		key = doc_arena_strndup(f->arena, p, (size_t)(ke - p));
		if (doc_get(map, key))
			return give_up(f, map);
		if (depth == 0 && streq(key, "items")) {
			/* A List: "items: []" or a block sequence of mappings, nothing else. */
			f->list = true;
			if (ke + 1 < f->le) {
				const char *v = ke + 1;

				while (v < f->le && *v == ' ')
					v++;
				if (f->le - v != 2 || v[0] != '[' || v[1] != ']')
					return give_up(f, map);
				child = doc_arena_new(f->arena, DOC_SEQ, f->line);
				advance(f);
			} else {
				advance(f);
				if (f->col >= col && at_entry(f))
					child = list_items(f, f->col, depth + 1);
				else
					child = give_up(f, NULL);
			}
		} else if (ke + 1 < f->le) {
			const char *v = ke + 1;

			while (v < f->le && *v == ' ')
				v++;
			child = inline_value(f, v, f->le);
			if (child)
				advance(f);
		} else {
			advance(f);
			if (f->col > col)
				child = block(f, depth + 1);
			else if (f->col == col && at_entry(f))
				child = sequence(f, col, depth + 1);
			else
				child = give_up(f, NULL); /* an empty value */
		}
		if (!child)
			return give_up(f, map);
		doc_arena_append(f->arena, map, key, child);
		if (f->col < col)
			return map;
		if (f->col > col || at_entry(f))
			return give_up(f, map);
		p = f->cp;
	}
}

/* A block sequence whose entries ("- ") are at column col, from the current line. */
static struct doc *sequence(struct fast *f, int col, unsigned depth)
{
	struct doc *seq, *item;

	if (depth + 1 >= f->limits->max_depth)
		return give_up(f, NULL);
	seq = doc_arena_new(f->arena, DOC_SEQ, f->line);
	while (f->col == col && at_entry(f)) {
		const char *p = f->cp + 2;

		if (p < f->le && *p != '"' && *p != '\'' && key_end(p, f->le)) {
			item = mapping(f, col + 2, p, depth + 1);
		} else {
			item = inline_value(f, p, f->le);
			if (item) {
				advance(f);
				if (f->col > col)
					item = give_up(f, item); /* a continuation line */
			}
		}
		if (!item)
			return give_up(f, seq);
		doc_arena_append(f->arena, seq, NULL, item);
	}
	if (f->col > col)
		return give_up(f, seq);
	return seq;
}

/*
 * A List's items: a block sequence of mappings at column col, each handed
 * to the callback when f->emit (counted otherwise) and dropped; the
 * sequence returned stays empty, as yaml.c's streamed one does.
 */
static struct doc *list_items(struct fast *f, int col, unsigned depth)
{
	struct doc *seq;

	if (depth + 1 >= f->limits->max_depth)
		return give_up(f, NULL);
	seq = doc_arena_new(f->arena, DOC_SEQ, f->line);
	while (f->col == col && at_entry(f)) {
		const char *p = f->cp + 2;
		struct doc_arena *doc_arena = f->arena;
		struct doc *item = NULL;

		if (p < f->le && *p != '"' && *p != '\'' && key_end(p, f->le)) {
			f->arena = f->item_arena;
			item = mapping(f, col + 2, p, depth + 1);
			f->arena = doc_arena;
		}
		if (!item || item->weight > f->limits->max_weight) {
			doc_arena_reset(f->item_arena);
			return give_up(f, seq);
		}
		f->n_items++;
		if (f->emit) {
			int ret;

			f->r->n_objects++;
			f->r->n_fast_objects++;
			ret = f->r->on_object(item, f->r->userdata);
			if (ret < 0) {
				f->err = ret;
				doc_arena_reset(f->item_arena);
				return give_up(f, seq);
			}
		}
		doc_arena_reset(f->item_arena);
	}
	if (f->col > col)
		return give_up(f, seq);
	return seq;
}

/* The block starting at the current line. */
static struct doc *block(struct fast *f, unsigned depth)
{
	if (at_entry(f))
		return sequence(f, f->col, depth);
	return mapping(f, f->col, f->cp, depth);
}

/* Printable ASCII and newlines only: what the rules above assume. */
static bool plain_ascii(const char *p, const char *end)
{
	unsigned char bad = 0;

	for (; p < end; p++) {
		unsigned char c = (unsigned char)*p;

		bad |= (unsigned char)((c < 0x20 && c != '\n') | (c > 0x7e));
	}
	return !bad;
}

/*
 * A "---" document marker line at p (which starts a line).  Before the
 * input's end, "---" needs the byte after it to tell it from "----".
 */
static bool at_marker(const char *p, const char *end, bool at_end)
{
	return end - p >= 3 && p[0] == '-' && p[1] == '-' && p[2] == '-' &&
	       ((end - p == 3 && at_end) ||
		(end - p > 3 && (p[3] == '\n' || p[3] == ' ' || p[3] == '\t' || p[3] == '\r')));
}

/* The start of the first marker line at or after p (which starts a line), or NULL. */
static const char *next_marker(const char *p, const char *end, bool at_end)
{
	if (at_marker(p, end, at_end))
		return p;
	while (p < end) {
		const char *q = memmem(p, (size_t)(end - p), "\n---", 4);

		if (!q)
			return NULL;
		if (at_marker(q + 1, end, at_end))
			return q + 1;
		p = q + 1;
	}
	return NULL;
}

/*
 * Reads the whole documents of buf[0, len) (the last one only when at_end),
 * handing each object to r->on_object.  Returns the bytes consumed and sets
 * *lines to the newlines in them; *stop when the document there is for
 * libyaml; *err to the callback's error.
 */
static size_t fast_docs(struct doc_reader *r, const char *buf, size_t len, bool at_end,
			int *lines, bool *stop, int *err)
{
	const char *p = buf, *end = buf + len;
	struct doc_arena arena, item_arena;

	doc_arena_init(&arena);
	doc_arena_init(&item_arena);
	*lines = 0;
	*stop = false;
	*err = 0;
	while (p < end) {
		const char *body = p, *dend;
		struct fast f = { .limits = r->limits, .arena = &arena, .r = r,
				  .item_arena = &item_arena };
		struct doc *root;
		int body_line = *lines;

		/* A marker line opening this document: plain "---" only. */
		if (at_marker(p, end, at_end)) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));

			if (!nl && !at_end)
				break;
			if (!nl)
				nl = end;
			if (nl != p + 3) {
				*stop = true; /* "--- " or "--- content" */
				break;
			}
			body = nl < end ? nl + 1 : end;
			body_line++;
		}
		dend = next_marker(body, end, at_end);
		if (!dend) {
			if (!at_end)
				break;
			dend = end;
		}
		if (!plain_ascii(body, dend)) {
			*stop = true;
			break;
		}
		f.end = dend;
		f.next = body;
		f.next_line = r->line_base + body_line + 1;
		advance(&f);
		root = NULL;
		if (f.col >= 0) {
			if (at_entry(&f)) {
				*stop = true; /* not a mapping: yaml.c says so */
				break;
			}
			root = mapping(&f, f.col, f.cp, 0);
			if (!root || f.col != -1 || root->weight > r->limits->max_weight ||
			    (f.list ? f.n_items > r->limits->max_objects - r->n_objects
				    : r->n_objects >= r->limits->max_objects)) {
				*stop = true;
				break;
			}
		}
		*lines = body_line + (int)memcount(body, (size_t)(dend - body), '\n');
		p = dend;
		if (root && f.list) {
			/* Taken whole: now again, handing on the items. */
			doc_arena_reset(&arena);
			f = (struct fast){ .limits = r->limits, .arena = &arena, .r = r,
					   .item_arena = &item_arena, .emit = true, .end = dend,
					   .next = body,
					   .next_line = r->line_base + body_line + 1 };
			advance(&f);
			root = mapping(&f, f.col, f.cp, 0);
			if (f.err) {
				*err = f.err;
				break;
			}
			if (root)
				doc_warn_list_kind(r, root);
		} else if (root) {
			int ret;

			r->n_objects++;
			r->n_fast_objects++;
			ret = r->on_object(root, r->userdata);
			if (ret < 0) {
				*err = ret;
				break;
			}
		}
		doc_arena_reset(&arena);
	}
	doc_arena_done(&arena);
	doc_arena_done(&item_arena);
	return (size_t)(p - buf);
}

static bool byte_ok(unsigned char c)
{
	return (c >= 0x20 && c <= 0x7e) || c == '\n' || c == '\t' || c == '\r';
}

bool doc_yaml_ascii(const char *buf, size_t len)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t w, del;

		memcpy(&w, buf + i, 8);
		if (w & highs)
			return false;
		del = w ^ (ones * 0x7f);
		/* Any byte below 0x20 (newlines: look closer), or a DEL. */
		if (((w - ones * 0x20) & ~w & highs) || ((del - ones) & ~del & highs))
			for (size_t k = 0; k < 8; k++)
				if (!byte_ok((unsigned char)buf[i + k]))
					return false;
	}
	for (; i < len; i++)
		if (!byte_ok((unsigned char)buf[i]))
			return false;
	return true;
}

int doc_read_yaml(struct doc_reader *r, const char *buf, size_t len)
{
	int lines, err, base = r->line_base, ret;
	bool stop;
	size_t off;

	if (!doc_yaml_ascii(buf, len))
		return doc_read_yaml_libyaml(r, buf, len);
	off = fast_docs(r, buf, len, true, &lines, &stop, &err);
	if (err || !stop)
		return err;
	r->line_base += lines;
	ret = doc_read_yaml_libyaml(r, buf + off, len - off);
	r->line_base = base;
	return ret;
}

/* What libyaml reads after the fast path stopped: the buffer's rest, then the input's. */
struct rest {
	const char *buf;
	size_t len;
	doc_input_fn input;
	void *data;
};

static int rest_read(void *data, unsigned char *out, size_t size, size_t *size_read)
{
	struct rest *rs = data;

	if (!rs->len)
		return rs->input(rs->data, out, size, size_read);
	*size_read = rs->len < size ? rs->len : size;
	memcpy(out, rs->buf, *size_read);
	rs->buf += *size_read;
	rs->len -= *size_read;
	return 1;
}

int doc_read_yaml_input(struct doc_reader *r, doc_input_fn input, void *data, bool ascii)
{
	return doc_read_yaml_chunked(r, input, data, ascii, 1u << 20);
}

int doc_read_yaml_chunked(struct doc_reader *r, doc_input_fn input, void *data, bool ascii,
			  size_t chunk)
{
	size_t cap = chunk ? chunk : 1, fill = 0;
	char *buf;
	int base = r->line_base, ret = 0;
	bool at_end = false;

	if (!ascii)
		return doc_read_yaml_libyaml_input(r, input, data);
	buf = xmalloc(cap);

	for (;;) {
		size_t off;
		int lines, err;
		bool stop;

		while (!at_end && fill < cap) {
			size_t n = 0;

			if (!input(data, (unsigned char *)buf + fill, cap - fill, &n)) {
				ret = -EIO;
				goto out;
			}
			at_end = n == 0;
			fill += n;
		}
		off = fast_docs(r, buf, fill, at_end, &lines, &stop, &err);
		r->line_base += lines;
		if (err) {
			ret = err;
			goto out;
		}
		if (stop) {
			struct rest rs = { buf + off, fill - off, input, data };

			ret = doc_read_yaml_libyaml_input(r, rest_read, &rs);
			goto out;
		}
		memmove(buf, buf + off, fill - off);
		fill -= off;
		if (at_end)
			goto out;
		if (fill == cap) /* one document larger than the buffer */
			buf = xrealloc(buf, cap *= 2);
	}
out:
	r->line_base = base;
	free(buf);
	return ret;
}
