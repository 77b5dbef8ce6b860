/* SPDX-License-Identifier: Apache-2.0 */
/* The data-plane registry and the defaults of their options; see dataplane.h. */
#include "dataplane/dataplane.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "core/opt.h"
#include "core/util.h"
#include "policy/policy.h"

extern const struct dataplane_ops dp_iptables_ops;
extern const struct dataplane_ops dp_ipvs_ops;
extern const struct dataplane_ops dp_nftables_ops;
extern const struct dataplane_ops dp_userspace_ops;
extern const struct dataplane_ops dp_ebpf_ops;

const struct dataplane_ops *const dataplane_all[] = {
	&dp_iptables_ops,
	&dp_nftables_ops,
	&dp_userspace_ops,
	&dp_ipvs_ops,
	&dp_ebpf_ops,
	NULL,
};

bool dp_view_has_family(const struct node_view *v, int family)
{
	for (size_t i = 0; i < v->n_ports; i++)
		if (v->ports[i].family == family)
			return true;
	return false;
}

void dp_stats_sync_done(struct dp_stats *s, int r, bool full, uint64_t t0)
{
	if (r < 0)
		s->failures++;
	else if (full)
		s->full_syncs++;
	else
		s->partial_syncs++;
	s->syncs++;
	s->last_sync_ns = mono_ns() - t0;
}

const struct dataplane_ops *dataplane_find(const char *mode)
{
	for (size_t i = 0; dataplane_all[i]; i++)
		if (streq(dataplane_all[i]->name, mode))
			return dataplane_all[i];
	return NULL;
}

/* Tests and benchmarks wrap the helper programs (to record or time them). */
static const struct opt_spec dp_opts_env[] = {
	{ .env = "KROUTE_CONNTRACK", .kind = OPT_STRING,
	  .offset = offsetof(struct dp_opts, conntrack) },
	{ 0 },
};

int dp_opts_init(struct dp_opts *o, char *err, size_t errlen)
{
	*o = (struct dp_opts){ .localhost_nodeports = true, .conntrack = "conntrack", .nft = "nft",
			       .ip = "ip" };
	return opt_apply_env(dp_opts_env, o, err, errlen);
}

int dp_mode_opts_new(const struct dataplane_ops *ops, void **ret, char *err, size_t errlen)
{
	const struct dp_mode_options *mo = ops->options;
	void *o;

	*ret = NULL;
	if (!mo)
		return 0;
	o = xmalloc(mo->size);
	memcpy(o, mo->defaults, mo->size);
	if (opt_apply_env(mo->flags, o, err, errlen) < 0) {
		free(o);
		return -EINVAL;
	}
	*ret = o;
	return 0;
}
