/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/opt: flag values read as kube-proxy (Go) reads them, the range and
 * sign checks of its validation, and --help built from a table.  The
 * expected values follow Go's time.ParseDuration, strconv.ParseInt(s, 0, 32)
 * and strconv.ParseBool.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/opt.h"

#define MS 1000000ll
#define S 1000000000ll

static void test_durations(void **state)
{
	static const struct {
		const char *in;
		int64_t ns;
	} good[] = {
		{ "0", 0 }, { "-0", 0 }, { "+0", 0 }, { "0s", 0 },
		{ "1s", S }, { "+5s", 5 * S }, { "-2m", -120 * S },
		{ "1.5s", 1500 * MS }, { ".5s", 500 * MS }, { "1.s", S },
		{ "1h30m", 5400 * S }, { "1m30.5s", 90500 * MS }, { "1.5h", 5400 * S },
		{ "500ms", 500 * MS }, { "100us", 100000 }, { "100\xc2\xb5s", 100000 },
		{ "100\xce\xbcs", 100000 }, { "10ns", 10 }, { "1h1h", 7200 * S },
		{ "0.000000001s", 1 }, { "1.0000000000000000000001s", S },
		{ "2562047h47m16.854775807s", INT64_MAX },
		{ "9223372036854775807ns", INT64_MAX },
		{ "-9223372036854775808ns", INT64_MIN },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "not a duration" }, { "nan", "not a duration" }, { "inf", "not a duration" },
		{ "-inf", "not a duration" }, { "30", "missing unit" }, { "1", "missing unit" },
		{ "s", "not a duration" }, { ".s", "not a duration" }, { "-", "not a duration" },
		{ "+", "not a duration" }, { "--1s", "not a duration" }, { "1sec", "unknown unit \"sec\"" },
		{ "1 s", "unknown unit \" s\"" }, { " 1s", "not a duration" }, { "1s ", "unknown unit" },
		{ "1e3s", "unknown unit \"e\"" }, { "1.2.3s", "missing unit" }, { "14x", "unknown unit" },
		{ "1S", "unknown unit" }, { "0x10s", "unknown unit" },
		{ "9223372036854775808ns", "out of range" },
		{ "2562047h47m16.854775808s", "out of range" },
		{ "3000000h", "out of range" }, { "99999999999999999999ns", "out of range" },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t v = 42;

		if (opt_parse_go_duration(good[i].in, &v, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", good[i].in, err);
		if (v != good[i].ns)
			fail_msg("\"%s\": %lld, want %lld", good[i].in, (long long)v,
				 (long long)good[i].ns);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;

		err[0] = '\0';
		if (opt_parse_go_duration(bad[i].in, &v, err, sizeof(err)) != -EINVAL)
			fail_msg("\"%s\" accepted as %lld", bad[i].in, (long long)v);
		if (!strstr(err, bad[i].why))
			fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].in, err, bad[i].why);
		assert_int_equal(v, 42); /* untouched on failure */
	}
}

static void test_int32(void **state)
{
	static const struct {
		const char *in;
		int32_t v;
	} good[] = {
		{ "0", 0 }, { "14", 14 }, { "+14", 14 }, { "-1", -1 }, { "-0", 0 },
		{ "0x0e", 14 }, { "0X0E", 14 }, { "016", 14 }, { "0o16", 14 }, { "0O16", 14 },
		{ "0b1110", 14 }, { "1_4", 14 }, { "0x_e", 14 }, { "0_16", 14 }, { "00", 0 },
		{ "2147483647", INT32_MAX }, { "-2147483648", INT32_MIN }, { "0x7fffffff", INT32_MAX },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "not an integer" }, { "14x", "not an integer" }, { "x", "not an integer" },
		{ "0x", "not an integer" }, { "08", "not an integer" }, { "0b2", "not an integer" },
		{ "1__4", "not an integer" }, { "_14", "not an integer" }, { "14_", "not an integer" },
		{ "0x_", "not an integer" }, { " 14", "not an integer" }, { "14 ", "not an integer" },
		{ "1e1", "not an integer" }, { "1.5", "not an integer" }, { "+", "not an integer" },
		{ "-", "not an integer" }, { "--1", "not an integer" }, { "nan", "not an integer" },
		{ "2147483648", "out of range" }, { "-2147483649", "out of range" },
		{ "4294967310", "out of range" }, { "99999999999999999999", "out of range" },
	};
	char err[128];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int32_t v = 42;

		if (opt_parse_go_int32(good[i].in, &v, err, sizeof(err)) != 0)
			fail_msg("\"%s\": %s", good[i].in, err);
		if (v != good[i].v)
			fail_msg("\"%s\": %d, want %d", good[i].in, v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int32_t v = 42;

		err[0] = '\0';
		if (opt_parse_go_int32(bad[i].in, &v, err, sizeof(err)) != -EINVAL)
			fail_msg("\"%s\" accepted as %d", bad[i].in, v);
		if (!strstr(err, bad[i].why))
			fail_msg("\"%s\": \"%s\" lacks \"%s\"", bad[i].in, err, bad[i].why);
		assert_int_equal(v, 42);
	}
}

static void test_bools(void **state)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	static const char *const bad[] = { "", "yes", "no", "tRUE", "on", "2", "true ", " true" };
	bool v;

	(void)state;
	for (size_t i = 0; i < 6; i++) {
		v = false;
		assert_int_equal(opt_parse_go_bool(yes[i], &v), 0);
		assert_true(v);
		v = true;
		assert_int_equal(opt_parse_go_bool(no[i], &v), 0);
		assert_false(v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (opt_parse_go_bool(bad[i], &v) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
}

struct sample {
	bool on, layout;
	unsigned bit;
	uint64_t period, min_period;
	const char *path, *prog;
};

static const struct sample sample_defaults = {
	.on = true, .bit = 14, .period = 30 * S, .min_period = S, .prog = "restore",
};

static const struct opt_spec sample_table[] = {
	{ .name = "on", .arg = "BOOL", .kind = OPT_BOOL, .offset = offsetof(struct sample, on),
	  .help = "a boolean" },
	{ .name = "layout", .kind = OPT_SWITCH, .offset = offsetof(struct sample, layout),
	  .help = "a switch" },
	{ .name = "bit", .arg = "N", .kind = OPT_UINT, .min = 0, .max = 31,
	  .offset = offsetof(struct sample, bit), .help = "a bit" },
	{ .name = "period", .alias = "p", .arg = "D", .kind = OPT_DURATION, .min = 1,
	  .offset = offsetof(struct sample, period), .help = "two lines\nof help" },
	{ .name = "min-period", .arg = "D", .kind = OPT_DURATION, .min = 0,
	  .offset = offsetof(struct sample, min_period), .help = "may be 0" },
	{ .name = "a-flag-with-a-very-long-name", .arg = "PATH", .kind = OPT_STRING,
	  .offset = offsetof(struct sample, path), .help = "help on the next line" },
	{ .env = "TEST_OPT_PROG", .kind = OPT_STRING, .offset = offsetof(struct sample, prog) },
	{ 0 },
};

/* opt_set over the sample table: "NAME=VALUE" or "NAME" (a switch without a value). */
static int set(struct sample *o, const char *name, const char *arg, char *err)
{
	for (const struct opt_spec *s = sample_table; !opt_spec_is_end(s); s++)
		if (s->name && !strcmp(s->name, name))
			return opt_set(s, o, arg, err, 128);
	fail_msg("no flag %s", name);
	return -1;
}

static void test_set_checks(void **state)
{
	struct sample o = sample_defaults;
	char err[128];

	(void)state;
	assert_int_equal(set(&o, "bit", "0x1f", err), 0);
	assert_int_equal(o.bit, 31);
	assert_int_equal(set(&o, "bit", "32", err), -EINVAL);
	assert_string_equal(err, "must be within the range [0, 31]");
	assert_int_equal(set(&o, "bit", "-1", err), -EINVAL);
	assert_int_equal(set(&o, "bit", "14x", err), -EINVAL);
	assert_string_equal(err, "not an integer");
	assert_int_equal(o.bit, 31);
	/* A period must be > 0, a minimum >= 0, as kube-proxy's validation says. */
	assert_int_equal(set(&o, "period", "0s", err), -EINVAL);
	assert_string_equal(err, "must be greater than 0");
	assert_int_equal(set(&o, "period", "-1s", err), -EINVAL);
	assert_int_equal(set(&o, "period", "1ns", err), 0);
	assert_int_equal(o.period, 1);
	assert_int_equal(set(&o, "min-period", "0", err), 0);
	assert_int_equal(o.min_period, 0);
	assert_int_equal(set(&o, "min-period", "-1ns", err), -EINVAL);
	assert_string_equal(err, "must be greater than or equal to 0");
	/* A switch: bare is true, "=value" is a Go boolean. */
	assert_int_equal(set(&o, "layout", NULL, err), 0);
	assert_true(o.layout);
	assert_int_equal(set(&o, "layout", "false", err), 0);
	assert_false(o.layout);
	assert_int_equal(set(&o, "layout", "nope", err), -EINVAL);
	assert_int_equal(set(&o, "on", "F", err), 0);
	assert_false(o.on);
	assert_int_equal(set(&o, "a-flag-with-a-very-long-name", "", err), -EINVAL);
	assert_string_equal(err, "must not be empty");
	assert_null(o.path);
}

static void test_env(void **state)
{
	struct sample o = sample_defaults;
	char err[128];

	(void)state;
	unsetenv("TEST_OPT_PROG");
	assert_int_equal(opt_apply_env(sample_table, &o, err, sizeof(err)), 0);
	assert_string_equal(o.prog, "restore");
	/* Empty counts as unset. */
	setenv("TEST_OPT_PROG", "", 1);
	assert_int_equal(opt_apply_env(sample_table, &o, err, sizeof(err)), 0);
	assert_string_equal(o.prog, "restore");
	setenv("TEST_OPT_PROG", "/tmp/wrapper", 1);
	assert_int_equal(opt_apply_env(sample_table, &o, err, sizeof(err)), 0);
	assert_string_equal(o.prog, "/tmp/wrapper");
	unsetenv("TEST_OPT_PROG");
}

static void test_help(void **state)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	(void)state;
	opt_print_help(f, sample_table, &sample_defaults);
	fclose(f);
	/* Defaults come from the defaults struct; env-only rows are not listed. */
	assert_string_equal(text,
		"      --on BOOL                    a boolean (default true)\n"
		"      --layout                     a switch\n"
		"      --bit N                      a bit (default 14)\n"
		"      --period, --p D              two lines\n"
		"                                   of help (default 30s)\n"
		"      --min-period D               may be 0 (default 1s)\n"
		"      --a-flag-with-a-very-long-name PATH\n"
		"                                   help on the next line\n");
	free(text);
}

static void test_format_duration(void **state)
{
	char buf[32];

	(void)state;
	opt_format_duration(30 * S, buf, sizeof(buf));
	assert_string_equal(buf, "30s");
	opt_format_duration(3600 * S, buf, sizeof(buf));
	assert_string_equal(buf, "1h");
	opt_format_duration(90 * S, buf, sizeof(buf));
	assert_string_equal(buf, "90s");
	opt_format_duration(500 * MS, buf, sizeof(buf));
	assert_string_equal(buf, "500ms");
	opt_format_duration(0, buf, sizeof(buf));
	assert_string_equal(buf, "0s");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_int32),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_set_checks),
		cmocka_unit_test(test_env),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_format_duration),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
