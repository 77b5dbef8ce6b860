/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --mode userspace: an L4 proxy in worker threads, reconciled to
 * every node view.  new() only allocates; the first sync starts the proxy
 * (us_start: RLIMIT_NOFILE, worker threads, the status writer, the policy
 * routing).  A sync then runs in two halves, so that a failure leaves the
 * previous state as it was:
 *  1. everything that can fail, before anything anyone can see changes:
 *     the plan and the nft script (pure), a socket for every new listener
 *     (bound, not yet served), kroute0's new addresses (added only), and
 *     the nft table (replaced in one transaction).  A failure here closes
 *     the new sockets and puts kroute0's addresses back as they were.
 *  2. what cannot fail: the proxy services are updated in place
 *     (connections and counters survive), new sockets go to the workers
 *     before old ones are retired (an address is never unserved), and
 *     stale addresses leave kroute0 last.
 * See docs/userspace.md and README.md (threads, and who prints).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/diag.h"
#include "core/log.h"
#include "core/util.h"
#include "dataplane/dataplane.h"
#include "dataplane/userspace/capture.h"
#include "dataplane/userspace/options.h"
#include "dataplane/userspace/plan.h"
#include "dataplane/userspace/proxy.h"
#include "dataplane/userspace/status.h"
#include "dataplane/userspace/worker.h"

#define US_MAX_WORKERS 64
#define US_LISTEN_BACKLOG 4096

struct dataplane {
	struct us_dp us;
	struct us_status *status;
	const char *status_file;    /* --userspace-status-file (borrowed from the options), NULL = none */
	struct dp_stats stats;
	bool started;               /* us_start has run: threads exist */
	bool tproxy_ready;          /* the fwmark routing for transparent sockets is in place */
	bool tproxy_failed;
	char *nft_applied;          /* the last script nft accepted: unchanged means no exec */
};

/* The sockets of a plan listener, opened in the first half of a sync. */
struct new_listener {
	char *ident;                /* owned until the listener takes it */
	int *fds;                   /* one per worker; NULL when it exists already */
	bool skip;                  /* cannot listen there (warned): not served */
};

static void log_one(const char *line, void *arg)
{
	(void)arg;
	log_line("%s", line);
}

/* The proxy threads' lines, logged on the agent's thread (this one). */
static void drain_log(struct dataplane *dp)
{
	us_logq_drain(&dp->us.logq, log_one, NULL);
}

static int us_event_fd(const struct dataplane *dp)
{
	return dp->us.logq.efd;
}

static void us_on_event(struct dataplane *dp)
{
	drain_log(dp);
}

static void raise_nofile(struct diag *d)
{
	struct rlimit rl;

	/* A proxy holds 6 fds per TCP connection (2 sockets, 2 pipes): take what is allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
				 "userspace: cannot raise RLIMIT_NOFILE to %llu: %s",
				 (unsigned long long)rl.rlim_max, strerror(errno));
	}
}

/* Allocates only: no thread, no limit, no kernel state (the first sync starts the proxy). */
static int us_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));
	struct us_dp *u = &dp->us;
	const struct us_mode_opts *mo = opts->mode_opts;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	u->opts = *opts;
	u->grace_ns = mo->grace_ns;
	u->udp_timeout_ns = mo->udp_timeout_ns;
	u->connect_timeout_ns = mo->connect_timeout_ns;
	u->eject_ns = mo->eject_ns;
	dp->status_file = mo->status_file;
	u->n_workers = mo->workers ? mo->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	if (u->n_workers > US_MAX_WORKERS)
		u->n_workers = US_MAX_WORKERS;
	/* The event fd must exist from new() on (dataplane.h); an eventfd is only memory. */
	r = us_logq_init(&u->logq, 0);
	if (r < 0) {
		free(dp);
		return r;
	}
	pthread_mutex_init(&u->reg_lock, NULL);
	strmap_init(&u->svcs);
	strmap_init(&u->listeners);
	u->workers = xcalloc(u->n_workers, sizeof(*u->workers));
	*ret = dp;
	return 0;
}

static void stop_workers(struct us_dp *u)
{
	for (unsigned i = 0; i < u->n_workers; i++) {
		if (u->workers[i])
			us_worker_stop(u->workers[i]);
		u->workers[i] = NULL;
	}
}

static void us_free(struct dataplane *dp)
{
	struct us_dp *u = &dp->us;

	us_status_stop(dp->status);
	stop_workers(u);
	/* Whatever the workers said last (they are gone: nothing is pushed any more). */
	drain_log(dp);
	for (size_t i = 0; i < u->n_ls; i++)
		us_listener_unref(u->ls_list[i]);
	for (size_t i = 0; i < u->n_svcs; i++)
		us_svc_unref(u->svc_list[i]);
	strmap_done(&u->svcs);
	strmap_done(&u->listeners);
	us_snap_unref(u->snap);
	pthread_mutex_destroy(&u->reg_lock);
	us_logq_done(&u->logq);
	free(u->ls_list);
	free(u->svc_list);
	free(u->workers);
	free(dp->nft_applied);
	free(dp);
}

/*
 * The policy routing that brings replies back to transparent sockets.  The
 * first attempt decides whether client addresses can be kept at all; a
 * full sync checks again, in case someone removed it.  Never fails a sync.
 */
static void tproxy_routing(struct dataplane *dp, struct diag *d, uint64_t *t_kernel)
{
	struct diag tmp;
	uint64_t t = mono_ns();
	int r;

	diag_init(&tmp);
	r = us_capture_tproxy_routing(&dp->us.opts, &tmp);
	*t_kernel += mono_ns() - t;
	if (r == 0) {
		dp->tproxy_ready = true;
	} else if (dp->tproxy_ready) {
		/* It worked before: keep preserving sources, say what failed now. */
		diag_move(d, &tmp);
	} else {
		dp->tproxy_failed = true;
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "userspace: no policy routing for transparent sockets, so client source IPs cannot be preserved; every flow is masqueraded");
		diag_move(d, &tmp);
	}
	diag_done(&tmp);
}

/*
 * The proxy's process and kernel effects that do not depend on the view,
 * made once, by the first sync: RLIMIT_NOFILE (before the workers copy the
 * fd table), the worker threads, the status writer and the policy routing.
 * A worker that cannot start fails the sync with no thread left running.
 */
static int us_start(struct dataplane *dp, struct diag *d, uint64_t *t_kernel)
{
	struct us_dp *u = &dp->us;
	int r;

	raise_nofile(d);
	for (unsigned i = 0; i < u->n_workers; i++) {
		r = us_worker_start(u, i, &u->workers[i]);
		if (r < 0) {
			diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
				 "userspace: cannot start worker %u: %s", i, strerror(-r));
			stop_workers(u);
			return r;
		}
	}
	if (dp->status_file) {
		r = us_status_start(u, dp->status_file, &dp->status);
		if (r < 0)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
				 "userspace: cannot start the status writer: %s", strerror(-r));
	}
	tproxy_routing(dp, d, t_kernel);
	dp->started = true;
	return 0;
}

/* The proxy threads' counters (proxy.h), read without their locks: each is one atomic. */
#define US_METRIC(field, is_counter, metric, text)                                              \
	{ .name = metric, .help = text, .counter = is_counter,                                  \
	  .offset = offsetof(struct us_counters, field) }

static const struct {
	const char *name, *help;
	bool counter;
	size_t offset;
} us_metrics[] = {
	US_METRIC(tcp_accepted, true, "kroute_userspace_tcp_accepted_total", "TCP connections accepted"),
	US_METRIC(tcp_active, false, "kroute_userspace_tcp_active", "TCP connections being relayed"),
	US_METRIC(tcp_connect_failures, true, "kroute_userspace_tcp_connect_failures_total",
		  "connects to an endpoint that failed"),
	US_METRIC(tcp_retries, true, "kroute_userspace_tcp_retries_total",
		  "connections retried on another endpoint after a failed connect"),
	US_METRIC(tcp_no_endpoint, true, "kroute_userspace_tcp_no_endpoint_total",
		  "TCP connections refused for want of an endpoint"),
	US_METRIC(tcp_grace_closed, true, "kroute_userspace_tcp_grace_closed_total",
		  "connections to removed endpoints closed after the grace period"),
	US_METRIC(udp_sessions_active, false, "kroute_userspace_udp_sessions_active",
		  "UDP sessions open"),
	US_METRIC(udp_sessions_total, true, "kroute_userspace_udp_sessions_total",
		  "UDP sessions opened"),
	US_METRIC(udp_rx, true, "kroute_userspace_udp_rx_packets_total",
		  "UDP datagrams received from clients"),
	US_METRIC(udp_tx, true, "kroute_userspace_udp_tx_packets_total",
		  "UDP datagrams sent back to clients"),
	US_METRIC(udp_moved, true, "kroute_userspace_udp_moved_total",
		  "UDP sessions moved off a removed endpoint"),
	US_METRIC(udp_dropped, true, "kroute_userspace_udp_dropped_total",
		  "UDP datagrams dropped (no endpoint, send buffer full)"),
	US_METRIC(udp_shed, true, "kroute_userspace_udp_shed_total",
		  "UDP sessions closed early to free file descriptors"),
	US_METRIC(ejections, true, "kroute_userspace_ejections_total",
		  "endpoints ejected by passive health checking"),
	US_METRIC(fd_exhausted, true, "kroute_userspace_fd_exhausted_total",
		  "accepts or connects that failed for want of file descriptors"),
};

static void us_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
	for (size_t i = 0; i < ARRAY_SIZE(us_metrics) && i < DP_MAX_METRICS; i++) {
		const atomic_ullong *v = (const atomic_ullong *)((const char *)&dp->us.ctr +
								  us_metrics[i].offset);

		ret->metrics[i] = (struct dp_metric){ .name = us_metrics[i].name,
						      .help = us_metrics[i].help,
						      .counter = us_metrics[i].counter,
						      .value = atomic_load_explicit(v, memory_order_relaxed) };
		ret->n_metrics = i + 1;
	}
}

static int us_cleanup(const struct dp_opts *opts, struct diag *d)
{
	return us_capture_cleanup(opts, d);
}

/* The node addresses that take NodePorts: --nodeport-addresses, else all of them. */
static void nodeport_addrs(const struct dp_opts *o, struct addr **ret, size_t *ret_n)
{
	struct addr *all;
	size_t n_all, w = 0;

	us_capture_local_addrs(false, &all, &n_all);
	for (size_t i = 0; i < n_all; i++) {
		const struct addr *a = &all[i];
		bool keep;

		if (o->n_nodeport_cidrs) {
			keep = false;
			for (size_t k = 0; k < o->n_nodeport_cidrs && !keep; k++)
				keep = cidr_contains(&o->nodeport_cidrs[k], a);
		} else if (a->family == AF_INET && a->bytes[0] == 127) {
			/* kube-proxy answers NodePorts on 127.0.0.1 (and not ::1). */
			keep = o->localhost_nodeports && a->bytes[1] == 0 && a->bytes[2] == 0 &&
			       a->bytes[3] == 1;
		} else {
			static const uint8_t v6_lo[16] = { [15] = 1 };

			keep = !(a->family == AF_INET6 && !memcmp(a->bytes, v6_lo, 16));
		}
		if (keep)
			all[w++] = *a;
	}
	*ret = all;
	*ret_n = w;
}

/* A bound (UDP) or listening (TCP) socket for pl; a negative errno when impossible. */
static int open_listener(const struct us_plan_listener *pl)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd = socket(pl->addr.family, (pl->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) |
						 SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -errno;
	us_addr_to_sockaddr(&pl->addr, pl->port, &sa, &salen);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One socket per worker; the kernel spreads flows over them by hash. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (pl->addr.family == AF_INET6) {
		(void)setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		(void)setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	} else {
		/* The VIP may reach kroute0 a moment later (or a node address come back). */
		(void)setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	}
	if (bind(fd, (const struct sockaddr *)&sa, salen) < 0)
		goto fail;
	/*
	 * No Nagle on either side of a relay: bytes are forwarded as they
	 * come, and Nagle would hold a client's second small write until the
	 * backend ACKs the first (up to its 40 ms delayed ACK), a stall the
	 * client avoided with its own TCP_NODELAY.  Accepted sockets inherit
	 * it from the listener (Linux copies the flag on accept).
	 */
	if (pl->proto == IPPROTO_TCP)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (pl->proto == IPPROTO_TCP && listen(fd, US_LISTEN_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	err = errno;
	close(fd);
	return -err;
}

static char *listener_ident(const struct us_plan *p, const struct us_plan_listener *pl, bool masq_all)
{
	char a[ADDR_PORT_STRLEN];

	addr_port_format(&pl->addr, pl->port, a);
	return xasprintf("%d %s %d %s %s %d %d", pl->proto, a, (int)pl->kind,
			 pl->svc == US_NO_SVC ? "-" : p->svcs[pl->svc].key,
			 pl->svc_cluster == US_NO_SVC ? "-" : p->svcs[pl->svc_cluster].key,
			 pl->preserve_external, masq_all);
}

static struct us_svc *svc_lookup(struct us_dp *u, const struct us_plan *p, size_t idx)
{
	struct us_svc *s;

	if (idx == US_NO_SVC)
		return NULL;
	s = strmap_get(&u->svcs, p->svcs[idx].key);
	us_svc_ref(s);
	return s;
}

/* Whether a socket error is the process's (out of fds or memory) rather than this address's. */
static bool resource_error(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

static void close_new_listeners(struct new_listener *nl, size_t n, unsigned n_workers)
{
	for (size_t i = 0; i < n; i++) {
		for (unsigned k = 0; nl[i].fds && k < n_workers; k++)
			if (nl[i].fds[k] >= 0)
				close(nl[i].fds[k]);
		free(nl[i].fds);
		free(nl[i].ident);
	}
	free(nl);
}

/*
 * First half of a sync: one socket per worker for every plan listener that
 * does not exist yet, bound but not yet served.  An address that cannot be
 * listened on (in use by another program, say) is a warning and is not
 * served, as before; running out of fds or memory fails the sync (-errno)
 * with every new socket closed again.
 */
static int open_new_listeners(struct dataplane *dp, const struct us_plan *p,
			      struct new_listener **ret, struct diag *d)
{
	struct us_dp *u = &dp->us;
	struct new_listener *nl = xcalloc(p->n_ls + 1, sizeof(*nl));
	bool masq_base = u->opts.masquerade_all || dp->tproxy_failed;

	for (size_t i = 0; i < p->n_ls; i++) {
		nl[i].ident = listener_ident(p, &p->ls[i], masq_base);
		if (strmap_get(&u->listeners, nl[i].ident))
			continue;
		nl[i].fds = xcalloc(u->n_workers, sizeof(*nl[i].fds));
		for (unsigned k = 0; k < u->n_workers; k++)
			nl[i].fds[k] = -1;
		for (unsigned k = 0; k < u->n_workers; k++) {
			int fd = open_listener(&p->ls[i]);

			if (fd >= 0) {
				nl[i].fds[k] = fd;
				continue;
			}
			if (resource_error(-fd)) {
				diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
					 "userspace: %s: cannot open a listener socket: %s",
					 p->ls[i].name, strerror(-fd));
				close_new_listeners(nl, i + 1, u->n_workers);
				return fd;
			}
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
				 "userspace: %s: cannot listen: %s; not served on this node",
				 p->ls[i].name, strerror(-fd));
			nl[i].skip = true;
			break;
		}
	}
	*ret = nl;
	return 0;
}

/* The listener for pl with its sockets fds (which the workers take). */
static struct us_listener *listener_new(struct dataplane *dp, const struct us_plan *p,
					const struct us_plan_listener *pl, struct new_listener *nl,
					bool masq_all)
{
	struct us_dp *u = &dp->us;
	struct us_listener *l = xcalloc(1, sizeof(*l));

	atomic_init(&l->refs, 1);
	l->ident = nl->ident;
	nl->ident = NULL;
	l->name = xstrdup(pl->name);
	l->proto = pl->proto;
	l->family = pl->addr.family;
	us_addr_to_sockaddr(&pl->addr, pl->port, &l->sa, &l->salen);
	l->kind = pl->kind;
	l->preserve_external = pl->preserve_external;
	l->masquerade_all = masq_all;
	l->svc = svc_lookup(u, p, pl->svc);
	l->svc_cluster = svc_lookup(u, p, pl->svc_cluster);
	l->per_worker = xcalloc(u->n_workers, sizeof(*l->per_worker));
	for (unsigned i = 0; i < u->n_workers; i++) {
		l->per_worker[i] = us_worker_add_listener(u->workers[i], l, nl->fds[i]);
		nl->fds[i] = -1; /* the worker's now */
	}
	return l;
}

static void sync_svcs(struct us_dp *u, const struct us_plan *p, uint64_t now)
{
	size_t w = 0;

	pthread_mutex_lock(&u->reg_lock);
	for (size_t i = 0; i < p->n_svcs; i++) {
		struct us_svc *s = strmap_get(&u->svcs, p->svcs[i].key);

		if (!s) {
			s = us_svc_new(u, &p->svcs[i]);
			VEC_PUSH(u->svc_list, u->n_svcs, u->cap_svcs, s);
			strmap_put(&u->svcs, s->key, s);
		}
		us_svc_update(s, &p->svcs[i], now);
	}
	for (size_t i = 0; i < u->n_svcs; i++) {
		uintptr_t in_plan = (uintptr_t)strmap_get(&p->svc_index, u->svc_list[i]->key);

		if (in_plan) {
			u->svc_list[w++] = u->svc_list[i];
			continue;
		}
		/* Connections keep it alive (their references) while they wind down. */
		strmap_del(&u->svcs, u->svc_list[i]->key, NULL);
		us_svc_retire(u->svc_list[i], now);
		us_svc_unref(u->svc_list[i]);
	}
	u->n_svcs = w;
	pthread_mutex_unlock(&u->reg_lock);
}

/*
 * Second half: new sockets go to the workers first (both generations share
 * the port through SO_REUSEPORT for a moment), then listeners that left
 * the plan are retired.  Cannot fail.
 */
static void commit_listeners(struct dataplane *dp, const struct us_plan *p, struct new_listener *nl)
{
	struct us_dp *u = &dp->us;
	struct us_listener **keep = xcalloc(p->n_ls + 1, sizeof(*keep));
	struct strmap wanted;
	size_t n_keep = 0;
	bool masq_base = u->opts.masquerade_all || dp->tproxy_failed;

	strmap_init(&wanted);
	for (size_t i = 0; i < p->n_ls; i++) {
		struct us_listener *l;

		if (nl[i].skip)
			continue;
		l = nl[i].fds ? listener_new(dp, p, &p->ls[i], &nl[i], masq_base)
			      : strmap_get(&u->listeners, nl[i].ident);
		/* The plan's listeners are unique by proto, address and port, which idents contain. */
		strmap_put(&wanted, l->ident, l);
		keep[n_keep++] = l;
	}
	pthread_mutex_lock(&u->reg_lock);
	for (size_t i = 0; i < u->n_ls; i++) {
		struct us_listener *l = u->ls_list[i];

		if (strmap_get(&wanted, l->ident))
			continue;
		for (unsigned k = 0; k < u->n_workers; k++)
			us_worker_del_listener(u->workers[k], l->per_worker[k]);
		us_listener_unref(l);
	}
	free(u->ls_list);
	u->ls_list = keep;
	u->n_ls = n_keep;
	strmap_done(&u->listeners);
	u->listeners = wanted;
	pthread_mutex_unlock(&u->reg_lock);
}

/* The node's addresses, handed to the workers only when they changed (a wakeup each otherwise). */
static void update_snap(struct us_dp *u)
{
	struct us_snap *snap = xcalloc(1, sizeof(*snap));

	atomic_init(&snap->refs, 1);
	us_capture_local_addrs(true, &snap->local, &snap->n_local);
	us_snap_sort(snap);
	if (us_snap_same(snap, u->snap)) {
		us_snap_unref(snap);
		return;
	}
	for (unsigned i = 0; i < u->n_workers; i++)
		us_worker_set_snap(u->workers[i], snap);
	us_snap_unref(u->snap);
	u->snap = snap;
}

/*
 * First half, the kernel part: kroute0 gets the plan's new addresses (none
 * removed yet), then the nft table is replaced when its script changed (a
 * full sync rewrites it anyway, in case someone changed it).  On failure
 * kroute0's addresses are put back as they were (the table is either
 * replaced whole or not at all).
 */
static int apply_kernel(struct dataplane *dp, const struct us_plan *p, const char *script,
			bool full, struct diag *d, uint64_t *t_kernel)
{
	const struct dp_opts *o = &dp->us.opts;
	uint64_t t = mono_ns();
	struct addr *before;
	size_t n_before;
	bool created;
	int r;

	us_capture_vips_now(&before, &n_before);
	r = us_capture_vips(o, p->vips, p->n_vips, false, &created, d);
	if (r == 0 && (full || !dp->nft_applied || !streq(dp->nft_applied, script)))
		r = us_capture_nft(o, script, d);
	if (r < 0 && us_capture_vips_restore(o, before, n_before, created, d) < 0)
		diag_add(d, DIAG_ERROR, NULL, 0, NULL, NULL,
			 "userspace: could not put the addresses of " US_IFNAME " back as they were");
	free(before);
	*t_kernel += mono_ns() - t;
	return r;
}

static int us_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	struct us_dp *u = &dp->us;
	uint64_t t0 = mono_ns(), t_kernel = 0, t;
	struct us_plan plan;
	struct us_plan_in in = { .view = v, .masquerade_all = u->opts.masquerade_all };
	struct new_listener *nl = NULL;
	struct addr *np;
	size_t n_np;
	char *script;
	bool starting = !dp->started;
	int r;

	/* Until the agent's loop watches the event fd, a sync is where the lines get logged. */
	drain_log(dp);
	if (starting) {
		r = us_start(dp, d, &t_kernel);
		if (r < 0) {
			dp->stats.failures++;
			return r;
		}
	}
	nodeport_addrs(&u->opts, &np, &n_np);
	in.nodeport_addrs = np;
	in.n_nodeport_addrs = n_np;
	us_plan_build(&in, &plan);
	free(np);
	if (full)
		for (size_t i = 0; i < plan.n_notes; i++)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL, "userspace: %s", plan.notes[i]);
	script = us_plan_nft(&plan, u->opts.cluster_cidrs, u->opts.n_cluster_cidrs, US_TPROXY_MARK);
	/* The first half: what can fail, before anything visible changes. */
	r = open_new_listeners(dp, &plan, &nl, d);
	if (r == 0) {
		r = apply_kernel(dp, &plan, script, full, d, &t_kernel);
		if (r < 0)
			close_new_listeners(nl, plan.n_ls, u->n_workers);
	}
	if (r < 0) {
		free(script);
		dp->stats.failures++;
		us_plan_done(&plan);
		return r;
	}
	free(dp->nft_applied);
	dp->nft_applied = script;
	/* The second half: nothing below fails the sync. */
	if (!starting && full && dp->tproxy_ready)
		tproxy_routing(dp, d, &t_kernel);
	sync_svcs(u, &plan, t0);
	commit_listeners(dp, &plan, nl);
	close_new_listeners(nl, plan.n_ls, u->n_workers);
	update_snap(u);
	/* Stale addresses last, after their listeners; left for the next sync if ip fails. */
	t = mono_ns();
	if (us_capture_vips(&u->opts, plan.vips, plan.n_vips, true, &(bool){ false }, d) < 0)
		diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
			 "userspace: stale addresses stay on " US_IFNAME " until the next sync removes them");
	t_kernel += mono_ns() - t;
	dp->stats.syncs++;
	if (full)
		dp->stats.full_syncs++;
	else
		dp->stats.partial_syncs++;
	dp->stats.rules = u->n_ls;
	dp->stats.chains = u->n_svcs;
	dp->stats.last_sync_ns = mono_ns() - t0;
	dp->stats.last_kernel_ns = t_kernel;
	us_plan_done(&plan);
	return 0;
}

const struct dataplane_ops dp_userspace_ops = {
	.name = "userspace",
	.new = us_new,
	.sync = us_sync,
	.cleanup = us_cleanup,
	.stats = us_stats,
	.free = us_free,
	.event_fd = us_event_fd,
	.on_event = us_on_event,
	.options = &us_mode_options,
};
