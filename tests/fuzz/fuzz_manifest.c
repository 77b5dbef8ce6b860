/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the whole pure pipeline: manifest bytes -> cluster ->
 * per-node policy view -> explain output.  Every input is read twice, once
 * as YAML and once as JSON, because the two readers share the decoder but
 * not the tree building, and a seed written in one syntax is often valid in
 * the other (JSON is nearly a subset of YAML).  When loading succeeds, the
 * node whose view is built and the policy options are taken from the input
 * itself, so that coverage-guided mutation can reach local-endpoint,
 * topology and masquerade paths and not only the parsers.
 *
 * The harness frees everything it gets back: with LeakSanitizer on, a leak
 * anywhere in the library is a finding.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/addr.h"
#include "core/diag.h"
#include "explain/explain.h"
#include "lint/lint.h"
#include "model/model.h"
#include "policy/policy.h"
#include "source/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Opened once: explain output is exercised, not kept. */
static FILE *devnull;

/*
 * Cheap selector bits from the input.  Using the whole input (not one
 * reserved byte) keeps the seed files plain manifests that kroute itself
 * can read, while still letting the fuzzer flip between node choices.
 */
static uint32_t input_bits(const uint8_t *data, size_t size)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	return h;
}

/* The name of some endpoint's node, so "this node has local endpoints" is reachable without Node objects. */
static const char *some_endpoint_node(const struct cluster *c, uint32_t bits)
{
	for (size_t i = 0; i < c->n_slices; i++) {
		const struct endpoint_slice *s = c->slices[(i + bits) % c->n_slices];

		for (size_t k = 0; k < s->n_endpoints; k++)
			if (s->endpoints[k].node_name)
				return s->endpoints[k].node_name;
	}
	return NULL;
}

static const char *pick_node(const struct cluster *c, uint32_t bits)
{
	const char *name = NULL;

	switch (bits & 3) {
	case 0:
		if (c->n_nodes)
			name = c->nodes[(bits >> 8) % c->n_nodes]->name;
		break;
	case 1:
		name = some_endpoint_node(c, bits >> 8);
		break;
	case 2:
		return ""; /* kroute explain without --node: no endpoint is local */
	case 3:
		return "node-not-in-the-input";
	}
	return name ? name : "node-a1";
}

static void run_policy(const struct cluster *c, uint32_t bits)
{
	static struct cidr cidrs[2];
	static bool cidrs_ready;
	struct policy_opts opts;
	struct explain_opts eo = { 0 };
	struct node_view *v;

	if (!cidrs_ready) {
		if (cidr_parse("10.244.0.0/16", &cidrs[0]) < 0 ||
		    cidr_parse("fd00:10:244::/56", &cidrs[1]) < 0)
			abort(); /* the harness itself is broken */
		cidrs_ready = true;
	}
	policy_opts_init(&opts);
	opts.masquerade_all = bits & (1u << 2);
	opts.prefer_same_node_gate = !(bits & (1u << 3));
	if (bits & (1u << 4)) {
		opts.cluster_cidrs = cidrs;
		opts.n_cluster_cidrs = 2;
	}
	if (bits & (1u << 5))
		opts.service_proxy_name = "kroute";

	v = policy_build_view(c, pick_node(c, bits), &opts);
	eo.pretty = bits & (1u << 6);
	explain_json(devnull, v, &eo);
	explain_table(devnull, v, &eo);
	/* The --service filter path, with a key that exists when there is any service. */
	if (v->n_ports) {
		eo.service = v->ports[(bits >> 16) % v->n_ports].svc->key;
		if (!explain_count(v, &eo))
			abort(); /* a port view's own service must match its filter */
		explain_json(devnull, v, &eo);
	}
	fflush(devnull);
	node_view_free(v);
}

/* kroute lint over the loaded cluster, in the mode the input picks; both renderers. */
static void run_lint(const struct cluster *c, uint32_t bits)
{
	struct lint_opts o;
	struct lint_report r;
	struct sbuf b = { 0 };

	lint_opts_init(&o);
	o.mode = lint_modes[(bits >> 7) & 1];
	o.ignore[(bits >> 8) % LINT_N_RULES] = bits & (1u << 12);
	lint_run(c, &o, &r);
	lint_render_table(&r, &b);
	lint_render_json(&r, &b);
	sbuf_free(&b);
	lint_report_done(&r);
}

static void load_one(const char *buf, size_t size, bool json, uint32_t bits)
{
	struct cluster c;
	struct diag d;
	char line[4096];
	int r;

	cluster_init(&c);
	diag_init(&d);
	r = manifest_load_buffer(json ? "fuzz.json" : "fuzz.yaml", buf, size, json, NULL, &c, &d);
	if (r == 0) {
		run_policy(&c, bits);
		run_lint(&c, bits);
	} else if (c.n_services || c.n_slices || c.n_nodes) {
		abort(); /* the contract: on error the cluster is left empty */
	}
	/* Format every message, as kroute prints them: exercises the location code. */
	for (size_t i = 0; i < d.n; i++)
		diag_msg_format(&d.msgs[i], line, sizeof(line));
	cluster_done(&c);
	diag_done(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t bits = input_bits(data, size);

	if (!devnull) {
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
	}
	load_one((const char *)data, size, false, bits);
	load_one((const char *)data, size, true, bits);
	return 0;
}
