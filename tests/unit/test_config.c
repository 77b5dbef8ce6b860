/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --config (daemon/config.c): a KubeProxyConfiguration read into
 * the options the flags set.  Every supported field reaches its option; a
 * known field kroute lacks and an unknown field are warned about by name and
 * line; wrong types and bad values are errors with file, line and field;
 * flags on the command line override the file; what --write-config-to
 * writes reads back to the same options.  Nothing here runs the agent: only
 * the parser and the config reader (files in a temporary directory).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/diag.h"
#include "core/log.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "daemon/run_flags.h"
#include "dataplane/iptables/options.h"

#define NS_PER_SEC 1000000000ull

#define HEAD "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n"

static char tmpdir[] = "/tmp/kroute-test-config-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* Writes text to a file of the temporary directory; returns its path (static). */
static const char *write_file(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* parse_run_args over a NULL-terminated argument list ("run" comes first). */
static int parse(struct run_cfg *cfg, ...)
{
	char *argv[32] = { "run" };
	int argc = 1;
	va_list ap;

	va_start(ap, cfg);
	while ((argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	assert_int_equal(run_cfg_init(cfg), 0);
	return parse_run_args(argc, argv, cfg);
}

/* The one message of d at level that contains text, or fails naming what is there. */
static const struct diag_msg *find_msg(const struct diag *d, enum diag_level level,
				       const char *text)
{
	char buf[512];

	for (size_t i = 0; i < d->n; i++)
		if (d->msgs[i].level == level && strstr(d->msgs[i].text, text))
			return &d->msgs[i];
	for (size_t i = 0; i < d->n; i++) {
		diag_msg_format(&d->msgs[i], buf, sizeof(buf));
		print_message("  have: %s\n", buf);
	}
	fail_msg("no %s containing \"%s\"", level == DIAG_ERROR ? "error" : "warning", text);
	return NULL;
}

static const struct ipt_mode_opts *ipt_opts(const struct run_cfg *cfg)
{
	for (size_t i = 0; dataplane_all[i]; i++)
		if (streq(dataplane_all[i]->name, "iptables"))
			return cfg->mode_opts[i];
	fail_msg("no iptables mode");
	return NULL;
}

static void assert_cidrs(const struct cidr *v, size_t n, const char *want)
{
	struct sbuf b = { 0 };
	char buf[ADDR_STRLEN + 4];

	for (size_t i = 0; i < n; i++) {
		cidr_format(&v[i], buf);
		sbuf_printf(&b, "%s%s", i ? "," : "", buf);
	}
	assert_string_equal(b.len ? sbuf_cstr(&b) : "", want);
	sbuf_free(&b);
}

static const char every_field[] = HEAD
	"clientConnection:\n"
	"  kubeconfig: /etc/kroute/kubeconfig\n"
	"logging:\n"
	"  format: json\n"
	"  verbosity: 3\n"
	"hostnameOverride: node-a1\n"
	"mode: iptables\n"
	"iptables:\n"
	"  masqueradeBit: 0\n"
	"  masqueradeAll: true\n"
	"  localhostNodePorts: false\n"
	"  syncPeriod: 1m30s\n"
	"  minSyncPeriod: 250ms\n"
	"ipvs:\n"
	"  scheduler: lc\n"
	"  syncPeriod: 5m\n"            /* ipvs mode only: not applied */
	"nftables:\n"
	"  masqueradeAll: false\n"      /* nftables mode only */
	"  syncPeriod: 7m\n"
	"clusterCIDR: 10.244.0.0/16,fd00:10::/56\n"
	"nodePortAddresses:\n"
	"- 192.168.0.0/16\n"
	"- fd00::/64\n"
	"detectLocalMode: ClusterCIDR\n"
	"bindAddress: 0.0.0.0\n";

/* Every field kroute supports sets its option; the other modes' sections do not. */
static void test_every_supported_field(void **state)
{
	const char *path = write_file("every.yaml", every_field);
	struct run_cfg cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "--config", path, NULL), 0);
	assert_int_equal(cfg.diag.n, 0); /* detectLocalMode and bindAddress: what kroute does */
	assert_string_equal(cfg.kubeconfig, "/etc/kroute/kubeconfig");
	assert_true(cfg.api);
	assert_int_equal(cfg.log_format, LOG_FORMAT_JSON);
	assert_int_equal(cfg.verbosity, 3);
	assert_string_equal(cfg.node, "node-a1");
	assert_string_equal(cfg.mode, "iptables");
	assert_non_null(cfg.ops);
	assert_int_equal(ipt_opts(&cfg)->masquerade_bit, 0); /* a pointer field: 0 is a value */
	assert_true(cfg.dp.masquerade_all);
	assert_true(cfg.po.masquerade_all);
	assert_false(cfg.dp.localhost_nodeports);
	assert_int_equal(cfg.sync_period_ns, 90 * NS_PER_SEC);
	assert_int_equal(cfg.min_sync_period_ns, NS_PER_SEC / 4);
	assert_string_equal(cfg.po.lb.sched_name, "lc");
	assert_cidrs(cfg.cluster_cidrs, cfg.n_cluster_cidrs, "10.244.0.0/16,fd00:10::/56");
	assert_int_equal(cfg.dp.n_cluster_cidrs, 2);
	assert_cidrs(cfg.nodeport_cidrs, cfg.n_nodeport_cidrs, "192.168.0.0/16,fd00::/64");
	run_cfg_done(&cfg);
}

/* kube-proxy's conversion: in nftables mode the nftables section's periods apply. */
static void test_mode_sections(void **state)
{
	struct run_cfg cfg;
	static const char doc[] = HEAD
		"iptables: {syncPeriod: 1m, masqueradeAll: false}\n"
		"nftables: {syncPeriod: 7m, minSyncPeriod: 3s, masqueradeAll: true}\n";

	(void)state;
	assert_int_equal(run_cfg_init(&cfg), 0);
	/* No mode in the file or on the command line: the iptables section. */
	assert_int_equal(run_cfg_apply_config_buffer(&cfg, "m.yaml", doc, strlen(doc), false), 0);
	assert_int_equal(cfg.sync_period_ns, 60 * NS_PER_SEC);
	assert_false(cfg.dp.masquerade_all);
	run_cfg_done(&cfg);

	/* --mode nftables: the nftables section. */
	assert_int_equal(parse(&cfg, "--config", write_file("m.yaml", doc), "--mode", "nftables",
			       "--node", "n", "-f", "x", NULL),
			 0);
	assert_int_equal(cfg.sync_period_ns, 7 * 60 * NS_PER_SEC);
	assert_int_equal(cfg.min_sync_period_ns, 3 * NS_PER_SEC);
	assert_true(cfg.dp.masquerade_all);
	run_cfg_done(&cfg);
}

/* A known field kroute lacks, set, is warned about by name and line, and ignored. */
static void test_warned_fields(void **state)
{
	struct run_cfg cfg;
	const struct diag_msg *m;
	static const char doc[] = HEAD
		"bindAddress: 10.1.2.3\n"
		"enableProfiling: true\n"
		"conntrack:\n"
		"  maxPerCore: 65536\n"
		"  min: null\n"
		"featureGates: {Foo: true}\n"
		"winkernel: {enableDSR: true}\n"   /* Windows only: kube-proxy ignores it too */
		"ipvs: {strictARP: true}\n";       /* ipvs mode only */

	(void)state;
	assert_int_equal(run_cfg_init(&cfg), 0);
	assert_int_equal(run_cfg_apply_config_buffer(&cfg, "w.yaml", doc, strlen(doc), false), 0);
	assert_int_equal(cfg.diag.n_errors, 0);
	m = find_msg(&cfg.diag, DIAG_WARNING,
		     "field bindAddress is not supported by kroute and is ignored");
	assert_string_equal(m->file, "w.yaml");
	assert_int_equal(m->line, 3);
	assert_int_equal(find_msg(&cfg.diag, DIAG_WARNING, "field enableProfiling ")->line, 4);
	assert_int_equal(find_msg(&cfg.diag, DIAG_WARNING, "field conntrack.maxPerCore ")->line, 6);
	assert_int_equal(find_msg(&cfg.diag, DIAG_WARNING, "field featureGates ")->line, 8);
	/* Those four, and nothing for null, Windows-only or another mode's fields. */
	assert_int_equal(cfg.diag.n, 4);
	run_cfg_done(&cfg);
}

/* Zero values are "not set" (kube-proxy defaults them): kubeadm's document is quiet. */
static void test_zero_values(void **state)
{
	struct run_cfg cfg;
	static const char doc[] = HEAD
		"bindAddress: 0.0.0.0\nbindAddressHardFail: false\n"
		"clientConnection: {acceptContentTypes: \"\", burst: 0, contentType: \"\",\n"
		"  kubeconfig: \"\", qps: 0}\n"
		"clusterCIDR: \"\"\nconfigSyncPeriod: 0s\n"
		"conntrack: {maxPerCore: null, min: null, tcpCloseWaitTimeout: null,\n"
		"  tcpEstablishedTimeout: null, udpStreamTimeout: 0s, udpTimeout: 0s}\n"
		"detectLocal: {bridgeInterface: \"\", interfaceNamePrefix: \"\"}\n"
		"detectLocalMode: \"\"\nenableProfiling: false\nhealthzBindAddress: \"\"\n"
		"hostnameOverride: \"\"\n"
		"iptables: {localhostNodePorts: null, masqueradeAll: false, masqueradeBit: null,\n"
		"  minSyncPeriod: 0s, syncPeriod: 0s}\n"
		"ipvs: {excludeCIDRs: null, minSyncPeriod: 0s, scheduler: \"\", strictARP: false}\n"
		"logging: {flushFrequency: 0, options: {json: {infoBufferSize: \"0\"}},\n"
		"  verbosity: 0}\n"
		"metricsBindAddress: \"\"\nmode: \"\"\nnodePortAddresses: null\noomScoreAdj: null\n"
		"portRange: \"\"\nshowHiddenMetricsForVersion: \"\"\n"
		"winkernel: {enableDSR: false, networkName: \"\"}\n";

	(void)state;
	assert_int_equal(run_cfg_init(&cfg), 0);
	assert_int_equal(run_cfg_apply_config_buffer(&cfg, "z.yaml", doc, strlen(doc), false), 0);
	if (cfg.diag.n)
		find_msg(&cfg.diag, DIAG_ERROR, "(nothing expected)");
	assert_int_equal(cfg.sync_period_ns, 30 * NS_PER_SEC);
	assert_int_equal(cfg.min_sync_period_ns, NS_PER_SEC);
	assert_int_equal(ipt_opts(&cfg)->masquerade_bit, 14);
	assert_true(cfg.dp.localhost_nodeports);
	assert_null(cfg.mode);
	run_cfg_done(&cfg);
}

/* An unknown field: kube-proxy falls back to lenient decoding and ignores it; kroute warns. */
static void test_unknown_field(void **state)
{
	struct run_cfg cfg;
	const struct diag_msg *m;
	static const char doc[] = HEAD
		"iptables:\n"
		"  masqueradeBits: 3\n"
		"udpIdleTimeout: 250ms\n";

	(void)state;
	assert_int_equal(run_cfg_init(&cfg), 0);
	assert_int_equal(run_cfg_apply_config_buffer(&cfg, "u.yaml", doc, strlen(doc), false), 0);
	m = find_msg(&cfg.diag, DIAG_WARNING, "unknown field \"iptables.masqueradeBits\", ignored");
	assert_int_equal(m->line, 4);
	assert_int_equal(find_msg(&cfg.diag, DIAG_WARNING,
				  "unknown field \"udpIdleTimeout\"")->line, 5);
	assert_int_equal(ipt_opts(&cfg)->masquerade_bit, 14);
	run_cfg_done(&cfg);
}

/* Wrong types and bad values: errors naming file, line and field; nothing half-applied matters. */
static void test_bad_values(void **state)
{
	static const struct {
		const char *body;   /* after HEAD, whose two lines come first */
		int line;
		const char *field, *text;
	} cases[] = {
		{ "iptables:\n  masqueradeBit: \"14\"\n", 4, "iptables.masqueradeBit",
		  "must be an integer (int32), not string" },
		{ "iptables:\n  masqueradeBit: 32\n", 4, "iptables.masqueradeBit",
		  "\"32\": must be within the range [0, 31]" },
		{ "iptables:\n  masqueradeBit: 4294967296\n", 4, "iptables.masqueradeBit",
		  "4294967296 is out of range for an integer (int32)" },
		{ "iptables:\n  syncPeriod: 30\n", 4, "iptables.syncPeriod",
		  "must be a duration string" },
		{ "iptables:\n  syncPeriod: 30x\n", 4, "iptables.syncPeriod", "unknown unit \"x\"" },
		{ "iptables:\n  syncPeriod: -1s\n", 4, "iptables.syncPeriod",
		  "must be greater than 0" },
		{ "iptables:\n  masqueradeAll: \"true\"\n", 4, "iptables.masqueradeAll",
		  "must be a boolean" },
		{ "iptables: [1]\n", 3, "iptables", "must be a mapping, not list" },
		{ "mode: kernelspace\n", 3, "mode", "unknown mode \"kernelspace\"" },
		{ "mode: 7\n", 3, "mode", "must be a string, not integer" },
		{ "clusterCIDR: 10.0.0.0/8,10.1.0.0/16\n", 3, "clusterCIDR",
		  "one IPv4 and one IPv6 CIDR" },
		{ "nodePortAddresses: [primary]\n", 3, "nodePortAddresses", "primary" },
		{ "nodePortAddresses: 10.0.0.0/8\n", 3, "nodePortAddresses",
		  "must be a list of strings, not string" },
		{ "logging:\n  verbosity: -1\n", 4, "logging.verbosity", "-1 is out of range" },
		{ "logging:\n  format: xml\n", 4, "logging.format", "unknown format" },
		{ "featureGates: {A: 1}\n", 3, "featureGates", "mapping of names to booleans" },
		{ "clientConnection:\n  qps: fast\n", 4, "clientConnection.qps",
		  "must be a number, not string" },
		{ "hostnameOverride: [a]\n", 3, "hostnameOverride", "must be a string, not list" },
	};
	char doc[512];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run_cfg cfg;
		const struct diag_msg *m;

		snprintf(doc, sizeof(doc), HEAD "%s", cases[i].body);
		assert_int_equal(run_cfg_init(&cfg), 0);
		if (run_cfg_apply_config_buffer(&cfg, "bad.yaml", doc, strlen(doc), false) != -EINVAL)
			fail_msg("case %zu accepted: %s", i, cases[i].body);
		m = find_msg(&cfg.diag, DIAG_ERROR, cases[i].text);
		assert_string_equal(m->file, "bad.yaml");
		if (m->line != cases[i].line)
			fail_msg("case %zu: line %d, want %d", i, m->line, cases[i].line);
		assert_non_null(m->path);
		assert_string_equal(m->path, cases[i].field);
		run_cfg_done(&cfg);
	}
}

/* The document itself: apiVersion, kind, one mapping; JSON names the file and field. */
static void test_bad_documents(void **state)
{
	static const struct {
		const char *doc;
		bool json;
		const char *text;
	} cases[] = {
		{ "kind: KubeProxyConfiguration\n", false, "missing: kroute reads" },
		{ "apiVersion: kubeproxy.config.k8s.io/v1alpha2\nkind: KubeProxyConfiguration\n",
		  false, "\"kubeproxy.config.k8s.io/v1alpha2\": kroute reads" },
		{ "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n",
		  false, "must be KubeProxyConfiguration" },
		{ HEAD "---\n" HEAD, false, "more than one document" },
		{ "", false, "no KubeProxyConfiguration" },
		{ "{\"apiVersion\": \"kubeproxy.config.k8s.io/v1alpha1\", "
		  "\"kind\": \"KubeProxyConfiguration\", \"iptables\": {\"masqueradeBit\": true}}",
		  true, "must be an integer" },
		{ "{\"apiVersion\": ", true, "invalid JSON" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct run_cfg cfg;

		assert_int_equal(run_cfg_init(&cfg), 0);
		if (run_cfg_apply_config_buffer(&cfg, "doc", cases[i].doc, strlen(cases[i].doc),
						cases[i].json) != -EINVAL)
			fail_msg("case %zu accepted", i);
		find_msg(&cfg.diag, DIAG_ERROR, cases[i].text);
		run_cfg_done(&cfg);
	}
}

/* Flags given on the command line override the file, however they are spelled. */
static void test_flags_override(void **state)
{
	const char *path = write_file("over.yaml", every_field);
	struct run_cfg cfg;

	(void)state;
	assert_int_equal(parse(&cfg, "--iptables-sync-period", "10s", "--config", path,
			       "--cluster-cidr", "10.9.0.0/16", "--hostname-override", "node-b",
			       "-v", "1", "--logging-format=text", "--masquerade-all=false",
			       "--scheduler", "rr", "--iptables-masquerade-bit", "7", NULL), 0);
	assert_int_equal(cfg.sync_period_ns, 10 * NS_PER_SEC);
	assert_int_equal(cfg.min_sync_period_ns, NS_PER_SEC / 4); /* not given: the file's */
	assert_cidrs(cfg.cluster_cidrs, cfg.n_cluster_cidrs, "10.9.0.0/16"); /* not appended */
	assert_string_equal(cfg.node, "node-b");
	assert_int_equal(cfg.verbosity, 1);
	assert_int_equal(cfg.log_format, LOG_FORMAT_TEXT);
	assert_false(cfg.dp.masquerade_all);
	assert_string_equal(cfg.po.lb.sched_name, "rr");
	assert_int_equal(ipt_opts(&cfg)->masquerade_bit, 7);
	assert_string_equal(cfg.kubeconfig, "/etc/kroute/kubeconfig"); /* not given: the file's */
	run_cfg_done(&cfg);

	/* The mode from the command line picks the file's section. */
	assert_int_equal(parse(&cfg, "--config", write_file("over2.yaml", HEAD
			       "mode: iptables\nhostnameOverride: node-n\nclientConnection: {kubeconfig: k}\n"
			       "iptables: {syncPeriod: 1m}\nnftables: {syncPeriod: 2m}\n"),
			       "--mode", "userspace", "-v=4", NULL), 0);
	assert_string_equal(cfg.mode, "userspace");
	assert_int_equal(cfg.sync_period_ns, 60 * NS_PER_SEC);
	assert_int_equal(cfg.verbosity, 4);
	run_cfg_done(&cfg);
}

/* --write-config-to's document reads back to the same options and the same document. */
static void test_write_round_trip(void **state)
{
	struct run_cfg cfg, again;
	struct sbuf first = { 0 }, second = { 0 };

	(void)state;
	assert_int_equal(parse(&cfg, "--config", write_file("rt.yaml", every_field),
			       "--write-config-to", "-", NULL), 0);
	run_cfg_write_config(&cfg, &first);
	sbuf_cstr(&first);
	assert_non_null(strstr(first.p, "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
				       "kind: KubeProxyConfiguration\n"));
	assert_non_null(strstr(first.p, "iptables:\n  masqueradeBit: 0\n  masqueradeAll: true\n"));
	assert_non_null(strstr(first.p, "  syncPeriod: \"90s\"\n  minSyncPeriod: \"250ms\"\n"));
	assert_non_null(strstr(first.p, "clusterCIDR: \"10.244.0.0/16,fd00:10::/56\"\n"));
	assert_non_null(strstr(first.p, "nodePortAddresses: [\"192.168.0.0/16\", \"fd00::/64\"]\n"));

	assert_int_equal(run_cfg_init(&again), 0);
	assert_int_equal(run_cfg_apply_config_buffer(&again, "first", first.p, first.len, false), 0);
	assert_int_equal(again.diag.n, 0);
	assert_int_equal(again.sync_period_ns, cfg.sync_period_ns);
	assert_int_equal(ipt_opts(&again)->masquerade_bit, 0);
	assert_string_equal(again.node, cfg.node);
	run_cfg_write_config(&again, &second);
	assert_int_equal(second.len, first.len);
	assert_memory_equal(second.p, first.p, first.len);
	sbuf_free(&first);
	sbuf_free(&second);
	run_cfg_done(&again);
	run_cfg_done(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_supported_field),
		cmocka_unit_test(test_mode_sections),
		cmocka_unit_test(test_warned_fields),
		cmocka_unit_test(test_zero_values),
		cmocka_unit_test(test_unknown_field),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_documents),
		cmocka_unit_test(test_flags_override),
		cmocka_unit_test(test_write_round_trip),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
