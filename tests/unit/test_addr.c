/* SPDX-License-Identifier: Apache-2.0 */
/* Address, CIDR and ip:port parsing and formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "core/addr.h"

static void test_parse(void **state)
{
	static const struct {
		const char *in;
		int ok;
		const char *canon;
	} cases[] = {
		{ "10.0.0.1", 1, "10.0.0.1" },
		{ "255.255.255.255", 1, "255.255.255.255" },
		{ "0.0.0.0", 1, "0.0.0.0" },
		{ "10.0.0.01", 0, NULL },   /* leading zero: the API server rejects it */
		{ "10.0.0.256", 0, NULL },
		{ "10.0.0", 0, NULL },
		{ " 10.0.0.1", 0, NULL },
		{ "10.0.0.1/32", 0, NULL },
		{ "fd00::1", 1, "fd00::1" },
		{ "FD00:0:0::1", 1, "fd00::1" },
		{ "::ffff:10.0.0.1", 1, "::ffff:10.0.0.1" },
		{ "fe80::1%eth0", 0, NULL },
		{ "", 0, NULL },
		{ "not-an-ip", 0, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr a;
		char buf[ADDR_STRLEN];
		int r = addr_parse(cases[i].in, &a);

		if ((r == 0) != cases[i].ok) {
			print_error("addr_parse(\"%s\") = %d\n", cases[i].in, r);
			fail();
		}
		if (r == 0) {
			addr_format(&a, buf);
			assert_string_equal(buf, cases[i].canon);
		}
	}
}

static void test_cidr(void **state)
{
	struct cidr c;
	struct addr a;

	(void)state;
	assert_int_equal(cidr_parse("10.244.0.0/16", &c), 0);
	assert_int_equal(addr_parse("10.244.3.7", &a), 0);
	assert_true(cidr_contains(&c, &a));
	assert_int_equal(addr_parse("10.245.0.1", &a), 0);
	assert_false(cidr_contains(&c, &a));
	assert_int_equal(cidr_parse("10.0.0.0/33", &c), -22);
	assert_int_equal(cidr_parse("10.0.0.0/", &c), -22);
	assert_int_equal(cidr_parse("10.0.0.0", &c), -22);
	assert_int_equal(cidr_parse("fd00::/8", &c), 0);
	assert_int_equal(addr_parse("fd12::1", &a), 0);
	assert_true(cidr_contains(&c, &a));
	assert_int_equal(cidr_parse("10.1.2.3/20", &c), 0);
	assert_int_equal(addr_parse("10.1.15.255", &a), 0);
	assert_true(cidr_contains(&c, &a));
	assert_int_equal(addr_parse("10.1.16.0", &a), 0);
	assert_false(cidr_contains(&c, &a));
}

static void test_addr_port(void **state)
{
	struct addr a;
	uint16_t port;
	char buf[ADDR_PORT_STRLEN];

	(void)state;
	assert_int_equal(addr_port_parse("10.0.0.1:8080", &a, &port), 0);
	assert_int_equal(port, 8080);
	addr_port_format(&a, port, buf);
	assert_string_equal(buf, "10.0.0.1:8080");
	assert_int_equal(addr_port_parse("[fd00::1]:53", &a, &port), 0);
	assert_int_equal(a.family, AF_INET6);
	addr_port_format(&a, port, buf);
	assert_string_equal(buf, "[fd00::1]:53");
	assert_int_equal(addr_port_parse("fd00::1:53", &a, &port), -22);
	assert_int_equal(addr_port_parse("10.0.0.1:65536", &a, &port), -22);
	assert_int_equal(addr_port_parse("10.0.0.1:", &a, &port), -22);
	assert_int_equal(addr_port_parse("10.0.0.1", &a, &port), -22);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_addr_port),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
