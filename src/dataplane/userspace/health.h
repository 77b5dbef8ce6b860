/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passive health checking of one endpoint: consecutive failed connects
 * (refused, timed out, unreachable) eject it from new flows for a while;
 * the ejection doubles each time it is ejected again without a success in
 * between (capped), like Envoy's outlier detection.  When an ejection ends,
 * the endpoint is on probation: one more failure ejects it again at once.
 * Pure: the caller passes the clock and holds the service lock.
 */
#ifndef KROUTE_DATAPLANE_USERSPACE_HEALTH_H
#define KROUTE_DATAPLANE_USERSPACE_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#define US_HEALTH_FAILURES 3       /* consecutive failures that eject */
#define US_HEALTH_MAX_FACTOR 8     /* longest ejection = 8 x the base time */

struct us_health {
	uint32_t consecutive_failures;
	uint32_t ejections_in_a_row; /* since the last success */
	uint64_t ejected_until_ns;   /* 0 = in service */
	uint64_t ejections_total;
	uint64_t failures_total;
};

/* Records a failure; returns true when it ejects the endpoint (until h->ejected_until_ns). */
bool us_health_failure(struct us_health *h, uint64_t base_ns, uint64_t now_ns);
void us_health_success(struct us_health *h);
bool us_health_ejected(const struct us_health *h, uint64_t now_ns);
/* Ends an ejection whose time has come; returns true when it did. */
bool us_health_expire(struct us_health *h, uint64_t now_ns);

#endif
