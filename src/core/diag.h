/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Diagnostics: errors and warnings with a location (file, line, field path).
 * Parsers and decoders never print; they append here, and main decides how to
 * show them.  A location is what a user needs to fix the input: the file, the
 * line where the parser knows one (0 when it does not, e.g. for JSON values),
 * and the path of the field inside the object ("spec.ports[0].port").
 */
#ifndef KROUTE_CORE_DIAG_H
#define KROUTE_CORE_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum diag_level {
	DIAG_NOTE,
	DIAG_WARNING,
	DIAG_ERROR,
};

struct diag_msg {
	enum diag_level level;
	char *file;   /* owned; may be NULL */
	int line;     /* 1-based; 0 = unknown */
	char *object; /* owned; "Service default/abc-svc", may be NULL */
	char *path;   /* owned; field path, may be NULL */
	char *text;   /* owned */
};

struct diag {
	struct diag_msg *msgs;
	size_t n, cap;
	size_t n_errors;
	size_t max_msgs; /* 0 = unlimited; later messages are counted, not kept */
	size_t n_dropped;
};

void diag_init(struct diag *d);
void diag_done(struct diag *d);
void diag_add(struct diag *d, enum diag_level level, const char *file, int line,
	      const char *object, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
/* Moves every message of src to the end of dst; src is left empty. */
void diag_move(struct diag *dst, struct diag *src);
/* One line per message: "file:line: object: path: text". */
void diag_print(const struct diag *d, FILE *f);
void diag_msg_format(const struct diag_msg *m, char *buf, size_t len);

#endif
