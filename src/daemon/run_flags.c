/* SPDX-License-Identifier: Apache-2.0 */
/* kroute run's flags; see run_flags.h. */
#include "daemon/run_flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "daemon/run.h"
#include "sched/sched_config.h"

#define NS_PER_SEC 1000000000ull

/*
 * Go-style durations as kube-proxy's flags take them: "1s", "500ms", "1m30s",
 * "2h", "100us"; a bare number is seconds.
 */
int parse_duration(const char *s, uint64_t *ret)
{
	uint64_t total = 0;
	const char *p = s;

	if (!s || !*s)
		return -EINVAL;
	while (*p) {
		char *end;
		double v;
		uint64_t unit;

		errno = 0;
		v = strtod(p, &end);
		if (end == p || errno || v < 0)
			return -EINVAL;
		p = end;
		if (!strncmp(p, "ms", 2))
			unit = 1000000ull, p += 2;
		else if (!strncmp(p, "us", 2))
			unit = 1000ull, p += 2;
		else if (!strncmp(p, "ns", 2))
			unit = 1ull, p += 2;
		else if (*p == 's')
			unit = NS_PER_SEC, p++;
		else if (*p == 'm')
			unit = 60 * NS_PER_SEC, p++;
		else if (*p == 'h')
			unit = 3600 * NS_PER_SEC, p++;
		else if (!*p && p == end && total == 0)
			unit = NS_PER_SEC;
		else
			return -EINVAL;
		if (v * (double)unit > 1e19)
			return -EINVAL;
		total += (uint64_t)(v * (double)unit);
	}
	*ret = total;
	return 0;
}

static int parse_cidr_list(const char *flag, const char *s, struct cidr **ret, size_t *ret_n)
{
	char err[128];

	if (cidr_list_parse(s, ret, ret_n, err, sizeof(err)) < 0) {
		fprintf(stderr, "kroute: %s: %s\n", flag, err);
		return -EINVAL;
	}
	return 0;
}

static void usage_run(FILE *f)
{
	fputs("usage: kroute run --mode MODE --node NAME -f PATH... [options]\n"
	      "\n"
	      "Runs inside the node's network namespace and keeps its data plane in sync with\n"
	      "the manifests: on every change it re-reads the files that changed and updates\n"
	      "the services they affect.  SIGHUP re-reads every file and resyncs fully;\n"
	      "SIGTERM exits and leaves the rules in place (kroute cleanup removes them).\n"
	      "\n"
	      "  -f, --filename PATH              manifest file or directory (repeatable)\n"
	      "      --mode, --proxy-mode MODE    iptables or userspace\n"
	      "      --node, --hostname-override  this node's name\n"
	      "      --cluster-cidr CIDRS         pod CIDR(s): the local-traffic detector\n"
	      "      --masquerade-all             masquerade all service traffic\n"
	      "      --nodeport-addresses CIDRS   accept NodePorts only on these node IPs\n"
	      "      --iptables-masquerade-bit N  mark bit for masquerade (default 14)\n"
	      "      --iptables-localhost-nodeports true|false (default true)\n"
	      "      --iptables-sync-period D     sync at least this often (default 30s; a full\n"
	      "                                   resync, rewriting every rule, runs hourly)\n"
	      "      --iptables-min-sync-period D at most one sync per D (default 1s)\n"
	      "      --sync-period, --min-sync-period   the same, mode-independent spelling\n"
	      "      --scheduler NAME             default scheduler (userspace mode)\n"
	      "      --service-proxy-name NAME    handle only services with this proxy name\n"
	      "      --iptables-kube-proxy-layout one KUBE-SEP chain per endpoint, exactly as\n"
	      "                                   kube-proxy (default: remote endpoints are DNATed\n"
	      "                                   inline, same packet outcomes, loads much faster)\n"
	      "      --once                       one full sync, then exit (0 when applied)\n"
	      "userspace mode (docs/userspace.md):\n"
	      "      --userspace-workers N        proxy threads (default: one per CPU)\n"
	      "      --userspace-grace-period D   connections to a removed endpoint close after D (5s)\n"
	      "      --udp-timeout D              idle UDP sessions end after D (30s)\n"
	      "      --userspace-connect-timeout D  per connect attempt (1s); then another endpoint\n"
	      "      --userspace-eject-time D     a failing endpoint gets no new flows for D (10s)\n"
	      "      --userspace-status-file PATH JSON status (endpoints, ejections, counters)\n",
	      f);
}

int parse_run_args(int argc, char **argv, struct run_cfg *cfg)
{
	enum { O_MODE = 256, O_NODE, O_CCIDR, O_MASQ, O_NPA, O_MBIT, O_LHNP, O_SYNC, O_MINSYNC,
	       O_SCHED, O_PROXYNAME, O_ONCE, O_KPLAYOUT, O_US_WORKERS, O_US_GRACE, O_US_UDP,
	       O_US_CONNECT, O_US_EJECT, O_US_STATUS };
	static const struct option longopts[] = {
		{ "filename", required_argument, NULL, 'f' },
		{ "mode", required_argument, NULL, O_MODE },
		{ "proxy-mode", required_argument, NULL, O_MODE },
		{ "node", required_argument, NULL, O_NODE },
		{ "hostname-override", required_argument, NULL, O_NODE },
		{ "cluster-cidr", required_argument, NULL, O_CCIDR },
		{ "masquerade-all", no_argument, NULL, O_MASQ },
		{ "nodeport-addresses", required_argument, NULL, O_NPA },
		{ "iptables-masquerade-bit", required_argument, NULL, O_MBIT },
		{ "iptables-localhost-nodeports", required_argument, NULL, O_LHNP },
		{ "iptables-sync-period", required_argument, NULL, O_SYNC },
		{ "sync-period", required_argument, NULL, O_SYNC },
		{ "iptables-min-sync-period", required_argument, NULL, O_MINSYNC },
		{ "min-sync-period", required_argument, NULL, O_MINSYNC },
		{ "scheduler", required_argument, NULL, O_SCHED },
		{ "service-proxy-name", required_argument, NULL, O_PROXYNAME },
		{ "once", no_argument, NULL, O_ONCE },
		{ "iptables-kube-proxy-layout", no_argument, NULL, O_KPLAYOUT },
		{ "userspace-workers", required_argument, NULL, O_US_WORKERS },
		{ "userspace-grace-period", required_argument, NULL, O_US_GRACE },
		{ "udp-timeout", required_argument, NULL, O_US_UDP },
		{ "userspace-connect-timeout", required_argument, NULL, O_US_CONNECT },
		{ "userspace-eject-time", required_argument, NULL, O_US_EJECT },
		{ "userspace-status-file", required_argument, NULL, O_US_STATUS },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	char err[512];
	int opt;
	long bit;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			VEC_PUSH(cfg->paths, cfg->n_paths, cfg->cap_paths, optarg);
			break;
		case O_MODE:
			cfg->mode = optarg;
			break;
		case O_NODE:
			cfg->node = optarg;
			break;
		case O_CCIDR:
			if (parse_cidr_list("--cluster-cidr", optarg, &cfg->cluster_cidrs,
					    &cfg->n_cluster_cidrs) < 0)
				return -EINVAL;
			break;
		case O_MASQ:
			cfg->po.masquerade_all = true;
			cfg->dp.masquerade_all = true;
			break;
		case O_NPA:
			if (parse_cidr_list("--nodeport-addresses", optarg, &cfg->nodeport_cidrs,
					    &cfg->n_nodeport_cidrs) < 0)
				return -EINVAL;
			break;
		case O_MBIT:
			bit = strtol(optarg, NULL, 10);
			if (bit < 0 || bit > 31) {
				fprintf(stderr, "kroute: --iptables-masquerade-bit must be 0..31\n");
				return -EINVAL;
			}
			cfg->dp.masquerade_bit = (uint32_t)bit;
			break;
		case O_LHNP:
			if (!streq(optarg, "true") && !streq(optarg, "false")) {
				fprintf(stderr, "kroute: --iptables-localhost-nodeports takes true or false\n");
				return -EINVAL;
			}
			cfg->dp.localhost_nodeports = streq(optarg, "true");
			break;
		case O_SYNC:
		case O_MINSYNC:
			if (parse_duration(optarg, opt == O_SYNC ? &cfg->sync_period_ns
								 : &cfg->min_sync_period_ns) < 0) {
				fprintf(stderr, "kroute: %s: \"%s\" is not a duration (e.g. 1s, 500ms, 1m)\n",
					opt == O_SYNC ? "--sync-period" : "--min-sync-period", optarg);
				return -EINVAL;
			}
			break;
		case O_SCHED:
			if (sched_parse_name(optarg, &cfg->po.lb.sched_name, err, sizeof(err)) < 0) {
				fprintf(stderr, "kroute: --scheduler: %s\n", err);
				return -EINVAL;
			}
			break;
		case O_PROXYNAME:
			cfg->po.service_proxy_name = optarg;
			break;
		case O_ONCE:
			cfg->once = true;
			break;
		case O_KPLAYOUT:
			cfg->dp.kube_proxy_layout = true;
			break;
		case O_US_WORKERS:
			bit = strtol(optarg, NULL, 10);
			if (bit < 1 || bit > 256) {
				fprintf(stderr, "kroute: --userspace-workers must be 1..256\n");
				return -EINVAL;
			}
			cfg->dp.us_workers = (unsigned)bit;
			break;
		case O_US_GRACE:
		case O_US_UDP:
		case O_US_CONNECT:
		case O_US_EJECT: {
			uint64_t *dst = opt == O_US_GRACE ? &cfg->dp.us_grace_ns :
					opt == O_US_UDP ? &cfg->dp.us_udp_timeout_ns :
					opt == O_US_CONNECT ? &cfg->dp.us_connect_timeout_ns :
					&cfg->dp.us_eject_ns;

			/* 0 means "the default" in dp_opts, so a zero duration is refused. */
			if (parse_duration(optarg, dst) < 0 || !*dst) {
				fprintf(stderr, "kroute: \"%s\" is not a positive duration (e.g. 1s, 500ms)\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case O_US_STATUS:
			cfg->dp.us_status_file = optarg;
			break;
		case 'h':
			usage_run(stdout);
			return 1;
		default:
			usage_run(stderr);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kroute run: unexpected argument \"%s\"\n", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->n_paths || !cfg->node || !cfg->mode) {
		fprintf(stderr, "kroute run: %s is required\n",
			!cfg->mode ? "--mode" : !cfg->node ? "--node" : "-f PATH");
		usage_run(stderr);
		return -EINVAL;
	}
	if (cfg->sync_period_ns && cfg->min_sync_period_ns > cfg->sync_period_ns) {
		fprintf(stderr, "kroute: --min-sync-period must not exceed --sync-period\n");
		return -EINVAL;
	}
	cfg->po.cluster_cidrs = cfg->cluster_cidrs;
	cfg->po.n_cluster_cidrs = cfg->n_cluster_cidrs;
	cfg->dp.cluster_cidrs = cfg->cluster_cidrs;
	cfg->dp.n_cluster_cidrs = cfg->n_cluster_cidrs;
	cfg->dp.nodeport_cidrs = cfg->nodeport_cidrs;
	cfg->dp.n_nodeport_cidrs = cfg->n_nodeport_cidrs;
	return 0;
}

void run_cfg_done(struct run_cfg *cfg)
{
	free(cfg->paths);
	free(cfg->cluster_cidrs);
	free(cfg->nodeport_cidrs);
}
