/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Command-line option tables and the value parsers they use, in one place.
 *
 * A table of struct opt_spec says, for every flag, its name, its argument,
 * its help and how its value is parsed into a field of an options struct.
 * kroute run builds its option parser and its --help from such tables:
 * one for the agent's shared flags and one per data-plane mode, so a mode
 * adds a flag by adding a row to its own table.
 *
 * Values are read the way kube-proxy (Go, spf13/pflag) reads them, so a
 * kube-proxy command line means the same here:
 *   durations   time.ParseDuration: optional sign, then one or more
 *               number+unit pairs ("1h30m", "1.5s", "500ms", "-2m");
 *               units ns, us, µs, μs, ms, s, m, h; a bare number only
 *               as "0"; at most 2^63-1 ns.
 *   integers    strconv.ParseInt(s, 0, 32): optional sign, decimal, or
 *               0x / 0o / 0b prefixed, or a leading 0 for octal, with "_"
 *               between digits; the int32 range.
 *   booleans    strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE
 *               false False.
 * Nothing here prints or exits: parsers write a reason (without the flag's
 * name; the caller adds it) and return -EINVAL.
 */
#ifndef KROUTE_CORE_OPT_H
#define KROUTE_CORE_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_kind {
	/*
	 * A switch (bool field): "--x" sets it; "--x=false" clears it, as a
	 * pflag bool flag takes "--x=value" (never a separate argument).
	 */
	OPT_SWITCH,
	OPT_BOOL,       /* bool field; takes a boolean argument */
	OPT_UINT,       /* unsigned field; an integer in [min, max] */
	OPT_DURATION,   /* uint64_t ns field; a duration >= min (min 1: must be > 0) */
	OPT_STRING,     /* const char * field, borrowed from argv; never empty */
	OPT_CUSTOM,     /* parse() does everything */
};

struct opt_spec {
	const char *name;       /* long flag without "--"; NULL: only set from env */
	const char *alias;      /* another spelling of the same flag, or NULL */
	char short_name;        /* a one-letter spelling ('f' for -f), or 0 */
	const char *arg;        /* argument name for --help ("D", "N", "PATH") */
	const char *help;       /* lines separated by '\n'; NULL: not listed */
	const char *default_text; /* "(default ...)" text, else derived from the defaults */
	enum opt_kind kind;
	size_t offset;          /* of the field in the options struct */
	int64_t min, max;       /* OPT_UINT: inclusive range; OPT_DURATION: min in ns */
	/* OPT_CUSTOM: gets the whole options struct (it may fill several fields). */
	int (*parse)(void *opts, const char *arg, char *err, size_t errlen);
	/*
	 * An environment variable that sets this field before the flags are
	 * read (tests and benchmarks wrap helper programs this way); an empty
	 * value counts as unset.
	 */
	const char *env;
};

/* True for the all-zero row that ends a table. */
static inline bool opt_spec_is_end(const struct opt_spec *s)
{
	return !s->name && !s->env;
}

/*
 * Parses arg into spec's field of opts.  arg is NULL only for a switch given
 * without "=value".  Returns 0, or -EINVAL with the reason in err.
 */
int opt_set(const struct opt_spec *spec, void *opts, const char *arg, char *err, size_t errlen);

/*
 * Applies every env override of a table to opts.  Returns 0, or -EINVAL
 * with "VARIABLE: reason" in err.
 */
int opt_apply_env(const struct opt_spec *table, void *opts, char *err, size_t errlen);

/*
 * Prints the table's listed flags as --help lines; defaults (may be NULL)
 * is the options struct holding the default values shown.
 */
void opt_print_help(FILE *f, const struct opt_spec *table, const void *defaults);

/* Go's time.ParseDuration; the result may be negative.  0 or -EINVAL. */
int opt_parse_go_duration(const char *s, int64_t *ret_ns, char *err, size_t errlen);
/* Go's strconv.ParseInt(s, 0, 32).  0 or -EINVAL (syntax or out of range). */
int opt_parse_go_int32(const char *s, int32_t *ret, char *err, size_t errlen);
/* Go's strconv.ParseBool.  0 or -EINVAL. */
int opt_parse_go_bool(const char *s, bool *ret);
/* ns in the largest unit that divides it exactly: "30s", "90s", "1h", "500ms", "0s". */
void opt_format_duration(uint64_t ns, char *buf, size_t len);

#endif
