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

usage: api_latency.py CONTROL_PLANE_DIR AGENT_LOG CHANGES [FIRST [TIMEOUT_S]]
"""
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


def probe(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=0.1) as s:
            s.settimeout(0.2)
            return s.recv(64).decode().strip()
    except OSError:
        return None


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    cp, log, changes = sys.argv[1], sys.argv[2], int(sys.argv[3])
    first = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 120.0
    backend = Backend(("0.0.0.0", PORT), Answer)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    conn = api(cp)
    targets = [(s, slice_of(conn, s)) for s in candidates(conn, changes)]
    follower = LogFollower(log)
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
        follower.lines()
        if probe(cip, port) == ip:
            sys.exit("%s/%s already answers as %s: this is not a change" % (ns, name, ip))
        t_req = time.time()
        call(conn, "PATCH", "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices/%s"
             % (ns, slice_name), json.dumps(patch), "application/merge-patch+json")
        t_acc = time.time()
        t_log = t_traffic = None
        while time.time() < t_acc + timeout:
            if t_log is None:
                for t, _ in follower.lines():
                    if t >= t_req - 0.001:
                        t_log = t
                        break
            if probe(cip, port) == ip:
                t_traffic = time.time()
                break
            time.sleep(0.002)
        if t_log is None:
            time.sleep(0.05)
            t_log = next((t for t, _ in follower.lines() if t >= t_req - 0.001), None)
        ms = lambda t: "%.1f" % ((t - t_acc) * 1000) if t is not None else "-"
        print("change=%d service=%s/%s accepted_ms=%.1f log_ms=%s traffic_ms=%s"
              % (i, ns, name, (t_acc - t_req) * 1000, ms(t_log), ms(t_traffic)), flush=True)
        if t_traffic is None:
            failed += 1
    backend.shutdown()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
