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

#define EXIT_USAGE 2

struct paths {
	const char **v;
	size_t n, cap;
};

static void usage_main(FILE *f)
{
	fputs("usage: kroute <command> [options]\n"
	      "\n"
	      "commands:\n"
	      "  explain   show, for one node, where each service's traffic goes and why\n"
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

static void on_api_changed(struct source *src, void *userdata)
{
}

/*
 * The API server's objects, listed once (kroute run's source, stopped after
 * its first lists), into store.  0, -EINVAL (bad client config), -EIO or
 * -ETIMEDOUT, with the problems in d.
 */
static int load_api(const char *kubeconfig, const char *master, const char *node,
		    const char *proxy_name, struct store *store, struct diag *d)
{
	struct kube_source_opts ko = {
		.kubeconfig = kubeconfig, .master = master, .node = node,
		.service_proxy_name = proxy_name, .fail_fast = true,
	};
	struct store_delta delta;
	struct source *src = kube_source_new(&ko, d);
	struct loop *l = NULL;
	int r;

	if (!src)
		return -EINVAL;
	r = loop_new(&l);
	if (r == 0)
		r = src->ops->attach(src, l, on_api_changed, NULL, d);
	if (r == 0)
		r = kube_source_wait_synced(src, l, 60 * 1000000000ull, d);
	if (r == 0) {
		store_delta_init(&delta);
		r = src->ops->refresh(src, store, false, d, &delta);
		store_delta_done(&delta);
	}
	src->ops->free(src);
	loop_free(l);
	return r;
}

static int cmd_explain(int argc, char **argv)
{
	enum { OPT_NODE = 256, OPT_SERVICE, OPT_CLUSTER_CIDR, OPT_MASQ_ALL, OPT_PROXY_NAME,
	       OPT_GATES, OPT_SCHED, OPT_SCHED_FLAGS, OPT_FLOW, OPT_FLOWS, OPT_STATUS,
	       OPT_KUBECONFIG, OPT_MASTER };
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
	struct paths paths = { 0 };
	struct policy_opts po;
	struct explain_opts eo = { .pretty = true };
	struct cidr *cidrs = NULL;
	size_t n_cidrs = 0;
	struct flow_src *flows = NULL;
	size_t n_flows = 0, cap_flows = 0;
	struct runtime_status runtime = { 0 };
	bool have_runtime = false;
	char err[512];
	const char *node = NULL, *output = "table", *kubeconfig = NULL, *master = NULL;
	struct store store;
	bool api;
	struct cluster c;
	struct diag d;
	struct node_view *view;
	int opt, r, ret = EXIT_USAGE;

	policy_opts_init(&po);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			VEC_PUSH(paths.v, paths.n, paths.cap, optarg);
			break;
		case 'o':
			output = optarg;
			break;
		case OPT_NODE:
			node = optarg;
			break;
		case OPT_SERVICE:
			eo.service = optarg;
			break;
		case OPT_CLUSTER_CIDR:
			if (cidr_list_parse(optarg, &cidrs, &n_cidrs, err, sizeof(err)) < 0) {
				fprintf(stderr, "kroute: --cluster-cidr: %s\n", err);
				goto out;
			}
			break;
		case OPT_MASQ_ALL:
			po.masquerade_all = true;
			break;
		case OPT_PROXY_NAME:
			po.service_proxy_name = optarg;
			break;
		case OPT_GATES:
			if (parse_feature_gates(optarg, &po) < 0)
				goto out;
			break;
		case OPT_SCHED:
			if (sched_parse_name(optarg, &po.lb.sched_name, err, sizeof(err)) < 0) {
				fprintf(stderr, "kroute: --scheduler: %s\n", err);
				goto out;
			}
			break;
		case OPT_SCHED_FLAGS:
			if (sched_parse_flags(optarg, &po.lb.cfg, err, sizeof(err)) < 0) {
				fprintf(stderr, "kroute: --scheduler-flags: %s\n", err);
				goto out;
			}
			break;
		case OPT_FLOW: {
			struct flow_src fs;

			if (flow_src_parse(optarg, &fs) < 0) {
				fprintf(stderr, "kroute: --flow: \"%s\" is not SRC_IP:SRC_PORT\n", optarg);
				goto out;
			}
			VEC_PUSH(flows, n_flows, cap_flows, fs);
			break;
		}
		case OPT_FLOWS:
			if (read_flows(optarg, &flows, &n_flows, &cap_flows) < 0)
				goto out;
			break;
		case OPT_STATUS:
			if (have_runtime) {
				fprintf(stderr, "kroute explain: --status given twice\n");
				goto out;
			}
			have_runtime = true;
			if (runtime_status_load(optarg, &runtime, err, sizeof(err)) < 0) {
				fprintf(stderr, "kroute explain: --status: %s\n", err);
				goto out;
			}
			eo.runtime = &runtime;
			break;
		case OPT_KUBECONFIG:
			kubeconfig = optarg;
			break;
		case OPT_MASTER:
			master = optarg;
			break;
		case 'h':
			usage_explain(stdout);
			ret = 0;
			goto out;
		default:
			usage_explain(stderr);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kroute explain: unexpected argument \"%s\"\n", argv[optind]);
		goto out;
	}
	api = kubeconfig || master || (!paths.n && kube_config_in_cluster());
	if (api && paths.n) {
		fprintf(stderr, "kroute explain: -f and --kubeconfig/--master exclude each other\n");
		goto out;
	}
	if ((!paths.n && !api) || !node) {
		fprintf(stderr, "kroute explain: %s is required%s\n",
			!paths.n && !api ? "-f PATH" : "--node NAME",
			!paths.n && !api ? " (or --kubeconfig PATH, --master URL)" : "");
		usage_explain(stderr);
		goto out;
	}
	if (!streq(output, "table") && !streq(output, "json")) {
		fprintf(stderr, "kroute explain: -o must be table or json, got \"%s\"\n", output);
		goto out;
	}
	if (eo.service && !strchr(eo.service, '/')) {
		fprintf(stderr, "kroute explain: --service takes NAMESPACE/NAME, got \"%s\"\n", eo.service);
		goto out;
	}
	po.cluster_cidrs = cidrs;
	po.n_cluster_cidrs = n_cidrs;
	eo.flows = flows;
	eo.n_flows = n_flows;

	cluster_init(&c);
	store_init(&store);
	diag_init(&d);
	if (api)
		r = load_api(kubeconfig, master, node, po.service_proxy_name, &store, &d);
	else
		r = manifest_load(paths.v, paths.n, NULL, &c, &d);
	diag_print(&d, stderr);
	if (r == -EIO || r == -ETIMEDOUT) {
		fprintf(stderr, "kroute: cannot read the cluster from the API server\n");
		diag_done(&d);
		store_done(&store);
		ret = EXIT_FAILURE;
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "kroute: %zu error%s; nothing loaded\n", d.n_errors,
			d.n_errors == 1 ? "" : "s");
		diag_done(&d);
		cluster_done(&c);
		store_done(&store);
		ret = EXIT_USAGE;
		goto out;
	}
	diag_done(&d);
	view = policy_build_view(api ? &store.cluster : &c, node, &po);
	report_lb_problems(view);
	if (!view->node)
		fprintf(stderr, "kroute: warning: no Node object is named \"%s\": its zone is unknown and no endpoint is local unless its nodeName matches\n", node);
	if (eo.service && !explain_count(view, &eo)) {
		fprintf(stderr, "kroute explain: no service %s with ports in the input%s\n", eo.service,
			cluster_find_service(api ? &store.cluster : &c, eo.service) ? " for this proxy" : "");
		ret = EXIT_USAGE;
	} else {
		r = streq(output, "json") ? explain_json(stdout, view, &eo)
					  : explain_table(stdout, view, &eo);
		if (r < 0)
			fprintf(stderr, "kroute: scheduler simulation failed: %s\n", strerror(-r));
		ret = fflush(stdout) == 0 && r == 0 ? 0 : EXIT_FAILURE;
	}
	node_view_free(view);
	cluster_done(&c);
	store_done(&store);
out:
	if (have_runtime)
		runtime_status_done(&runtime);
	free(paths.v);
	free(cidrs);
	free(flows);
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
