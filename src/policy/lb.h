/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which scheduler a service uses, and with what weights: the global default
 * (--scheduler) overridden by the Service's annotations
 *   kroute.io/scheduler, kroute.io/scheduler-flags, kroute.io/endpoint-weights
 * (grammar in src/sched/sched_config.h).  A bad annotation never breaks the
 * service or its neighbours: the service falls back to the default and the
 * problem is recorded for stderr and explain.  Pure.
 */
#ifndef KROUTE_POLICY_LB_H
#define KROUTE_POLICY_LB_H

#include <stddef.h>
#include <stdint.h>

#include "sched/sched.h"
#include "sched/sched_config.h"

struct service;
struct port_view;
struct ep_set;

#define ANNOTATION_SCHEDULER "kroute.io/scheduler"
#define ANNOTATION_SCHEDULER_FLAGS "kroute.io/scheduler-flags"
#define ANNOTATION_ENDPOINT_WEIGHTS "kroute.io/endpoint-weights"

struct lb_default {
	const char *sched_name;  /* from the registry; "random" unless --scheduler */
	struct sched_config cfg; /* from --scheduler-flags */
};

struct lb_choice {
	const char *sched_name;            /* static, from the registry */
	struct sched_config cfg;
	struct sched_weight_rule *weights; /* owned */
	size_t n_weights;
	char *problem;                     /* owned; NULL when the annotations are fine */
};

void lb_default_init(struct lb_default *d);
/* Fills ret (never fails; problems go to ret->problem). */
void lb_choose(const struct service *svc, const struct lb_default *def, struct lb_choice *ret);
void lb_choice_done(struct lb_choice *c);

/*
 * The scheduler's destinations for endpoint set es of pv, in es's order:
 * address, port and weight (the service's kroute.io/endpoint-weights applied).
 * Owned by the caller; never NULL.  The userspace proxy and explain's --flow
 * replay build their schedulers from this, so explain predicts the proxy.
 */
struct sched_dest *lb_dests(const struct port_view *pv, const struct ep_set *es);
/* pv's scheduler configuration, seeded by its service's key (random and twos repeat per service). */
struct sched_config lb_sched_config(const struct port_view *pv);
/* ClientIP session affinity's timeout in ns; 0 without affinity. */
uint64_t lb_affinity_timeout_ns(const struct port_view *pv);

#endif
