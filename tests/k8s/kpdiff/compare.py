#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""kroute explain -o json for a node against what the real kube-proxy
programmed on that node (iptables_outcomes.py of its iptables-save), route by
route: every service port's cluster IP, NodePort, external IPs and
load-balancer IPs; for each, the action (forward, drop, reject), the
endpoints it forwards to and whether every packet is masqueraded.

  compare.py --intended FILE --objects OBJECTS.json EXPLAIN.json KUBE-PROXY.json

Prints a line per difference (with the service's spec from OBJECTS.json,
the generator's output) and a closing count; exits 1 when a difference is
not covered by a line of the intended-differences FILE:

  FIELD | SERVICE-CONDITION | REASON

FIELD is action, endpoints, masquerade, kind or presence; SERVICE-CONDITION
a Python expression over the service's spec (`spec`) and the route's kind
(`kind`), e.g. spec.get("trafficDistribution") == "PreferSameNode".
"""
import argparse
import json
import os
import sys

# The table reader the data-plane comparison uses too.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../system/dataplane"))
import pipe_table  # noqa: E402


def explain_routes(doc):
    out = {}
    for s in doc.get("services", []):
        name = f"{s['service']}:{s['port']}"
        for r in s.get("routes") or []:
            addr = r.get("address")
            if not addr:
                continue  # not allocated: nothing is programmed
            key = f"nodePort:{addr.rsplit(':', 1)[1]}" if r["kind"] == "nodePort" else addr
            out.setdefault(name, {})[key] = {
                "kind": r["kind"], "action": r["action"],
                "endpoints": sorted(r.get("endpoints") or []) if r["action"] == "forward" else [],
                "masquerade": bool(r.get("masquerade")) if r["action"] == "forward" else False}
    return out


def load_intended(path):
    entries = []
    for where, (field, cond, reason) in pipe_table.read(path, ["FIELD", "SERVICE-CONDITION", "REASON"]):
        try:
            code = compile(cond, where, "eval")
        except SyntaxError as e:
            sys.exit(f"{where}: bad condition: {e}")
        entries.append({"field": field, "code": code, "reason": reason, "where": where, "used": 0})
    return entries


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--intended", required=True)
    ap.add_argument("--objects", required=True)
    ap.add_argument("explain")
    ap.add_argument("kube_proxy")
    args = ap.parse_args()
    with open(args.explain, encoding="utf-8") as f:
        kr = explain_routes(json.load(f))
    with open(args.kube_proxy, encoding="utf-8") as f:
        kp = json.load(f)
    with open(args.objects, encoding="utf-8") as f:
        specs = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o
                 for o in json.load(f)["items"] if o["kind"] in ("Service", "EndpointSlice")
                 and o["metadata"].get("namespace") == "gen" and o["kind"] == "Service"}
        f.seek(0)
        slices = {o["metadata"]["labels"]["kubernetes.io/service-name"]: o
                  for o in json.load(f)["items"] if o["kind"] == "EndpointSlice"}
    entries = load_intended(args.intended)
    routes = unlisted = intended = 0
    for name in sorted(set(kr) | set(kp)):
        if not name.startswith("gen/"):
            continue
        svc = specs.get(name.rsplit(":", 1)[0], {})
        spec = svc.get("spec", {})
        a, b = kr.get(name, {}), kp.get(name, {})
        for key in sorted(set(a) | set(b)):
            routes += 1
            x, y = a.get(key), b.get(key)
            kind = (x or y or {}).get("kind") or "?"
            diffs = []
            if x is None or y is None:
                diffs.append(("presence", "kroute" if y is None else "kube-proxy", "only"))
            else:
                if y.get("kind") and y["kind"] != x["kind"]:
                    diffs.append(("kind", x["kind"], y["kind"]))
                for field in ("action", "endpoints", "masquerade"):
                    if x[field] != y[field]:
                        diffs.append((field, x[field], y[field]))
            for field, got_kr, got_kp in diffs:
                match = None
                for e in entries:
                    if e["field"] == field and eval(e["code"], {}, {"spec": spec, "kind": kind}):  # noqa: S307
                        match = e
                        break
                desc = f"{name} {key} ({kind}) {field}: kroute {got_kr} / kube-proxy {got_kp}"
                if match:
                    match["used"] += 1
                    intended += 1
                    print(f"intended: {desc} -- {match['reason']}")
                else:
                    unlisted += 1
                    eps = [(e["addresses"][0], e["nodeName"], "".join(k[0] for k, v in e["conditions"].items() if v),
                            e.get("hints")) for e in slices.get(name.split("/")[1].rsplit(":", 1)[0], {}).get("endpoints", [])]
                    print(f"NOT INTENDED: {desc}\n    spec: {json.dumps(spec, sort_keys=True)}\n    endpoints: {eps}")
    print(f"compare: {routes} routes, {intended} intended difference(s), {unlisted} not intended")
    return 1 if unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
