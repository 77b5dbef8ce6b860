/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src/dataplane/common/nft_script: a table with a base chain, a regular
 * chain, a set and a map, written as the one-transaction replace nft -f
 * takes; and nft_apply running the program it is given (a stand-in that
 * records its stdin, or fails) with the failure reported as an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "dataplane/common/nft_script.h"

static const char want[] =
	"table inet t\n"
	"delete table inet t\n"
	"table inet t {\n"
	"\tset vips {\n"
	"\t\ttype ipv4_addr;\n"
	"\t\tflags interval;\n"
	"\t\telements = { 10.0.0.0/8,\n"
	"\t\t\t     192.0.2.1 }\n"
	"\t}\n"
	"\tmap ports {\n"
	"\t\ttype inet_service : verdict;\n"
	"\t}\n"
	"\tchain input {\n"
	"\t\ttype filter hook input priority filter - 1; policy accept;\n"
	"\t\ttcp dport 80 drop\n"
	"\t}\n"
	"\tchain svc {\n"
	"\t}\n"
	"}\n";

static void build(struct sbuf *b)
{
	bool first;

	nft_table_begin(b, "inet", "t");
	nft_set_begin(b, "vips", "ipv4_addr", NULL, "interval", &first);
	nft_element(b, "10.0.0.0/8", &first);
	nft_element(b, "192.0.2.1", &first);
	nft_set_end(b, first);
	nft_set_begin(b, "ports", "inet_service", "verdict", NULL, &first);
	nft_set_end(b, first);
	nft_chain_begin(b, "input", "filter", "input", "filter - 1", "accept");
	nft_rule(b, "tcp dport 80 drop");
	nft_chain_end(b);
	nft_chain_begin(b, "svc", NULL, NULL, NULL, NULL);
	nft_chain_end(b);
	nft_table_end(b);
}

static void test_script(void **state)
{
	struct sbuf b = { 0 };

	(void)state;
	build(&b);
	assert_string_equal(sbuf_cstr(&b), want);
	sbuf_free(&b);
}

/* A stand-in nft: `-f -` copies stdin to OUT, or fails when FAIL exists. */
static void write_tool(const char *path, const char *out, const char *fail)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	/* Like nft, it reads the whole script before it fails (the test does not ignore SIGPIPE). */
	fprintf(f, "#!/bin/sh\n[ -e '%s' ] && { cat >/dev/null; echo 'no way' >&2; exit 1; }\n"
		   "[ \"$1 $2\" = '-f -' ] || exit 3\ncat >'%s'\n", fail, out);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0700), 0);
}

static void test_apply(void **state)
{
	char dir[] = "/tmp/kroute-test-nft-XXXXXX";
	char tool[PATH_MAX], out[PATH_MAX], fail[PATH_MAX], got[1024];
	struct sbuf b = { 0 };
	struct diag d;
	size_t n;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(tool, sizeof(tool), "%s/nft", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(fail, sizeof(fail), "%s/fail", dir);
	write_tool(tool, out, fail);
	build(&b);
	diag_init(&d);
	assert_int_equal(nft_apply(tool, sbuf_cstr(&b), "test", "table inet t", &d), 0);
	assert_int_equal(d.n, 0);
	f = fopen(out, "r");
	assert_non_null(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	assert_string_equal(got, want);
	/* A failing nft is an error naming the table and what nft said. */
	f = fopen(fail, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(nft_apply(tool, sbuf_cstr(&b), "test", "table inet t", &d), -EIO);
	assert_int_equal(d.n_errors, 1);
	assert_non_null(strstr(d.msgs[0].text, "test: nft (table inet t) failed (status 1): no way"));
	diag_done(&d);
	sbuf_free(&b);
	unlink(tool);
	unlink(out);
	unlink(fail);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_script),
		cmocka_unit_test(test_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
