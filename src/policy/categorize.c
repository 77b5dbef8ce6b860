/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube-proxy's endpoint categorisation (pkg/proxy/topology.go), written
 * from the rules in kubernetes-semantics.md sections 1 and 2.  Pure.
 *
 * One deliberate difference in representation, not in routing: kube-proxy
 * returns nil for an empty set in Go, so "unused" and "used but empty" look
 * the same there.  Here nil means only "this port never uses this kind of
 * endpoint"; a used-but-empty set is an empty, non-nil set.  Routing treats
 * both as empty, exactly as kube-proxy does.
 */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"

static bool has_name(char *const *v, size_t n, const char *name)
{
	if (!name || !*name)
		return false;
	for (size_t i = 0; i < n; i++)
		if (streq(v[i], name))
			return true;
	return false;
}

static enum topology_mode topology_from_hints(const struct ep *eps, size_t n,
					      const struct categorize_in *in)
{
	bool node_hit = false, all_node = true, zone_hit = false, all_zone = true;

	for (size_t i = 0; i < n; i++) {
		const struct ep *e = &eps[i];

		/* Only ready endpoints' hints count. */
		if (!e->ready)
			continue;
		if (!e->n_node_hints)
			all_node = false;
		else if (has_name(e->node_hints, e->n_node_hints, in->node_name))
			node_hit = true;
		if (!e->n_zone_hints)
			all_zone = false;
		else if (has_name(e->zone_hints, e->n_zone_hints, in->zone))
			zone_hit = true;
	}
	if (in->prefer_same_node_gate && all_node && node_hit)
		return TOPOLOGY_PREFER_SAME_NODE;
	if (all_zone && zone_hit)
		return TOPOLOGY_PREFER_SAME_ZONE;
	return TOPOLOGY_NONE;
}

static bool topology_allows(const struct ep *e, enum topology_mode m,
			    const struct categorize_in *in)
{
	switch (m) {
	case TOPOLOGY_PREFER_SAME_NODE:
		return has_name(e->node_hints, e->n_node_hints, in->node_name);
	case TOPOLOGY_PREFER_SAME_ZONE:
		return has_name(e->zone_hints, e->n_zone_hints, in->zone);
	case TOPOLOGY_NONE:
		break;
	}
	return true;
}

static void set_init(struct ep_set *s, size_t cap)
{
	s->v = xcalloc(cap ? cap : 1, sizeof(*s->v));
	s->n = 0;
	s->nil = false;
}

void policy_categorize(const struct ep *eps, size_t n, const struct categorize_in *in,
		       struct categorized *out)
{
	bool uses_cluster = !in->itp_local || in->externally_accessible;
	bool uses_local = in->itp_local || (in->etp_local && in->externally_accessible);
	bool local_ready = false, local_st = false;

	*out = (struct categorized){
		.cluster = { .nil = true },
		.local = { .nil = true },
		.all = { .nil = true },
	};
	if (uses_cluster)
		set_init(&out->cluster, n);
	if (uses_local)
		set_init(&out->local, n);
	if (n == 0) {
		set_init(&out->all, 0);
		return;
	}

	if (uses_cluster) {
		out->topology = topology_from_hints(eps, n, in);
		for (size_t i = 0; i < n; i++)
			if (eps[i].ready && topology_allows(&eps[i], out->topology, in))
				out->cluster.v[out->cluster.n++] = &eps[i];
		/*
		 * Nothing ready (the mode choice never leaves a zone or node
		 * without a hinted ready endpoint): fall back to every
		 * serving-and-terminating endpoint, ignoring topology.
		 */
		if (!out->cluster.n) {
			out->topology = TOPOLOGY_NONE;
			for (size_t i = 0; i < n; i++)
				if (eps[i].serving && eps[i].terminating)
					out->cluster.v[out->cluster.n++] = &eps[i];
		}
		out->has_any = out->cluster.n > 0;
	}
	if (!uses_local) {
		out->all = out->cluster;
		out->all.v = xcalloc(n, sizeof(*out->all.v));
		memcpy(out->all.v, out->cluster.v, out->cluster.n * sizeof(*out->all.v));
		return;
	}

	for (size_t i = 0; i < n; i++) {
		if (eps[i].ready) {
			out->has_any = true;
			local_ready |= eps[i].is_local;
		} else if (eps[i].serving && eps[i].terminating) {
			out->has_any = true;
			local_st |= eps[i].is_local;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct ep *e = &eps[i];

		if (!e->is_local)
			continue;
		if (local_ready ? e->ready : (local_st && e->serving && e->terminating))
			out->local.v[out->local.n++] = e;
	}

	set_init(&out->all, n);
	if (!uses_cluster) {
		memcpy(out->all.v, out->local.v, out->local.n * sizeof(*out->all.v));
		out->all.n = out->local.n;
		return;
	}
	/*
	 * The union, in endpoint order.  (When no topology is in use and local
	 * holds only ready endpoints, cluster is already a superset and the
	 * union equals cluster, as kube-proxy's shortcut has it.)
	 */
	for (size_t i = 0, c = 0, l = 0; i < n; i++) {
		bool in_c = c < out->cluster.n && out->cluster.v[c] == &eps[i];
		bool in_l = l < out->local.n && out->local.v[l] == &eps[i];

		if (in_c)
			c++;
		if (in_l)
			l++;
		if (in_c || in_l)
			out->all.v[out->all.n++] = &eps[i];
	}
}

void categorized_done(struct categorized *c)
{
	free(c->cluster.v);
	free(c->local.v);
	free(c->all.v);
	*c = (struct categorized){ 0 };
}
