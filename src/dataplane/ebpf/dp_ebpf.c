/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ebpf data plane (kroute run --mode ebpf): the ops of dataplane.h.
 * Each sync plans the services and slots maps from the view (plan.h), diffs
 * the plan against the mirror of what the last sync wrote (or, on a full
 * sync, against the maps as the kernel holds them, which repairs drift), and
 * writes only the changed entries (loader.h), undoing them if any write
 * fails.  The kernel is first touched by the first sync (new() touches
 * nothing): that loads and attaches the programs.  After a sync that
 * removed UDP endpoints, the connected UDP sockets translated to them are
 * aborted (gone.h, udp_abort.h), so their applications reconnect.
 *
 * Only sockets of processes in --cgroup-root are load-balanced: traffic
 * from this node's pods and the node itself.  Traffic from outside the node
 * (NodePorts, LB IPs and external IPs reached over the network) is
 * translated per packet by a tc program on the node's interfaces (tc.h),
 * attached before a sync writes the maps; each sync attaches it to new
 * interfaces (a new pod's).
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/ifaddr.h"
#include "core/util.h"
#include "dataplane/common/nodeport_addrs.h"
#include "dataplane/dataplane.h"
#include "dataplane/ebpf/ebpf.h"
#include "dataplane/ebpf/gone.h"
#include "dataplane/ebpf/loader.h"
#include "dataplane/ebpf/partial.h"
#include "dataplane/ebpf/plan.h"
#include "dataplane/ebpf/udp_abort.h"
#include "dataplane/ebpf/tc.h"

#define WHO "ebpf"

/*
 * The first sync's second half of loading: the tc program (and its links)
 * and the UDP socket iterator, on a thread of their own while the sync
 * plans and writes the slots (they need only the maps the socket programs
 * created; their verification is most of the load's time).  Joined before
 * any service entry is written.
 */
struct late_load {
	pthread_t thread;
	bool pending, running;       /* started and not joined; on a thread (else it ran in line) */
	const char *bpf_root, *cgroup_root, *tc_devices; /* tc_devices NULL: every interface */
	bool tc;
	int r;
	struct ebpf_tc *tc_out;
	struct ebpf_udp_abort *ua_out;
	struct diag d; /* the thread's messages, moved into the sync's at the join */
};

struct dataplane {
	struct dp_opts opts;
	struct ebpf_mode_opts mo;
	struct ebpf_kernel *k;       /* NULL until the first sync */
	struct ebpf_udp_abort *ua;   /* NULL: the kernel cannot abort sockets (warned once) */
	struct ebpf_tc *tc;          /* NULL until the first sync, or with --tc-devices none */
	struct late_load late;       /* the first sync's load of the tc program and the iterator */
	struct ebpf_ids ids;
	struct ebpf_plan mirror;     /* what the last successful sync left in the maps */
	struct ebpf_track track;     /* what each port view put there (partial syncs) */
	size_t last_planned;         /* port views the last sync planned */
	bool applied, force_full;
	struct dp_stats stats;
	uint64_t entries_written;
	uint64_t udp_aborted;
};

static int ebpf_new(const struct dp_opts *opts, struct dataplane **ret)
{
	struct dataplane *dp = xcalloc(1, sizeof(*dp));
	const struct ebpf_mode_opts *mo = opts->mode_opts;

	dp->opts = *opts;
	dp->mo.bpf_root = mo && mo->bpf_root ? mo->bpf_root : EBPF_DEFAULT_BPF_ROOT;
	dp->mo.cgroup_root = mo && mo->cgroup_root ? mo->cgroup_root : EBPF_DEFAULT_CGROUP_ROOT;
	dp->mo.max_services = mo ? mo->max_services : 0;
	dp->mo.tc_devices = mo ? mo->tc_devices : NULL;
	ebpf_ids_init(&dp->ids);
	ebpf_plan_init(&dp->mirror);
	ebpf_track_init(&dp->track);
	*ret = dp;
	return 0;
}

static void ebpf_free(struct dataplane *dp)
{
	if (!dp)
		return;
	ebpf_udp_abort_close(dp->ua);
	ebpf_tc_close(dp->tc);
	ebpf_kernel_close(dp->k);
	ebpf_ids_done(&dp->ids);
	ebpf_plan_done(&dp->mirror);
	ebpf_track_done(&dp->track);
	free(dp);
}

static void ebpf_stats(const struct dataplane *dp, struct dp_stats *ret)
{
	*ret = dp->stats;
	ret->rules = dp->mirror.n_svcs;
	ret->chains = 0;
	ret->metrics[0] = (struct dp_metric){
		.name = "kroute_ebpf_map_entries_written_total",
		.help = "Entries of the services and slots maps written or deleted by syncs",
		.counter = true, .value = dp->entries_written };
	ret->metrics[1] = (struct dp_metric){
		.name = "kroute_ebpf_slots",
		.help = "Endpoint slots in the slots map after the last successful sync",
		.value = dp->mirror.n_slots };
	ret->metrics[2] = (struct dp_metric){
		.name = "kroute_ebpf_udp_sockets_aborted_total",
		.help = "Connected UDP sockets aborted because their endpoint was removed",
		.counter = true, .value = dp->udp_aborted };
	ret->metrics[3] = (struct dp_metric){
		.name = "kroute_ebpf_port_views_planned",
		.help = "Service port views the last sync planned (a partial sync: only those that changed)",
		.value = dp->last_planned };
	ret->n_metrics = 4;
}

/* The addresses NodePorts answer on for this node's own sockets (--nodeport-addresses). */
static void nodeport_addrs(const struct dataplane *dp, struct addr **ret, size_t *ret_n)
{
	struct addr *locals = NULL, *out;
	size_t n = 0, m = 0;

	ifaddr_list(IFADDR_ALL, NULL, true, &locals, &n);
	out = xcalloc(2 * n + 1, sizeof(*out));
	m = nodeport_addrs_list(dp->opts.nodeport_cidrs, dp->opts.n_nodeport_cidrs, locals, n,
				AF_INET, dp->opts.localhost_nodeports, out);
	m += nodeport_addrs_list(dp->opts.nodeport_cidrs, dp->opts.n_nodeport_cidrs, locals, n,
				 AF_INET6, dp->opts.localhost_nodeports, out + m);
	free(locals);
	*ret = out;
	*ret_n = m;
}

static void *late_load_run(void *arg)
{
	struct late_load *l = arg;

	if (l->tc) {
		l->r = ebpf_tc_open(l->bpf_root, l->tc_devices, &l->tc_out, &l->d);
		if (!l->r)
			l->r = ebpf_tc_attach(l->tc_out, &l->d);
		if (l->r < 0) {
			ebpf_tc_close(l->tc_out);
			l->tc_out = NULL;
			return NULL;
		}
	}
	l->ua_out = ebpf_udp_abort_open(l->bpf_root, l->cgroup_root, &l->d);
	return NULL;
}

/* The first sync: the socket programs now, the rest started on a thread (late_load_join). */
static int open_kernel(struct dataplane *dp, struct diag *d)
{
	struct late_load *l = &dp->late;
	int r;

	bool tc = !streq(dp->mo.tc_devices ? dp->mo.tc_devices : "", "none");

	if (dp->k)
		return dp->tc ? ebpf_tc_attach(dp->tc, d) : 0;
	if (tc && dp->mo.tc_devices && (r = ebpf_tc_check_devices(dp->mo.tc_devices, d)) < 0)
		return r;
	r = ebpf_kernel_open(dp->mo.bpf_root, dp->mo.cgroup_root, dp->mo.max_services, &dp->k, d);
	if (r < 0)
		return r;
	memset(l, 0, sizeof(*l));
	l->pending = true;
	l->bpf_root = dp->mo.bpf_root;
	l->cgroup_root = dp->mo.cgroup_root;
	l->tc_devices = dp->mo.tc_devices;
	l->tc = tc;
	diag_init(&l->d);
	l->running = !pthread_create(&l->thread, NULL, late_load_run, l);
	if (!l->running)
		late_load_run(l); /* no thread: in line */
	return 0;
}

/*
 * Waits for the first sync's tc program and iterator (nothing to wait for
 * on a later sync).  A tc program that failed to load or attach fails the
 * sync (late_load_settle: the kernel is opened afresh by the next one).
 */
static int late_load_join(struct dataplane *dp, struct diag *d)
{
	struct late_load *l = &dp->late;
	bool tc = l->tc;

	if (!l->pending)
		return 0;
	if (l->running)
		pthread_join(l->thread, NULL);
	l->pending = l->running = false;
	diag_move(d, &l->d);
	if (l->r < 0)
		return l->r;
	dp->tc = l->tc_out;
	dp->ua = l->ua_out;
	diag_add(d, DIAG_WARNING, NULL, 0, NULL, NULL,
		 WHO ": socket-level load balancing for the sockets of processes in cgroup %s (this"
		 " node's pods and its own processes), maps pinned under %s; traffic from outside the"
		 " node to NodePorts, load-balancer and external IPs: %s%s",
		 dp->mo.cgroup_root, dp->mo.bpf_root,
		 tc ? "a tc program at the ingress of " : "not handled (--tc-devices none)",
		 tc ? (dp->mo.tc_devices ? dp->mo.tc_devices : "every interface but lo") : "");
	return 0;
}

/* The end of a sync: the load joined if it was not, and closed again if the tc program failed. */
static int late_load_settle(struct dataplane *dp, struct diag *d)
{
	int r = late_load_join(dp, d);

	if (dp->late.r < 0) {
		ebpf_kernel_close(dp->k);
		dp->k = NULL;
		dp->late.r = 0;
		return r < 0 ? r : -EIO;
	}
	return r;
}

/* Connected UDP sockets to the endpoints this sync removed: aborted, so they connect afresh. */
static void abort_gone(struct dataplane *dp, const struct ebpf_step *st, struct diag *d)
{
	size_t n = dp->ua ? st->n_gone : 0;
	long aborted;

	if (!n)
		return;
	aborted = ebpf_udp_abort_run(dp->ua, st->gone, n, d);
	if (aborted > 0) {
		dp->udp_aborted += (uint64_t)aborted;
		diag_add(d, DIAG_NOTE, NULL, 0, NULL, NULL,
			 WHO ": %ld connected UDP socket%s to the %zu removed endpoint%s aborted", aborted,
			 aborted == 1 ? "" : "s", n, n == 1 ? "" : "s");
	}
}

/* What runs between the slot updates and the services' (ebpf_kernel_apply's between). */
struct between {
	struct dataplane *dp;
	const struct ebpf_step *st;
	struct ebpf_plan *kernel; /* a full sync: the maps read back (the ranges: here) */
	size_t *written;
	bool ranges_added;
};

/* The first sync's tc program joined; source ranges before the services that name them (tc.h). */
static int before_services(void *arg, struct diag *d)
{
	struct between *b = arg;
	struct dataplane *dp = b->dp;
	int r = late_load_join(dp, d);

	if (r < 0 || !dp->tc)
		return r;
	if (b->kernel && (r = ebpf_tc_read_ranges(dp->tc, b->kernel, d)) < 0)
		return r;
	r = ebpf_tc_ranges(dp->tc, b->st->from, b->st->to, true, b->written, d);
	b->ranges_added = r >= 0;
	return r;
}

static int ebpf_sync(struct dataplane *dp, const struct node_view *v, bool full, struct diag *d)
{
	uint64_t t0 = mono_ns(), tk;
	struct ebpf_plan kernel, *from = &dp->mirror;
	struct ebpf_plan_opts po = { 0 };
	struct between b = { .dp = dp };
	struct addr *np;
	struct ebpf_step st;
	size_t written = 0;
	uint32_t drops;
	int r, rs;

	dp->stats.last_kernel_ns = 0;
	r = open_kernel(dp, d);
	if (r < 0)
		goto out;
	full = full || !dp->applied || dp->force_full;
	if (full) {
		/* the source ranges are read back once the tc program is there (before_services) */
		r = ebpf_kernel_read(dp->k, &kernel, d);
		if (r < 0) {
			ebpf_plan_done(&kernel);
			goto out;
		}
		/* ids in the maps (an earlier run's) are never reused for other sets */
		for (size_t i = 0; i < kernel.n_slots; i++)
			if (kernel.slots[i].k.id >= dp->ids.next)
				dp->ids.next = kernel.slots[i].k.id + 1;
		from = &kernel;
		b.kernel = &kernel;
	}
	nodeport_addrs(dp, &np, &po.n_nodeport_addrs);
	po.nodeport_addrs = np;
	/* a partial sync plans only the port views the view's change record names (partial.h) */
	ebpf_step_plan(&dp->track, v, &po, from, full, &dp->ids, &st, d);
	free(np);
	dp->last_planned = st.planned;
	tk = mono_ns();
	b.st = &st;
	b.written = &written;
	drops = (uint32_t)(st.unchanged ? dp->mirror.drop_services : st.plan.drop_services);
	r = ebpf_kernel_apply(dp->k, &st.diff, drops, before_services, &b, &written, d);
	if (r < 0 && b.ranges_added)
		ebpf_tc_ranges(dp->tc, st.to, st.from, false, &written, d); /* undoes the adds */
	else if (r >= 0 && dp->tc)
		r = ebpf_tc_ranges(dp->tc, st.from, st.to, false, &written, d);
	dp->stats.last_kernel_ns = mono_ns() - tk;
	if (r >= 0)
		abort_gone(dp, &st, d);
	if (r >= 0)
		ebpf_step_commit(&dp->track, &st, &dp->mirror);
	else
		ebpf_track_reset(&dp->track);
	ebpf_step_done(&st);
	if (full)
		ebpf_plan_done(&kernel);
	if (r < 0) {
		dp->force_full = true;
		goto out;
	}
	dp->entries_written += written;
	dp->applied = true;
	dp->force_full = false;
out:
	rs = late_load_settle(dp, d); /* a failure before the join: joined here */
	if (rs < 0 && r >= 0)
		r = rs;
	dp_stats_sync_done(&dp->stats, r, full, t0);
	return r;
}

static int ebpf_cleanup(const struct dp_opts *opts, struct diag *d)
{
	const struct ebpf_mode_opts *mo = opts->mode_opts;

	return ebpf_kernel_cleanup(mo && mo->bpf_root ? mo->bpf_root : EBPF_DEFAULT_BPF_ROOT, d);
}

const struct dataplane_ops dp_ebpf_ops = {
	.name = "ebpf",
	.new = ebpf_new,
	.sync = ebpf_sync,
	.cleanup = ebpf_cleanup,
	.stats = ebpf_stats,
	.free = ebpf_free,
	.options = &ebpf_mode_options,
};
