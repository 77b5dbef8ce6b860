/* SPDX-License-Identifier: Apache-2.0 */
/* kube-proxy's health answers, pure; see health.h. */
#include "http/health.h"

#include <stdio.h>
#include <time.h>

#define NS_PER_SEC 1000000000ll

static const char *const family_names[HEALTH_N_FAMILIES] = { "IPv4", "IPv6" };

void proxy_health_init(struct proxy_health *h, uint64_t timeout_ns)
{
	*h = (struct proxy_health){ .timeout_ns = timeout_ns };
}

void proxy_health_queued(struct proxy_health *h, enum health_family f, struct health_time now)
{
	if (h->fam[f].queued)
		return;
	h->fam[f].queued = true;
	h->fam[f].oldest_queued_mono_ns = now.mono_ns;
}

void proxy_health_updated(struct proxy_health *h, enum health_family f, struct health_time now)
{
	h->fam[f].queued = false;
	h->fam[f].updated = true;
	h->fam[f].last_updated = now;
}

/* Only listed (updated) families count, as kube-proxy ranges over its lastUpdated map. */
static bool family_healthy(const struct proxy_health *h, enum health_family f,
			   struct health_time now)
{
	if (!h->fam[f].updated || !h->fam[f].queued)
		return true;
	return now.mono_ns < h->fam[f].oldest_queued_mono_ns ||
	       now.mono_ns - h->fam[f].oldest_queued_mono_ns < h->timeout_ns;
}

bool proxy_health_healthy(const struct proxy_health *h, struct health_time now)
{
	for (int f = 0; f < HEALTH_N_FAMILIES; f++)
		if (!family_healthy(h, f, now))
			return false;
	return true;
}

void health_format_time(int64_t wall_ns, char buf[HEALTH_TIME_STRLEN])
{
	time_t secs = (time_t)(wall_ns / NS_PER_SEC);
	long frac = (long)(wall_ns % NS_PER_SEC);
	struct tm tm;
	size_t n;
	int digits = 9;

	if (frac < 0) {
		secs--;
		frac += NS_PER_SEC;
	}
	gmtime_r(&secs, &tm);
	n = strftime(buf, HEALTH_TIME_STRLEN, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac) {
		while (frac % 10 == 0) {
			frac /= 10;
			digits--;
		}
		n += snprintf(buf + n, HEALTH_TIME_STRLEN - n, ".%0*ld", digits, frac);
	}
	snprintf(buf + n, HEALTH_TIME_STRLEN - n, "Z");
}

static void add_time(struct sbuf *b, const char *key, bool set, int64_t wall_ns)
{
	char t[HEALTH_TIME_STRLEN];

	if (set)
		health_format_time(wall_ns, t);
	/* Go's zero time.Time: what kube-proxy shows before any family was updated. */
	sbuf_printf(b, "\"%s\":\"%s\"", key, set ? t : "0001-01-01T00:00:00Z");
}

/*
 * ProxyHealth as encoding/json writes it: fields in declaration order
 * (lastUpdated, currentTime, nodeEligible when set, healthy, status when
 * not empty), map keys sorted, no spaces.
 */
unsigned proxy_health_reply(const struct proxy_health *h, struct health_time now, int node_eligible,
			    struct sbuf *b)
{
	bool healthy = proxy_health_healthy(h, now), listed = false, ok;
	int64_t last = 0;
	bool any = false;

	for (int f = 0; f < HEALTH_N_FAMILIES; f++)
		if (h->fam[f].updated && (!any || h->fam[f].last_updated.wall_ns > last)) {
			last = h->fam[f].last_updated.wall_ns;
			any = true;
		}
	ok = healthy && node_eligible != 0;
	/* On 200 kube-proxy shows the current time, as its releases before per-family status did. */
	if (ok) {
		last = now.wall_ns;
		any = true;
	}
	sbuf_addc(b, '{');
	add_time(b, "lastUpdated", any, last);
	sbuf_addc(b, ',');
	add_time(b, "currentTime", true, now.wall_ns);
	if (node_eligible >= 0)
		sbuf_printf(b, ",\"nodeEligible\":%s", node_eligible ? "true" : "false");
	sbuf_printf(b, ",\"healthy\":%s", healthy ? "true" : "false");
	for (int f = 0; f < HEALTH_N_FAMILIES; f++) {
		if (!h->fam[f].updated)
			continue;
		sbuf_printf(b, "%s\"%s\":{", listed ? "," : ",\"status\":{", family_names[f]);
		add_time(b, "lastUpdated", true, h->fam[f].last_updated.wall_ns);
		sbuf_printf(b, ",\"healthy\":%s}", family_healthy(h, f, now) ? "true" : "false");
		listed = true;
	}
	if (listed)
		sbuf_addc(b, '}');
	sbuf_addc(b, '}');
	return ok ? 200 : 503;
}

unsigned service_health_reply(const char *ns, const char *name, size_t local_endpoints,
			      bool proxy_healthy, struct sbuf *b)
{
	SBUF_ADDL(b, "{\n\t\"service\": {\n\t\t\"namespace\": ");
	sbuf_add_json_str(b, ns);
	SBUF_ADDL(b, ",\n\t\t\"name\": ");
	sbuf_add_json_str(b, name);
	sbuf_printf(b, "\n\t},\n\t\"localEndpoints\": %zu,\n\t\"serviceProxyHealthy\": %s\n}",
		    local_endpoints, proxy_healthy ? "true" : "false");
	return local_endpoints && proxy_healthy ? 200 : 503;
}
