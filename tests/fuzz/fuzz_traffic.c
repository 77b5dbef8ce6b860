/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for kroute sim (src/sim/): arbitrary bytes as the
 * traffic description; when it parses, the simulation runs over a fixed
 * small cluster (every variant, the services' own scheduler and maglev)
 * and all three renderers write into memory.  Inputs asking for more than
 * 20,000 requests are only parsed, to keep each run short.  Everything is
 * freed: with LeakSanitizer on, a leak is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/sbuf.h"
#include "sched/sched.h"
#include "sim/sim.h"
#include "source/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char cluster_yaml[] =
	"apiVersion: v1\nkind: Node\nmetadata: {name: n1, labels: {topology.kubernetes.io/zone: z1}}\n"
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: n2, labels: {topology.kubernetes.io/zone: z2}}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: t}\n"
	"spec: {type: NodePort, clusterIP: 10.96.0.10, externalTrafficPolicy: Local,\n"
	"  ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]}\n"
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\naddressType: IPv4\n"
	"metadata: {name: web-1, namespace: t, labels: {kubernetes.io/service-name: web}}\n"
	"ports: [{name: http, port: 8080, protocol: TCP}]\n"
	"endpoints:\n- {addresses: [10.244.1.10], conditions: {ready: true}, nodeName: n1, zone: z1}\n"
	"- {addresses: [10.244.2.11], conditions: {ready: false, serving: true, terminating: true}, nodeName: n2}\n"
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: empty, namespace: t}\n"
	"spec: {clusterIP: 10.96.0.11, ports: [{port: 53, protocol: UDP}]}\n";

static struct cluster cluster;

static void setup(void)
{
	struct diag d;

	cluster_init(&cluster);
	diag_init(&d);
	if (manifest_load_buffer("fixed.yaml", cluster_yaml, sizeof(cluster_yaml) - 1, false, NULL,
				 &cluster, &d) < 0)
		abort();
	diag_done(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *scheds[2];
	struct sim_opts o = { .scheds = scheds, .n_scheds = 2 };
	struct sim_traffic t;
	struct sim_report r;
	struct sbuf b = { 0 };
	char err[256], *text;
	uint64_t total = 0;

	if (!cluster.n_services)
		setup();
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	if (sim_traffic_parse("fuzz", text, &t, err, sizeof(err)) < 0) {
		free(text);
		return 0;
	}
	free(text);
	for (size_t i = 0; i < t.n; i++)
		total += t.v[i].rps;
	if (total <= 20000) {
		scheds[0] = sched_info_find("random")->name;
		scheds[1] = sched_info_find("maglev")->name;
		policy_opts_init(&o.po);
		for (size_t v = 0; v < SIM_N_VARIANTS; v++)
			o.variant[v] = true;
		if (sim_run(&cluster, &t, &o, &r, err, sizeof(err)) == 0) {
			sim_render_table(&r, &b);
			sim_render_json(&r, &b);
			sim_render_svg(&r, &b);
			sbuf_free(&b);
			sim_report_done(&r);
		}
	}
	sim_traffic_done(&t);
	return 0;
}
