/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute lint: what a cluster's services will do that their owners do not
 * expect, found by building every node's view with the policy core (the
 * same code the data planes run) and reading the result.  A pure rule
 * engine: objects and options in, findings out; no I/O, no clock.  Each rule
 * has a stable id (KR001...) and name; the rules are documented in
 * docs/lint.md, which says what each one means, why it matters and how to
 * fix it.
 */
#ifndef KROUTE_LINT_LINT_H
#define KROUTE_LINT_LINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"
#include "model/model.h"
#include "policy/policy.h"

enum lint_level {
	LINT_INFO,
	LINT_WARNING,
	LINT_ERROR,
};

enum lint_rule_id {
	LINT_ETP_LOCAL_DROPS,          /* KR001 */
	LINT_ITP_LOCAL_DROPS,          /* KR002 */
	LINT_HINTS_IGNORED,            /* KR003 */
	LINT_LOCAL_SINGLE_ENDPOINT,    /* KR004 */
	LINT_ONLY_TERMINATING,         /* KR005 */
	LINT_NO_ENDPOINTS,             /* KR006 */
	LINT_AFFINITY_OUTLIVES,        /* KR007 */
	LINT_FIELD_NO_EFFECT,          /* KR008 */
	LINT_SCHED_NOT_HONOURED,       /* KR009 */
	LINT_SCHED_ANNOTATION_INVALID, /* KR010 */
	LINT_NODES_UNKNOWN,            /* KR011 */
	LINT_N_RULES,
};

struct lint_rule {
	const char *id;      /* "KR001": stable, never reused */
	const char *name;    /* "etp-local-drops": stable */
	enum lint_level level; /* the usual level; a finding may say otherwise (docs/lint.md) */
	const char *fix;     /* one sentence: how to make the finding go away */
};

/* The rule table, indexed by enum lint_rule_id. */
extern const struct lint_rule lint_rules[LINT_N_RULES];

/* A rule by id ("KR001", any case) or name; NULL when there is none. */
const struct lint_rule *lint_rule_find(const char *id_or_name);
const char *lint_level_name(enum lint_level l);

struct lint_opts {
	struct policy_opts po;         /* as kroute explain / run take them */
	const char *mode;              /* the data plane: "iptables" (default) or "userspace" */
	uint32_t endpoint_lifetime_s;  /* how long an endpoint is expected to live (KR007) */
	bool ignore[LINT_N_RULES];     /* --ignore */
};

#define LINT_DEFAULT_ENDPOINT_LIFETIME_S 3600u

/* The data-plane modes lint knows what they can express for; NULL-terminated. */
extern const char *const lint_modes[];

struct lint_finding {
	enum lint_rule_id rule;
	enum lint_level level;
	char *service;   /* owned: "ns/name" */
	char *port;      /* owned: the service port's name, "80/TCP" when unnamed, "" for the service */
	char *message;   /* owned: one or more sentences */
	char **nodes;    /* owned: the nodes concerned, sorted */
	size_t n_nodes;
};

struct lint_report {
	struct lint_finding *v; /* sorted by service, port, rule */
	size_t n, cap;
	size_t n_level[3];      /* findings per level (ignored rules not counted) */
	size_t n_ignored;       /* findings of --ignore'd rules, left out */
	size_t n_services;      /* services looked at (this proxy's) */
	size_t n_nodes;         /* nodes looked at */
	bool nodes_from_endpoints; /* no Node objects: the nodes endpoints name */
};

void lint_opts_init(struct lint_opts *o);
/* Runs every rule not ignored over c.  Never fails (OOM aborts). */
void lint_run(const struct cluster *c, const struct lint_opts *o, struct lint_report *ret);
void lint_report_done(struct lint_report *r);

/* The report for people (a table) and for programs (JSON, keys in docs/lint.md). */
void lint_render_table(const struct lint_report *r, struct sbuf *out);
void lint_render_json(const struct lint_report *r, struct sbuf *out);

#endif
