/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_load: times what "kroute explain" does before it prints, phase by
 * phase, on a (large) manifest: loading (read, parse, decode, index), the
 * full policy view for one node, and optionally rendering the JSON explain
 * output to /dev/null.  It prints one line of key=value pairs so that
 * run_load.sh (or anyone) can collect and compare runs.
 *
 * Peak RSS comes from getrusage (ru_maxrss, the high-water mark of the
 * whole process), sampled after each phase, so the line also shows which
 * phase raised the peak.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "core/diag.h"
#include "explain/explain.h"
#include "model/model.h"
#include "policy/policy.h"
#include "source/manifest.h"

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Wall time is what the goal is about.  CPU time (user + system of this
 * process) is printed next to it: when wall time is clearly larger, the
 * process was waiting (preempted, or I/O) and the run is suspect.  It is
 * not immune to other jobs either: sharing a core or cache slows both.
 */
struct stamp {
	double wall, cpu;
};

static struct stamp stamp(void)
{
	return (struct stamp){ clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID) };
}

static struct stamp since(struct stamp t0)
{
	struct stamp t = stamp();

	return (struct stamp){ t.wall - t0.wall, t.cpu - t0.cpu };
}

/* The process's peak resident set so far, in MB (ru_maxrss is in KiB on Linux). */
static double peak_rss_mb(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -1;
	return (double)ru.ru_maxrss / 1024.0;
}

/*
 * Heap bytes in use (mallinfo2), in MB: what the objects and the view hold,
 * without the free memory the allocator keeps that RSS also counts.
 */
static double heap_mb(void)
{
	struct mallinfo2 mi = mallinfo2();

	return (double)(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

static unsigned long long input_bytes(char *const *paths, int n)
{
	unsigned long long total = 0;
	struct stat st;

	for (int i = 0; i < n; i++)
		if (stat(paths[i], &st) == 0 && S_ISREG(st.st_mode))
			total += (unsigned long long)st.st_size;
	return total;
}

static void usage(FILE *f)
{
	fputs("usage: bench_load [--node NAME] [--no-explain] [--pretty] FILE...\n"
	      "  --node NAME    node to build the view for (default: the first Node loaded)\n"
	      "  --no-explain   skip rendering the explain JSON\n"
	      "  --pretty       render indented JSON, as 'kroute explain -o json' does not\n", f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "node", required_argument, NULL, 'n' },
		{ "no-explain", no_argument, NULL, 'E' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *node = NULL;
	bool do_explain = true;
	struct explain_opts eo = { 0 };
	struct policy_opts po;
	struct cluster c;
	struct diag d;
	struct node_view *v;
	size_t n_services, n_slices, n_nodes, n_ports, n_endpoints = 0, n_routes = 0;
	struct stamp t0, t_load, t_policy, t_explain = { 0 }, t_free;
	double rss_start, rss_load, rss_policy, heap_load, heap_policy;
	char explain_s[64] = "- explain_cpu_s=-", node_name[256];
	int opt, r;

	while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			node = optarg;
			break;
		case 'E':
			do_explain = false;
			break;
		case 'p':
			eo.pretty = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}

	rss_start = peak_rss_mb();
	cluster_init(&c);
	diag_init(&d);
	t0 = stamp();
	r = manifest_load((const char *const *)argv + optind, (size_t)(argc - optind), NULL, &c,
			  &d);
	t_load = since(t0);
	rss_load = peak_rss_mb();
	heap_load = heap_mb();
	if (r < 0) {
		diag_print(&d, stderr);
		fprintf(stderr, "bench_load: loading failed: %s\n", strerror(-r));
		diag_done(&d);
		return 1;
	}
	/* Copied: the Node object's name is freed with the cluster, before the report. */
	snprintf(node_name, sizeof(node_name), "%s", node ? node : c.n_nodes ? c.nodes[0]->name : "");
	node = node_name;

	policy_opts_init(&po);
	t0 = stamp();
	v = policy_build_view(&c, node, &po);
	t_policy = since(t0);
	rss_policy = peak_rss_mb();
	heap_policy = heap_mb();

	if (do_explain) {
		FILE *f = fopen("/dev/null", "w");

		if (!f) {
			fprintf(stderr, "bench_load: /dev/null: %s\n", strerror(errno));
			return 1;
		}
		t0 = stamp();
		explain_json(f, v, &eo);
		fclose(f);
		t_explain = since(t0);
	}

	n_services = c.n_services;
	n_slices = c.n_slices;
	n_nodes = c.n_nodes;
	for (size_t i = 0; i < c.n_slices; i++)
		n_endpoints += c.slices[i]->n_endpoints;
	n_ports = v->n_ports;
	for (size_t i = 0; i < v->n_ports; i++)
		n_routes += v->ports[i].n_routes;
	if (do_explain)
		snprintf(explain_s, sizeof(explain_s), "%.3f explain_cpu_s=%.3f", t_explain.wall,
			 t_explain.cpu);

	/* Teardown is not part of the goal, but a slow free shows up here. */
	t0 = stamp();
	node_view_free(v);
	cluster_done(&c);
	t_free = since(t0);

	printf("files=%d bytes=%llu services=%zu slices=%zu endpoints=%zu nodes=%zu node=%s "
	       "port_views=%zu routes=%zu diagnostics=%zu "
	       "load_s=%.3f policy_s=%.3f explain_s=%s load_policy_s=%.3f free_s=%.3f "
	       "load_cpu_s=%.3f policy_cpu_s=%.3f load_policy_cpu_s=%.3f "
	       "rss_start_mb=%.1f rss_after_load_mb=%.1f rss_after_policy_mb=%.1f peak_rss_mb=%.1f "
	       "heap_after_load_mb=%.1f heap_after_policy_mb=%.1f\n",
	       argc - optind, input_bytes(argv + optind, argc - optind), n_services, n_slices,
	       n_endpoints, n_nodes, *node ? node : "\"\"", n_ports, n_routes, d.n, t_load.wall,
	       t_policy.wall, explain_s, t_load.wall + t_policy.wall, t_free.wall, t_load.cpu,
	       t_policy.cpu, t_load.cpu + t_policy.cpu, rss_start, rss_load, rss_policy,
	       peak_rss_mb(), heap_load, heap_policy);
	diag_done(&d);
	return 0;
}
