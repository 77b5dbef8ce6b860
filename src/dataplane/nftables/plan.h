/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables mode's model of its table and the pure planner that fills
 * it from the node view.  One table per IP family (ip kroute, ip6 kroute)
 * holds a fixed part (the base: hook chains, the dispatch maps, the
 * masquerade chains; nft_plan_base()) and one fragment per service port
 * (nft_plan_port()): its own chains and maps, and its elements in the
 * shared maps.  Dispatch never grows with the number of services: a
 * packet is looked up once in a verdict map keyed on
 * address . protocol . port (or protocol . port for NodePorts) and jumps
 * straight to its service's chain, where one rule picks an endpoint from a
 * map (numgen random mod N, or a Maglev table under jhash); a port with a
 * cluster IP only has no chain: its elements in the pick maps are found by
 * the packet's own address . protocol . port (NFT_PICK_MAX_N below).
 *
 * Rules are kept as a small intermediate form (struct nft_x, one item per
 * match or statement) that the netlink layer (nl.c) turns into
 * expressions and text.c into nft syntax; nothing here does I/O.  The
 * layout and why: README.md.
 */
#ifndef KROUTE_DATAPLANE_NFTABLES_PLAN_H
#define KROUTE_DATAPLANE_NFTABLES_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct node_view;
struct port_view;

#define NFT_TABLE "kroute"
/*
 * Every service's endpoint slots live in maps of the base, keyed on the
 * service's id (a 64-bit hash) . slot, sharded by the id's top bits.  Why
 * shards: the kernel finds a set by name walking the table's list of
 * sets, so a set per service makes a sync quadratic in services; and it
 * checks every element added to a map against every rule that looks the
 * map up, so one map for all services is quadratic too.  256 maps of
 * about n/256 services each keep both walks short.
 */
#define NFT_EPS_SHARDS 256u            /* endpoints-00..ff: id . slot : addr . port */
/*
 * endpoint-chains-00..ff: id . slot : goto ep-H-E (affinity).  As many shards as the
 * endpoint maps: on commit the kernel validates each verdict map once per rule that
 * looks it up (every element, every chain it reaches), and each affinity port has
 * such a rule, so the work is the affinity ports times a shard's elements: with 16
 * shards, 3,000 ports at 50,000 services walked 1,750 elements each (a quarter of
 * the kernel's time, the commit's table validation).
 */
#define NFT_EPV_SHARDS 256u
/* ClientIP affinity: endpoint id . client address, timed, filled by the packet path; sharded too. */
#define NFT_AFF_SHARDS 16u             /* affinity-0..f */
/*
 * Element-level dispatch (port.c: pickable ports).  A port whose cluster IP
 * is all it serves, with random picks among N = 1..NFT_PICK_MAX_N slots, has
 * no chain of its own and no element in @services: generic rules of the
 * services chain find its elements by the packet's own address . protocol
 * . port (K).  K is in the set @pick-N, and its slots are K . slot :
 * address . port in @pick-endpoints; the services chain has one rule per N,
 * `K @pick-N dnat to K . numgen random mod N map @pick-endpoints`.  So an
 * endpoint change is elements only (K may move to another @pick-N): no rule
 * and no verdict element changes, either of which makes nf_tables validate
 * the whole table on commit.  The rules are the same for every port: the
 * kernel checks every element of a map for each chain whose rules bind it,
 * so per-service rules could not share one map.
 */
#define NFT_PICK_MAX_N 32u
#define NFT_PICK_EPS "pick-endpoints"
#define NFT_PICK_MASQ "pick-masquerade"          /* cluster IPs masqueraded always (--masquerade-all) */
#define NFT_PICK_MASQ_EXT "pick-masquerade-external" /* cluster IPs masqueraded from outside the pods */
/* The set of the keys of ports with n slots. */
#define NFT_NAME_MAX 40          /* our chain and set names are at most 33 characters */
#define NFT_KEY_MAX 32           /* ip6 . ip6 (the longest: ip6 . proto . port . slot is 28) */
#define NFT_DATA_MAX 20          /* ip6 . port */
/*
 * An element's jump target: the longest chain an element names is an
 * affinity endpoint's, "ep-" 16 hex "-" 8 hex (28 characters).  Not
 * NFT_NAME_MAX: the mirror holds a million elements at 50,000 services, and
 * 11 bytes each was 19 MB.
 */
#define NFT_ELEM_CHAIN_MAX 29

/* The verdicts an element or a rule can carry (values as the kernel's). */
enum nft_verdict {
	NV_NONE = 0,
	NV_ACCEPT,
	NV_DROP,
	NV_RETURN,
	NV_JUMP,
	NV_GOTO,
};

/* Items of a rule: matches, then statements; nl.c says which expressions each becomes. */
enum nft_x_kind {
	NX_CT_STATE,        /* ct state & num != 0 (neg: == 0) */
	NX_CT_DNAT,         /* ct status dnat (neg: not) */
	NX_FIB_LOCAL,       /* fib saddr|daddr type local (which) */
	NX_ADDR,            /* ip saddr|daddr (which) in cidr (neg: not in) */
	NX_DPORT,           /* th dport == port */
	NX_ADDR_IN_SET,     /* ip saddr|daddr @name */
	NX_HAIRPIN,         /* ip saddr . ip daddr @name */
	NX_MARK,            /* meta mark & num != 0 (neg: == 0) */
	NX_MARK_OR,         /* meta mark set meta mark | num */
	NX_MARK_XOR,        /* meta mark set meta mark ^ num */
	NX_UPDATE,          /* update @name { id . ip saddr timeout num s } */
	NX_AFFINITY,        /* id . ip saddr @name */
	NX_VMAP_SVC,        /* ip daddr . meta l4proto . th dport vmap @name */
	NX_VMAP_PORT,       /* meta l4proto . th dport vmap @name */
	NX_VMAP_NUMGEN,     /* numgen random mod num vmap @name */
	NX_DNAT,            /* dnat to addr:port */
	NX_DNAT_NUMGEN,     /* dnat to numgen random mod num map @name */
	NX_DNAT_JHASH,      /* dnat to jhash ip saddr . th sport . ip daddr . th dport mod num map @name */
	NX_PICK,            /* dnat to K . numgen random mod num map @name, K = ip daddr . meta l4proto . th dport */
	NX_SVC_IN_SET,      /* ip daddr . meta l4proto . th dport @name */
	NX_PORT_IN_SET,     /* meta l4proto . th dport @name */
	NX_MASQ,            /* masquerade fully-random */
	NX_REJECT,          /* reject (ICMP port unreachable) */
	NX_VERDICT,         /* verdict (jump/goto name) */
};

enum { NX_SADDR = 0, NX_DADDR = 1 };

struct nft_x {
	uint8_t kind;       /* enum nft_x_kind */
	uint8_t which;      /* NX_SADDR / NX_DADDR */
	bool neg;
	uint8_t verdict;    /* enum nft_verdict */
	uint16_t port;
	uint32_t num;       /* ct state bits, mark bits, modulus */
	uint64_t id;        /* NX_*NUMGEN, NX_DNAT_JHASH: the service's id in the endpoint maps */
	struct cidr cidr;   /* NX_ADDR; NX_DNAT's address */
	char name[NFT_NAME_MAX]; /* a set or map, or the jump target */
};

struct nft_rule {
	struct nft_x *x;
	size_t n;
};

struct nft_chain {
	char name[NFT_NAME_MAX];
	const char *type;   /* base chains: "filter" or "nat"; NULL for a regular chain */
	int hook;           /* NF_INET_* */
	int prio;
	struct nft_rule *rules;
	size_t n_rules, cap_rules;
	uint64_t hash;      /* of the rules, to tell a changed chain (nft_frag_finish) */
};

/* What a set's keys and data are; the byte layout is the registers' (plan.c: nft_key_len). */
enum nft_set_kind {
	NS_SVC_VMAP,        /* addr . proto . port : verdict */
	NS_PORT_VMAP,       /* proto . port : verdict */
	NS_ADDR_PAIRS,      /* addr . addr */
	NS_ADDRS,           /* addr */
	NS_AFFINITY,        /* endpoint id . addr, dynamic with timeouts: filled by the packet path */
	NS_EP_MAP,          /* id . slot : addr . port (dnat targets) */
	NS_EP_VMAP,         /* id . slot : verdict */
	NS_PICK_EPS,        /* addr . proto . port . slot : addr . port */
	NS_SVC_SET,         /* addr . proto . port */
	NS_PORT_SET,        /* proto . port */
};

/*
 * An element (the mirror holds a million at 50,000 services, and a claim
 * copies each shared one): a map's data or a verdict's chain, never both,
 * so they share their bytes.  Elements are zeroed whole before they are
 * filled (nft_set_elem), so comparing the union's bytes compares either.
 */
struct nft_elem {
	uint8_t key[NFT_KEY_MAX];
	uint8_t verdict;    /* verdict maps */
	union {
		uint8_t data[NFT_DATA_MAX];   /* data maps */
		char chain[NFT_ELEM_CHAIN_MAX]; /* jump / goto target */
	};
};

struct nft_set {
	char name[NFT_NAME_MAX];
	uint8_t kind;       /* enum nft_set_kind */
	uint32_t timeout_s; /* NS_AFFINITY */
	bool slots_free;    /* numgen slots: any slot may hold any endpoint (diff.c keeps them put) */
	uint8_t slot_off;   /* slots_free: where the slot is in the key (0: 8, after the id) */
	char in_map[NFT_NAME_MAX]; /* a slice (these elements only) of this base map; "": a set of its own */
	/*
	 * A set of its own: the most elements the kernel's set holds (its
	 * `size`; 0: none given), and how many it holds (sync.c: nft_fit_sizes).
	 * Why sizes: README.md, "Set sizes".
	 */
	uint32_t size, kcount;
	struct nft_elem *elems;
	size_t n_elems, cap_elems;
};

/* The base's shared maps, which port fragments add elements to. */
enum nft_shared {
	SH_SERVICES,          /* cluster, external and LB IPs -> their service's chain */
	SH_NODEPORTS,         /* NodePorts -> the service's external chain */
	SH_NOEP_SERVICES,     /* addresses without endpoints (here) -> drop / reject */
	SH_NOEP_NODEPORTS,    /* NodePorts without endpoints (here) -> drop / reject */
	SH_FIREWALL,          /* LB IPs with loadBalancerSourceRanges -> the service's firewall chain */
	SH_HAIRPIN,           /* endpoint . endpoint: a pod reaching itself is masqueraded */
	/*
	 * externalTrafficPolicy Cluster: what is masqueraded, as membership
	 * checked by fixed rules of the services chain, the external and LB
	 * addresses' elements and the NodePorts' going straight to svc-H.  A
	 * chain ext-H per port (mark, goto svc-H) was 2,601 of the 11,577
	 * chains at 10,000 services.
	 */
	SH_EXT_MASQ,          /* external and LB IP . proto . port */
	SH_NODEPORT_MASQ,     /* proto . NodePort */
	SH_N,
};

struct nft_shared_elem {
	uint8_t set;          /* enum nft_shared */
	struct nft_elem e;
};

/*
 * A fragment: the base, or one service port.  Its chains and sets are its
 * own (named after it); shared holds its elements in the base's maps.
 */
struct nft_frag {
	char *key;            /* "base", or "ns/name:port/PROTO" */
	uint64_t view_id;     /* the port view it was planned from */
	struct nft_chain *chains;
	size_t n_chains, cap_chains;
	struct nft_set *sets;
	size_t n_sets, cap_sets;
	struct nft_shared_elem *shared;
	size_t n_shared, cap_shared;
	char *warning;        /* a scheduler the kernel cannot run, and what is used instead */
	size_t n_rules;       /* over its chains */
	uint64_t seen;        /* the mirror's bookkeeping (diff.c) */
};

struct nft_plan_opts {
	int family;                       /* AF_INET or AF_INET6 */
	uint32_t mark;                    /* the masquerade mark bit (1 << 14) */
	const struct cidr *cluster_cidrs; /* local detector: the first of the family */
	size_t n_cluster_cidrs;
	const struct cidr *nodeport_cidrs; /* --nodeport-addresses; none = every local address */
	size_t n_nodeport_cidrs;
	const struct addr *local_addrs;    /* the host's addresses, with nodeport_cidrs */
	size_t n_local_addrs;
	bool localhost_nodeports;          /* NodePorts answer on 127.0.0.1 (IPv4) */
	const struct addr *node_ip;        /* for loadBalancerSourceRanges that hold it; may be NULL */
};

extern const char *const nft_shared_names[SH_N];

/* The set kind of a shared map. */
enum nft_set_kind nft_shared_kind(enum nft_shared s);
/* Key and data lengths in bytes of a set kind in family. */
size_t nft_key_len(enum nft_set_kind k, int family);
size_t nft_data_len(enum nft_set_kind k, int family);
/* The set the kernel knows: the base map a slice is part of, or the set itself. */
static inline const char *nft_set_kname(const struct nft_set *s)
{
	return s->in_map[0] ? s->in_map : s->name;
}
/* The endpoint map (verdict: the affinity chains' map) that holds id's slots. */
void nft_slots_map(char buf[NFT_NAME_MAX], bool verdict, uint64_t id);
/* The affinity set that holds endpoint id's clients. */
void nft_affinity_set(char buf[NFT_NAME_MAX], uint64_t id);
/* The set flags (NFT_SET_MAP...) a set kind is created with. */
uint32_t nft_set_flags(enum nft_set_kind k);

/*
 * The size a set of n elements is created with: room to grow (a partial
 * sync that would overflow it makes the next sync a full one, which creates
 * the set again at its new size).  0 for sets the kernel fills (affinity).
 */
uint32_t nft_set_size_for(enum nft_set_kind k, size_t n);

/* Whether localhost NodPorts are on for these options (IPv4, 127.0.0.1 in the NodePort addresses). */
bool nft_localhost_nodeports(const struct nft_plan_opts *o);

/* @pick-N: the keys of element-level dispatch's ports with n slots. */
void nft_pick_set(char buf[NFT_NAME_MAX], unsigned n);

/* The base fragment: hook chains, shared maps, fixed rules. */
void nft_plan_base(const struct nft_plan_opts *o, struct nft_frag *ret);
/*
 * The fragment of one port view of the family (ret->key NULL when the port
 * has nothing in this family or no cluster IP: nothing to program).
 * -EINVAL for options the planner cannot express (two cluster CIDRs).
 */
int nft_plan_port(const struct port_view *pv, const struct nft_plan_opts *o, struct nft_frag *ret);
void nft_frag_done(struct nft_frag *f);

/* Helpers shared by plan.c and the tests. */
struct nft_chain *nft_frag_chain(struct nft_frag *f, const char *name);
struct nft_set *nft_frag_set(struct nft_frag *f, const char *name, enum nft_set_kind k);
struct nft_rule *nft_chain_rule(struct nft_chain *c);
struct nft_x *nft_rule_x(struct nft_rule *r, enum nft_x_kind k);
struct nft_elem *nft_set_elem(struct nft_set *s);
/* Chain hashes and rule counts, once a fragment is complete. */
void nft_frag_finish(struct nft_frag *f);

#endif
