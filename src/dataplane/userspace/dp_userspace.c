/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run --mode userspace: an L4 proxy in worker threads, reconciled to
 * every node view.  A sync builds the plan (plan.c), applies the kernel
 * help (capture.c: VIPs on kroute0 first, then the nft table), updates the
 * proxy services in place (svc.c; connections and counters survive), and
 * then hands new listener sockets to the workers before retiring old ones,
 * so an address never goes unserved across a sync.  See docs/userspace.md.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/diag.h"
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
	struct dp_stats stats;
	bool tproxy_ready;          /* the fwmark routing for transparent sockets is in place */
	bool tproxy_failed;
	char *nft_applied;          /* the last script nft accepted: unchanged means no exec */
};

static void raise_nofile(void)
{
	struct rlimit rl;

	/* A proxy holds 6 fds per TCP connection (2 sockets, 2 pipes): take what is allowed. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_line("userspace: cannot raise RLIMIT_NOFILE to %llu: %s",
			       (unsigned long long)rl.rlim_max, strerror(errno));
	}
}

static void us_free(struct dataplane *dp);

static int us_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));
	struct us_dp *u = &dp->us;
	const struct us_mode_opts *mo = opts->mode_opts;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	raise_nofile();
	u->opts = *opts;
	u->grace_ns = mo->grace_ns;
	u->udp_timeout_ns = mo->udp_timeout_ns;
	u->connect_timeout_ns = mo->connect_timeout_ns;
	u->eject_ns = mo->eject_ns;
	u->n_workers = mo->workers ? mo->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
	if (u->n_workers > US_MAX_WORKERS)
		u->n_workers = US_MAX_WORKERS;
	pthread_mutex_init(&u->reg_lock, NULL);
	strmap_init(&u->svcs);
	strmap_init(&u->listeners);
	u->workers = xcalloc(u->n_workers, sizeof(*u->workers));
	for (unsigned i = 0; i < u->n_workers; i++) {
		u->workers[i] = us_worker_start(u, i);
		if (!u->workers[i]) {
			u->n_workers = i;
			us_free(dp);
			return -EAGAIN;
		}
	}
	if (mo->status_file)
		dp->status = us_status_start(u, mo->status_file);
	*ret = dp;
	return 0;
}

static void us_free(struct dataplane *dp)
{
	struct us_dp *u = &dp->us;

	us_status_stop(dp->status);
	for (unsigned i = 0; i < u->n_workers; i++)
		us_worker_stop(u->workers[i]);
	for (size_t i = 0; i < u->n_ls; i++)
		us_listener_unref(u->ls_list[i]);
	for (size_t i = 0; i < u->n_svcs; i++)
		us_svc_unref(u->svc_list[i]);
	strmap_done(&u->svcs);
	strmap_done(&u->listeners);
	us_snap_unref(u->snap);
	pthread_mutex_destroy(&u->reg_lock);
	free(u->ls_list);
	free(u->svc_list);
	free(u->workers);
	free(dp->nft_applied);
	free(dp);
}

static void us_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
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

static int open_listener(const struct us_listener *l)
{
	int fd = socket(l->family, (l->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) |
					   SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* One socket per worker; the kernel spreads flows over them by hash. */
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		goto fail;
	if (l->family == AF_INET6) {
		(void)setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		(void)setsockopt(fd, SOL_IPV6, IPV6_FREEBIND, &one, sizeof(one));
	} else {
		/* The VIP may reach kroute0 a moment later (or a node address come back). */
		(void)setsockopt(fd, SOL_IP, IP_FREEBIND, &one, sizeof(one));
	}
	if (bind(fd, (const struct sockaddr *)&l->sa, l->salen) < 0)
		goto fail;
	/*
	 * No Nagle on either side of a relay: bytes are forwarded as they
	 * come, and Nagle would hold a client's second small write until the
	 * backend ACKs the first (up to its 40 ms delayed ACK), a stall the
	 * client avoided with its own TCP_NODELAY.  Accepted sockets inherit
	 * it from the listener (Linux copies the flag on accept).
	 */
	if (l->proto == IPPROTO_TCP)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (l->proto == IPPROTO_TCP && listen(fd, US_LISTEN_BACKLOG) < 0)
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

/* Creates the listener and its per-worker sockets; NULL (with a warning) when it cannot bind. */
static struct us_listener *listener_new(struct dataplane *dp, const struct us_plan *p,
					const struct us_plan_listener *pl, char *ident, bool masq_all,
					struct diag *d)
{
	struct us_dp *u = &dp->us;
	struct us_listener *l = xcalloc(1, sizeof(*l));
	int *fds = xcalloc(u->n_workers, sizeof(*fds));

	atomic_init(&l->refs, 1);
	l->ident = ident;
	l->name = xstrdup(pl->name);
	l->proto = pl->proto;
	l->family = pl->addr.family;
	us_addr_to_sockaddr(&pl->addr, pl->port, &l->sa, &l->salen);
	l->kind = pl->kind;
	l->preserve_external = pl->preserve_external;
	l->masquerade_all = masq_all;
	l->svc = svc_lookup(u, p, pl->svc);
	l->svc_cluster = svc_lookup(u, p, pl->svc_cluster);
	for (unsigned i = 0; i < u->n_workers; i++) {
		fds[i] = open_listener(l);
		if (fds[i] < 0) {
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
				 "userspace: %s: cannot listen: %s; not served on this node",
				 pl->name, strerror(-fds[i]));
			for (unsigned k = 0; k < i; k++)
				close(fds[k]);
			free(fds);
			us_listener_unref(l);
			return NULL;
		}
	}
	l->per_worker = xcalloc(u->n_workers, sizeof(*l->per_worker));
	for (unsigned i = 0; i < u->n_workers; i++)
		l->per_worker[i] = us_worker_add_listener(u->workers[i], l, fds[i]);
	free(fds);
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

static void sync_listeners(struct dataplane *dp, const struct us_plan *p, struct diag *d)
{
	struct us_dp *u = &dp->us;
	struct us_listener **keep = xcalloc(p->n_ls + 1, sizeof(*keep));
	struct strmap wanted;
	size_t n_keep = 0;
	bool masq_base = u->opts.masquerade_all || dp->tproxy_failed;

	strmap_init(&wanted);
	/* New sockets first: both generations share the port (SO_REUSEPORT) for a moment. */
	for (size_t i = 0; i < p->n_ls; i++) {
		char *ident = listener_ident(p, &p->ls[i], masq_base);
		struct us_listener *l = strmap_get(&u->listeners, ident);

		if (l) {
			free(ident);
		} else {
			l = listener_new(dp, p, &p->ls[i], ident, masq_base, d);
			if (!l)
				continue;
		}
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

static int us_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	struct us_dp *u = &dp->us;
	uint64_t t0 = mono_ns();
	struct us_plan plan;
	struct us_plan_in in = { .view = v, .masquerade_all = u->opts.masquerade_all };
	struct addr *np;
	size_t n_np;
	struct us_snap *snap;
	char *script;
	uint64_t t_kernel = 0, t;
	int r;

	nodeport_addrs(&u->opts, &np, &n_np);
	in.nodeport_addrs = np;
	in.n_nodeport_addrs = n_np;
	us_plan_build(&in, &plan);
	free(np);
	if (full)
		for (size_t i = 0; i < plan.n_notes; i++)
			diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL, "userspace: %s", plan.notes[i]);
	/* Addresses before listeners; stale ones go last, after their listeners. */
	t = mono_ns();
	r = us_capture_vips(&u->opts, plan.vips, plan.n_vips, true, d);
	t_kernel += mono_ns() - t;
	if (r < 0)
		goto fail;
	/* A full sync checks the routing again, in case someone removed it. */
	if (!dp->tproxy_failed && (full || !dp->tproxy_ready)) {
		struct diag tmp;

		diag_init(&tmp);
		t = mono_ns();
		r = us_capture_tproxy_routing(&u->opts, &tmp);
		t_kernel += mono_ns() - t;
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
	script = us_plan_nft(&plan, u->opts.cluster_cidrs, u->opts.n_cluster_cidrs, US_TPROXY_MARK);
	/* A full sync rewrites the table anyway, in case someone changed it. */
	if (full || !dp->nft_applied || !streq(dp->nft_applied, script)) {
		t = mono_ns();
		r = us_capture_nft(&u->opts, script, d);
		t_kernel += mono_ns() - t;
		if (r < 0) {
			free(script);
			goto fail;
		}
		free(dp->nft_applied);
		dp->nft_applied = script;
	} else {
		free(script);
	}
	sync_svcs(u, &plan, t0);
	sync_listeners(dp, &plan, d);
	snap = xcalloc(1, sizeof(*snap));
	atomic_init(&snap->refs, 1);
	us_capture_local_addrs(true, &snap->local, &snap->n_local);
	us_snap_sort(snap);
	/* The workers get it only when the node's addresses changed: a wakeup each otherwise. */
	if (!us_snap_same(snap, u->snap)) {
		for (unsigned i = 0; i < u->n_workers; i++)
			us_worker_set_snap(u->workers[i], snap);
		us_snap_unref(u->snap);
		u->snap = snap;
	} else {
		us_snap_unref(snap);
	}
	t = mono_ns();
	r = us_capture_vips(&u->opts, plan.vips, plan.n_vips, false, d);
	t_kernel += mono_ns() - t;
	if (r < 0)
		goto fail;
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
fail:
	dp->stats.failures++;
	us_plan_done(&plan);
	return r;
}

const struct dataplane_ops dp_userspace_ops = {
	.name = "userspace",
	.new = us_new,
	.sync = us_sync,
	.cleanup = us_cleanup,
	.stats = us_stats,
	.free = us_free,
	.options = &us_mode_options,
};
