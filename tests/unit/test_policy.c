/* SPDX-License-Identifier: Apache-2.0 */
/*
 * policy_build_view(): the per-node route rules of kube-proxy
 * (kubernetes-semantics.md sections 1 and 3), end to end from manifests.
 * Each case loads a small cluster from YAML text, builds the view for one
 * node and compares a canonical rendering of the whole view with the
 * expected text, so every field that decides routing is checked exactly:
 *
 *   node=<name> zone=<zone|-> <known|unknown> skipped=<services left to another proxy>
 *   <ns/name> <port name|-> <port>/<proto> <IPv4|IPv6> cluster=<set> local=<set> all=<set>
 *       has_any=<yes|no> topo=<mode|none>
 *     <route kind> <ip:port>[ unallocated] <policy> <action> <set used>=<endpoints>
 *       [ masq][ keep-src][ ranges=<cidr,...>]
 *
 * A set is "nil" or "[ip:port ...]" (sorted, as kube-proxy sorts).  A
 * NodePort route's address is the node IP of the family, or "*" (every local
 * IP) when the node has none; "-" is an unallocated cluster IP.  "masq" is
 * route.masquerade, "keep-src" route.preserves_source_ip.  Some cases also
 * require substrings in the view's notes.
 *
 * Expected values come from the guide, not from running the code: where the
 * implementation disagrees, the case fails and says so.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "core/addr.h"
#include "core/diag.h"
#include "core/util.h"
#include "model/model.h"
#include "policy/policy.h"
#include "source/manifest.h"

/* ---- YAML building blocks ---- */

#define NODE(name, zone_labels, addrs)                                                   \
	"---\napiVersion: v1\nkind: Node\nmetadata: {name: " name ", labels: {" zone_labels \
	"}}\nstatus: {addresses: " addrs "}\n"

/* node-a and node-c share zone-a; node-b is alone in zone-b; only node-a has an IPv6 address. */
#define NODES                                                                             \
	NODE("node-a", "topology.kubernetes.io/zone: zone-a",                             \
	     "[{type: InternalIP, address: 192.168.0.1}, {type: InternalIP, address: 'fd00::a'}]") \
	NODE("node-b", "topology.kubernetes.io/zone: zone-b", "[{type: InternalIP, address: 192.168.0.2}]") \
	NODE("node-c", "topology.kubernetes.io/zone: zone-a", "[{type: InternalIP, address: 192.168.0.3}]") \
	NODE("node-nozone", "kubernetes.io/hostname: node-nozone", "[{type: InternalIP, address: 192.168.0.4}]")

#define SVC(name, spec) "---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: ns}\nspec: " spec "\n"
#define SVC_LABELS(name, labels, spec)                                                            \
	"---\napiVersion: v1\nkind: Service\nmetadata: {name: " name ", namespace: ns, labels: {" labels \
	"}}\nspec: " spec "\n"
#define SVC_STATUS(name, spec, ingress) SVC(name, spec) "status: {loadBalancer: {ingress: " ingress "}}\n"

#define SLICE(name, svc, af, ports, eps)                                                         \
	"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: " name          \
	", namespace: ns, labels: {kubernetes.io/service-name: " svc "}}\naddressType: " af          \
	"\nports: " ports "\nendpoints: " eps "\n"

#define SP_HTTP "[{name: http, protocol: TCP, port: 8080}]"
#define PORTS_HTTP "ports: [{name: http, port: 80, targetPort: 8080}]"
#define PORTS_HTTP_NP "ports: [{name: http, port: 80, targetPort: 8080, nodePort: 30080}]"

#define READY "{ready: true}"
#define TERMINATING "{ready: false, serving: true, terminating: true}"
#define NOT_SERVING "{ready: false, serving: false, terminating: true}"
#define UNREADY "{ready: false}"

/* An endpoint with conditions, node and zone. */
#define EP(ip, cond, node, zone) "{addresses: [" ip "], conditions: " cond ", nodeName: " node ", zone: " zone "}"
#define EP_A(ip) EP(ip, READY, "node-a", "zone-a")
#define EP_B(ip) EP(ip, READY, "node-b", "zone-b")

/* ---- the expected rendering ---- */

#define HEAD_A "node=node-a zone=zone-a known skipped=0\n"
#define HEAD_B "node=node-b zone=zone-b known skipped=0\n"
#define HEAD_C "node=node-c zone=zone-a known skipped=0\n"

#define A1 "10.244.1.1:8080"
#define A2 "10.244.1.2:8080"
#define B1 "10.244.2.1:8080"
#define B2 "10.244.2.2:8080"

struct view_case {
	const char *name;
	const char *yaml;
	const char *node;
	bool masquerade_all;
	bool psn_gate_off;
	const char *proxy_name;
	const char *want;
	const char *notes[3]; /* each must be a substring of some note of the view */
};

/* Shared clusters, viewed from several nodes. */

/* NodePort, eTP Local: a ready endpoint on node-a and node-b, a terminating one on node-a, one unusable on node-b. */
#define FALLBACK_LOCAL                                                                    \
	NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, externalTrafficPolicy: Local, " PORTS_HTTP_NP "}") \
	SLICE("web-1", "web", "IPv4", SP_HTTP,                                            \
	      "[" EP("10.244.1.1", READY, "node-a", "zone-a") ", " EP("10.244.1.2", TERMINATING, "node-a", "zone-a") ", " \
	      EP("10.244.2.1", TERMINATING, "node-b", "zone-b") ", " EP("10.244.2.2", UNREADY, "node-b", "zone-b") "]")

/* LoadBalancer with every external route kind; ep on node-a and node-b. */
#define LB_SPEC(etp)                                                                       \
	"{type: LoadBalancer, clusterIP: 10.96.0.20, externalTrafficPolicy: " etp             \
	", externalIPs: [192.0.2.10], loadBalancerSourceRanges: [203.0.113.0/24, 198.18.0.0/15], " PORTS_HTTP_NP "}"
#define LB_CLUSTER(etp)                                                                    \
	NODES SVC_STATUS("lb", LB_SPEC(etp), "[{ip: 198.51.100.7}]")                          \
	SLICE("lb-1", "lb", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]")

/* Zone hints as PreferClose writes them, with eTP Local on a NodePort. */
#define HINTED                                                                             \
	NODES SVC("zonal", "{type: NodePort, clusterIP: 10.96.0.40, externalTrafficPolicy: Local, " PORTS_HTTP_NP "}") \
	SLICE("zonal-1", "zonal", "IPv4", SP_HTTP,                                         \
	      "[{addresses: [10.244.1.1], nodeName: node-x, zone: zone-a, hints: {forZones: [{name: zone-a}]}}, " \
	      "{addresses: [10.244.2.1], nodeName: node-b, zone: zone-b, hints: {forZones: [{name: zone-b}]}}]")

/* PreferSameNode hints: forNodes plus forZones, as the EndpointSlice controller writes them. */
#define SAME_NODE                                                                          \
	NODES SVC("pin", "{clusterIP: 10.96.0.50, trafficDistribution: PreferSameNode, " PORTS_HTTP "}") \
	SLICE("pin-1", "pin", "IPv4", SP_HTTP,                                             \
	      "[{addresses: [10.244.1.1], nodeName: node-a, zone: zone-a, hints: {forNodes: [{name: node-a}], forZones: [{name: zone-a}]}}, " \
	      "{addresses: [10.244.1.2], nodeName: node-c, zone: zone-a, hints: {forNodes: [{name: node-c}], forZones: [{name: zone-a}]}}, " \
	      "{addresses: [10.244.2.1], nodeName: node-b, zone: zone-b, hints: {forNodes: [{name: node-b}], forZones: [{name: zone-b}]}}]")

/* Dual-stack NodePort: one IPv4 endpoint, two IPv6 ones. */
#define DUAL                                                                               \
	NODES SVC("ds", "{type: NodePort, ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv4, IPv6], " \
		  "clusterIP: 10.96.0.30, clusterIPs: [10.96.0.30, 'fd00:96::30'], " PORTS_HTTP_NP "}") \
	SLICE("ds-v4", "ds", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]")                  \
	SLICE("ds-v6", "ds", "IPv6", SP_HTTP, "[" EP("'fd00:244::1'", READY, "node-a", "zone-a") ", " \
	      EP("'fd00:244::2'", READY, "node-b", "zone-b") "]")

/*
 * Four services: one unlabelled, one for another proxy, one for "kroute",
 * and one labelled with an empty name (kube-proxy's default selector is
 * "label does not exist", so an empty value still means "not ours").
 */
#define PROXY_NAMES                                                                        \
	NODES SVC("plain", "{clusterIP: 10.96.0.61, " PORTS_HTTP "}")                          \
	SVC_LABELS("other", "service.kubernetes.io/service-proxy-name: other-proxy", "{clusterIP: 10.96.0.62, " PORTS_HTTP "}") \
	SVC_LABELS("mine", "service.kubernetes.io/service-proxy-name: kroute", "{clusterIP: 10.96.0.63, " PORTS_HTTP "}") \
	SLICE("plain-1", "plain", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]")              \
	SLICE("other-1", "other", "IPv4", SP_HTTP, "[" EP_A("10.244.1.2") "]")              \
	SLICE("mine-1", "mine", "IPv4", SP_HTTP, "[" EP_A("10.244.1.3") "]")              \
	SVC_LABELS("empty", "service.kubernetes.io/service-proxy-name: ''", "{clusterIP: 10.96.0.64, " PORTS_HTTP "}")

static const struct view_case cases[] = {
	/* ---- section 3: ClusterIP and external traffic, Cluster policies ---- */
	{
		/* Conditions omitted means ready (kube-proxy: nil ready is true). */
		.name = "eTP Cluster NodePort: clusterIP keeps the source, nodePort masquerades",
		.yaml = NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, " PORTS_HTTP_NP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP,
			      "[{addresses: [10.244.1.1], nodeName: node-a, zone: zone-a}, " EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 " " B1 "] masq\n",
	},
	{
		.name = "eTP Cluster LoadBalancer: every external route masquerades, source ranges on the LB route only",
		.yaml = LB_CLUSTER("Cluster"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 " " B1 "] masq\n"
			"  loadBalancer 198.51.100.7:80 Cluster forward cluster=[" A1 " " B1 "] masq ranges=203.0.113.0/24,198.18.0.0/15\n"
			"  externalIP 192.0.2.10:80 Cluster forward cluster=[" A1 " " B1 "] masq\n",
	},
	/* ---- section 3: internalTrafficPolicy Local ---- */
	{
		.name = "iTP Local with a local endpoint: forwarded to it only",
		.yaml = NODES SVC("cache", "{clusterIP: 10.96.0.11, internalTrafficPolicy: Local, ports: [{name: redis, port: 6379}]}")
			SLICE("cache-1", "cache", "IPv4", "[{name: redis, protocol: TCP, port: 6379}]",
			      "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/cache redis 6379/TCP IPv4 cluster=nil local=[10.244.1.1:6379] all=[10.244.1.1:6379] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.11:6379 Local forward local=[10.244.1.1:6379] keep-src\n",
	},
	{
		.name = "iTP Local without a local endpoint, endpoints elsewhere: drop",
		.yaml = NODES SVC("cache", "{clusterIP: 10.96.0.11, internalTrafficPolicy: Local, ports: [{name: redis, port: 6379}]}")
			SLICE("cache-1", "cache", "IPv4", "[{name: redis, protocol: TCP, port: 6379}]",
			      "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-c",
		.want = HEAD_C
			"ns/cache redis 6379/TCP IPv4 cluster=nil local=[] all=[] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.11:6379 Local drop local=[] keep-src\n",
	},
	{
		/* Reject, not drop: nothing usable anywhere, even under a Local policy. */
		.name = "iTP Local with no endpoints anywhere: reject",
		.yaml = NODES SVC("cache", "{clusterIP: 10.96.0.11, internalTrafficPolicy: Local, ports: [{name: redis, port: 6379}]}")
			SLICE("cache-1", "cache", "IPv4", "[{name: redis, protocol: TCP, port: 6379}]", "[]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/cache redis 6379/TCP IPv4 cluster=nil local=[] all=[] has_any=no topo=none\n"
			"  clusterIP 10.96.0.11:6379 Local reject local=[] keep-src\n",
	},
	{
		/* An endpoint with nodeName "" is never local, not even for node name "". */
		.name = "empty node name: nothing is local",
		.yaml = NODES SVC("cache", "{clusterIP: 10.96.0.11, internalTrafficPolicy: Local, ports: [{name: redis, port: 6379}]}")
			SLICE("cache-1", "cache", "IPv4", "[{name: redis, protocol: TCP, port: 6379}]",
			      "[{addresses: [10.244.1.1], nodeName: '', zone: zone-a}]"),
		.node = "",
		.want = "node= zone=- unknown skipped=0\n"
			"ns/cache redis 6379/TCP IPv4 cluster=nil local=[] all=[] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.11:6379 Local drop local=[] keep-src\n",
	},
	{
		/* Localness is endpoint.nodeName == node name: not the zone, not the address. */
		.name = "is_local is decided by nodeName only",
		.yaml = NODES SVC("cache", "{clusterIP: 10.96.0.11, internalTrafficPolicy: Local, ports: [{name: redis, port: 6379}]}")
			SLICE("cache-1", "cache", "IPv4", "[{name: redis, protocol: TCP, port: 6379}]",
			      "[" EP_A("10.244.1.1") ", {addresses: [10.244.1.2], zone: zone-a}, "
			      EP("10.244.1.3", READY, "node-c", "zone-a") ", " EP("10.244.1.4", READY, "NODE-A", "zone-a") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/cache redis 6379/TCP IPv4 cluster=nil local=[10.244.1.1:6379] all=[10.244.1.1:6379] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.11:6379 Local forward local=[10.244.1.1:6379] keep-src\n",
	},
	{
		.name = "iTP Local and eTP Local, no local endpoint: internal and external routes drop",
		.yaml = NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, internalTrafficPolicy: Local, "
				  "externalTrafficPolicy: Local, " PORTS_HTTP_NP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]"),
		.node = "node-b",
		.want = HEAD_B
			"ns/web http 80/TCP IPv4 cluster=[" A1 "] local=[] all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Local drop local=[] keep-src\n"
			"  nodePort 192.168.0.2:30080 Local drop local=[] keep-src\n",
	},
	/* ---- section 3: no endpoints anywhere ---- */
	{
		.name = "no usable endpoint anywhere: reject on every route",
		.yaml = NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, " PORTS_HTTP_NP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP,
			      "[" EP("10.244.1.1", NOT_SERVING, "node-a", "zone-a") ", " EP("10.244.2.1", UNREADY, "node-b", "zone-b") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[] local=nil all=[] has_any=no topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster reject cluster=[] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster reject cluster=[] masq\n",
	},
	{
		.name = "no EndpointSlice at all: reject, with a note",
		.yaml = NODES SVC("orphan", "{clusterIP: 10.96.0.12, " PORTS_HTTP "}"),
		.node = "node-a",
		.want = HEAD_A
			"ns/orphan http 80/TCP IPv4 cluster=[] local=nil all=[] has_any=no topo=none\n"
			"  clusterIP 10.96.0.12:80 Cluster reject cluster=[] keep-src\n",
		.notes = { "no EndpointSlice is labelled kubernetes.io/service-name=orphan" },
	},
	/* ---- section 3: externalTrafficPolicy Local ---- */
	{
		.name = "eTP Local LoadBalancer, local endpoint: external routes use it, no masquerade",
		.yaml = LB_CLUSTER("Local"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[" A1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Local forward local=[" A1 "] keep-src\n"
			"  loadBalancer 198.51.100.7:80 Local forward local=[" A1 "] keep-src ranges=203.0.113.0/24,198.18.0.0/15\n"
			"  externalIP 192.0.2.10:80 Local forward local=[" A1 "] keep-src\n",
	},
	{
		.name = "eTP Local LoadBalancer, no local endpoint: external routes drop, clusterIP forwards",
		.yaml = LB_CLUSTER("Local"),
		.node = "node-c",
		.want = HEAD_C
			"ns/lb http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.3:30080 Local drop local=[] keep-src\n"
			"  loadBalancer 198.51.100.7:80 Local drop local=[] keep-src ranges=203.0.113.0/24,198.18.0.0/15\n"
			"  externalIP 192.0.2.10:80 Local drop local=[] keep-src\n",
	},
	{
		.name = "eTP Local, no endpoint anywhere: external routes reject, not drop",
		.yaml = NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, externalTrafficPolicy: Local, " PORTS_HTTP_NP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[] local=[] all=[] has_any=no topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster reject cluster=[] keep-src\n"
			"  nodePort 192.168.0.1:30080 Local reject local=[] keep-src\n",
	},
	{
		/* Guide section 1: UsesLocalEndpoints needs externally accessible; the view notes it. */
		.name = "eTP Local on a ClusterIP-only service has no effect",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, externalTrafficPolicy: Local, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n",
		.notes = { "externalTrafficPolicy: Local has no effect" },
	},
	{
		/* externalIPs make a ClusterIP service externally accessible, so eTP Local applies. */
		.name = "eTP Local on a ClusterIP service with externalIPs",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, externalIPs: [192.0.2.11], externalTrafficPolicy: Local, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-b",
		.want = HEAD_B
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[" B1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  externalIP 192.0.2.11:80 Local forward local=[" B1 "] keep-src\n",
	},
	/* ---- section 1: ready first, serving-terminating fallback ---- */
	{
		/* Only serving AND terminating endpoints are a fallback; unready-only or not-serving ones are not. */
		.name = "cluster falls back to serving-terminating endpoints when nothing is ready",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP,
			      "[" EP("10.244.1.1", TERMINATING, "node-a", "zone-a") ", " EP("10.244.2.1", NOT_SERVING, "node-b", "zone-b") ", "
			      EP("10.244.2.2", UNREADY, "node-b", "zone-b") "]"),
		.node = "node-b",
		.want = HEAD_B
			"ns/web http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 "] keep-src\n",
	},
	{
		/* Cluster has a ready endpoint; local has only a terminating one: each set picks on its own. */
		.name = "local falls back to serving-terminating independently of cluster",
		.yaml = FALLBACK_LOCAL,
		.node = "node-b",
		.want = HEAD_B
			"ns/web http 80/TCP IPv4 cluster=[" A1 "] local=[" B1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.2:30080 Local forward local=[" B1 "] keep-src\n",
	},
	{
		.name = "ready first: a local ready endpoint wins over a local terminating one",
		.yaml = FALLBACK_LOCAL,
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 "] local=[" A1 "] all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Local forward local=[" A1 "] keep-src\n",
	},
	/* ---- section 1: how endpoints are collected from slices ---- */
	{
		/* The same ip:port in two slices: the non-terminating copy wins, whichever slice comes first. */
		.name = "dedup across slices: non-terminating copy wins (terminating copy in the first slice)",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP("10.244.1.1", TERMINATING, "node-a", "zone-a") ", " EP_B("10.244.2.1") "]")
			SLICE("web-2", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n",
	},
	{
		.name = "dedup across slices: non-terminating copy wins (terminating copy in the second slice)",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]")
			SLICE("web-2", "web", "IPv4", SP_HTTP, "[" EP("10.244.1.1", TERMINATING, "node-a", "zone-a") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n",
	},
	{
		/* Sorted by the "ip:port" string, as kube-proxy sorts: 10.244.1.10 before 10.244.1.9. */
		.name = "multiple slices merged and sorted by endpoint string",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_B("10.244.2.1") ", " EP_A("10.244.1.9") "]")
			SLICE("web-2", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.10") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[10.244.1.10:8080 10.244.1.9:8080 " B1 "] local=nil all=[10.244.1.10:8080 10.244.1.9:8080 " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[10.244.1.10:8080 10.244.1.9:8080 " B1 "] keep-src\n",
	},
	{
		/* dns/UDP only matches a slice port named dns with protocol UDP; dns-tcp/TCP only dns-tcp/TCP. */
		.name = "slice ports match by name and protocol",
		.yaml = NODES SVC("dns", "{clusterIP: 10.96.0.53, ports: [{name: dns, protocol: UDP, port: 53}, {name: dns-tcp, protocol: TCP, port: 53}]}")
			SLICE("dns-1", "dns", "IPv4", "[{name: dns, protocol: TCP, port: 5353}, {name: dns-udp, protocol: UDP, port: 5355}]",
			      "[" EP_A("10.244.1.1") "]")
			SLICE("dns-2", "dns", "IPv4", "[{name: dns, protocol: UDP, port: 5353}, {name: dns-tcp, protocol: TCP, port: 5354}]",
			      "[" EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/dns dns 53/UDP IPv4 cluster=[10.244.2.1:5353] local=nil all=[10.244.2.1:5353] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.53:53 Cluster forward cluster=[10.244.2.1:5353] keep-src\n"
			"ns/dns dns-tcp 53/TCP IPv4 cluster=[10.244.2.1:5354] local=nil all=[10.244.2.1:5354] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.53:53 Cluster forward cluster=[10.244.2.1:5354] keep-src\n",
	},
	{
		.name = "right port name, wrong protocol: no endpoints, with a note",
		.yaml = NODES SVC("dns", "{clusterIP: 10.96.0.53, ports: [{name: dns, protocol: UDP, port: 53}]}")
			SLICE("dns-1", "dns", "IPv4", "[{name: dns, protocol: TCP, port: 5353}]", "[" EP_A("10.244.1.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/dns dns 53/UDP IPv4 cluster=[] local=nil all=[] has_any=no topo=none\n"
			"  clusterIP 10.96.0.53:53 Cluster reject cluster=[] keep-src\n",
		.notes = { "has a port named \"dns\" with protocol UDP" },
	},
	{
		/* An unnamed service port matches only an unnamed slice port (the API defaults the name to ""). */
		.name = "unnamed service port matches an unnamed slice port",
		.yaml = NODES SVC("plain", "{clusterIP: 10.96.0.14, ports: [{port: 80, targetPort: 8080}]}")
			SLICE("plain-1", "plain", "IPv4", "[{port: 8080}]", "[" EP_A("10.244.1.1") "]")
			SLICE("plain-2", "plain", "IPv4", "[{name: http, port: 9090}]", "[" EP_A("10.244.1.2") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/plain - 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.14:80 Cluster forward cluster=[" A1 "] keep-src\n",
	},
	{
		.name = "slice port without a number is ignored",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", "[{name: http, protocol: TCP}]", "[" EP_A("10.244.1.1") "]")
			SLICE("web-2", "web", "IPv4", SP_HTTP, "[" EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" B1 "] local=nil all=[" B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" B1 "] keep-src\n",
	},
	{
		/* Slices belong to ns/<service-name label>: another namespace's slice, or an unlabelled one, is not used. */
		.name = "slices of another namespace or without the service-name label are not used",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_B("10.244.2.1") "]")
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: web-1, namespace: other, labels: {kubernetes.io/service-name: web}}\n"
			"addressType: IPv4\nports: " SP_HTTP "\nendpoints: [" EP_A("10.244.1.1") "]\n"
			"---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n"
			"metadata: {name: web-2, namespace: ns}\n"
			"addressType: IPv4\nports: " SP_HTTP "\nendpoints: [" EP_A("10.244.1.2") "]\n",
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" B1 "] local=nil all=[" B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" B1 "] keep-src\n",
	},
	{
		.name = "endpoints of the other IP family are ignored",
		.yaml = NODES SVC("web", "{clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-v6", "web", "IPv6", SP_HTTP, "[" EP("'fd00:244::1'", READY, "node-a", "zone-a") "]")
			SLICE("web-v4", "web", "IPv4", SP_HTTP, "[" EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" B1 "] local=nil all=[" B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" B1 "] keep-src\n",
	},
	/* ---- section 2: topology through the view ---- */
	{
		/* eTP Local NodePort: the cluster set is zone-filtered, the local set never is. */
		.name = "zone hints on a node in zone-b: PreferSameZone for cluster, not for local",
		.yaml = HINTED,
		.node = "node-b",
		.want = HEAD_B
			"ns/zonal http 80/TCP IPv4 cluster=[" B1 "] local=[" B1 "] all=[" B1 "] has_any=yes topo=PreferSameZone\n"
			"  clusterIP 10.96.0.40:80 Cluster forward cluster=[" B1 "] keep-src\n"
			"  nodePort 192.168.0.2:30080 Local forward local=[" B1 "] keep-src\n",
	},
	{
		.name = "zone hints on a node in zone-a without local endpoints",
		.yaml = HINTED,
		.node = "node-c",
		.want = HEAD_C
			"ns/zonal http 80/TCP IPv4 cluster=[" A1 "] local=[] all=[" A1 "] has_any=yes topo=PreferSameZone\n"
			"  clusterIP 10.96.0.40:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.3:30080 Local drop local=[] keep-src\n",
	},
	{
		/*
		 * --node names no Node object: its zone is unknown, so zone hints are
		 * ignored; localness still works by name; the NodePort is on every
		 * local address.
		 */
		.name = "node with no Node object: zone unknown, hints ignored, localness by name",
		.yaml = HINTED,
		.node = "node-x",
		.want = "node=node-x zone=- unknown skipped=0\n"
			"ns/zonal http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[" A1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.40:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort *:30080 Local forward local=[" A1 "] keep-src\n",
	},
	{
		.name = "node without a zone label: zone hints ignored, with a note",
		.yaml = HINTED,
		.node = "node-nozone",
		.want = "node=node-nozone zone=- known skipped=0\n"
			"ns/zonal http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.40:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.4:30080 Local drop local=[] keep-src\n",
		.notes = { "no topology.kubernetes.io/zone label" },
	},
	{
		.name = "PreferSameNode gate on: only this node's endpoint",
		.yaml = SAME_NODE,
		.node = "node-a",
		.want = HEAD_A
			"ns/pin http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=PreferSameNode\n"
			"  clusterIP 10.96.0.50:80 Cluster forward cluster=[" A1 "] keep-src\n",
	},
	{
		.name = "PreferSameNode gate off: node hints ignored, zone hints used",
		.yaml = SAME_NODE,
		.node = "node-a",
		.psn_gate_off = true,
		.want = HEAD_A
			"ns/pin http 80/TCP IPv4 cluster=[" A1 " " A2 "] local=nil all=[" A1 " " A2 "] has_any=yes topo=PreferSameZone\n"
			"  clusterIP 10.96.0.50:80 Cluster forward cluster=[" A1 " " A2 "] keep-src\n",
	},
	{
		/* No endpoint for this node: kube-proxy falls back to zone mode (guide section 2). */
		.name = "PreferSameNode gate on, no endpoint for this node: zone fallback",
		.yaml = NODES SVC("pin", "{clusterIP: 10.96.0.50, trafficDistribution: PreferSameNode, " PORTS_HTTP "}")
			SLICE("pin-1", "pin", "IPv4", SP_HTTP,
			      "[{addresses: [10.244.1.2], nodeName: node-c, zone: zone-a, hints: {forNodes: [{name: node-c}], forZones: [{name: zone-a}]}}, "
			      "{addresses: [10.244.2.1], nodeName: node-b, zone: zone-b, hints: {forNodes: [{name: node-b}], forZones: [{name: zone-b}]}}]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/pin http 80/TCP IPv4 cluster=[" A2 "] local=nil all=[" A2 "] has_any=yes topo=PreferSameZone\n"
			"  clusterIP 10.96.0.50:80 Cluster forward cluster=[" A2 "] keep-src\n",
	},
	/* ---- services kube-proxy programs nothing for ---- */
	{
		.name = "headless and ExternalName services: no routes, with notes",
		.yaml = NODES SVC("hl", "{clusterIP: None, " PORTS_HTTP "}")
			SLICE("hl-1", "hl", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]")
			SVC("xn", "{type: ExternalName, externalName: db.example.com, " PORTS_HTTP "}"),
		.node = "node-a",
		.want = HEAD_A
			"ns/hl http 80/TCP IPv4 cluster=nil local=nil all=[] has_any=no topo=none\n"
			"ns/xn http 80/TCP IPv4 cluster=nil local=nil all=[] has_any=no topo=none\n",
		.notes = { "headless service", "ExternalName service" },
	},
	/* ---- not allocated yet ---- */
	{
		/* No clusterIP yet: the family comes from the slices; the route is marked unallocated. */
		.name = "unallocated cluster IP",
		.yaml = NODES SVC("pending", "{" PORTS_HTTP "}")
			SLICE("pending-1", "pending", "IPv6", SP_HTTP, "[" EP("'fd00:244::1'", READY, "node-a", "zone-a") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/pending http 80/TCP IPv6 cluster=[[fd00:244::1]:8080] local=nil all=[[fd00:244::1]:8080] has_any=yes topo=none\n"
			"  clusterIP -:80 unallocated Cluster forward cluster=[[fd00:244::1]:8080] keep-src\n",
	},
	{
		.name = "unallocated node port, eTP Cluster",
		.yaml = NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.1:0 unallocated Cluster forward cluster=[" A1 " " B1 "] masq\n",
	},
	{
		/*
		 * The unallocated route describes what happens "once it is"
		 * allocated: then the port is externally accessible, so eTP Local
		 * uses this node's local endpoint (kube-proxy programs nothing for
		 * nodePort 0, so this is about kroute's own prediction).
		 */
		.name = "unallocated node port, eTP Local: predicted as once allocated",
		.yaml = NODES SVC("web", "{type: NodePort, clusterIP: 10.96.0.10, externalTrafficPolicy: Local, " PORTS_HTTP "}")
			SLICE("web-1", "web", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/web http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[" A1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.10:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  nodePort 192.168.0.1:0 unallocated Local forward local=[" A1 "] keep-src\n",
	},
	/* ---- load balancers ---- */
	{
		.name = "LB ingress with ipMode Proxy: no route for it, with a note",
		.yaml = NODES SVC_STATUS("lb", "{type: LoadBalancer, clusterIP: 10.96.0.20, " PORTS_HTTP_NP "}",
					 "[{ip: 198.51.100.7, ipMode: Proxy}, {ip: 198.51.100.8, ipMode: VIP}]")
			SLICE("lb-1", "lb", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 "] masq\n"
			"  loadBalancer 198.51.100.8:80 Cluster forward cluster=[" A1 "] masq\n",
		.notes = { "198.51.100.7 has ipMode Proxy" },
	},
	{
		/* Only a Proxy-mode IP and no node port: not externally accessible, so eTP Local does nothing. */
		.name = "eTP Local with only a Proxy-mode LB IP and no node port: local unused",
		.yaml = NODES SVC_STATUS("lb", "{type: LoadBalancer, clusterIP: 10.96.0.20, externalTrafficPolicy: Local, "
					       "allocateLoadBalancerNodePorts: false, " PORTS_HTTP "}",
					 "[{ip: 198.51.100.7, ipMode: Proxy}]")
			SLICE("lb-1", "lb", "IPv4", SP_HTTP, "[" EP_B("10.244.2.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" B1 "] local=nil all=[" B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" B1 "] keep-src\n",
		.notes = { "198.51.100.7 has ipMode Proxy", "externalTrafficPolicy: Local has no effect" },
	},
	{
		/* allocateLoadBalancerNodePorts: false: no NodePort route; the LB IP makes the port external. */
		.name = "LoadBalancer without node ports, eTP Local: local endpoints through the LB IP only",
		.yaml = NODES SVC_STATUS("lb", "{type: LoadBalancer, clusterIP: 10.96.0.20, externalTrafficPolicy: Local, "
					       "allocateLoadBalancerNodePorts: false, " PORTS_HTTP "}",
					 "[{ip: 198.51.100.7}]")
			SLICE("lb-1", "lb", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]"),
		.node = "node-b",
		.want = HEAD_B
			"ns/lb http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[" B1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			"  loadBalancer 198.51.100.7:80 Local forward local=[" B1 "] keep-src\n",
	},
	{
		/* kube-proxy keeps only the ranges of the proxier's family; none left means no firewall. */
		.name = "IPv4 LB with only IPv6 source ranges: none apply",
		.yaml = NODES SVC_STATUS("lb", "{type: LoadBalancer, clusterIP: 10.96.0.20, loadBalancerSourceRanges: ['2001:db8:1::/48'], " PORTS_HTTP_NP "}",
					 "[{ip: 198.51.100.7}]")
			SLICE("lb-1", "lb", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 "] masq\n"
			"  loadBalancer 198.51.100.7:80 Cluster forward cluster=[" A1 "] masq\n",
	},
	{
		/* Single-stack, ranges of both families: the IPv4 ranges still apply (kube-proxy filters per family). */
		.name = "IPv4 LB with source ranges of both families: the IPv4 ones apply",
		.yaml = NODES SVC_STATUS("lb", "{type: LoadBalancer, clusterIP: 10.96.0.20, "
					       "loadBalancerSourceRanges: [203.0.113.0/24, '2001:db8:1::/48'], " PORTS_HTTP_NP "}",
					 "[{ip: 198.51.100.7}]")
			SLICE("lb-1", "lb", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 "] masq\n"
			"  loadBalancer 198.51.100.7:80 Cluster forward cluster=[" A1 "] masq ranges=203.0.113.0/24\n",
	},
	{
		/*
		 * Dual-stack with ranges of both families: kube-proxy filters the
		 * ranges per family (service.go: MapCIDRsByIPFamily), so each LB IP
		 * keeps the ranges of its own family.
		 */
		.name = "dual-stack LB: source ranges split by family",
		.yaml = NODES SVC_STATUS("lb", "{type: LoadBalancer, ipFamilyPolicy: RequireDualStack, ipFamilies: [IPv4, IPv6], "
					       "clusterIPs: [10.96.0.20, 'fd00:96::20'], loadBalancerSourceRanges: [203.0.113.0/24, '2001:db8:1::/48'], "
					       PORTS_HTTP_NP "}",
					 "[{ip: 198.51.100.7}, {ip: '2001:db8::7'}]")
			SLICE("lb-v4", "lb", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") "]")
			SLICE("lb-v6", "lb", "IPv6", SP_HTTP, "[" EP("'fd00:244::1'", READY, "node-a", "zone-a") "]"),
		.node = "node-a",
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 "] masq\n"
			"  loadBalancer 198.51.100.7:80 Cluster forward cluster=[" A1 "] masq ranges=203.0.113.0/24\n"
			"ns/lb http 80/TCP IPv6 cluster=[[fd00:244::1]:8080] local=nil all=[[fd00:244::1]:8080] has_any=yes topo=none\n"
			"  clusterIP [fd00:96::20]:80 Cluster forward cluster=[[fd00:244::1]:8080] keep-src\n"
			"  nodePort [fd00::a]:30080 Cluster forward cluster=[[fd00:244::1]:8080] masq\n"
			"  loadBalancer [2001:db8::7]:80 Cluster forward cluster=[[fd00:244::1]:8080] masq ranges=2001:db8:1::/48\n",
	},
	/* ---- dual-stack ---- */
	{
		.name = "dual-stack service: one port view per family",
		.yaml = DUAL,
		.node = "node-a",
		.want = HEAD_A
			"ns/ds http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.30:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.1:30080 Cluster forward cluster=[" A1 "] masq\n"
			"ns/ds http 80/TCP IPv6 cluster=[[fd00:244::1]:8080 [fd00:244::2]:8080] local=nil all=[[fd00:244::1]:8080 [fd00:244::2]:8080] has_any=yes topo=none\n"
			"  clusterIP [fd00:96::30]:80 Cluster forward cluster=[[fd00:244::1]:8080 [fd00:244::2]:8080] keep-src\n"
			"  nodePort [fd00::a]:30080 Cluster forward cluster=[[fd00:244::1]:8080 [fd00:244::2]:8080] masq\n",
		.notes = { "this is the IPv4 half", "this is the IPv6 half" },
	},
	{
		/* node-b has no IPv6 address: the IPv6 NodePort is shown on every local address. */
		.name = "dual-stack service on a node without an IPv6 address",
		.yaml = DUAL,
		.node = "node-b",
		.want = HEAD_B
			"ns/ds http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.30:80 Cluster forward cluster=[" A1 "] keep-src\n"
			"  nodePort 192.168.0.2:30080 Cluster forward cluster=[" A1 "] masq\n"
			"ns/ds http 80/TCP IPv6 cluster=[[fd00:244::1]:8080 [fd00:244::2]:8080] local=nil all=[[fd00:244::1]:8080 [fd00:244::2]:8080] has_any=yes topo=none\n"
			"  clusterIP [fd00:96::30]:80 Cluster forward cluster=[[fd00:244::1]:8080 [fd00:244::2]:8080] keep-src\n"
			"  nodePort *:30080 Cluster forward cluster=[[fd00:244::1]:8080 [fd00:244::2]:8080] masq\n",
	},
	/* ---- options ---- */
	{
		.name = "service-proxy-name unset: only unlabelled services",
		.yaml = PROXY_NAMES,
		.node = "node-a",
		.want = "node=node-a zone=zone-a known skipped=3\n"
			"ns/plain http 80/TCP IPv4 cluster=[" A1 "] local=nil all=[" A1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.61:80 Cluster forward cluster=[" A1 "] keep-src\n",
	},
	{
		.name = "service-proxy-name kroute: only services labelled for it",
		.yaml = PROXY_NAMES,
		.node = "node-a",
		.proxy_name = "kroute",
		.want = "node=node-a zone=zone-a known skipped=3\n"
			"ns/mine http 80/TCP IPv4 cluster=[10.244.1.3:8080] local=nil all=[10.244.1.3:8080] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.63:80 Cluster forward cluster=[10.244.1.3:8080] keep-src\n",
	},
	{
		/* masqueradeAll marks ClusterIP traffic only; eTP Local external traffic still keeps the client IP. */
		.name = "masquerade_all: clusterIP masqueraded, eTP Local external routes untouched",
		.yaml = LB_CLUSTER("Local"),
		.node = "node-a",
		.masquerade_all = true,
		.want = HEAD_A
			"ns/lb http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=[" A1 "] all=[" A1 " " B1 "] has_any=yes topo=none\n"
			"  clusterIP 10.96.0.20:80 Cluster forward cluster=[" A1 " " B1 "] masq\n"
			"  nodePort 192.168.0.1:30080 Local forward local=[" A1 "] keep-src\n"
			"  loadBalancer 198.51.100.7:80 Local forward local=[" A1 "] keep-src ranges=203.0.113.0/24,198.18.0.0/15\n"
			"  externalIP 192.0.2.10:80 Local forward local=[" A1 "] keep-src\n",
	},
};

/* ---- rendering ---- */

struct sbuf {
	char *s;
	size_t n, cap;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	assert_true(len >= 0);
	if (b->n + (size_t)len + 1 > b->cap) {
		b->cap = (b->n + (size_t)len + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	b->n += (size_t)len;
}

static void render_set(struct sbuf *b, const struct ep_set *s)
{
	if (s->nil) {
		sb_printf(b, "nil");
		return;
	}
	sb_printf(b, "[");
	for (size_t i = 0; i < s->n; i++)
		sb_printf(b, "%s%s", i ? " " : "", s->v[i]->key);
	sb_printf(b, "]");
}

static void render_route(struct sbuf *b, const struct port_view *pv, const struct route *r)
{
	char a[ADDR_PORT_STRLEN];

	if (r->addr.family)
		addr_port_format(&r->addr, r->port, a);
	else
		snprintf(a, sizeof(a), "%s:%u", r->kind == ROUTE_NODE_PORT ? "*" : "-", r->port);
	sb_printf(b, "  %s %s%s %s %s %s=", route_kind_name(r->kind), a,
		  r->allocated ? "" : " unallocated", traffic_policy_name(r->policy),
		  route_action_name(r->action), r->uses_local ? "local" : "cluster");
	render_set(b, route_endpoints(pv, r));
	if (r->masquerade)
		sb_printf(b, " masq");
	if (r->preserves_source_ip)
		sb_printf(b, " keep-src");
	for (size_t i = 0; i < r->n_source_ranges; i++) {
		char c[ADDR_STRLEN + 4];

		cidr_format(&r->source_ranges[i], c);
		sb_printf(b, "%s%s", i ? "," : " ranges=", c);
	}
	sb_printf(b, "\n");
}

static char *render_view(const struct node_view *v)
{
	struct sbuf b = { 0 };

	sb_printf(&b, "node=%s zone=%s %s skipped=%zu\n", v->node_name, v->zone ? v->zone : "-",
		  v->node ? "known" : "unknown", v->n_skipped_other_proxy);
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct port_view *pv = &v->ports[i];

		sb_printf(&b, "%s %s %u/%s %s cluster=", pv->svc->key,
			  *pv->port->name ? pv->port->name : "-", pv->port->port,
			  proto_name(pv->port->proto), pv->family == AF_INET6 ? "IPv6" : "IPv4");
		render_set(&b, &pv->cat.cluster);
		sb_printf(&b, " local=");
		render_set(&b, &pv->cat.local);
		sb_printf(&b, " all=");
		render_set(&b, &pv->cat.all);
		sb_printf(&b, " has_any=%s topo=%s\n", pv->cat.has_any ? "yes" : "no",
			  topology_mode_name(pv->cat.topology) ? topology_mode_name(pv->cat.topology) : "none");
		for (size_t r = 0; r < pv->n_routes; r++)
			render_route(&b, pv, &pv->routes[r]);
	}
	return b.s;
}

static bool view_has_note(const struct node_view *v, const char *needle)
{
	for (size_t i = 0; i < v->n_ports; i++)
		for (size_t k = 0; k < v->ports[i].n_notes; k++)
			if (strstr(v->ports[i].notes[k], needle))
				return true;
	return false;
}

static void print_notes(const struct node_view *v)
{
	for (size_t i = 0; i < v->n_ports; i++)
		for (size_t k = 0; k < v->ports[i].n_notes; k++)
			print_error("    note (%s): %s\n", v->ports[i].svc->key, v->ports[i].notes[k]);
}

/* Returns line i of text (length in *len), or NULL past the end. */
static const char *nth_line(const char *text, size_t i, int *len)
{
	for (; i && text; i--) {
		text = strchr(text, '\n');
		if (text)
			text++;
	}
	if (!text || !*text)
		return NULL;
	*len = (int)(strchrnul(text, '\n') - text);
	return text;
}

/* Prints text one line per call (print_error truncates long messages). */
static void print_lines(const char *title, const char *text, const char *other)
{
	const char *l, *o;
	int len, olen;

	print_error("--- %s\n", title);
	for (size_t i = 0; (l = nth_line(text, i, &len)); i++) {
		o = nth_line(other, i, &olen);
		print_error("%s %.*s\n", o && olen == len && !strncmp(o, l, (size_t)len) ? " " : "!",
			    len, l);
	}
}

/* Runs one case; returns whether it passed (every mismatch is reported). */
static bool run_case(const struct view_case *vc)
{
	struct cluster c;
	struct diag d;
	struct policy_opts opts;
	struct node_view *v;
	char *got;
	bool ok = true;
	int r;

	cluster_init(&c);
	diag_init(&d);
	r = manifest_load_buffer("case.yaml", vc->yaml, strlen(vc->yaml), false, NULL, &c, &d);
	if (r < 0 || d.n_errors) {
		print_error("case \"%s\": the test manifest does not load (r=%d):\n", vc->name, r);
		diag_print(&d, stderr);
		diag_done(&d);
		cluster_done(&c);
		return false;
	}
	diag_done(&d);

	policy_opts_init(&opts);
	opts.masquerade_all = vc->masquerade_all;
	if (vc->psn_gate_off)
		opts.prefer_same_node_gate = false;
	opts.service_proxy_name = vc->proxy_name;
	v = policy_build_view(&c, vc->node, &opts);
	got = render_view(v);
	if (strcmp(got, vc->want)) {
		print_error("case \"%s\": view differs (\"!\" marks lines that differ):\n", vc->name);
		print_lines("expected", vc->want, got);
		print_lines("got", got, vc->want);
		ok = false;
	}
	for (size_t i = 0; i < ARRAY_SIZE(vc->notes) && vc->notes[i]; i++) {
		if (!view_has_note(v, vc->notes[i])) {
			print_error("case \"%s\": no note contains \"%s\"; the notes are:\n", vc->name,
				    vc->notes[i]);
			print_notes(v);
			ok = false;
		}
	}
	free(got);
	node_view_free(v);
	cluster_done(&c);
	return ok;
}

static void test_view_table(void **state)
{
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (!run_case(&cases[i]))
			failed++;
	if (failed) {
		print_error("%zu of %zu view cases failed\n", failed, ARRAY_SIZE(cases));
		fail();
	}
}

/*
 * The view is a pure function of its inputs: building it twice gives the
 * same rendering, and the order of objects in the input does not matter.
 */
static void test_view_deterministic(void **state)
{
	const char *fwd = NODES SVC("a", "{clusterIP: 10.96.0.1, " PORTS_HTTP "}") SVC("b", "{clusterIP: 10.96.0.2, " PORTS_HTTP "}")
		SLICE("a-2", "a", "IPv4", SP_HTTP, "[" EP("10.244.1.1", TERMINATING, "node-a", "zone-a") "]")
		SLICE("a-1", "a", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]");
	const char *rev = SLICE("a-1", "a", "IPv4", SP_HTTP, "[" EP_A("10.244.1.1") ", " EP_B("10.244.2.1") "]")
		SLICE("a-2", "a", "IPv4", SP_HTTP, "[" EP("10.244.1.1", TERMINATING, "node-a", "zone-a") "]")
		SVC("b", "{clusterIP: 10.96.0.2, " PORTS_HTTP "}") SVC("a", "{clusterIP: 10.96.0.1, " PORTS_HTTP "}") NODES;
	char *out[3];
	struct policy_opts opts;

	(void)state;
	policy_opts_init(&opts);
	assert_true(opts.prefer_same_node_gate);
	assert_false(opts.masquerade_all);
	assert_null(opts.service_proxy_name);
	for (int i = 0; i < 3; i++) {
		const char *in = i == 2 ? rev : fwd;
		struct cluster c;
		struct diag d;
		struct node_view *v;

		cluster_init(&c);
		diag_init(&d);
		assert_int_equal(manifest_load_buffer("in.yaml", in, strlen(in), false, NULL, &c, &d), 0);
		v = policy_build_view(&c, "node-a", &opts);
		out[i] = render_view(v);
		node_view_free(v);
		diag_done(&d);
		cluster_done(&c);
	}
	assert_string_equal(out[0], out[1]);
	assert_string_equal(out[0], out[2]);
	assert_string_equal(out[0],
			    HEAD_A
			    "ns/a http 80/TCP IPv4 cluster=[" A1 " " B1 "] local=nil all=[" A1 " " B1 "] has_any=yes topo=none\n"
			    "  clusterIP 10.96.0.1:80 Cluster forward cluster=[" A1 " " B1 "] keep-src\n"
			    "ns/b http 80/TCP IPv4 cluster=[] local=nil all=[] has_any=no topo=none\n"
			    "  clusterIP 10.96.0.2:80 Cluster reject cluster=[] keep-src\n");
	for (int i = 0; i < 3; i++)
		free(out[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_view_table),
		cmocka_unit_test(test_view_deterministic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
