/* SPDX-License-Identifier: Apache-2.0 */
/* Sync scheduling; see sync_timer.h.  Pure: the caller passes the clock. */
#include "daemon/sync_timer.h"

void sync_timer_init(struct sync_timer *t, uint64_t min_ns, uint64_t max_ns)
{
	*t = (struct sync_timer){
		.min_interval_ns = min_ns,
		.max_interval_ns = max_ns ? max_ns : min_ns,
		.full_interval_ns = 3600ull * 1000000000ull,
		.pending = true, /* the first sync is always due */
		.need_full = true,
	};
}

void sync_timer_request(struct sync_timer *t)
{
	t->pending = true;
}

uint64_t sync_timer_deadline(const struct sync_timer *t)
{
	uint64_t earliest = t->last_sync_ns ? t->last_sync_ns + t->min_interval_ns : 0;
	uint64_t d = t->last_ok_ns + t->max_interval_ns;

	if (!t->last_sync_ns)
		return 0;
	if (t->retry_at_ns)
		d = t->retry_at_ns; /* while failing, the backoff governs */
	if (t->pending && earliest < d)
		d = earliest;
	if (t->retry_at_ns && t->retry_at_ns < d)
		d = t->retry_at_ns;
	return d < earliest ? earliest : d;
}

bool sync_timer_due(const struct sync_timer *t, uint64_t now, bool *ret_full)
{
	bool periodic = !t->retry_at_ns && now >= t->last_ok_ns + t->max_interval_ns;
	bool retry = t->retry_at_ns && now >= t->retry_at_ns;

	*ret_full = t->need_full || now >= t->last_full_ns + t->full_interval_ns;
	if (!t->last_sync_ns)
		return true;
	if (now < t->last_sync_ns + t->min_interval_ns)
		return false;
	return t->pending || periodic || retry;
}

void sync_timer_done(struct sync_timer *t, uint64_t now, bool full, bool ok)
{
	t->last_sync_ns = now ? now : 1;
	t->pending = false;
	if (ok) {
		t->retry_at_ns = 0;
		t->backoff_ns = 0;
		t->need_full = false;
		t->last_ok_ns = now;
		if (full)
			t->last_full_ns = now;
		return;
	}
	/* The changes were consumed by the failed attempt: the retry must be full. */
	t->need_full = true;
	t->backoff_ns = t->backoff_ns ? t->backoff_ns * 2 : t->min_interval_ns;
	if (t->backoff_ns > t->max_interval_ns)
		t->backoff_ns = t->max_interval_ns;
	if (!t->backoff_ns)
		t->backoff_ns = 1000000000ull;
	t->retry_at_ns = now + t->backoff_ns;
}
