/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the status-file reader behind `kroute explain
 * --status` (src/explain/runtime.c): arbitrary bytes as the status JSON,
 * then, when it loads, both explain renderers over a fixed small view whose
 * endpoint sets the seeds name, so the look-ups run too.  Everything is
 * freed: with LeakSanitizer on, a leak is a finding.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "explain/explain.h"
#include "explain/runtime.h"
#include "model/model.h"
#include "policy/policy.h"
#include "source/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cluster_yaml[] =
	"apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
	"spec: {clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}\n"
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
	"metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}\n"
	"ports: [{name: http, port: 8080, protocol: TCP}]\n"
	"endpoints:\n- {addresses: [10.244.1.10], conditions: {ready: true}, nodeName: n1}\n"
	"- {addresses: [10.244.2.11], conditions: {ready: true}, nodeName: n2}\n";

static FILE *devnull;
static struct cluster cluster;
static struct node_view *view;

static void setup(void)
{
	struct diag d;
	struct policy_opts po;

	devnull = fopen("/dev/null", "w");
	cluster_init(&cluster);
	diag_init(&d);
	if (manifest_load_buffer("fixed.yaml", cluster_yaml, sizeof(cluster_yaml) - 1, false, NULL,
				 &cluster, &d) < 0)
		abort();
	diag_done(&d);
	policy_opts_init(&po);
	view = policy_build_view(&cluster, "n1", &po);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct runtime_status st;
	char err[256];

	if (!devnull)
		setup();
	if (runtime_status_load_buffer("status.json", (const char *)data, size, &st, err,
				       sizeof(err)) == 0) {
		struct explain_opts eo = { .pretty = true, .runtime = &st };

		(void)explain_table(devnull, view, &eo);
		(void)explain_json(devnull, view, &eo);
	}
	runtime_status_done(&st);
	return 0;
}
