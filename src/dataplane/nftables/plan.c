/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The planner: node view -> the table model of plan.h.  Pure: no I/O, no
 * clock, no globals.  The view has decided every policy (route actions,
 * which endpoint set, masquerade); this file only says it in nf_tables,
 * with the packet outcomes of the iptables mode (iptables/port_rules.c
 * writes the same decisions as kube-proxy's rules).  The base (fixed
 * part) is in base.c.
 */
#include "dataplane/nftables/plan.h"

#include <netinet/in.h> /* before the kernel's headers: glibc's in.h must come first */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/common/nodeport_addrs.h"
#include "dataplane/nftables/plan_int.h"
#include "policy/policy.h"

/* ---- the model's containers ---- */

struct nft_chain *nft_frag_chain(struct nft_frag *f, const char *name)
{
	struct nft_chain *c;

	f->chains = xgrow(f->chains, &f->cap_chains, f->n_chains + 1, sizeof(*f->chains));
	c = &f->chains[f->n_chains++];
	*c = (struct nft_chain){ 0 };
	snprintf(c->name, sizeof(c->name), "%s", name);
	return c;
}

struct nft_set *nft_frag_set(struct nft_frag *f, const char *name, enum nft_set_kind k)
{
	struct nft_set *s;

	f->sets = xgrow(f->sets, &f->cap_sets, f->n_sets + 1, sizeof(*f->sets));
	s = &f->sets[f->n_sets++];
	*s = (struct nft_set){ .kind = k };
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

struct nft_rule *nft_chain_rule(struct nft_chain *c)
{
	c->rules = xgrow(c->rules, &c->cap_rules, c->n_rules + 1, sizeof(*c->rules));
	c->rules[c->n_rules] = (struct nft_rule){ 0 };
	return &c->rules[c->n_rules++];
}

struct nft_x *nft_rule_x(struct nft_rule *r, enum nft_x_kind k)
{
	struct nft_x *x;

	r->x = xrealloc(r->x, (r->n + 1) * sizeof(*r->x));
	x = &r->x[r->n++];
	memset(x, 0, sizeof(*x)); /* padding too: nft_frag_finish() hashes the bytes */
	x->kind = (uint8_t)k;
	return x;
}

struct nft_elem *nft_set_elem(struct nft_set *s)
{
	s->elems = xgrow(s->elems, &s->cap_elems, s->n_elems + 1, sizeof(*s->elems));
	memset(&s->elems[s->n_elems], 0, sizeof(*s->elems));
	return &s->elems[s->n_elems++];
}

struct nft_elem *plan_shared(struct nft_frag *f, enum nft_shared set)
{
	struct nft_shared_elem *se;

	f->shared = xgrow(f->shared, &f->cap_shared, f->n_shared + 1, sizeof(*f->shared));
	se = &f->shared[f->n_shared++];
	memset(se, 0, sizeof(*se));
	se->set = (uint8_t)set;
	return &se->e;
}

void nft_frag_done(struct nft_frag *f)
{
	for (size_t i = 0; i < f->n_chains; i++) {
		for (size_t k = 0; k < f->chains[i].n_rules; k++)
			free(f->chains[i].rules[k].x);
		free(f->chains[i].rules);
	}
	for (size_t i = 0; i < f->n_sets; i++)
		free(f->sets[i].elems);
	free(f->chains);
	free(f->sets);
	free(f->shared);
	free(f->key);
	free(f->warning);
	*f = (struct nft_frag){ 0 };
}

/* An array of n elements of size sz reallocated to n (the mirror keeps every fragment). */
static void *trim(void *p, size_t n, size_t *cap, size_t sz)
{
	if (!p || n == *cap)
		return p;
	*cap = n;
	if (!n) {
		free(p);
		return NULL;
	}
	return xrealloc(p, n * sz);
}

void nft_frag_finish(struct nft_frag *f)
{
	/*
	 * The arrays grew by doubling from 4; the mirror holds every fragment
	 * (at 50,000 services, a million elements): exact sizes.
	 */
	f->chains = trim(f->chains, f->n_chains, &f->cap_chains, sizeof(*f->chains));
	f->sets = trim(f->sets, f->n_sets, &f->cap_sets, sizeof(*f->sets));
	f->shared = trim(f->shared, f->n_shared, &f->cap_shared, sizeof(*f->shared));
	for (size_t i = 0; i < f->n_sets; i++)
		f->sets[i].elems = trim(f->sets[i].elems, f->sets[i].n_elems, &f->sets[i].cap_elems,
					sizeof(*f->sets[i].elems));
	for (size_t i = 0; i < f->n_chains; i++)
		f->chains[i].rules = trim(f->chains[i].rules, f->chains[i].n_rules,
					  &f->chains[i].cap_rules, sizeof(*f->chains[i].rules));
	f->n_rules = 0;
	for (size_t i = 0; i < f->n_chains; i++) {
		struct nft_chain *c = &f->chains[i];
		uint64_t h = 0xcbf29ce484222325ull;

		/* struct nft_x is zeroed whole before use, so its bytes are its value. */
		for (size_t k = 0; k < c->n_rules; k++) {
			h = fnv1a_update(h, c->rules[k].x, c->rules[k].n * sizeof(struct nft_x));
			h = fnv1a_update(h, "|", 1);
		}
		c->hash = h;
		f->n_rules += c->n_rules;
	}
}

/* ---- keys and data, laid out as the registers hold them ---- */

const char *const nft_shared_names[SH_N] = {
	[SH_SERVICES] = "services",
	[SH_NODEPORTS] = "nodeports",
	[SH_NOEP_SERVICES] = "no-endpoint-services",
	[SH_NOEP_NODEPORTS] = "no-endpoint-nodeports",
	[SH_FIREWALL] = "firewall-ips",
	[SH_HAIRPIN] = "hairpin",
	[SH_EXT_MASQ] = "external-masquerade",
	[SH_NODEPORT_MASQ] = "nodeport-masquerade",
};

enum nft_set_kind nft_shared_kind(enum nft_shared s)
{
	switch (s) {
	case SH_NODEPORTS:
	case SH_NOEP_NODEPORTS:
		return NS_PORT_VMAP;
	case SH_HAIRPIN:
		return NS_ADDR_PAIRS;
	case SH_EXT_MASQ:
		return NS_SVC_SET;
	case SH_NODEPORT_MASQ:
		return NS_PORT_SET;
	default:
		return NS_SVC_VMAP;
	}
}

static size_t addr_len(int family)
{
	return family == AF_INET6 ? 16 : 4;
}

size_t nft_key_len(enum nft_set_kind k, int family)
{
	switch (k) {
	case NS_SVC_VMAP:
		return addr_len(family) + 8;
	case NS_PORT_VMAP:
	case NS_PORT_SET:
		return 8;
	case NS_ADDR_PAIRS:
		return 2 * addr_len(family);
	case NS_ADDRS:
		return addr_len(family);
	case NS_AFFINITY:
		return 8 + addr_len(family);
	case NS_SVC_SET:
		return addr_len(family) + 8;
	case NS_PICK_EPS:
		return addr_len(family) + 12;
	default:
		return 12; /* the service's id . a numgen / jhash slot, host order */
	}
}

size_t nft_data_len(enum nft_set_kind k, int family)
{
	switch (k) {
	case NS_EP_MAP:
	case NS_PICK_EPS:
		return addr_len(family) + 4;
	default:
		return 0;
	}
}

uint32_t nft_set_flags(enum nft_set_kind k)
{
	switch (k) {
	case NS_SVC_VMAP:
	case NS_PORT_VMAP:
	case NS_EP_VMAP:
	case NS_EP_MAP:
	case NS_PICK_EPS:
		return NFT_SET_MAP;
	case NS_AFFINITY:
		return NFT_SET_TIMEOUT | NFT_SET_EVAL; /* "dynamic": the packet path adds */
	default:
		return 0;
	}
}

uint32_t nft_set_size_for(enum nft_set_kind k, size_t n)
{
	uint64_t s = (uint64_t)n + n / 2 + 256;

	if (k == NS_AFFINITY)
		return 0; /* grown by the packet path: the kernel's resizable hash */
	return s > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)s;
}

size_t key_addr(uint8_t *p, const struct addr *a)
{
	size_t n = addr_len(a->family);

	memcpy(p, a->bytes, n);
	return n;
}

/* A protocol or a port takes a whole 4-byte register. */
size_t key_proto(uint8_t *p, int ipproto)
{
	memset(p, 0, 4);
	p[0] = (uint8_t)ipproto;
	return 4;
}

size_t key_port(uint8_t *p, uint16_t port)
{
	uint16_t be = htons(port);

	memset(p, 0, 4);
	memcpy(p, &be, 2);
	return 4;
}

void nft_slots_map(char buf[NFT_NAME_MAX], bool verdict, uint64_t id)
{
	if (verdict)
		snprintf(buf, NFT_NAME_MAX, "endpoint-chains-%02x", (unsigned)(id >> 56));
	else
		snprintf(buf, NFT_NAME_MAX, "endpoints-%02x", (unsigned)(id >> 56));
}

void nft_affinity_set(char buf[NFT_NAME_MAX], uint64_t id)
{
	snprintf(buf, NFT_NAME_MAX, "affinity-%x", (unsigned)(id >> 60));
}

void nft_pick_set(char buf[NFT_NAME_MAX], unsigned n)
{
	snprintf(buf, NFT_NAME_MAX, "pick-%u", n);
}

void key_slot(uint8_t *p, uint64_t id, uint32_t slot)
{
	memcpy(p, &id, 8);
	memcpy(p + 8, &slot, 4);
}


/* ---- rule items ---- */

void x_verdict(struct nft_rule *r, enum nft_verdict v, const char *chain)
{
	struct nft_x *x = nft_rule_x(r, NX_VERDICT);

	x->verdict = (uint8_t)v;
	if (chain)
		snprintf(x->name, sizeof(x->name), "%s", chain);
}

void x_addr(struct nft_rule *r, int which, const struct cidr *c, bool neg)
{
	struct nft_x *x = nft_rule_x(r, NX_ADDR);

	x->which = (uint8_t)which;
	x->cidr = *c;
	x->neg = neg;
}

struct nft_x *x_named(struct nft_rule *r, enum nft_x_kind k, const char *name, uint32_t num)
{
	struct nft_x *x = nft_rule_x(r, k);

	snprintf(x->name, sizeof(x->name), "%s", name);
	x->num = num;
	return x;
}

struct nft_x *x_flag(struct nft_rule *r, enum nft_x_kind k, uint32_t num, bool neg)
{
	struct nft_x *x = nft_rule_x(r, k);

	x->num = num;
	x->neg = neg;
	return x;
}

/* A chain's rule that only jumps or goes to another chain. */
void rule_to(struct nft_chain *c, enum nft_verdict v, const char *target)
{
	x_verdict(nft_chain_rule(c), v, target);
}

bool nft_localhost_nodeports(const struct nft_plan_opts *o)
{
	return nodeport_localhost(o->nodeport_cidrs, o->n_nodeport_cidrs, o->family,
				  o->localhost_nodeports);
}

const struct cidr *plan_detector(const struct nft_plan_opts *o, int *err)
{
	const struct cidr *d = NULL;

	*err = 0;
	for (size_t i = 0; i < o->n_cluster_cidrs; i++) {
		if (o->cluster_cidrs[i].addr.family != o->family)
			continue;
		if (d)
			*err = -EINVAL; /* as iptables mode: one local detector CIDR per family */
		d = &o->cluster_cidrs[i];
	}
	return d;
}
