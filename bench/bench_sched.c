/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scheduler micro-benchmark: nanoseconds per pick for every scheduler at 10,
 * 100 and 1,000 endpoints, Maglev table build time, and memory per service
 * state. Prints Markdown tables (pasted into bench/README.md). No arguments;
 * BENCH_QUICK=1 in the environment runs a shorter version.
 *
 * Workload: 65,536 precomputed TCP flows from random client addresses and
 * ports to one service VIP (what a ClusterIP sees; lblc/lblcr/dh therefore
 * hit one cache entry or bucket, see the "4096 VIPs" rows). Two loops:
 *   pick		only sched_pick(); connection counters stay as they are;
 *   pick+conn	sched_pick(), sched_conn_take() of the result, and
 *			sched_conn_drop() of the connection opened 4 x N picks
 *			earlier, so about 4 connections stay open per endpoint.
 * Each figure is the best of 5 runs of at least 1 M iterations.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "sched/sched.h"
#include "sched/sched_affinity.h"

#define N_FLOWS 65536u
#define REPEAT 5
#define GOAL_PICK_NS 100.0
#define GOAL_BUILD_MS 2.0

static struct sched_flow flows[N_FLOWS];
static struct sched_flow flows_vips[N_FLOWS];
static volatile int sink;
static int quick;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void make_flows(void)
{
	uint64_t rng = 12345;

	for (uint32_t i = 0; i < N_FLOWS; i++) {
		struct sched_flow *f = &flows[i];
		uint64_t r = splitmix(&rng);

		memset(f, 0, sizeof(*f));
		f->family = AF_INET;
		f->proto = 6;
		f->saddr[0] = 10;
		f->saddr[1] = 244;
		f->saddr[2] = (uint8_t)(r >> 8);
		f->saddr[3] = (uint8_t)r;
		f->sport = (uint16_t)(32768 + (r >> 16) % 28232);
		f->daddr[0] = 10;
		f->daddr[1] = 96;
		f->daddr[3] = 1;
		f->dport = 80;
		flows_vips[i] = *f;
		flows_vips[i].daddr[2] = (uint8_t)((r >> 40) & 15);
		flows_vips[i].daddr[3] = (uint8_t)(r >> 48);
	}
}

static struct sched_dest *make_dests(size_t n, int weighted)
{
	struct sched_dest *d = calloc(n, sizeof(*d));

	for (size_t i = 0; d && i < n; i++) {
		uint32_t ip = 0x0af40000u + 3 * (uint32_t)i + 2;

		d[i].family = AF_INET;
		d[i].addr[0] = ip >> 24;
		d[i].addr[1] = ip >> 16;
		d[i].addr[2] = ip >> 8;
		d[i].addr[3] = ip;
		d[i].port = 8080;
		d[i].weight = weighted ? 1 + (uint32_t)(i % 4) : 1;
		/* ovf needs room: active <= weight with ~4 open per endpoint */
		if (weighted == 2)
			d[i].weight = 100;
	}
	return d;
}

struct result {
	double pick_ns, conn_ns;
	size_t mem;
	int failures;
};

static void run(const char *name, size_t n, const struct sched_flow *fl, int weighted,
		const struct sched_config *cfg_in, struct result *res)
{
	struct sched_config cfg = cfg_in ? *cfg_in : (struct sched_config){ 0 };
	struct sched_dest *d = make_dests(n, weighted);
	struct sched_state *st = NULL;
	size_t iters = quick ? 200000 : 2000000;
	size_t ring_len = 4 * n;
	int *ring = calloc(ring_len, sizeof(*ring));
	uint64_t clock = 1;

	cfg.seed = 1;
	if (!d || !ring || sched_new(name, &cfg, d, n, &st) < 0) {
		fprintf(stderr, "bench: cannot set up %s n=%zu\n", name, n);
		exit(1);
	}
	for (size_t i = 0; i < ring_len; i++)
		ring[i] = -1;
	res->pick_ns = res->conn_ns = 1e30;
	res->failures = 0;
	for (int rep = 0; rep < REPEAT; rep++) {
		double t0 = now_ns(), t;
		int acc = 0;

		for (size_t i = 0; i < iters; i++)
			acc += sched_pick(st, &fl[i & (N_FLOWS - 1)], clock += 1000);
		t = (now_ns() - t0) / (double)iters;
		sink += acc;
		if (t < res->pick_ns)
			res->pick_ns = t;

		t0 = now_ns();
		for (size_t i = 0; i < iters; i++) {
			size_t slot = i % ring_len;
			int r = sched_pick(st, &fl[i & (N_FLOWS - 1)], clock += 1000);

			if (ring[slot] >= 0)
				sched_conn_drop(st, (size_t)ring[slot], true);
			ring[slot] = r;
			if (r >= 0)
				sched_conn_take(st, (size_t)r, true);
			else
				res->failures++;
		}
		t = (now_ns() - t0) / (double)iters;
		if (t < res->conn_ns)
			res->conn_ns = t;
	}
	res->mem = sched_memory(st);
	sched_free(st);
	free(ring);
	free(d);
}

static void print_row(const char *label, const struct result *r, const char *verdict)
{
	printf("| %s | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f | %zu B | %s |\n", label,
	       r[0].pick_ns, r[1].pick_ns, r[2].pick_ns, r[0].conn_ns, r[1].conn_ns, r[2].conn_ns,
	       r[2].mem, verdict);
}

static const char *verdict(const struct result *r, bool exempt)
{
	if (exempt)
		return "exempt";
	if (r[2].pick_ns < GOAL_PICK_NS && r[2].conn_ns < GOAL_PICK_NS)
		return "met";
	if (r[2].pick_ns < GOAL_PICK_NS)
		return "pick met; pick+conn not";
	return "NOT met";
}

static void run3(const char *name, const struct sched_flow *fl, int weighted,
		 const struct sched_config *cfg, struct result *r)
{
	static const size_t ns[] = { 10, 100, 1000 };

	for (int k = 0; k < 3; k++)
		run(name, ns[k], fl, weighted, cfg, &r[k]);
}

static void pick_table(void)
{
	static const char *const weighted[] = { "wrr", "twos", "sh", "mh", "maglev" };
	static const char *const by_vip[] = { "lblc", "lblcr", "dh" };
	static const char *const fallback[] = { "sh", "mh" };
	struct sched_config fb = { .flags = SCHED_F_SH_PORT | SCHED_F_SH_FALLBACK |
					    SCHED_F_MH_PORT | SCHED_F_MH_FALLBACK };
	const struct sched_info *info;
	struct result r[3];
	char label[64];

	printf("### ns per pick (best of %d runs)\n\n", REPEAT);
	printf("| scheduler | pick N=10 | pick N=100 | pick N=1000 | pick+conn N=10 | "
	       "pick+conn N=100 | pick+conn N=1000 | memory N=1000 | goal (< %.0f ns @1000) |\n",
	       GOAL_PICK_NS);
	printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");
	for (size_t i = 0; (info = sched_info_get(i)); i++) {
		bool lblc = !strcmp(info->name, "lblc") || !strcmp(info->name, "lblcr");

		/* ovf gets weight 100 so ~4 open connections per endpoint fit */
		run3(info->name, flows, !strcmp(info->name, "ovf") ? 2 : 0, NULL, r);
		print_row(info->name, r, verdict(r, lblc));
	}
	for (size_t k = 0; k < sizeof(weighted) / sizeof(weighted[0]); k++) {
		run3(weighted[k], flows, 1, NULL, r);
		snprintf(label, sizeof(label), "%s, weights 1-4", weighted[k]);
		print_row(label, r, verdict(r, false));
	}
	for (size_t k = 0; k < sizeof(by_vip) / sizeof(by_vip[0]); k++) {
		run3(by_vip[k], flows_vips, 0, NULL, r);
		snprintf(label, sizeof(label), "%s, 4096 VIPs", by_vip[k]);
		print_row(label, r, verdict(r, strcmp(by_vip[k], "dh") != 0));
	}
	for (size_t k = 0; k < sizeof(fallback) / sizeof(fallback[0]); k++) {
		run3(fallback[k], flows, 0, &fb, r);
		snprintf(label, sizeof(label), "%s, port+fallback", fallback[k]);
		print_row(label, r, verdict(r, false));
	}
}

/* ClientIP affinity over random: 65,536 clients cycling, table of 65,536. */
static void affinity_row(void)
{
	static const size_t ns[] = { 10, 100, 1000 };
	double best[3];

	for (int k = 0; k < 3; k++) {
		struct sched_dest *d = make_dests(ns[k], 0);
		struct sched_state *st = NULL;
		struct sched_affinity *aff = NULL;
		size_t iters = quick ? 200000 : 2000000;
		uint64_t t = 1;

		if (!d || sched_new("random", NULL, d, ns[k], &st) < 0 ||
		    sched_affinity_new(10800ull * 1000000000ull, 65536, 0, 1, &aff) < 0)
			exit(1);
		best[k] = 1e30;
		for (int rep = 0; rep < REPEAT; rep++) {
			double t0 = now_ns(), x;
			int acc = 0;

			for (size_t i = 0; i < iters; i++) {
				const struct sched_flow *f = &flows[i & (N_FLOWS - 1)];

				acc += sched_affinity_pick(aff, st, f, t += 1000);
			}
			x = (now_ns() - t0) / (double)iters;
			sink += acc;
			if (x < best[k])
				best[k] = x;
		}
		if (k == 2)
			printf("| random + ClientIP affinity (65,536 clients) | %.1f | %.1f | %.1f "
			       "| | | | %zu B (table) | %s |\n\n",
			       best[0], best[1], best[2], sched_affinity_memory(aff),
			       best[2] < GOAL_PICK_NS ? "met" : "NOT met");
		sched_affinity_free(aff);
		sched_free(st);
		free(d);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void build_table(void)
{
	static const struct {
		size_t n;
		uint32_t m;
		int weighted;
	} cases[] = {
		{ 100, 65537, 0 },  { 1000, 65537, 0 }, { 1000, 65537, 1 },
		{ 1000, 655373, 0 }, { 10, 65537, 0 },
	};

	printf("### Maglev table build (sched_prepare: hashing, sort, population)\n\n");
	printf("| N | M | weights | min ms | median ms | max ms | goal (< %.0f ms at N=1000, "
	       "M=65537) |\n",
	       GOAL_BUILD_MS);
	printf("|---:|---:|---|---:|---:|---:|---|\n");
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct sched_config cfg = { .maglev_table_size = cases[c].m };
		struct sched_dest *d = make_dests(cases[c].n, cases[c].weighted);
		struct sched_state *st = NULL;
		int runs = quick ? 10 : (cases[c].m > 65537 ? 20 : 100);
		double t[100];
		const char *goal = "";

		if (!d || sched_new("maglev", &cfg, d, cases[c].n, &st) < 0)
			exit(1);
		for (int i = 0; i < runs; i++) {
			double t0 = now_ns();

			if (sched_prepare(st) < 0)
				exit(1);
			t[i] = (now_ns() - t0) / 1e6;
		}
		qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
		if (cases[c].n == 1000 && cases[c].m == 65537 && !cases[c].weighted)
			goal = t[runs / 2] < GOAL_BUILD_MS ? "met" : "NOT met";
		printf("| %zu | %u | %s | %.3f | %.3f | %.3f | %s |\n", cases[c].n, cases[c].m,
		       cases[c].weighted ? "1-4" : "equal", t[0], t[runs / 2], t[runs - 1], goal);
		sched_free(st);
		free(d);
	}
	printf("\n");
}

static void memory_table(void)
{
	static const size_t ns[] = { 10, 100, 1000 };
	const struct sched_info *info;

	printf("### Memory per service state (sched_memory() in bytes after a run over 4096 VIPs, "
	       "so lblc/lblcr hold 4096 cache entries; the caller's endpoint array not "
	       "included)\n\n");
	printf("| scheduler | N=10 | N=100 | N=1000 |\n|---|---:|---:|---:|\n");
	for (size_t i = 0; (info = sched_info_get(i)); i++) {
		struct result r[3];
		int weighted = !strcmp(info->name, "ovf") ? 2 : 0;
		int saved = quick;

		quick = 1; /* memory does not need long runs */
		for (int k = 0; k < 3; k++)
			run(info->name, ns[k], flows_vips, weighted, NULL, &r[k]);
		quick = saved;
		printf("| %s | %zu | %zu | %zu |\n", info->name, r[0].mem, r[1].mem, r[2].mem);
	}
	printf("\n");
}

int main(void)
{
	const char *q = getenv("BENCH_QUICK");

	quick = q && *q && *q != '0';
	make_flows();
	printf("## bench_sched%s\n\n", quick ? " (quick)" : "");
	pick_table();
	affinity_row();
	build_table();
	memory_table();
	return 0;
}
