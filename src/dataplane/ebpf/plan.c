/* SPDX-License-Identifier: Apache-2.0 */
/* The ebpf mode's planner and differ; see plan.h.  Pure. */
#include "dataplane/ebpf/plan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/util.h"
#include "policy/policy.h"
#include "sched/sched.h"

#define WHO "ebpf"

void ebpf_ids_init(struct ebpf_ids *ids)
{
	strmap_init(&ids->by_key);
	strmap_init(&ids->warned);
	ids->next = 1;
}

static void free_keys(struct strmap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free((char *)m->slots[i].key);
	strmap_done(m);
}

void ebpf_ids_done(struct ebpf_ids *ids)
{
	free_keys(&ids->by_key);
	free_keys(&ids->warned);
}

void ebpf_plan_init(struct ebpf_plan *p)
{
	memset(p, 0, sizeof(*p));
}

void ebpf_plan_done(struct ebpf_plan *p)
{
	free(p->svcs);
	free(p->slots);
	free(p->ranges);
	ebpf_plan_init(p);
}

int ebpf_svc_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct ebpf_svc_entry *)a)->k, &((const struct ebpf_svc_entry *)b)->k,
		      sizeof(struct kr_svc_key));
}

int ebpf_slot_cmp(const void *a, const void *b)
{
	const struct kr_slot_key *x = &((const struct ebpf_slot_entry *)a)->k;
	const struct kr_slot_key *y = &((const struct ebpf_slot_entry *)b)->k;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

int ebpf_range_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct kr_range_key));
}

void ebpf_plan_sort(struct ebpf_plan *p)
{
	if (p->n_ranges)
		qsort(p->ranges, p->n_ranges, sizeof(*p->ranges), ebpf_range_cmp);
	if (p->n_svcs)
		qsort(p->svcs, p->n_svcs, sizeof(*p->svcs), ebpf_svc_cmp);
	if (p->n_slots)
		qsort(p->slots, p->n_slots, sizeof(*p->slots), ebpf_slot_cmp);
}

/* A services entry while building: its place in the view breaks ties (first claim wins). */
struct svc_claim {
	struct ebpf_svc_entry e;
	size_t seq;
	size_t rec;  /* the claiming port view's record (build.info->recs) */
};

static int claim_cmp(const void *a, const void *b)
{
	const struct svc_claim *x = a, *y = b;
	int c = ebpf_svc_cmp(&x->e, &y->e);

	return c ? c : (x->seq < y->seq ? -1 : x->seq > y->seq);
}

struct build {
	const struct ebpf_plan *prev;
	struct ebpf_ids *ids;
	struct strmap used;  /* set keys of this build -> id (keys owned) */
	struct ebpf_plan *out;
	struct svc_claim *claims;
	size_t n_claims, cap_claims;
	struct ebpf_build_info *info; /* one record per port view planned */
	struct ebpf_pv_rec *rec;      /* the port view being planned */
	size_t slot_base;             /* slots held outside this build (a partial one) */
	struct diag *d;
};

static void to_backend(struct kr_backend *b, const struct ep *e)
{
	memset(b, 0, sizeof(*b));
	memcpy(b->addr.b, e->addr.bytes, e->addr.family == AF_INET ? 4 : 16);
	b->port = htons(e->port);
	b->family = e->addr.family;
}

static void push_slot(struct build *b, uint32_t id, uint32_t slot, const struct ep *e)
{
	struct ebpf_slot_entry s = { .k = { .id = id, .slot = slot } };

	to_backend(&s.v, e);
	VEC_PUSH(b->out->slots, b->out->n_slots, b->out->cap_slots, s);
}

const struct ebpf_slot_entry *ebpf_plan_set_slots(const struct ebpf_plan *prev, uint32_t id,
						  size_t *n)
{
	size_t lo = 0, hi, start;

	*n = 0;
	if (!prev)
		return NULL;
	hi = prev->n_slots;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (prev->slots[mid].k.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	start = lo;
	while (lo < prev->n_slots && prev->slots[lo].k.id == id)
		lo++;
	*n = lo - start;
	return prev->slots + start;
}

/* One slot per endpoint; an endpoint that had slot s < n keeps it, the others fill the gaps. */
static uint32_t random_slots(struct build *b, uint32_t id, const struct ep_set *set)
{
	size_t n = set->n, np;
	const struct ebpf_slot_entry *old = ebpf_plan_set_slots(b->prev, id, &np);
	const struct ep **at = xcalloc(n, sizeof(*at));
	bool *placed = xcalloc(n, sizeof(*placed));
	struct kr_backend *be = xcalloc(n, sizeof(*be));
	size_t next = 0;

	for (size_t j = 0; j < n; j++)
		to_backend(&be[j], set->v[j]);
	for (size_t i = 0; i < np; i++) {
		uint32_t s = old[i].k.slot;

		if (s >= n || at[s])
			continue;
		/* the endpoint usually sits where it sat (the set's order is stable): looked at first */
		for (size_t k = 0; k < n; k++) {
			size_t j = (s + k) % n;

			if (!placed[j] && !memcmp(&be[j], &old[i].v, sizeof(*be))) {
				at[s] = set->v[j];
				placed[j] = true;
				break;
			}
		}
	}
	for (size_t j = 0; j < n; j++) {
		if (placed[j])
			continue;
		while (at[next])
			next++;
		at[next] = set->v[j];
	}
	for (size_t s = 0; s < n; s++)
		push_slot(b, id, (uint32_t)s, at[s]);
	free(at);
	free(placed);
	free(be);
	return (uint32_t)n;
}

/* The scheduler library's Maglev table as slots; 0 when it cannot be built (random then). */
static uint32_t maglev_slots(struct build *b, const struct port_view *pv, uint32_t id,
			     const struct ep_set *set)
{
	struct sched_dest *dests = lb_dests(pv, set);
	struct sched_config cfg = lb_sched_config(pv);
	struct sched_state *st = NULL;
	const uint32_t *tab;
	size_t len = 0, used = 0;

	if (sched_new("maglev", &cfg, dests, set->n, &st) < 0 || sched_table(st, &tab, &len) < 0 ||
	    b->slot_base + b->out->n_slots + len > KR_MAX_SLOTS) {
		/* which sets fit depends on the order they are planned in: a partial sync walks then */
		b->info->capped |= len && b->slot_base + b->out->n_slots + len > KR_MAX_SLOTS;
		sched_free(st);
		free(dests);
		return 0;
	}
	for (size_t i = 0; i < len; i++)
		used += tab[i] != SCHED_NO_DEST && tab[i] < set->n;
	if (used == len)
		for (size_t i = 0; i < len; i++)
			push_slot(b, id, (uint32_t)i, set->v[tab[i]]);
	sched_free(st);
	free(dests);
	return used == len ? (uint32_t)len : 0;
}

static void warn_once(struct build *b, const struct port_view *pv, const char *what)
{
	if (strmap_get(&b->ids->warned, pv->svc->key))
		return;
	strmap_put(&b->ids->warned, xstrdup(pv->svc->key), (void *)1);
	diag_add(b->d, DIAG_WARNING, NULL, 0, NULL, NULL, WHO ": %s %s", pv->svc->key, what);
}

/* The id and slot count of one endpoint set of pv, written once per build. */
static void endpoint_set(struct build *b, const struct port_view *pv, bool local,
			 uint32_t *ret_id, uint32_t *ret_count)
{
	const struct ep_set *set = local ? &pv->cat.local : &pv->cat.cluster;
	char *key = port_view_set_key(pv, local);
	void *known = strmap_get(&b->used, key);
	uint32_t id, count = 0;

	if (known) {
		/* the set's second claim (a NodePort on several addresses...): id and count as written */
		free(key);
		*ret_id = (uint32_t)(uintptr_t)known;
		*ret_count = (uint32_t)((uintptr_t)known >> 32);
		return;
	}
	id = (uint32_t)(uintptr_t)strmap_get(&b->ids->by_key, key); /* low half: the id */
	if (!id)
		id = b->ids->next++;
	if (streq(pv->lb.sched_name, "maglev")) {
		count = maglev_slots(b, pv, id, set);
		if (!count)
			warn_once(b, pv, "uses scheduler maglev, but its table cannot be built or does not"
				  " fit the slots map: random picks");
	} else if (!streq(pv->lb.sched_name, "random")) {
		warn_once(b, pv, "uses a scheduler the ebpf mode cannot run per socket: random picks");
	}
	if (pv->lb.n_weights && !streq(pv->lb.sched_name, "maglev"))
		warn_once(b, pv, "has kroute.io/endpoint-weights, which only scheduler maglev honours in"
			  " the ebpf mode: equal picks");
	if (!count)
		count = random_slots(b, id, set);
	if (b->rec->n_sets < 2) {
		b->rec->set_ids[b->rec->n_sets] = id;
		b->rec->set_keys[b->rec->n_sets++] = xstrdup(key);
	}
	strmap_put(&b->used, key, (void *)(uintptr_t)(id | (uint64_t)count << 32));
	*ret_id = id;
	*ret_count = count;
}

static void claim(struct build *b, const struct port_view *pv, const struct addr *a, uint16_t port,
		  int action, bool local)
{
	struct svc_claim c = { .seq = b->n_claims, .rec = (size_t)(b->rec - b->info->recs) };
	uint8_t proto = pv->port->proto == PROTO_TCP ? IPPROTO_TCP : IPPROTO_UDP;

	memcpy(c.e.k.addr.b, a->bytes, a->family == AF_INET ? 4 : 16);
	c.e.k.port = htons(port);
	c.e.k.proto = proto;
	c.e.k.family = a->family;
	if (action == ACTION_REJECT) {
		c.e.v.flags = KR_SVC_REJECT;
	} else if (action == ACTION_DROP) {
		c.e.v.flags = KR_SVC_DROP;
	} else {
		endpoint_set(b, pv, local, &c.e.v.id, &c.e.v.count);
		if (!c.e.v.count) {
			c.e.v.id = 0;
			c.e.v.flags = KR_SVC_REJECT;
		} else if (pv->svc->affinity_client_ip) {
			c.e.v.flags = KR_SVC_AFFINITY;
			c.e.v.affinity_s = pv->svc->affinity_timeout;
		}
	}
	VEC_PUSH(b->claims, b->n_claims, b->cap_claims, c);
}

/* In-cluster traffic to an external address: the cluster set, refused when empty. */
static int external_action(const struct port_view *pv)
{
	return pv->cat.cluster.n ? ACTION_FORWARD : ACTION_REJECT;
}

/*
 * The same address for packets from outside the node (the tc program): the
 * route's own endpoint set and action (the local set under ETP Local), SNAT
 * where the view masquerades.
 */
static void claim_outside(struct build *b, const struct port_view *pv, const struct route *r,
			  const struct addr *a)
{
	struct ebpf_svc_entry *e;

	claim(b, pv, a, r->port, r->action, r->uses_local);
	e = &b->claims[b->n_claims - 1].e;
	e->k.scope = KR_SCOPE_OUTSIDE;
	if (r->masquerade && e->v.count)
		e->v.flags |= KR_SVC_SNAT;
	if (!r->n_source_ranges)
		return;
	e->v.flags |= KR_SVC_RANGES;
	for (size_t i = 0; i < r->n_source_ranges; i++) {
		const struct cidr *c = &r->source_ranges[i];
		struct kr_range_key rk = { .svc = e->k };

		if (c->addr.family != a->family)
			continue;
		rk.prefixlen = (uint32_t)KR_RANGE_SVC_BITS + c->prefix;
		memcpy(rk.src.b, c->addr.bytes, a->family == AF_INET ? 4 : 16);
		/* the kernel's trie matches prefixlen bits: host bits set would make two keys one */
		for (unsigned bit = c->prefix; bit < 128; bit++)
			rk.src.b[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
		VEC_PUSH(b->out->ranges, b->out->n_ranges, b->out->cap_ranges, rk);
		VEC_PUSH(b->rec->ranges, b->rec->n_ranges, b->rec->cap_ranges, rk);
	}
}

static void plan_port(struct build *b, const struct port_view *pv, const struct ebpf_plan_opts *o)
{
	if (pv->port->proto != PROTO_TCP && pv->port->proto != PROTO_UDP)
		return; /* SCTP: sock_addr hooks see it, but the mode does not program it */
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];

		if (!r->allocated)
			continue;
		switch (r->kind) {
		case ROUTE_CLUSTER_IP:
			if (r->addr.family == pv->family)
				claim(b, pv, &r->addr, r->port, r->action, r->uses_local);
			break;
		case ROUTE_NODE_PORT:
			for (size_t j = 0; j < o->n_nodeport_addrs; j++)
				if (o->nodeport_addrs[j].family == pv->family) {
					claim(b, pv, &o->nodeport_addrs[j], r->port, external_action(pv),
					      false);
					claim_outside(b, pv, r, &o->nodeport_addrs[j]);
				}
			break;
		case ROUTE_LOAD_BALANCER:
		case ROUTE_EXTERNAL_IP:
			if (r->addr.family == pv->family) {
				claim(b, pv, &r->addr, r->port, external_action(pv), false);
				claim_outside(b, pv, r, &r->addr);
			}
			break;
		}
	}
}

/* Plans v->ports[at[k]] (at NULL: ports[k]) for k < n, each with its record. */
static void plan_ports(struct build *b, const struct node_view *v, const size_t *at, size_t n,
		       const struct ebpf_plan_opts *o)
{
	b->info->recs = xcalloc(n ? n : 1, sizeof(*b->info->recs));
	b->info->n_recs = n;
	for (size_t k = 0; k < n; k++) {
		const struct port_view *pv = &v->ports[at ? at[k] : k];

		b->rec = &b->info->recs[k];
		b->rec->id = pv->id;
		b->rec->svc = pv->svc;
		b->rec->port = pv->port;
		b->rec->family = pv->family;
		b->rec->udp = pv->port->proto == PROTO_UDP;
		plan_port(b, pv, o);
	}
}

/* The claims as services entries (first claim wins), each winner's key in its record; sorted slots and ranges. */
static void finish(struct build *b)
{
	struct ebpf_plan *out = b->out;

	for (size_t i = 0; i < b->n_claims; i++) {
		struct ebpf_pv_rec *rec = &b->info->recs[b->claims[i].rec];
		struct ebpf_claim c = { .e = b->claims[i].e, .seq = b->claims[i].seq };

		VEC_PUSH(rec->claims, rec->n_claims, rec->cap_claims, c);
	}
	if (b->n_claims)
		qsort(b->claims, b->n_claims, sizeof(*b->claims), claim_cmp);
	for (size_t i = 0; i < b->n_claims; i++) {
		if (i && !ebpf_svc_cmp(&b->claims[i].e, &b->claims[i - 1].e))
			continue; /* a second service with the same address: the first keeps it */
		VEC_PUSH(out->svcs, out->n_svcs, out->cap_svcs, b->claims[i].e);
		out->drop_services += b->claims[i].e.k.scope == KR_SCOPE_SOCKET &&
				      (b->claims[i].e.v.flags & KR_SVC_DROP);
	}
	free(b->claims);
	b->claims = NULL;
	/* sets keep their ids in the view's order, so the slots usually come sorted: checked first */
	for (size_t i = 1; i < out->n_slots; i++)
		if (ebpf_slot_cmp(&out->slots[i - 1], &out->slots[i]) > 0) {
			qsort(out->slots, out->n_slots, sizeof(*out->slots), ebpf_slot_cmp);
			break;
		}
	if (out->n_ranges) {
		size_t m = 1;

		qsort(out->ranges, out->n_ranges, sizeof(*out->ranges), ebpf_range_cmp);
		for (size_t i = 1; i < out->n_ranges; i++) /* a range listed twice */
			if (ebpf_range_cmp(&out->ranges[i], &out->ranges[m - 1]))
				out->ranges[m++] = out->ranges[i];
		out->n_ranges = m;
	}
}

void ebpf_plan_build_recs(const struct node_view *v, const struct ebpf_plan_opts *o,
			  const struct ebpf_plan *prev, struct ebpf_ids *ids, struct ebpf_plan *out,
			  struct ebpf_build_info *info, struct diag *d)
{
	struct build b = { .prev = prev, .ids = ids, .out = out, .info = info, .d = d };

	strmap_init(&b.used);
	plan_ports(&b, v, NULL, v->n_ports, o);
	finish(&b);
	/* the sets of this build keep their ids; the others' ids are gone */
	free_keys(&ids->by_key);
	ids->by_key = b.used;
}

void ebpf_plan_build(const struct node_view *v, const struct ebpf_plan_opts *o,
		     const struct ebpf_plan *prev, struct ebpf_ids *ids, struct ebpf_plan *out,
		     struct diag *d)
{
	struct ebpf_build_info info = { 0 };

	ebpf_plan_build_recs(v, o, prev, ids, out, &info, d);
	ebpf_build_info_done(&info);
}

void ebpf_plan_some(const struct node_view *v, const size_t *at, size_t n_at,
		    const struct ebpf_plan_opts *o, const struct ebpf_plan *prev,
		    struct ebpf_ids *ids, size_t slot_base, struct ebpf_plan *out,
		    struct ebpf_build_info *info, struct strmap *used, struct diag *d)
{
	struct build b = { .prev = prev, .ids = ids, .out = out, .info = info,
			   .slot_base = slot_base, .d = d };

	strmap_init(&b.used);
	plan_ports(&b, v, at, n_at, o);
	finish(&b);
	*used = b.used;
}

void ebpf_ids_used_done(struct strmap *used)
{
	free_keys(used);
}

void ebpf_ids_update(struct ebpf_ids *ids, char *const *drop, size_t n_drop, struct strmap *used)
{
	for (size_t i = 0; i < n_drop; i++) {
		const char *stored = NULL;

		if (strmap_get(used, drop[i]))
			continue; /* planned again: keeps its id */
		strmap_del(&ids->by_key, drop[i], &stored);
		free((char *)stored);
	}
	for (size_t i = 0; i < used->cap; i++) {
		const char *key = used->slots[i].key;
		/* the low half: the id (the high half, the slot count, is the build's) */
		void *id = (void *)(uintptr_t)(uint32_t)(uintptr_t)used->slots[i].value;

		if (!key)
			continue;
		if (strmap_get(&ids->by_key, key))
			free((char *)key);
		else
			strmap_put(&ids->by_key, key, id);
	}
	strmap_done(used);
}

int ebpf_claim_order(const struct ebpf_pv_rec *ra, const struct ebpf_claim *a,
		     const struct ebpf_pv_rec *rb, const struct ebpf_claim *b)
{
	/* the view's order (policy/view.c: namespace, name, port, family), then the claims' */
	int r = ra == rb ? 0 : strcmp(ra->svc->ns, rb->svc->ns);

	if (!r && ra != rb)
		r = strcmp(ra->svc->name, rb->svc->name);
	if (!r && ra != rb)
		r = (ra->port > rb->port) - (ra->port < rb->port);
	if (!r && ra != rb)
		r = (ra->family > rb->family) - (ra->family < rb->family);
	if (!r)
		r = (a->seq > b->seq) - (a->seq < b->seq);
	return r;
}

void ebpf_pv_rec_done(struct ebpf_pv_rec *r)
{
	free(r->claims);
	free(r->ranges);
	for (size_t i = 0; i < r->n_sets; i++)
		free(r->set_keys[i]);
	memset(r, 0, sizeof(*r));
}

void ebpf_build_info_done(struct ebpf_build_info *info)
{
	for (size_t i = 0; i < info->n_recs; i++)
		ebpf_pv_rec_done(&info->recs[i]);
	free(info->recs);
	memset(info, 0, sizeof(*info));
}

void ebpf_diff(const struct ebpf_plan *from, const struct ebpf_plan *to, struct ebpf_diff *ret)
{
	size_t i = 0, j = 0;

	memset(ret, 0, sizeof(*ret));
	while (i < from->n_slots || j < to->n_slots) {
		int c = i == from->n_slots ? 1 : j == to->n_slots ? -1
			: ebpf_slot_cmp(&from->slots[i], &to->slots[j]);
		struct ebpf_slot_op op = { 0 };

		if (c < 0) {
			op.kind = EBPF_OP_DELETE;
			op.e = from->slots[i];
			op.had_old = true;
			op.old = from->slots[i++].v;
			VEC_PUSH(ret->slot_del, ret->n_slot_del, ret->cap_slot_del, op);
		} else if (c > 0) {
			op.kind = EBPF_OP_UPDATE;
			op.e = to->slots[j++];
			VEC_PUSH(ret->slot_up, ret->n_slot_up, ret->cap_slot_up, op);
		} else {
			if (memcmp(&from->slots[i].v, &to->slots[j].v, sizeof(struct kr_backend))) {
				op.kind = EBPF_OP_UPDATE;
				op.e = to->slots[j];
				op.had_old = true;
				op.old = from->slots[i].v;
				VEC_PUSH(ret->slot_up, ret->n_slot_up, ret->cap_slot_up, op);
			}
			i++;
			j++;
		}
	}
	i = j = 0;
	while (i < from->n_svcs || j < to->n_svcs) {
		int c = i == from->n_svcs ? 1 : j == to->n_svcs ? -1
			: ebpf_svc_cmp(&from->svcs[i], &to->svcs[j]);
		struct ebpf_svc_op op = { 0 };

		if (c < 0) {
			op.kind = EBPF_OP_DELETE;
			op.e = from->svcs[i];
			op.had_old = true;
			op.old = from->svcs[i++].v;
		} else if (c > 0) {
			op.kind = EBPF_OP_UPDATE;
			op.e = to->svcs[j++];
		} else {
			bool same = !memcmp(&from->svcs[i].v, &to->svcs[j].v, sizeof(struct kr_svc));

			op.kind = EBPF_OP_UPDATE;
			op.e = to->svcs[j];
			op.had_old = true;
			op.old = from->svcs[i].v;
			i++;
			j++;
			if (same)
				continue;
		}
		VEC_PUSH(ret->svc, ret->n_svc, ret->cap_svc, op);
	}
}

void ebpf_diff_done(struct ebpf_diff *d)
{
	free(d->slot_up);
	free(d->svc);
	free(d->slot_del);
	memset(d, 0, sizeof(*d));
}
