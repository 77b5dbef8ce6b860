/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run: the node agent.  One thread, one epoll loop over three fds:
 * a signalfd (SIGTERM/SIGINT: exit leaving the rules in place, as
 * kube-proxy does so traffic survives a restart; SIGHUP: full resync), an
 * inotify fd on the manifest paths, and a timerfd driven by sync_timer
 * (min-sync-period rate limit, periodic full resync, retry backoff).
 *
 * A sync reloads the manifests (all or nothing).  Bad input is reported and
 * the last good objects and rules stay; a failed data-plane sync keeps the
 * kernel's previous state and is retried as a full sync.
 */
#include "daemon/run.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/util.h"
#include "daemon/sync_timer.h"
#include "dataplane/dataplane.h"
#include "policy/policy.h"
#include "sched/sched_config.h"
#include "source/manifest.h"
#include "store/store.h"

#define EXIT_USAGE 2
#define NS_PER_SEC 1000000000ull

struct run_cfg {
	const char **paths;
	size_t n_paths, cap_paths;
	const char *node;
	const char *mode;
	uint64_t sync_period_ns;
	uint64_t min_sync_period_ns;
	bool once;
	struct policy_opts po;
	struct dp_opts dp;
	struct cidr *cluster_cidrs, *nodeport_cidrs;
	size_t n_cluster_cidrs, n_nodeport_cidrs;
};

struct agent {
	struct run_cfg *cfg;
	const struct dataplane_ops *ops;
	struct dataplane *dp;
	struct store store;         /* last good objects, per file */
	struct node_view *view;     /* this node's view of them, updated per change */
	bool reread;                /* SIGHUP: read every file again */
	bool input_bad;             /* the current input failed to load; wait for a change */
	struct sync_timer timer;
	int epfd, sfd, ifd, tfd;
};


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

static int parse_run_args(int argc, char **argv, struct run_cfg *cfg)
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

/* inotify: watch every directory the paths live in (editors replace files by rename). */
static void watch_tree(int ifd, const char *path, int depth)
{
	const uint32_t mask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
			      IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (depth > 32 || stat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		char *dir = xstrdup(path), *slash = strrchr(dir, '/');

		if (slash)
			*slash = '\0';
		(void)inotify_add_watch(ifd, slash ? (*dir ? dir : "/") : ".", mask);
		free(dir);
		return;
	}
	(void)inotify_add_watch(ifd, path, mask);
	d = opendir(path);
	if (!d)
		return;
	while ((de = readdir(d))) {
		char *sub;

		if (de->d_name[0] == '.' || de->d_type != DT_DIR)
			continue;
		sub = xasprintf("%s/%s", path, de->d_name);
		watch_tree(ifd, sub, depth + 1);
		free(sub);
	}
	closedir(d);
}

static void rewatch(struct agent *a)
{
	/* Watch descriptors are per inode; re-adding is idempotent and picks up new dirs. */
	for (size_t i = 0; i < a->cfg->n_paths; i++)
		if (!streq(a->cfg->paths[i], "-"))
			watch_tree(a->ifd, a->cfg->paths[i], 0);
}

static void arm_timer(struct agent *a)
{
	uint64_t deadline = sync_timer_deadline(&a->timer), now = mono_ns();
	struct itimerspec its = { 0 };

	if (deadline <= now)
		deadline = now + 1;
	its.it_value.tv_sec = (time_t)(deadline / NS_PER_SEC);
	its.it_value.tv_nsec = (long)(deadline % NS_PER_SEC);
	(void)timerfd_settime(a->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static double ms_since(uint64_t t)
{
	return (double)(mono_ns() - t) / 1e6;
}

/*
 * Returns 0 when the data plane matches the input, negative otherwise.
 * Only files whose stamp changed are read, only the services they can
 * affect get a new view, and the data plane re-renders only those.
 */
static int do_sync(struct agent *a, bool full)
{
	struct store_delta delta;
	struct diag d;
	uint64_t t0 = mono_ns(), t_read, t_view;
	double read_ms, view_ms;
	size_t rebuilt = 0, files_read = 0, files_total = a->store.n_files;
	/* Bad input stays bad until a file changes (inotify clears input_bad). */
	bool keep_last_good = a->input_bad && a->view;
	int r = 0;

	delta = (struct store_delta){ 0 };
	if (!keep_last_good) {
		diag_init(&d);
		r = store_refresh(&a->store, a->reread, &d, &delta);
		diag_print(&d, stderr); /* errors, or warnings once per change */
		diag_done(&d);
		files_read = delta.files_read;
		files_total = delta.files_total;
	}
	read_ms = ms_since(t0);
	t_read = mono_ns();
	if (r < 0) {
		a->input_bad = true;
		log_line("input has errors; %s", a->view ? "keeping the last good rules until the files change"
						      : "nothing applied yet");
		store_delta_done(&delta);
		if (!a->view)
			return -EINVAL;
	} else if (!keep_last_good) {
		a->reread = false;
		a->input_bad = false;
		if (delta.changed || !a->view) {
			/* This node's own Node object carries its zone and addresses: everything depends on it. */
			bool all = delta.all || strmap_get(&delta.nodes, a->cfg->node);

			a->view = policy_update_view(a->view, &a->store.cluster, a->cfg->node,
						     &a->cfg->po, &delta.services, all);
			rebuilt = a->view->n_rebuilt;
		}
		store_delta_done(&delta); /* the view no longer points into replaced objects */
	}
	view_ms = ms_since(t_read);
	t_view = mono_ns();
	diag_init(&d);
	r = a->ops->sync(a->dp, a->view, full, &d);
	diag_print(&d, stderr);
	diag_done(&d);
	if (r < 0)
		log_line("%s sync failed after %.1f ms (read %.1f, policy %.1f, apply %.1f): %s; the"
		      " previous rules stay, retrying with a full sync", full ? "full" : "partial",
		      ms_since(t0), read_ms, view_ms, ms_since(t_view), strerror(-r));
	else {
		struct dp_stats st;

		a->ops->stats(a->dp, &st);
		log_line("%s sync: %zu service ports (%zu rebuilt, %zu of %zu files read) in %.1f ms"
		      " (read %.1f, policy %.1f, apply %.1f of which kernel tools %.1f)",
		      full ? "full" : "partial", a->view->n_ports, rebuilt, files_read,
		      files_total, ms_since(t0), read_ms, view_ms, ms_since(t_view),
		      (double)st.last_kernel_ns / 1e6);
	}
	return r;
}

static int loop(struct agent *a)
{
	for (;;) {
		struct epoll_event evs[8];
		int n;
		bool full;

		if (sync_timer_due(&a->timer, mono_ns(), &full)) {
			uint64_t start = mono_ns();
			int r = do_sync(a, full);

			sync_timer_done(&a->timer, start, full, r == 0);
		}
		arm_timer(a);
		n = epoll_wait(a->epfd, evs, ARRAY_SIZE(evs), -1);
		if (n < 0 && errno != EINTR) {
			log_line("epoll_wait: %s", strerror(errno));
			return EXIT_FAILURE;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == a->sfd) {
				struct signalfd_siginfo si;

				if (read(a->sfd, &si, sizeof(si)) != sizeof(si))
					continue;
				if (si.ssi_signo == SIGHUP) {
					log_line("SIGHUP: reading every file, full resync");
					a->reread = true;
					a->input_bad = false;
					a->timer.need_full = true;
					sync_timer_request(&a->timer);
					continue;
				}
				log_line("%s: exiting; rules stay in place (kroute cleanup removes them)",
				      strsignal((int)si.ssi_signo));
				return 0;
			} else if (fd == a->ifd) {
				char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

				while (read(a->ifd, buf, sizeof(buf)) > 0)
					;
				rewatch(a);
				a->input_bad = false;
				sync_timer_request(&a->timer);
			} else if (fd == a->tfd) {
				uint64_t exp;

				(void)!read(a->tfd, &exp, sizeof(exp));
			}
		}
	}
}

int run_main(int argc, char **argv)
{
	struct run_cfg cfg = {
		.sync_period_ns = 30 * NS_PER_SEC,
		.min_sync_period_ns = 1 * NS_PER_SEC,
		.dp = { .masquerade_bit = 14, .localhost_nodeports = true,
			.iptables_restore = "iptables-restore", .conntrack = "conntrack",
			.nft = "nft", .ip = "ip" },
	};
	struct agent a = { .cfg = &cfg, .epfd = -1, .sfd = -1, .ifd = -1, .tfd = -1 };
	sigset_t mask;
	int r, ret = EXIT_FAILURE;

	policy_opts_init(&cfg.po);
	/* Tests and benchmarks wrap the helper programs (to record or time them). */
	if (getenv("KROUTE_IPTABLES_RESTORE"))
		cfg.dp.iptables_restore = getenv("KROUTE_IPTABLES_RESTORE");
	if (getenv("KROUTE_IP6TABLES_RESTORE"))
		cfg.dp.ip6tables_restore = getenv("KROUTE_IP6TABLES_RESTORE");
	if (getenv("KROUTE_CONNTRACK"))
		cfg.dp.conntrack = getenv("KROUTE_CONNTRACK");
	r = parse_run_args(argc, argv, &cfg);
	if (r) {
		ret = r > 0 ? 0 : EXIT_USAGE;
		goto out;
	}
	a.ops = dataplane_find(cfg.mode);
	if (!a.ops) {
		fprintf(stderr, "kroute run: unknown --mode \"%s\" (available:", cfg.mode);
		for (size_t i = 0; dataplane_all[i]; i++)
			fprintf(stderr, " %s", dataplane_all[i]->name);
		fprintf(stderr, ")\n");
		ret = EXIT_USAGE;
		goto out;
	}
	r = a.ops->new(&cfg.dp, &a.dp);
	if (r < 0) {
		fprintf(stderr, "kroute run: cannot start the %s data plane: %s\n", cfg.mode,
			strerror(-r));
		goto out;
	}
	store_init(&a.store, cfg.paths, cfg.n_paths, NULL);
	if (cfg.once) {
		r = do_sync(&a, true);
		ret = r == 0 && !a.input_bad ? 0 : (a.input_bad ? EXIT_USAGE : EXIT_FAILURE);
		goto out;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	a.sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	a.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	a.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	a.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (a.sfd < 0 || a.ifd < 0 || a.tfd < 0 || a.epfd < 0) {
		fprintf(stderr, "kroute run: cannot set up the event loop: %s\n", strerror(errno));
		goto out;
	}
	{
		int fds[] = { a.sfd, a.ifd, a.tfd };

		for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };

			epoll_ctl(a.epfd, EPOLL_CTL_ADD, fds[i], &ev);
		}
	}
	rewatch(&a);
	sync_timer_init(&a.timer, cfg.min_sync_period_ns, cfg.sync_period_ns);
	log_line("running: mode %s, node %s, %zu path(s), min-sync-period %.3fs, sync-period %.3fs",
	      cfg.mode, cfg.node, cfg.n_paths, (double)cfg.min_sync_period_ns / 1e9,
	      (double)cfg.sync_period_ns / 1e9);
	ret = loop(&a);
out:
	if (a.dp)
		a.ops->free(a.dp);
	node_view_free(a.view);
	store_done(&a.store);
	if (a.epfd >= 0)
		close(a.epfd);
	if (a.sfd >= 0)
		close(a.sfd);
	if (a.ifd >= 0)
		close(a.ifd);
	if (a.tfd >= 0)
		close(a.tfd);
	free(cfg.paths);
	free(cfg.cluster_cidrs);
	free(cfg.nodeport_cidrs);
	return ret;
}

int cleanup_main(int argc, char **argv)
{
	struct dp_opts opts = { .masquerade_bit = 14, .iptables_restore = "iptables-restore",
				.nft = "nft", .ip = "ip" };
	struct diag d;
	int ret = 0;

	if (argc > 1 && (streq(argv[1], "-h") || streq(argv[1], "--help"))) {
		puts("usage: kroute cleanup\n\nRemoves every rule, chain and set kroute installed in this network\n"
		     "namespace, for every mode, and nothing else.");
		return 0;
	}
	diag_init(&d);
	for (size_t i = 0; dataplane_all[i]; i++) {
		if (dataplane_all[i]->cleanup && dataplane_all[i]->cleanup(&opts, &d) < 0)
			ret = EXIT_FAILURE;
	}
	diag_print(&d, stderr);
	diag_done(&d);
	return ret;
}
