#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bench/api_latency.py: network programming latency of a running kroute
against the real API server (run by bench_api.sh inside the node's network
namespace, next to the API server and the agent).

For each of N changes: one EndpointSlice is patched through the API (its
endpoints replaced by one new endpoint, 10.250.X.Y:8080 on this node); the
API server's response is t_accepted.  Then, independently of kroute:
connections to the service's ClusterIP:port are made every 2 ms until the
new endpoint answers (a backend in this script answers on every address of
10.250.0.0/16 with the address it was reached on): t_traffic.  The agent's
own log line (the first "sync:" line stamped after the request) is t_log.
Changes are spaced by more than the agent's min-sync-period (1 s), so the
rate limit is not what is measured.  Prints one line per change:
  change=I service=NS/NAME accepted_ms=A log_ms=L traffic_ms=T
(L and T counted from the API server's response) and exits 1 when a
change never answered within the timeout.

Each run needs new addresses (a patch that changes nothing sends no event):
FIRST numbers the first change's address (10.250.0.0/16 holds 65,000).
Before each change the ClusterIP must not already answer as the new
endpoint, or the run stops.

AGENT_LOG "-": no log line is timed (log_ms=-), for a proxy whose log is not
kroute's (bench_kube_proxy.sh runs kube-proxy through here too).

With --metrics URL (the proxy's Prometheus endpoint, kube-proxy's metric
names, which kroute exports too) each change also gets, from the difference
of the histograms' _sum and _count before and after it (FAMILY's series):
  syncs=N sync_ms=S partial=P own_npl_ms=O
N syncs ran (S: their mean duration; P of them partial), and the proxy's own
network programming duration (kubeproxy_network_programming_duration_seconds,
its mean over the change's observations, "-" when none).  --trigger-time
stamps each patch with endpoints.kubernetes.io/last-change-trigger-time (the
time of the request, RFC 3339), as the EndpointSlice controller does:
kube-proxy starts its network programming clock there.

usage: api_latency.py [--metrics URL] [--family IPv4] [--trigger-time]
                      CONTROL_PLANE_DIR AGENT_LOG CHANGES [FIRST [TIMEOUT_S]]
"""
import argparse
import calendar
import http.client
import json
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse

PORT = 8080


class Backend(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class Answer(socketserver.BaseRequestHandler):
    def handle(self):
        # The address the client asked for (after any DNAT): which endpoint this is.
        self.request.sendall(self.request.getsockname()[0].encode() + b"\n")


def api(cp):
    ctx = ssl.create_default_context(cafile=cp + "/pki/ca.crt")
    ctx.load_cert_chain(cp + "/pki/admin.crt", cp + "/pki/admin.key")
    url = urllib.parse.urlparse(open(cp + "/server").read().strip())
    return http.client.HTTPSConnection(url.hostname, url.port, context=ctx)


def call(conn, method, path, body=None, ctype=None):
    headers = {"Content-Type": ctype} if ctype else {}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise RuntimeError("%s %s: HTTP %d: %s" % (method, path, resp.status, data[:300]))
    return json.loads(data)


def candidates(conn, n):
    """n ClusterIP services with one TCP port, no affinity or topology, spread over all."""
    svcs = call(conn, "GET", "/api/v1/services")["items"]
    ok = []
    for s in svcs:
        sp = s["spec"]
        labels = s["metadata"].get("labels", {})
        if (sp.get("type") == "ClusterIP" and len(sp.get("ports", [])) == 1
                and sp["ports"][0].get("protocol", "TCP") == "TCP"
                and sp.get("clusterIP") not in (None, "", "None")
                and ":" not in sp["clusterIP"]
                and sp.get("sessionAffinity", "None") == "None"
                and not sp.get("trafficDistribution")
                and sp.get("internalTrafficPolicy", "Cluster") == "Cluster"
                and "service.kubernetes.io/service-proxy-name" not in labels
                and s["metadata"]["name"] != "kubernetes"):
            ok.append(s)
    ok.sort(key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"]))
    if len(ok) < n:
        raise RuntimeError("only %d suitable services for %d changes" % (len(ok), n))
    step = len(ok) / n
    return [ok[int(i * step)] for i in range(n)]


def slice_of(conn, svc):
    ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    sel = urllib.parse.quote("kubernetes.io/service-name=" + name)
    for sl in call(conn, "GET", "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices"
                   "?labelSelector=%s" % (ns, sel))["items"]:
        if sl["addressType"] == "IPv4":
            return sl["metadata"]["name"]
    raise RuntimeError("%s/%s has no IPv4 EndpointSlice" % (ns, name))


class LogFollower:
    """Sync lines of the agent's log, as they are written: (epoch seconds, line)."""

    def __init__(self, path):
        self.f = open(path, errors="replace")
        self.f.seek(0, 2)
        self.partial = ""

    def lines(self):
        out = []
        while True:
            chunk = self.f.readline()
            if not chunk:
                break
            self.partial += chunk
            if not self.partial.endswith("\n"):
                break
            line, self.partial = self.partial, ""
            # "kroute HH:MM:SS.mmm: partial sync: ..." (UTC, today)
            if line.startswith("kroute ") and " sync: " in line:
                stamp = line[7:19]
                day = time.strftime("%Y-%m-%d", time.gmtime())
                t = calendar.timegm(time.strptime(day + " " + stamp[:8], "%Y-%m-%d %H:%M:%S"))
                out.append((t + int(stamp[9:12]) / 1000.0, line))
        return out


HISTOGRAMS = {
    "sync": "kubeproxy_sync_proxy_rules_duration_seconds",
    "partial": "kubeproxy_sync_partial_proxy_rules_duration_seconds",
    "npl": "kubeproxy_network_programming_duration_seconds",
}


def scrape(url, family):
    """{(histogram key, "sum"|"count"): value} of FAMILY's series at URL."""
    out = {}
    try:
        u = urllib.parse.urlparse(url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
        c.request("GET", u.path or "/metrics")
        text = c.getresponse().read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        for key, name in HISTOGRAMS.items():
            for part in ("sum", "count"):
                prefix = "%s_%s{" % (name, part)
                if line.startswith(prefix) and 'ip_family="%s"' % family in line:
                    out[(key, part)] = float(line.rsplit(" ", 1)[1])
    return out


def metric_fields(before, after):
    """The per-change fields from two scrapes (see the module's doc)."""
    d = lambda k, p: after.get((k, p), 0.0) - before.get((k, p), 0.0)
    syncs = int(d("sync", "count"))
    npl = int(d("npl", "count"))
    return "syncs=%d sync_ms=%s partial=%d own_npl_ms=%s" % (
        syncs, "%.1f" % (d("sync", "sum") * 1000 / syncs) if syncs else "-",
        int(d("partial", "count")), "%.1f" % (d("npl", "sum") * 1000 / npl) if npl else "-")


def probe(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=0.1) as s:
            s.settimeout(0.2)
            return s.recv(64).decode().strip()
    except OSError:
        return None


def main():
    ap = argparse.ArgumentParser(usage=__doc__.split("usage: ")[1])
    ap.add_argument("--metrics")
    ap.add_argument("--family", default="IPv4")
    ap.add_argument("--trigger-time", action="store_true")
    ap.add_argument("cp")
    ap.add_argument("log")
    ap.add_argument("changes", type=int)
    ap.add_argument("first", type=int, nargs="?", default=0)
    ap.add_argument("timeout", type=float, nargs="?", default=120.0)
    a = ap.parse_args()
    cp, log, changes, first, timeout = a.cp, a.log, a.changes, a.first, a.timeout
    backend = Backend(("0.0.0.0", PORT), Answer)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    conn = api(cp)
    targets = [(s, slice_of(conn, s)) for s in candidates(conn, changes)]
    follower = LogFollower(log) if log != "-" else None
    failed = 0
    for i, (svc, slice_name) in enumerate(targets):
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        cip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["port"]
        pname = svc["spec"]["ports"][0].get("name", "")
        k = first + i
        ip = "10.250.%d.%d" % (k // 250, k % 250 + 1)
        patch = {"endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                                "nodeName": "node-00000"}],
                 "ports": [{"name": pname, "port": PORT, "protocol": "TCP"}]}
        time.sleep(1.2)  # past the agent's min-sync-period since its last sync
        if follower:
            follower.lines()
        if probe(cip, port) == ip:
            sys.exit("%s/%s already answers as %s: this is not a change" % (ns, name, ip))
        before = scrape(a.metrics, a.family) if a.metrics else None
        t_req = time.time()
        if a.trigger_time:
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_req))
            patch["metadata"] = {"annotations": {
                "endpoints.kubernetes.io/last-change-trigger-time":
                    "%s.%06dZ" % (stamp, int(t_req % 1 * 1e6))}}
        call(conn, "PATCH", "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s"
             % (ns, slice_name), json.dumps(patch), "application/merge-patch+json")
        t_acc = time.time()
        t_log = t_traffic = None
        while time.time() < t_acc + timeout:
            if t_log is None and follower:
                for t, _ in follower.lines():
                    if t >= t_req - 0.001:
                        t_log = t
                        break
            if probe(cip, port) == ip:
                t_traffic = time.time()
                break
            time.sleep(0.002)
        if t_log is None and follower:
            time.sleep(0.05)
            t_log = next((t for t, _ in follower.lines() if t >= t_req - 0.001), None)
        extra = ""
        if before is not None:
            # The sync that made the change live records its duration just after it: wait
            # (bounded) until the proxy has counted a sync since the request.
            after = before
            for _ in range(100):
                after = scrape(a.metrics, a.family) or after
                if after.get(("sync", "count"), 0) > before.get(("sync", "count"), 0):
                    break
                time.sleep(0.05)
            extra = " " + metric_fields(before, after)
        ms = lambda t: "%.1f" % ((t - t_acc) * 1000) if t is not None else "-"
        print("change=%d service=%s/%s accepted_ms=%.1f log_ms=%s traffic_ms=%s%s"
              % (i, ns, name, (t_acc - t_req) * 1000, ms(t_log), ms(t_traffic), extra), flush=True)
        if t_traffic is None:
            failed += 1
    backend.shutdown()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
