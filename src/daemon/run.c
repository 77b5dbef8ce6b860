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
#include "daemon/run_flags.h"
#include "daemon/sync_timer.h"
#include "dataplane/dataplane.h"
#include "policy/policy.h"
#include "source/manifest.h"
#include "store/store.h"

#define EXIT_USAGE 2
#define NS_PER_SEC 1000000000ull

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
	int dpfd;                   /* the data plane's event fd (ops->event_fd), -1 for none */
};

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
			} else if (fd == a->dpfd) {
				a->ops->on_event(a->dp);
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
	struct agent a = { .cfg = &cfg, .epfd = -1, .sfd = -1, .ifd = -1, .tfd = -1, .dpfd = -1 };
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
	a.dpfd = a.ops->event_fd ? a.ops->event_fd(a.dp) : -1;
	{
		int fds[] = { a.sfd, a.ifd, a.tfd, a.dpfd };

		for (size_t i = 0; i < ARRAY_SIZE(fds) && fds[i] >= 0; i++) {
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
	run_cfg_done(&cfg);
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
