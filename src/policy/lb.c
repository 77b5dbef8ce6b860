/* SPDX-License-Identifier: Apache-2.0 */
/* Per-service scheduler choice from annotations; see lb.h. */
#include "policy/lb.h"

#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "model/model.h"
#include "policy/policy.h"

void lb_default_init(struct lb_default *d)
{
	*d = (struct lb_default){ .sched_name = SCHED_DEFAULT_NAME };
}

static void add_problem(struct lb_choice *c, const char *annotation, const char *msg)
{
	char *p = xasprintf("%s%sannotation %s: %s", c->problem ? c->problem : "",
			    c->problem ? "; " : "", annotation, msg);

	free(c->problem);
	c->problem = p;
}

void lb_choose(const struct service *svc, const struct lb_default *def, struct lb_choice *ret)
{
	const char *name = kv_get(&svc->annotations, ANNOTATION_SCHEDULER);
	const char *flags = kv_get(&svc->annotations, ANNOTATION_SCHEDULER_FLAGS);
	const char *weights = kv_get(&svc->annotations, ANNOTATION_ENDPOINT_WEIGHTS);
	char err[512];

	*ret = (struct lb_choice){ .sched_name = def->sched_name, .cfg = def->cfg };
	if (name) {
		const char *parsed;

		if (sched_parse_name(name, &parsed, err, sizeof(err)) < 0) {
			char *m = xasprintf("%s; using the default scheduler %s", err, def->sched_name);

			add_problem(ret, ANNOTATION_SCHEDULER, m);
			free(m);
			/* The flags were written for the scheduler we could not use. */
			flags = NULL;
		} else {
			ret->sched_name = parsed;
		}
	}
	if (flags) {
		struct sched_config cfg = def->cfg;

		cfg.flags = 0;
		if (sched_parse_flags(flags, &cfg, err, sizeof(err)) < 0) {
			char *m = xasprintf("%s; using the default flags", err);

			add_problem(ret, ANNOTATION_SCHEDULER_FLAGS, m);
			free(m);
		} else {
			ret->cfg = cfg;
		}
	}
	if (weights &&
	    sched_parse_weights(weights, &ret->weights, &ret->n_weights, err, sizeof(err)) < 0) {
		char *m = xasprintf("%s; every endpoint keeps weight 1", err);

		add_problem(ret, ANNOTATION_ENDPOINT_WEIGHTS, m);
		free(m);
		ret->weights = NULL;
		ret->n_weights = 0;
	}
}

void lb_choice_done(struct lb_choice *c)
{
	free(c->weights);
	free(c->problem);
	*c = (struct lb_choice){ 0 };
}

struct sched_dest *lb_dests(const struct port_view *pv, const struct ep_set *es)
{
	struct sched_dest *dests = xcalloc(es->n + 1, sizeof(*dests));

	for (size_t i = 0; i < es->n; i++) {
		dests[i].family = es->v[i]->addr.family;
		memcpy(dests[i].addr, es->v[i]->addr.bytes, sizeof(dests[i].addr));
		dests[i].port = es->v[i]->port;
		dests[i].weight = SCHED_WEIGHT_DEFAULT;
	}
	if (pv->lb.n_weights)
		sched_weights_apply(pv->lb.weights, pv->lb.n_weights, dests, es->n);
	return dests;
}

struct sched_config lb_sched_config(const struct port_view *pv)
{
	struct sched_config cfg = pv->lb.cfg;

	cfg.seed = strmap_hash(pv->svc->key);
	return cfg;
}

uint64_t lb_affinity_timeout_ns(const struct port_view *pv)
{
	return pv->svc->affinity_client_ip ? (uint64_t)pv->svc->affinity_timeout * 1000000000ull : 0;
}
