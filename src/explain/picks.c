/* SPDX-License-Identifier: Apache-2.0 */
/* Scheduler simulation for explain; see picks.h. */
#include "explain/picks.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "core/strmap.h"
#include "core/util.h"
#include "sched/sched.h"
#include "sched/sched_affinity.h"

int flow_src_parse(const char *s, struct flow_src *ret)
{
	struct flow_src f;

	if (addr_port_parse(s, &f.addr, &f.port) < 0)
		return -EINVAL;
	addr_port_format(&f.addr, f.port, f.text);
	*ret = f;
	return 0;
}

int picks_compute(const struct port_view *pv, const struct route *r, const struct flow_src *flows,
		  size_t n_flows, int32_t *ret_picks)
{
	const struct ep_set *es = route_endpoints(pv, r);
	struct sched_dest *dests = NULL;
	struct sched_state *st = NULL;
	struct sched_affinity *aff = NULL;
	struct sched_config cfg = lb_sched_config(pv);
	const struct sched_info *info;
	int ret = 0;

	for (size_t i = 0; i < n_flows; i++)
		ret_picks[i] = -1;
	if (!es->n)
		return 0;
	dests = lb_dests(pv, es);
	ret = sched_new(pv->lb.sched_name, &cfg, dests, es->n, &st);
	if (ret < 0)
		goto out;
	if (lb_affinity_timeout_ns(pv)) {
		ret = sched_affinity_new(lb_affinity_timeout_ns(pv), n_flows ? n_flows : 1, 0, cfg.seed,
					 &aff);
		if (ret < 0)
			goto out;
	}
	info = sched_info_find(pv->lb.sched_name);
	for (size_t i = 0; i < n_flows; i++) {
		struct sched_flow f = {
			.family = flows[i].addr.family,
			.proto = (uint8_t)proto_ipproto(pv->port->proto),
			.sport = flows[i].port,
			.dport = r->port,
		};
		int idx;

		if (flows[i].addr.family != pv->family)
			continue;
		memcpy(f.saddr, flows[i].addr.bytes, sizeof(f.saddr));
		memcpy(f.daddr, r->addr.bytes, sizeof(f.daddr));
		idx = aff ? sched_affinity_pick(aff, st, &f, 0) : sched_pick(st, &f, 0);
		if (idx < 0)
			continue;
		ret_picks[i] = idx;
		if (info && (info->caps & SCHED_CAP_CONNS))
			sched_conn_take(st, (size_t)idx, true);
	}
	ret = 0;
out:
	sched_affinity_free(aff);
	sched_free(st);
	free(dests);
	return ret;
}
