/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run: the node agent.  One thread, one event loop (core/loop.h)
 * where everything registers its fds and timers: a signalfd (SIGTERM/SIGINT:
 * exit leaving the rules in place, as kube-proxy does so traffic survives a
 * restart; SIGHUP: full resync), the sources (source/source.h: the files
 * source watches its paths with inotify), the data plane's event fd when
 * its mode has one, and the sync timer driven by sync_timer (min-sync-period
 * rate limit, periodic full resync, retry backoff).
 *
 * A sync asks every source to hand its changes to the store (all or nothing
 * per source).  Bad input is reported and the last good objects and rules
 * stay; a failed data-plane sync keeps the kernel's previous state and is
 * retried as a full sync.
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
#include <unistd.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/sbuf.h"
#include "core/util.h"
#include "daemon/run_flags.h"
#include "daemon/serve.h"
#include "daemon/sync_timer.h"
#include "dataplane/dataplane.h"
#include "policy/policy.h"
#include "source/files.h"
#include "source/kube/kube.h"
#include "store/store.h"

#define EXIT_USAGE 2
#define NS_PER_SEC 1000000000ull
#define MAX_SOURCES 4

struct agent_source {
	struct source *src;
	bool bad;                   /* its input failed to load; wait for it to change */
	bool reread;                /* SIGHUP: read everything again */
};

struct agent {
	struct run_cfg *cfg;
	const struct dataplane_ops *ops;
	struct dataplane *dp;
	struct store store;         /* last good objects, per source and origin */
	struct agent_source sources[MAX_SOURCES];
	size_t n_sources;
	size_t origins_total;       /* as of the last refresh, for the log line */
	struct node_view *view;     /* this node's view of them, updated per change */
	struct sync_timer timer;
	struct loop *loop;
	struct loop_timer *sync_tm;
	struct agent_serve serve;   /* health and metrics servers (serve.h) */
};

static double ms_since(uint64_t t)
{
	return (double)(mono_ns() - t) / 1e6;
}

static bool any_source_bad(const struct agent *a)
{
	for (size_t i = 0; i < a->n_sources; i++)
		if (a->sources[i].bad)
			return true;
	return false;
}

/*
 * Each source hands its changes to the store.  A source whose input was bad
 * is not asked again until it says it changed (its last good objects stay).
 * Returns 0, or -EINVAL when some source failed.
 */
static int refresh_sources(struct agent *a, struct store_delta *delta)
{
	bool refreshed = false;
	int ret = 0;

	for (size_t i = 0; i < a->n_sources; i++) {
		struct agent_source *as = &a->sources[i];
		struct diag d;
		int r;

		if (as->bad && a->view)
			continue;
		diag_init(&d);
		r = as->src->ops->refresh(as->src, &a->store, as->reread, &d, delta);
		log_diag(&d); /* errors, or warnings once per change */
		diag_done(&d);
		as->bad = r < 0;
		if (r < 0) {
			ret = -EINVAL;
		} else {
			as->reread = false;
			refreshed = true;
		}
	}
	if (refreshed)
		a->origins_total = delta->origins_total;
	return ret;
}

/*
 * Returns 0 when the data plane matches the input, negative otherwise.
 * Only origins that changed are read, only the services they can affect
 * get a new view, and the data plane re-renders only those.
 */
static int do_sync(struct agent *a, bool full)
{
	struct store_delta delta;
	struct diag d;
	uint64_t t0 = mono_ns(), t_read, t_view, t_serve;
	double read_ms, view_ms, apply_ms;
	size_t rebuilt = 0, origins_read;
	int r;

	store_delta_init(&delta);
	r = refresh_sources(a, &delta);
	read_ms = ms_since(t0);
	t_read = mono_ns();
	if (r < 0)
		log_error("input has errors; %s", a->view ? "keeping the last good rules until the files change"
						      : "nothing applied yet");
	if (r < 0 && !a->view) {
		store_delta_done(&delta);
		return -EINVAL;
	}
	if (delta.changed || !a->view) {
		/* This node's own Node object carries its zone and addresses: everything depends on it. */
		bool all = delta.all || !a->view || strmap_get(&delta.nodes, a->cfg->node);

		a->view = policy_update_view(a->view, &a->store.cluster, a->cfg->node, &a->cfg->po,
					     &delta.services, all);
		rebuilt = a->view->n_rebuilt;
		serve_view_changed(&a->serve, &delta.services, all);
	}
	origins_read = delta.origins_read;
	serve_changes(&a->serve, delta.services_changed, delta.slices_changed);
	store_delta_done(&delta); /* the view no longer points into replaced objects */
	view_ms = ms_since(t_read);
	t_view = mono_ns();
	diag_init(&d);
	r = a->ops->sync(a->dp, a->view, full, &d);
	log_diag(&d);
	diag_done(&d);
	apply_ms = ms_since(t_view);
	/* The health servers follow the view once the data plane has it, as kube-proxy's do. */
	t_serve = mono_ns();
	serve_sync_checks(&a->serve, a->view);
	view_ms += ms_since(t_serve);
	if (r < 0)
		log_error("%s sync failed after %.1f ms (read %.1f, policy %.1f, apply %.1f): %s; the"
		      " previous rules stay, retrying with a full sync", full ? "full" : "partial",
		      ms_since(t0), read_ms, view_ms, apply_ms, strerror(-r));
	else {
		struct dp_stats st;

		a->ops->stats(a->dp, &st);
		log_line("%s sync: %zu service ports (%zu rebuilt, %zu of %zu %s read) in %.1f ms"
		      " (read %.1f, policy %.1f, apply %.1f of which kernel tools %.1f)",
		      full ? "full" : "partial", a->view->n_ports, rebuilt, origins_read,
		      a->origins_total, a->n_sources == 1 ? a->sources[0].src->ops->origin_noun : "origins",
		      ms_since(t0), read_ms, view_ms, apply_ms, (double)st.last_kernel_ns / 1e6);
	}
	return r;
}

static bool sources_synced(const struct agent *a)
{
	for (size_t i = 0; i < a->n_sources; i++)
		if (!a->sources[i].src->ops->has_synced(a->sources[i].src))
			return false;
	return true;
}

static void arm_sync(struct agent *a)
{
	uint64_t at = sync_timer_deadline(&a->timer), now = mono_ns();

	log_info(4, "sync timer: next check in %.3f s%s%s", at > now ? (double)(at - now) / 1e9 : 0.0,
		 a->timer.pending ? ", a change is waiting" : "",
		 a->timer.need_full ? ", a full sync is due" : "");
	loop_timer_arm(a->sync_tm, at);
}

static void on_sync_timer(struct loop *l, struct loop_timer *t, void *userdata)
{
	struct agent *a = userdata;
	bool full;

	/* Nothing is programmed from a partial view; the source's changed() re-arms. */
	if (!sources_synced(a))
		return;
	if (sync_timer_due(&a->timer, mono_ns(), &full)) {
		uint64_t start = mono_ns();
		int r = do_sync(a, full);

		sync_timer_done(&a->timer, start, full, r == 0);
		serve_synced(&a->serve, a->view, full, r == 0, mono_ns() - start);
	}
	arm_sync(a);
}

static void on_source_changed(struct source *src, void *userdata)
{
	struct agent *a = userdata;

	for (size_t i = 0; i < a->n_sources; i++)
		if (a->sources[i].src == src)
			a->sources[i].bad = false;
	serve_queued(&a->serve);
	sync_timer_request(&a->timer);
	arm_sync(a);
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *userdata)
{
	struct agent *a = userdata;
	int sig;

	while ((sig = loop_read_signal(fd)) > 0) {
		if (sig == SIGHUP) {
			log_line("SIGHUP: reading every file, full resync");
			for (size_t i = 0; i < a->n_sources; i++) {
				a->sources[i].reread = true;
				a->sources[i].bad = false;
			}
			a->timer.need_full = true;
			sync_timer_request(&a->timer);
			arm_sync(a);
			continue;
		}
		log_line("%s: exiting; rules stay in place (kroute cleanup removes them)",
			 strsignal(sig));
		loop_exit(l, 0);
		return;
	}
}

static void on_dataplane_event(struct loop *l, int fd, uint32_t events, void *userdata)
{
	struct agent *a = userdata;

	a->ops->on_event(a->dp);
}

static int new_loop(struct agent *a)
{
	int r = loop_new(&a->loop);

	if (r < 0)
		log_startup_error("kroute run: cannot set up the event loop: %s", strerror(-r));
	return r;
}

/* Registers everything in a new loop; prints what failed.  Returns 0 or -errno. */
static int setup_loop(struct agent *a)
{
	sigset_t mask;
	int r;

	r = new_loop(a);
	if (r < 0)
		return r;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	r = loop_add_signals(a->loop, &mask, on_signal, a);
	if (r < 0) {
		log_startup_error("kroute run: cannot receive signals: %s", strerror(-r));
		return r;
	}
	for (size_t i = 0; i < a->n_sources; i++) {
		struct source *src = a->sources[i].src;
		struct diag d;

		diag_init(&d);
		r = src->ops->attach(src, a->loop, on_source_changed, a, &d);
		log_diag(&d);
		diag_done(&d);
		if (r < 0) {
			log_startup_error("kroute run: cannot watch the %s source: %s",
				src->ops->name, strerror(-r));
			return r;
		}
	}
	if (a->ops->event_fd && a->ops->on_event) {
		int fd = a->ops->event_fd(a->dp);

		r = fd < 0 ? fd : loop_add_fd(a->loop, fd, EPOLLIN, on_dataplane_event, a, NULL);
		if (r < 0) {
			log_startup_error("kroute run: cannot watch the %s data plane's events: %s",
				a->cfg->mode, strerror(-r));
			return r;
		}
	}
	a->sync_tm = loop_timer_new(a->loop, on_sync_timer, a);
	sync_timer_init(&a->timer, a->cfg->min_sync_period_ns, a->cfg->sync_period_ns);
	arm_sync(a);
	serve_start(&a->serve, a->loop);
	return 0;
}

/* The API source's reports (failures, refused events) as they happen. */
static void print_report(struct diag *d, void *userdata)
{
	char line[1024];

	for (size_t i = 0; i < d->n; i++) {
		diag_msg_format(&d->msgs[i], line, sizeof(line));
		if (d->msgs[i].level == DIAG_ERROR)
			log_error("%s", line);
		else
			log_line("%s", line);
	}
}

/* -f's files, or the API server (--kubeconfig, --master, in-cluster).  0 or -EINVAL (printed). */
static int add_source(struct agent *a)
{
	struct kube_source_opts ko = {
		.kubeconfig = a->cfg->kubeconfig,
		.master = a->cfg->master,
		.node = a->cfg->node,
		.service_proxy_name = a->cfg->po.service_proxy_name,
		.fail_fast = a->cfg->once,
		.report = a->cfg->once ? NULL : print_report,
	};
	struct source *src;
	struct diag d;

	if (!a->cfg->api) {
		a->sources[a->n_sources++].src = files_source_new(a->cfg->paths, a->cfg->n_paths, NULL);
		return 0;
	}
	diag_init(&d);
	src = kube_source_new(&ko, &d);
	log_diag(&d);
	diag_done(&d);
	if (!src)
		return -EINVAL;
	a->sources[a->n_sources++].src = src;
	return 0;
}

static void on_once_changed(struct source *src, void *userdata)
{
}

/* --once from the API: the loop runs until every kind is listed (bounded), then one sync. */
static int list_once(struct agent *a)
{
	struct diag d;
	int r;

	r = new_loop(a);
	if (r < 0)
		return r;
	diag_init(&d);
	r = a->sources[0].src->ops->attach(a->sources[0].src, a->loop, on_once_changed, a, &d);
	if (r < 0) {
		log_diag(&d);
		diag_done(&d);
		return r;
	}
	r = kube_source_wait_synced(a->sources[0].src, a->loop, 60 * NS_PER_SEC, &d);
	log_diag(&d);
	diag_done(&d);
	return r;
}

/* --write-config-to: the effective configuration, as kube-proxy writes it; an exit status. */
static int write_config(struct run_cfg *cfg)
{
	struct sbuf out = { 0 };
	bool to_stdout = streq(cfg->write_config_to, "-");
	FILE *f = to_stdout ? stdout : fopen(cfg->write_config_to, "we");
	int ret = 0;

	if (!f) {
		log_startup_error("kroute run: cannot write %s: %s", cfg->write_config_to,
				  strerror(errno));
		return EXIT_FAILURE;
	}
	run_cfg_write_config(cfg, &out);
	if (fwrite(out.p, 1, out.len, f) != out.len || fflush(f) != 0 || ferror(f))
		ret = -errno;
	if (!to_stdout && fclose(f) != 0 && !ret)
		ret = -errno;
	sbuf_free(&out);
	if (ret) {
		log_startup_error("kroute run: cannot write %s: %s", cfg->write_config_to,
				  strerror(-ret));
		return EXIT_FAILURE;
	}
	if (!to_stdout)
		log_line("wrote the configuration to %s", cfg->write_config_to);
	return 0;
}

/*
 * --once exits right after its one sync.  Freeing what it built (the view,
 * the store, the data plane's mirror) one object at a time took 0.2-0.3 s at
 * 10,000 services, longer than the process's exit takes to return all of it
 * at once; a daemon that keeps running never pays it.  So --once leaves them
 * to the exit, except in sanitizer builds: there everything is freed, so the
 * leak checks still see every allocation.  Only here; nothing else skips
 * freeing.
 */
#if defined(__SANITIZE_ADDRESS__)
#define FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
#define FREE_AT_EXIT 1
#endif
#endif
#ifndef FREE_AT_EXIT
#define FREE_AT_EXIT 0
#endif

int run_main(int argc, char **argv)
{
	struct run_cfg cfg;
	struct agent a = { .cfg = &cfg };
	int r, ret = EXIT_FAILURE;

	store_init(&a.store);
	r = run_cfg_init(&cfg);
	if (r == 0)
		r = parse_run_args(argc, argv, &cfg);
	/* The config file's messages in the format it (or a flag) asked for. */
	log_setup(cfg.verbosity, cfg.log_format);
	log_diag(&cfg.diag);
	if (r) {
		ret = r > 0 ? 0 : EXIT_USAGE;
		goto out;
	}
	if (cfg.write_config_to) {
		ret = write_config(&cfg);
		goto out;
	}
	run_cfg_log_config(&cfg, 2);
	a.ops = cfg.ops;
	r = a.ops->new(&cfg.dp, &a.dp);
	if (r < 0) {
		log_startup_error("kroute run: cannot start the %s data plane: %s", cfg.mode,
			strerror(-r));
		goto out;
	}
	serve_init(&a.serve, &cfg.serve, cfg.mode, a.ops, a.dp);
	r = add_source(&a);
	if (r < 0)
		goto out;
	if (cfg.once && cfg.api) {
		r = list_once(&a);
		if (r < 0) {
			ret = EXIT_FAILURE;
			goto out;
		}
	}
	if (cfg.once) {
		r = do_sync(&a, true);
		ret = r == 0 && !any_source_bad(&a) ? 0 : (any_source_bad(&a) ? EXIT_USAGE : EXIT_FAILURE);
		if (!FREE_AT_EXIT) {
			/* The health servers and the sources hold sockets and fds: closed by the exit. */
			fflush(NULL);
			return ret;
		}
		goto out;
	}
	if (!a.loop && setup_loop(&a) < 0)
		goto out;
	if (cfg.api)
		log_line("running: mode %s, node %s, the Kubernetes API (%s), min-sync-period %.3fs,"
			 " sync-period %.3fs", cfg.mode, cfg.node,
			 cfg.kubeconfig ? cfg.kubeconfig : cfg.master ? cfg.master : "in-cluster",
			 (double)cfg.min_sync_period_ns / 1e9, (double)cfg.sync_period_ns / 1e9);
	else
		log_line("running: mode %s, node %s, %zu path(s), min-sync-period %.3fs, sync-period %.3fs",
		      cfg.mode, cfg.node, cfg.n_paths, (double)cfg.min_sync_period_ns / 1e9,
		      (double)cfg.sync_period_ns / 1e9);
	r = loop_run(a.loop);
	if (r < 0)
		log_error("the event loop failed: %s; exiting, rules stay in place", strerror(-r));
	ret = r < 0 ? EXIT_FAILURE : r;
out:
	serve_done(&a.serve); /* its servers leave the loop before the loop goes */
	for (size_t i = 0; i < a.n_sources; i++)
		a.sources[i].src->ops->free(a.sources[i].src);
	loop_timer_free(a.sync_tm);
	loop_free(a.loop);
	if (a.dp)
		a.ops->free(a.dp);
	node_view_free(a.view);
	store_done(&a.store);
	run_cfg_done(&cfg);
	return ret;
}

static const char cleanup_usage[] =
	"usage: kroute cleanup [--kube-proxy]\n"
	"\n"
	"Removes every rule, chain and set kroute installed in this network\n"
	"namespace, for every mode, and nothing else.\n"
	"\n"
	"  --kube-proxy   instead, remove what `kube-proxy --cleanup` removes: its\n"
	"                 iptables and IPVS modes' chains (KUBE-SERVICES, KUBE-SVC-*, ...,\n"
	"                 KUBE-PROXY-CANARY) and the jumps to them, its nftables tables\n"
	"                 (ip and ip6 kube-proxy) and the kube-ipvs0 link.  The iptables\n"
	"                 mode's chains have the same names as kroute's iptables mode's:\n"
	"                 run it before kroute starts on the node (docs/deploy.md).\n";

int cleanup_main(int argc, char **argv)
{
	bool kube_proxy = false;
	struct dp_opts opts;
	struct diag d;
	char err[512];
	int ret = 0;

	/* Every argument is checked before anything is removed: a typo must not clean up. */
	for (int i = 1; i < argc; i++) {
		if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
			fputs(cleanup_usage, stdout);
			return 0;
		}
		if (streq(argv[i], "--kube-proxy")) {
			kube_proxy = true;
			continue;
		}
		fprintf(stderr, "kroute cleanup: unknown argument \"%s\"\n%s", argv[i],
			cleanup_usage);
		return EXIT_USAGE;
	}
	/* The defaults kroute run starts from, so cleanup finds what run installed. */
	if (dp_opts_init(&opts, err, sizeof(err)) < 0) {
		fprintf(stderr, "kroute cleanup: %s\n", err);
		return EXIT_USAGE;
	}
	diag_init(&d);
	if (kube_proxy) {
		if (kube_proxy_cleanup(&opts, &d) < 0)
			ret = EXIT_FAILURE;
		goto out;
	}
	for (size_t i = 0; dataplane_all[i]; i++) {
		void *mode_opts;

		if (dp_mode_opts_new(dataplane_all[i], &mode_opts, err, sizeof(err)) < 0) {
			diag_add(&d, DIAG_ERROR, NULL, 0, NULL, NULL, "%s", err);
			ret = EXIT_USAGE;
			continue;
		}
		opts.mode_opts = mode_opts;
		if (dataplane_all[i]->cleanup && dataplane_all[i]->cleanup(&opts, &d) < 0)
			ret = EXIT_FAILURE;
		free(mode_opts);
	}
out:
	diag_print(&d, stderr);
	diag_done(&d);
	return ret;
}
