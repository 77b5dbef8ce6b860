/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kroute run's HTTP servers, as kube-proxy has them, all in the agent's loop
 * (http/httpd.h):
 *   - the proxy health server (--healthz-bind-address): /healthz, /livez;
 *   - one healthCheckNodePort server per LoadBalancer service with
 *     externalTrafficPolicy: Local, opened and closed as the view changes;
 *   - the metrics server (--metrics-bind-address): /metrics, /healthz,
 *     /livez, /proxyMode.
 * The agent tells it what happens (a change queued, store changes, a sync
 * and its outcome); handlers answer from that, the current view and the
 * data plane's stats.  A server that cannot bind is logged, never fatal:
 * the proxy's own servers are tried again every 5 s (kube-proxy's retry),
 * a service's at every sync.
 */
#ifndef KROUTE_DAEMON_SERVE_H
#define KROUTE_DAEMON_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/strmap.h"
#include "daemon/metrics.h"
#include "dataplane/dataplane.h"
#include "http/health.h"
#include "policy/policy.h"

struct loop;
struct loop_timer;
struct http_server;
struct svc_check;

struct serve_cfg {
	bool healthz_on;            /* --healthz-bind-address not empty */
	struct addr healthz_addr;
	uint16_t healthz_port;
	bool metrics_on;            /* --metrics-bind-address not empty */
	struct addr metrics_addr;
	uint16_t metrics_port;
	uint64_t health_timeout_ns; /* kube-proxy: 2 x sync period */
	const struct cidr *nodeport_cidrs; /* where healthCheckNodePorts listen; none = everywhere */
	size_t n_nodeport_cidrs;
};

struct agent_serve {
	struct serve_cfg cfg;
	struct loop *loop;
	const char *mode;
	const struct dataplane_ops *ops;    /* borrowed: the data plane's stats */
	const struct dataplane *dp;
	const struct node_view *view;       /* borrowed: the agent's, as of the last sync */
	struct proxy_health health;
	struct agent_metrics metrics;
	struct http_server *healthz_srv, *metrics_srv;
	struct loop_timer *retry_tm;        /* binds the proxy's servers again */
	struct addr *hc_addrs;              /* where service health servers listen */
	size_t n_hc_addrs;
	struct svc_check **checks;          /* owned: the service health servers */
	size_t n_checks, cap_checks;
	struct strmap check_index;          /* service key -> struct svc_check (keys borrowed) */
	struct strmap changed;              /* services whose view changed since the last sync (keys owned) */
	bool changed_all;                   /* the whole view was built again */
	bool checks_unbound;                /* some service health server could not listen */
	size_t n_checks_updated;            /* services whose health server the last sync looked at */
	bool change_waiting;                /* for network programming latency */
	uint64_t oldest_change_mono_ns;
};

void serve_init(struct agent_serve *s, const struct serve_cfg *cfg, const char *mode,
		const struct dataplane_ops *ops, const struct dataplane *dp);
/* Opens the proxy's servers in the loop (failures are logged and retried) and marks every family up. */
void serve_start(struct agent_serve *s, struct loop *l);
/* A source said its objects changed: a sync is queued. */
void serve_queued(struct agent_serve *s);
/* The store committed changes (store_delta's counts). */
void serve_changes(struct agent_serve *s, size_t services, size_t slices);
/*
 * The view was updated for these services ("ns/name" keys, copied), or
 * built again (all): the next serve_synced() looks at those services'
 * health servers only.
 */
void serve_view_changed(struct agent_serve *s, const struct strmap *services, bool all);
/*
 * After the data plane took (or refused) view: opens / closes / updates the
 * service health servers to match it (NULL: nothing loaded yet), looking
 * only at the services serve_view_changed() named since the last call.
 */
void serve_sync_checks(struct agent_serve *s, const struct node_view *view);
/*
 * A sync ended (ok: the data plane matches view).  Updates health and
 * metrics.  view stays borrowed until the next call.
 */
void serve_synced(struct agent_serve *s, const struct node_view *view, bool full, bool ok,
		  uint64_t sync_ns);
/* Closes everything. */
void serve_done(struct agent_serve *s);

/* kube-proxy's NodeEligible: the Node is known, not being deleted, not tainted ToBeDeletedByClusterAutoscaler. */
bool serve_node_eligible(const struct node_view *v);
/* kube-proxy's LocalReadyEndpoints for one service: distinct IPs of its local ready endpoints. */
size_t serve_local_ready_ips(const struct node_view *v, const struct service *svc);

#endif
