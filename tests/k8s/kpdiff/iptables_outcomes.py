#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""What kube-proxy's iptables mode programmed, read back from iptables-save
(IPv4) into per-service-port outcomes, the same shape kroute explain -o json
gives (compare.py puts the two side by side):

  {"NS/NAME:PORTNAME": {"IP:PORT" | "nodePort:PORT":
      {"kind": "clusterIP" | "nodePort" | "externalIP" | "loadBalancer" | null (unknown:
               a filter verdict alone names no kind),
       "action": "forward" | "drop" | "reject",
       "endpoints": ["IP:PORT", ...],       (sorted; forward only)
       "masquerade": bool,                  (every packet of this kind)
       "affinity": SECONDS or null,         (ClientIP session affinity)
       "sourceRanges": [CIDR, ...] or null}}}  (loadBalancer only)

It reads the chains kube-proxy writes (pkg/proxy/iptables/proxier.go):
nat KUBE-SERVICES (cluster, external and load-balancer IPs, by the rule's
comment "NS/NAME:PORT cluster IP" ...), KUBE-NODEPORTS, KUBE-SVC-* /
KUBE-SVL-* (endpoint picks, comment "NS/NAME:PORT -> IP:PORT"), KUBE-EXT-*
(external traffic: an unconditional KUBE-MARK-MASQ, then the policy's chain),
KUBE-FW-* (source ranges), KUBE-SEP-* (DNAT); filter KUBE-SERVICES,
KUBE-EXTERNAL-SERVICES and KUBE-NODEPORTS ("has no endpoints" REJECT, "has
no local endpoints" DROP) and KUBE-PROXY-FIREWALL.  A line it cannot read is
an error naming the line; unknown chains are ignored.

  iptables_outcomes.py [FILE]     (default: standard input) prints the JSON
"""
import json
import shlex
import sys


class ParseError(Exception):
    pass


# Options whose value is kept as it is, by the key it is kept under.
SIMPLE = {"-j": "target", "-g": "target", "--comment": "comment", "-d": "d", "--dport": "dport",
          "-p": "p", "--to-destination": "to"}


def parse_rule(text, where):
    """The options of one -A line: {"chain", "target", "comment", "d", "s",
    "not_s", "dport", "addrtype_dst_local", "addrtype_src_local", "to",
    "recent_seconds", "p"}."""
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise ParseError(f"{where}: {e}") from None
    if len(words) < 2 or words[0] != "-A":
        raise ParseError(f"{where}: not a rule: {text!r}")
    r = {"chain": words[1], "target": None, "comment": None}
    i, neg, n = 2, False, len(words)
    while i < n:
        w = words[i]
        if w == "!":
            neg = True
            i += 1
            continue
        # An option's value is the next word unless that is an option itself
        # (--rcheck, --reap, --random-fully take none).
        arg = words[i + 1] if i + 1 < n and words[i + 1] != "!" and not words[i + 1].startswith("-") else None
        if w in SIMPLE:
            r[SIMPLE[w]] = arg
        elif w == "-s":
            r["not_s" if neg else "s"] = arg
        elif w == "--dst-type":
            r["addrtype_dst_notlocal" if neg else "addrtype_dst_local"] = arg
        elif w == "--src-type":
            r["addrtype_src_notlocal" if neg else "addrtype_src_local"] = arg
        elif w == "--seconds":
            if arg is None or not arg.isdigit():
                raise ParseError(f"{where}: --seconds without a number")
            r["recent_seconds"] = int(arg)
        elif not w.startswith("-"):
            raise ParseError(f"{where}: unexpected word {w!r}")
        neg = False
        i += 2 if arg is not None else 1
    return r


def parse_save(text):
    """iptables-save text -> {table: {chain: [rule, ...]}}."""
    tables, table = {}, None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        where = f"line {n}"
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:]
            tables.setdefault(table, {})
        elif line == "COMMIT":
            table = None
        elif line.startswith(":"):
            if table is None:
                raise ParseError(f"{where}: chain outside a table")
            tables[table].setdefault(line[1:].split()[0], [])
        elif line.startswith("-A"):
            if table is None:
                raise ParseError(f"{where}: rule outside a table")
            r = parse_rule(line, where)
            tables[table].setdefault(r["chain"], []).append(r)
        else:
            raise ParseError(f"{where}: cannot read {line!r}")
    return tables


def unconditional(r):
    return not any(k in r for k in ("s", "not_s", "d", "addrtype_src_local", "addrtype_src_notlocal",
                                    "addrtype_dst_local", "recent_seconds"))


def svc_chain(nat, chain):
    """Endpoints a KUBE-SVC-/KUBE-SVL- chain picks, whether it masquerades
    every packet, and its session affinity."""
    eps, masq, affinity = set(), False, None
    for r in nat.get(chain, []):
        t = r["target"] or ""
        if t == "KUBE-MARK-MASQ" and unconditional(r):
            masq = True
        elif t.startswith("KUBE-SEP-"):
            if "recent_seconds" in r:
                affinity = r["recent_seconds"]
            for s in nat.get(t, []):
                if s["target"] == "DNAT" and s.get("to"):
                    eps.add(s["to"])
    return eps, masq, affinity


def ext_chain(nat, chain):
    """External traffic: KUBE-EXT-* masquerades unconditionally (policy
    Cluster) and ends with a jump to the policy's chain (none: no local
    endpoint, the filter drops it)."""
    masq, final = False, None
    for r in nat.get(chain, []):
        t = r["target"] or ""
        if t == "KUBE-MARK-MASQ" and unconditional(r):
            masq = True
        elif (t.startswith("KUBE-SVC-") or t.startswith("KUBE-SVL-")) and unconditional(r):
            final = t
    return masq, final


def addr_key(r, nodeport=False):
    """The key of a route: "IP:PORT" for an address, "nodePort:PORT" for a NodePort."""
    if nodeport:
        return f"nodePort:{r.get('dport')}"
    return f"{r.get('d', '').split('/')[0]}:{r.get('dport')}"


def outcomes(text):
    """{"NS/NAME:PORTNAME": {ROUTE-KEY: outcome}} (module docstring)."""
    tables = parse_save(text)
    nat, filt = tables.get("nat", {}), tables.get("filter", {})
    out = {}

    def entry(name, key, kind):
        e = out.setdefault(name, {}).setdefault(key, {
            "kind": kind, "action": "forward", "endpoints": [], "masquerade": False,
            "affinity": None, "sourceRanges": None})
        e["kind"] = e["kind"] or kind
        return e

    def resolve(e, target):
        if target.startswith("KUBE-FW-"):
            fw = nat.get(target, [])
            e["sourceRanges"] = sorted(r["s"] for r in fw if "s" in r)
            nxt = [r["target"] for r in fw if (r["target"] or "").startswith("KUBE-EXT-")]
            target = nxt[0] if nxt else ""
        if target.startswith("KUBE-EXT-"):
            masq, final = ext_chain(nat, target)
            e["masquerade"] = masq
            target = final or ""
        if target.startswith(("KUBE-SVC-", "KUBE-SVL-")):
            eps, masq, aff = svc_chain(nat, target)
            e["endpoints"] = sorted(eps)
            e["masquerade"] = e["masquerade"] or masq
            e["affinity"] = aff

    kinds = {"cluster IP": "clusterIP", "external IP": "externalIP", "loadbalancer IP": "loadBalancer"}
    for r in nat.get("KUBE-SERVICES", []):
        c = r["comment"] or ""
        for suffix, kind in kinds.items():
            if c.endswith(" " + suffix) and r["target"]:
                resolve(entry(c[: -len(suffix) - 1], addr_key(r), kind), r["target"])
    for r in nat.get("KUBE-NODEPORTS", []):
        if r["comment"] and r["target"]:
            resolve(entry(r["comment"], addr_key(r, True), "nodePort"), r["target"])

    # The filter's verdicts for what found no endpoint: REJECT (none at all)
    # or DROP (a Local policy without a local one).  Without endpoints the
    # nat side has no rule, so the kind may stay unknown (None): the key says
    # which address it is.
    for chain in ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-NODEPORTS"):
        for r in filt.get(chain, []):
            c = r["comment"] or ""
            if r["target"] not in ("REJECT", "DROP"):
                continue
            for suffix in (" has no endpoints", " has no local endpoints"):
                if c.endswith(suffix):
                    name = c[: -len(suffix)]
                    break
            else:
                continue
            nodeport = "addrtype_dst_local" in r
            kind = "nodePort" if nodeport else None
            e = entry(name, addr_key(r, nodeport), kind)
            e["action"] = "reject" if r["target"] == "REJECT" else "drop"
            e["endpoints"] = []
    for ks in out.values():
        for e in ks.values():
            if e["action"] == "forward" and not e["endpoints"]:
                # Programmed to nowhere and not filtered: not a state kube-proxy
                # writes; named, not guessed.
                e["action"] = "none"
            if e["action"] != "forward":
                e["masquerade"] = False
                e["affinity"] = None
    return out


def main():
    text = open(sys.argv[1], encoding="utf-8").read() if len(sys.argv) > 1 else sys.stdin.read()
    try:
        print(json.dumps(outcomes(text), indent=1, sort_keys=True))
    except ParseError as e:
        sys.exit(f"iptables_outcomes: {e}")


if __name__ == "__main__":
    main()
