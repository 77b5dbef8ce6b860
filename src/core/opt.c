/* SPDX-License-Identifier: Apache-2.0 */
/* Option tables and kube-proxy's (Go's) value syntax; see opt.h. */
#include "core/opt.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define HELP_COLUMN 35

#define DURATION_EXAMPLES "e.g. 30s, 500ms, 1m30s"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The units time.ParseDuration knows; "µs" is U+00B5 and "μs" U+03BC in UTF-8. */
static const struct {
	const char *name;
	uint64_t ns;
} duration_units[] = {
	{ "ns", 1ull },
	{ "us", 1000ull },
	{ "\xc2\xb5s", 1000ull },
	{ "\xce\xbcs", 1000ull },
	{ "ms", 1000000ull },
	{ "s", 1000000000ull },
	{ "m", 60000000000ull },
	{ "h", 3600000000000ull },
};

/*
 * One "number unit" pair of a duration at *p; adds its ns to *total.  The
 * integer part must not overflow; fraction digits beyond what 64 bits hold
 * are dropped, as Go drops them.
 */
static int duration_term(const char **p, uint64_t *total, char *err, size_t errlen)
{
	const char *s = *p, *unit_start;
	uint64_t v = 0, f = 0, unit = 0;
	double scale = 1;
	bool pre = false, post = false, f_full = false;
	size_t unit_len;

	if (*s != '.' && !is_digit(*s))
		return fail(err, errlen, "not a duration (" DURATION_EXAMPLES ")");
	for (; is_digit(*s); s++, pre = true) {
		if (v > (UINT64_MAX - 9) / 10 || v * 10 + (uint64_t)(*s - '0') > (1ull << 63))
			return fail(err, errlen, "out of range");
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		for (s++; is_digit(*s); s++, post = true) {
			if (f_full || f > (UINT64_MAX - 9) / 10 || f * 10 + 9 > (1ull << 63)) {
				f_full = true;
				continue;
			}
			f = f * 10 + (uint64_t)(*s - '0');
			scale *= 10;
		}
	}
	if (!pre && !post)
		return fail(err, errlen, "not a duration (" DURATION_EXAMPLES ")");
	unit_start = s;
	while (*s && *s != '.' && !is_digit(*s))
		s++;
	unit_len = (size_t)(s - unit_start);
	if (!unit_len)
		return fail(err, errlen, "missing unit (" DURATION_EXAMPLES ")");
	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++)
		if (strlen(duration_units[i].name) == unit_len &&
		    !memcmp(duration_units[i].name, unit_start, unit_len))
			unit = duration_units[i].ns;
	if (!unit) {
		return fail(err, errlen, "unknown unit \"%.*s\" (units: ns, us, ms, s, m, h)",
			    (int)MIN(unit_len, 16), unit_start);
	}
	if (v > (1ull << 63) / unit)
		return fail(err, errlen, "out of range");
	v *= unit;
	if (f) {
		v += (uint64_t)((double)f * ((double)unit / scale));
		if (v > (1ull << 63))
			return fail(err, errlen, "out of range");
	}
	*total += v;
	if (*total > (1ull << 63))
		return fail(err, errlen, "out of range");
	*p = s;
	return 0;
}

int opt_parse_go_duration(const char *s, int64_t *ret_ns, char *err, size_t errlen)
{
	const char *p = s;
	uint64_t total = 0;
	bool neg = false;
	int r;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (streq(p, "0")) {
		*ret_ns = 0;
		return 0;
	}
	if (!*p)
		return fail(err, errlen, "not a duration (" DURATION_EXAMPLES ")");
	while (*p) {
		r = duration_term(&p, &total, err, errlen);
		if (r < 0)
			return r;
	}
	if (!neg && total > (uint64_t)INT64_MAX)
		return fail(err, errlen, "out of range");
	*ret_ns = neg ? (int64_t)(0 - total) : (int64_t)total;
	return 0;
}

static int digit_value(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 99;
}

int opt_parse_go_int32(const char *s, int32_t *ret, char *err, size_t errlen)
{
	const char *p = s;
	bool neg = false, last_digit = false;
	unsigned base = 10;
	uint64_t v = 0;
	size_t digits = 0;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2, last_digit = true;
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		base = 8, p += 2, last_digit = true;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2, last_digit = true;
	else if (p[0] == '0' && p[1])
		base = 8;
	for (; *p; p++) {
		/* "_" only between digits (a base prefix counts as one). */
		if (*p == '_') {
			if (!last_digit || !p[1] || p[1] == '_')
				return fail(err, errlen, "not an integer");
			last_digit = false;
			continue;
		}
		if ((unsigned)digit_value(*p) >= base)
			return fail(err, errlen, "not an integer");
		v = v * base + (unsigned)digit_value(*p);
		if (v > (uint64_t)INT32_MAX + 1)
			return fail(err, errlen, "out of range (int32)");
		last_digit = true;
		digits++;
	}
	if (!digits)
		return fail(err, errlen, "not an integer");
	if (!neg && v > INT32_MAX)
		return fail(err, errlen, "out of range (int32)");
	*ret = neg ? (int32_t)(0 - (int64_t)v) : (int32_t)v;
	return 0;
}

int opt_parse_go_bool(const char *s, bool *ret)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (streq(s, yes[i])) {
			*ret = true;
			return 0;
		}
		if (streq(s, no[i])) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

void opt_format_duration(uint64_t ns, char *buf, size_t len)
{
	size_t best = 0;

	if (!ns) {
		snprintf(buf, len, "0s");
		return;
	}
	/* The largest unit that divides it exactly ("µs" is left out: ASCII help). */
	for (size_t i = 0; i < ARRAY_SIZE(duration_units); i++)
		if ((unsigned char)duration_units[i].name[0] < 0x80 && ns % duration_units[i].ns == 0)
			best = i;
	snprintf(buf, len, "%" PRIu64 "%s", ns / duration_units[best].ns, duration_units[best].name);
}

static int set_uint(const struct opt_spec *spec, void *field, const char *arg, char *err,
		    size_t errlen)
{
	int32_t v;

	if (opt_parse_go_int32(arg, &v, err, errlen) < 0)
		return -EINVAL;
	if (v < spec->min || v > spec->max)
		return fail(err, errlen, "must be within the range [%" PRId64 ", %" PRId64 "]",
			    spec->min, spec->max);
	*(unsigned *)field = (unsigned)v;
	return 0;
}

static int set_duration(const struct opt_spec *spec, void *field, const char *arg, char *err,
			size_t errlen)
{
	int64_t v;
	char min[32];

	if (opt_parse_go_duration(arg, &v, err, errlen) < 0)
		return -EINVAL;
	/* kube-proxy's validation words: "> 0" for periods and timeouts, ">= 0" for a minimum. */
	if (v < spec->min && spec->min <= 1)
		return fail(err, errlen, "must be greater than %s0", spec->min == 1 ? "" : "or equal to ");
	if (v < spec->min) {
		opt_format_duration((uint64_t)spec->min, min, sizeof(min));
		return fail(err, errlen, "must be at least %s", min);
	}
	*(uint64_t *)field = (uint64_t)v;
	return 0;
}

int opt_set(const struct opt_spec *spec, void *opts, const char *arg, char *err, size_t errlen)
{
	void *field = (char *)opts + spec->offset;

	switch (spec->kind) {
	case OPT_SWITCH:
	case OPT_BOOL:
		/* A switch without "=value" is "true". */
		if (spec->kind == OPT_SWITCH && !arg) {
			*(bool *)field = true;
			return 0;
		}
		if (opt_parse_go_bool(arg, field) < 0)
			return fail(err, errlen, "not a boolean (true or false)");
		return 0;
	case OPT_UINT:
		return set_uint(spec, field, arg, err, errlen);
	case OPT_DURATION:
		return set_duration(spec, field, arg, err, errlen);
	case OPT_STRING:
		if (!*arg)
			return fail(err, errlen, "must not be empty");
		*(const char **)field = arg;
		return 0;
	case OPT_CUSTOM:
		return spec->parse(opts, arg, err, errlen);
	}
	return fail(err, errlen, "unknown option kind %d", (int)spec->kind);
}

int opt_apply_env(const struct opt_spec *table, void *opts, char *err, size_t errlen)
{
	for (const struct opt_spec *s = table; !opt_spec_is_end(s); s++) {
		const char *v = s->env ? getenv(s->env) : NULL;
		char why[256];

		if (!v || !*v)
			continue;
		if (opt_set(s, opts, v, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s=\"%s\": %s", s->env, v, why);
			return -EINVAL;
		}
	}
	return 0;
}

/* The "(default X)" text for one flag, or "" when there is nothing worth saying. */
static void default_text(const struct opt_spec *s, const void *defaults, char *buf, size_t len)
{
	const void *field = defaults ? (const char *)defaults + s->offset : NULL;
	char v[64] = "";

	if (s->default_text)
		snprintf(v, sizeof(v), "%s", s->default_text);
	else if (!field)
		;
	else if (s->kind == OPT_BOOL)
		snprintf(v, sizeof(v), "%s", *(const bool *)field ? "true" : "false");
	else if (s->kind == OPT_UINT && *(const unsigned *)field)
		snprintf(v, sizeof(v), "%u", *(const unsigned *)field);
	else if (s->kind == OPT_DURATION && *(const uint64_t *)field)
		opt_format_duration(*(const uint64_t *)field, v, sizeof(v));
	else if (s->kind == OPT_STRING && *(const char *const *)field)
		snprintf(v, sizeof(v), "%s", *(const char *const *)field);
	if (*v)
		snprintf(buf, len, " (default %s)", v);
	else
		buf[0] = '\0';
}

void opt_print_help(FILE *f, const struct opt_spec *table, const void *defaults)
{
	for (const struct opt_spec *s = table; !opt_spec_is_end(s); s++) {
		char left[128], def[96];
		const char *h, *nl;
		int n;

		if (!s->name || !s->help)
			continue;
		if (s->short_name)
			n = snprintf(left, sizeof(left), "  -%c, --%s", s->short_name, s->name);
		else
			n = snprintf(left, sizeof(left), "      --%s", s->name);
		if (s->alias)
			n += snprintf(left + n, sizeof(left) - (size_t)n, ", --%s", s->alias);
		if (s->arg)
			n += snprintf(left + n, sizeof(left) - (size_t)n, " %s", s->arg);
		default_text(s, defaults, def, sizeof(def));
		/* A long flag gets its help on the next line. */
		if (n > HELP_COLUMN - 2)
			fprintf(f, "%s\n%*s", left, HELP_COLUMN, "");
		else
			fprintf(f, "%-*s", HELP_COLUMN, left);
		for (h = s->help; (nl = strchr(h, '\n')); h = nl + 1)
			fprintf(f, "%.*s\n%*s", (int)(nl - h), h, HELP_COLUMN, "");
		/* The default on a line of its own when it would pass column 80. */
		if (*def && HELP_COLUMN + strlen(h) + strlen(def) > 80)
			fprintf(f, "%s\n%*s%s\n", h, HELP_COLUMN - 1, "", def);
		else
			fprintf(f, "%s%s\n", h, def);
	}
}
