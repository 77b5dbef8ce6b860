/* SPDX-License-Identifier: Apache-2.0 */
/*
 * src/dataplane/common/conntrack: which stale UDP flows
 * conntrack_flush_stale_udp deletes, and when.  The conntrack program is a
 * stand-in the test writes into a temporary directory: it appends its
 * arguments, one run a line, to a log the checks read.  Views are built
 * from manifests by the policy, as the data planes get them.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/diag.h"
#include "core/util.h"
#include "dataplane/common/conntrack.h"
#include "policy/policy.h"
#include "source/manifest.h"

static char dir[64];
static char *program; /* the stand-in conntrack */
static char *log_path; /* its runs, one line each: its arguments */

static int setup(void **state)
{
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/kroute-test-conntrack-XXXXXX");
	assert_non_null(mkdtemp(dir));
	program = xasprintf("%s/conntrack", dir);
	log_path = xasprintf("%s/runs", dir);
	f = fopen(program, "w");
	assert_non_null(f);
	/* Exits 1 as conntrack -D does when it deleted nothing: not an error. */
	fprintf(f, "#!/bin/sh\necho \"$*\" >>'%s'\nexit 1\n", log_path);
	fclose(f);
	assert_int_equal(chmod(program, 0755), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(log_path);
	unlink(program);
	assert_int_equal(rmdir(dir), 0);
	free(program);
	free(log_path);
	return 0;
}

/* The stand-in's runs since the last call, one line each (freed by the caller); the log is emptied. */
static char *take_runs(void)
{
	FILE *f = fopen(log_path, "r");
	char *text;
	long n;

	if (!f)
		return xstrdup("");
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	text = xcalloc(1, n + 1);
	assert_int_equal(fread(text, 1, n, f), (size_t)n);
	fclose(f);
	unlink(log_path);
	return text;
}

static void assert_no_runs(void)
{
	char *runs = take_runs();

	assert_string_equal(runs, "");
	free(runs);
}

/* Checks that the runs are exactly the n lines of want, in any order. */
static void assert_runs(const char *const *want, size_t n)
{
	char *runs = take_runs(), *line, *save = NULL;
	size_t got = 0;

	for (line = strtok_r(runs, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		bool known = false;

		for (size_t i = 0; i < n; i++)
			known |= !strcmp(line, want[i]);
		if (!known)
			fail_msg("unexpected run: conntrack %s", line);
		got++;
	}
	assert_int_equal(got, n);
	free(runs);
}

/*
 * The manifests of service u (UDP 53, NodePort 30053, an external IP and a
 * load-balancer IP) with one ready endpoint per address in eps
 * (space-separated; "" for none).  Family AF_INET6: an IPv6 ClusterIP
 * service instead.
 */
static char *manifests(const char *eps, int family)
{
	const char *svc = family == AF_INET6 ?
		"apiVersion: v1\nkind: Service\nmetadata: {name: u, namespace: t}\n"
		"spec:\n  clusterIP: fd00:96::20\n  ipFamilies: [IPv6]\n"
		"  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353}]\n" :
		"apiVersion: v1\nkind: Service\nmetadata: {name: u, namespace: t}\n"
		"spec:\n  type: LoadBalancer\n  clusterIP: 10.96.0.20\n  externalIPs: [192.0.2.5]\n"
		"  ports: [{name: dns, protocol: UDP, port: 53, targetPort: 5353, nodePort: 30053}]\n"
		"status:\n  loadBalancer:\n    ingress: [{ip: 198.51.100.9}]\n";
	char *text = xasprintf("%s---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			       "addressType: %s\nmetadata:\n  name: u-1\n  namespace: t\n"
			       "  labels: {kubernetes.io/service-name: u}\n"
			       "ports: [{name: dns, port: 5353, protocol: UDP}]\nendpoints:%s\n",
			       svc, family == AF_INET6 ? "IPv6" : "IPv4", *eps ? "" : " []");
	char *list = xstrdup(eps), *save = NULL;

	for (char *a = strtok_r(list, " ", &save); a; a = strtok_r(NULL, " ", &save)) {
		char *more = xasprintf("%s- addresses: [%s]\n  conditions: {ready: true}\n", text, a);

		free(text);
		text = more;
	}
	free(list);
	return text;
}

/*
 * One sync: node-1's view of u with endpoints eps is applied (see
 * manifests()) and handed to the flush with program; checks its result
 * and the number of warnings it added.
 */
static void sync_to(struct conntrack_udp_mirror *m, const char *eps, int family,
		    const char *prog, int want, size_t want_warnings)
{
	char *text = manifests(eps, family);
	struct cluster c;
	struct diag d;
	struct policy_opts po;
	struct node_view *v;

	cluster_init(&c);
	diag_init(&d);
	assert_int_equal(manifest_load_buffer("u.yaml", text, strlen(text), false, NULL, &c, &d), 0);
	assert_int_equal(d.n, 0);
	policy_opts_init(&po);
	v = policy_build_view(&c, "node-1", &po);
	assert_int_equal(conntrack_flush_stale_udp(m, v, family, prog, &d), want);
	assert_int_equal(d.n, want_warnings);
	if (want_warnings)
		assert_non_null(strstr(d.msgs[0].text, "stale UDP flows are not flushed"));
	diag_done(&d);
	node_view_free(v);
	cluster_done(&c);
	free(text);
}

/* An endpoint removed: the flows DNATed to it, to every address of the port. */
static void test_endpoint_removed(void **state)
{
	struct conntrack_udp_mirror m;
	static const char *const want[] = {
		"-D -f ipv4 -p udp --orig-dst 10.96.0.20 --orig-port-dst 53 --dst-nat 10.244.1.11",
		"-D -f ipv4 -p udp --orig-dst 192.0.2.5 --orig-port-dst 53 --dst-nat 10.244.1.11",
		"-D -f ipv4 -p udp --orig-dst 198.51.100.9 --orig-port-dst 53 --dst-nat 10.244.1.11",
		"-D -f ipv4 -p udp --orig-port-dst 30053 --dst-nat 10.244.1.11",
	};

	(void)state;
	conntrack_udp_mirror_init(&m);
	/* The first call has nothing to compare with: nothing is deleted. */
	sync_to(&m, "10.244.1.10 10.244.1.11", AF_INET, program, 0, 0);
	assert_no_runs();
	/* The same ports and endpoints again: nothing. */
	sync_to(&m, "10.244.1.10 10.244.1.11", AF_INET, program, 0, 0);
	assert_no_runs();
	/* .11 goes: its flows, not .10's. */
	sync_to(&m, "10.244.1.10", AF_INET, program, 0, 0);
	assert_runs(want, ARRAY_SIZE(want));
	/* Unchanged since: nothing more. */
	sync_to(&m, "10.244.1.10", AF_INET, program, 0, 0);
	assert_no_runs();
	conntrack_udp_mirror_done(&m);
}

/*
 * No endpoints, then some: the flows to the port's addresses (created while
 * nothing DNATed them, they would keep missing the new endpoints), whoever
 * they went to.  Losing the last endpoint deletes its flows only.
 */
static void test_endpoints_come_back(void **state)
{
	struct conntrack_udp_mirror m;
	static const char *const lost[] = {
		"-D -f ipv4 -p udp --orig-dst 10.96.0.20 --orig-port-dst 53 --dst-nat 10.244.1.10",
		"-D -f ipv4 -p udp --orig-dst 192.0.2.5 --orig-port-dst 53 --dst-nat 10.244.1.10",
		"-D -f ipv4 -p udp --orig-dst 198.51.100.9 --orig-port-dst 53 --dst-nat 10.244.1.10",
		"-D -f ipv4 -p udp --orig-port-dst 30053 --dst-nat 10.244.1.10",
	};
	static const char *const back[] = {
		"-D -f ipv4 -p udp --orig-dst 10.96.0.20 --orig-port-dst 53",
		"-D -f ipv4 -p udp --orig-dst 192.0.2.5 --orig-port-dst 53",
		"-D -f ipv4 -p udp --orig-dst 198.51.100.9 --orig-port-dst 53",
		"-D -f ipv4 -p udp --orig-port-dst 30053",
	};

	(void)state;
	conntrack_udp_mirror_init(&m);
	sync_to(&m, "10.244.1.10", AF_INET, program, 0, 0);
	assert_no_runs();
	sync_to(&m, "", AF_INET, program, 0, 0);
	assert_runs(lost, ARRAY_SIZE(lost));
	/* Still none: nothing. */
	sync_to(&m, "", AF_INET, program, 0, 0);
	assert_no_runs();
	sync_to(&m, "10.244.1.12", AF_INET, program, 0, 0);
	assert_runs(back, ARRAY_SIZE(back));
	conntrack_udp_mirror_done(&m);

	/* A first call with endpoints is not "none, then some": nothing. */
	conntrack_udp_mirror_init(&m);
	sync_to(&m, "10.244.1.12", AF_INET, program, 0, 0);
	assert_no_runs();
	conntrack_udp_mirror_done(&m);
}

/* IPv6: the family flag says so, and the addresses are IPv6. */
static void test_ipv6(void **state)
{
	struct conntrack_udp_mirror m;
	static const char *const removed[] = {
		"-D -f ipv6 -p udp --orig-dst fd00:96::20 --orig-port-dst 53 --dst-nat fd00:244::11",
	};
	static const char *const back[] = {
		"-D -f ipv6 -p udp --orig-dst fd00:96::20 --orig-port-dst 53",
	};

	(void)state;
	conntrack_udp_mirror_init(&m);
	sync_to(&m, "fd00:244::10 fd00:244::11", AF_INET6, program, 0, 0);
	assert_no_runs();
	sync_to(&m, "fd00:244::10", AF_INET6, program, 0, 0);
	assert_runs(removed, ARRAY_SIZE(removed));
	sync_to(&m, "", AF_INET6, program, 0, 0);
	free(take_runs());
	sync_to(&m, "fd00:244::10", AF_INET6, program, 0, 0);
	assert_runs(back, ARRAY_SIZE(back));
	conntrack_udp_mirror_done(&m);
}

/* A program that cannot be run: -ENOENT and a warning; the mirror still moves on. */
static void test_missing_program(void **state)
{
	struct conntrack_udp_mirror m;
	char *missing = xasprintf("%s/no-such-conntrack", dir);

	(void)state;
	conntrack_udp_mirror_init(&m);
	/* Nothing to delete: not run, so not noticed. */
	sync_to(&m, "10.244.1.10 10.244.1.11", AF_INET, missing, 0, 0);
	sync_to(&m, "10.244.1.10", AF_INET, missing, -ENOENT, 1);
	/* NULL (the caller stopped passing it): nothing run, no warning. */
	sync_to(&m, "", AF_INET, NULL, 0, 0);
	/* The mirror followed every sync: from no endpoints to some deletes again. */
	sync_to(&m, "10.244.1.10", AF_INET, program, 0, 0);
	{
		char *runs = take_runs();

		assert_non_null(strstr(runs, "--orig-port-dst 30053\n"));
		free(runs);
	}
	conntrack_udp_mirror_done(&m);
	free(missing);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_endpoint_removed),
		cmocka_unit_test(test_endpoints_come_back),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_missing_program),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
