"""Audit gateway benchmark: the same small call (GET, 11-byte JSON answer)
sent by wrk to an nginx upstream directly and through `evident gateway`
(OIDC token checked, credential injected, call recorded into a running
`evident serve` on the same machine), in one run. A second gateway sends
its audit events to a null intake (nginx answering 202) instead, which
separates the gateway's own cost from the cost of storing the records.

    python bench/gateway.py --evident target/release/evident

Needs Debian's wrk and nginx (nginx-light) and `npm ci` in
tests/clients/oidc (the OIDC issuer). Prints, as medians of --runs runs:
latency p50/p99 with one connection (closed loop) and the gateway's added
latency, and calls/s served with --connections connections (calls the
gateway refuses with 503 because evident takes the records more slowly than
they come are counted apart).
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from ingest import API_KEY, start_evident

ROOT = Path(__file__).resolve().parents[1]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_nginx(directory):
    port, proxy_port = free_port(), free_port()
    conf = Path(directory) / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
error_log {directory}/nginx-error.log warn;
pid {directory}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        location / {{ default_type application/json; return 200 '{{"ok":true}}'; }}
        # A null intake: takes the gateway's audit events and keeps nothing.
        location = /api/v2/logs {{ default_type application/json; return 202 '{{}}'; }}
    }}
    # For reference: nginx itself as a plain reverse proxy (no token, no
    # recording) in front of the same upstream.
    upstream direct {{ server 127.0.0.1:{port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{proxy_port};
        location / {{ proxy_pass http://direct; proxy_http_version 1.1; proxy_set_header Connection ""; }}
    }}
}}
""")
    process = subprocess.Popen(["nginx", "-c", str(conf), "-p", directory, "-g", "daemon off;"])
    wait_for(f"http://127.0.0.1:{port}/")
    wait_for(f"http://127.0.0.1:{proxy_port}/")
    return process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{proxy_port}"


def wait_for(url, headers=None):
    deadline = time.time() + 20
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=2).read()
            return
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def start_issuer():
    process = subprocess.Popen(["node", str(ROOT / "tests/clients/oidc/issuer.mjs")], stdout=subprocess.PIPE, text=True)
    return process, json.loads(process.stdout.readline())


def mint(issuer):
    body = json.dumps({"claims": {"sub": "bench-agent", "email": "agent@example.com", "groups": ["agents"],
                                  "aud": "evident-gateway"}, "expires_in": 7200}).encode()
    request = urllib.request.Request(f"{issuer['control']}/token", data=body, method="POST")
    return json.loads(urllib.request.urlopen(request).read())["token"]


def start_gateway(binary, directory, evident, issuer, upstream, name):
    config = Path(directory) / f"{name}.toml"
    config.write_text(f"""
listen = "127.0.0.1:0"
evident_url = "{evident}"
[oidc]
issuer = "{issuer['issuer']}"
audience = "evident-gateway"
[[route]]
prefix = "/"
upstream = "{upstream}"
inject = {{ "DD-API-KEY" = "env:UPSTREAM_DD_API_KEY" }}
""")
    env = {"EVIDENT_API_KEY": API_KEY, "UPSTREAM_DD_API_KEY": "bench-upstream-key", "EVIDENT_LOG": "warn", "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen([binary, "gateway", "--config", str(config)], stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    if not line.startswith("evident gateway listening on "):
        raise RuntimeError(f"the gateway did not start: {line}")
    return process, line.split()[4]


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url, token, connections, threads, seconds):
    command = ["wrk", "--latency", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    percentiles = {}
    for percent, value, unit in re.findall(r"^\s+(50|99)(?:\.000)?%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        percentiles[percent] = float(value) * UNITS[unit]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = int(failed.group(1)) if failed else 0
    # Calls refused (the gateway's 503 when evident cannot take the records
    # as fast) are not counted as served.
    return percentiles.get("50"), percentiles.get("99"), rate * (total - failed) / total, failed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evident", default=str(ROOT / "target/release/evident"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    processes = []
    with tempfile.TemporaryDirectory() as directory:
        try:
            evident, base = start_evident(args.evident, os.path.join(directory, "data"))
            processes.append(evident)
            nginx, upstream, nginx_proxy = start_nginx(directory)
            processes.append(nginx)
            issuer_process, issuer = start_issuer()
            processes.append(issuer_process)
            gateway, gateway_base = start_gateway(args.evident, directory, base, issuer, upstream, "recorded")
            processes.append(gateway)
            null_gateway, null_base = start_gateway(args.evident, directory, upstream, issuer, upstream, "null")
            processes.append(null_gateway)
            token = mint(issuer)
            for url in (gateway_base, null_base):
                wait_for(f"{url}/", {"Authorization": f"Bearer {token}"})

            paths = [("direct", upstream, None), ("nginx-proxy", nginx_proxy, None),
                     ("gateway", gateway_base, token), ("null", null_base, token)]
            # Latency first, while evident is idle: the throughput runs leave
            # it storing and sealing a million records for a while after.
            latencies = {name: [] for name, _, _ in paths}
            for run in range(args.runs):
                for name, url, bearer in paths:
                    p50, p99, _, refused = wrk(url + "/api/v1/check", bearer, 1, 1, args.seconds)
                    latencies[name].append((p50, p99))
                    print(f"run {run + 1} {name:11}: p50 {p50:.3f} ms  p99 {p99:.3f} ms (1 connection)"
                          + (f", {refused:,} refused" if refused else ""), flush=True)
            rates = {name: [] for name, _, _ in paths}
            for run in range(args.runs):
                for name, url, bearer in paths:
                    _, _, rate, refused = wrk(url + "/api/v1/check", bearer, args.connections, 2, args.seconds)
                    rates[name].append(rate)
                    print(f"run {run + 1} {name:11}: {rate:,.0f} calls/s served ({args.connections} connections)"
                          + (f", {refused:,} refused" if refused else ""), flush=True)

            median = {name: [statistics.median(p50 for p50, _ in latencies[name]),
                             statistics.median(p99 for _, p99 in latencies[name]),
                             statistics.median(rates[name])] for name, _, _ in paths}
            direct, through, null, proxy = median["direct"], median["gateway"], median["null"], median["nginx-proxy"]
            print()
            print(f"| path | p50 latency | p99 latency | calls/s ({args.connections} connections) |")
            print("| --- | --- | --- | --- |")
            print(f"| nginx directly | {direct[0]:.3f} ms | {direct[1]:.3f} ms | {direct[2]:,.0f} |")
            print(f"| through nginx as a plain reverse proxy (reference) | {proxy[0]:.3f} ms | {proxy[1]:.3f} ms | {proxy[2]:,.0f} |")
            print(f"| through evident gateway, recorded into evident | {through[0]:.3f} ms | {through[1]:.3f} ms | {through[2]:,.0f} |")
            print(f"| added by the gateway (recorded) | {through[0] - direct[0]:+.3f} ms | {through[1] - direct[1]:+.3f} ms | "
                  f"{through[2] / direct[2]:.2f}x |")
            print(f"| through evident gateway, records to a null intake | {null[0]:.3f} ms | {null[1]:.3f} ms | {null[2]:,.0f} |")
            print(f"| added by the gateway alone | {null[0] - direct[0]:+.3f} ms | {null[1] - direct[1]:+.3f} ms | "
                  f"{null[2] / direct[2]:.2f}x |")
            recorded = count_recorded(base)
            print(f"\ncalls recorded in evident: {recorded:,}")
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=60)


def count_recorded(base):
    from ingest import APP_KEY
    time.sleep(2)
    body = json.dumps({"compute": [{"aggregation": "count"}],
                       "filter": {"query": "@evt.name:gateway.request", "from": "now-1d"}}).encode()
    request = urllib.request.Request(f"{base}/api/v2/logs/analytics/aggregate", data=body, method="POST",
                                     headers={"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY,
                                              "Content-Type": "application/json"})
    answer = json.loads(urllib.request.urlopen(request).read())
    return int(answer["data"]["buckets"][0]["computes"]["c0"])


if __name__ == "__main__":
    main()
