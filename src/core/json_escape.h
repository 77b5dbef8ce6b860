/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one JSON string escaper (RFC 8259): explain's JSON writer, the
 * userspace status file and string builders all quote through it, so a
 * name with a quote, backslash or control byte comes out the same
 * everywhere.  Bytes >= 0x80 pass through: kroute's strings are UTF-8 from
 * validated input.
 */
#ifndef KROUTE_CORE_JSON_ESCAPE_H
#define KROUTE_CORE_JSON_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/* Receives the escaped literal in pieces (quotes included). */
typedef void (*json_sink_fn)(void *ctx, const char *s, size_t n);

void json_escape(const char *s, json_sink_fn sink, void *ctx);
/*
 * The same literal, but also escaping (as \uXXXX) what a YAML double-quoted
 * scalar may not hold raw: DEL, the C1 controls, U+2028, U+2029, U+FEFF,
 * U+FFFE and U+FFFF.  Valid JSON and valid YAML, with the same value.
 */
void json_escape_yaml_safe(const char *s, json_sink_fn sink, void *ctx);
/* json_escape() into a stdio stream. */
void json_fputs(const char *s, FILE *f);

#endif
