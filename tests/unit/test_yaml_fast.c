/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fast YAML path (src/source/yaml_fast.c): it reads the block style
 * kubectl prints itself, hands anything else to libyaml, and either way the
 * objects, lines and messages are exactly libyaml's (tests/fuzz/yaml_diff.c,
 * also the fuzz_yaml_fast target's check).
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/util.h"
#include "source/doc.h"
#include "source/manifest.h"
#include "../fuzz/yaml_diff.h"

static int count_object(const struct doc *obj, void *userdata)
{
	(void)obj;
	(*(size_t *)userdata)++;
	return 0;
}

/* Reads s with doc_read_yaml; returns how many of its objects the fast path read. */
static size_t fast_objects(const char *s, size_t *n_objects)
{
	struct diag d;
	size_t n = 0;
	struct doc_reader r = {
		.file = "t.yaml", .limits = &doc_default_limits, .diag = &d,
		.on_object = count_object, .userdata = &n,
	};

	diag_init(&d);
	doc_read_yaml(&r, s, strlen(s));
	diag_done(&d);
	*n_objects = r.n_objects;
	return r.n_fast_objects;
}

static void check_same(const char *s)
{
	static const uint32_t bits[] = { 0, 0x12345678, 0xfedcba99, 0x00200001, 0x7fff0003 };

	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (yaml_diff_check(s, strlen(s), bits[i]) < 0)
			fail_msg("the fast path differs from libyaml on:\n%s", s);
}

/* What kubectl get -o yaml prints: every object read by the fast path, as libyaml would. */
static void test_kubectl_style(void **state)
{
	static const char *const taken[] = {
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\n"
		"  labels:\n    app.kubernetes.io/name: web\n  annotations:\n"
		"    kubectl.kubernetes.io/last-applied-configuration: '{\"a\":\"it''s\"}'\n"
		"spec:\n  clusterIP: 10.96.0.10\n  clusterIPs:\n  - 10.96.0.10\n"
		"  ports:\n  - name: http\n    port: 80\n    protocol: TCP\n    targetPort: \"8080\"\n"
		"  - port: 443\n    targetPort: https\n  selector:\n    app: web\n"
		"  sessionAffinity: None\n  type: ClusterIP\nstatus:\n  loadBalancer: {}\n",
		/* several documents, blank lines, indented sequences, empty list, values of each type */
		"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
		"endpoints:\n- addresses:\n  - 10.244.1.5\n  conditions:\n    ready: true\n"
		"    serving: yes\n    terminating: false\n  nodeName: n1\n  zone: z-a\n\n"
		"- addresses:\n    - 10.244.1.6\n  hints:\n    forZones:\n    - name: z-a\n"
		"metadata:\n  name: web-abc\n  namespace: shop\n  labels:\n"
		"    kubernetes.io/service-name: web\nports: []\n---\n---\n"
		"apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  weight: -1.5e3\n  x: ~\n"
		"  y: null\n  z: 0x1F\n  w: 'a: b # c'\n  v: \"10.0.0.1\"\n  u: -x\n  t: a{b}[c],d\n",
		"  indented: root\n  other: 1\n",
		/* Lists, streamed item by item: items at the key's column or indented */
		"apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n"
		"    name: a\n- kind: Node\n  metadata:\n    name: n1\nkind: List\nmetadata: {}\n",
		"kind: ServiceList\nitems:\n  - a: 1\n    b:\n    - 2\n  - c: 3\n---\nd: 4\n",
		"kind: Service\nitems:\n- a: 1\n", /* warned: kind is not a List */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		size_t n, fast = fast_objects(taken[i], &n);

		check_same(taken[i]);
		if (!n || fast != n)
			fail_msg("the fast path read %zu of %zu objects of:\n%s", fast, n, taken[i]);
	}
}

/*
 * Near misses: what the fast path must not judge.  From the document that
 * has one on, libyaml reads (the objects before it stay the fast path's),
 * and errors are libyaml's and yaml.c's, with the same lines.
 */
static void test_handed_to_libyaml(void **state)
{
	static const char *const cases[] = {
		"a: 1\n# a comment\nb: 2\n", "a: 1 # comment\n", "a: [1, 2]\n", "a: {b: 1}\n",
		"a: &x 1\nb: *x\n", "a: !!str 1\n", "a: |\n  text\n", "a: >\n  text\n",
		"a: multi\n  line\n", "a:\nb: 1\n", "a:\n", "a: 'open\n", "a: \"esc\\n\"\n",
		"a: \"open\n", "\"q\": 1\n", "a : 1\n", "a:\tb\n", "a: 1\r\nb: 2\r\n", "a: caf\xc3\xa9\n",
		"a: 1\na: 2\n", "<<: {a: 1}\n", "- 1\n- 2\n", "just a scalar\n", "a: 1\n  b: 2\n",
		"a:\n    b: 1\n  c: 2\n", "a:\n- 1\nb: 2\n- 3\n", "items:\n- kind: Service\n",
		"kind: List\nitems:\n- a: 1\n- b: 2\n", "a: b: c\n", "a: b:\n", "a: -\n", "a: - b\n",
		"? a\n: b\n", "%YAML 1.1\n---\na: 1\n", "a: 1\n...\n", "--- a: 1\n", "--- \na: 1\n",
		"a: 1\n---\nb: [\n---\nc: 1\n", "a: 1\n----\n", "---x\n", "a:  \n", "a: x  \n",
		"-  a: 1\n", "- - 1\n", "-\n", "a:\n  -\n", "a:\n  - b: 1\n   c: 2\n",
		"a: 1\n---\nb: 2\n---\n- not a mapping\n---\nc: 3\n", "a: ''\nb: \"\"\nc: ''''\n",
		"key: ~un\n--- [e", "a: 1\n--- b: 2", "a: 1\n---", "a: 1\n---\n", "a: 1\n--",
		"a:\n-  - {1\"0.a", "a:\n-   x\n",
		/* Lists the fast path does not stream (libyaml reads them from the start) */
		"items:\n- a: 1\n  # c\n- b: 2\n", "items:\n- a: 1\n- 2\n", "items:\n  a: 1\n",
		"items: [ ]\n", "items: []\nkind: Services\n", "items:\n- a: 1\nitems: []\n",
		"kind: List\nitems:\n- a: 1\n- b: [2]\n", "items:\n- a: 1\n -b: 2\n",
		"items:\n- a: 1\n  - b\n", "items: 1\n", "items:\n- 'a': 1\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_same(cases[i]);
}

/* Limits reached inside what the fast path reads are reported as libyaml's path does. */
static void test_limits(void **state)
{
	char deep[16384] = "";
	size_t len = 0;

	(void)state;
	for (int i = 0; i < 70; i++)
		len += (size_t)snprintf(deep + len, sizeof(deep) - len, "%*sk%d:\n", 2 * i, "", i);
	snprintf(deep + len, sizeof(deep) - len, "%*sleaf: 1\n", 140, "");
	check_same(deep);
	for (uint32_t b = 1; b < 4000; b += 37) {
		const char *s = "a: 1\nb:\n  c: 2\n  d:\n  - 1\n  - 2\n---\ne: 1\n---\nf: 2\n---\ng: 3\n";
		const char *list = "a: 1\nitems:\n- b: 1\n  c:\n    d: [1]\n- e:\n  - 1\n- f: 2\n"
				   "kind: List\n---\ng: 1\n---\nitems: []\n---\nitems:\n- h: 1\n";

		if (yaml_diff_check(s, strlen(s), b) < 0)
			fail_msg("limits %#x", b);
		if (yaml_diff_check(list, strlen(list), b) < 0)
			fail_msg("limits (a List) %#x", b);
	}
}

static bool yaml_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && streq(name + n - 5, ".yaml")) || (n > 4 && streq(name + n - 4, ".yml"));
}

static void check_tree(const char *path, size_t *n_files)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;

	if (stat(path, &st) < 0)
		return;
	if (S_ISREG(st.st_mode)) {
		struct diag d;
		char *buf;
		size_t len;

		if (!yaml_name(path))
			return;
		diag_init(&d);
		if (manifest_read_file(path, 1u << 24, &buf, &len, &d) == 0) {
			for (uint32_t b = 0; b < 8; b++)
				if (yaml_diff_check(buf, len, b * 0x9e3779b9u) < 0)
					fail_msg("the fast path differs from libyaml on %s", path);
			free(buf);
			(*n_files)++;
		}
		diag_done(&d);
		return;
	}
	if (!S_ISDIR(st.st_mode) || !(dir = opendir(path)))
		return;
	while ((de = readdir(dir))) {
		char *sub;

		if (de->d_name[0] == '.')
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		check_tree(sub, n_files);
		free(sub);
	}
	closedir(dir);
}

/* Every YAML file of the project (examples, test data, seeds, deploy manifests). */
static void test_project_files(void **state)
{
	const char *src = getenv("KROUTE_SRC");
	size_t n_files = 0;
	char *p;

	(void)state;
	assert_non_null(src);
	for (const char *const *d = (const char *const[]){ "examples", "tests", "deploy", NULL }; *d;
	     d++) {
		p = xasprintf("%s/%s", src, *d);
		check_tree(p, &n_files);
		free(p);
	}
	if (n_files < 20)
		fail_msg("only %zu YAML files found under %s", n_files, src);
}

/* memcount (the line counts of large files): eight bytes at a time, any length and alignment. */
static void test_memcount(void **state)
{
	static unsigned char buf[5000];
	uint32_t x = 1;

	(void)state;
	for (int round = 0; round < 300; round++) {
		size_t off = (size_t)round % 8, n = (size_t)(round * 97) % (sizeof(buf) - 8), want = 0;

		for (size_t i = 0; i < sizeof(buf); i++) {
			x = x * 1103515245u + 12345u;
			buf[i] = round % 3 == 0 ? '\n' : (x >> 16) % 4 == 0 ? '\n' : (unsigned char)(x >> 8);
		}
		for (size_t i = off; i < off + n; i++)
			want += buf[i] == '\n';
		assert_int_equal(memcount(buf + off, n, '\n'), want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_memcount),
		cmocka_unit_test(test_kubectl_style),
		cmocka_unit_test(test_handed_to_libyaml),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_project_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
