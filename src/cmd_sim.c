/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute sim: the command line around src/sim/.  Exit status: 0, 1 when
 * the output cannot be written (or the API server cannot be read), 2 for
 * bad input or usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "core/util.h"
#include "sched/sched.h"
#include "sched/sched_config.h"
#include "sim/sim.h"

enum { OPT_TRAFFIC = 256, OPT_VARIANTS, OPT_SCHEDULERS, OPT_SVG };

static void usage_sim(FILE *f)
{
	fputs("usage: kroute sim (-f PATH... | --kubeconfig PATH | --master URL) --traffic FILE\n"
	      "                  [--variants LIST] [--schedulers LIST] [-o table|json] [--svg FILE]\n"
	      "\n"
	      "Predicts, for each traffic policy variant and scheduler, where the requests of\n"
	      "FILE go: per endpoint and node, dropped, crossing nodes and zones, added latency,\n"
	      "client IP kept (format: docs/sim.md).\n"
	      "\n"
	      "  -f, --filename PATH        manifest file or directory (repeatable; '-' = stdin)\n"
	      "      --kubeconfig PATH      read the cluster from the API server, listed once\n"
	      "      --master URL           the API server's URL (overrides the kubeconfig's)\n"
	      "      --traffic FILE         the traffic: lines 'pods NODE NS/NAME[:PORT] RPS',\n"
	      "                             'external NODE NS/NAME[:PORT] RPS', 'latency ...'\n"
	      "      --variants LIST        as-is, Cluster, Local, PreferSameZone, PreferSameNode\n"
	      "                             (comma-separated; default all)\n"
	      "      --schedulers LIST      schedulers to compare (default: each service's own)\n"
	      "  -o, --output FORMAT        table (default) or json\n"
	      "      --svg FILE             also write a chart comparing the variants\n",
	      f);
}

struct sim_cfg {
	struct cmd_input in;
	struct sim_opts o;
	const char *traffic, *output, *svg;
	bool variants_given;
};

static int parse_variants(struct sim_cfg *cfg, const char *arg)
{
	char *copy = xstrdup(arg), *save = NULL, *tok;
	int r = 0;

	memset(cfg->o.variant, 0, sizeof(cfg->o.variant));
	cfg->variants_given = true;
	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		enum sim_variant v;

		r = sim_variant_parse(tok, &v);
		if (r < 0)
			fprintf(stderr, "kroute sim: --variants: \"%s\" is not as-is, Cluster, Local, PreferSameZone or PreferSameNode\n", tok);
		else
			cfg->o.variant[v] = true;
	}
	free(copy);
	return r;
}

static int parse_schedulers(struct sim_cfg *cfg, const char *arg)
{
	char *copy = xstrdup(arg), *save = NULL, *tok, err[256];
	size_t cap = 0;
	int r = 0;

	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		const char *name;

		r = sched_parse_name(tok, &name, err, sizeof(err));
		if (r < 0)
			fprintf(stderr, "kroute sim: --schedulers: %s\n", err);
		else
			VEC_PUSH(cfg->o.scheds, cfg->o.n_scheds, cap, name);
	}
	free(copy);
	return r;
}

/* Returns 0, 1 after --help, or -EINVAL after printing the problem. */
static int parse_sim_args(int argc, char **argv, struct sim_cfg *cfg)
{
	static const struct option longopts[] = {
		CMD_INPUT_LONGOPTS,
		{ "traffic", required_argument, NULL, OPT_TRAFFIC },
		{ "variants", required_argument, NULL, OPT_VARIANTS },
		{ "schedulers", required_argument, NULL, OPT_SCHEDULERS },
		{ "svg", required_argument, NULL, OPT_SVG },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, r = 0;

	optind = 1;
	while (r == 0 && (opt = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		if (cmd_input_option(&cfg->in, &cfg->output, opt, optarg))
			continue;
		switch (opt) {
		case 'h':
			usage_sim(stdout);
			return 1;
		case OPT_TRAFFIC:
			cfg->traffic = optarg;
			break;
		case OPT_VARIANTS:
			r = parse_variants(cfg, optarg);
			break;
		case OPT_SCHEDULERS:
			r = parse_schedulers(cfg, optarg);
			break;
		case OPT_SVG:
			cfg->svg = optarg;
			break;
		default:
			usage_sim(stderr);
			return -EINVAL;
		}
	}
	if (r < 0 || cmd_args_done(argc, argv, &cfg->in, "sim", cfg->output, usage_sim) < 0)
		return -EINVAL;
	if (!cfg->traffic) {
		fprintf(stderr, "kroute sim: --traffic FILE is required\n");
		return -EINVAL;
	}
	return 0;
}

/* The whole of path ("-": stdin) as a string; NULL after printing why. */
static char *read_all(const char *path)
{
	FILE *f = streq(path, "-") ? stdin : fopen(path, "re");
	struct sbuf b = { 0 };
	char buf[65536];
	size_t n;

	if (!f) {
		fprintf(stderr, "kroute sim: --traffic: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sbuf_add(&b, buf, n);
	if (f != stdin)
		fclose(f);
	return sbuf_cstr(&b);
}

static int write_file(const char *path, const struct sbuf *b)
{
	FILE *f = fopen(path, "we");

	if (!f || fwrite(b->p, 1, b->len, f) != b->len || fclose(f) != 0) {
		fprintf(stderr, "kroute sim: cannot write %s: %s\n", path, strerror(errno));
		if (f)
			fclose(f);
		return -EIO;
	}
	return 0;
}

static int sim_main(struct sim_cfg *cfg)
{
	struct cluster c, *loaded = NULL;
	struct store store;
	struct sim_traffic t = { 0 };
	struct sim_report report = { 0 };
	struct sbuf out = { 0 };
	char *text, err[512] = "";
	int ret = EXIT_USAGE;

	text = read_all(cfg->traffic);
	if (!text)
		return EXIT_USAGE;
	if (sim_traffic_parse(cfg->traffic, text, &t, err, sizeof(err)) < 0) {
		fprintf(stderr, "kroute sim: %s\n", err);
		free(text);
		return EXIT_USAGE;
	}
	free(text);
	cluster_init(&c);
	store_init(&store);
	ret = cmd_input_load(&cfg->in, NULL, NULL, &c, &store, &loaded);
	if (ret == 0 && sim_run(loaded, &t, &cfg->o, &report, err, sizeof(err)) < 0) {
		fprintf(stderr, "kroute sim: %s\n", err);
		ret = EXIT_USAGE;
	} else if (ret == 0) {
		if (streq(cfg->output, "json"))
			sim_render_json(&report, &out);
		else
			sim_render_table(&report, &out);
		fwrite(out.p, 1, out.len, stdout);
		ret = fflush(stdout) == 0 ? 0 : EXIT_FAILURE;
		if (cfg->svg) {
			out.len = 0;
			sim_render_svg(&report, &out);
			if (write_file(cfg->svg, &out) < 0)
				ret = EXIT_FAILURE;
		}
	}
	sbuf_free(&out);
	sim_report_done(&report);
	sim_traffic_done(&t);
	cluster_done(&c);
	store_done(&store);
	return ret;
}

int cmd_sim(int argc, char **argv)
{
	struct sim_cfg cfg = { .output = "table" };
	int r, ret;

	policy_opts_init(&cfg.o.po);
	for (size_t v = 0; v < SIM_N_VARIANTS; v++)
		cfg.o.variant[v] = true;
	r = parse_sim_args(argc, argv, &cfg);
	ret = r > 0 ? 0 : r < 0 ? EXIT_USAGE : sim_main(&cfg);
	free(cfg.in.paths);
	free(cfg.o.scheds);
	return ret;
}
