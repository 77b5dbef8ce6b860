/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The rule table (ids and names are an interface: CI pipelines --ignore
 * them, so they never change meaning and are never reused) and the
 * report's findings: adding, merging, ignoring, sorting, freeing.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/util.h"
#include "lint/lint_internal.h"

const struct lint_rule lint_rules[LINT_N_RULES] = {
	[LINT_ETP_LOCAL_DROPS] = { "KR001", "etp-local-drops", LINT_ERROR,
		"run an endpoint on every node that receives external traffic (a DaemonSet), send external traffic only to nodes with a local endpoint (a load balancer that health-checks healthCheckNodePort), or use externalTrafficPolicy: Cluster (endpoints then see a node IP instead of the client's)" },
	[LINT_ITP_LOCAL_DROPS] = { "KR002", "itp-local-drops", LINT_WARNING,
		"run an endpoint on every node whose pods call the service (a DaemonSet), keep its clients off the other nodes, or use internalTrafficPolicy: Cluster" },
	[LINT_HINTS_IGNORED] = { "KR003", "topology-hints-ignored", LINT_WARNING,
		"give every node a topology.kubernetes.io/zone label, run ready endpoints with a zone in every zone that has clients, and make sure every ready endpoint carries a hint (the EndpointSlice controller hints only endpoints with a zone)" },
	[LINT_LOCAL_SINGLE_ENDPOINT] = { "KR004", "local-single-endpoint", LINT_WARNING,
		"run more than one endpoint (replicas: 2 or more), or use the Cluster policy so other nodes' endpoints take over" },
	[LINT_ONLY_TERMINATING] = { "KR005", "only-terminating-endpoints", LINT_WARNING,
		"check why no new endpoint becomes ready (readiness probe, image, resources); give the rollout room (maxUnavailable: 0, maxSurge) so ready endpoints exist before the old ones terminate" },
	[LINT_NO_ENDPOINTS] = { "KR006", "no-endpoints", LINT_WARNING,
		"check the service's selector against its pods' labels, and why its pods are not ready; an EndpointSlice must be labelled kubernetes.io/service-name with the service's name and have a port of the service port's name and protocol" },
	[LINT_AFFINITY_OUTLIVES] = { "KR007", "affinity-outlives-endpoints", LINT_INFO,
		"set sessionAffinityConfig.clientIP.timeoutSeconds below the endpoints' expected lifetime (kroute lint --endpoint-lifetime), or drop sessionAffinity: ClientIP if clients do not need it" },
	[LINT_FIELD_NO_EFFECT] = { "KR008", "field-no-effect", LINT_WARNING,
		"remove the field, or change the service so that it applies (the message says what it needs)" },
	[LINT_SCHED_NOT_HONOURED] = { "KR009", "scheduler-not-honoured", LINT_WARNING,
		"run kroute in a mode that implements the annotation (--mode userspace implements every scheduler and weight), or remove the annotation" },
	[LINT_SCHED_ANNOTATION_INVALID] = { "KR010", "scheduler-annotation-invalid", LINT_ERROR,
		"correct the annotation (src/sched/README.md lists the schedulers, flags and the weights' grammar)" },
	[LINT_NODES_UNKNOWN] = { "KR011", "nodes-unknown", LINT_INFO,
		"include the Node objects (kubectl get nodes -o yaml) with the services and EndpointSlices, or lint the live cluster with --kubeconfig" },
};

const char *lint_level_name(enum lint_level l)
{
	switch (l) {
	case LINT_ERROR:
		return "error";
	case LINT_WARNING:
		return "warning";
	case LINT_INFO:
		break;
	}
	return "info";
}

const struct lint_rule *lint_rule_find(const char *id_or_name)
{
	for (size_t i = 0; i < LINT_N_RULES; i++)
		if (!strcasecmp(lint_rules[i].id, id_or_name) || streq(lint_rules[i].name, id_or_name))
			return &lint_rules[i];
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Adds the names of nodes not in f yet, keeping f's list sorted and unique. */
static void join_nodes(struct lint_finding *f, const char *const *nodes, size_t n)
{
	size_t cap = f->n_nodes, out = 0;

	f->nodes = xgrow(f->nodes, &cap, f->n_nodes + n, sizeof(*f->nodes));
	for (size_t i = 0; i < n; i++)
		f->nodes[f->n_nodes++] = xstrdup(nodes[i]);
	if (!f->n_nodes)
		return;
	qsort(f->nodes, f->n_nodes, sizeof(*f->nodes), cmp_str);
	for (size_t i = 0; i < f->n_nodes; i++) {
		if (out && streq(f->nodes[out - 1], f->nodes[i]))
			free(f->nodes[i]);
		else
			f->nodes[out++] = f->nodes[i];
	}
	f->n_nodes = out;
}

void lint_add(struct lint_ctx *x, enum lint_rule_id rule, enum lint_level level,
	      const char *service, const char *port, const char *const *nodes, size_t n_nodes,
	      char *message)
{
	struct lint_report *r = x->r;
	struct lint_finding *f;

	if (x->o->ignore[rule]) {
		r->n_ignored++;
		free(message);
		return;
	}
	/*
	 * A dual-stack port reports each family: the same finding twice.  The
	 * findings of one port are added together, so look back only there.
	 */
	for (size_t i = r->n; i-- > 0;) {
		f = &r->v[i];
		if (!streq(f->service, service) || !streq(f->port, port))
			break;
		if (f->rule == rule && streq(f->message, message)) {
			join_nodes(f, nodes, n_nodes);
			free(message);
			return;
		}
	}
	r->v = xgrow(r->v, &r->cap, r->n + 1, sizeof(*r->v));
	f = &r->v[r->n++];
	*f = (struct lint_finding){
		.rule = rule, .level = level, .service = xstrdup(service), .port = xstrdup(port),
		.message = message,
	};
	join_nodes(f, nodes, n_nodes);
	r->n_level[level]++;
}

void lint_report_done(struct lint_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].service);
		free(r->v[i].port);
		free(r->v[i].message);
		strv_free(r->v[i].nodes, r->v[i].n_nodes);
	}
	free(r->v);
	*r = (struct lint_report){ 0 };
}
