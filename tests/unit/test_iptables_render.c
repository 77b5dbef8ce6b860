/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables renderer (src/dataplane/iptables): manifests are loaded with
 * manifest_load_buffer() (golden cases: manifest_load(), as kroute -f does),
 * turned into a node view with policy_build_view() and rendered; the output
 * is compared
 *
 *   - with the golden cases, tests/golden/cases/<case>/ (tests/golden/README.md):
 *     every case with an expect.iptables (IPv4) or expect.ip6tables (IPv6)
 *     file is rendered with its args and compared byte for byte.
 *     UPDATE_GOLDEN=1 rewrites them; review every change against
 *     kubernetes-semantics.md section 6 before accepting it;
 *   - with kube-proxy's own expected rules for upstream tests (every case
 *     with an expect.iptables.upstream, hand-maintained, never
 *     regenerated), chain by chain with the order of rules inside each chain;
 *   - line by line where regenerating goldens must not be able to hide a
 *     mistake: SHA-256 vectors, chain-name hashes, probability strings,
 *     masquerade rules, DNAT targets, where REJECT and DROP go, comment
 *     escaping, option errors, the chain list and the jump table.
 *
 * When run as root, every rendered ruleset (golden cases and the examples/
 * cluster for each node and family) is also fed to iptables-restore --test
 * and then loaded for real, inside a throwaway network namespace that is
 * deleted afterwards; never in the host's namespace.  Not root: skipped.
 *
 * KROUTE_SRC names the source tree (meson sets it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/util.h"
#include "core/sbuf.h"
#include "dataplane/iptables/frag.h"
#include "dataplane/iptables/names.h"
#include "dataplane/iptables/render.h"
#include "dataplane/iptables/sha256.h"
#include "policy/policy.h"
#include "source/manifest.h"

#include "golden.h"

/* How a case is rendered. */
struct variant {
	int family;               /* 0: AF_INET */
	bool masquerade_all;
	bool no_detector;         /* no cluster CIDR: the no-op local detector */
	bool large_cluster;
	const char *nodeport_addresses; /* --nodeport-addresses CIDRS; NULL: every address */
	const char *node_addresses;     /* the node's own addresses, for nodeport_addresses */
	bool no_localhost_nodeports;
	bool tcp_be_liberal;
	const char *node;         /* NULL: node-1 */
	const char *cluster_cidr; /* comma-separated; NULL: 10.244.0.0/16,fd00:244::/48 */
};

/* The nodes the cases render for (node-1) and hold remote endpoints (node-2). */
static char *nodes_yaml(void)
{
	char *path = xasprintf("%s/tests/golden/nodes.yaml", golden_src_dir());
	char *text = golden_read_file(path, NULL);

	if (!text)
		fail_msg("cannot read %s", path);
	free(path);
	return text;
}

/* tests/golden/cases/<name>/input.yaml */
static char *case_input_path(const char *name)
{
	return xasprintf("%s/tests/golden/cases/%s/input.yaml", golden_src_dir(), name);
}

static void load_yaml(const char *yaml, struct cluster *c)
{
	struct diag d;
	int r;

	cluster_init(c);
	diag_init(&d);
	r = manifest_load_buffer("case.yaml", yaml, strlen(yaml), false, NULL, c, &d);
	if (r < 0) {
		diag_print(&d, stderr);
		fail_msg("manifest_load_buffer: %d", r);
	}
	diag_done(&d);
}

/* ---- fragments (frag.h) reassemble to exactly the full render ---- */

struct block {
	char *text;               /* "table/chain\n" then its rules */
};

static int cmp_block(const void *a, const void *b)
{
	return strcmp(((const struct block *)a)->text, ((const struct block *)b)->text);
}

static void add_block(struct block **v, size_t *n, size_t *cap, const char *table,
		      const char *chain, const char *rules, size_t len)
{
	VEC_PUSH(*v, *n, *cap, ((struct block){ xasprintf("%s/%s\n%.*s", table, chain, (int)len,
							  rules ? rules : "") }));
}

/* The chains of a full render, each with its rules, sorted: order of chains does not matter to the kernel. */
static char *canonical_render(const char *buf)
{
	struct block *v = NULL;
	size_t n = 0, cap = 0, len = 0, out_cap = 0;
	char *out = NULL;
	const char *table = NULL;
	char *copy = xstrdup(buf);

	for (char *line = strtok(copy, "\n"); line; line = strtok(NULL, "\n")) {
		if (!strcmp(line, "*filter") || !strcmp(line, "*nat")) {
			table = line + 1;
		} else if (line[0] == ':') {
			*strchr(line, ' ') = '\0';
			add_block(&v, &n, &cap, table, line + 1, NULL, 0);
		} else if (!strncmp(line, "-A ", 3)) {
			size_t nl = strcspn(line + 3, " ");
			char *want = xasprintf("%s/%.*s\n", table, (int)nl, line + 3);
			size_t k;

			for (k = 0; k < n && strncmp(v[k].text, want, strlen(want)); k++)
				;
			assert_true(k < n);
			{
				char *t = xasprintf("%s%s\n", v[k].text, line);

				free(v[k].text);
				v[k].text = t;
			}
			free(want);
		}
	}
	free(copy);
	qsort(v, n, sizeof(*v), cmp_block);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(v[i].text);

		out = xgrow(out, &out_cap, len + l + 2, 1);
		memcpy(out + len, v[i].text, l);
		len += l;
		out[len++] = '|';
		out[len] = '\0';
		free(v[i].text);
	}
	free(v);
	return out ? out : xstrdup("");
}

/* What the data plane applies: base chains with every fragment's share, plus fragments' own chains. */
static char *canonical_fragments(const struct node_view *v, const struct ipt_opts *o)
{
	struct ipt_base base;
	struct ipt_chains work = { 0 };
	struct ipt_frag *frags = xcalloc(v->n_ports + 1, sizeof(*frags));
	struct ipt_frag **list = xcalloc(v->n_ports + 1, sizeof(*list));
	char *out;
	size_t n = 0;
	struct sbuf b = { 0 }, shared = { 0 };

	assert_int_equal(ipt_base_render(v, o, &base), 0);
	for (size_t i = 0; i < v->n_ports; i++) {
		assert_int_equal(ipt_frag_render(v, &v->ports[i], o, &work, &frags[n]), 0);
		list[n] = &frags[n];
		n++;
	}
	/* Rebuild restore text and canonicalise it the same way. */
	for (int t = 0; t < IPT_N_TABLES; t++) {
		sbuf_adds(&b, t ? "*nat\n" : "*filter\n");
		for (size_t i = 0; i < base.n; i++) {
			if ((int)base.chains[i].table != t)
				continue;
			sbuf_adds(&b, ":");
			sbuf_adds(&b, base.chains[i].name);
			sbuf_adds(&b, " - [0:0]\n");
		}
		for (size_t k = 0; k < n; k++)
			for (size_t c = 0; c < frags[k].n_own; c++)
				if ((int)frags[k].own[c].table == t) {
					sbuf_adds(&b, ":");
					sbuf_adds(&b, frags[k].own[c].name);
					sbuf_adds(&b, " - [0:0]\n");
				}
		for (size_t i = 0; i < base.n; i++) {
			if ((int)base.chains[i].table != t)
				continue;
			shared.len = 0;
			ipt_shared_rules(&base, i, list, n, &shared);
			/* The streamed hash the data plane compares is the hash of this text. */
			assert_true(ipt_shared_hash(&base, i, list, n) == ipt_hash(shared.p, shared.len));
			if (shared.len)
				sbuf_add(&b, shared.p, shared.len);
		}
		for (size_t k = 0; k < n; k++)
			for (size_t c = 0; c < frags[k].n_own; c++)
				if ((int)frags[k].own[c].table == t && frags[k].own[c].rules.len)
					sbuf_add(&b, frags[k].own[c].rules.p, frags[k].own[c].rules.len);
		sbuf_adds(&b, "COMMIT\n");
	}
	{
		char *text = sbuf_cstr(&b);

		out = canonical_render(text);
		free(text);
	}
	for (size_t k = 0; k < n; k++)
		ipt_frag_done(&frags[k]);
	free(frags);
	free(list);
	sbuf_free(&shared);
	ipt_chains_done(&work);
	ipt_base_done(&base);
	return out;
}

static void check_fragments(const struct node_view *v, const struct ipt_opts *o, const char *full)
{
	char *want = canonical_render(full), *got = canonical_fragments(v, o);

	if (strcmp(want, got))
		fail_msg("fragments differ from the full render:\n--- full\n%s\n--- fragments\n%s", want,
			 got);
	free(want);
	free(got);
}

/*
 * A comma-separated list of CIDRs into cidrs, or of addresses into addrs
 * (the other NULL), at most max; fails the test on a bad one.
 */
static size_t parse_list(const char *list, struct cidr *cidrs, struct addr *addrs, size_t max)
{
	char *copy = xstrdup(list), *save = NULL;
	size_t n = 0;

	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == max || (cidrs ? cidr_parse(t, &cidrs[n]) : addr_parse(t, &addrs[n])) != 0)
			fail_msg("bad or too many items in '%s'", list);
		n++;
	}
	free(copy);
	return n;
}

/* Renders an already loaded cluster. */
static char *render_cluster(struct cluster *c, const struct variant *var, size_t *ret_len)
{
	struct policy_opts po;
	struct ipt_opts o;
	struct cidr cidrs[4], np[4];
	struct addr local[8];
	struct node_view *v;
	char *buf = NULL;
	size_t len = 0, n_cidrs;

	n_cidrs = parse_list(var->cluster_cidr ? var->cluster_cidr : "10.244.0.0/16,fd00:244::/48",
			     cidrs, NULL, ARRAY_SIZE(cidrs));
	policy_opts_init(&po);
	po.masquerade_all = var->masquerade_all;
	if (!var->no_detector) {
		po.cluster_cidrs = cidrs;
		po.n_cluster_cidrs = n_cidrs;
	}
	v = policy_build_view(c, var->node ? var->node : "node-1", &po);

	ipt_opts_init(&o);
	o.family = var->family ? var->family : AF_INET;
	o.cluster_cidrs = po.cluster_cidrs;
	o.n_cluster_cidrs = po.n_cluster_cidrs;
	o.large_cluster = var->large_cluster;
	o.localhost_nodeports = !var->no_localhost_nodeports;
	o.conntrack_tcp_be_liberal = var->tcp_be_liberal;
	if (var->nodeport_addresses) {
		o.nodeport_cidrs = np;
		o.n_nodeport_cidrs = parse_list(var->nodeport_addresses, np, NULL, ARRAY_SIZE(np));
		o.local_addrs = local;
		o.n_local_addrs = parse_list(var->node_addresses ? var->node_addresses : "", NULL, local,
					     ARRAY_SIZE(local));
	}
	assert_int_equal(ipt_render_full(v, &o, &buf, &len), 0);
	assert_non_null(buf);
	assert_int_equal(strlen(buf), len);
	/* Every render here also checks the incremental path, in both layouts. */
	check_fragments(v, &o, buf);
	{
		struct ipt_opts lean = o;
		char *lbuf;
		size_t llen;

		lean.inline_remote_endpoints = true;
		assert_int_equal(ipt_render_full(v, &lean, &lbuf, &llen), 0);
		check_fragments(v, &lean, lbuf);
		free(lbuf);
	}
	node_view_free(v);
	if (ret_len)
		*ret_len = len;
	return buf;
}

/* Renders tests/golden/nodes.yaml + the case text. */
static char *render_text(const char *case_yaml, const struct variant *var)
{
	struct cluster c;
	char *nodes = nodes_yaml(), *yaml = xasprintf("%s%s", nodes, case_yaml);
	char *out;

	load_yaml(yaml, &c);
	out = render_cluster(&c, var, NULL);
	cluster_done(&c);
	free(yaml);
	free(nodes);
	return out;
}

/* Renders tests/golden/nodes.yaml + the input.yaml of the golden case <input>. */
static char *render_input(const char *input, const struct variant *var)
{
	char *path = case_input_path(input);
	char *text = golden_read_file(path, NULL);
	char *out;

	if (!text)
		fail_msg("cannot read %s", path);
	out = render_text(text, var);
	free(text);
	free(path);
	return out;
}

/* Whether buf has exactly this line. */
static bool has_line(const char *buf, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = buf; (p = strstr(p, line)); p++)
		if ((p == buf || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
			return true;
	return false;
}

static void assert_line(const char *buf, const char *line)
{
	if (!has_line(buf, line))
		fail_msg("missing line:\n%s\nin:\n%s", line, buf);
}

static void assert_no_substring(const char *buf, const char *s)
{
	if (strstr(buf, s))
		fail_msg("unexpected \"%s\" in:\n%s", s, buf);
}

/* The text of one table: from "*name\n" up to its COMMIT. */
static char *table(const char *buf, const char *name)
{
	char *head = xasprintf("*%s\n", name);
	const char *p = strstr(buf, head), *end;

	free(head);
	if (!p)
		fail_msg("no table %s in:\n%s", name, buf);
	end = strstr(p, "COMMIT\n");
	assert_non_null(end);
	return xstrndup(p, (size_t)(end - p));
}

static size_t count_substr(const char *buf, const char *s)
{
	size_t n = 0;

	for (const char *p = buf; (p = strstr(p, s)); p += strlen(s))
		n++;
	return n;
}

/* ---- SHA-256 and chain names ---- */

static void hex(const uint8_t d[SHA256_DIGEST_LEN], char out[2 * SHA256_DIGEST_LEN + 1])
{
	for (int i = 0; i < SHA256_DIGEST_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check_sha256_vectors(void)
{
	/* FIPS 180-4 / NIST CSRC example values. */
	static const struct {
		const char *msg;
		const char *digest;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
		{ "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		  "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1" },
	};
	char h[2 * SHA256_DIGEST_LEN + 1];
	uint8_t d[SHA256_DIGEST_LEN];
	struct sha256_ctx c;
	char *million = xmalloc(1000000);

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		sha256(v[i].msg, strlen(v[i].msg), d);
		hex(d, h);
		assert_string_equal(h, v[i].digest);
	}
	/* One million 'a', fed in uneven pieces. */
	memset(million, 'a', 1000000);
	sha256_init(&c);
	for (size_t off = 0, step = 1; off < 1000000; off += step, step = step * 3 % 997 + 1)
		sha256_update(&c, million + off, MIN(step, 1000000 - off));
	sha256_final(&c, d);
	hex(d, h);
	assert_string_equal(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(million);
}

static void test_sha256(void **state)
{
	uint8_t msg[300], a[SHA256_DIGEST_LEN], b[SHA256_DIGEST_LEN];

	(void)state;
	sha256_force_portable(true);
	assert_false(sha256_accelerated());
	check_sha256_vectors();
	sha256_force_portable(false);
	print_message("SHA-256 CPU instructions: %s\n", sha256_accelerated() ? "yes" : "no");
	check_sha256_vectors();
	/* Both block functions agree for every length around the block and padding edges. */
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 131 + 7);
	for (size_t n = 0; n <= sizeof(msg); n++) {
		sha256_force_portable(true);
		sha256(msg, n, a);
		sha256_force_portable(false);
		sha256(msg, n, b);
		assert_memory_equal(a, b, SHA256_DIGEST_LEN);
	}
}

static void test_chain_names(void **state)
{
	/* Known-good names from kube-proxy's own tests (proxier_test.go). */
	static const struct {
		const char *prefix, *name, *proto, *ep, *want;
	} v[] = {
		{ IPT_PREFIX_SVC, "ns1/svc1:p80", "tcp", NULL, "KUBE-SVC-XPGD46QRK7WJZT7O" },
		{ IPT_PREFIX_SEP, "ns1/svc1:p80", "tcp", "10.180.0.1:80", "KUBE-SEP-SXIVWICOYRO3J4NJ" },
		{ IPT_PREFIX_SVL, "ns1/svc1:p80", "tcp", NULL, "KUBE-SVL-XPGD46QRK7WJZT7O" },
		{ IPT_PREFIX_EXT, "ns2/svc2:p80", "tcp", NULL, "KUBE-EXT-GNZBNJ2PO5MGZ6GT" },
		{ IPT_PREFIX_FW, "ns5/svc5:p80", "tcp", NULL, "KUBE-FW-NUKIZ6OKUXPJNT4C" },
		{ IPT_PREFIX_SEP, "ns2/svc2:p80", "tcp", "10.180.0.2:80", "KUBE-SEP-RS4RBKLTHTF2IUXJ" },
		{ IPT_PREFIX_SEP, "ns1/svc1:p80", "tcp", "10.180.2.1:80", "KUBE-SEP-ZX7GRIZKSNUQ3LAJ" },
	};
	char tag[IPT_TAG_LEN], name[IPT_CHAIN_NAME_MAX];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		ipt_tag(v[i].name, v[i].proto, v[i].ep, tag);
		ipt_chain_name(v[i].prefix, tag, name);
		assert_string_equal(name, v[i].want);
		assert_true(strlen(name) <= 28);
		assert_true(ipt_is_service_chain(name));
	}
	/* The three parts are one concatenated string. */
	ipt_tag("ns1/svc1:p80tcp", NULL, NULL, tag);
	assert_memory_equal(tag, "XPGD46QRK7WJZT7O", IPT_TAG_LEN);
	assert_false(ipt_is_service_chain("KUBE-SERVICES"));
	assert_false(ipt_is_service_chain("KUBE-MARK-MASQ"));
	assert_false(ipt_is_service_chain("KUBE-FORWARD"));
	assert_false(ipt_is_service_chain("KUBE-FIREWALL"));
	assert_false(ipt_is_service_chain("KUBE-PROXY-FIREWALL"));
}

/* ---- golden cases ---- */

/* The renders a case can have: expect.iptables (IPv4), expect.ip6tables (IPv6). */
static const struct {
	const char *renderer;
	int family;
} ipt_renderers[] = {
	{ "iptables", AF_INET },
	{ "ip6tables", AF_INET6 },
};

/* How the case's args render, for one family. */
static struct variant variant_of(const struct golden_case *gc, int family)
{
	return (struct variant){
		.family = family,
		.masquerade_all = gc->masquerade_all,
		.no_detector = !gc->cluster_cidr,
		.large_cluster = gc->large_cluster,
		.nodeport_addresses = gc->nodeport_addresses,
		.node_addresses = gc->node_addresses,
		.no_localhost_nodeports = !gc->localhost_nodeports,
		.tcp_be_liberal = gc->conntrack_tcp_be_liberal,
		.node = gc->node,
		.cluster_cidr = gc->cluster_cidr,
	};
}

/* The case's render for variant var, from its inputs as kroute -f loads them. */
static char *render_case(const struct golden_case *gc, const struct variant *var, size_t *ret_len)
{
	struct cluster c;
	char *out;

	golden_load_cluster(gc, &c);
	out = render_cluster(&c, var, ret_len);
	cluster_done(&c);
	return out;
}

static void test_goldens(void **state)
{
	(void)state;
	golden_check_layout();
	for (size_t r = 0; r < ARRAY_SIZE(ipt_renderers); r++) {
		size_t n;
		struct golden_case *v = golden_cases_load(ipt_renderers[r].renderer, &n);

		for (size_t i = 0; i < n; i++) {
			struct variant var = variant_of(&v[i], ipt_renderers[r].family);
			char *got = render_case(&v[i], &var, NULL);

			print_message("case %s: expect.%s\n", v[i].name, ipt_renderers[r].renderer);
			golden_compare(&v[i], ipt_renderers[r].renderer, got);
			free(got);
		}
		golden_cases_free(v, n);
	}
}

/* ---- kube-proxy's own expected rules ---- */

struct keyed_line {
	char *key;   /* table, then chain for "-A" lines, else the line itself */
	size_t idx;  /* position in the input */
	char *line;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed_line *x = a, *y = b;
	int r = strcmp(x->key, y->key);

	return r ? r : (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Non-empty, non-comment lines, grouped by table and chain with the order
 * of rules inside each chain kept (that order is behaviour: the first
 * matching rule wins); the order of chains and tables is not compared.
 */
static struct keyed_line *grouped_lines(const char *text, size_t *ret_n)
{
	struct keyed_line *v = NULL;
	size_t n = 0, cap = 0;
	char table_name[32] = "";

	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");

		if (len && p[0] != '#') {
			struct keyed_line kl = { .idx = n, .line = xstrndup(p, len) };

			if (kl.line[0] == '*')
				snprintf(table_name, sizeof(table_name), "%s", kl.line);
			if (!strncmp(kl.line, "-A ", 3))
				kl.key = xasprintf("%s %.*s", table_name, (int)strcspn(kl.line + 3, " "),
						   kl.line + 3);
			else
				kl.key = xasprintf("%s %s", table_name, kl.line);
			VEC_PUSH(v, n, cap, kl);
		}
		p += len;
		if (*p)
			p++;
	}
	qsort(v, n, sizeof(*v), cmp_keyed);
	*ret_n = n;
	return v;
}

static void keyed_free(struct keyed_line *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].key);
		free(v[i].line);
	}
	free(v);
}

/* kroute's output as upstream's test proxier would print it. */
static char *as_upstream_test(const char *buf)
{
	struct sbuf b = { 0 };

	for (const char *p = buf; *p;) {
		if (!strncmp(p, "0x00004000", 10)) {
			SBUF_ADDL(&b, "0x4000");
			p += 10;
		} else if (!strncmp(p, " --random-fully", 15)) {
			p += 15;
		} else {
			sbuf_addc(&b, *p++);
		}
	}
	return sbuf_cstr(&b);
}

static void compare_upstream(const struct golden_case *gc)
{
	char *upath = golden_expect_path(gc, "iptables.upstream");
	char *want = golden_read_file(upath, NULL);
	struct variant var = variant_of(gc, AF_INET);
	const char *name = gc->name;
	char *got, *norm;
	struct keyed_line *wl, *gl;
	size_t nw, ng;
	bool same;

	assert_non_null(want);
	got = render_case(gc, &var, NULL);
	norm = as_upstream_test(got);
	wl = grouped_lines(want, &nw);
	gl = grouped_lines(norm, &ng);
	same = nw == ng;
	for (size_t i = 0; i < MAX(nw, ng); i++) {
		const char *w = i < nw ? wl[i].line : "(nothing)", *g = i < ng ? gl[i].line : "(nothing)";

		if (strcmp(w, g)) {
			same = false;
			print_message("%s: want: %s\n%s: got:  %s\n", name, w, name, g);
		}
	}
	if (!same)
		fail_msg("%s: rules differ from kube-proxy's expected rules", name);
	keyed_free(wl, nw);
	keyed_free(gl, ng);
	free(norm);
	free(got);
	free(want);
	free(upath);
}

/* Every case with kube-proxy's expected rules (expect.iptables.upstream). */
static void test_upstream(void **state)
{
	size_t n;
	struct golden_case *v = golden_cases_load("iptables.upstream", &n);

	(void)state;
	for (size_t i = 0; i < n; i++) {
		print_message("case %s: expect.iptables.upstream\n", v[i].name);
		compare_upstream(&v[i]);
	}
	golden_cases_free(v, n);
}

/* ---- targeted assertions ---- */

static void test_probabilities(void **state)
{
	/* Seven endpoints: 1/7, 1/6, ..., 1/2, then an unconditional jump; "%0.10f". */
	static const char *const want[] = {
		"0.1428571429", "0.1666666667", "0.2000000000", "0.2500000000",
		"0.3333333333", "0.5000000000",
	};
	struct sbuf y = { 0 };
	char *out, *nat;
	const char *p;

	(void)state;
	sbuf_adds(&y, "apiVersion: v1\nkind: Service\nmetadata: {name: seven, namespace: ns}\n"
		     "spec:\n  clusterIP: 10.96.7.7\n  ports: [{name: p, port: 80, protocol: TCP}]\n"
		     "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
		     "metadata: {name: seven-1, namespace: ns, labels: {kubernetes.io/service-name: seven}}\n"
		     "addressType: IPv4\nports: [{name: p, port: 80, protocol: TCP}]\nendpoints:\n");
	for (int i = 1; i <= 7; i++) {
		char line[64];

		snprintf(line, sizeof(line), "- {addresses: [10.244.2.%d], nodeName: node-2}\n", i);
		sbuf_adds(&y, line);
	}
	out = render_text(sbuf_cstr(&y), &(struct variant){ 0 });
	nat = table(out, "nat");
	p = nat;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		char *needle = xasprintf("-m statistic --mode random --probability %s -j KUBE-SEP-", want[i]);

		p = strstr(p, needle);
		if (!p)
			fail_msg("probability %s missing or out of order in:\n%s", want[i], nat);
		free(needle);
	}
	assert_int_equal(count_substr(nat, "--probability"), 6);
	/* The seventh endpoint's rule is unconditional. */
	assert_non_null(strstr(nat, "\"ns/seven:p -> 10.244.2.7:80\" -j KUBE-SEP-"));

	free(nat);
	free(out);
	/* Three endpoints, from the golden case. */
	out = render_input("clusterip-3-endpoints", &(struct variant){ 0 });
	assert_int_equal(count_substr(out, "--probability 0.3333333333 -j KUBE-SEP-"), 1);
	assert_int_equal(count_substr(out, "--probability 0.5000000000 -j KUBE-SEP-"), 1);
	assert_int_equal(count_substr(out, "--probability"), 2);
	free(out);
	sbuf_free(&y);
}

static void test_masquerade(void **state)
{
	char *out;
	struct ipt_opts o;
	struct node_view empty = { .node_name = (char *)"node-1" };
	char *buf;
	size_t len;

	(void)state;
	out = render_input("clusterip-3-endpoints", &(struct variant){ 0 });
	assert_line(out, "-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN");
	assert_line(out, "-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000");
	assert_line(out, "-A KUBE-POSTROUTING -m comment --comment \"kubernetes service traffic requiring SNAT\" -j MASQUERADE --random-fully");
	assert_line(out, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000");
	assert_line(out, "-A KUBE-FORWARD -m comment --comment \"kubernetes forwarding rules\" -m mark --mark 0x00004000/0x00004000 -j ACCEPT");
	/* Off-cluster sources to the VIP are masqueraded, pods are not. */
	assert_line(out, "-A KUBE-SVC-67NZLRHBNDSAWJRO -m comment --comment \"shop/web:http cluster IP\" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ");
	/* Hairpin: an endpoint reaching itself through the service. */
	assert_int_equal(count_substr(out, " -s 10.244.1.10 -j KUBE-MARK-MASQ\n"), 1);
	free(out);

	out = render_input("clusterip-3-endpoints", &(struct variant){ .masquerade_all = true });
	assert_line(out, "-A KUBE-SVC-67NZLRHBNDSAWJRO -m comment --comment \"shop/web:http cluster IP\" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-MARK-MASQ");
	free(out);
	out = render_input("clusterip-3-endpoints", &(struct variant){ .no_detector = true });
	assert_no_substring(out, "--dport 80 ! -s");
	assert_no_substring(out, "cluster IP\" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j KUBE-MARK-MASQ");
	free(out);

	/* Another mark bit; an empty view still has every top-level chain. */
	ipt_opts_init(&o);
	o.masquerade_bit = 0;
	assert_int_equal(ipt_render_full(&empty, &o, &buf, &len), 0);
	assert_line(buf, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x00000001");
	assert_line(buf, ":KUBE-PROXY-FIREWALL - [0:0]");
	assert_line(buf, ":KUBE-EXTERNAL-SERVICES - [0:0]");
	free(buf);
	o.masquerade_bit = 31;
	assert_int_equal(ipt_render_full(&empty, &o, &buf, &len), 0);
	assert_line(buf, "-A KUBE-MARK-MASQ -j MARK --or-mark 0x80000000");
	free(buf);
}

static void test_external_masquerade(void **state)
{
	char *out;

	(void)state;
	/* eTP Cluster: everything external is masqueraded. */
	out = render_input("nodeport-etp-cluster", &(struct variant){ 0 });
	assert_line(out, "-A KUBE-NODEPORTS -m comment --comment shop/web:http -m tcp -p tcp --dport 30080 -j KUBE-EXT-67NZLRHBNDSAWJRO");
	assert_line(out, "-A KUBE-EXT-67NZLRHBNDSAWJRO -m comment --comment \"masquerade traffic for shop/web:http external destinations\" -j KUBE-MARK-MASQ");
	assert_line(out, "-A KUBE-EXT-67NZLRHBNDSAWJRO -j KUBE-SVC-67NZLRHBNDSAWJRO");
	assert_line(out, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports; NOTE: this must be the last rule in this chain\" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS");
	/* ... and it is the last rule of nat KUBE-SERVICES. */
	{
		char *nat = table(out, "nat");
		const char *last = strstr(nat, "-A KUBE-SERVICES -m comment --comment \"kubernetes service nodeports");

		assert_non_null(last);
		assert_null(strstr(last + 1, "-A KUBE-SERVICES "));
		free(nat);
	}
	free(out);

	/* eTP Local: pods short-circuit, the host is masqueraded, the rest keeps its source. */
	out = render_input("lb-etp-local-source-ranges", &(struct variant){ 0 });
	assert_line(out, "-A KUBE-EXT-HDZWCINOTGBA7EM2 -m comment --comment \"pod traffic for shop/web-local:http external destinations\" -s 10.244.0.0/16 -j KUBE-SVC-HDZWCINOTGBA7EM2");
	assert_line(out, "-A KUBE-EXT-HDZWCINOTGBA7EM2 -m comment --comment \"masquerade LOCAL traffic for shop/web-local:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ");
	assert_line(out, "-A KUBE-EXT-HDZWCINOTGBA7EM2 -m comment --comment \"route LOCAL traffic for shop/web-local:http external destinations\" -m addrtype --src-type LOCAL -j KUBE-SVC-HDZWCINOTGBA7EM2");
	assert_line(out, "-A KUBE-EXT-HDZWCINOTGBA7EM2 -j KUBE-SVL-HDZWCINOTGBA7EM2");
	assert_no_substring(out, "masquerade traffic for shop/web-local");
	/* Source ranges: accept listed sources (and the LB IPs, the node being in a range). */
	assert_line(out, "-A KUBE-SERVICES -m comment --comment \"shop/web-local:http loadbalancer IP\" -m tcp -p tcp -d 198.51.100.7 --dport 80 -j KUBE-FW-HDZWCINOTGBA7EM2");
	assert_line(out, "-A KUBE-FW-HDZWCINOTGBA7EM2 -m comment --comment \"shop/web-local:http loadbalancer IP\" -s 203.0.113.0/25 -j KUBE-EXT-HDZWCINOTGBA7EM2");
	assert_line(out, "-A KUBE-FW-HDZWCINOTGBA7EM2 -m comment --comment \"shop/web-local:http loadbalancer IP\" -s 198.51.100.8 -j KUBE-EXT-HDZWCINOTGBA7EM2");
	assert_line(out, "-A KUBE-PROXY-FIREWALL -m comment --comment \"shop/web-local:http traffic not accepted by KUBE-FW-HDZWCINOTGBA7EM2\" -m tcp -p tcp -d 198.51.100.7 --dport 80 -j DROP");
	/* The NodePort bypasses the source ranges. */
	assert_line(out, "-A KUBE-NODEPORTS -m comment --comment shop/web-local:http -m tcp -p tcp --dport 30081 -j KUBE-EXT-HDZWCINOTGBA7EM2");
	assert_line(out, "-A KUBE-NODEPORTS -m comment --comment \"shop/web-local:http health check node port\" -m tcp -p tcp --dport 32000 -j ACCEPT");
	free(out);
}

static void test_dnat_targets(void **state)
{
	char *out;

	(void)state;
	out = render_input("clusterip-3-endpoints", &(struct variant){ 0 });
	assert_int_equal(count_substr(out, "-j DNAT"), 3);
	assert_non_null(strstr(out, " -m tcp -p tcp -j DNAT --to-destination 10.244.1.10:8080\n"));
	assert_non_null(strstr(out, " -m tcp -p tcp -j DNAT --to-destination 10.244.2.10:8080\n"));
	assert_non_null(strstr(out, " -m tcp -p tcp -j DNAT --to-destination 10.244.2.11:8080\n"));
	free(out);

	out = render_input("session-affinity", &(struct variant){ 0 });
	assert_non_null(strstr(out, "-m recent --name KUBE-SEP-"));
	assert_int_equal(count_substr(out, " --rcheck --seconds 300 --reap -j KUBE-SEP-"), 2);
	assert_int_equal(count_substr(out, " --set -m udp -p udp -j DNAT --to-destination "), 2);
	free(out);

	out = render_input("dual-stack", &(struct variant){ .family = AF_INET6 });
	assert_non_null(strstr(out, " -m tcp -p tcp -j DNAT --to-destination [fd00:244:1::60]:8080\n"));
	assert_non_null(strstr(out, " -s fd00:244:1::60 -j KUBE-MARK-MASQ\n"));
	assert_non_null(strstr(out, " -d fd00:96::60 --dport 80 -j KUBE-SVC-"));
	assert_non_null(strstr(out, "--dst-type LOCAL ! -d ::1/128 -j KUBE-NODEPORTS\n"));
	assert_no_substring(out, "10.96.0.60");
	assert_no_substring(out, "KUBE-FIREWALL");
	free(out);
}

static void test_reject_drop_placement(void **state)
{
	char *out, *filter, *nat;

	(void)state;
	/* No endpoints anywhere: REJECT, in filter only. */
	out = render_input("no-endpoints-reject", &(struct variant){ 0 });
	filter = table(out, "filter");
	nat = table(out, "nat");
	assert_line(filter, "-A KUBE-SERVICES -m comment --comment \"shop/orphan:http has no endpoints\" -m tcp -p tcp -d 10.96.0.13 --dport 80 -j REJECT");
	assert_line(filter, "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"shop/orphan:http has no endpoints\" -m tcp -p tcp -d 192.0.2.13 --dport 80 -j REJECT");
	assert_line(filter, "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"shop/orphan:http has no endpoints\" -m tcp -p tcp -d 198.51.100.13 --dport 80 -j REJECT");
	assert_line(filter, "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"shop/orphan:http has no endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30013 -j REJECT");
	assert_int_equal(count_substr(out, "-j REJECT"), 4);
	assert_no_substring(nat, "orphan");
	assert_no_substring(nat, "REJECT");
	/* kube-proxy's default reject type: no --reject-with. */
	assert_no_substring(out, "--reject-with");
	free(filter);
	free(nat);
	free(out);

	/* iTP Local, endpoints elsewhere: DROP in filter KUBE-SERVICES, nothing in nat. */
	out = render_input("itp-local-drop", &(struct variant){ 0 });
	filter = table(out, "filter");
	nat = table(out, "nat");
	assert_line(filter, "-A KUBE-SERVICES -m comment --comment \"shop/cache:redis has no local endpoints\" -m tcp -p tcp -d 10.96.0.12 --dport 6379 -j DROP");
	assert_no_substring(nat, "shop/cache:redis");
	assert_no_substring(out, "REJECT");
	/* The other service has a local endpoint: KUBE-SVL, only that endpoint. */
	assert_non_null(strstr(nat, "-d 10.96.0.13 --dport 6379 -j KUBE-SVL-"));
	assert_no_substring(nat, "-> 10.244.2.41:6379");
	assert_non_null(strstr(nat, "\"shop/cache-here:redis -> 10.244.1.41:6379\" -j KUBE-SEP-"));
	free(filter);
	free(nat);
	free(out);

	/* eTP Local, no local endpoint: DROP for each external address, in filter. */
	out = render_input("etp-local-no-local-endpoints", &(struct variant){ 0 });
	filter = table(out, "filter");
	nat = table(out, "nat");
	assert_int_equal(count_substr(filter, "has no local endpoints\""), 3);
	assert_int_equal(count_substr(filter, "-j DROP\n"), 3 + 2); /* + KUBE-FIREWALL, INVALID */
	assert_line(filter, "-A KUBE-EXTERNAL-SERVICES -m comment --comment \"shop/web-local:http has no local endpoints\" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j DROP");
	assert_no_substring(nat, "DROP");
	assert_no_substring(nat, "KUBE-SVL-");
	/* KUBE-EXT still exists (for the short-circuits) but has no final jump. */
	assert_non_null(strstr(nat, "\"pod traffic for shop/web-local:http external destinations\""));
	assert_no_substring(nat, " -j KUBE-SVC-HDZWCINOTGBA7EM2\n-A KUBE-EXT-HDZWCINOTGBA7EM2 -j");
	assert_null(strstr(nat, "-A KUBE-EXT-HDZWCINOTGBA7EM2 -j "));
	free(filter);
	free(nat);
	free(out);
}

static void test_nothing_rendered(void **state)
{
	char *empty, *out;

	(void)state;
	/*
	 * The baseline is a view with no port at all, built by hand:
	 * policy_build_view() of a cluster without services is not used
	 * here because it currently calls qsort(NULL, 0, ...) (UBSan).
	 */
	{
		struct node_view none = { .node_name = (char *)"node-1" };
		struct ipt_opts o;
		struct cidr cc[2];
		size_t len;

		assert_int_equal(cidr_parse("10.244.0.0/16", &cc[0]), 0);
		assert_int_equal(cidr_parse("fd00:244::/48", &cc[1]), 0);
		ipt_opts_init(&o);
		o.cluster_cidrs = cc;
		o.n_cluster_cidrs = 2;
		assert_int_equal(ipt_render_full(&none, &o, &empty, &len), 0);
	}
	assert_no_substring(empty, "KUBE-SVC-");
	out = render_input("unallocated-cluster-ip", &(struct variant){ 0 });
	assert_string_equal(out, empty);
	free(out);
	out = render_input("headless", &(struct variant){ 0 });
	assert_string_equal(out, empty);
	free(out);
	/* The dual-stack service's IPv4 half is rendered for IPv4 only. */
	out = render_input("dual-stack", &(struct variant){ 0 });
	assert_no_substring(out, "fd00:");
	assert_non_null(strstr(out, "-d 10.96.0.60 --dport 80 -j KUBE-SVC-"));
	free(out);
	free(empty);
}

static void test_large_cluster(void **state)
{
	char *out;

	(void)state;
	out = render_input("clusterip-3-endpoints", &(struct variant){ .large_cluster = true });
	/* Per-endpoint rules lose their comments; the others keep them, as upstream. */
	assert_no_substring(out, " -> ");
	assert_no_substring(out, "-m comment --comment shop/web:http -s");
	assert_non_null(strstr(out, "\"shop/web:http cluster IP\""));
	assert_non_null(strstr(out, "-A KUBE-SVC-67NZLRHBNDSAWJRO -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-"));
	free(out);
}

static void test_comment_escaping(void **state)
{
	struct cluster c;
	struct service *svc;
	char *yaml, *path, *text, *nodes, *out, tag[IPT_TAG_LEN], want[80];

	(void)state;
	path = case_input_path("clusterip-3-endpoints");
	text = golden_read_file(path, NULL);
	assert_non_null(text);
	nodes = nodes_yaml();
	yaml = xasprintf("%s%s", nodes, text);
	load_yaml(yaml, &c);
	/* A name the API server would refuse, as a source that does not validate could pass it. */
	svc = cluster_find_service(&c, "shop/web");
	assert_non_null(svc);
	free(svc->name);
	svc->name = xstrdup("we\"b -j ACCEPT");
	out = render_cluster(&c, &(struct variant){ 0 }, NULL);
	assert_no_substring(out, "we\"b");
	assert_no_substring(out, "-j ACCEPT \"");
	assert_non_null(strstr(out, "--comment \"shop/we_b_-j_ACCEPT:http cluster IP\""));
	/* The chain names still hash the real name. */
	ipt_tag("shop/we\"b -j ACCEPT:http", "tcp", NULL, tag);
	snprintf(want, sizeof(want), "-j KUBE-SVC-%.16s\n", tag);
	assert_non_null(strstr(out, want));
	free(out);
	cluster_done(&c);
	free(yaml);
	free(nodes);
	free(text);
	free(path);
}

static void test_bad_options(void **state)
{
	struct node_view empty = { .node_name = (char *)"node-1" };
	struct ipt_opts o;
	struct cidr two[3];
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	ipt_opts_init(&o);
	o.family = 0;
	assert_int_equal(ipt_render_full(&empty, &o, &buf, &len), -EINVAL);
	ipt_opts_init(&o);
	o.masquerade_bit = 32;
	assert_int_equal(ipt_render_full(&empty, &o, &buf, &len), -EINVAL);
	/* Two cluster CIDRs of one family cannot be one "! -s" match. */
	ipt_opts_init(&o);
	assert_int_equal(cidr_parse("10.0.0.0/8", &two[0]), 0);
	assert_int_equal(cidr_parse("fd00::/48", &two[1]), 0);
	assert_int_equal(cidr_parse("172.16.0.0/12", &two[2]), 0);
	o.cluster_cidrs = two;
	o.n_cluster_cidrs = 3;
	assert_int_equal(ipt_render_full(&empty, &o, &buf, &len), -EINVAL);
	assert_null(buf);
	/* One per family is fine. */
	o.n_cluster_cidrs = 2;
	assert_int_equal(ipt_render_full(&empty, &o, &buf, &len), 0);
	free(buf);
}

static void test_port_chains(void **state)
{
	static const char *const inputs[] = {
		"clusterip-3-endpoints", "lb-etp-local-source-ranges", "session-affinity",
		"itp-local-drop", "etp-local-no-local-endpoints", "no-endpoints-reject",
		"headless", "dual-stack",
	};

	(void)state;
	for (size_t k = 0; k < ARRAY_SIZE(inputs); k++) {
		for (int fam = 0; fam < 2; fam++) {
			char *path = case_input_path(inputs[k]), *nodes = nodes_yaml();
			char *text = golden_read_file(path, NULL), *yaml = xasprintf("%s%s", nodes, text);
			struct variant var = { .family = fam ? AF_INET6 : AF_INET };
			struct cluster c;
			struct policy_opts po;
			struct ipt_opts o;
			struct ipt_chain_list l = { 0 };
			struct node_view *v;
			char *out;
			size_t n_declared = 0;

			load_yaml(yaml, &c);
			out = render_cluster(&c, &var, NULL);
			policy_opts_init(&po);
			v = policy_build_view(&c, "node-1", &po);
			ipt_opts_init(&o);
			o.family = var.family;
			for (size_t i = 0; i < v->n_ports; i++)
				ipt_port_chains(&v->ports[i], &o, &l);
			/* Every listed chain is declared, and every declared service chain is listed. */
			for (size_t i = 0; i < l.n; i++) {
				char *decl = xasprintf(":%s - [0:0]", l.names[i]);

				assert_true(ipt_is_service_chain(l.names[i]));
				assert_line(out, decl);
				free(decl);
			}
			for (const char *p = out; (p = strstr(p, "\n:KUBE-")); p++) {
				char name[IPT_CHAIN_NAME_MAX] = "";

				sscanf(p + 2, "%28s", name);
				if (ipt_is_service_chain(name))
					n_declared++;
			}
			assert_int_equal(n_declared, l.n);
			ipt_chain_list_done(&l);
			node_view_free(v);
			free(out);
			cluster_done(&c);
			free(yaml);
			free(nodes);
			free(text);
			free(path);
		}
	}
}

static void test_jump_rules(void **state)
{
	static const struct {
		const char *table, *chain, *target;
	} want[] = {
		{ "nat", "PREROUTING", "KUBE-SERVICES" },
		{ "nat", "OUTPUT", "KUBE-SERVICES" },
		{ "nat", "POSTROUTING", "KUBE-POSTROUTING" },
		{ "filter", "INPUT", "KUBE-EXTERNAL-SERVICES" },
		{ "filter", "FORWARD", "KUBE-EXTERNAL-SERVICES" },
		{ "filter", "INPUT", "KUBE-NODEPORTS" },
		{ "filter", "FORWARD", "KUBE-SERVICES" },
		{ "filter", "OUTPUT", "KUBE-SERVICES" },
		{ "filter", "FORWARD", "KUBE-FORWARD" },
		{ "filter", "INPUT", "KUBE-PROXY-FIREWALL" },
		{ "filter", "OUTPUT", "KUBE-PROXY-FIREWALL" },
		{ "filter", "FORWARD", "KUBE-PROXY-FIREWALL" },
		{ "filter", "INPUT", "KUBE-FIREWALL" },
		{ "filter", "OUTPUT", "KUBE-FIREWALL" },
	};

	(void)state;
	assert_int_equal(ipt_n_jump_rules, ARRAY_SIZE(want));
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		bool found = false;

		for (size_t k = 0; k < ipt_n_jump_rules && !found; k++) {
			const struct ipt_jump_rule *j = &ipt_jump_rules[k];
			size_t n = 0;

			if (strcmp(j->table, want[i].table) || strcmp(j->chain, want[i].chain) ||
			    strcmp(j->target, want[i].target))
				continue;
			found = true;
			while (j->args[n])
				n++;
			assert_true(n >= 2 && n < ARRAY_SIZE(j->args));
			assert_string_equal(j->args[n - 2], "-j");
			assert_string_equal(j->args[n - 1], j->target);
			/* filter KUBE-SERVICES / EXTERNAL / PROXY-FIREWALL see only new connections. */
			if (!strcmp(j->table, "filter") &&
			    (!strcmp(j->target, "KUBE-SERVICES") ||
			     !strcmp(j->target, "KUBE-EXTERNAL-SERVICES") ||
			     !strcmp(j->target, "KUBE-PROXY-FIREWALL"))) {
				assert_string_equal(j->args[2], "--ctstate");
				assert_string_equal(j->args[3], "NEW");
			}
			assert_int_equal(j->kubelet, !strcmp(j->target, "KUBE-FIREWALL"));
		}
		if (!found)
			fail_msg("no jump %s %s -> %s", want[i].table, want[i].chain, want[i].target);
	}
}

/* ---- iptables-restore in a throwaway network namespace ---- */

/* The namespace test_iptables_restore() made; its teardown deletes it even after a failure. */
static char netns_name[64];

static int run(const char *cmd)
{
	int st = system(cmd);

	return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* --test, then a real load, of buf in netns ns; then iptables-save must show KUBE-SERVICES. */
static void restore_in_netns(const char *ns, const char *buf, size_t len, int family,
			     const char *what)
{
	char path[] = "/tmp/kroute-ipt-XXXXXX";
	const char *tool = family == AF_INET6 ? "ip6tables" : "iptables";
	char *cmd;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
	cmd = xasprintf("ip netns exec %s %s-restore --test --noflush < %s", ns, tool, path);
	if (run(cmd) != 0) {
		unlink(path);
		fail_msg("%s-restore --test rejected %s (%s)", tool, what, cmd);
	}
	free(cmd);
	cmd = xasprintf("ip netns exec %s %s-restore --noflush < %s", ns, tool, path);
	if (run(cmd) != 0) {
		unlink(path);
		fail_msg("%s-restore rejected %s", tool, what);
	}
	free(cmd);
	cmd = xasprintf("ip netns exec %s %s-save -t nat | grep -q '^:KUBE-SERVICES '", ns, tool);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	unlink(path);
}

static void test_iptables_restore(void **state)
{
	static const char *const nodes[] = { "node-a1", "node-a2", "node-b1" };
	char ns[64], *cmd, *examples;
	const char *paths[1];
	struct cluster c;
	struct diag d;
	int r;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: iptables-restore checks skipped\n");
		skip();
	}
	if (run("command -v iptables-restore >/dev/null && command -v ip6tables-restore >/dev/null") != 0)
		fail_msg("iptables-restore / ip6tables-restore not found: install the Debian package iptables");
	snprintf(ns, sizeof(ns), "kroute-ipt-test-%d", (int)getpid());
	cmd = xasprintf("ip netns add %s", ns);
	assert_int_equal(run(cmd), 0);
	free(cmd);
	snprintf(netns_name, sizeof(netns_name), "%s", ns);

	for (size_t k = 0; k < ARRAY_SIZE(ipt_renderers); k++) {
		size_t n;
		struct golden_case *v = golden_cases_load(ipt_renderers[k].renderer, &n);

		for (size_t i = 0; i < n; i++) {
			struct variant var = variant_of(&v[i], ipt_renderers[k].family);
			size_t len;
			char *out = render_case(&v[i], &var, &len);

			restore_in_netns(ns, out, len, var.family, v[i].name);
			free(out);
		}
		golden_cases_free(v, n);
	}

	/* The jump rules the apply layer adds: valid, and found again by -C once inserted. */
	for (int fam = 0; fam < 2; fam++) {
		for (size_t i = 0; i < ipt_n_jump_rules; i++) {
			const struct ipt_jump_rule *j = &ipt_jump_rules[i];
			struct sbuf args = { 0 };

			for (size_t k = 0; j->args[k]; k++) {
				sbuf_adds(&args, " '");
				sbuf_adds(&args, j->args[k]);
				sbuf_addc(&args, '\'');
			}
			/* KUBE-FIREWALL is kubelet's; the restore input declares it for IPv4 only. */
			cmd = xasprintf("ip netns exec %s %s -t %s -N %s 2>/dev/null; "
					"ip netns exec %s %s -t %s -I %s 1%s && "
					"ip netns exec %s %s -t %s -C %s%s", ns,
					fam ? "ip6tables" : "iptables", j->table, j->target,
					ns, fam ? "ip6tables" : "iptables", j->table, j->chain,
					sbuf_cstr(&args), ns, fam ? "ip6tables" : "iptables", j->table,
					j->chain, sbuf_cstr(&args));
			if (run(cmd) != 0)
				fail_msg("jump rule failed: %s", cmd);
			free(cmd);
			sbuf_free(&args);
		}
	}

	examples = xasprintf("%s/examples", golden_src_dir());
	paths[0] = examples;
	cluster_init(&c);
	diag_init(&d);
	r = manifest_load(paths, 1, NULL, &c, &d);
	if (r < 0)
		diag_print(&d, stderr);
	assert_int_equal(r, 0);
	for (size_t i = 0; i < ARRAY_SIZE(nodes); i++) {
		for (int fam = 0; fam < 2; fam++) {
			struct variant var = { .node = nodes[i], .family = fam ? AF_INET6 : AF_INET };
			size_t len;
			char *out = render_cluster(&c, &var, &len);
			char *what = xasprintf("examples/ for %s, %s", nodes[i], fam ? "IPv6" : "IPv4");

			if (!fam)
				assert_non_null(strstr(out, "-j KUBE-SVC-"));
			restore_in_netns(ns, out, len, var.family, what);
			free(what);
			free(out);
		}
	}
	cluster_done(&c);
	diag_done(&d);
	free(examples);
}

static int netns_teardown(void **state)
{
	char *cmd;
	int r;

	(void)state;
	if (!netns_name[0])
		return 0;
	cmd = xasprintf("ip netns del %s", netns_name);
	r = run(cmd);
	free(cmd);
	netns_name[0] = '\0';
	return r == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_chain_names),
		cmocka_unit_test(test_goldens),
		cmocka_unit_test(test_upstream),
		cmocka_unit_test(test_probabilities),
		cmocka_unit_test(test_masquerade),
		cmocka_unit_test(test_external_masquerade),
		cmocka_unit_test(test_dnat_targets),
		cmocka_unit_test(test_reject_drop_placement),
		cmocka_unit_test(test_nothing_rendered),
		cmocka_unit_test(test_large_cluster),
		cmocka_unit_test(test_comment_escaping),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_port_chains),
		cmocka_unit_test(test_jump_rules),
		cmocka_unit_test_teardown(test_iptables_restore, netns_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
