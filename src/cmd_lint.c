/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute lint: the command line around src/lint/.  Exit status: 0 when no
 * finding is at error level, 1 when one is (for CI pipelines; also a
 * failure to read the API server), 2 for bad input or usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/opt.h"
#include "core/util.h"
#include "lint/lint.h"

enum { OPT_IGNORE = 256, OPT_MODE, OPT_LIFETIME, OPT_PROXY_NAME };

static void usage_lint(FILE *f)
{
	fputs("usage: kroute lint (-f PATH... | --kubeconfig PATH | --master URL) [-o table|json]\n"
	      "                   [--ignore RULE]... [--mode MODE] [--endpoint-lifetime D]\n"
	      "\n"
	      "Reports, per service, what its traffic policy will do that its owner may not\n"
	      "expect, naming the nodes concerned (rules: docs/lint.md).  Exit status 1 when a\n"
	      "finding is at error level.\n"
	      "\n"
	      "  -f, --filename PATH        manifest file or directory (repeatable; '-' = stdin),\n"
	      "                             with the Node objects (kubectl get nodes -o yaml)\n"
	      "      --kubeconfig PATH      read the cluster from the API server this kubeconfig\n"
	      "                             names (its current context), listed once\n"
	      "      --master URL           the API server's URL (overrides the kubeconfig's)\n"
	      "  -o, --output FORMAT        table (default) or json\n"
	      "      --ignore RULE          leave out a rule, by id (KR001) or name\n"
	      "                             (etp-local-drops); repeatable, or comma-separated\n"
	      "      --mode MODE            the data plane whose abilities count: iptables (default),\n"
	      "                             userspace, nftables or ipvs\n"
	      "      --endpoint-lifetime D  how long endpoints are expected to live (default 1h),\n"
	      "                             for session affinity timeouts (KR007)\n"
	      "      --service-proxy-name N lint only services labelled\n"
	      "                             service.kubernetes.io/service-proxy-name=N\n",
	      f);
}

static int add_ignores(struct lint_opts *o, const char *arg)
{
	char *copy = xstrdup(arg), *save = NULL, *tok;
	int r = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		const struct lint_rule *rule = lint_rule_find(tok);

		if (!rule) {
			fprintf(stderr, "kroute lint: --ignore: no rule \"%s\" (ids KR001-KR%03d; docs/lint.md)\n",
				tok, LINT_N_RULES);
			r = -EINVAL;
			break;
		}
		o->ignore[rule - lint_rules] = true;
	}
	free(copy);
	return r;
}

static int set_mode(struct lint_opts *o, const char *arg)
{
	for (size_t i = 0; lint_modes[i]; i++) {
		if (streq(lint_modes[i], arg)) {
			o->mode = lint_modes[i];
			return 0;
		}
	}
	fprintf(stderr, "kroute lint: --mode must be iptables, userspace, nftables or ipvs, got \"%s\"\n", arg);
	return -EINVAL;
}

static int set_lifetime(struct lint_opts *o, const char *arg)
{
	char err[256];
	int64_t ns;

	if (opt_parse_go_duration(arg, &ns, err, sizeof(err)) < 0 || ns < 1000000000ll ||
	    ns / 1000000000ll > UINT32_MAX) {
		fprintf(stderr, "kroute lint: --endpoint-lifetime: %s\n",
			ns < 1000000000ll ? "must be a duration of at least 1s, such as 30m or 2h" : err);
		return -EINVAL;
	}
	o->endpoint_lifetime_s = (uint32_t)(ns / 1000000000ll);
	return 0;
}

/* Returns 0, 1 after --help, or -EINVAL after printing the problem. */
static int parse_lint_args(int argc, char **argv, struct cmd_input *in, struct lint_opts *o,
			   const char **output)
{
	static const struct option longopts[] = {
		CMD_INPUT_LONGOPTS,
		{ "ignore", required_argument, NULL, OPT_IGNORE },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "endpoint-lifetime", required_argument, NULL, OPT_LIFETIME },
		{ "service-proxy-name", required_argument, NULL, OPT_PROXY_NAME },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, r = 0;

	optind = 1;
	while (r == 0 && (opt = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		if (cmd_input_option(in, output, opt, optarg))
			continue;
		switch (opt) {
		case 'h':
			usage_lint(stdout);
			return 1;
		case OPT_IGNORE:
			r = add_ignores(o, optarg);
			break;
		case OPT_MODE:
			r = set_mode(o, optarg);
			break;
		case OPT_LIFETIME:
			r = set_lifetime(o, optarg);
			break;
		case OPT_PROXY_NAME:
			o->po.service_proxy_name = optarg;
			break;
		default:
			usage_lint(stderr);
			return -EINVAL;
		}
	}
	if (r < 0)
		return r;
	return cmd_args_done(argc, argv, in, "lint", *output, usage_lint);
}

static int lint_main(const struct cmd_input *in, const struct lint_opts *o, const char *output)
{
	struct cluster c, *loaded = NULL;
	struct store store;
	struct lint_report report;
	struct sbuf out = { 0 };
	int ret;

	cluster_init(&c);
	store_init(&store);
	ret = cmd_input_load(in, NULL, o->po.service_proxy_name, &c, &store, &loaded);
	if (ret == 0) {
		lint_run(loaded, o, &report);
		if (streq(output, "json"))
			lint_render_json(&report, &out);
		else
			lint_render_table(&report, &out);
		fwrite(out.p, 1, out.len, stdout);
		if (fflush(stdout) != 0)
			ret = EXIT_FAILURE;
		else
			ret = report.n_level[LINT_ERROR] ? EXIT_FAILURE : 0;
		lint_report_done(&report);
		sbuf_free(&out);
	}
	cluster_done(&c);
	store_done(&store);
	return ret;
}

int cmd_lint(int argc, char **argv)
{
	struct cmd_input in = { 0 };
	struct lint_opts o;
	const char *output = "table";
	int r, ret;

	lint_opts_init(&o);
	r = parse_lint_args(argc, argv, &in, &o, &output);
	ret = r > 0 ? 0 : r < 0 ? EXIT_USAGE : lint_main(&in, &o, output);
	free(in.paths);
	return ret;
}
