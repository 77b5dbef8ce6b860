/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What kube-proxy's health servers answer (pkg/proxy/healthcheck,
 * proxy_health.go and service_health.go, as of v1.36), as pure functions:
 * the proxy's health state per IP family, and the status code and body of
 * /healthz, /livez and a service's healthCheckNodePort.  No I/O, no clock:
 * the caller passes the time, so tests drive it with a table.
 *
 * The rule (kube-proxy's): a family is unhealthy when a change was queued
 * (proxy_health_queued) and no successful sync (proxy_health_updated) has
 * followed for at least the health timeout (kube-proxy: 2 x sync period).
 * A family that never synced is not listed, and so cannot be unhealthy;
 * the agent marks every family updated when it starts, as kube-proxy's
 * sync loop does, so a first sync that never succeeds does turn unhealthy.
 */
#ifndef KROUTE_HTTP_HEALTH_H
#define KROUTE_HTTP_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/sbuf.h"

/* One instant on both clocks: the wall clock is shown, the monotonic one is compared. */
struct health_time {
	int64_t wall_ns;            /* CLOCK_REALTIME, ns since the epoch */
	uint64_t mono_ns;           /* CLOCK_MONOTONIC */
};

enum health_family {
	HEALTH_IPV4,                /* shown as "IPv4", kube-proxy's v1.IPFamily */
	HEALTH_IPV6,
	HEALTH_N_FAMILIES,
};

struct proxy_health {
	uint64_t timeout_ns;
	struct {
		bool updated;               /* a sync succeeded (or the agent started) */
		struct health_time last_updated;
		bool queued;                /* a change waits for a sync */
		uint64_t oldest_queued_mono_ns;
	} fam[HEALTH_N_FAMILIES];
};

void proxy_health_init(struct proxy_health *h, uint64_t timeout_ns);
/* kube-proxy's QueuedUpdate: a change arrived; keeps the oldest pending one. */
void proxy_health_queued(struct proxy_health *h, enum health_family f, struct health_time now);
/* kube-proxy's Updated: the family's rules match the input as of now. */
void proxy_health_updated(struct proxy_health *h, enum health_family f, struct health_time now);
/* kube-proxy's Health().Healthy: no listed family has a change pending for the timeout. */
bool proxy_health_healthy(const struct proxy_health *h, struct health_time now);

/*
 * The status (200 or 503) and JSON body of /healthz (node_eligible: 0 or 1,
 * shown as "nodeEligible" and required for 200) or /livez (node_eligible
 * -1: not part of the answer), byte for byte as kube-proxy's json.Marshal
 * writes them.  The body is appended to b.
 */
unsigned proxy_health_reply(const struct proxy_health *h, struct health_time now, int node_eligible,
			    struct sbuf *b);

/*
 * A healthCheckNodePort's answer: 200 when the service has local ready
 * endpoints and the proxy is healthy, else 503; the body is kube-proxy's
 * indented JSON.  The caller sets X-Load-Balancing-Endpoint-Weight to
 * local_endpoints.
 */
unsigned service_health_reply(const char *ns, const char *name, size_t local_endpoints,
			      bool proxy_healthy, struct sbuf *b);

/*
 * Go's RFC3339Nano in UTC ("2026-12-02T08:20:16.123456789Z", trailing zeros
 * of the fraction dropped), as encoding/json writes a time.Time.
 */
#define HEALTH_TIME_STRLEN 40
void health_format_time(int64_t wall_ns, char buf[HEALTH_TIME_STRLEN]);

#endif
