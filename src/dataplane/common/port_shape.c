/* SPDX-License-Identifier: Apache-2.0 */
/* A service port's shape (port_shape.h), as the iptables and nftables modes program it. */
#include "dataplane/common/port_shape.h"

#include "policy/policy.h"

static bool route_external(const struct route *r)
{
	return r->kind != ROUTE_CLUSTER_IP && r->allocated;
}

size_t route_ranges(const struct route *r, int family)
{
	size_t n = 0;

	/* kube-proxy keeps only the ranges of the proxier's family. */
	for (size_t i = 0; i < r->n_source_ranges; i++)
		n += r->source_ranges[i].addr.family == family;
	return n;
}

void port_shape(const struct port_view *pv, int family, struct port_shape *p)
{
	const struct route *ext = NULL;

	*p = (struct port_shape){ 0 };
	if (pv->family != family)
		return;
	for (size_t i = 0; i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];

		if (r->kind == ROUTE_CLUSTER_IP && !p->cip)
			p->cip = r;
		else if (route_external(r) && !ext)
			ext = r;
	}
	/*
	 * kube-proxy skips a service whose cluster IP is unset (headless, or
	 * not allocated yet) entirely, NodePorts and external IPs included
	 * (ShouldSkipService).  Headless and ExternalName ports have no routes.
	 */
	if (!p->cip || !p->cip->allocated)
		return;
	p->render = true;
	p->has_svc = !pv->cat.cluster.nil && pv->cat.cluster.n > 0;
	p->has_svl = !pv->cat.local.nil && pv->cat.local.n > 0;
	/*
	 * A forward route whose chain is missing cannot come from
	 * policy_build_view(); it programs as no rule rather than as a jump
	 * to a chain that does not exist, which the kernel would refuse
	 * together with every other service's update.
	 */
	p->int_forward = p->cip->action == ACTION_FORWARD &&
			 (p->cip->uses_local ? p->has_svl : p->has_svc);
	if (ext && ext->action != ACTION_REJECT) {
		p->has_ext = true;
		p->ext_local = ext->uses_local;
		p->ext_forward = ext->action == ACTION_FORWARD &&
				 (ext->uses_local ? p->has_svl : p->has_svc);
	}
	for (size_t i = 0; p->has_ext && i < pv->n_routes; i++) {
		const struct route *r = &pv->routes[i];

		if (r->kind == ROUTE_LOAD_BALANCER && r->allocated && r->action != ACTION_REJECT &&
		    route_ranges(r, family)) {
			p->fw = r;
			break;
		}
	}
}
