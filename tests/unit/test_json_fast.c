/* SPDX-License-Identifier: Apache-2.0 */
/*
 * doc_parse_json_fast() (src/source/json_fast.c): what it accepts gives the
 * very tree jansson + json.c's convert() give (compared node by node), and
 * it gives up (NULL) on everything it cannot take exactly as jansson would,
 * valid or not, so the caller's jansson judges and reports.  fuzz_watch
 * compares the two on arbitrary bytes.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "source/doc.h"

static void assert_same(const struct doc *a, const struct doc *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->i, b->i);
	assert_int_equal(a->b, b->b);
	assert_int_equal(a->line, b->line);
	assert_int_equal(a->weight, b->weight);
	if (a->text || b->text)
		assert_string_equal(a->text, b->text);
	assert_int_equal(!a->keys, !b->keys);
	for (size_t i = 0; i < a->n; i++) {
		if (a->keys)
			assert_string_equal(a->keys[i], b->keys[i]);
		assert_same(a->v[i], b->v[i]);
	}
}

static int compare(const struct doc *obj, void *userdata)
{
	assert_same(obj, userdata);
	return 1;
}

static void test_same_tree(void **state)
{
	static const char *const accepted[] = {
		"{}",
		" {\"a\" : [ ] , \"b\":{ } }\n",
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\",\"labels\":{\"a\":\"\"}},"
		"\"spec\":{\"ports\":[{\"port\":80,\"nodePort\":-30000}],\"n\":null,\"t\":true,"
		"\"f\":false,\"z\":0,\"big\":123456789012345678}}",
		"{\"esc\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\",\"del\":\"\x7f\",\"nest\":[[[1],[]],{}]}",
	};

	for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
		const char *s = accepted[i];
		struct doc *fast = doc_parse_json_fast(s, strlen(s), doc_default_limits.max_depth);
		struct diag d;
		struct doc_reader r = {
			.file = "t", .limits = &doc_default_limits, .diag = &d, .on_object = compare,
		};
		json_t *j = json_loadb(s, strlen(s), JSON_REJECT_DUPLICATES, NULL);

		assert_non_null(fast);
		assert_non_null(j);
		diag_init(&d);
		r.userdata = fast;
		assert_int_equal(doc_read_json_value(&r, j), 1);
		json_decref(j);
		doc_unref(fast);
		diag_done(&d);
	}
}

static void test_gives_up(void **state)
{
	static const char *const refused[] = {
		/* valid JSON, but jansson's to convert */
		"{\"a\":\"\\u00e9\"}",
		"{\"a\":\"\xc3\xa9\"}",
		"{\"a\":1.5}",
		"{\"a\":1e3}",
		"{\"a\":-0}",
		"{\"a\":1234567890123456789}",
		"[{}]",
		"\"s\"",
		/* invalid: jansson's to report */
		"{\"a\":1,\"a\":2}",
		"{\"a\":01}",
		"{\"a\":\"\x01\"}",
		"{\"a\":\"\\x\"}",
		"{\"a\":tru}",
		"{\"a\":truex}",
		"{\"a\":[1,]}",
		"{\"a\":1,}",
		"{\"a\" 1}",
		"{\"a\":1} x",
		"{\"a\":\"b",
		"{\"a\":-}",
		"",
	};
	char deep[256] = "{\"a\":";
	size_t n = strlen(deep);
	struct doc *ok;

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (doc_parse_json_fast(refused[i], strlen(refused[i]), 64))
			fail_msg("accepted: %s", refused[i]);
	/* Nesting: the object itself is level 1, as convert() counts; 3 levels pass a limit of 3. */
	memcpy(deep + n, "[[1]]}", 7);
	assert_null(doc_parse_json_fast(deep, strlen(deep), 3));
	memcpy(deep + n, "[1]}", 5);
	ok = doc_parse_json_fast(deep, strlen(deep), 3);
	assert_non_null(ok);
	doc_unref(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_tree),
		cmocka_unit_test(test_gives_up),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
