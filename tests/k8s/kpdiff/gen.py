#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A seeded generator of small clusters for the differential test against the
real kube-proxy (test_kube_proxy_generated.sh): nodes in zones, and services
with random types, ports, traffic policies, session affinity, external IPs,
load-balancer IPs and source ranges, traffic distribution, and EndpointSlices
with random endpoint states (ready, not ready, serving or not while
terminating), nodes, zones and hints.  The same seed gives the same cluster.

  gen.py SEED SERVICES OUTDIR

writes OUTDIR/objects.json (a List: Nodes, the namespace, Services,
EndpointSlices; for kubectl apply) and OUTDIR/status.json (the Services'
load-balancer status, for kubectl apply --subresource=status).  Only what
the API server accepts: every generated object is valid.
"""
import json
import random
import sys

NAMESPACE = "gen"
NODES = [("gn-a1", "zone-a"), ("gn-a2", "zone-a"), ("gn-b1", "zone-b"), ("gn-c1", "zone-c")]
NODE_IP = {name: f"192.168.60.{11 + i}" for i, (name, _) in enumerate(NODES)}
NODE_POD_NET = {name: f"10.244.{60 + i}" for i, (name, _) in enumerate(NODES)}


def node(name, zone):
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
        "spec": {"podCIDR": NODE_POD_NET[name] + ".0/24"},
    }


def node_status(name):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "status": {"addresses": [{"type": "InternalIP", "address": NODE_IP[name]},
                                     {"type": "Hostname", "address": name}]}}


def service(rng, i):
    name = f"s{i}"
    kind = rng.choice(["ClusterIP", "ClusterIP", "NodePort", "LoadBalancer"])
    spec = {"type": kind, "ports": []}
    used = set()
    for j in range(rng.choice([1, 1, 2])):
        proto = rng.choice(["TCP", "TCP", "UDP"])
        port = rng.randrange(1, 65536)
        while (port, proto) in used:
            port = rng.randrange(1, 65536)
        used.add((port, proto))
        spec["ports"].append({"name": f"p{j}", "protocol": proto, "port": port,
                              "targetPort": 8080 + j})
    if rng.random() < 0.4:
        spec["internalTrafficPolicy"] = "Local"
    if kind != "ClusterIP" and rng.random() < 0.5:
        spec["externalTrafficPolicy"] = "Local"
    if rng.random() < 0.25:
        spec["externalIPs"] = [f"192.0.2.{1 + i % 250}"]
    if rng.random() < 0.2:
        spec["sessionAffinity"] = "ClientIP"
        spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": rng.choice([10, 300, 10800])}}
    if rng.random() < 0.3:
        spec["trafficDistribution"] = rng.choice(["PreferClose", "PreferSameZone", "PreferSameNode"])
    status = None
    if kind == "LoadBalancer":
        if rng.random() < 0.3:
            spec["loadBalancerSourceRanges"] = [rng.choice(["203.0.113.0/24", "192.168.60.0/24",
                                                            "10.0.0.0/8"])]
        if rng.random() < 0.8:
            status = {"loadBalancer": {"ingress": [{"ip": f"198.51.100.{1 + i % 250}"}]}}
    svc = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": NAMESPACE}, "spec": spec}
    return svc, status


CONDITIONS = [
    ({"ready": True, "serving": True, "terminating": False}, 6),
    ({"ready": False, "serving": False, "terminating": False}, 1),
    ({"ready": False, "serving": True, "terminating": True}, 2),
    ({"ready": False, "serving": False, "terminating": True}, 1),
]


def endpoint_slice(rng, svc, i):
    zones = sorted({z for _, z in NODES})
    endpoints = []
    hinted = rng.random() < 0.3
    for k in range(rng.choice([0, 1, 2, 2, 3, 4])):
        nname, zone = rng.choice(NODES)
        cond = rng.choices([c for c, _ in CONDITIONS], [w for _, w in CONDITIONS])[0]
        ep = {"addresses": [f"{NODE_POD_NET[nname]}.{10 + (i * 5 + k) % 240}"],
              "conditions": dict(cond), "nodeName": nname, "zone": zone}
        if hinted and rng.random() < 0.9:
            hints = {"forZones": [{"name": z} for z in sorted(rng.sample(zones, rng.choice([1, 1, 2])))]}
            if rng.random() < 0.3:
                hints["forNodes"] = [{"name": nname}]
            ep["hints"] = hints
        endpoints.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{svc['metadata']['name']}-gen", "namespace": NAMESPACE,
                         "labels": {"kubernetes.io/service-name": svc["metadata"]["name"]}},
            "addressType": "IPv4",
            "ports": [{"name": p["name"], "protocol": p["protocol"], "port": p["targetPort"]}
                      for p in svc["spec"]["ports"]],
            "endpoints": endpoints}


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: gen.py SEED SERVICES OUTDIR")
    seed, count, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    rng = random.Random(seed)
    items = [node(n, z) for n, z in NODES]
    items.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    status = [node_status(n) for n, _ in NODES]
    for i in range(count):
        svc, st = service(rng, i)
        items.append(svc)
        items.append(endpoint_slice(rng, svc, i))
        if st:
            status.append({"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": svc["metadata"]["name"], "namespace": NAMESPACE},
                           "status": st})
    for name, objs in (("objects.json", items), ("status.json", status)):
        with open(f"{out}/{name}", "w", encoding="utf-8") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": objs}, f, indent=1)


if __name__ == "__main__":
    main()
