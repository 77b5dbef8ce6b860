/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Proxy services: an endpoint set with its scheduler, live connection
 * counts and passive health, kept across syncs so that least-connection
 * schedulers see every open connection and an endpoint change leaves the
 * connections to the endpoints that stay alone.  See proxy.h for the
 * locking rules.
 */
#include "dataplane/userspace/proxy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"
#include "dataplane/userspace/plan.h"
#include "dataplane/userspace/worker.h"
#include "sched/sched_affinity.h"

/* Affinity tables are bounded: one entry per client, like kube-proxy's recent list. */
#define US_AFFINITY_MAX_ENTRIES 65536


void us_addr_to_sockaddr(const struct addr *a, uint16_t port, struct sockaddr_storage *ret,
			 socklen_t *ret_len)
{
	memset(ret, 0, sizeof(*ret));
	if (a->family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ret;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		memcpy(&s6->sin6_addr, a->bytes, 16);
		*ret_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ret;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		memcpy(&s4->sin_addr, a->bytes, 4);
		*ret_len = sizeof(*s4);
	}
}

void us_sockaddr_to_addr(const struct sockaddr_storage *sa, struct addr *ret, uint16_t *ret_port)
{
	memset(ret, 0, sizeof(*ret));
	if (sa->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

		/* A v4-mapped peer is an IPv4 client. */
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
			ret->family = AF_INET;
			memcpy(ret->bytes, &s6->sin6_addr.s6_addr[12], 4);
		} else {
			ret->family = AF_INET6;
			memcpy(ret->bytes, &s6->sin6_addr, 16);
		}
		*ret_port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

		ret->family = AF_INET;
		memcpy(ret->bytes, &s4->sin_addr, 4);
		*ret_port = ntohs(s4->sin_port);
	}
}

static struct us_ep *ep_new(struct us_svc *s, const struct us_plan_ep *pe)
{
	struct us_ep *ep = xcalloc(1, sizeof(*ep));

	atomic_init(&ep->refs, 1);
	ep->svc = s;
	ep->addr = pe->addr;
	ep->port = pe->port;
	memcpy(ep->key, pe->key, sizeof(ep->key));
	us_addr_to_sockaddr(&pe->addr, pe->port, &ep->sa, &ep->salen);
	ep->idx = -1;
	ep->weight = pe->weight;
	return ep;
}

void us_ep_unref(struct us_ep *ep)
{
	if (ep && atomic_fetch_sub(&ep->refs, 1) == 1)
		free(ep);
}

struct us_svc *us_svc_new(struct us_dp *dp, const struct us_plan_svc *ps)
{
	struct us_svc *s = xcalloc(1, sizeof(*s));

	atomic_init(&s->refs, 1);
	s->dp = dp;
	s->key = xstrdup(ps->key);
	s->name = xstrdup(ps->name);
	s->family = ps->family;
	s->proto = ps->proto;
	pthread_mutex_init(&s->lock, NULL);
	return s;
}

void us_svc_ref(struct us_svc *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void us_svc_unref(struct us_svc *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	/* Nobody else can see it now: no lock needed. */
	for (size_t i = 0; i < s->n_cur; i++)
		us_ep_unref(s->cur[i]);
	for (size_t i = 0; i < s->n_gone; i++)
		us_ep_unref(s->gone[i]);
	sched_affinity_free(s->aff);
	sched_free(s->st);
	free(s->cur);
	free(s->dests);
	free(s->gone);
	pthread_mutex_destroy(&s->lock);
	free(s->key);
	free(s->name);
	free(s);
}

static void mark_removed(struct us_svc *s, struct us_ep *ep, uint64_t now_ns)
{
	ep->idx = -1;
	atomic_store(&ep->removed_ns, now_ns);
	atomic_store(&ep->removed, true);
	atomic_store(&s->dp->last_removal_ns, now_ns);
	atomic_fetch_add(&s->dp->removal_gen, 1);
	if (ep->health.ejected_until_ns)
		s->n_ejected--;
	ep->health.ejected_until_ns = 0;
	VEC_PUSH(s->gone, s->n_gone, s->cap_gone, ep);
}

bool us_ep_grace_over(struct us_ep *ep, uint64_t grace_ns, uint64_t now_ns)
{
	return atomic_load_explicit(&ep->removed, memory_order_acquire) &&
	       now_ns >= atomic_load(&ep->removed_ns) + grace_ns;
}

bool us_grace_scan_due(uint64_t last_removal_ns, uint64_t grace_ns, uint64_t slack_ns, uint64_t now_ns)
{
	return last_removal_ns && now_ns <= last_removal_ns + grace_ns + slack_ns;
}

/* Drops removed endpoints nobody uses any more (the svc holds the last reference). */
static void gc_gone(struct us_svc *s)
{
	size_t w = 0;

	for (size_t i = 0; i < s->n_gone; i++) {
		if (atomic_load(&s->gone[i]->refs) == 1 && !s->gone[i]->active)
			us_ep_unref(s->gone[i]);
		else
			s->gone[w++] = s->gone[i];
	}
	s->n_gone = w;
}

static uint32_t dest_weight(const struct us_ep *ep)
{
	return ep->health.ejected_until_ns ? 0 : ep->weight;
}

static void fill_dest(struct sched_dest *d, const struct us_ep *ep)
{
	memset(d, 0, sizeof(*d));
	d->family = ep->addr.family;
	memcpy(d->addr, ep->addr.bytes, sizeof(d->addr));
	d->port = ep->port;
	d->weight = dest_weight(ep);
	d->last_weight = ep->weight;
	/* The scheduler's counters are the live ones: connections survive syncs. */
	d->active_conns = ep->active;
}

/* Field by field: memcmp would also compare padding, which struct copies need not keep. */
static bool cfg_eq(const struct sched_config *a, const struct sched_config *b)
{
	return a->flags == b->flags && a->maglev_table_size == b->maglev_table_size &&
	       a->mh_table_size == b->mh_table_size && a->seed == b->seed &&
	       a->lblc_max_entries == b->lblc_max_entries &&
	       a->lblc_expiration_ns == b->lblc_expiration_ns;
}

/* Whether the plan asks for exactly what the service has (under the lock). */
static bool unchanged(const struct us_svc *s, const struct us_plan_svc *ps)
{
	if (s->retired || s->n_cur != ps->n_eps || !s->sched_name ||
	    !streq(s->sched_name, ps->sched_name) || !cfg_eq(&s->cfg, &ps->cfg) ||
	    s->affinity_timeout_ns != ps->affinity_timeout_ns || (ps->n_eps && !s->st))
		return false;
	for (size_t i = 0; i < ps->n_eps; i++)
		if (s->cur[i]->weight != ps->eps[i].weight || !streq(s->cur[i]->key, ps->eps[i].key))
			return false;
	return true;
}

void us_svc_update(struct us_svc *s, const struct us_plan_svc *ps, uint64_t now_ns)
{
	struct us_ep **cur;
	struct sched_dest *dests;
	struct strmap by_key;
	bool new_sched;
	int r = 0;

	pthread_mutex_lock(&s->lock);
	/*
	 * Most services are unchanged at most syncs: rebuilding them would
	 * cost a scheduler prepare each (a Maglev table is about 1 ms).
	 */
	if (unchanged(s, ps)) {
		gc_gone(s);
		pthread_mutex_unlock(&s->lock);
		return;
	}
	cur = xcalloc(ps->n_eps + 1, sizeof(*cur));
	dests = xcalloc(ps->n_eps + 1, sizeof(*dests));
	s->retired = false;
	/* Endpoints that stay are found by key: a scan per endpoint would be quadratic. */
	strmap_init(&by_key);
	for (size_t k = 0; k < s->n_cur; k++)
		strmap_put(&by_key, s->cur[k]->key, (void *)(uintptr_t)(k + 1));
	for (size_t i = 0; i < ps->n_eps; i++) {
		const struct us_plan_ep *pe = &ps->eps[i];
		uintptr_t at = (uintptr_t)strmap_get(&by_key, pe->key);
		struct us_ep *ep = NULL;

		if (at && s->cur[at - 1]) {
			ep = s->cur[at - 1];
			s->cur[at - 1] = NULL;
		}
		/* Back within the grace period: its connections stay. */
		for (size_t k = 0; k < s->n_gone && !ep; k++)
			if (streq(s->gone[k]->key, pe->key)) {
				ep = s->gone[k];
				s->gone[k] = s->gone[--s->n_gone];
				atomic_store(&ep->removed, false);
			}
		if (!ep)
			ep = ep_new(s, pe);
		ep->weight = pe->weight;
		ep->idx = (int)i;
		cur[i] = ep;
		fill_dest(&dests[i], ep);
	}
	strmap_done(&by_key);
	for (size_t k = 0; k < s->n_cur; k++)
		if (s->cur[k])
			mark_removed(s, s->cur[k], now_ns);
	s->n_ejected = 0;
	for (size_t i = 0; i < ps->n_eps; i++)
		if (cur[i]->health.ejected_until_ns)
			s->n_ejected++;
	new_sched = !s->st || !s->sched_name || !streq(s->sched_name, ps->sched_name) ||
		    !cfg_eq(&s->cfg, &ps->cfg);
	if (!ps->n_eps) {
		s->st = sched_free(s->st);
	} else if (new_sched) {
		struct sched_state *st = NULL;

		r = sched_new(ps->sched_name, &ps->cfg, dests, ps->n_eps, &st);
		if (r == 0) {
			sched_free(s->st);
			s->st = st;
		}
	} else {
		r = sched_set_dests(s->st, dests, ps->n_eps);
	}
	if (r < 0) {
		/* Cannot happen with a plan from the view (names and sizes are validated). */
		us_logq_push(&s->dp->logq, "userspace: %s: scheduler %s: %s; falling back to random",
			     s->name, ps->sched_name, strerror(-r));
		sched_free(s->st);
		s->st = NULL;
		if (sched_new("random", &(struct sched_config){ .seed = ps->cfg.seed }, dests,
			      ps->n_eps, &s->st) < 0)
			s->st = NULL;
	}
	free(s->cur);
	free(s->dests);
	s->cur = cur;
	s->dests = dests;
	s->n_cur = ps->n_eps;
	s->sched_name = ps->sched_name;
	s->cfg = ps->cfg;
	if (s->affinity_timeout_ns != ps->affinity_timeout_ns) {
		s->aff = sched_affinity_free(s->aff);
		s->affinity_timeout_ns = ps->affinity_timeout_ns;
		if (ps->affinity_timeout_ns &&
		    sched_affinity_new(ps->affinity_timeout_ns, US_AFFINITY_MAX_ENTRIES, 0, ps->cfg.seed,
				       &s->aff) < 0)
			s->aff = NULL;
	}
	gc_gone(s);
	pthread_mutex_unlock(&s->lock);
}

void us_svc_retire(struct us_svc *s, uint64_t now_ns)
{
	pthread_mutex_lock(&s->lock);
	for (size_t k = 0; k < s->n_cur; k++)
		mark_removed(s, s->cur[k], now_ns);
	s->n_cur = 0;
	s->st = sched_free(s->st);
	s->retired = true;
	pthread_mutex_unlock(&s->lock);
}

/* Ends ejections whose time has come (under the lock). */
static void expire_ejections(struct us_svc *s, uint64_t now_ns)
{
	bool changed = false;

	for (size_t i = 0; i < s->n_cur; i++) {
		struct us_ep *ep = s->cur[i];

		if (us_health_expire(&ep->health, now_ns)) {
			/* On probation: a success clears it. */
			atomic_store_explicit(&ep->health_dirty, true, memory_order_relaxed);
			s->n_ejected--;
			s->dests[i].weight = ep->weight;
			changed = true;
			us_logq_push(&s->dp->logq,
				     "userspace: %s: endpoint %s back in service after its ejection",
				     s->name, ep->key);
		}
	}
	if (changed && s->st)
		sched_prepare(s->st);
}

static bool was_tried(const struct us_ep *ep, struct us_ep *const *tried, size_t n_tried)
{
	for (size_t i = 0; i < n_tried; i++)
		if (tried[i] == ep)
			return true;
	return false;
}

struct us_ep *us_svc_pick(struct us_svc *s, const struct sched_flow *f, struct us_ep *const *tried,
			  size_t n_tried, uint64_t now_ns)
{
	struct us_ep *ep = NULL;
	int idx = -1;
	bool found;

	pthread_mutex_lock(&s->lock);
	if (s->n_ejected)
		expire_ejections(s, now_ns);
	if (!s->st || !s->n_cur)
		goto out;
	/* A few draws: rr moves on by itself, random and lc may repeat a failed one. */
	for (int attempt = 0; attempt < 4 && idx < 0; attempt++) {
		int r = s->aff ? sched_affinity_pick(s->aff, s->st, f, now_ns)
			       : sched_pick(s->st, f, now_ns);

		if (r < 0)
			break;
		if (!was_tried(s->cur[r], tried, n_tried))
			idx = r;
	}
	/* Then any available endpoint not tried yet, in list order. */
	for (size_t i = 0; i < s->n_cur && idx < 0; i++)
		if (s->dests[i].weight && !was_tried(s->cur[i], tried, n_tried))
			idx = (int)i;
	found = idx >= 0;
	/*
	 * Everything left is ejected: trying one beats refusing the client
	 * (Envoy's panic mode).  The one whose ejection ends first.
	 */
	for (size_t i = 0; i < s->n_cur && !found; i++) {
		struct us_ep *c = s->cur[i];

		if (!c->weight || !c->health.ejected_until_ns || was_tried(c, tried, n_tried))
			continue;
		if (idx < 0 || c->health.ejected_until_ns < s->cur[idx]->health.ejected_until_ns)
			idx = (int)i;
	}
	if (idx < 0)
		goto out;
	ep = s->cur[idx];
	sched_conn_take(s->st, (size_t)idx, true);
	ep->active++;
	ep->conns_total++;
	atomic_fetch_add(&ep->refs, 1);
out:
	pthread_mutex_unlock(&s->lock);
	return ep;
}

void us_svc_release(struct us_ep *ep)
{
	struct us_svc *s = ep->svc;

	pthread_mutex_lock(&s->lock);
	if (ep->idx >= 0 && s->st && (size_t)ep->idx < s->n_cur && s->cur[ep->idx] == ep)
		sched_conn_drop(s->st, (size_t)ep->idx, true);
	ep->active--;
	pthread_mutex_unlock(&s->lock);
	us_ep_unref(ep);
}

void us_svc_failed(struct us_ep *ep, int err, uint64_t now_ns)
{
	struct us_svc *s = ep->svc;

	pthread_mutex_lock(&s->lock);
	atomic_store_explicit(&ep->health_dirty, true, memory_order_relaxed);
	if (us_health_failure(&ep->health, s->dp->eject_ns, now_ns)) {
		/* An endpoint already removed from the set only keeps the record. */
		if (ep->idx >= 0) {
			s->n_ejected++;
			s->dests[ep->idx].weight = 0;
			if (s->st)
				sched_prepare(s->st);
		}
		atomic_fetch_add_explicit(&s->dp->ctr.ejections, 1, memory_order_relaxed);
		us_logq_push(&s->dp->logq,
			     "userspace: %s: endpoint %s ejected for %.1fs after %u failed connects in a row (last: %s)",
			     s->name, ep->key, (double)(ep->health.ejected_until_ns - now_ns) / 1e9,
			     US_HEALTH_FAILURES, strerror(err));
	}
	pthread_mutex_unlock(&s->lock);
}

void us_svc_succeeded(struct us_ep *ep)
{
	struct us_svc *s = ep->svc;

	/* The common case (nothing to clear) takes no lock. */
	if (!atomic_load_explicit(&ep->health_dirty, memory_order_relaxed))
		return;
	pthread_mutex_lock(&s->lock);
	us_health_success(&ep->health);
	atomic_store_explicit(&ep->health_dirty, false, memory_order_relaxed);
	pthread_mutex_unlock(&s->lock);
}

void us_listener_unref(struct us_listener *l)
{
	if (!l || atomic_fetch_sub(&l->refs, 1) != 1)
		return;
	us_svc_unref(l->svc);
	us_svc_unref(l->svc_cluster);
	free(l->per_worker);
	free(l->ident);
	free(l->name);
	free(l);
}

void us_snap_unref(struct us_snap *s)
{
	if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	free(s->local);
	free(s);
}

void us_snap_sort(struct us_snap *s)
{
	if (s->n_local)
		qsort(s->local, s->n_local, sizeof(*s->local), addr_cmp_qsort);
}

bool us_snap_same(const struct us_snap *a, const struct us_snap *b)
{
	if (!b || a->n_local != b->n_local)
		return false;
	for (size_t i = 0; i < a->n_local; i++)
		if (!addr_eq(&a->local[i], &b->local[i]))
			return false;
	return true;
}

bool us_snap_is_local(const struct us_snap *s, const struct addr *a)
{
	if (a->family == AF_INET && a->bytes[0] == 127)
		return true;
	/* Once per new flow, over every VIP too: sorted, so a binary search. */
	return s && s->n_local && bsearch(a, s->local, s->n_local, sizeof(*s->local), addr_cmp_qsort);
}
