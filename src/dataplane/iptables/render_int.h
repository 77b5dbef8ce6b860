/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables renderer's own declarations, shared by its files and by
 * nothing else: render.c (the ruleset: options, fixed chains, entry
 * points), port_plan.c (what a service port renders to: plan, names, tags)
 * and port_rules.c (a port's rules).
 *
 * Where rules go (struct ipt_sink): a full render writes everything into one
 * stream, front to back, chains interleaved as kube-proxy writes them; a
 * per-chain render (fragments, see frag.h) writes each chain's rules into
 * its own buffer, so nothing has to be parsed back.  Every rule starts by
 * asking for its chain's buffer (shared_buf(), own_rule()); in a full
 * render that is always the stream.
 */
#ifndef KROUTE_DATAPLANE_IPTABLES_RENDER_INT_H
#define KROUTE_DATAPLANE_IPTABLES_RENDER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/sbuf.h"
#include "dataplane/common/port_shape.h"
#include "dataplane/iptables/render.h"

/* Longest service-port name put in a comment; the kernel's limit is 255 bytes. */
#define IPT_COMMENT_NAME_MAX 180

enum chain_kind {
	CH_SVC,
	CH_SVL,
	CH_EXT,
	CH_FW,
	CH_SEP,
};

struct chain_prefix {
	const char *s;
	size_t n;
};

static const struct chain_prefix prefixes[] = {
	[CH_SVC] = { IPT_PREFIX_SVC, sizeof(IPT_PREFIX_SVC) - 1 },
	[CH_SVL] = { IPT_PREFIX_SVL, sizeof(IPT_PREFIX_SVL) - 1 },
	[CH_EXT] = { IPT_PREFIX_EXT, sizeof(IPT_PREFIX_EXT) - 1 },
	[CH_FW] = { IPT_PREFIX_FW, sizeof(IPT_PREFIX_FW) - 1 },
	[CH_SEP] = { IPT_PREFIX_SEP, sizeof(IPT_PREFIX_SEP) - 1 },
};

/* What one service port renders to; the same for rules and for chain lists. */

/* Bits of ipt_ctx.sep_state. */
#define SEP_TAG 1u      /* sep_tags[] computed */
#define SEP_DECLARED 2u /* chain line written */
#define SEP_WRITTEN 4u  /* chain rules written */

struct port_state {
	struct port_shape p;
	char tag[IPT_TAG_LEN];
	size_t name_off, name_len;   /* servicePortName in ipt_ctx.names, NUL-terminated */
	size_t cname_off, cname_len; /* the same made safe for comments */
	size_t ep_base;              /* pv->eps[0]'s index in sep_tags / sep_state */
};

/* Where the rules go; see the top of this file. */
struct ipt_sink {
	struct sbuf *stream;           /* a full render; NULL: one buffer per chain */
	struct sbuf *shared;           /* per chain: [IPT_N_SHARED], the rules of each shared chain */
	struct ipt_part *own;          /* per chain: the port's own chains, as declared */
	size_t n_own, n_ready, cap_own; /* n_ready: slots whose rules buffer exists (reused) */
	size_t own_of[CH_SEP];         /* 1 + index in own of the EXT/FW/SVC/SVL chain; 0: none */
	size_t *own_of_ep;             /* 1 + index in own of endpoint i's SEP chain; 0: none */
	struct sbuf stray;             /* rules of a chain never declared (a bug): dropped */
	bool bad;                      /* something went to stray */
};

struct ipt_ctx {
	const struct ipt_opts *o;
	bool comments;                 /* per-endpoint comments (off in large clusters) */
	char mark[16];                 /* "0x00004000", as kube-proxy's "%#08x" prints it */
	size_t mark_len;
	bool detector;
	char detect_cidr[ADDR_STRLEN + 4];
	bool localhost_np;             /* localhost NodePorts in effect */
	const struct addr *node_ip;    /* NULL: unknown */
	struct sbuf names;          /* servicePortNames, see port_state */
	char (*sep_tags)[IPT_TAG_LEN];
	unsigned char *sep_state;
	/* "%0.10f" of 1/n for 1 <= n < n_prob, with its length. */
	char (*prob)[16];
	unsigned char *prob_len;
	size_t n_prob;
	struct ipt_sink sink;
};

/* The port being written: what the helpers below need about it. */
struct port_ref {
	struct ipt_ctx *c;
	const struct port_view *pv;
	struct port_state *ps;
	const char *name;              /* servicePortName, NUL-terminated */
	const char *cname;
	size_t cname_len;
	const char *proto;             /* "tcp" */
	size_t proto_len;
};

/* The buffer a rule of shared chain s goes to. */
static inline struct sbuf *shared_buf(struct ipt_ctx *c, enum ipt_shared_chain s)
{
	return c->sink.stream ? c->sink.stream : &c->sink.shared[s];
}

/* Text only a full render has: table headers, COMMIT, the shared chains' declarations. */
static inline void stream_only(struct ipt_ctx *c, const char *s, size_t n)
{
	if (c->sink.stream)
		sbuf_add(c->sink.stream, s, n);
}

#define STREAM_ONLY(c, lit) stream_only((c), "" lit, sizeof(lit) - 1)

static inline void add_target(struct sbuf *b, const char *target)
{
	SBUF_ADDL(b, " -j ");
	sbuf_adds(b, target);
	sbuf_addc(b, '\n');
}

static inline void add_mark(const struct ipt_ctx *c, struct sbuf *b)
{
	sbuf_add(b, c->mark, c->mark_len);
}

/* port_plan.c */
/* The endpoint sets whose members get SEP chains, in declaration order (NULL: skip). */
const struct ep_set *sep_set(const struct port_view *pv, const struct port_shape *p, int i);
/* "%0.10f" of 1/n, cached. */
const char *probability(struct ipt_ctx *c, size_t n, size_t *ret_len);
/* Whether endpoint e of this port is DNATed inline, without a SEP chain (see render.h). */
bool sep_inline(const struct ipt_opts *o, const struct port_view *pv, const struct port_shape *p,
		const struct ep *e);
/* Plans the port and computes its names and tag; its endpoints start at ep_base. */
void port_prepare(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps,
		  size_t ep_base);
/* After every port_prepare(): names no longer move. */
void port_ref(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps,
	      struct port_ref *r);
/* The endpoint's SEP tag, computed once; *ret_state (optional) is its SEP_* bits. */
const char *sep_tag(const struct port_ref *r, const struct ep *e, unsigned char **ret_state);

/* port_rules.c */
/* The port's rules in the filter table: REJECT / DROP, LB firewall drops, health-check accept. */
void port_filter(const struct port_ref *r);
/* The port's own nat chains: EXT, FW, SVC, SVL, then one SEP per endpoint. */
void port_declare(const struct port_ref *r);
/* The port's nat rules: its entries in KUBE-SERVICES and KUBE-NODEPORTS, and its own chains'. */
void port_nat(const struct port_ref *r);

#endif
