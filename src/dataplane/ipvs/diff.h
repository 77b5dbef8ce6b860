/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The IPVS mode's differ (pure): the changes that turn the virtual services
 * the kernel has (the mirror of the last sync, or on a full sync what a
 * dump read) into the planned ones, and the table the kernel holds once
 * they are applied.  Graceful termination lives here: a real server that
 * leaves the plan is not deleted but set to weight 0, so it gets no new
 * connections while its open ones finish, and stays in the table as
 * draining (since when, and its connection count as last read);
 * ipvs_drain() deletes it once it has no connections left or its time is
 * up.  UDP real servers are deleted at once (a UDP "connection" is only a
 * timer; the conntrack flush takes care of its flows), as kube-proxy does.
 */
#ifndef KROUTE_DATAPLANE_IPVS_DIFF_H
#define KROUTE_DATAPLANE_IPVS_DIFF_H

#include <stdbool.h>
#include <stdint.h>

#include "dataplane/ipvs/msg.h"
#include "dataplane/ipvs/plan.h"

struct ipvs_ops {
	struct ipvs_op *v;
	size_t n, cap;
};

void ipvs_ops_done(struct ipvs_ops *o);

struct ipvs_diff_opts {
	uint64_t now_ns;     /* the clock, for when a dest starts draining */
	bool graceful;       /* false: a dest that leaves is deleted at once */
};

/*
 * Appends to ops the changes from have to want (deletions of services
 * first, then per service: the service, then its dests) and fills next
 * (initialised by the caller) with want's services plus have's draining
 * dests.  want and have are unchanged.
 */
void ipvs_diff(const struct ipvs_table *have, const struct ipvs_table *want,
	       const struct ipvs_diff_opts *o, struct ipvs_ops *ops, struct ipvs_table *next);

/* How many draining dests t holds. */
size_t ipvs_draining(const struct ipvs_table *t);

/*
 * For each draining dest of t with no connections (conns as last read) or
 * draining for timeout_ns or more: a DEL_DEST in ops, and the dest leaves t.
 */
void ipvs_drain(struct ipvs_table *t, uint64_t now_ns, uint64_t timeout_ns, struct ipvs_ops *ops);

#endif
