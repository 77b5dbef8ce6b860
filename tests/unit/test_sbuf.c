/* SPDX-License-Identifier: Apache-2.0 */
/* The shared string builder and JSON escaper (core/sbuf, core/json_escape). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json_escape.h"
#include "core/sbuf.h"

static void test_append(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	sbuf_adds(&b, "a");
	sbuf_addc(&b, '-');
	sbuf_addu(&b, 0);
	sbuf_addu(&b, 18446744073709551615ul);
	SBUF_ADDL(&b, "|");
	assert_string_equal(sbuf_cstr(&b), "a-018446744073709551615|");
	assert_int_equal(b.len, strlen("a-018446744073709551615|"));
	sbuf_free(&b);
	assert_null(b.p);
}

static void test_printf_grows(void **state)
{
	struct sbuf b = { 0 };
	char big[10000];

	(void)state;
	/* Empty buffer, then a format longer than the first allocation. */
	sbuf_printf(&b, "%s=%d;", "x", 42);
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	sbuf_printf(&b, "%s%u", big, 7u);
	assert_int_equal(b.len, 5 + sizeof(big) - 1 + 1);
	assert_memory_equal(b.p, "x=42;yyy", 8);
	assert_int_equal(sbuf_cstr(&b)[b.len - 1], '7');
	/* Exactly filling the remaining room must not lose the last byte. */
	while (b.cap - b.len != 3)
		sbuf_addc(&b, 'z');
	sbuf_printf(&b, "%s", "abc");
	assert_memory_equal(b.p + b.len - 3, "abc", 3);
	sbuf_free(&b);
}

static void test_json_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "", "\"\"" },
		{ "plain/name:80", "\"plain/name:80\"" },
		{ "q\"b\\", "\"q\\\"b\\\\\"" },
		{ "a\nb\tc\rd", "\"a\\nb\\tc\\rd\"" },
		{ "\x01\x1f", "\"\\u0001\\u001f\"" },
		{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" }, /* UTF-8 passes through */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbuf b = { 0 };
		char *mem = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&mem, &len);

		assert_non_null(f);
		sbuf_add_json_str(&b, cases[i].in);
		json_fputs(cases[i].in, f);
		fclose(f);
		assert_string_equal(sbuf_cstr(&b), cases[i].out);
		assert_string_equal(mem, cases[i].out);
		free(mem);
		sbuf_free(&b);
	}
}

/*
 * The YAML-safe form (what --write-config-to writes strings with): JSON's
 * escapes, plus \uXXXX for what a YAML double-quoted scalar may not hold
 * raw (libyaml refuses or folds them); other UTF-8 passes through.
 */
static void test_yaml_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain", "\"plain\"" },
		{ "q\"b\\\n\x01", "\"q\\\"b\\\\\\n\\u0001\"" },
		{ "del\x7f", "\"del\\u007f\"" },
		{ "nel\xc2\x85 c1\xc2\x80\xc2\x9f", "\"nel\\u0085 c1\\u0080\\u009f\"" },
		{ "ls\xe2\x80\xa8ps\xe2\x80\xa9", "\"ls\\u2028ps\\u2029\"" },
		{ "bom\xef\xbb\xbf\xef\xbf\xbe\xef\xbf\xbf", "\"bom\\ufeff\\ufffe\\uffff\"" },
		{ "caf\xc3\xa9 \xc2\xa0 \xe2\x80\xa7 \xef\xbf\xbd",
		  "\"caf\xc3\xa9 \xc2\xa0 \xe2\x80\xa7 \xef\xbf\xbd\"" },
		{ "cut\xc2", "\"cut\xc2\"" }, /* a truncated sequence is not read past its end */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sbuf b = { 0 };

		sbuf_add_yaml_str(&b, cases[i].in);
		assert_string_equal(sbuf_cstr(&b), cases[i].out);
		sbuf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_printf_grows),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_yaml_escape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
