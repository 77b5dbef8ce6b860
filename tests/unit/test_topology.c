/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy_categorize() against kube-proxy's own CategorizeEndpoints table
 * (kubernetes/kubernetes pkg/proxy/topology_test.go), one row per upstream
 * case, plus the cases the upstream tables lack.  The facts (endpoints with
 * their conditions, hints and localness; the node's name and zone; the
 * service port's traffic policies and external reachability) and the case
 * names are upstream's; the table and the code are ours.
 *
 * Sources, newest behaviour first:
 *   - pkg/proxy/topology.go @008b3652 (the behaviour kroute matches; it has
 *     node hints and PreferSameNode).  The matching topology_test.go is not
 *     in the reference index, so the node-hint rows come from
 *     antrea-io/antrea pkg/agent/proxy/topology_test.go, Antrea's port of
 *     that newer upstream test (rows marked "antrea:").
 *   - topology_test.go @6c039d90: the intermediate table (no annotation, no
 *     gates).  Every row of it is here under its upstream name.
 *   - topology_test.go @02756999: the legacy table with the TopologyAwareHints
 *     and ProxyTerminatingEndpoints gates and the hints annotation.  Its rows
 *     that @6c039d90 dropped or renamed are here too, mapped to the current
 *     behaviour; each such row says how.
 *
 * Mapping conventions:
 *   - Sets are written as the sorted "ip:port" keys, space-separated.  NULL
 *     expects a nil set, "" an empty non-nil set.
 *   - kroute's nil convention differs from Go's on purpose (see the top of
 *     src/policy/categorize.c): nil only when the port never uses that kind
 *     of endpoint, empty non-nil when it uses it but has none.  The upstream
 *     tables already write sets.New() (empty) wherever the port uses the
 *     kind, even though kube-proxy itself returns nil there (for example
 *     when the endpoint list is empty it returns nil for everything), so
 *     the upstream expectations carry over unchanged.
 *   - "all" is written out in every row.  Upstream leaves it unset when it
 *     equals the only non-nil one of cluster/local; that is what is written
 *     here.  kroute's all set is never nil.
 *   - has_any is expected true exactly when "all" is non-empty or the row
 *     says only_remote, as upstream's onlyRemoteEndpoints does.
 *   - The legacy and intermediate APIs took no node name; those rows pass
 *     NULL (localness is given per endpoint, and they have no node hints).
 *   - The PreferSameTrafficDistribution gate is on (the default) unless a
 *     row says psn_gate_off.
 *   - The topology mode chosen is checked in every row (upstream does not
 *     check it; it is implied by the cluster set).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/util.h"
#include "policy/policy.h"

/* Endpoint conditions and localness. */
#define RDY 1u /* ready */
#define SRV 2u /* serving */
#define TRM 4u /* terminating */
#define LOC 8u /* on this node (isLocal) */

struct tep {
	const char *ip;    /* port is always 80, as upstream */
	unsigned flags;
	const char *zones; /* hints.forZones, comma-separated; NULL: none */
	const char *nodes; /* hints.forNodes, comma-separated; NULL: none */
};

#define MAX_EPS 6

struct topo_case {
	const char *name;
	bool itp_local, etp_local, ext; /* ext: externally accessible (nodePort 8080 upstream) */
	const char *node;               /* kube-proxy's node name; NULL: not given */
	const char *zone;               /* the node's zone label; NULL: no label */
	bool psn_gate_off;              /* PreferSameTrafficDistribution off */
	struct tep eps[MAX_EPS];        /* terminated by ip == NULL */
	const char *cluster, *local, *all;
	bool only_remote;
	enum topology_mode topology;
};

/* The four endpoints most upstream zone cases use. */
#define ZONE_ABCA_READY                                              \
	{ { "10.1.2.3", RDY, "zone-a", NULL }, { "10.1.2.4", RDY, "zone-b", NULL }, \
	  { "10.1.2.5", RDY, "zone-c", NULL }, { "10.1.2.6", RDY, "zone-a", NULL } }

static const struct topo_case cases[] = {
	/* ---- kubernetes/kubernetes topology_test.go @6c039d90, every row ---- */
	{
		.name = "should use topology since all endpoints have hints, node has a zone label and and there are endpoints for the node's zone",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "externalTrafficPolicy: Local, topology ignored for Local endpoints",
		.etp_local = true, .ext = true, .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY | LOC, "zone-a", NULL }, { "10.1.2.4", RDY | LOC, "zone-b", NULL },
			 { "10.1.2.5", RDY, "zone-c", NULL }, { "10.1.2.6", RDY, "zone-a", NULL } },
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = "10.1.2.3:80 10.1.2.4:80",
		.all = "10.1.2.3:80 10.1.2.4:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "internalTrafficPolicy: Local, topology ignored for Local endpoints",
		.itp_local = true, .ext = true, .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY | LOC, "zone-a", NULL }, { "10.1.2.4", RDY | LOC, "zone-b", NULL },
			 { "10.1.2.5", RDY, "zone-c", NULL }, { "10.1.2.6", RDY, "zone-a", NULL } },
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = "10.1.2.3:80 10.1.2.4:80",
		.all = "10.1.2.3:80 10.1.2.4:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "empty node labels",
		.zone = NULL,
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
	},
	{
		.name = "empty zone label",
		.zone = "",
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
	},
	{
		.name = "node in different zone, no endpoint filtering",
		.zone = "zone-b",
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
	},
	{
		.name = "unready endpoint",
		.zone = "zone-a",
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL }, { "10.1.2.4", RDY, "zone-b", NULL },
			 { "10.1.2.5", RDY, "zone-c", NULL }, { "10.1.2.6", 0, "zone-a", NULL } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "only unready endpoints in same zone (should not filter)",
		.zone = "zone-a",
		.eps = { { "10.1.2.3", 0, "zone-a", NULL }, { "10.1.2.4", RDY, "zone-b", NULL },
			 { "10.1.2.5", RDY, "zone-c", NULL }, { "10.1.2.6", 0, "zone-a", NULL } },
		.cluster = "10.1.2.4:80 10.1.2.5:80", .local = NULL, .all = "10.1.2.4:80 10.1.2.5:80",
	},
	{
		.name = "missing hints, no filtering applied",
		.zone = "zone-a",
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL }, { "10.1.2.4", RDY, "zone-b", NULL },
			 { "10.1.2.5", RDY, NULL, NULL }, { "10.1.2.6", RDY, "zone-a", NULL } },
		.cluster = "10.1.2.3:80 10.1.2.4:80 10.1.2.5:80 10.1.2.6:80", .local = NULL,
		.all = "10.1.2.3:80 10.1.2.4:80 10.1.2.5:80 10.1.2.6:80",
	},
	{
		.name = "multiple hints per endpoint, filtering includes any endpoint with zone included",
		.zone = "zone-c",
		.eps = { { "10.1.2.3", RDY, "zone-a,zone-b,zone-c", NULL }, { "10.1.2.4", RDY, "zone-b,zone-c", NULL },
			 { "10.1.2.5", RDY, "zone-b,zone-d", NULL }, { "10.1.2.6", RDY, "zone-c", NULL } },
		.cluster = "10.1.2.3:80 10.1.2.4:80 10.1.2.6:80", .local = NULL,
		.all = "10.1.2.3:80 10.1.2.4:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "conflicting topology and localness require merging allEndpoints",
		.etp_local = true, .ext = true, .zone = "zone-a",
		.eps = { { "10.0.0.0", RDY | LOC, "zone-a", NULL }, { "10.0.0.1", RDY | LOC, "zone-b", NULL },
			 { "10.0.0.2", RDY, "zone-a", NULL }, { "10.0.0.3", RDY, "zone-b", NULL } },
		.cluster = "10.0.0.0:80 10.0.0.2:80", .local = "10.0.0.0:80 10.0.0.1:80",
		.all = "10.0.0.0:80 10.0.0.1:80 10.0.0.2:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* kube-proxy returns nil local here (empty endpoint list); upstream expects sets.New(). */
		.name = "internalTrafficPolicy: Local, with empty endpoints",
		.itp_local = true,
		.eps = { { NULL } },
		.cluster = NULL, .local = "", .all = "",
	},
	{
		.name = "internalTrafficPolicy: Local, but all endpoints are remote",
		.itp_local = true,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = NULL, .local = "", .all = "", .only_remote = true,
	},
	{
		.name = "internalTrafficPolicy: Local, all endpoints are local",
		.itp_local = true,
		.eps = { { "10.0.0.0", RDY | LOC, NULL, NULL }, { "10.0.0.1", RDY | LOC, NULL, NULL } },
		.cluster = NULL, .local = "10.0.0.0:80 10.0.0.1:80", .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "internalTrafficPolicy: Local, some endpoints are local",
		.itp_local = true,
		.eps = { { "10.0.0.0", RDY | LOC, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = NULL, .local = "10.0.0.0:80", .all = "10.0.0.0:80",
	},
	{
		.name = "Cluster traffic policy, endpoints not Ready",
		.eps = { { "10.0.0.0", 0, NULL, NULL }, { "10.0.0.1", 0, NULL, NULL } },
		.cluster = "", .local = NULL, .all = "",
	},
	{
		.name = "Cluster traffic policy, some endpoints are Ready",
		.eps = { { "10.0.0.0", 0, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = "10.0.0.1:80", .local = NULL, .all = "10.0.0.1:80",
	},
	{
		.name = "Cluster traffic policy, all endpoints are terminating",
		.eps = { { "10.0.0.0", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = NULL, .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "iTP: Local, eTP: Cluster, some endpoints local",
		.itp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY | LOC, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "10.0.0.0:80", .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "iTP: Cluster, eTP: Local, some endpoints local",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY | LOC, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "10.0.0.0:80", .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "iTP: Local, eTP: Local, some endpoints local",
		.itp_local = true, .etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY | LOC, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "10.0.0.0:80", .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "iTP: Local, eTP: Local, all endpoints remote",
		.itp_local = true, .etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "", .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "iTP: Local, eTP: Local, all endpoints remote and terminating",
		.itp_local = true, .etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", SRV | TRM, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "", .all = "10.0.0.0:80 10.0.0.1:80",
		.only_remote = true,
	},
	{
		.name = "iTP: Cluster, eTP: Local, with terminating endpoints",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", LOC, NULL, NULL },
			 { "10.0.0.2", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.3", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80", .local = "10.0.0.2:80", .all = "10.0.0.0:80 10.0.0.2:80",
	},
	{
		.name = "externalTrafficPolicy ignored if not externally accessible",
		.etp_local = true, .ext = false,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", RDY | LOC, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = NULL, .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "no cluster endpoints for iTP:Local internal-only service",
		.itp_local = true,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", RDY | LOC, NULL, NULL } },
		.cluster = NULL, .local = "10.0.0.1:80", .all = "10.0.0.1:80",
	},

	/* ---- topology_test.go @02756999 (legacy): rows @6c039d90 dropped or renamed ---- */
	{
		/* Legacy: TopologyAwareHints gate on, annotation "auto".  Same facts and result now. */
		.name = "hints enabled, hints annotation == auto",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/*
		 * Legacy expected all four (annotation "disabled" switched hints off).
		 * Mapped: kube-proxy no longer reads the annotation (guide section 2);
		 * with these hints present it filters.  Stopping hints is now the
		 * EndpointSlice controller's job (it removes them), which is the
		 * "missing hints" row.
		 */
		.name = "hints, hints annotation == disabled, hints ignored",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* Legacy expected all four ("aUto" was not "auto").  Mapped as above: annotation not read. */
		.name = "hints, hints annotation == aUto (wrong capitalization), hints ignored",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* Legacy expected all four (no annotation).  Mapped as above: annotation not read. */
		.name = "hints, hints annotation empty, hints ignored",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "normal endpoint filtering, auto annotation",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "normal endpoint filtering, Auto annotation",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* Legacy expected all four (annotation ""); mapped: annotation not read. */
		.name = "hintsAnnotation empty, no filtering applied",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* Legacy expected all four (annotation "disabled"); mapped: annotation not read. */
		.name = "hintsAnnotation disabled, no filtering applied",
		.zone = "zone-a",
		.eps = ZONE_ABCA_READY,
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* ProxyTerminatingEndpoints gate on: the behaviour now (the gate is GA and gone). */
		.name = "Cluster traffic policy, PTE enabled, all endpoints are terminating",
		.eps = { { "10.0.0.0", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = NULL, .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		/* Legacy (gate off) expected cluster empty and no endpoints.  Mapped: the fallback always runs now. */
		.name = "Cluster traffic policy, PTE disabled, all endpoints are terminating",
		.eps = { { "10.0.0.0", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = NULL, .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		/*
		 * Legacy (gate off) expected cluster, local and all empty and
		 * hasAnyEndpoints false.  Mapped: cluster falls back to the
		 * serving-terminating endpoints; local stays empty.
		 */
		.name = "iTP: Local, eTP: Local, PTE disabled, all endpoints remote and terminating",
		.itp_local = true, .etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", SRV | TRM, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "", .all = "10.0.0.0:80 10.0.0.1:80",
		.only_remote = true,
	},
	{
		.name = "iTP: Local, eTP: Local, PTE enabled, all endpoints remote and terminating",
		.itp_local = true, .etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", SRV | TRM, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "", .all = "10.0.0.0:80 10.0.0.1:80",
		.only_remote = true,
	},
	{
		/*
		 * Legacy (gate off) expected local empty, all = 10.0.0.0 only.
		 * Mapped: the local fallback picks the local serving-terminating
		 * endpoint, independently of the cluster set.
		 */
		.name = "iTP: Cluster, eTP: Local, PTE disabled, with terminating endpoints",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", LOC, NULL, NULL },
			 { "10.0.0.2", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.3", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80", .local = "10.0.0.2:80", .all = "10.0.0.0:80 10.0.0.2:80",
	},
	{
		.name = "iTP: Cluster, eTP: Local, PTE enabled, with terminating endpoints",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY, NULL, NULL }, { "10.0.0.1", LOC, NULL, NULL },
			 { "10.0.0.2", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.3", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80", .local = "10.0.0.2:80", .all = "10.0.0.0:80 10.0.0.2:80",
	},

	/*
	 * ---- antrea-io/antrea topology_test.go (port of the newer upstream
	 * test): rows whose facts differ from the rows above.  Antrea's rows set
	 * serving=true on ready endpoints, kept here. ----
	 */
	{
		.name = "antrea: node in different zone, no endpoint filtering",
		.zone = "zone-b",
		.eps = { { "10.1.2.3", RDY | SRV, "zone-a", NULL }, { "10.1.2.5", RDY | SRV, "zone-c", NULL } },
		.cluster = "10.1.2.3:80 10.1.2.5:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.5:80",
	},
	{
		.name = "antrea: PreferSameNode falls back to same-zone when feature gate disabled",
		.node = "node-1", .zone = "zone-a", .psn_gate_off = true,
		.eps = { { "10.1.2.3", RDY | SRV, "zone-a", "node-1" }, { "10.1.2.4", RDY | SRV, "zone-b", "node-2" },
			 { "10.1.2.5", RDY | SRV, "zone-c", "node-3" }, { "10.1.2.6", RDY | SRV, "zone-a", "node-4" } },
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "antrea: PreferSameNode available",
		.node = "node-1", .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY | SRV, "zone-a", "node-1" }, { "10.1.2.4", RDY | SRV, "zone-b", "node-2" },
			 { "10.1.2.5", RDY | SRV, "zone-c", "node-3" }, { "10.1.2.6", RDY | SRV, "zone-a", "node-4" } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
		.topology = TOPOLOGY_PREFER_SAME_NODE,
	},
	{
		.name = "antrea: PreferSameNode ignored if some endpoints unhinted",
		.node = "node-1", .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY | SRV, "zone-a", "node-1" }, { "10.1.2.4", RDY | SRV, NULL, NULL },
			 { "10.1.2.5", RDY | SRV, "zone-c", "node-3" }, { "10.1.2.6", RDY | SRV, "zone-a", "node-4" } },
		.cluster = "10.1.2.3:80 10.1.2.4:80 10.1.2.5:80 10.1.2.6:80", .local = NULL,
		.all = "10.1.2.3:80 10.1.2.4:80 10.1.2.5:80 10.1.2.6:80",
	},
	{
		.name = "antrea: PreferSameNode falls back to PreferSameZone if no endpoint for node",
		.node = "node-0", .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY | SRV, "zone-a", "node-1" }, { "10.1.2.4", RDY | SRV, "zone-b", "node-2" },
			 { "10.1.2.5", RDY | SRV, "zone-c", "node-3" }, { "10.1.2.6", RDY | SRV, "zone-a", "node-4" } },
		.cluster = "10.1.2.3:80 10.1.2.6:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.6:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* Antrea's variant uses iTP Local (with a nodePort) where upstream uses eTP Local. */
		.name = "antrea: conflicting topology and localness require merging allEndpoints",
		.itp_local = true, .ext = true, .zone = "zone-a",
		.eps = { { "10.0.0.0", RDY | SRV | LOC, "zone-a", NULL }, { "10.0.0.1", RDY | SRV | LOC, "zone-b", NULL },
			 { "10.0.0.2", RDY | SRV, "zone-a", NULL }, { "10.0.0.3", RDY | SRV, "zone-b", NULL } },
		.cluster = "10.0.0.0:80 10.0.0.2:80", .local = "10.0.0.0:80 10.0.0.1:80",
		.all = "10.0.0.0:80 10.0.0.1:80 10.0.0.2:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		.name = "antrea: Cluster traffic policy, all endpoints are terminating",
		.eps = { { "10.0.0.0", SRV | TRM, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = NULL, .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		/* kube-proxy returns nil for both (empty list); the row expects sets.New() for both. */
		.name = "antrea: externalTrafficPolicy: Local, externally accessible, with empty endpoints",
		.etp_local = true, .ext = true,
		.eps = { { NULL } },
		.cluster = "", .local = "", .all = "",
	},
	{
		/* Antrea does not check hasAnyEndpoints; all is non-empty so it is true. */
		.name = "antrea: externalTrafficPolicy: Local, externally accessible, but all endpoints are remote",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY | SRV, NULL, NULL }, { "10.0.0.1", RDY | SRV, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "", .all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "antrea: externalTrafficPolicy: Local, externally accessible, all endpoints are local",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY | SRV | LOC, NULL, NULL }, { "10.0.0.1", RDY | SRV | LOC, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "10.0.0.0:80 10.0.0.1:80",
		.all = "10.0.0.0:80 10.0.0.1:80",
	},
	{
		.name = "antrea: externalTrafficPolicy: Local, externally accessible, some endpoints are local",
		.etp_local = true, .ext = true,
		.eps = { { "10.0.0.0", RDY | SRV | LOC, NULL, NULL }, { "10.0.0.1", RDY | SRV, NULL, NULL } },
		.cluster = "10.0.0.0:80 10.0.0.1:80", .local = "10.0.0.0:80", .all = "10.0.0.0:80 10.0.0.1:80",
	},

	/*
	 * ---- Not in the upstream tables: kubernetes-semantics.md section 2,
	 * "Hints are ignored when", and the section 1 rules around it. ----
	 */
	{
		/* Only ready endpoints must carry the hint: an unhinted unready endpoint does not stop filtering. */
		.name = "extra: unready endpoint without hints does not disable zone filtering",
		.zone = "zone-a",
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL }, { "10.1.2.4", RDY, "zone-b", NULL },
			 { "10.1.2.5", 0, NULL, NULL } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* No ready endpoints: no topology; the fallback takes every serving-terminating endpoint, hinted anywhere. */
		.name = "extra: serving-terminating fallback ignores zone hints",
		.zone = "zone-a",
		.eps = { { "10.1.2.3", SRV | TRM, "zone-a", NULL }, { "10.1.2.4", SRV | TRM, "zone-b", NULL },
			 { "10.1.2.5", SRV | TRM, NULL, NULL } },
		.cluster = "10.1.2.3:80 10.1.2.4:80 10.1.2.5:80", .local = NULL,
		.all = "10.1.2.3:80 10.1.2.4:80 10.1.2.5:80",
	},
	{
		/* Same with node hints and the gate on. */
		.name = "extra: serving-terminating fallback ignores node hints",
		.node = "node-1", .zone = "zone-a",
		.eps = { { "10.1.2.3", SRV | TRM, "zone-a", "node-1" }, { "10.1.2.4", SRV | TRM, "zone-b", "node-2" } },
		.cluster = "10.1.2.3:80 10.1.2.4:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.4:80",
	},
	{
		/* Unready endpoints' hints are ignored: an unready same-node endpoint does not enable PreferSameNode. */
		.name = "extra: only an unready endpoint hinted for this node, no PreferSameNode",
		.node = "node-1", .zone = NULL,
		.eps = { { "10.1.2.3", 0, NULL, "node-1" }, { "10.1.2.4", RDY, NULL, "node-2" },
			 { "10.1.2.5", RDY, NULL, "node-3" } },
		.cluster = "10.1.2.4:80 10.1.2.5:80", .local = NULL, .all = "10.1.2.4:80 10.1.2.5:80",
	},
	{
		/* PreferSameNode needs no zone label. */
		.name = "extra: PreferSameNode on a node without a zone label",
		.node = "node-1", .zone = NULL,
		.eps = { { "10.1.2.3", RDY, "zone-a", "node-1" }, { "10.1.2.4", RDY, "zone-b", "node-2" } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
		.topology = TOPOLOGY_PREFER_SAME_NODE,
	},
	{
		/* Every endpoint node-hinted, none for this node, no zone hints: no topology at all. */
		.name = "extra: no endpoint hinted for this node and no zone hints",
		.node = "node-0", .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY, NULL, "node-1" }, { "10.1.2.4", RDY, NULL, "node-2" } },
		.cluster = "10.1.2.3:80 10.1.2.4:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.4:80",
	},
	{
		/* Node hints, gate off, no zone hints: the node hints mean nothing. */
		.name = "extra: node hints with the gate off and no zone hints",
		.node = "node-1", .zone = "zone-a", .psn_gate_off = true,
		.eps = { { "10.1.2.3", RDY, NULL, "node-1" }, { "10.1.2.4", RDY, NULL, "node-2" } },
		.cluster = "10.1.2.3:80 10.1.2.4:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.4:80",
	},
	{
		/* No node name (kube-proxy's node name unknown): node hints cannot match. */
		.name = "extra: no node name, node hints unused, zone hints still used",
		.node = NULL, .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY, "zone-a", "node-1" }, { "10.1.2.4", RDY, "zone-b", "node-2" } },
		.cluster = "10.1.2.3:80", .local = NULL, .all = "10.1.2.3:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
	{
		/* Empty node name behaves like none. */
		.name = "extra: empty node name, node hints unused",
		.node = "", .zone = NULL,
		.eps = { { "10.1.2.3", RDY, NULL, "node-1" }, { "10.1.2.4", RDY, NULL, "node-2" } },
		.cluster = "10.1.2.3:80 10.1.2.4:80", .local = NULL, .all = "10.1.2.3:80 10.1.2.4:80",
	},
	{
		/* Topology never applies to local endpoints, PreferSameNode included; all is the union. */
		.name = "extra: eTP Local with PreferSameNode, local set unfiltered",
		.etp_local = true, .ext = true, .node = "node-1", .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY | LOC, "zone-a", "node-1" }, { "10.1.2.4", RDY | LOC, "zone-a", "node-9" },
			 { "10.1.2.5", RDY, "zone-b", "node-2" } },
		.cluster = "10.1.2.3:80", .local = "10.1.2.3:80 10.1.2.4:80", .all = "10.1.2.3:80 10.1.2.4:80",
		.topology = TOPOLOGY_PREFER_SAME_NODE,
	},
	{
		/* Unready endpoints that are serving but not terminating, or terminating but not serving: never a fallback. */
		.name = "extra: unready, serving, not terminating endpoints are unusable",
		.eps = { { "10.0.0.0", SRV, NULL, NULL }, { "10.0.0.1", TRM, NULL, NULL } },
		.cluster = "", .local = NULL, .all = "",
	},
	{
		/* Same under iTP Local: the local pre-scan finds nothing usable anywhere, so has_any is false. */
		.name = "extra: iTP Local, nothing ready or serving-terminating anywhere",
		.itp_local = true,
		.eps = { { "10.0.0.0", SRV | LOC, NULL, NULL }, { "10.0.0.1", TRM, NULL, NULL } },
		.cluster = NULL, .local = "", .all = "",
	},
	{
		/* A ready endpoint that is also terminating (publishNotReadyAddresses) counts as ready. */
		.name = "extra: ready and terminating counts as ready",
		.eps = { { "10.0.0.0", RDY | SRV | TRM, NULL, NULL }, { "10.0.0.1", SRV | TRM, NULL, NULL } },
		.cluster = "10.0.0.0:80", .local = NULL, .all = "10.0.0.0:80",
	},
	{
		/* Local prefers ready: a local serving-terminating endpoint is left out while a local ready one exists. */
		.name = "extra: iTP Local, local ready endpoint wins over local terminating one",
		.itp_local = true,
		.eps = { { "10.0.0.0", RDY | LOC, NULL, NULL }, { "10.0.0.1", SRV | TRM | LOC, NULL, NULL },
			 { "10.0.0.2", RDY, NULL, NULL } },
		.cluster = NULL, .local = "10.0.0.0:80", .all = "10.0.0.0:80",
	},
	{
		/* iTP Local, remote ready endpoints exist, local ones only terminating: local falls back on its own. */
		.name = "extra: iTP Local, local fallback while remote endpoints are ready",
		.itp_local = true,
		.eps = { { "10.0.0.0", SRV | TRM | LOC, NULL, NULL }, { "10.0.0.1", RDY, NULL, NULL } },
		.cluster = NULL, .local = "10.0.0.0:80", .all = "10.0.0.0:80",
	},
	{
		/* Zone mode, eTP Local, local endpoint in another zone: cluster filtered, all is the union. */
		.name = "extra: eTP Local, zone-filtered cluster and a local endpoint of another zone",
		.etp_local = true, .ext = true, .zone = "zone-a",
		.eps = { { "10.1.2.3", RDY, "zone-a", NULL }, { "10.1.2.4", RDY | LOC, "zone-b", NULL } },
		.cluster = "10.1.2.3:80", .local = "10.1.2.4:80", .all = "10.1.2.3:80 10.1.2.4:80",
		.topology = TOPOLOGY_PREFER_SAME_ZONE,
	},
};

static int cmp_ep_key(const void *a, const void *b)
{
	const struct ep *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* Splits "a,b,c" into an owned vector. */
static char **split_names(const char *s, size_t *ret_n)
{
	char **v;
	size_t n = 1;

	*ret_n = 0;
	if (!s)
		return NULL;
	for (const char *p = s; *p; p++)
		n += *p == ',';
	v = xcalloc(n, sizeof(*v));
	for (const char *p = s;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);

		v[(*ret_n)++] = xstrndup(p, len);
		if (!e)
			break;
		p = e + 1;
	}
	return v;
}

static void set_text(const struct ep_set *s, char *buf, size_t len)
{
	size_t off = 0;

	if (s->nil) {
		snprintf(buf, len, "nil");
		return;
	}
	off += (size_t)snprintf(buf, len, "[");
	for (size_t i = 0; i < s->n && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", s->v[i]->key);
	if (off < len)
		snprintf(buf + off, len - off, "]");
}

static void expect_text(const char *want, char *buf, size_t len)
{
	if (!want)
		snprintf(buf, len, "nil");
	else
		snprintf(buf, len, "[%s]", want);
}

static const char *mode_text(enum topology_mode m)
{
	return topology_mode_name(m) ? topology_mode_name(m) : "none";
}

/* Runs one row; returns the number of mismatches (each reported). */
static int run_case(const struct topo_case *tc)
{
	struct ep eps[MAX_EPS];
	char **zone_hints[MAX_EPS] = { 0 }, **node_hints[MAX_EPS] = { 0 };
	size_t n_zone_hints[MAX_EPS] = { 0 }, n_node_hints[MAX_EPS] = { 0 };
	size_t n = 0;
	struct categorize_in in = {
		.itp_local = tc->itp_local,
		.etp_local = tc->etp_local,
		.externally_accessible = tc->ext,
		.node_name = tc->node,
		.zone = tc->zone,
		.prefer_same_node_gate = !tc->psn_gate_off,
	};
	struct categorized out;
	const struct {
		const char *what;
		const struct ep_set *got;
		const char *want;
	} sets[] = {
		{ "cluster", &out.cluster, tc->cluster },
		{ "local", &out.local, tc->local },
		{ "all", &out.all, tc->all },
	};
	bool want_any;
	int bad = 0;

	memset(eps, 0, sizeof(eps));
	for (; n < MAX_EPS && tc->eps[n].ip; n++) {
		const struct tep *t = &tc->eps[n];
		struct ep *e = &eps[n];

		if (addr_parse(t->ip, &e->addr) < 0) {
			print_error("case \"%s\": bad test address %s\n", tc->name, t->ip);
			return 1;
		}
		e->port = 80;
		addr_port_format(&e->addr, e->port, e->key);
		e->ready = t->flags & RDY;
		e->serving = t->flags & SRV;
		e->terminating = t->flags & TRM;
		e->is_local = t->flags & LOC;
		zone_hints[n] = split_names(t->zones, &n_zone_hints[n]);
		node_hints[n] = split_names(t->nodes, &n_node_hints[n]);
		e->zone_hints = zone_hints[n];
		e->n_zone_hints = n_zone_hints[n];
		e->node_hints = node_hints[n];
		e->n_node_hints = n_node_hints[n];
	}
	/* policy_categorize() wants endpoints sorted by key, as the view builds them. */
	qsort(eps, n, sizeof(eps[0]), cmp_ep_key);

	policy_categorize(eps, n, &in, &out);
	for (size_t i = 0; i < ARRAY_SIZE(sets); i++) {
		char got[512], want[512];

		set_text(sets[i].got, got, sizeof(got));
		expect_text(sets[i].want, want, sizeof(want));
		if (strcmp(got, want)) {
			print_error("case \"%s\": %s endpoints: expected %s, got %s\n", tc->name,
				    sets[i].what, want, got);
			bad++;
		}
	}
	want_any = (tc->all && *tc->all) || tc->only_remote;
	if (out.has_any != want_any) {
		print_error("case \"%s\": has_any: expected %s, got %s\n", tc->name,
			    want_any ? "true" : "false", out.has_any ? "true" : "false");
		bad++;
	}
	if (out.topology != tc->topology) {
		print_error("case \"%s\": topology mode: expected %s, got %s\n", tc->name,
			    mode_text(tc->topology), mode_text(out.topology));
		bad++;
	}
	categorized_done(&out);
	/* Freed by input index: the hint vectors do not move with the sort. */
	for (size_t i = 0; i < n; i++) {
		strv_free(zone_hints[i], n_zone_hints[i]);
		strv_free(node_hints[i], n_node_hints[i]);
	}
	return bad;
}

static void test_categorize_table(void **state)
{
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (run_case(&cases[i]))
			failed++;
	if (failed) {
		print_error("%zu of %zu categorize cases failed\n", failed, ARRAY_SIZE(cases));
		fail();
	}
}

/*
 * The sets point into the input array (no copies), and the input is not
 * modified: callers keep owning the endpoints.
 */
static void test_sets_borrow_input(void **state)
{
	struct ep eps[2];
	struct categorize_in in = { .etp_local = true, .externally_accessible = true };
	struct categorized out;

	(void)state;
	memset(eps, 0, sizeof(eps));
	assert_int_equal(addr_parse("10.0.0.1", &eps[0].addr), 0);
	assert_int_equal(addr_parse("10.0.0.2", &eps[1].addr), 0);
	for (size_t i = 0; i < 2; i++) {
		eps[i].port = 8080;
		addr_port_format(&eps[i].addr, eps[i].port, eps[i].key);
		eps[i].ready = eps[i].serving = true;
	}
	eps[1].is_local = true;
	policy_categorize(eps, 2, &in, &out);
	assert_int_equal(out.cluster.n, 2);
	assert_ptr_equal(out.cluster.v[0], &eps[0]);
	assert_ptr_equal(out.cluster.v[1], &eps[1]);
	assert_int_equal(out.local.n, 1);
	assert_ptr_equal(out.local.v[0], &eps[1]);
	assert_int_equal(out.all.n, 2);
	assert_ptr_equal(out.all.v[1], &eps[1]);
	assert_string_equal(eps[0].key, "10.0.0.1:8080");
	categorized_done(&out);
	assert_null(out.cluster.v);
	assert_int_equal(out.cluster.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_categorize_table),
		cmocka_unit_test(test_sets_borrow_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
