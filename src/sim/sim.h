/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute sim: what a traffic policy does to a given traffic, before it is
 * deployed.  For each policy variant (the service as it is, Cluster,
 * Local, PreferSameZone, PreferSameNode) and scheduler, every request of
 * the traffic description goes through the policy core's categorisation
 * on the node it enters and through the scheduler's replay (the code
 * explain --flow and the data planes use), and is counted: per endpoint,
 * per node, dropped or rejected, crossing nodes or zones, the latency it
 * adds, whether the client IP reaches the pod.  Pure and deterministic;
 * the traffic format and the outputs are documented in docs/sim.md.
 */
#ifndef KROUTE_SIM_SIM_H
#define KROUTE_SIM_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"
#include "model/model.h"
#include "policy/policy.h"

enum sim_from {
	SIM_FROM_PODS,     /* pods on the node call the cluster IP */
	SIM_FROM_EXTERNAL, /* clients outside enter at the node (node port, LB or external IP) */
};

/* One line of the traffic description: "pods NODE NS/NAME[:PORT] RPS [clients=N]". */
struct sim_line {
	enum sim_from from;
	char *node;
	char *service;   /* "ns/name" */
	char *port;      /* a port name or number; NULL: the service's first port */
	uint32_t rps;    /* requests (new connections) in the simulated second */
	uint32_t clients; /* distinct client addresses the requests come from */
	unsigned lineno;
};

struct sim_traffic {
	struct sim_line *v;
	size_t n, cap;
	double ms_same_node, ms_same_zone, ms_cross_zone; /* added latency per request */
};

/* Parses the traffic description; 0, or -EINVAL with "NAME:LINE: ..." in err. */
int sim_traffic_parse(const char *name, const char *text, struct sim_traffic *t, char *err,
		      size_t errlen);
void sim_traffic_done(struct sim_traffic *t);

enum sim_variant {
	SIM_AS_IS,
	SIM_CLUSTER,
	SIM_LOCAL,
	SIM_PREFER_SAME_ZONE,
	SIM_PREFER_SAME_NODE,
	SIM_N_VARIANTS,
};

const char *sim_variant_name(enum sim_variant v);
/* "as-is", "Cluster", ... (any case); -EINVAL when unknown. */
int sim_variant_parse(const char *s, enum sim_variant *ret);

struct sim_opts {
	struct policy_opts po;
	bool variant[SIM_N_VARIANTS];
	const char **scheds;  /* scheduler names (static, from the registry); NULL: each service's own */
	size_t n_scheds;
};

struct sim_count {
	char *name;           /* owned: "ns/name:port ip:port" for an endpoint, the node name for a node */
	char *node;           /* owned: the endpoint's node ("" unknown); NULL for a node row */
	uint64_t requests;
};

/* One variant with one scheduler over the whole traffic. */
struct sim_result {
	enum sim_variant variant;
	const char *sched;    /* NULL: each service's own */
	uint64_t requests, forwarded, dropped, rejected;
	uint64_t cross_node, cross_zone, client_ip_kept;
	double latency_ms;    /* the added latency summed over forwarded requests */
	struct sim_count *eps; /* every endpoint of the services in the traffic, sorted */
	size_t n_eps, cap_eps;
	struct sim_count *nodes; /* every node, sorted */
	size_t n_nodes, cap_nodes;
	double ep_imbalance;  /* the largest max/mean over one service's endpoints; 0 without any */
	double node_imbalance; /* max/mean over the nodes that run an endpoint */
};

struct sim_report {
	struct sim_result *v;
	size_t n;
};

/*
 * Runs the traffic through every selected variant and scheduler.  0, or
 * -EINVAL with the problem in err (a service, port or node the traffic
 * names is not in the cluster; external traffic to a port nothing outside
 * reaches).
 */
int sim_run(const struct cluster *c, const struct sim_traffic *t, const struct sim_opts *o,
	    struct sim_report *ret, char *err, size_t errlen);
void sim_report_done(struct sim_report *r);

void sim_render_table(const struct sim_report *r, struct sbuf *out);
void sim_render_json(const struct sim_report *r, struct sbuf *out);
/* A bar chart comparing the variants: drops, node and zone crossings, client IP kept. */
void sim_render_svg(const struct sim_report *r, struct sbuf *out);

#endif
