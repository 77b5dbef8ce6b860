/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the decoder's files share, for them only (not part of decode.h): the
 * decoding state with its field path, reporting, typed field getters, name
 * rules, and the kind decoders decode_object() dispatches to.
 *
 * Every getter reports a problem itself (with the field path pushed for it)
 * and returns NULL or false; a caller only has to skip what came back empty.
 * An object is added to the cluster only when no error was reported for it
 * (dec.errors stays 0).
 */
#ifndef KROUTE_SOURCE_DECODE_INTERNAL_H
#define KROUTE_SOURCE_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "core/addr.h"
#include "core/diag.h"
#include "model/model.h"
#include "source/doc.h"

/* The state of decoding one object. */
struct dec {
	const char *file;
	struct diag *d;
	char object[320]; /* "Service default/web" */
	char path[512];
	size_t plen;
	int line;         /* line of the object, used when a node has none */
	int errors;
};

/* decode.c: the field path ("spec.ports[0].name"), as a stack. */
/* Appends one element; returns the old length for dec_path_pop(). */
size_t dec_path_push(struct dec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dec_path_pop(struct dec *x, size_t old);

/* Reports at node at (its line, else the object's) with the current path; errors count. */
void dec_err(struct dec *x, const struct doc *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void dec_warn(struct dec *x, const struct doc *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Short quoted rendering of a scalar for messages. */
const char *dec_shown(const struct doc *n, char buf[80]);

/* Typed fields of a map. */
const struct doc *dec_field(struct dec *x, const struct doc *map, const char *key, bool required);
bool dec_expect_type(struct dec *x, const struct doc *v, enum doc_type t);
const char *dec_get_str(struct dec *x, const struct doc *map, const char *key, bool required);
bool dec_get_int(struct dec *x, const struct doc *map, const char *key, bool required,
		 long long min, long long max, long long *ret);
void dec_get_bool_tri(struct dec *x, const struct doc *map, const char *key, enum tristate *ret);
const struct doc *dec_get_typed(struct dec *x, const struct doc *map, const char *key,
				enum doc_type t, bool required);
void dec_string_map(struct dec *x, const struct doc *map, const char *key, struct kvlist *out);
bool dec_parse_proto(struct dec *x, const struct doc *map, enum proto *ret);
bool dec_parse_ip_node(struct dec *x, const struct doc *v, struct addr *ret);

/* The API server's name rules. */
bool dec_is_dns1123_label(const char *s, size_t len);
bool dec_is_dns1123_subdomain(const char *s);
bool dec_is_dns1035_label(const char *s);
bool dec_is_iana_svc_name(const char *s);

/* metadata: name and namespace (borrowed from the doc); sets x->object for reports. */
struct meta {
	const char *name;
	const char *ns;
};

bool dec_meta(struct dec *x, const struct doc *obj, bool namespaced, struct meta *m,
	      const char *kind);

/* The kinds: each adds its object to c, or returns -EINVAL with the errors reported. */
int decode_service(struct dec *x, const struct doc *obj, struct cluster *c); /* decode_service.c */
int decode_slice(struct dec *x, const struct doc *obj, struct cluster *c);   /* decode_slice.c */
int decode_node(struct dec *x, const struct doc *obj, struct cluster *c);    /* decode_node.c */

#endif
