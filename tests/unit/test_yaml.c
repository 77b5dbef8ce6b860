/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The document readers: YAML 1.1 scalar resolution as the Kubernetes YAML
 * decoder does it, line numbers, multi-document streams, Lists streamed item
 * by item, and JSON.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "source/doc.h"

struct collected {
	size_t n;
	char kinds[16][32];
	int lines[16];
	enum doc_type port_type[16];
};

static int collect(const struct doc *obj, void *userdata)
{
	struct collected *c = userdata;
	const struct doc *k = doc_get(obj, "kind");
	const struct doc *p = doc_get(obj, "port");

	if (c->n < 16) {
		snprintf(c->kinds[c->n], 32, "%s", k && k->text ? k->text : "?");
		c->lines[c->n] = obj->line;
		c->port_type[c->n] = p ? p->type : DOC_NULL;
	}
	c->n++;
	return 0;
}

static int read_yaml(const char *s, struct collected *c, struct diag *d)
{
	struct doc_reader r = {
		.file = "t.yaml", .limits = &doc_default_limits, .diag = d,
		.on_object = collect, .userdata = c,
	};

	memset(c, 0, sizeof(*c));
	return doc_read_yaml(&r, s, strlen(s));
}

static void test_resolve(void **state)
{
	static const struct {
		const char *text;
		enum doc_type type;
		long long i;
	} cases[] = {
		{ "80", DOC_INT, 80 },     { "-5", DOC_INT, -5 },      { "0x1F", DOC_INT, 31 },
		{ "0o17", DOC_INT, 15 },   { "017", DOC_INT, 15 },     { "1_000", DOC_INT, 1000 },
		{ "0", DOC_INT, 0 },       { "1.5", DOC_FLOAT, 0 },    { "1e3", DOC_FLOAT, 0 },
		{ ".inf", DOC_FLOAT, 0 },  { "true", DOC_BOOL, 1 },    { "yes", DOC_BOOL, 1 },
		{ "On", DOC_BOOL, 1 },     { "n", DOC_BOOL, 0 },       { "False", DOC_BOOL, 0 },
		{ "~", DOC_NULL, 0 },      { "null", DOC_NULL, 0 },    { "", DOC_NULL, 0 },
		{ "http", DOC_STR, 0 },    { "10.0.0.1", DOC_STR, 0 }, { "08", DOC_FLOAT, 0 }, /* go-yaml: not octal, so a float */
		{ "99999999999999999999", DOC_FLOAT, 0 }, { "1.2.3", DOC_STR, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct doc *d = doc_new(DOC_STR, 1);

		d->text = xstrdup(cases[i].text);
		doc_resolve_plain(d);
		if (d->type != cases[i].type ||
		    (d->type == DOC_INT && d->i != cases[i].i) ||
		    (d->type == DOC_BOOL && d->b != (bool)cases[i].i)) {
			print_error("\"%s\" resolved to %s\n", cases[i].text, doc_type_name(d->type));
			fail();
		}
		doc_unref(d);
	}
}

static void test_multidoc_and_lines(void **state)
{
	struct collected c;
	struct diag d;
	const char *in = "# comment\nkind: A\nport: 80\n---\n---\nkind: B\nport: '80'\n...\n---\nkind: C\n";

	(void)state;
	diag_init(&d);
	assert_int_equal(read_yaml(in, &c, &d), 0);
	assert_int_equal(c.n, 3); /* the empty document is skipped */
	assert_string_equal(c.kinds[0], "A");
	assert_int_equal(c.lines[0], 2);
	assert_int_equal(c.port_type[0], DOC_INT);
	assert_string_equal(c.kinds[1], "B");
	assert_int_equal(c.lines[1], 6);
	assert_int_equal(c.port_type[1], DOC_STR); /* quoted stays a string */
	assert_string_equal(c.kinds[2], "C");
	diag_done(&d);
}

static void test_list_streamed(void **state)
{
	struct collected c;
	struct diag d;
	/* kubectl prints keys sorted: items come before kind. */
	const char *in = "apiVersion: v1\nitems:\n- kind: A\n- kind: B\n- kind: C\nkind: List\nmetadata: {}\n";

	(void)state;
	diag_init(&d);
	assert_int_equal(read_yaml(in, &c, &d), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.kinds[2], "C");
	assert_int_equal(c.lines[1], 4);
	assert_int_equal(d.n, 0);
	diag_done(&d);
}

static void test_aliases(void **state)
{
	struct collected c;
	struct diag d;
	const char *in = "base: &p 8080\nkind: &k Svc\nport: *p\nother: *k\n";

	(void)state;
	diag_init(&d);
	assert_int_equal(read_yaml(in, &c, &d), 0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.port_type[0], DOC_INT);
	diag_done(&d);
}

/* go-yaml's merge keys: merged entries fill in, explicit keys win in any order. */
static void test_merge_keys(void **state)
{
	struct collected c;
	struct diag d;
	const char *in = "base: &b {kind: Base, port: 80}\n"
			 "obj:\n  <<: *b\n  kind: Mine\n";
	const char *dup = "a: 1\na: 2\n";

	(void)state;
	diag_init(&d);
	assert_int_equal(read_yaml("kind: K\nx: &m {port: 8080}\n<<: *m\n", &c, &d), 0);
	assert_int_equal(c.port_type[0], DOC_INT);
	assert_int_equal(read_yaml(in, &c, &d), 0);
	assert_int_equal(read_yaml("<<: [{port: 1}, {kind: Two}]\n", &c, &d), 0);
	assert_string_equal(c.kinds[0], "Two");
	assert_int_equal(c.port_type[0], DOC_INT);
	/* An explicit key after a merged one replaces it, no duplicate error. */
	assert_int_equal(read_yaml("<<: {kind: Merged}\nkind: Explicit\n", &c, &d), 0);
	assert_string_equal(c.kinds[0], "Explicit");
	/* Two explicit keys are still a duplicate. */
	assert_int_equal(read_yaml(dup, &c, &d), -EINVAL);
	assert_int_equal(read_yaml("<<: 5\n", &c, &d), -EINVAL);
	diag_done(&d);
}

/* A List whose items are an alias is not streamed, and must still be read. */
static void test_aliased_items(void **state)
{
	struct collected c;
	struct diag d;
	const char *in = "x: &l [{kind: A}, {kind: B}]\nitems: *l\nkind: List\n";

	(void)state;
	diag_init(&d);
	assert_int_equal(read_yaml(in, &c, &d), 0);
	assert_int_equal(c.n, 2);
	assert_string_equal(c.kinds[1], "B");
	diag_done(&d);
}

static void test_errors(void **state)
{
	struct collected c;
	struct diag d;

	(void)state;
	diag_init(&d);
	assert_int_equal(read_yaml("a: [1, 2\nb: 3\n", &c, &d), -EINVAL);
	assert_int_equal(d.n_errors, 1);
	assert_true(d.msgs[0].line >= 1);
	diag_done(&d);
	diag_init(&d);
	assert_int_equal(read_yaml("a: \"x\\0y\"\n", &c, &d), -EINVAL);
	assert_non_null(strstr(d.msgs[0].text, "NUL"));
	diag_done(&d);
	diag_init(&d);
	assert_int_equal(read_yaml("a: &x [1, *x]\n", &c, &d), -EINVAL);
	diag_done(&d);
}

static void test_json(void **state)
{
	struct collected c = { 0 };
	struct diag d;
	const char *in = "[{\"kind\":\"A\",\"port\":80},{\"kind\":\"B\",\"port\":\"80\"}]";
	struct doc_reader r = {
		.file = "t.json", .limits = &doc_default_limits, .diag = &d,
		.on_object = collect, .userdata = &c,
	};

	(void)state;
	diag_init(&d);
	assert_int_equal(doc_read_json(&r, in, strlen(in)), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.port_type[0], DOC_INT);
	assert_int_equal(c.port_type[1], DOC_STR);
	diag_done(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_multidoc_and_lines),
		cmocka_unit_test(test_list_streamed),
		cmocka_unit_test(test_aliases),
		cmocka_unit_test(test_merge_keys),
		cmocka_unit_test(test_aliased_items),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
