/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's log: the one place its lines are formatted and written
 * (stderr, one write per line so threads do not interleave).  Levels are
 * klog's: every info line has a verbosity, shown when it is at most -v
 * (0: what an operator reads, 2: details, 4: debug); errors are always
 * shown.  Two formats, as kube-proxy's component-base has:
 *   text  "kroute HH:MM:SS.mmm: message key=value ..." (UTC), as kroute
 *         always printed; diagnostics and start-up errors keep their own
 *         unstamped form ("kroute: file:line: ...", "kroute run: ...").
 *   json  one object per line, as component-base's JSON format (zapr over
 *         zap): {"ts":<ms since the epoch>,"caller":"dir/file.c:N",
 *         "msg":"...","v":N,key:value...}; an error has no "v", and its
 *         cause, when given, under "err".
 * log_setup() runs once, before any thread that logs starts; after that the
 * settings are only read.
 */
#ifndef KROUTE_CORE_LOG_H
#define KROUTE_CORE_LOG_H

#include <stdbool.h>
#include <stddef.h>

struct diag;

enum log_format {
	LOG_FORMAT_TEXT,
	LOG_FORMAT_JSON,
};

enum log_severity {
	LOG_SEV_INFO,
	LOG_SEV_ERROR,
	LOG_SEV_ERROR_UNSTAMPED,    /* an error whose text form has no "kroute HH:MM:SS" stamp */
};

/* One key/value pair of a structured line: a string, or a number when str is NULL. */
struct log_kv {
	const char *key;
	const char *str;
	long long num;
};

void log_setup(unsigned verbosity, enum log_format format);
/* klog's V(v).Enabled(): would an info line at verbosity v be written? */
bool log_enabled(unsigned v);
/* "text" or "json" into *ret; -EINVAL for anything else. */
int log_format_parse(const char *s, enum log_format *ret);
const char *log_format_name(enum log_format f);

/*
 * Writes one line: msg (printf-formatted) at severity sev and verbosity v
 * (info only), then the n key/value pairs; file and line name the caller
 * (the macros below pass them).  Nothing is written for an info line above
 * the verbosity.
 */
void log_write(const char *file, int line, enum log_severity sev, unsigned v,
	       const struct log_kv *kv, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

/* An info line at verbosity v. */
#define log_info(v, ...) log_write(__FILE__, __LINE__, LOG_SEV_INFO, (v), NULL, 0, __VA_ARGS__)
/* The agent's everyday line: info at verbosity 0. */
#define log_line(...) log_info(0, __VA_ARGS__)
/* A failure: shown whatever -v says. */
#define log_error(...) log_write(__FILE__, __LINE__, LOG_SEV_ERROR, 0, NULL, 0, __VA_ARGS__)
/* An info line with key/value pairs (an array of struct log_kv). */
#define log_info_kv(v, kv, n, ...) \
	log_write(__FILE__, __LINE__, LOG_SEV_INFO, (v), (kv), (n), __VA_ARGS__)

/*
 * A start-up error of `kroute run` ("kroute run: cannot ...").  In text it
 * is written as it always was, without a time stamp; in JSON it is an error
 * line like any other.
 */
#define log_startup_error(...) \
	log_write(__FILE__, __LINE__, LOG_SEV_ERROR_UNSTAMPED, 0, NULL, 0, __VA_ARGS__)

/*
 * Every message of d: in text exactly as diag_print() writes them; in JSON
 * one line each, msg the text and file, line, object and field as keys
 * (errors as errors, warnings and notes as info at verbosity 0).
 */
void log_diag(const struct diag *d);

#endif
