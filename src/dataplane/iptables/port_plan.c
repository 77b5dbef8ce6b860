/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What one service port renders to, before any rule is written: which
 * chains it has (port_shape(), from the view's decisions and endpoint sets),
 * its servicePortName and chain tags, its endpoints' SEP tags and the
 * statistic probabilities.  See render_int.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "dataplane/iptables/render_int.h"

const struct ep_set *sep_set(const struct port_view *pv, const struct port_shape *p, int i)
{
	switch (i) {
	case 0:
		return &pv->cat.all;
	case 1:
		/* Subsets of "all" in a consistent view; listed so a jump never lacks its chain. */
		return p->has_svc ? &pv->cat.cluster : NULL;
	default:
		return p->has_svl ? &pv->cat.local : NULL;
	}
}

const char *probability(struct ipt_ctx *c, size_t n, size_t *ret_len)
{
	if (n >= c->n_prob) {
		size_t want = MAX(n + 1, 2 * c->n_prob);

		c->prob = xrealloc(c->prob, want * sizeof(*c->prob));
		c->prob_len = xrealloc(c->prob_len, want);
		for (size_t i = c->n_prob ? c->n_prob : 1; i < want; i++)
			c->prob_len[i] = (unsigned char)snprintf(c->prob[i], sizeof(c->prob[i]),
								 "%0.10f", 1.0 / (double)i);
		c->n_prob = want;
	}
	*ret_len = c->prob_len[n];
	return c->prob[n];
}

static bool has_detector(const struct ipt_opts *o)
{
	for (size_t i = 0; i < o->n_cluster_cidrs; i++)
		if (o->cluster_cidrs[i].addr.family == o->family)
			return true;
	return false;
}

/* Whether endpoint e of this port is DNATed inline, without a SEP chain (see render.h). */
bool sep_inline(const struct ipt_opts *o, const struct port_view *pv,
		       const struct port_shape *p, const struct ep *e)
{
	if (!o->inline_remote_endpoints || e->is_local || pv->svc->affinity_client_ip)
		return false;
	return !(p->has_ext && p->ext_local && has_detector(o));
}


/*
 * The servicePortName ("ns/name:port", or "ns/name" for an unnamed port)
 * raw for hashing, and for comments with anything but [A-Za-z0-9._/:-]
 * replaced: the API server's validation already guarantees that, but a
 * quote or a space in a comment would change the meaning of the restore
 * line, so the renderer does not rely on its input's validation.
 */
static void port_names(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps)
{
	const struct service *svc = pv->svc;
	const char *port = pv->port->name;
	struct sbuf *b = &c->names;

	ps->name_off = b->len;
	sbuf_adds(b, svc->ns);
	sbuf_addc(b, '/');
	sbuf_adds(b, svc->name);
	if (port && *port) {
		sbuf_addc(b, ':');
		sbuf_adds(b, port);
	}
	ps->name_len = b->len - ps->name_off;
	sbuf_addc(b, '\0');
	ps->cname_off = b->len;
	for (size_t i = 0; i < ps->name_len && i < IPT_COMMENT_NAME_MAX; i++) {
		char ch = b->p[ps->name_off + i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || (ch && strchr("._/:-", ch));

		sbuf_addc(b, ok ? ch : '_');
	}
	ps->cname_len = b->len - ps->cname_off;
}

/* Plans the port and computes its names and tag; its endpoints start at ep_base. */
void port_prepare(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps,
			 size_t ep_base)
{
	port_shape(pv, c->o->family, &ps->p);
	ps->ep_base = ep_base;
	if (!ps->p.render)
		return;
	port_names(c, pv, ps);
	/* portProtoHash: the names buffer is NUL-terminated after the name. */
	ipt_tag(c->names.p + ps->name_off, proto_name_lower(pv->port->proto), NULL, ps->tag);
}

/* After every port_prepare(): names no longer move. */
void port_ref(struct ipt_ctx *c, const struct port_view *pv, struct port_state *ps,
		     struct port_ref *r)
{
	*r = (struct port_ref){
		.c = c, .pv = pv, .ps = ps,
		.name = c->names.p + ps->name_off,
		.cname = c->names.p + ps->cname_off,
		.cname_len = ps->cname_len,
		.proto = proto_name_lower(pv->port->proto),
	};
	r->proto_len = strlen(r->proto);
}

const char *sep_tag(const struct port_ref *r, const struct ep *e, unsigned char **ret_state)
{
	size_t i = r->ps->ep_base + (size_t)(e - r->pv->eps);
	struct ipt_ctx *c = r->c;

	if (!(c->sep_state[i] & SEP_TAG)) {
		ipt_tag(r->name, r->proto, e->key, c->sep_tags[i]);
		c->sep_state[i] |= SEP_TAG;
	}
	if (ret_state)
		*ret_state = &c->sep_state[i];
	return c->sep_tags[i];
}
