/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulation's outputs: a table for people (one row per variant and
 * scheduler), JSON for programs (keys in docs/sim.md) and an SVG bar chart
 * comparing the variants, all written into an sbuf.
 */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "sim/sim.h"

static double frac(uint64_t part, uint64_t whole)
{
	return whole ? (double)part / (double)whole : 0;
}

static const char *sched_label(const struct sim_result *r)
{
	return r->sched ? r->sched : "(own)";
}

void sim_render_table(const struct sim_report *r, struct sbuf *out)
{
	SBUF_ADDL(out, "VARIANT         SCHEDULER  REQUESTS  DROPPED  REJECTED  CROSS-NODE  CROSS-ZONE  +LATENCY  CLIENT-IP  EP-IMBALANCE  NODE-IMBALANCE\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct sim_result *s = &r->v[i];

		sbuf_printf(out, "%-15s %-10s %8llu  %6.1f%%  %7.1f%%  %9.1f%%  %9.1f%%  %5.3fms  %8.1f%%  %12.2f  %14.2f\n",
			    sim_variant_name(s->variant), sched_label(s), (unsigned long long)s->requests,
			    100 * frac(s->dropped, s->requests), 100 * frac(s->rejected, s->requests),
			    100 * frac(s->cross_node, s->forwarded), 100 * frac(s->cross_zone, s->forwarded),
			    s->forwarded ? s->latency_ms / (double)s->forwarded : 0,
			    100 * frac(s->client_ip_kept, s->forwarded), s->ep_imbalance, s->node_imbalance);
	}
	SBUF_ADDL(out, "\nDROPPED and REJECTED are shares of all requests; CROSS-NODE, CROSS-ZONE and CLIENT-IP of the\n"
		       "forwarded ones; +LATENCY is the mean added latency of a forwarded request; IMBALANCE is max/mean\n"
		       "requests (per endpoint: the worst service port; per node: the nodes running an endpoint).\n");
}

static void json_counts(struct sbuf *out, const char *key, const struct sim_count *v, size_t n,
			uint64_t total)
{
	sbuf_printf(out, "      \"%s\": [", key);
	for (size_t i = 0; i < n; i++) {
		sbuf_adds(out, i ? ",\n        {\"name\": " : "\n        {\"name\": ");
		sbuf_add_json_str(out, v[i].name);
		if (v[i].node) {
			SBUF_ADDL(out, ", \"node\": ");
			sbuf_add_json_str(out, v[i].node);
		}
		sbuf_printf(out, ", \"requests\": %llu, \"fraction\": %.6f}",
			    (unsigned long long)v[i].requests, frac(v[i].requests, total));
	}
	sbuf_adds(out, n ? "\n      ]" : "]");
}

void sim_render_json(const struct sim_report *r, struct sbuf *out)
{
	SBUF_ADDL(out, "{\n  \"results\": [");
	for (size_t i = 0; i < r->n; i++) {
		const struct sim_result *s = &r->v[i];

		sbuf_adds(out, i ? ",\n    {\n" : "\n    {\n");
		SBUF_ADDL(out, "      \"variant\": ");
		sbuf_add_json_str(out, sim_variant_name(s->variant));
		SBUF_ADDL(out, ",\n      \"scheduler\": ");
		if (s->sched)
			sbuf_add_json_str(out, s->sched);
		else
			SBUF_ADDL(out, "null");
		sbuf_printf(out, ",\n      \"requests\": %llu,\n      \"forwarded\": %llu,\n"
				 "      \"dropped\": %llu,\n      \"rejected\": %llu,\n",
			    (unsigned long long)s->requests, (unsigned long long)s->forwarded,
			    (unsigned long long)s->dropped, (unsigned long long)s->rejected);
		sbuf_printf(out, "      \"dropped_fraction\": %.6f,\n      \"rejected_fraction\": %.6f,\n"
				 "      \"cross_node_fraction\": %.6f,\n      \"cross_zone_fraction\": %.6f,\n"
				 "      \"client_ip_kept_fraction\": %.6f,\n      \"added_latency_ms\": %.6f,\n"
				 "      \"endpoint_imbalance\": %.6f,\n      \"node_imbalance\": %.6f,\n",
			    frac(s->dropped, s->requests), frac(s->rejected, s->requests),
			    frac(s->cross_node, s->forwarded), frac(s->cross_zone, s->forwarded),
			    frac(s->client_ip_kept, s->forwarded),
			    s->forwarded ? s->latency_ms / (double)s->forwarded : 0, s->ep_imbalance,
			    s->node_imbalance);
		json_counts(out, "endpoints", s->eps, s->n_eps, s->requests);
		SBUF_ADDL(out, ",\n");
		json_counts(out, "nodes", s->nodes, s->n_nodes, s->requests);
		SBUF_ADDL(out, "\n    }");
	}
	SBUF_ADDL(out, "\n  ]\n}\n");
}

/* The chart: one group of bars per measure, one bar per result, a legend under it. */
#define SVG_BAR 18
#define SVG_GAP 30
#define SVG_H 220
#define SVG_TOP 40
#define SVG_LEFT 50

static const char *const svg_colors[] = {
	"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
};

void sim_render_svg(const struct sim_report *r, struct sbuf *out)
{
	static const char *const measures[] = { "dropped", "cross-node", "cross-zone",
						"client IP kept" };
	size_t n_m = ARRAY_SIZE(measures), n = r->n ? r->n : 1;
	size_t group_w = n * SVG_BAR + SVG_GAP;
	size_t w = SVG_LEFT + n_m * group_w + 20, h = SVG_TOP + SVG_H + 60 + 18 * r->n;

	sbuf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%zu\" height=\"%zu\" font-family=\"sans-serif\" font-size=\"12\">\n",
		    w, h);
	sbuf_printf(out, "<rect width=\"%zu\" height=\"%zu\" fill=\"white\"/>\n", w, h);
	SBUF_ADDL(out, "<text x=\"10\" y=\"20\" font-size=\"14\">kroute sim: share of requests per policy variant</text>\n");
	for (int pct = 0; pct <= 100; pct += 25) {
		double y = SVG_TOP + SVG_H - SVG_H * pct / 100.0;

		sbuf_printf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%zu\" y2=\"%.1f\" stroke=\"#ddd\"/>\n"
				 "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%d%%</text>\n",
			    SVG_LEFT, y, w - 10, y, SVG_LEFT - 5, y + 4, pct);
	}
	for (size_t m = 0; m < n_m; m++) {
		size_t x0 = SVG_LEFT + m * group_w + SVG_GAP / 2;

		for (size_t i = 0; i < r->n; i++) {
			const struct sim_result *s = &r->v[i];
			double f = m == 0 ? frac(s->dropped + s->rejected, s->requests)
				 : m == 1 ? frac(s->cross_node, s->forwarded)
				 : m == 2 ? frac(s->cross_zone, s->forwarded)
					  : frac(s->client_ip_kept, s->forwarded);
			double bh = SVG_H * f;

			sbuf_printf(out, "<rect x=\"%zu\" y=\"%.1f\" width=\"%d\" height=\"%.1f\" fill=\"%s\"><title>%s %s: %.1f%%</title></rect>\n",
				    x0 + i * SVG_BAR, SVG_TOP + SVG_H - bh, SVG_BAR - 2, bh,
				    svg_colors[i % ARRAY_SIZE(svg_colors)], sim_variant_name(s->variant),
				    sched_label(s), 100 * f);
		}
		sbuf_printf(out, "<text x=\"%zu\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
			    x0 + r->n * SVG_BAR / 2, SVG_TOP + SVG_H + 18, measures[m]);
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct sim_result *s = &r->v[i];
		size_t y = SVG_TOP + SVG_H + 40 + 18 * i;

		sbuf_printf(out, "<rect x=\"%d\" y=\"%zu\" width=\"12\" height=\"12\" fill=\"%s\"/>\n"
				 "<text x=\"%d\" y=\"%zu\">%s, scheduler %s: latency +%.3f ms, imbalance %.2f per endpoint, %.2f per node</text>\n",
			    SVG_LEFT, y - 10, svg_colors[i % ARRAY_SIZE(svg_colors)], SVG_LEFT + 18, y,
			    sim_variant_name(s->variant), sched_label(s),
			    s->forwarded ? s->latency_ms / (double)s->forwarded : 0, s->ep_imbalance,
			    s->node_imbalance);
	}
	SBUF_ADDL(out, "</svg>\n");
}
