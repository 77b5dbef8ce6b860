/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Golden cases: walks tests/golden/cases, parses each case's args and
 * compares a renderer's output with the case's expect.RENDERER file.  See
 * golden.h and tests/golden/README.md.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "golden.h"

#define CASES_DIR "tests/golden/cases"

const char *golden_src_dir(void)
{
	const char *s = getenv("KROUTE_SRC");

	return s && *s ? s : ".";
}

char *golden_read_file(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;

	if (!f)
		return NULL;
	do {
		buf = xgrow(buf, &cap, len + 4096 + 1, 1);
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	if (ret_len)
		*ret_len = len;
	return buf;
}

static bool is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void add_input(struct golden_case *gc, size_t *cap, char *path)
{
	VEC_PUSH(gc->inputs, gc->n_inputs, *cap, path);
}

/* One args line: "KEY" or "KEY VALUE"; a key the format does not have fails. */
static void parse_arg(struct golden_case *gc, size_t *cap, const char *key, const char *val,
		      const char *where)
{
	static const char *const with_value[] = {
		"-f", "--node", "--cluster-cidr", "--nodeport-addresses",
		"--iptables-localhost-nodeports", "node-addresses",
	};
	bool wants = false;

	for (size_t i = 0; i < ARRAY_SIZE(with_value); i++)
		wants |= streq(key, with_value[i]);
	if (wants != (*val != '\0'))
		fail_msg("%s: '%s' %s", where, key, wants ? "needs a value" : "takes no value");
	if (streq(key, "-f"))
		add_input(gc, cap, xasprintf("%s/%s", golden_src_dir(), val));
	else if (streq(key, "--node"))
		gc->node = xstrdup(val);
	else if (streq(key, "--cluster-cidr"))
		gc->cluster_cidr = xstrdup(val);
	else if (streq(key, "--masquerade-all"))
		gc->masquerade_all = true;
	else if (streq(key, "--nodeport-addresses"))
		gc->nodeport_addresses = xstrdup(val);
	else if (streq(key, "--iptables-localhost-nodeports") && (streq(val, "true") || streq(val, "false")))
		gc->localhost_nodeports = streq(val, "true");
	else if (streq(key, "node-addresses"))
		gc->node_addresses = xstrdup(val);
	else if (streq(key, "large-cluster"))
		gc->large_cluster = true;
	else if (streq(key, "conntrack-tcp-be-liberal"))
		gc->conntrack_tcp_be_liberal = true;
	else
		fail_msg("%s: unknown setting '%s %s' (tests/golden/README.md lists them)", where, key, val);
}

static void load_case(struct golden_case *gc, const char *name)
{
	char *path, *text, *line, *save = NULL, *input;
	size_t cap = 0, no = 0;

	*gc = (struct golden_case){ .name = xstrdup(name), .localhost_nodeports = true };
	gc->dir = xasprintf("%s/" CASES_DIR "/%s", golden_src_dir(), name);
	path = xasprintf("%s/args", gc->dir);
	text = golden_read_file(path, NULL);
	if (!text)
		fail_msg("case %s has no args file (%s)", name, path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *where = xasprintf("%s:%zu", path, ++no), *val;

		line[strcspn(line, "#")] = '\0';
		line += strspn(line, " \t");
		line[strcspn(line, "\r")] = '\0';
		while (*line && strchr(" \t", line[strlen(line) - 1]))
			line[strlen(line) - 1] = '\0';
		if (*line) {
			val = line + strcspn(line, " \t");
			if (*val)
				*val++ = '\0';
			val += strspn(val, " \t");
			parse_arg(gc, &cap, line, val, where);
		}
		free(where);
	}
	if (!gc->node)
		fail_msg("%s: no --node", path);
	input = xasprintf("%s/input.yaml", gc->dir);
	if (is_file(input))
		add_input(gc, &cap, input);
	else
		free(input);
	if (!gc->n_inputs)
		fail_msg("case %s: no input.yaml and no -f in args", name);
	free(text);
	free(path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct golden_case *golden_cases_load(const char *renderer, size_t *ret_n)
{
	char *root = xasprintf("%s/" CASES_DIR, golden_src_dir());
	DIR *d = opendir(root);
	struct dirent *e;
	char **names = NULL;
	size_t n_names = 0, cap_names = 0, n = 0;
	struct golden_case *v;

	if (!d)
		fail_msg("cannot open %s: %s", root, strerror(errno));
	while ((e = readdir(d))) {
		char *dir = xasprintf("%s/%s", root, e->d_name);
		struct stat st;

		if (e->d_name[0] != '.' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
			VEC_PUSH(names, n_names, cap_names, xstrdup(e->d_name));
		free(dir);
	}
	closedir(d);
	if (n_names)
		qsort(names, n_names, sizeof(*names), cmp_str);
	v = xcalloc(n_names + 1, sizeof(*v));
	for (size_t i = 0; i < n_names; i++) {
		char *want = renderer ? xasprintf("%s/%s/expect.%s", root, names[i], renderer) : NULL;

		if (!want || is_file(want))
			load_case(&v[n++], names[i]);
		free(want);
		free(names[i]);
	}
	free(names);
	free(root);
	if (renderer && !n)
		fail_msg("no golden case has an expect.%s file", renderer);
	*ret_n = n;
	return v;
}

/*
 * Every expected file a case may have, and who reads it: a file named
 * otherwise (a typo, a renderer nobody runs) would never be compared.
 */
static const char *const expect_files[] = {
	"expect.iptables",          /* tests/unit/test_iptables_render.c */
	"expect.ip6tables",         /* tests/unit/test_iptables_render.c */
	"expect.iptables.upstream", /* tests/unit/test_iptables_render.c */
	"expect.explain.json",      /* tests/cli/test_cli_explain.sh */
};

void golden_check_layout(void)
{
	size_t n;
	struct golden_case *v = golden_cases_load(NULL, &n);

	for (size_t i = 0; i < n; i++) {
		DIR *d = opendir(v[i].dir);
		struct dirent *e;
		size_t n_expect = 0;

		assert_non_null(d);
		while ((e = readdir(d))) {
			bool known = streq(e->d_name, ".") || streq(e->d_name, "..") ||
				     streq(e->d_name, "args") || streq(e->d_name, "input.yaml");

			for (size_t k = 0; k < ARRAY_SIZE(expect_files); k++)
				if (streq(e->d_name, expect_files[k])) {
					known = true;
					n_expect++;
				}
			if (!known)
				fail_msg("%s/%s: not a file of a golden case (tests/golden/README.md)",
					 v[i].dir, e->d_name);
		}
		closedir(d);
		if (!n_expect)
			fail_msg("%s: no expected file, so no renderer runs it", v[i].dir);
	}
	golden_cases_free(v, n);
}

void golden_cases_free(struct golden_case *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < v[i].n_inputs; k++)
			free(v[i].inputs[k]);
		free(v[i].inputs);
		free(v[i].name);
		free(v[i].dir);
		free(v[i].node);
		free(v[i].cluster_cidr);
		free(v[i].nodeport_addresses);
		free(v[i].node_addresses);
	}
	free(v);
}

char *golden_expect_path(const struct golden_case *gc, const char *renderer)
{
	return xasprintf("%s/expect.%s", gc->dir, renderer);
}

void golden_load_cluster(const struct golden_case *gc, struct cluster *c)
{
	struct diag d;
	int r;

	cluster_init(c);
	diag_init(&d);
	r = manifest_load((const char *const *)gc->inputs, gc->n_inputs, NULL, c, &d);
	if (r < 0) {
		diag_print(&d, stderr);
		fail_msg("case %s: loading its input: %d", gc->name, r);
	}
	diag_done(&d);
}

static void first_difference(const char *path, const char *want, const char *got)
{
	size_t line = 1;
	const char *w = want, *g = got;

	while (*w && *w == *g) {
		if (*w == '\n')
			line++;
		w++;
		g++;
	}
	while (w > want && w[-1] != '\n') {
		w--;
		g--;
	}
	fail_msg("%s differs at line %zu:\n  want: %.*s\n  got:  %.*s\n"
		 "(UPDATE_GOLDEN=1 rewrites it; review the diff, tests/golden/README.md)", path, line,
		 (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
}

void golden_compare(const struct golden_case *gc, const char *renderer, const char *got)
{
	const char *update = getenv("UPDATE_GOLDEN");
	char *path = golden_expect_path(gc, renderer), *want;

	if (update && streq(update, "1")) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		assert_true(fputs(got, f) >= 0);
		assert_int_equal(fclose(f), 0);
		print_message("wrote %s\n", path);
	}
	want = golden_read_file(path, NULL);
	if (!want)
		fail_msg("case %s: cannot read %s", gc->name, path);
	if (strcmp(want, got))
		first_difference(path, want, got);
	free(want);
	free(path);
}
