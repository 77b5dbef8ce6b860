/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables renderer: turns the per-node view (policy/policy.h) into
 * iptables-restore input for the filter and nat tables, in kube-proxy's
 * chain layout (see README.md beside this file and
 * kubernetes-semantics.md section 6).  It is a pure function of (view,
 * options): no I/O, no clock, no globals, no kernel.  It expresses the
 * decisions the view already made (which endpoints each route uses,
 * forward / drop / reject, masquerade) and must not make new ones; the few
 * facts it adds are how a decision is spelled in iptables (the local-traffic
 * detector's match, the NodePort destination match, comments).
 *
 * Not here: running iptables-restore, the jump rules in the built-in chains
 * (the apply layer adds those idempotently, from ipt_jump_rules[] below),
 * the KUBE-PROXY-CANARY chains, deleting stale chains, conntrack cleanup.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_RENDER_H
#define KROUTE_DATAPLANE_IPTABLES_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/sbuf.h"
#include "dataplane/iptables/names.h"
#include "policy/policy.h"

struct ipt_opts {
	int family;                        /* AF_INET (iptables-restore) or AF_INET6 (ip6tables-restore) */
	uint32_t masquerade_bit;           /* --iptables-masquerade-bit: mark 1 << bit (0..31) */
	/*
	 * Local-traffic detector (--detect-local-mode=ClusterCIDR): the CIDRs
	 * of --cluster-cidr; only those of this family are used, at most one
	 * (as kube-proxy).  None: the no-op detector (no off-cluster
	 * masquerade, no eTP=Local pod short-circuit).  Pass the same CIDRs as
	 * policy_opts.cluster_cidrs, or the rules and `kroute explain` disagree.
	 */
	const struct cidr *cluster_cidrs;
	size_t n_cluster_cidrs;
	/*
	 * --nodeport-addresses: CIDRs (other families ignored).  None, or one
	 * of prefix 0: NodePorts answer on every local address.  Otherwise
	 * one jump per address of local_addrs inside a CIDR: local_addrs are
	 * this host's interface addresses, which the caller reads
	 * (getifaddrs) so that this stays pure.
	 */
	const struct cidr *nodeport_cidrs;
	size_t n_nodeport_cidrs;
	const struct addr *local_addrs;
	size_t n_local_addrs;
	bool localhost_nodeports;          /* --iptables-localhost-nodeports (IPv4 only) */
	bool conntrack_tcp_be_liberal;     /* sysctl set: no INVALID-drop rule in KUBE-FORWARD */
	/*
	 * The node IP kube-proxy compares loadBalancerSourceRanges with (to
	 * let the node reach its own LB IPs).  Family 0: the view's Node
	 * object's first address of this family.
	 */
	struct addr node_ip;
	bool large_cluster;                /* drop per-endpoint comments (see ipt_large_cluster()) */
	/*
	 * Lean layout (kroute's default in `kroute run`; off here, so the
	 * default output is kube-proxy's exactly): a remote endpoint gets no
	 * KUBE-SEP chain, its DNAT sits in the KUBE-SVC rule that picks it.
	 * Packet outcomes are kube-proxy's: a SEP chain's hairpin rule
	 * (-s endpoint -j KUBE-MARK-MASQ) can only match a packet from that
	 * endpoint itself, and the only way a remote pod's packet reaches this
	 * node's service chains unmasqueraded is eTP=Local's short-circuit of
	 * pod traffic (local detector), so ports with that path, and ports with
	 * session affinity (whose recent lists are named after SEP chains),
	 * keep every SEP chain.  Fewer chains matter because iptables-nft's
	 * restore --noflush slows down with chains x rules (bench/README.md).
	 */
	bool inline_remote_endpoints;
};

/* kube-proxy's defaults: IPv4, bit 14, localhost NodePorts on, no detector. */
void ipt_opts_init(struct ipt_opts *o);

/*
 * kube-proxy's large-cluster test: more than 1000 endpoints over the
 * service ports rendered for family.  Callers set o->large_cluster from it.
 */
bool ipt_large_cluster(const struct node_view *v, int family);
/*
 * Whether the rules accept NodePorts on 127.0.0.0/8 (IPv4, localhost NodePorts
 * on, and the NodePort addresses include loopback): those packets are routed
 * only with the route_localnet sysctl, which the apply layer then sets, as
 * kube-proxy does.
 */
bool ipt_localhost_nodeports(const struct ipt_opts *o);

/*
 * Renders the complete ruleset of both tables ("*filter ... COMMIT" then
 * "*nat ... COMMIT") for o->family, for iptables-restore --noflush.
 * *ret_buf is malloc'ed and NUL-terminated (the NUL not counted in
 * *ret_len); the caller frees it.  Returns 0, or -EINVAL for bad options
 * (family, masquerade bit, more than one cluster CIDR of the family).
 */
int ipt_render_full(const struct node_view *v, const struct ipt_opts *o, char **ret_buf,
		    size_t *ret_len);

enum ipt_table { IPT_TABLE_FILTER, IPT_TABLE_NAT, IPT_N_TABLES };

/*
 * The chains every ruleset declares, shared by all service ports, in the
 * order a full render declares them.  KUBE-FIREWALL only with localhost
 * NodePorts in effect (IPv4).
 */
enum ipt_shared_chain {
	IPT_FILTER_SERVICES,
	IPT_FILTER_EXTERNAL_SERVICES,
	IPT_FILTER_FORWARD,
	IPT_FILTER_NODEPORTS,
	IPT_FILTER_PROXY_FIREWALL,
	IPT_FILTER_FIREWALL,
	IPT_NAT_SERVICES,
	IPT_NAT_NODEPORTS,
	IPT_NAT_POSTROUTING,
	IPT_NAT_MARK_MASQ,
	IPT_N_SHARED,
};

struct ipt_shared_chain_def {
	enum ipt_table table;
	const char *name;
};

extern const struct ipt_shared_chain_def ipt_shared_chains[IPT_N_SHARED];

/* One chain's rules, as the renderer wrote them. */
struct ipt_part {
	enum ipt_table table;
	char name[IPT_CHAIN_NAME_MAX];
	struct sbuf rules;           /* "-A NAME ...\n" lines; empty when none */
	uint64_t hash;               /* of rules (never 0); set by the fragment layer */
};

/*
 * The ruleset by chain, each chain's rules written into its own buffer
 * (the pieces frag.h assembles; no text is parsed back).  With pv NULL:
 * the shared chains' fixed rules (an empty view's, in shared[]), and which
 * of them the ruleset declares.  With pv (a port view of v): only that
 * port's rules, its share of each shared chain in shared[] and its own nat
 * chains in own[], in declaration order (nothing when pv is not rendered for
 * o->family).  A full render's shared chain is every port's share in view
 * order followed by the fixed rules; its own chains are every port's.
 * ret is a workspace: zero it before its first use; later renders into the
 * same ret empty and reuse its buffers (many small renders, one per port,
 * then allocate nothing but what they outgrow; callers copy out what they
 * keep); ipt_chains_done() frees it.  Returns 0, -EINVAL as
 * ipt_render_full(), or -EPROTO for a rule in a chain that was never
 * declared (a renderer bug; never seen).
 */
struct ipt_chains {
	struct sbuf shared[IPT_N_SHARED];
	bool declared[IPT_N_SHARED];
	struct ipt_part *own;        /* the first n_own are this render's */
	size_t n_own;
	size_t n_ready, cap_own;     /* own[] slots with a buffer, and allocated */
};

int ipt_render_chains(const struct node_view *v, const struct port_view *pv,
		      const struct ipt_opts *o, struct ipt_chains *ret);
void ipt_chains_done(struct ipt_chains *c);

/* Chain names, for stale-chain cleanup. */
struct ipt_chain_list {
	char (*names)[IPT_CHAIN_NAME_MAX]; /* owned */
	size_t n, cap;
};

/*
 * Appends to out the nat chains that ipt_render_full() declares for pv
 * (KUBE-EXT, KUBE-FW, KUBE-SVC, KUBE-SVL, then KUBE-SEP in endpoint order;
 * nothing when pv is not rendered for o->family).  Any KUBE-SVC/SVL/EXT/
 * FW/SEP chain on the node that no port view lists is stale.
 */
void ipt_port_chains(const struct port_view *pv, const struct ipt_opts *o,
		     struct ipt_chain_list *out);
void ipt_chain_list_done(struct ipt_chain_list *l);

/*
 * A jump from a built-in chain into kroute's chains.  The apply layer
 * ensures each, in this order, on a full sync: create `target` in `table`
 * if missing (iptables -N; the restore input also declares it), then
 * `iptables -t table -C chain args...` and, when that fails,
 * `iptables -t table -I chain 1 args...`, so kroute's jumps come before
 * other rules as kube-proxy's do.  args is NULL-terminated and is the rule
 * after the chain name, ending in "-j target".  Both families use the same
 * table (iptables and ip6tables).
 */
struct ipt_jump_rule {
	const char *table;       /* "filter" or "nat" */
	const char *chain;       /* built-in: PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING */
	const char *target;      /* KUBE-... */
	const char *args[12];
	bool kubelet;            /* KUBE-FIREWALL is shared with kubelet: ensure, never delete */
};

extern const struct ipt_jump_rule ipt_jump_rules[];
extern const size_t ipt_n_jump_rules;

#endif
