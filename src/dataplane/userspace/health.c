/* SPDX-License-Identifier: Apache-2.0 */
/* Passive ejection timing; see health.h. */
#include "dataplane/userspace/health.h"

bool us_health_failure(struct us_health *h, uint64_t base_ns, uint64_t now_ns)
{
	uint64_t factor;

	h->failures_total++;
	if (h->ejected_until_ns)
		return false; /* already out (a flow picked it when every endpoint was ejected) */
	if (++h->consecutive_failures < US_HEALTH_FAILURES)
		return false;
	h->ejections_in_a_row++;
	/* Doubles with each ejection in a row, up to US_HEALTH_MAX_FACTOR. */
	factor = 1ull << (h->ejections_in_a_row - 1 < 31 ? h->ejections_in_a_row - 1 : 31);
	if (factor > US_HEALTH_MAX_FACTOR)
		factor = US_HEALTH_MAX_FACTOR;
	h->ejected_until_ns = now_ns + base_ns * factor;
	if (!h->ejected_until_ns)
		h->ejected_until_ns = 1;
	h->ejections_total++;
	return true;
}

void us_health_success(struct us_health *h)
{
	h->consecutive_failures = 0;
	h->ejections_in_a_row = 0;
}

bool us_health_ejected(const struct us_health *h, uint64_t now_ns)
{
	return h->ejected_until_ns && now_ns < h->ejected_until_ns;
}

bool us_health_expire(struct us_health *h, uint64_t now_ns)
{
	if (!h->ejected_until_ns || now_ns < h->ejected_until_ns)
		return false;
	h->ejected_until_ns = 0;
	/* Probation: the next failure ejects again, for twice as long. */
	h->consecutive_failures = US_HEALTH_FAILURES - 1;
	return true;
}
