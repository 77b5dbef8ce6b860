/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute: command-line entry point.  Parses arguments, wires the modules
 * together and turns errors into messages and exit codes.  The only place
 * that exits.
 *
 * Exit codes: 0 success, 1 runtime failure, 2 bad input or usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>

#include "cmd.h"
#include "core/diag.h"
#include "daemon/run.h"
#include "core/util.h"
#include "explain/explain.h"
#include "model/model.h"
#include "policy/policy.h"
#include "sched/sched.h"
#include "sched/sched_config.h"
#include "core/loop.h"
#include "source/kube/config.h"
#include "source/kube/kube.h"
#include "source/manifest.h"
#include "store/store.h"

enum { OPT_NODE = 256, OPT_SERVICE, OPT_CLUSTER_CIDR, OPT_MASQ_ALL, OPT_PROXY_NAME,
       OPT_GATES, OPT_SCHED, OPT_SCHED_FLAGS, OPT_FLOW, OPT_FLOWS, OPT_STATUS,
       OPT_KUBECONFIG, OPT_MASTER };

static void usage_main(FILE *f)
{
	fputs("usage: kroute <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  explain   show, for one node, where each service's traffic goes and why\n"
	      "  lint      report what the services will do that their owners do not expect\n"
	      "  sim       predict where a traffic goes under each traffic policy and scheduler\n"
	      "  run       program this node's data plane and keep it in sync with the manifests\n"
	      "  cleanup   remove everything kroute installed in this network namespace\n"
	      "  version   print the version\n"
	      "\n"
	      "Run 'kroute <command> --help' for a command's options.\n",
	      f);
}

static void usage_explain(FILE *f)
{
	fputs("usage: kroute explain (-f PATH... | --kubeconfig PATH | --master URL) --node NAME\n"
	      "                      [--service NS/NAME] [-o table|json]\n"
	      "\n"
	      "  -f, --filename PATH        manifest file or directory (repeatable; '-' = stdin);\n"
	      "                             YAML or JSON, single objects or Lists\n"
	      "      --kubeconfig PATH      read the cluster from the API server this kubeconfig\n"
	      "                             names (its current context), listed once\n"
	      "      --master URL           the API server's URL (overrides the kubeconfig's)\n"
	      "      --node NAME            the node to explain for (also --hostname-override)\n"
	      "      --service NS/NAME      only this service\n"
	      "  -o, --output FORMAT        table (default) or json\n"
	      "      --cluster-cidr CIDRS   pod CIDR(s), comma-separated: traffic from outside is\n"
	      "                             masqueraded to cluster IPs (kube-proxy's local detector)\n"
	      "      --masquerade-all       masquerade all traffic to cluster IPs\n"
	      "      --service-proxy-name N handle only services labelled\n"
	      "                             service.kubernetes.io/service-proxy-name=N\n"
	      "      --feature-gates G=B    PreferSameTrafficDistribution=true|false (default true)\n"
	      "      --scheduler NAME       default scheduler (random, rr, wrr, lc, wlc, sed, nq, fo,\n"
	      "                             ovf, lblc, lblcr, dh, sh, mh, twos, maglev); a service's\n"
	      "                             kroute.io/scheduler annotation overrides it\n"
	      "      --scheduler-flags F    default flags (sh-fallback, sh-port, mh-fallback, mh-port,\n"
	      "                             maglev-table-size=N, mh-table-size=N)\n"
	      "      --flow SRC_IP:PORT     show the endpoint the scheduler picks for this flow on every\n"
	      "                             forwarding route (repeatable; flows are new connections,\n"
	      "                             in order, from a fresh scheduler state)\n"
	      "      --flows FILE           the same, one SRC_IP:PORT per line ('-' = stdin)\n"
	      "      --status FILE          a running proxy's state (kroute run --mode userspace\n"
	      "                             --userspace-status-file FILE): live connections, connect\n"
	      "                             failures and ejected endpoints next to each route\n",
	      f);
}

static int parse_feature_gates(const char *s, struct policy_opts *po)
{
	char *copy = xstrdup(s), *save = NULL, *tok;
	int r = 0;

	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		bool val;

		if (!eq || (!streq(eq + 1, "true") && !streq(eq + 1, "false"))) {
			fprintf(stderr, "kroute: --feature-gates: expected NAME=true|false, got \"%s\"\n", tok);
			r = -EINVAL;
			break;
		}
		*eq = '\0';
		val = streq(eq + 1, "true");
		if (streq(tok, "PreferSameTrafficDistribution"))
			po->prefer_same_node_gate = val;
		else
			fprintf(stderr, "kroute: --feature-gates: unknown gate %s, ignoring\n", tok);
	}
	free(copy);
	return r;
}

/* --flows FILE: one SRC_IP:SRC_PORT per line; blank lines and # comments skipped. */
static int read_flows(const char *path, struct flow_src **flows, size_t *n, size_t *cap)
{
	FILE *f = streq(path, "-") ? stdin : fopen(path, "re");
	char *line = NULL;
	size_t len = 0;
	unsigned lineno = 0;
	int r = 0;

	if (!f) {
		fprintf(stderr, "kroute: --flows: cannot open %s: %s\n", path, strerror(errno));
		return -errno;
	}
	while (getline(&line, &len, f) > 0) {
		char *p = line, *e;
		struct flow_src fs;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		e = p + strcspn(p, " \t\r\n#");
		if (*p == '#' || e == p)
			continue;
		*e = '\0';
		if (flow_src_parse(p, &fs) < 0) {
			fprintf(stderr, "kroute: %s:%u: \"%s\" is not SRC_IP:SRC_PORT\n", path, lineno, p);
			r = -EINVAL;
			break;
		}
		VEC_PUSH(*flows, *n, *cap, fs);
	}
	free(line);
	if (f != stdin)
		fclose(f);
	return r;
}

/* A bad scheduler annotation: once per service on stderr (explain shows it per route). */
static void report_lb_problems(const struct node_view *v)
{
	const struct service *last = NULL;

	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];

		if (pv->lb.problem && pv->svc != last)
			fprintf(stderr, "kroute: warning: Service %s: %s\n", pv->svc->key, pv->lb.problem);
		if (pv->lb.problem)
			last = pv->svc;
	}
}

/* kroute explain's command line, parsed. */
struct explain_cfg {
	struct cmd_input in;
	struct policy_opts po;
	struct explain_opts eo;
	struct cidr *cidrs;
	size_t n_cidrs;
	struct flow_src *flows;
	size_t n_flows, cap_flows;
	struct runtime_status runtime;
	bool have_runtime;
	const char *node, *output;
};

static void explain_cfg_done(struct explain_cfg *cfg)
{
	if (cfg->have_runtime)
		runtime_status_done(&cfg->runtime);
	free(cfg->in.paths);
	free(cfg->cidrs);
	free(cfg->flows);
}

/* One option's value into cfg.  Returns 0, or -EINVAL after printing the problem. */
static int explain_option(struct explain_cfg *cfg, int opt, const char *arg)
{
	char err[512];

	switch (opt) {
	case 'f':
		VEC_PUSH(cfg->in.paths, cfg->in.n_paths, cfg->in.cap_paths, arg);
		return 0;
	case 'o':
		cfg->output = arg;
		return 0;
	case OPT_NODE:
		cfg->node = arg;
		return 0;
	case OPT_SERVICE:
		cfg->eo.service = arg;
		return 0;
	case OPT_CLUSTER_CIDR:
		if (cidr_list_parse(arg, &cfg->cidrs, &cfg->n_cidrs, err, sizeof(err)) < 0) {
			fprintf(stderr, "kroute: --cluster-cidr: %s\n", err);
			return -EINVAL;
		}
		return 0;
	case OPT_MASQ_ALL:
		cfg->po.masquerade_all = true;
		return 0;
	case OPT_PROXY_NAME:
		cfg->po.service_proxy_name = arg;
		return 0;
	case OPT_GATES:
		return parse_feature_gates(arg, &cfg->po);
	case OPT_SCHED:
		if (sched_parse_name(arg, &cfg->po.lb.sched_name, err, sizeof(err)) < 0) {
			fprintf(stderr, "kroute: --scheduler: %s\n", err);
			return -EINVAL;
		}
		return 0;
	case OPT_SCHED_FLAGS:
		if (sched_parse_flags(arg, &cfg->po.lb.cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "kroute: --scheduler-flags: %s\n", err);
			return -EINVAL;
		}
		return 0;
	case OPT_FLOW: {
		struct flow_src fs;

		if (flow_src_parse(arg, &fs) < 0) {
			fprintf(stderr, "kroute: --flow: \"%s\" is not SRC_IP:SRC_PORT\n", arg);
			return -EINVAL;
		}
		VEC_PUSH(cfg->flows, cfg->n_flows, cfg->cap_flows, fs);
		return 0;
	}
	case OPT_FLOWS:
		return read_flows(arg, &cfg->flows, &cfg->n_flows, &cfg->cap_flows) < 0 ? -EINVAL : 0;
	case OPT_KUBECONFIG:
		cfg->in.kubeconfig = arg;
		return 0;
	case OPT_MASTER:
		cfg->in.master = arg;
		return 0;
	case OPT_STATUS:
		if (cfg->have_runtime) {
			fprintf(stderr, "kroute explain: --status given twice\n");
			return -EINVAL;
		}
		cfg->have_runtime = true;
		if (runtime_status_load(arg, &cfg->runtime, err, sizeof(err)) < 0) {
			fprintf(stderr, "kroute explain: --status: %s\n", err);
			return -EINVAL;
		}
		cfg->eo.runtime = &cfg->runtime;
		return 0;
	default:
		usage_explain(stderr);
		return -EINVAL;
	}
}

/* Returns 0, 1 after --help, or -EINVAL after printing the problem. */
static int parse_explain_args(int argc, char **argv, struct explain_cfg *cfg)
{
	static const struct option longopts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "node", required_argument, NULL, OPT_NODE },
		{ "hostname-override", required_argument, NULL, OPT_NODE },
		{ "service", required_argument, NULL, OPT_SERVICE },
		{ "output", required_argument, NULL, 'o' },
		{ "cluster-cidr", required_argument, NULL, OPT_CLUSTER_CIDR },
		{ "masquerade-all", no_argument, NULL, OPT_MASQ_ALL },
		{ "service-proxy-name", required_argument, NULL, OPT_PROXY_NAME },
		{ "feature-gates", required_argument, NULL, OPT_GATES },
		{ "scheduler", required_argument, NULL, OPT_SCHED },
		{ "ipvs-scheduler", required_argument, NULL, OPT_SCHED },
		{ "scheduler-flags", required_argument, NULL, OPT_SCHED_FLAGS },
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "flows", required_argument, NULL, OPT_FLOWS },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
		{ "master", required_argument, NULL, OPT_MASTER },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int opt, r;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		if (opt == 'h') {
			usage_explain(stdout);
			return 1;
		}
		if (explain_option(cfg, opt, optarg) < 0)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "kroute explain: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	r = cmd_input_check(&cfg->in, "explain");
	if (r == -ENODATA)
		usage_explain(stderr);
	if (r < 0)
		return -EINVAL;
	if (!cfg->node) {
		fprintf(stderr, "kroute explain: --node NAME is required\n");
		usage_explain(stderr);
		return -EINVAL;
	}
	if (!streq(cfg->output, "table") && !streq(cfg->output, "json")) {
		fprintf(stderr, "kroute explain: -o must be table or json, got \"%s\"\n", cfg->output);
		return -EINVAL;
	}
	if (cfg->eo.service && !strchr(cfg->eo.service, '/')) {
		fprintf(stderr, "kroute explain: --service takes NAMESPACE/NAME, got \"%s\"\n",
			cfg->eo.service);
		return -EINVAL;
	}
	cfg->po.cluster_cidrs = cfg->cidrs;
	cfg->po.n_cluster_cidrs = cfg->n_cidrs;
	cfg->eo.flows = cfg->flows;
	cfg->eo.n_flows = cfg->n_flows;
	return 0;
}

/* Loads the input, builds the node's view and prints it.  Returns the exit code. */
static int explain_run(struct explain_cfg *cfg)
{
	struct cluster c, *in = NULL;
	struct store store;
	struct node_view *view;
	int r, ret;

	cluster_init(&c);
	store_init(&store);
	ret = cmd_input_load(&cfg->in, cfg->node, cfg->po.service_proxy_name, &c, &store, &in);
	if (ret)
		goto out;
	view = policy_build_view(in, cfg->node, &cfg->po);
	report_lb_problems(view);
	if (!view->node)
		fprintf(stderr, "kroute: warning: no Node object is named \"%s\": its zone is unknown and no endpoint is local unless its nodeName matches\n", cfg->node);
	if (cfg->eo.service && !explain_count(view, &cfg->eo)) {
		fprintf(stderr, "kroute explain: no service %s with ports in the input%s\n",
			cfg->eo.service, cluster_find_service(in, cfg->eo.service) ? " for this proxy" : "");
		ret = EXIT_USAGE;
	} else {
		r = streq(cfg->output, "json") ? explain_json(stdout, view, &cfg->eo)
					       : explain_table(stdout, view, &cfg->eo);
		if (r < 0)
			fprintf(stderr, "kroute: scheduler simulation failed: %s\n", strerror(-r));
		ret = fflush(stdout) == 0 && r == 0 ? 0 : EXIT_FAILURE;
	}
	node_view_free(view);
out:
	cluster_done(&c);
	store_done(&store);
	return ret;
}

static int cmd_explain(int argc, char **argv)
{
	struct explain_cfg cfg = { .eo = { .pretty = true }, .output = "table" };
	int r, ret;

	policy_opts_init(&cfg.po);
	r = parse_explain_args(argc, argv, &cfg);
	ret = r > 0 ? 0 : r < 0 ? EXIT_USAGE : explain_run(&cfg);
	explain_cfg_done(&cfg);
	return ret;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage_main(stderr);
		return EXIT_USAGE;
	}
	/* Helper programs that exit early must not kill us through a pipe. */
	signal(SIGPIPE, SIG_IGN);
	if (streq(argv[1], "explain"))
		return cmd_explain(argc - 1, argv + 1);
	if (streq(argv[1], "lint"))
		return cmd_lint(argc - 1, argv + 1);
	if (streq(argv[1], "sim"))
		return cmd_sim(argc - 1, argv + 1);
	if (streq(argv[1], "run"))
		return run_main(argc - 1, argv + 1);
	if (streq(argv[1], "cleanup"))
		return cleanup_main(argc - 1, argv + 1);
	if (streq(argv[1], "version") || streq(argv[1], "--version")) {
		puts("kroute " KROUTE_VERSION);
		return 0;
	}
	if (streq(argv[1], "help") || streq(argv[1], "--help") || streq(argv[1], "-h")) {
		usage_main(stdout);
		return 0;
	}
	fprintf(stderr, "kroute: unknown command \"%s\"\n", argv[1]);
	usage_main(stderr);
	return EXIT_USAGE;
}
