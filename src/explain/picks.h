/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scheduler simulation for explain --flow/--flows: for one forwarding route,
 * which endpoint the service's scheduler picks for each flow, in order, from
 * a fresh scheduler state.  Every flow is treated as a new connection that
 * stays open (so least-connection schedulers see the earlier flows), all at
 * the same instant (so ClientIP session affinity holds for the whole list).
 * Random schedulers are seeded from the service key, so a run is repeatable.
 */
#ifndef KROUTE_EXPLAIN_PICKS_H
#define KROUTE_EXPLAIN_PICKS_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "policy/policy.h"

struct flow_src {
	struct addr addr;
	uint16_t port;
	char text[ADDR_PORT_STRLEN]; /* as the user gave it, canonicalised */
};

/* Parses "IP:PORT" / "[IP6]:PORT"; 0 or -EINVAL. */
int flow_src_parse(const char *s, struct flow_src *ret);

/*
 * Fills ret_picks[i] with the index into the route's endpoint set picked for
 * flows[i], or -1 when the scheduler gives none (e.g. a hashing scheduler
 * landing on a quiesced endpoint) or the flow's family differs.
 * Returns 0 or a negative errno from the scheduler library.
 */
int picks_compute(const struct port_view *pv, const struct route *r, const struct flow_src *flows,
		  size_t n_flows, int32_t *ret_picks);

#endif
