/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A parsed document: the common tree both the YAML reader (libyaml) and the
 * JSON reader (jansson) produce, so the object decoder is written once.
 * Nodes carry the line they started on (0 for JSON, whose parser does not
 * report lines for values).  Scalars keep their text and their resolved
 * type, following YAML 1.1 as the Kubernetes YAML decoder (go-yaml v2)
 * resolves plain scalars: "yes" is a boolean, "80" an integer, "'80'" a string.
 *
 * Readers hand each Kubernetes object (one YAML document, one JSON value, or
 * one element of a List's "items") to a callback and free it afterwards, so
 * memory stays bounded by the largest single object, not by the file.
 */
#ifndef KROUTE_SOURCE_DOC_H
#define KROUTE_SOURCE_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/diag.h"

enum doc_type {
	DOC_NULL,
	DOC_BOOL,
	DOC_INT,
	DOC_FLOAT,
	DOC_STR,
	DOC_MAP,
	DOC_SEQ,
};

struct doc {
	enum doc_type type;
	int line;
	unsigned refs;      /* YAML aliases share nodes */
	uint64_t weight;    /* node count including aliased subtrees (bounds alias bombs) */
	char *text;         /* scalars: source text; NULL for MAP and SEQ */
	long long i;        /* DOC_INT */
	bool b;             /* DOC_BOOL */
	bool pooled;        /* lives in a doc_arena: doc_unref() leaves it to the arena */
	size_t n, cap;      /* children */
	struct doc **v;     /* children (owned references) */
	char **keys;        /* DOC_MAP: key of v[i] */
};

/* Limits on cluster-controlled input; the defaults suit very large clusters. */
struct doc_limits {
	unsigned max_depth;        /* nesting depth of one object */
	uint64_t max_weight;       /* nodes in one object, aliases expanded */
	size_t max_file_size;      /* bytes */
	size_t max_objects;        /* objects per load */
};

extern const struct doc_limits doc_default_limits;

/*
 * Called with each object; the callee borrows obj for the call only.
 * Returning a negative errno stops reading.
 */
typedef int (*doc_object_fn)(const struct doc *obj, void *userdata);

struct doc_reader {
	const char *file;            /* borrowed, for messages */
	const struct doc_limits *limits;
	struct diag *diag;
	doc_object_fn on_object;
	void *userdata;
	size_t n_objects;
	int line_base;               /* lines before buf in its file (a file read in parts) */
	size_t n_fast_objects;       /* of n_objects, those the fast YAML path read */
};

/*
 * Parse a buffer: 0 or -EINVAL (with diagnostics), or the callback's error.
 * YAML goes through the fast path for the block style kubectl prints
 * (yaml_fast.c) and from the first document it does not take on, libyaml;
 * input with any byte doc_yaml_ascii() refuses goes to libyaml whole (its
 * reader rejects a bad byte before it hands out the objects before it).
 */
int doc_read_yaml(struct doc_reader *r, const char *buf, size_t len);
int doc_read_json(struct doc_reader *r, const char *buf, size_t len);
/* Printable ASCII, newline, tab and CR only: input the fast path may read. */
bool doc_yaml_ascii(const char *buf, size_t len);
/*
 * YAML read through a function rather than from one buffer, so a large file
 * need not be in memory whole: input fills buf with up to size bytes, sets
 * *size_read (0 at the end) and returns 1, or 0 on a read error (then the
 * read fails; the caller reports the cause).  The signature is libyaml's
 * yaml_read_handler_t.  ascii: the caller checked the whole input with
 * doc_yaml_ascii(); otherwise libyaml reads it all.  The fast path reads
 * whole documents from a buffer of chunk bytes (grown for a larger
 * document); doc_read_yaml_input() uses 1 MiB.
 */
typedef int (*doc_input_fn)(void *data, unsigned char *buf, size_t size, size_t *size_read);
int doc_read_yaml_input(struct doc_reader *r, doc_input_fn input, void *data, bool ascii);
int doc_read_yaml_chunked(struct doc_reader *r, doc_input_fn input, void *data, bool ascii,
			  size_t chunk);
/* After a List's items: warns when the document's kind does not end in "List" (yaml.c). */
void doc_warn_list_kind(struct doc_reader *r, const struct doc *root);
/* libyaml only (yaml.c): what the fast path falls back to and is fuzzed against. */
int doc_read_yaml_libyaml(struct doc_reader *r, const char *buf, size_t len);
int doc_read_yaml_libyaml_input(struct doc_reader *r, doc_input_fn input, void *data);
/*
 * Hands one value jansson already parsed (it must be an object) to
 * r->on_object, converted and limited as doc_read_json() does: for callers
 * that parse a larger JSON text themselves (the API's list pages and watch
 * events).  0, the callback's error, or -EINVAL (reported).
 */
struct json_t;
int doc_read_json_value(struct doc_reader *r, struct json_t *value);
/*
 * One JSON object (len bytes, white space around it allowed) parsed straight
 * into the tree doc_read_json_value() would make of jansson's (json_fast.c),
 * about twice as fast: for the API source's list items.  It gives up and
 * returns NULL on anything it cannot take exactly as jansson would (a \u
 * escape, a byte over 0x7f, a real number, an integer over 18 digits, more
 * than 256 keys in one object, nesting over max_depth, any error); the caller
 * then parses with jansson, which judges and reports.
 */
struct doc *doc_parse_json_fast(const char *buf, size_t len, unsigned max_depth);

struct doc *doc_new(enum doc_type type, int line);
/*
 * A bump allocator for one object's tree at a time: the fast YAML path
 * builds every node, key, text and child array of an object in it and drops
 * them all with one doc_arena_reset() once the object is decoded, instead
 * of a malloc and free per piece (which were a third of the load time).
 * Its nodes are marked pooled; doc_unref() does nothing to them.
 */
struct doc_arena_chunk;
struct doc_arena {
	char *cur, *end;                /* the free part of the current chunk */
	struct doc_arena_chunk *chunks; /* newest first; the last one is kept by a reset */
};

void doc_arena_init(struct doc_arena *a);
void doc_arena_reset(struct doc_arena *a);
void doc_arena_done(struct doc_arena *a);
void *doc_arena_alloc(struct doc_arena *a, size_t size);
char *doc_arena_strndup(struct doc_arena *a, const char *s, size_t len);
struct doc *doc_arena_new(struct doc_arena *a, enum doc_type type, int line);
/* doc_append_owned() for a pooled parent: child arrays grow in the arena. */
void doc_arena_append(struct doc_arena *a, struct doc *parent, char *key, struct doc *child);
void doc_unref(struct doc *d);
/* Appends child (taking the reference) to a SEQ, or under key to a MAP. */
void doc_append(struct doc *parent, const char *key, struct doc *child);
/* The same, taking ownership of a malloc'ed key. */
void doc_append_owned(struct doc *parent, char *key, struct doc *child);
const struct doc *doc_get(const struct doc *map, const char *key);
const char *doc_type_name(enum doc_type t);
/* Resolves a plain YAML scalar's type (and integer/bool value). */
void doc_resolve_plain(struct doc *d);

#endif
