/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run's flags; see run_flags.h.  This file knows only the agent's
 * shared flags; every data-plane mode declares its own (ops->options, in
 * the mode's options.c) and both the parser and --help are built from
 * those tables.
 */
#include "daemon/run_flags.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/opt.h"
#include "core/util.h"
#include "daemon/config.h"
#include "sched/sched_config.h"
#include "source/kube/config.h"

#define NS_PER_SEC 1000000000ull
/* getopt_long's val for the i-th flag; below it are the short options. */
#define FLAG_VAL_BASE 256

/* The shared defaults (kube-proxy's sync periods); --help shows them. */
static const struct run_cfg run_defaults = {
	.sync_period_ns = 30 * NS_PER_SEC,
	.min_sync_period_ns = 1 * NS_PER_SEC,
	.healthz_bind = "0.0.0.0:10256",
	.metrics_bind = "127.0.0.1:10249",
};

#define HEALTHZ_PORT 10256
#define METRICS_PORT 10249

static int add_path(void *opts, const char *arg, char *err, size_t errlen)
{
	struct run_cfg *cfg = opts;

	if (!*arg) {
		snprintf(err, errlen, "must not be empty");
		return -EINVAL;
	}
	VEC_PUSH(cfg->paths, cfg->n_paths, cfg->cap_paths, arg);
	return 0;
}

/*
 * A comma-separated CIDR list, appended to (v, n).  kube-proxy splits on
 * "," and checks every piece, so an empty piece ("a,,b", "a,") is refused
 * rather than skipped; an empty value adds nothing.
 */
static int add_cidrs(struct cidr **v, size_t *n, const char *arg, char *err, size_t errlen)
{
	for (const char *p = arg; *arg; p += strcspn(p, ",") + 1) {
		size_t len = strcspn(p, ","), i = 0;

		while (i < len && p[i] == ' ')
			i++;
		if (i == len) {
			snprintf(err, errlen, "an empty CIDR in the list");
			return -EINVAL;
		}
		if (!p[len])
			break;
	}
	return cidr_list_parse(arg, v, n, err, errlen);
}

/*
 * kube-proxy's rule for --cluster-cidr: one CIDR, or two of different
 * families (dual-stack).  The iptables renderer can negate only one source
 * per family, so more than one per family would fail every sync.
 */
static int add_cluster_cidrs(void *opts, const char *arg, char *err, size_t errlen)
{
	struct run_cfg *cfg = opts;

	if (add_cidrs(&cfg->cluster_cidrs, &cfg->n_cluster_cidrs, arg, err, errlen) < 0)
		return -EINVAL;
	if (cfg->n_cluster_cidrs > 2 ||
	    (cfg->n_cluster_cidrs == 2 &&
	     cfg->cluster_cidrs[0].addr.family == cfg->cluster_cidrs[1].addr.family)) {
		snprintf(err, errlen, "one CIDR, or one IPv4 and one IPv6 CIDR (dual-stack), in all");
		return -EINVAL;
	}
	return 0;
}

static int add_nodeport_cidrs(void *opts, const char *arg, char *err, size_t errlen)
{
	struct run_cfg *cfg = opts;

	return add_cidrs(&cfg->nodeport_cidrs, &cfg->n_nodeport_cidrs, arg, err, errlen);
}

static int set_scheduler(void *opts, const char *arg, char *err, size_t errlen)
{
	struct run_cfg *cfg = opts;

	return sched_parse_name(arg, &cfg->po.lb.sched_name, err, errlen) < 0 ? -EINVAL : 0;
}

static int set_logging_format(void *opts, const char *arg, char *err, size_t errlen)
{
	struct run_cfg *cfg = opts;

	if (log_format_parse(arg, &cfg->log_format) < 0) {
		snprintf(err, errlen, "unknown format; permitted: \"text\", \"json\"");
		return -EINVAL;
	}
	return 0;
}

/* Kept as given ("" allowed: no server, which OPT_STRING refuses) and checked in check_cfg(). */
static int set_healthz_bind(void *opts, const char *arg, char *err, size_t errlen)
{
	((struct run_cfg *)opts)->healthz_bind = arg;
	return 0;
}

static int set_metrics_bind(void *opts, const char *arg, char *err, size_t errlen)
{
	((struct run_cfg *)opts)->metrics_bind = arg;
	return 0;
}

#define FIELD(f) offsetof(struct run_cfg, f)

/* The flags every mode shares, in --help order. */
static const struct opt_spec run_flags[] = {
	{ .name = "filename", .short_name = 'f', .arg = "PATH", .kind = OPT_CUSTOM,
	  .parse = add_path, .help = "manifest file or directory (repeatable)" },
	{ .name = "kubeconfig", .arg = "PATH", .kind = OPT_STRING, .offset = FIELD(kubeconfig),
	  .help = "read the cluster from the API server this\nkubeconfig names (instead of -f)" },
	{ .name = "master", .arg = "URL", .kind = OPT_STRING, .offset = FIELD(master),
	  .help = "the API server's URL (overrides the kubeconfig's)" },
	{ .name = "mode", .alias = "proxy-mode", .arg = "MODE", .kind = OPT_STRING,
	  .offset = FIELD(mode), .help = "the data plane (its flags are listed below)" },
	{ .name = "node", .alias = "hostname-override", .arg = "NAME", .kind = OPT_STRING,
	  .offset = FIELD(node), .help = "this node's name" },
	{ .name = "cluster-cidr", .arg = "CIDRS", .kind = OPT_CUSTOM, .parse = add_cluster_cidrs,
	  .help = "pod CIDR(s): the local-traffic detector\n"
		  "(one, or one IPv4 and one IPv6)" },
	{ .name = "masquerade-all", .kind = OPT_SWITCH, .offset = FIELD(dp.masquerade_all),
	  .help = "masquerade all service traffic" },
	{ .name = "nodeport-addresses", .arg = "CIDRS", .kind = OPT_CUSTOM,
	  .parse = add_nodeport_cidrs, .help = "accept NodePorts only on these node IPs" },
	{ .name = "iptables-localhost-nodeports", .arg = "BOOL", .kind = OPT_BOOL,
	  .offset = FIELD(dp.localhost_nodeports),
	  .help = "NodePorts also answer on 127.0.0.1 (iptables\nand userspace modes)" },
	{ .name = "iptables-sync-period", .alias = "sync-period", .arg = "D", .kind = OPT_DURATION,
	  .min = 1, .offset = FIELD(sync_period_ns),
	  .help = "sync at least this often, in any mode (a full\n"
		  "resync, rewriting every rule, runs hourly)" },
	{ .name = "iptables-min-sync-period", .alias = "min-sync-period", .arg = "D",
	  .kind = OPT_DURATION, .min = 0, .offset = FIELD(min_sync_period_ns),
	  .help = "at most one sync per D, in any mode" },
	/* IPVS mode reads kube-proxy's --ipvs-* names of the sync timer and the scheduler. */
	{ .name = "ipvs-sync-period", .arg = "D", .kind = OPT_DURATION, .min = 1,
	  .offset = FIELD(sync_period_ns), .default_text = "30s",
	  .help = "--iptables-sync-period by its IPVS name" },
	{ .name = "ipvs-min-sync-period", .arg = "D", .kind = OPT_DURATION, .min = 0,
	  .offset = FIELD(min_sync_period_ns), .default_text = "1s",
	  .help = "--iptables-min-sync-period by its IPVS name" },
	{ .name = "scheduler", .alias = "ipvs-scheduler", .arg = "NAME", .kind = OPT_CUSTOM,
	  .parse = set_scheduler,
	  .help = "default scheduler (userspace and ipvs modes)" },
	{ .name = "service-proxy-name", .arg = "NAME", .kind = OPT_STRING,
	  .offset = FIELD(po.service_proxy_name),
	  .help = "handle only services with this proxy name" },
	{ .name = "healthz-bind-address", .arg = "IP:PORT", .kind = OPT_CUSTOM,
	  .parse = set_healthz_bind,
	  .help = "serve /healthz and /livez here (default\n0.0.0.0:10256; \"\": off)" },
	{ .name = "metrics-bind-address", .arg = "IP:PORT", .kind = OPT_CUSTOM,
	  .parse = set_metrics_bind,
	  .help = "serve /metrics here (default 127.0.0.1:10249;\n\"\": off)" },
	{ .name = "once", .kind = OPT_SWITCH, .offset = FIELD(once),
	  .help = "one full sync, then exit (0 when applied)" },
	{ .name = "config", .arg = "FILE", .kind = OPT_STRING, .offset = FIELD(config_path),
	  .help = "kube-proxy's KubeProxyConfiguration (v1alpha1,\n"
		  "YAML or JSON); flags given override it" },
	{ .name = "write-config-to", .arg = "PATH", .kind = OPT_STRING,
	  .offset = FIELD(write_config_to),
	  .help = "write the effective configuration as a\n"
		  "KubeProxyConfiguration to PATH (- for stdout),\nthen exit" },
	{ .name = "v", .short_name = 'v', .arg = "N", .kind = OPT_UINT, .min = 0,
	  .max = INT32_MAX, .offset = FIELD(verbosity),
	  .help = "log verbosity: 0 what an operator reads,\n2 details, 4 debug" },
	{ .name = "logging-format", .arg = "FORMAT", .kind = OPT_CUSTOM,
	  .parse = set_logging_format, .default_text = "text",
	  .help = "text, or json: one JSON object per line\n(as kube-proxy's)" },
	{ 0 },
};

static void usage_run(FILE *f)
{
	struct run_cfg defaults = run_defaults;
	char err[512];

	/* Its environment overrides (helper programs) are not listed, so they do not matter here. */
	(void)dp_opts_init(&defaults.dp, err, sizeof(err));
	fputs("usage: kroute run --mode MODE --node NAME (-f PATH... | --kubeconfig PATH | --master URL)\n"
	      "       [options]\n"
	      "       kroute run --config FILE [options]   (the file may give any of those)\n"
	      "\n"
	      "Runs inside the node's network namespace and keeps its data plane in sync with\n"
	      "the manifests or the API server (--kubeconfig, --master; in a pod, its service\n"
	      "account): on every change it re-reads the files that changed (or takes the\n"
	      "watched changes) and updates the services they affect.  SIGHUP re-reads every\n"
	      "file and resyncs fully; SIGTERM exits and leaves the rules in place (kroute\n"
	      "cleanup removes them).\n"
	      "Durations (D) are Go's, as kube-proxy takes them: 30s, 500ms, 1m30s, 1.5h.\n"
	      "\n",
	      f);
	opt_print_help(f, run_flags, &defaults);
	for (size_t i = 0; dataplane_all[i]; i++) {
		const struct dp_mode_options *mo = dataplane_all[i]->options;

		if (!mo)
			continue;
		fprintf(f, "\n--mode %s (%s):\n", dataplane_all[i]->name, mo->title);
		opt_print_help(f, mo->flags, mo->defaults);
	}
}

int run_cfg_init(struct run_cfg *cfg)
{
	char err[512];
	size_t n = 0;

	*cfg = run_defaults;
	diag_init(&cfg->diag);
	policy_opts_init(&cfg->po);
	while (dataplane_all[n])
		n++;
	cfg->mode_opts = xcalloc(n, sizeof(*cfg->mode_opts));
	cfg->n_modes = n;
	if (dp_opts_init(&cfg->dp, err, sizeof(err)) < 0)
		goto bad;
	for (size_t i = 0; i < n; i++)
		if (dp_mode_opts_new(dataplane_all[i], &cfg->mode_opts[i], err, sizeof(err)) < 0)
			goto bad;
	return 0;
bad:
	fprintf(stderr, "kroute run: %s\n", err);
	return -EINVAL;
}

static void add_flags(const struct opt_spec *table, void *opts, int mode, struct flag_ref **refs,
		      size_t *n, size_t *cap)
{
	for (const struct opt_spec *s = table; !opt_spec_is_end(s); s++)
		if (s->name)
			VEC_PUSH(*refs, *n, *cap, ((struct flag_ref){ s, opts, mode, false }));
}

/* getopt_long's table for refs (each name and alias), ending in --help and a zero row. */
static struct option *build_longopts(const struct flag_ref *refs, size_t n)
{
	struct option *o = xcalloc(2 * n + 2, sizeof(*o));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		int has_arg = refs[i].spec->kind == OPT_SWITCH ? optional_argument
							       : required_argument;

		o[k++] = (struct option){ refs[i].spec->name, has_arg, NULL, FLAG_VAL_BASE + (int)i };
		if (refs[i].spec->alias)
			o[k++] = (struct option){ refs[i].spec->alias, has_arg, NULL,
						  FLAG_VAL_BASE + (int)i };
	}
	o[k] = (struct option){ "help", no_argument, NULL, 'h' };
	/* Two modes declaring one name would make getopt pick one silently. */
	for (size_t i = 0; i <= k; i++)
		for (size_t j = i + 1; j <= k; j++)
			assert(!streq(o[i].name, o[j].name));
	return o;
}

/*
 * A bind address: "IP:PORT", "[IPv6]:PORT", or an IP alone with the default
 * port; "" turns the server off.  0, or -EINVAL after printing the problem.
 */
static int parse_bind(const char *flag, const char *v, uint16_t default_port, bool *on,
		      struct addr *addr, uint16_t *port)
{
	*on = v && *v;
	if (!*on)
		return 0;
	if (addr_parse(v, addr) == 0) {
		*port = default_port;
		return 0;
	}
	if (addr_port_parse(v, addr, port) == 0)
		return 0;
	fprintf(stderr, "kroute run: --%s \"%s\": not IP:PORT, [IPv6]:PORT or an IP\n", flag, v);
	return -EINVAL;
}

/* Checks that need more than one flag, once every flag is read. */
static int check_cfg(struct run_cfg *cfg)
{
	if (parse_bind("healthz-bind-address", cfg->healthz_bind, HEALTHZ_PORT,
		       &cfg->serve.healthz_on, &cfg->serve.healthz_addr, &cfg->serve.healthz_port) < 0 ||
	    parse_bind("metrics-bind-address", cfg->metrics_bind, METRICS_PORT,
		       &cfg->serve.metrics_on, &cfg->serve.metrics_addr, &cfg->serve.metrics_port) < 0)
		return -EINVAL;

	/* The API source with --kubeconfig or --master, or in a pod (kube-proxy's in-cluster config). */
	cfg->api = cfg->kubeconfig || cfg->master || (!cfg->n_paths && kube_config_in_cluster());
	if (cfg->api && cfg->n_paths) {
		fprintf(stderr, "kroute run: -f and --kubeconfig/--master exclude each other\n");
		return -EINVAL;
	}
	/* Writing the configuration needs no source, node or mode (kube-proxy's needs none). */
	if (cfg->write_config_to && !cfg->mode)
		return 0;
	if (!cfg->write_config_to && ((!cfg->n_paths && !cfg->api) || !cfg->node || !cfg->mode)) {
		fprintf(stderr, "kroute run: %s is required%s\n",
			!cfg->mode ? "--mode" : !cfg->node ? "--node" : "-f PATH",
			cfg->mode && cfg->node ? " (or --kubeconfig PATH, --master URL)" : "");
		usage_run(stderr);
		return -EINVAL;
	}
	/* kube-proxy: "SyncPeriod must be greater than or equal to MinSyncPeriod". */
	if (cfg->min_sync_period_ns > cfg->sync_period_ns) {
		char min[32], max[32];

		opt_format_duration(cfg->min_sync_period_ns, min, sizeof(min));
		opt_format_duration(cfg->sync_period_ns, max, sizeof(max));
		fprintf(stderr, "kroute run: --iptables-sync-period (%s) must be greater than or equal"
			" to --iptables-min-sync-period (%s)\n", max, min);
		return -EINVAL;
	}
	/* Last: the tests rely on every value being checked before the mode is looked up. */
	cfg->ops = dataplane_find(cfg->mode);
	for (size_t i = 0; dataplane_all[i]; i++)
		if (dataplane_all[i] == cfg->ops)
			cfg->dp.mode_opts = cfg->mode_opts[i];
	if (!cfg->ops) {
		fprintf(stderr, "kroute run: unknown --mode \"%s\" (available:", cfg->mode);
		for (size_t i = 0; dataplane_all[i]; i++)
			fprintf(stderr, " %s", dataplane_all[i]->name);
		fprintf(stderr, ")\n");
		return -EINVAL;
	}
	return 0;
}

/*
 * Another mode's flag is accepted, checked and ignored, with a warning:
 * kube-proxy takes every flag whatever the mode (and checks the iptables
 * ones even in IPVS mode), so a command line written for it, or one that
 * switches --mode and keeps the rest, must still start; a bad value is
 * still an error, so switching modes later cannot turn up a typo.  The
 * warning says the flag does nothing here, which kube-proxy leaves unsaid.
 */
static void warn_other_modes(const struct run_cfg *cfg, const struct flag_ref *refs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (refs[i].seen && refs[i].mode >= 0 && dataplane_all[refs[i].mode] != cfg->ops)
			fprintf(stderr, "kroute run: warning: --%s is a flag of --mode %s; ignored in"
				" --mode %s\n", refs[i].spec->name, dataplane_all[refs[i].mode]->name,
				cfg->mode);
}

/* Every flag kroute run knows: the shared ones, then each mode's. */
static size_t build_refs(struct run_cfg *cfg, struct flag_ref **ret)
{
	struct flag_ref *refs = NULL;
	size_t n = 0, cap = 0;

	add_flags(run_flags, cfg, -1, &refs, &n, &cap);
	for (size_t i = 0; dataplane_all[i]; i++)
		if (dataplane_all[i]->options)
			add_flags(dataplane_all[i]->options->flags, cfg->mode_opts[i], (int)i, &refs,
				  &n, &cap);
	*ret = refs;
	return n;
}

/* getopt_long's short options: every one-letter spelling, and -h. */
static void build_shortopts(const struct flag_ref *refs, size_t n, char *buf, size_t len)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 3 < len; i++) {
		if (!refs[i].spec->short_name)
			continue;
		buf[k++] = refs[i].spec->short_name;
		if (refs[i].spec->kind != OPT_SWITCH)
			buf[k++] = ':';
	}
	buf[k++] = 'h';
	buf[k] = '\0';
}

/*
 * One pass over argv.  The first (apply false) only marks the flags given,
 * so the config file can leave them alone, and takes --config and --mode,
 * which reading the file needs, and the log flags, which format what it
 * says; the second sets every value.  Returns 0, 1
 * after --help (printed by the first pass), or -EINVAL (printed).
 */
static int scan_args(int argc, char **argv, const struct option *longopts, const char *shortopts,
		     struct flag_ref *refs, size_t n, bool apply)
{
	int opt, idx;

	optind = 0; /* glibc: start over (this scan may not be the first) */
	while ((idx = -1, opt = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		struct flag_ref *ref = NULL;
		const char *arg = optarg;
		char err[512];

		if (opt == 'h') {
			usage_run(stdout);
			return 1;
		}
		if (opt >= FLAG_VAL_BASE && (size_t)(opt - FLAG_VAL_BASE) < n)
			ref = &refs[opt - FLAG_VAL_BASE];
		for (size_t i = 0; opt < FLAG_VAL_BASE && i < n; i++)
			if (refs[i].spec->short_name == opt)
				ref = &refs[i];
		if (!ref) {
			usage_run(stderr);
			return -EINVAL;
		}
		/* pflag takes "-v=2" as "-v 2". */
		if (idx < 0 && arg && arg[0] == '=')
			arg++;
		ref->seen = true;
		/* Reading the file needs these; the log flags format its messages. */
		if (!apply && !streq(ref->spec->name, "config") && !streq(ref->spec->name, "mode") &&
		    !streq(ref->spec->name, "v") && !streq(ref->spec->name, "logging-format"))
			continue;
		if (opt_set(ref->spec, ref->opts, arg, err, sizeof(err)) < 0) {
			/* Name the flag as the user spelled it. */
			if (idx >= 0)
				fprintf(stderr, "kroute run: --%s \"%s\": %s\n", longopts[idx].name,
					arg ? arg : "", err);
			else
				fprintf(stderr, "kroute run: -%c \"%s\": %s\n", opt, arg, err);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kroute run: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

/* Sets what cfg->dp and cfg->po take from the flags, once they are all read. */
static void share_values(struct run_cfg *cfg)
{
	cfg->po.masquerade_all = cfg->dp.masquerade_all;
	cfg->po.cluster_cidrs = cfg->cluster_cidrs;
	cfg->po.n_cluster_cidrs = cfg->n_cluster_cidrs;
	cfg->dp.cluster_cidrs = cfg->cluster_cidrs;
	cfg->dp.n_cluster_cidrs = cfg->n_cluster_cidrs;
	cfg->dp.nodeport_cidrs = cfg->nodeport_cidrs;
	cfg->dp.n_nodeport_cidrs = cfg->n_nodeport_cidrs;
}

int parse_run_args(int argc, char **argv, struct run_cfg *cfg)
{
	struct flag_ref *refs;
	size_t n = build_refs(cfg, &refs);
	struct option *longopts = build_longopts(refs, n);
	char shortopts[32];
	int r;

	build_shortopts(refs, n, shortopts, sizeof(shortopts));
	r = scan_args(argc, argv, longopts, shortopts, refs, n, false);
	if (r == 0 && cfg->config_path)
		r = config_apply_file(cfg->config_path, refs, n, cfg->mode, cfg, &cfg->diag);
	/* The flags' values, over the file's. */
	if (r == 0)
		r = scan_args(argc, argv, longopts, shortopts, refs, n, true);
	if (r == 0)
		r = check_cfg(cfg);
	if (r == 0)
		warn_other_modes(cfg, refs, n);
	free(longopts);
	free(refs);
	if (r)
		return r;
	share_values(cfg);
	cfg->serve.nodeport_cidrs = cfg->nodeport_cidrs;
	cfg->serve.n_nodeport_cidrs = cfg->n_nodeport_cidrs;
	/* kube-proxy's health timeout: twice the sync period (cmd/kube-proxy). */
	cfg->serve.health_timeout_ns = 2 * cfg->sync_period_ns;
	return 0;
}

int run_cfg_apply_config_buffer(struct run_cfg *cfg, const char *name, const char *buf,
				size_t len, bool json)
{
	struct flag_ref *refs;
	size_t n = build_refs(cfg, &refs);
	int r;

	r = config_apply_buffer(name, buf, len, json, refs, n, NULL, cfg, &cfg->diag);
	free(refs);
	share_values(cfg);
	return r;
}

void run_cfg_write_config(struct run_cfg *cfg, struct sbuf *out)
{
	struct flag_ref *refs;
	size_t n = build_refs(cfg, &refs);

	config_write(out, refs, n, cfg);
	free(refs);
}

static void log_field(const char *field, const char *value, void *arg)
{
	const unsigned *v = arg;
	struct log_kv kv[] = { { .key = "field", .str = field }, { .key = "value", .str = value } };

	log_info_kv(*v, kv, ARRAY_SIZE(kv), "effective configuration");
}

void run_cfg_log_config(struct run_cfg *cfg, unsigned v)
{
	struct flag_ref *refs;
	size_t n;

	if (!log_enabled(v))
		return;
	n = build_refs(cfg, &refs);
	config_each_value(refs, n, cfg, log_field, &v);
	free(refs);
}

void run_cfg_done(struct run_cfg *cfg)
{
	for (size_t i = 0; i < cfg->n_modes; i++)
		free(cfg->mode_opts[i]);
	free(cfg->mode_opts);
	free(cfg->paths);
	strv_free(cfg->config_strs, cfg->n_config_strs);
	diag_done(&cfg->diag);
	free(cfg->cluster_cidrs);
	free(cfg->nodeport_cidrs);
}
