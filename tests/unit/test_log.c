/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core/log: klog's verbosity levels (an info line shows when its level is
 * at most -v, an error always) and the two formats: kroute's text line and
 * component-base's JSON object per line, each line parsed back with jansson
 * (valid JSON, the keys and types component-base writes, values escaped).
 * stderr is pointed at a temporary file for each case.
 */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"

static FILE *capture;
static int saved_stderr = -1;

/* Sends stderr to a fresh temporary file. */
static void capture_start(void)
{
	fflush(stderr);
	capture = tmpfile();
	assert_non_null(capture);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture), STDERR_FILENO) >= 0);
}

/* Restores stderr; returns what was written (malloc'ed, NUL-terminated). */
static char *capture_end(void)
{
	long len;
	char *buf;

	fflush(stderr);
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	len = ftell(capture);
	assert_true(len >= 0);
	buf = xcalloc(1, (size_t)len + 1);
	rewind(capture);
	assert_int_equal(fread(buf, 1, (size_t)len, capture), (size_t)len);
	fclose(capture);
	return buf;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void test_levels_text(void **state)
{
	char *out;

	(void)state;
	log_setup(2, LOG_FORMAT_TEXT);
	capture_start();
	log_line("at zero");
	log_info(2, "at two");
	log_info(3, "at three");
	log_info(4, "at four");
	log_error("an error %d", 7);
	log_startup_error("kroute run: cannot start");
	out = capture_end();
	assert_int_equal(count_lines(out), 4);
	assert_non_null(strstr(out, ": at zero\n"));
	assert_non_null(strstr(out, ": at two\n"));
	assert_null(strstr(out, "three"));
	assert_null(strstr(out, "four"));
	assert_non_null(strstr(out, ": an error 7\n"));
	/* The start-up error keeps its unstamped form. */
	assert_non_null(strstr(out, "\nkroute run: cannot start\n"));
	/* "kroute HH:MM:SS.mmm: " */
	assert_int_equal(strncmp(out, "kroute ", 7), 0);
	assert_true(out[9] == ':' && out[12] == ':' && out[15] == '.' && out[19] == ':');
	free(out);

	log_setup(0, LOG_FORMAT_TEXT);
	assert_true(log_enabled(0));
	assert_false(log_enabled(1));
	capture_start();
	log_info(1, "hidden");
	log_error("shown");
	out = capture_end();
	assert_null(strstr(out, "hidden"));
	assert_non_null(strstr(out, "shown"));
	free(out);
}

/* Each line of out parsed as JSON into objs (at most max); returns the count. */
static size_t parse_lines(const char *out, json_t **objs, size_t max)
{
	size_t n = 0;

	for (const char *p = out; *p; n++) {
		const char *nl = strchr(p, '\n');
		json_error_t err;

		assert_non_null(nl);
		assert_true(n < max);
		objs[n] = json_loadb(p, (size_t)(nl - p), 0, &err);
		if (!objs[n])
			fail_msg("line %zu not JSON (%s): %.*s", n + 1, err.text, (int)(nl - p), p);
		assert_true(json_is_object(objs[n]));
		p = nl + 1;
	}
	return n;
}

static void test_json(void **state)
{
	struct log_kv kv[] = {
		{ .key = "service", .str = "default/web" },
		{ .key = "ports", .num = 3 },
	};
	json_t *o[8];
	char *out, caller[32];
	size_t n;
	int line;

	(void)state;
	log_setup(4, LOG_FORMAT_JSON);
	capture_start();
	line = __LINE__ + 1;
	log_line("quote \" backslash \\ newline \n tab \t bell \a");
	log_info_kv(4, kv, ARRAY_SIZE(kv), "rebuilt");
	log_info(5, "too detailed");
	log_error("sync failed");
	log_startup_error("kroute run: cannot start");
	out = capture_end();
	n = parse_lines(out, o, ARRAY_SIZE(o));
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++) {
		/* component-base: ts in milliseconds since the epoch (a float), caller, msg. */
		assert_true(json_is_number(json_object_get(o[i], "ts")));
		assert_true(json_number_value(json_object_get(o[i], "ts")) > 1.5e12);
		assert_true(json_is_string(json_object_get(o[i], "caller")));
		assert_non_null(strstr(json_string_value(json_object_get(o[i], "caller")), ".c:"));
		assert_true(json_is_string(json_object_get(o[i], "msg")));
	}
	assert_string_equal(json_string_value(json_object_get(o[0], "msg")),
			    "quote \" backslash \\ newline \n tab \t bell \a");
	assert_int_equal(json_integer_value(json_object_get(o[0], "v")), 0);
	snprintf(caller, sizeof(caller), "test_log.c:%d", line);
	assert_non_null(strstr(json_string_value(json_object_get(o[0], "caller")), caller));
	assert_int_equal(json_integer_value(json_object_get(o[1], "v")), 4);
	assert_string_equal(json_string_value(json_object_get(o[1], "service")), "default/web");
	assert_int_equal(json_integer_value(json_object_get(o[1], "ports")), 3);
	/* Errors have no "v" (zapr's Error). */
	assert_string_equal(json_string_value(json_object_get(o[2], "msg")), "sync failed");
	assert_null(json_object_get(o[2], "v"));
	assert_null(json_object_get(o[3], "v"));
	for (size_t i = 0; i < n; i++)
		json_decref(o[i]);
	free(out);
	log_setup(0, LOG_FORMAT_TEXT);
}

/* Diagnostics: text exactly as diag_print; JSON with file, line, object and field keys. */
static void test_diag(void **state)
{
	struct diag d;
	json_t *o[4];
	char *out;

	(void)state;
	diag_init(&d);
	diag_add(&d, DIAG_ERROR, "a.yaml", 7, "Service default/web", "spec.ports[0]", "bad \"port\"");
	diag_add(&d, DIAG_WARNING, "c.yaml", 0, NULL, NULL, "field x is not supported");

	log_setup(0, LOG_FORMAT_TEXT);
	capture_start();
	log_diag(&d);
	out = capture_end();
	assert_string_equal(out, "kroute: a.yaml:7: error: Service default/web: spec.ports[0]: bad"
				 " \"port\"\nkroute: c.yaml: warning: field x is not supported\n");
	free(out);

	log_setup(0, LOG_FORMAT_JSON);
	capture_start();
	log_diag(&d);
	out = capture_end();
	assert_int_equal(parse_lines(out, o, ARRAY_SIZE(o)), 2);
	assert_string_equal(json_string_value(json_object_get(o[0], "msg")), "bad \"port\"");
	assert_null(json_object_get(o[0], "v"));
	assert_string_equal(json_string_value(json_object_get(o[0], "file")), "a.yaml");
	assert_int_equal(json_integer_value(json_object_get(o[0], "line")), 7);
	assert_string_equal(json_string_value(json_object_get(o[0], "object")), "Service default/web");
	assert_string_equal(json_string_value(json_object_get(o[0], "field")), "spec.ports[0]");
	assert_int_equal(json_integer_value(json_object_get(o[1], "v")), 0);
	assert_null(json_object_get(o[1], "line"));
	json_decref(o[0]);
	json_decref(o[1]);
	free(out);
	diag_done(&d);
	log_setup(0, LOG_FORMAT_TEXT);
}

static void test_format_names(void **state)
{
	enum log_format f = LOG_FORMAT_TEXT;

	(void)state;
	assert_int_equal(log_format_parse("json", &f), 0);
	assert_int_equal(f, LOG_FORMAT_JSON);
	assert_int_equal(log_format_parse("text", &f), 0);
	assert_int_equal(f, LOG_FORMAT_TEXT);
	assert_int_equal(log_format_parse("JSON", &f), -EINVAL);
	assert_int_equal(log_format_parse("", &f), -EINVAL);
	assert_string_equal(log_format_name(LOG_FORMAT_JSON), "json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_diag),
		cmocka_unit_test(test_format_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
