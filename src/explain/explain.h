/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rendering a node view for people (table) and programs (JSON).  The JSON
 * keys are a stable interface documented in docs/explain.md.
 */
#ifndef KROUTE_EXPLAIN_EXPLAIN_H
#define KROUTE_EXPLAIN_EXPLAIN_H

#include <stdio.h>

#include "explain/picks.h"
#include "explain/runtime.h"
#include "policy/policy.h"

struct explain_opts {
	const char *service; /* "ns/name" filter, or NULL for all */
	bool pretty;         /* indented JSON */
	const struct flow_src *flows; /* --flow / --flows: simulate the scheduler (borrowed) */
	size_t n_flows;
	const struct runtime_status *runtime; /* --status: a running proxy's state, or NULL */
};

/* Both return 0, or a negative errno when the scheduler simulation failed. */
int explain_json(FILE *f, const struct node_view *v, const struct explain_opts *o);
int explain_table(FILE *f, const struct node_view *v, const struct explain_opts *o);
/* Number of port views the filter keeps (to report "no such service"). */
size_t explain_count(const struct node_view *v, const struct explain_opts *o);

#endif
