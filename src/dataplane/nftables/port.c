/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One service port's fragment: its elements in the shared maps (where its
 * addresses go, or that they have no endpoints), its slots in the base's
 * endpoint maps (the slices eps-H-c / eps-H-l), and its own chains, named
 * after a hash H of "ns/name:port/PROTO".  A port with a cluster IP only
 * and random picks among at most NFT_PICK_MAX_N slots has no chain: its key
 * in @pick-N, its slots in @pick-endpoints, its masquerade as membership
 * (pick_elements; plan.h).  The others:
 *
 *   svc-H / svl-H   cluster / local endpoint dispatch: the cluster-IP
 *                   masquerade rule, then one rule picking a slot of the
 *                   port's id in @endpoints-XX (numgen random, or jhash
 *                   over a Maglev table); with ClientIP affinity a rule per
 *                   endpoint checks the endpoint's clients in @affinity-X
 *                   first, and the pick goes through @endpoint-chains-X to
 *                   that endpoint's chain ep-H-E (update, dnat)
 *   ext-H           external traffic (NodePort, external and LB IPs):
 *                   masquerade and eTP Local's short-circuits
 *   fw-H            loadBalancerSourceRanges (from filter-prerouting)
 *
 * The decisions are the view's, and they land as in the iptables mode
 * (iptables/port_rules.c): same masquerade, same drop vs reject, same
 * endpoint sets.  Pure.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/common/port_shape.h"
#include "dataplane/nftables/plan_int.h"
#include "policy/policy.h"
#include "sched/sched.h"

#define MAX_WEIGHT_SLOTS 1024


struct port_ctx {
	const struct port_view *pv;
	const struct nft_plan_opts *o;
	const struct cidr *detector;
	struct nft_frag *f;
	struct port_shape s;
	char h[17];                  /* the port's hash, in every name */
	uint64_t hv;                 /* the same as a number: the cluster set's id in the endpoint maps */
	int ipproto;
};

static void name(char *buf, const char *prefix, const struct port_ctx *c, const char *suffix)
{
	snprintf(buf, NFT_NAME_MAX, "%s-%s%s", prefix, c->h, suffix);
}

/* ep-H-E: E hashes the endpoint's "ip:port".  buf: NFT_ELEM_CHAIN_MAX bytes (it fits an element). */
static void ep_name(char *buf, const char *prefix, const struct port_ctx *c, const struct ep *e)
{
	uint32_t eh = (uint32_t)fnv1a_update(0xcbf29ce484222325ull, e->key, strlen(e->key));

	snprintf(buf, NFT_ELEM_CHAIN_MAX, "%s-%s-%08x", prefix, c->h, eh);
}

static size_t svc_key(uint8_t *k, const struct port_ctx *c, const struct addr *a, uint16_t port)
{
	size_t n = key_addr(k, a);

	n += key_proto(k + n, c->ipproto);
	return n + key_port(k + n, port);
}

static void ep_data(uint8_t *d, const struct ep *e)
{
	size_t n = key_addr(d, &e->addr);

	key_port(d + n, e->port);
}

static struct nft_chain *find_chain(struct nft_frag *f, const char *n)
{
	for (size_t i = 0; i < f->n_chains; i++)
		if (streq(f->chains[i].name, n))
			return &f->chains[i];
	return NULL;
}

/* An endpoint's id in the affinity sets: the port's and the endpoint's "ip:port". */
static uint64_t ep_id(const struct port_ctx *c, const struct ep *e)
{
	return fnv1a_update(c->hv, e->key, strlen(e->key));
}

/*
 * An endpoint's chain under ClientIP affinity: remember the client (timed),
 * then DNAT, in one rule (the kernel's cost of a full sync is per rule and
 * per expression; a rule for each statement made 11,264 of the 30,007 rules
 * at 10,000 services).
 */
static void affinity_endpoint(struct port_ctx *c, const struct ep *e)
{
	char chain[NFT_NAME_MAX], set[NFT_NAME_MAX];
	struct nft_chain *ch;
	struct nft_rule *r;
	struct nft_x *x;

	ep_name(chain, "ep", c, e);
	if (find_chain(c->f, chain))
		return; /* in both the cluster and the local set */
	nft_affinity_set(set, ep_id(c, e));
	ch = nft_frag_chain(c->f, chain);
	r = nft_chain_rule(ch);
	x_named(r, NX_UPDATE, set, c->pv->svc->affinity_timeout)->id = ep_id(c, e);
	x = nft_rule_x(r, NX_DNAT);
	x->cidr.addr = e->addr;
	x->port = e->port;
}

/*
 * Slots per endpoint for random picks: one each, or in proportion to
 * kroute.io/endpoint-weights (weight 0: no new flows), at most
 * MAX_WEIGHT_SLOTS in all.  Returns the total; 0 when every weight is 0.
 */
static size_t weight_slots(const struct port_ctx *c, const struct ep_set *set, size_t *slots)
{
	struct sched_dest *d = lb_dests(c->pv, set);
	uint64_t sum = 0, g = 0, total = 0;

	for (size_t i = 0; i < set->n; i++) {
		uint64_t a = d[i].weight, b = g;

		while (b) {
			uint64_t t = a % b;

			a = b;
			b = t;
		}
		g = a;
		sum += d[i].weight;
	}
	for (size_t i = 0; i < set->n; i++) {
		uint64_t w = g ? d[i].weight / g : 0;

		if (sum / (g ? g : 1) > MAX_WEIGHT_SLOTS && w)
			w = MAX(1, w * MAX_WEIGHT_SLOTS / (sum / g));
		slots[i] = (size_t)w;
		total += w;
	}
	free(d);
	return (size_t)total;
}

/* numgen random over the set (weighted by slots), into eps-H-T or, with affinity, epv-H-T. */
/* The id of the port's cluster ("-c") or local ("-l") slots in the endpoint maps. */
static uint64_t slots_id(const struct port_ctx *c, const char *tag)
{
	return tag[1] == 'c' ? c->hv : fnv1a_update(c->hv, "l", 1);
}

/* The port's slice of a base endpoint map, named eps-H-T / epv-H-T in the fragment. */
static struct nft_set *slice(struct port_ctx *c, const char *prefix, const char *tag,
			     enum nft_set_kind k, uint64_t id)
{
	char local[NFT_NAME_MAX];
	struct nft_set *s;

	name(local, prefix, c, tag);
	s = nft_frag_set(c->f, local, k);
	nft_slots_map(s->in_map, k == NS_EP_VMAP, id);
	return s;
}

static void random_dispatch(struct port_ctx *c, struct nft_chain *ch, const struct ep_set *set,
			    const char *tag)
{
	bool aff = c->pv->svc->affinity_client_ip;
	size_t *slots = xcalloc(set->n, sizeof(*slots)), total, k = 0;
	uint64_t id = slots_id(c, tag);
	struct nft_set *s;

	total = weight_slots(c, set, slots);
	if (!total) {
		for (size_t i = 0; i < set->n; i++)
			slots[i] = 1;
		total = set->n;
	}
	s = slice(c, aff ? "epv" : "eps", tag, aff ? NS_EP_VMAP : NS_EP_MAP, id);
	s->slots_free = true;
	for (size_t i = 0; i < set->n; i++) {
		for (size_t n = 0; n < slots[i]; n++) {
			struct nft_elem *e = nft_set_elem(s);

			key_slot(e->key, id, (uint32_t)k++);
			if (aff) {
				e->verdict = NV_GOTO;
				ep_name(e->chain, "ep", c, set->v[i]);
			} else {
				ep_data(e->data, set->v[i]);
			}
		}
	}
	free(slots);
	x_named(nft_chain_rule(ch), aff ? NX_VMAP_NUMGEN : NX_DNAT_NUMGEN, s->in_map,
		(uint32_t)total)->id = id;
}

/* Maglev: the scheduler library's table as map elements, indexed by jhash of the flow. */
static int maglev_dispatch(struct port_ctx *c, struct nft_chain *ch, const struct ep_set *set,
			   const char *tag)
{
	struct sched_config cfg = lb_sched_config(c->pv);
	struct sched_dest *d = lb_dests(c->pv, set);
	struct sched_state *st = NULL;
	const uint32_t *table;
	uint64_t id = slots_id(c, tag);
	struct nft_set *s;
	size_t len;
	int r;

	r = sched_new("maglev", &cfg, d, set->n, &st);
	if (r >= 0)
		r = sched_table(st, &table, &len);
	if (r >= 0) {
		s = slice(c, "eps", tag, NS_EP_MAP, id);
		for (size_t i = 0; i < len; i++) {
			struct nft_elem *e;

			if (table[i] >= set->n)
				continue; /* SCHED_NO_DEST: no endpoint takes new flows */
			e = nft_set_elem(s);
			key_slot(e->key, id, (uint32_t)i);
			ep_data(e->data, set->v[table[i]]);
		}
		x_named(nft_chain_rule(ch), NX_DNAT_JHASH, s->in_map, (uint32_t)len)->id = id;
	}
	sched_free(st);
	free(d);
	return r;
}

/*
 * Element-level dispatch (plan.h: NFT_PICK_MAX_N): a port whose cluster IP is
 * all it serves, through its cluster set, with random picks among at most
 * NFT_PICK_MAX_N slots.  Anything else has chains of its own.
 */
static bool pickable(const struct port_ctx *c, size_t *total, size_t **slots)
{
	const struct ep_set *set = &c->pv->cat.cluster;

	*slots = NULL;
	if (!c->s.int_forward || c->s.cip->uses_local || c->s.has_ext || c->s.has_svl ||
	    c->s.fw || c->pv->svc->affinity_client_ip || streq_null(c->pv->lb.sched_name, "maglev") ||
	    set->nil || !set->n)
		return false;
	*slots = xcalloc(set->n, sizeof(**slots));
	*total = weight_slots(c, set, *slots);
	if (!*total) {
		for (size_t i = 0; i < set->n; i++)
			(*slots)[i] = 1;
		*total = set->n;
	}
	if (*total <= NFT_PICK_MAX_N)
		return true;
	free(*slots);
	*slots = NULL;
	return false;
}

/* A slice of one of the base's pick maps, named PREFIX-H in the fragment. */
static struct nft_set *pick_slice(struct port_ctx *c, const char *prefix, const char *map,
				  enum nft_set_kind k)
{
	char local[NFT_NAME_MAX];
	struct nft_set *s;

	name(local, prefix, c, "");
	s = nft_frag_set(c->f, local, k);
	snprintf(s->in_map, sizeof(s->in_map), "%s", map);
	return s;
}

/*
 * The cluster-IP masquerade, as membership: the cluster IP . protocol . port
 * in @pick-masquerade (--masquerade-all) or @pick-masquerade-external (from
 * outside the pods), which two fixed rules of the services chain check before
 * any dispatch.  Every port's, with a chain of its own or not: as a rule in
 * its chain it cost the kernel eight expressions per port on a full sync (the
 * kernel finds each expression's type by name).
 */
static void masq_membership(struct port_ctx *c)
{
	const struct route *cip = c->s.cip;
	uint8_t key[NFT_KEY_MAX] = { 0 };
	size_t kl = svc_key(key, c, &cip->addr, c->pv->port->port);
	struct nft_set *s;

	if (!cip->masquerade && !c->detector)
		return;
	s = pick_slice(c, "msq", cip->masquerade ? NFT_PICK_MASQ : NFT_PICK_MASQ_EXT, NS_SVC_SET);
	memcpy(nft_set_elem(s)->key, key, kl);
}

static void pick_elements(struct port_ctx *c, size_t total, const size_t *slots)
{
	const struct route *cip = c->s.cip;
	const struct ep_set *set = &c->pv->cat.cluster;
	uint8_t key[NFT_KEY_MAX] = { 0 };
	size_t kl = svc_key(key, c, &cip->addr, c->pv->port->port), k = 0;
	char count[NFT_NAME_MAX];
	struct nft_set *s;

	/* Its slot count is which @pick-N holds its key: a count change moves the key. */
	nft_pick_set(count, (unsigned)total);
	s = pick_slice(c, "cnt", count, NS_SVC_SET);
	memcpy(nft_set_elem(s)->key, key, kl);
	s = pick_slice(c, "eps", NFT_PICK_EPS, NS_PICK_EPS);
	s->slots_free = true;
	s->slot_off = (uint8_t)kl;
	for (size_t i = 0; i < set->n; i++) {
		for (size_t j = 0; j < slots[i]; j++) {
			struct nft_elem *e = nft_set_elem(s);
			uint32_t slot = (uint32_t)k++;

			memcpy(e->key, key, kl);
			memcpy(e->key + kl, &slot, 4);
			ep_data(e->data, set->v[i]);
		}
	}
	masq_membership(c);
}

/* A dispatch chain (svc-H over the cluster set, svl-H over the local set). */
static int dispatch_chain(struct port_ctx *c, const char *prefix, const struct ep_set *set,
			  bool with_cip)
{
	const char *tag = prefix[2] == 'c' ? "-c" : "-l";
	char chain[NFT_NAME_MAX];
	struct nft_chain *ch;

	name(chain, prefix, c, "");
	ch = nft_frag_chain(c->f, chain);
	/*
	 * Cluster-IP masquerade (everything with --masquerade-all, else traffic
	 * not from a pod: the node may have been used as a router) happens in
	 * the services chain, before the dispatch that brings packets here.
	 */
	if (with_cip)
		masq_membership(c);
	if (c->pv->svc->affinity_client_ip) {
		size_t at = (size_t)(ch - c->f->chains);

		for (size_t i = 0; i < set->n; i++) {
			struct nft_rule *r;
			char n[NFT_NAME_MAX];

			affinity_endpoint(c, set->v[i]);
			ch = &c->f->chains[at]; /* adding the endpoint's chain may have moved it */
			r = nft_chain_rule(ch);
			nft_affinity_set(n, ep_id(c, set->v[i]));
			x_named(r, NX_AFFINITY, n, 0)->id = ep_id(c, set->v[i]);
			ep_name(n, "ep", c, set->v[i]);
			x_verdict(r, NV_GOTO, n);
		}
	} else if (streq_null(c->pv->lb.sched_name, "maglev")) {
		return maglev_dispatch(c, ch, set, tag);
	}
	random_dispatch(c, ch, set, tag);
	return 0;
}

/*
 * externalTrafficPolicy Cluster, with endpoints: external traffic is marked
 * and goes to the cluster set.  The mark is membership in
 * @external-masquerade / @nodeport-masquerade (checked by fixed rules of
 * the services chain), the dispatch elements go to svc-H: no ext-H chain.
 */
static bool ext_by_membership(const struct port_ctx *c)
{
	return c->s.has_ext && !c->s.ext_local && c->s.ext_forward && c->s.has_svc;
}

/* ext-H: what the other external traffic (NodePorts, external and LB IPs) goes through. */
static void ext_chain(struct port_ctx *c)
{
	char chain[NFT_NAME_MAX], svc[NFT_NAME_MAX], svl[NFT_NAME_MAX];
	struct nft_chain *ch;
	struct nft_rule *r;

	name(chain, "ext", c, "");
	name(svc, "svc", c, "");
	name(svl, "svl", c, "");
	ch = nft_frag_chain(c->f, chain);
	if (!c->s.ext_local) {
		/* Endpoints may be on another node: masquerade so replies come back here. */
		rule_to(ch, NV_JUMP, CH_MARK_MASQ);
	} else {
		/* Pods reaching an external address act as if they came back from outside. */
		if (c->detector && c->s.has_svc) {
			r = nft_chain_rule(ch);
			x_addr(r, NX_SADDR, c->detector, false);
			x_verdict(r, NV_GOTO, svc);
		}
		/* The host's own traffic has a local source (maybe the LB IP): masquerade it. */
		r = nft_chain_rule(ch);
		x_flag(r, NX_FIB_LOCAL, 0, false)->which = NX_SADDR;
		x_verdict(r, NV_JUMP, CH_MARK_MASQ);
		if (c->s.has_svc) {
			r = nft_chain_rule(ch);
			x_flag(r, NX_FIB_LOCAL, 0, false)->which = NX_SADDR;
			x_verdict(r, NV_GOTO, svc);
		}
	}
	/* Without it (no local endpoints) the packet is not DNATed: the filter drops it. */
	if (c->s.ext_forward)
		rule_to(ch, NV_GOTO, c->s.ext_local ? svl : svc);
}

/* fw-H: loadBalancerSourceRanges, checked before DNAT (filter-prerouting, filter-output). */
static void fw_chain(struct port_ctx *c)
{
	const struct route *fw = c->s.fw;
	const struct port_view *pv = c->pv;
	char chain[NFT_NAME_MAX];
	bool from_node = false;
	struct nft_chain *ch;
	struct nft_rule *r;

	name(chain, "fw", c, "");
	ch = nft_frag_chain(c->f, chain);
	for (size_t i = 0; i < fw->n_source_ranges; i++) {
		const struct cidr *cr = &fw->source_ranges[i];

		if (cr->addr.family != c->o->family)
			continue;
		r = nft_chain_rule(ch);
		x_addr(r, NX_SADDR, cr, false);
		x_verdict(r, NV_RETURN, NULL);
		if (c->o->node_ip && cidr_contains(cr, c->o->node_ip))
			from_node = true;
	}
	/* A VIP-style load balancer has its IP on the node: the node's own requests come from it. */
	for (size_t i = 0; from_node && i < pv->n_routes; i++) {
		const struct route *lb = &pv->routes[i];
		struct cidr host = { .addr = lb->addr, .prefix = lb->addr.family == AF_INET6 ? 128 : 32 };

		if (lb->kind != ROUTE_LOAD_BALANCER || !lb->allocated)
			continue;
		r = nft_chain_rule(ch);
		x_addr(r, NX_SADDR, &host, false);
		x_verdict(r, NV_RETURN, NULL);
	}
	rule_to(ch, NV_DROP, NULL);
}

/* An element of a shared map: key (address, or none for NodePorts), then the verdict. */
static void shared_verdict(struct port_ctx *c, enum nft_shared set, const struct route *r,
			   uint16_t port, enum nft_verdict v, const char *chain)
{
	uint8_t key[NFT_KEY_MAX] = { 0 };
	struct nft_elem *e;

	if (nft_shared_kind(set) == NS_PORT_VMAP || nft_shared_kind(set) == NS_PORT_SET)
		key_port(key + key_proto(key, c->ipproto), port);
	else
		svc_key(key, c, &r->addr, port);
	/* One NodePort element however many node addresses the view shows it on. */
	for (size_t i = 0; i < c->f->n_shared; i++)
		if (c->f->shared[i].set == set && !memcmp(c->f->shared[i].e.key, key, sizeof(key)))
			return;
	e = plan_shared(c->f, set);
	memcpy(e->key, key, sizeof(key));
	e->verdict = (uint8_t)v;
	if (chain) /* our names: they fit (NFT_ELEM_CHAIN_MAX) */
		snprintf(e->chain, sizeof(e->chain), "%s", chain);
}

static void shared_elements(struct port_ctx *c, bool picked)
{
	const struct port_view *pv = c->pv;
	char target[NFT_NAME_MAX];

	if (c->s.int_forward && !picked) {
		name(target, c->s.cip->uses_local ? "svl" : "svc", c, "");
		shared_verdict(c, SH_SERVICES, c->s.cip, pv->port->port, NV_GOTO, target);
	}
	name(target, ext_by_membership(c) ? "svc" : "ext", c, "");
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];
		bool np = r->kind == ROUTE_NODE_PORT;
		uint16_t port = np ? r->port : pv->port->port;

		if (!r->allocated || (r->kind == ROUTE_CLUSTER_IP && r != c->s.cip))
			continue;
		if (r->action != ACTION_FORWARD)
			shared_verdict(c, np ? SH_NOEP_NODEPORTS : SH_NOEP_SERVICES, r, port,
				       r->action == ACTION_REJECT ? NV_GOTO : NV_DROP,
				       r->action == ACTION_REJECT ? CH_REJECT : NULL);
		if (r->kind == ROUTE_CLUSTER_IP || !c->s.has_ext || r->action == ACTION_REJECT)
			continue;
		shared_verdict(c, np ? SH_NODEPORTS : SH_SERVICES, r, port, NV_GOTO, target);
		if (ext_by_membership(c))
			shared_verdict(c, np ? SH_NODEPORT_MASQ : SH_EXT_MASQ, r, port, NV_NONE, NULL);
	}
	for (size_t i = 0; c->s.fw && i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];

		if (r->kind != ROUTE_LOAD_BALANCER || !r->allocated ||
		    !route_ranges(r, c->o->family))
			continue;
		name(target, "fw", c, "");
		shared_verdict(c, SH_FIREWALL, r, pv->port->port, NV_GOTO, target);
	}
}

/*
 * endpoint . endpoint for the endpoints a pod can reach itself at through
 * this node's DNAT: its reply must come back through us, so it is
 * masqueraded.  A pod's own service traffic is DNATed on its own node, so
 * that is the endpoints on this node (and those whose node is not known).
 * A pod on another node reaches this node's DNAT unmasqueraded only as
 * external traffic of an externalTrafficPolicy Local port (NodePort on this
 * node's address: pods take the cluster's endpoints there, unmarked, as
 * kube-proxy does): those ports keep every endpoint.  Other nodes'
 * endpoints of the other ports were a third of the table's elements at
 * 10,000 services, for packets that never come here.
 */
static bool hairpin_possible(const struct port_ctx *c, const struct ep *e)
{
	return e->is_local || !e->node_name || !*e->node_name || (c->s.has_ext && c->s.ext_local);
}

static void hairpin_elements(struct port_ctx *c)
{
	const struct ep_set *sets[2] = { &c->pv->cat.cluster, &c->pv->cat.local };
	size_t first = c->f->n_shared;

	for (int k = 0; k < 2; k++) {
		for (size_t i = 0; !sets[k]->nil && i < sets[k]->n; i++) {
			uint8_t key[NFT_KEY_MAX] = { 0 };
			size_t n;
			bool dup = false;

			if (!hairpin_possible(c, sets[k]->v[i]))
				continue;
			n = key_addr(key, &sets[k]->v[i]->addr);
			key_addr(key + n, &sets[k]->v[i]->addr);
			for (size_t j = first; j < c->f->n_shared && !dup; j++)
				dup = !memcmp(c->f->shared[j].e.key, key, sizeof(key));
			if (!dup)
				memcpy(plan_shared(c->f, SH_HAIRPIN)->key, key, sizeof(key));
		}
	}
}

static void frag_key(struct port_ctx *c)
{
	const struct port_view *pv = c->pv;
	uint64_t h;

	c->f->key = xasprintf("%s:%s/%s", pv->svc->key, pv->port->name ? pv->port->name : "",
			      proto_name(pv->port->proto));
	h = fnv1a_update(0xcbf29ce484222325ull, c->f->key, strlen(c->f->key));
	snprintf(c->h, sizeof(c->h), "%016llx", (unsigned long long)h);
	c->hv = h;
}

/* A scheduler nf_tables cannot run per packet is replaced by random picks, and said so. */
static void scheduler_warning(struct port_ctx *c)
{
	const char *s = c->pv->lb.sched_name;

	if (!s || streq(s, "random") || streq(s, "maglev"))
		return;
	c->f->warning = xasprintf("nftables: %s uses scheduler %s, which nf_tables cannot run per"
				  " packet; it gets random picks (numgen)%s instead", c->f->key, s,
				  c->pv->lb.n_weights ? " in proportion to its endpoint weights" : "");
}

int nft_plan_port(const struct port_view *pv, const struct nft_plan_opts *o, struct nft_frag *ret)
{
	struct port_ctx c = { .pv = pv, .o = o, .f = ret };
	size_t total = 0, *slots = NULL;
	bool picked;
	int r;

	*ret = (struct nft_frag){ .view_id = pv->id };
	c.detector = plan_detector(o, &r);
	if (r < 0)
		return r;
	port_shape(pv, o->family, &c.s);
	if (!c.s.render)
		return 0;
	c.ipproto = proto_ipproto(pv->port->proto);
	frag_key(&c);
	scheduler_warning(&c);
	picked = pickable(&c, &total, &slots);
	if (picked)
		pick_elements(&c, total, slots);
	else if (c.s.has_svc)
		r = dispatch_chain(&c, "svc", &pv->cat.cluster, c.s.int_forward && !c.s.cip->uses_local);
	free(slots);
	if (r >= 0 && c.s.has_svl)
		r = dispatch_chain(&c, "svl", &pv->cat.local, c.s.int_forward && c.s.cip->uses_local);
	if (r < 0) {
		nft_frag_done(ret);
		return r;
	}
	if (c.s.has_ext && !ext_by_membership(&c))
		ext_chain(&c);
	if (c.s.fw)
		fw_chain(&c);
	shared_elements(&c, picked);
	hairpin_elements(&c);
	nft_frag_finish(ret);
	return 0;
}
