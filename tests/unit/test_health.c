/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kube-proxy's health answers (http/health.c), byte for byte: /healthz and
 * /livez over a table of states and instants, the healthCheckNodePort body,
 * and Go's RFC3339Nano timestamps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/health.h"

#define SEC 1000000000ll
/* 2026-12-02T08:00:00Z */
#define T0 1796198400ll

static struct health_time at(int64_t wall_s, int64_t frac_ns, uint64_t mono_s)
{
	return (struct health_time){ .wall_ns = wall_s * SEC + frac_ns, .mono_ns = mono_s * SEC };
}

static void test_time_format(void **state)
{
	char buf[HEALTH_TIME_STRLEN];

	health_format_time(T0 * SEC, buf);
	assert_string_equal(buf, "2026-12-02T08:00:00Z");
	health_format_time(T0 * SEC + 500000000, buf);
	assert_string_equal(buf, "2026-12-02T08:00:00.5Z");
	health_format_time(T0 * SEC + 123456789, buf);
	assert_string_equal(buf, "2026-12-02T08:00:00.123456789Z");
	health_format_time(T0 * SEC + 1000, buf);
	assert_string_equal(buf, "2026-12-02T08:00:00.000001Z");
}

struct proxy_case {
	const char *name;
	int updated_at;     /* seconds after T0 both families synced; -1: never */
	int queued_at;      /* seconds after T0 a change was queued; -1: none */
	int now;            /* seconds after T0 */
	int eligible;       /* -1: /livez */
	unsigned status;
	const char *body;
};

/* Health timeout 60 s (kube-proxy's default: 2 x 30 s). */
static const struct proxy_case proxy_cases[] = {
	{ "before any sync: healthy, nothing listed", -1, -1, 5, 1, 200,
	  "{\"lastUpdated\":\"2026-12-02T08:00:05Z\",\"currentTime\":\"2026-12-02T08:00:05Z\","
	  "\"nodeEligible\":true,\"healthy\":true}" },
	{ "never synced, node unknown: Go's zero time", -1, -1, 5, 0, 503,
	  "{\"lastUpdated\":\"0001-01-01T00:00:00Z\",\"currentTime\":\"2026-12-02T08:00:05Z\","
	  "\"nodeEligible\":false,\"healthy\":true}" },
	{ "synced, nothing pending: 200, lastUpdated shows now", 10, -1, 20, 1, 200,
	  "{\"lastUpdated\":\"2026-12-02T08:00:20Z\",\"currentTime\":\"2026-12-02T08:00:20Z\","
	  "\"nodeEligible\":true,\"healthy\":true,\"status\":{"
	  "\"IPv4\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":true},"
	  "\"IPv6\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":true}}}" },
	{ "/livez has no nodeEligible", 10, -1, 20, -1, 200,
	  "{\"lastUpdated\":\"2026-12-02T08:00:20Z\",\"currentTime\":\"2026-12-02T08:00:20Z\","
	  "\"healthy\":true,\"status\":{"
	  "\"IPv4\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":true},"
	  "\"IPv6\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":true}}}" },
	{ "a change pending 59 s: still healthy", 10, 11, 70, 1, 200, NULL },
	{ "a change pending 60 s: unhealthy, lastUpdated is the last sync", 10, 11, 71, 1, 503,
	  "{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"currentTime\":\"2026-12-02T08:01:11Z\","
	  "\"nodeEligible\":true,\"healthy\":false,\"status\":{"
	  "\"IPv4\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":false},"
	  "\"IPv6\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":false}}}" },
	{ "/livez is unhealthy the same way", 10, 11, 71, -1, 503, NULL },
	{ "node not eligible: /healthz 503, healthy stays true", 10, -1, 20, 0, 503,
	  "{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"currentTime\":\"2026-12-02T08:00:20Z\","
	  "\"nodeEligible\":false,\"healthy\":true,\"status\":{"
	  "\"IPv4\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":true},"
	  "\"IPv6\":{\"lastUpdated\":\"2026-12-02T08:00:10Z\",\"healthy\":true}}}" },
	{ "node not eligible: /livez ignores it", 10, -1, 20, -1, 200, NULL },
	{ "queued before any sync: not listed, so not unhealthy (kube-proxy)", -1, 1, 500, -1, 200,
	  NULL },
};

static void test_proxy_health(void **state)
{
	for (size_t i = 0; i < sizeof(proxy_cases) / sizeof(proxy_cases[0]); i++) {
		const struct proxy_case *c = &proxy_cases[i];
		struct proxy_health h;
		struct sbuf b = { 0 };
		unsigned status;

		proxy_health_init(&h, 60 * SEC);
		for (int f = 0; f < HEALTH_N_FAMILIES; f++) {
			if (c->updated_at >= 0)
				proxy_health_updated(&h, f, at(T0 + c->updated_at, 0, c->updated_at));
			if (c->queued_at >= 0)
				proxy_health_queued(&h, f, at(T0 + c->queued_at, 0, c->queued_at));
		}
		status = proxy_health_reply(&h, at(T0 + c->now, 0, c->now), c->eligible, &b);
		print_message("case: %s\n", c->name);
		assert_int_equal(status, c->status);
		if (c->body)
			assert_string_equal(sbuf_cstr(&b), c->body);
		sbuf_free(&b);
	}
}

/* Queued keeps the oldest change; a sync clears it; one family can be unhealthy alone. */
static void test_proxy_health_oldest(void **state)
{
	struct proxy_health h;
	struct sbuf b = { 0 };

	proxy_health_init(&h, 60 * SEC);
	proxy_health_updated(&h, HEALTH_IPV4, at(T0, 0, 0));
	proxy_health_updated(&h, HEALTH_IPV6, at(T0, 0, 0));
	proxy_health_queued(&h, HEALTH_IPV4, at(T0 + 1, 0, 1));
	proxy_health_queued(&h, HEALTH_IPV4, at(T0 + 50, 0, 50)); /* not the oldest: ignored */
	assert_false(proxy_health_healthy(&h, at(T0 + 61, 0, 61)));
	assert_int_equal(proxy_health_reply(&h, at(T0 + 61, 250000000, 61), -1, &b), 503);
	assert_string_equal(sbuf_cstr(&b),
			    "{\"lastUpdated\":\"2026-12-02T08:00:00Z\",\"currentTime\":"
			    "\"2026-12-02T08:01:01.25Z\",\"healthy\":false,\"status\":{"
			    "\"IPv4\":{\"lastUpdated\":\"2026-12-02T08:00:00Z\",\"healthy\":false},"
			    "\"IPv6\":{\"lastUpdated\":\"2026-12-02T08:00:00Z\",\"healthy\":true}}}");
	proxy_health_updated(&h, HEALTH_IPV4, at(T0 + 62, 0, 62));
	assert_true(proxy_health_healthy(&h, at(T0 + 200, 0, 200)));
	sbuf_free(&b);
}

static void test_service_health(void **state)
{
	struct sbuf b = { 0 };

	assert_int_equal(service_health_reply("ns", "web", 2, true, &b), 200);
	assert_string_equal(sbuf_cstr(&b), "{\n"
					   "\t\"service\": {\n"
					   "\t\t\"namespace\": \"ns\",\n"
					   "\t\t\"name\": \"web\"\n"
					   "\t},\n"
					   "\t\"localEndpoints\": 2,\n"
					   "\t\"serviceProxyHealthy\": true\n"
					   "}");
	b.len = 0;
	assert_int_equal(service_health_reply("ns", "web", 0, true, &b), 503);
	assert_non_null(strstr(sbuf_cstr(&b), "\"localEndpoints\": 0,"));
	b.len = 0;
	/* Local endpoints, but the proxy is unhealthy: 503, and the body says why. */
	assert_int_equal(service_health_reply("ns", "web", 3, false, &b), 503);
	assert_non_null(strstr(sbuf_cstr(&b), "\"serviceProxyHealthy\": false\n}"));
	sbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_proxy_health),
		cmocka_unit_test(test_proxy_health_oldest),
		cmocka_unit_test(test_service_health),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
