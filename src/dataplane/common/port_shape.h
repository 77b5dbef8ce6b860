/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a service port programs in a NAT data plane, read off the view
 * (iptables and nftables modes): whether anything (a cluster IP in the
 * family), which endpoint-set chains exist, whether the cluster IP and the
 * external addresses forward, and which load-balancer route's source
 * ranges apply.  The decisions are the view's (policy/view.c); this only
 * says which chains follow from them, once for every mode.  Pure.
 */
#ifndef KROUTE_DATAPLANE_COMMON_PORT_SHAPE_H
#define KROUTE_DATAPLANE_COMMON_PORT_SHAPE_H

#include <stdbool.h>
#include <stddef.h>

struct port_view;
struct route;

struct port_shape {
	bool render;              /* false: this port contributes nothing */
	const struct route *cip;  /* the cluster-IP route */
	bool has_svc, has_svl;    /* cluster / local dispatch (non-empty endpoint sets) */
	bool has_ext;             /* external dispatch: externally reachable and endpoints exist somewhere */
	bool ext_local;           /* external traffic policy Local: short-circuits, then the local set */
	bool ext_forward;         /* external dispatch ends in its policy's set */
	bool int_forward;         /* the cluster IP goes to its policy's set */
	const struct route *fw;   /* an LB route whose source ranges apply; NULL: none */
};

/* The shape of pv in family (a port of another family: render false). */
void port_shape(const struct port_view *pv, int family, struct port_shape *s);
/* How many of r's loadBalancerSourceRanges are of family (kube-proxy keeps only those). */
size_t route_ranges(const struct route *r, int family);

#endif
