/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests of the scheduler annotation parsers: kroute.io/scheduler,
 * kroute.io/scheduler-flags and kroute.io/endpoint-weights. Bad input must
 * fail with -EINVAL and a message that names the offending token; good input
 * must give exact values.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sched/sched.h"
#include "sched/sched_config.h"

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("message \"%s\" does not contain \"%s\"", hay, needle);
}

static void test_name(void **state)
{
	const char *name = NULL;
	char err[512];

	assert_int_equal(sched_parse_name("wlc", &name, err, sizeof(err)), 0);
	assert_string_equal(name, "wlc");
	assert_int_equal(sched_parse_name("  maglev\t", &name, err, sizeof(err)), 0);
	assert_string_equal(name, "maglev");

	name = NULL;
	assert_int_equal(sched_parse_name("least-conn", &name, err, sizeof(err)), -EINVAL);
	assert_null(name);
	assert_contains(err, "\"least-conn\"");
	assert_contains(err, "valid: random, rr, wrr, lc, wlc, sed, nq, fo, ovf, lblc, lblcr, dh, "
			     "sh, mh, twos, maglev");
	assert_int_equal(sched_parse_name("RR", &name, err, sizeof(err)), -EINVAL);
	assert_contains(err, "\"RR\"");
	assert_int_equal(sched_parse_name("  ", &name, err, sizeof(err)), -EINVAL);
	assert_contains(err, "empty scheduler name");
	/* no buffer is fine, a tiny one is truncated, never overrun */
	assert_int_equal(sched_parse_name("x", &name, NULL, 0), -EINVAL);
	assert_int_equal(sched_parse_name("x", &name, err, 8), -EINVAL);
	assert_int_equal(strlen(err), 7);
	/* a long token is shown cut */
	{
		char big[300];

		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		assert_int_equal(sched_parse_name(big, &name, err, sizeof(err)), -EINVAL);
		assert_contains(err, "aaa...\"");
	}
}

static void test_flags(void **state)
{
	struct sched_config cfg = { .flags = SCHED_F_MH_PORT, .maglev_table_size = 16381 };
	char err[512];

	assert_int_equal(sched_parse_flags("", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.flags, 0);
	assert_int_equal(cfg.maglev_table_size, 16381); /* untouched when not given */

	assert_int_equal(sched_parse_flags(" sh-fallback , sh-port,mh-fallback,mh-port ", &cfg, err,
					   sizeof(err)),
			 0);
	assert_int_equal(cfg.flags, SCHED_F_SH_FALLBACK | SCHED_F_SH_PORT | SCHED_F_MH_FALLBACK |
					    SCHED_F_MH_PORT);
	assert_int_equal(sched_parse_flags("maglev-table-size=65537,mh-table-size=131071,sh-port",
					   &cfg, err, sizeof(err)),
			 0);
	assert_int_equal(cfg.flags, SCHED_F_SH_PORT);
	assert_int_equal(cfg.maglev_table_size, 65537);
	assert_int_equal(cfg.mh_table_size, 131071);
	/* the same value twice is fine */
	assert_int_equal(sched_parse_flags("maglev-table-size=251, maglev-table-size = 251", &cfg,
					   err, sizeof(err)),
			 0);
	assert_int_equal(cfg.maglev_table_size, 251);

	/* errors leave cfg alone and name the token */
	assert_int_equal(cfg.flags, 0); /* the flag set is replaced */
	cfg.flags = SCHED_F_SH_PORT;
	assert_int_equal(sched_parse_flags("sh-port,sh-fallbak", &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(cfg.flags, SCHED_F_SH_PORT);
	assert_contains(err, "unknown scheduler flag \"sh-fallbak\"");
	assert_contains(err, "valid: sh-fallback, sh-port");
	assert_int_equal(sched_parse_flags("sh-port,,mh-port", &cfg, err, sizeof(err)), -EINVAL);
	assert_contains(err, "empty scheduler flag at position 2");
	assert_int_equal(sched_parse_flags("sh-port,", &cfg, err, sizeof(err)), -EINVAL);
	assert_contains(err, "position 2");
	assert_int_equal(sched_parse_flags("maglev-table-size=65536", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_contains(err, "\"maglev-table-size=65536\"");
	assert_contains(err, "prime");
	assert_int_equal(sched_parse_flags("maglev-table-size=241", &cfg, err, sizeof(err)),
			 -EINVAL); /* prime, too small */
	assert_contains(err, "\"maglev-table-size=241\"");
	assert_int_equal(sched_parse_flags("maglev-table-size=99999999999", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sched_parse_flags("maglev-table-size=-7", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_int_equal(sched_parse_flags("maglev-table-size=", &cfg, err, sizeof(err)), -EINVAL);
	assert_int_equal(sched_parse_flags("maglev-table-size=251,maglev-table-size=509", &cfg, err,
					   sizeof(err)),
			 -EINVAL);
	assert_contains(err, "\"maglev-table-size=509\"");
	assert_contains(err, "twice");
	assert_int_equal(sched_parse_flags("mh-table-size=65537", &cfg, err, sizeof(err)), -EINVAL);
	assert_contains(err, "\"mh-table-size=65537\"");
	assert_contains(err, "4093");
	assert_int_equal(sched_parse_flags("sh-port=1", &cfg, err, sizeof(err)), -EINVAL);
	assert_contains(err, "\"sh-port=1\"");
	assert_int_equal(cfg.maglev_table_size, 251);
	assert_int_equal(cfg.mh_table_size, 131071);
}

static void addr4(uint8_t *out, const char *s)
{
	memset(out, 0, 16);
	assert_int_equal(inet_pton(AF_INET, s, out), 1);
}

static void test_weights_parse(void **state)
{
	struct sched_weight_rule *r = NULL;
	size_t n = 0;
	char err[512];
	uint8_t a[16];

	assert_int_equal(sched_parse_weights("10.0.0.1=3, 10.0.0.2:8080=0, [fd00::1]:8080=5, "
					     "fd00::2=7,[fd00::3]=65535",
					     &r, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 5);
	addr4(a, "10.0.0.1");
	assert_int_equal(r[0].family, AF_INET);
	assert_memory_equal(r[0].addr, a, 16);
	assert_int_equal(r[0].port, 0);
	assert_int_equal(r[0].weight, 3);
	addr4(a, "10.0.0.2");
	assert_memory_equal(r[1].addr, a, 16);
	assert_int_equal(r[1].port, 8080);
	assert_int_equal(r[1].weight, 0);
	assert_int_equal(r[2].family, AF_INET6);
	assert_int_equal(r[2].port, 8080);
	assert_int_equal(r[2].addr[0], 0xfd);
	assert_int_equal(r[2].addr[15], 1);
	assert_int_equal(r[3].family, AF_INET6);
	assert_int_equal(r[3].port, 0);
	assert_int_equal(r[3].weight, 7);
	assert_int_equal(r[4].addr[15], 3);
	assert_int_equal(r[4].weight, 65535);
	free(r);

	r = (void *)1;
	assert_int_equal(sched_parse_weights("  ", &r, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_null(r);
}

static void expect_weight_error(const char *in, const char *token, const char *why)
{
	struct sched_weight_rule *r = (void *)1;
	size_t n = 77;
	char err[512] = "";

	if (sched_parse_weights(in, &r, &n, err, sizeof(err)) != -EINVAL)
		fail_msg("\"%s\" was accepted", in);
	assert_ptr_equal(r, (void *)1); /* outputs untouched */
	assert_int_equal(n, 77);
	assert_contains(err, token);
	assert_contains(err, why);
}

static void test_weights_errors(void **state)
{
	expect_weight_error("10.0.0.1=3,10.0.0.x=2", "\"10.0.0.x=2\"", "bad address \"10.0.0.x\"");
	expect_weight_error("10.0.0.1", "\"10.0.0.1\"", "address[:port]=weight");
	expect_weight_error("10.0.0.1=65536", "\"10.0.0.1=65536\"",
			    "weight \"65536\" must be 0..65535");
	expect_weight_error("10.0.0.1=-1", "\"10.0.0.1=-1\"", "weight \"-1\"");
	expect_weight_error("10.0.0.1=", "\"10.0.0.1=\"", "weight \"\"");
	expect_weight_error("10.0.0.1=3x", "\"10.0.0.1=3x\"", "weight \"3x\"");
	expect_weight_error("10.0.0.1:0=1", "\"10.0.0.1:0=1\"", "port \"0\"");
	expect_weight_error("10.0.0.1:70000=1", "\"10.0.0.1:70000=1\"", "port \"70000\"");
	expect_weight_error("10.0.0.1:=1", "\"10.0.0.1:=1\"", "port \"\"");
	expect_weight_error("[fd00::1=1", "\"[fd00::1=1\"", "bad address");
	expect_weight_error("[fd00::1]x=1", "\"[fd00::1]x=1\"", "bad address \"[fd00::1]x\"");
	expect_weight_error("[10.0.0.1]:80=1", "\"[10.0.0.1]:80=1\"", "bad address \"10.0.0.1\"");
	expect_weight_error("fd00::zz=1", "\"fd00::zz=1\"", "bad address");
	expect_weight_error("=4", "\"=4\"", "bad address");
	expect_weight_error("10.0.0.1=1,,10.0.0.2=1", "position 2", "empty endpoint weight entry");
	expect_weight_error("10.0.0.1=1, 10.0.0.1=2", "\"10.0.0.1=2\"", "already given");
	expect_weight_error("[fd00::1]:80=1,[fd00:0::1]:80=2", "\"[fd00:0::1]:80=2\"",
			    "already given");
	{
		/* SCHED_WEIGHT_RULES_MAX + 1 entries */
		size_t cap = (SCHED_WEIGHT_RULES_MAX + 1) * 16;
		char *big = malloc(cap);
		size_t off = 0;

		assert_non_null(big);
		for (int i = 0; i <= SCHED_WEIGHT_RULES_MAX; i++)
			off += (size_t)snprintf(big + off, cap - off, "%s10.%d.%d.1=1",
						i ? "," : "", i / 256, i % 256);
		expect_weight_error(big, "\"10.16.0.1=1\"", "too many");
		free(big);
	}
}

static void test_weights_apply(void **state)
{
	struct sched_weight_rule *r = NULL;
	size_t n = 0;
	char err[256];
	struct sched_dest d[4] = { 0 };
	static const char *const ips[] = { "10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3" };
	static const uint16_t ports[] = { 8080, 9090, 8080, 8080 };

	for (int i = 0; i < 4; i++) {
		d[i].family = AF_INET;
		addr4(d[i].addr, ips[i]);
		d[i].port = ports[i];
		d[i].weight = 1;
	}
	/* the ip:port entry wins over the ip-only one, whatever the order */
	assert_int_equal(sched_parse_weights("10.0.0.1:9090=7, 10.0.0.1=3, 10.0.0.2:8081=9, "
					     "10.9.9.9=4, [::1]=2",
					     &r, &n, err, sizeof(err)),
			 0);
	assert_int_equal(sched_weights_apply(r, n, d, 4), 2);
	assert_int_equal(d[0].weight, 3);
	assert_int_equal(d[1].weight, 7);
	assert_int_equal(d[2].weight, 1); /* port does not match, no ip-only rule */
	assert_int_equal(d[3].weight, 1);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_weights_parse),
		cmocka_unit_test(test_weights_errors),
		cmocka_unit_test(test_weights_apply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
