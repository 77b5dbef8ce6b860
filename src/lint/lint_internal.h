/* SPDX-License-Identifier: Apache-2.0 */
/* What the files of src/lint/ share: the run's context and adding findings. */
#ifndef KROUTE_LINT_LINT_INTERNAL_H
#define KROUTE_LINT_LINT_INTERNAL_H

#include "lint/lint.h"

struct lint_ctx {
	const struct cluster *c;
	const struct lint_opts *o;
	struct lint_report *r;
	const char **nodes;       /* the nodes looked at, sorted by name (borrowed strings) */
	size_t n_nodes;
};

/*
 * Adds a finding (message is taken over; nodes are copied).  A finding
 * equal to an earlier one in rule, service, port and message (the other
 * IP family of a dual-stack port) is merged into it: the nodes are joined.
 * Findings of ignored rules are only counted.
 */
void lint_add(struct lint_ctx *x, enum lint_rule_id rule, enum lint_level level,
	      const char *service, const char *port, const char *const *nodes, size_t n_nodes,
	      char *message);

/* The rules that look at a service as a whole (service_rules.c). */
void lint_service_rules(struct lint_ctx *x, const struct service *svc);
/* A service port's label in findings: its name, or "80/TCP" when unnamed. */
char *lint_port_label(const struct svc_port *sp);
/* Reachable from outside: node ports, load-balancer IPs or externalIPs (now or once allocated). */
bool lint_svc_external(const struct service *svc);

#endif
