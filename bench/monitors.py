"""Monitor benchmark: alert latency and ingest with 1,000 active monitors,
beside the same build ingesting with none, in one run.

    python bench/monitors.py --evident target/release/evident --seconds 20 --runs 3

Each run starts two fresh servers in turn: one without monitors, one with
--monitors of mixed types (70% thresholds on an event name and a decision,
10% grouped by user, 10% new value of the client IP, 10% "fewer than 1 in
30m" on names that keep arriving), all notifying a webhook. Four senders
post gzip batches of 1000 generated events (bench/generate.py's shape, 5000
Zipf-distributed users) for --seconds; meanwhile a probe posts one event a
tenth of a second, each with a new value of `@probe.id`, which a new-value
monitor turns into a notification: the latency is from the probe's 202 to
the webhook receiver having the notification. Prints events/s with and
without monitors (and the ratio), latency p50/p99, and the server's memory
(RSS) before the monitors, after creating them, and after the ingest, with
the groups the monitors hold. Medians over --runs. Last, the memory of one
new-value monitor fed --new-values distinct values, beside the same ingest
without it.
"""

import argparse
import gzip
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).parent))
from generate import EVENT_NAMES, Zipf, make_event  # noqa: E402

API_KEY = "bench-api-key"
APP_KEY = "bench-app-key"


def start_evident(binary, data_dir):
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, text=True,
        env={"EVIDENT_API_KEY": API_KEY, "EVIDENT_APP_KEY": APP_KEY, "EVIDENT_LOG": os.environ.get("EVIDENT_LOG", "warn"),
             "PATH": "/usr/bin:/bin"})
    for line in process.stdout:
        if line.startswith("evident listening on "):
            return process, line.split()[3]
    raise RuntimeError("evident did not start")


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Api:
    def __init__(self, base):
        url = urlparse(base)
        self.connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)

    def call(self, method, path, body=None, api_only=False):
        headers = {"DD-API-KEY": API_KEY, "Content-Type": "application/json"}
        if not api_only:
            headers["DD-APPLICATION-KEY"] = APP_KEY
        self.connection.request(method, path, body=None if body is None else json.dumps(body), headers=headers)
        response = self.connection.getresponse()
        text = response.read()
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {text[:300]!r}")
        return json.loads(text) if text else None


class Receiver:
    """The webhook: when each notification arrived, by its text."""

    def __init__(self):
        self.arrivals = {}
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                now = time.perf_counter()
                text = json.loads(body).get("text", "")
                receiver.count += 1
                if text.startswith("probe "):
                    receiver.arrivals.setdefault(text.split()[1], now)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def make_batches(count, seed):
    rng = random.Random(seed)
    users = Zipf([f"user{n}@example.com" for n in range(5000)])
    ips = Zipf([f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}" for _ in range(20000)])
    bodies = []
    batch = []
    for index in range(count):
        event = make_event(rng, index, users, ips, 0)
        del event["timestamp"]  # judged at arrival, as a live sender's events are
        event["aegis"] = {"decision": "BLOCKED" if rng.random() < 0.05 else "ALLOWED"}
        batch.append(json.dumps(event, separators=(",", ":")).encode())
        if len(batch) == 1000:
            bodies.append(gzip.compress(b"[" + b",".join(batch) + b"]", compresslevel=1))
            batch = []
    return bodies


def monitor_definitions(count):
    # Quoted inside the search, and escaped inside the monitor query's string.
    names = [f'@evt.name:\\"{name}\\"' for name in EVENT_NAMES]
    definitions = []
    for index in range(count):
        name = names[index % len(names)]
        kind = index % 10
        if kind == 7:
            query = f'audits("{name}").rollup("count").by("@usr.email").last("5m") > 1000000'
        elif kind == 8:
            query = f'audits("{name} @aegis.decision:BLOCKED").new_value("@network.client.ip")'
        elif kind == 9:
            query = f'audits("{name}").rollup("count").last("30m") < 1'
        else:
            query = f'audits("{name} @aegis.decision:BLOCKED service:{["web", "api", "auth", "billing"][index % 4]}").rollup("count").last("{[5, 15, 60][index % 3]}m") > 1000000'
        definitions.append({"name": f"bench {index}", "type": "audit alert", "query": query,
                            "message": "{{value}} @webhook-bench"})
    return definitions


def send_for(base, bodies, senders, seconds, rate=None):
    """Posts batches round-robin with `senders` connections for `seconds`
    (at most `rate` events/s when given); events acknowledged a second."""
    url = urlparse(base)
    stop = time.perf_counter() + seconds
    sent = [0] * senders
    period = senders * 1000 / rate if rate else 0.0

    def worker(slot):
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        index = slot
        due = time.perf_counter() + period * slot / senders
        while time.perf_counter() < stop:
            if period:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                due += period
            body = bodies[index % len(bodies)]
            try:
                connection.request("POST", "/api/v2/logs", body=body, headers={
                    "DD-API-KEY": API_KEY, "Content-Type": "application/json", "Content-Encoding": "gzip"})
                response = connection.getresponse()
                response.read()
            except (ConnectionError, http.client.HTTPException):
                # A refused batch may close the connection before its body is read: send it again.
                connection.close()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
                time.sleep(0.2)
                continue
            if response.status == 202:
                index += senders
                sent[slot] += 1000
            elif response.status == 503:
                time.sleep(float(response.getheader("Retry-After", "1")))
            else:
                raise RuntimeError(f"intake answered {response.status}")

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(sent) / (time.perf_counter() - started)


def probe(base, seconds, sent_at):
    api = Api(base)
    stop = time.perf_counter() + seconds
    index = 0
    while time.perf_counter() < stop:
        index += 1
        probe_id = f"p{index}"
        try:
            api.call("POST", "/api/v2/logs", [{"message": "probe", "probe": {"id": probe_id}}], api_only=True)
        except (RuntimeError, ConnectionError, http.client.HTTPException):
            # Refused (503 while sealing is behind): not acknowledged, not timed.
            api = Api(base)
            time.sleep(0.1)
            continue
        sent_at[probe_id] = time.perf_counter()
        time.sleep(0.1)


def run(binary, bodies, monitors, senders, seconds, work, rate=None):
    figures = {}
    with tempfile.TemporaryDirectory(dir=work) as data_dir:
        process, base = start_evident(binary, data_dir)
        receiver = Receiver()
        try:
            api = Api(base)
            # Every name has arrived once, so "fewer than 1" monitors start OK.
            api.call("POST", "/api/v2/logs", [{"message": "warm-up", "evt": {"name": name}} for name in EVENT_NAMES],
                     api_only=True)
            figures["rss_before"] = rss_mb(process.pid)
            sent_at = {}
            if monitors:
                api.call("POST", "/api/v1/integration/webhooks/configuration/webhooks", {
                    "name": "bench", "url": receiver.url, "payload": json.dumps({"text": "$TEXT_ONLY_MSG"})})
                started = time.perf_counter()
                for definition in monitor_definitions(monitors - 1):
                    api.call("POST", "/api/v1/monitor", definition)
                api.call("POST", "/api/v1/monitor", {
                    "name": "probe", "type": "audit alert",
                    "query": 'audits("@probe.id:*").new_value("@probe.id").learning("1s")',
                    "message": "probe {{new_value}} @webhook-bench"})
                figures["create_seconds"] = time.perf_counter() - started
                api.call("POST", "/api/v2/logs", [{"message": "probe", "probe": {"id": "p0"}}], api_only=True)
                time.sleep(2.0)
                figures["rss_monitors"] = rss_mb(process.pid)
                prober = threading.Thread(target=probe, args=(base, seconds, sent_at))
                prober.start()
            figures["events_per_second"] = send_for(base, bodies, senders, seconds, rate)
            if monitors:
                prober.join()
                # Every probe's notification, however late (up to a minute).
                drained = time.perf_counter() + 60
                while time.perf_counter() < drained and any(key not in receiver.arrivals for key in sent_at):
                    time.sleep(0.1)
                latencies = sorted(receiver.arrivals[key] - sent_at[key] for key in sent_at if key in receiver.arrivals)
                figures["probes"] = len(sent_at)
                figures["probes_received"] = len(latencies)
                figures["p50"] = latencies[len(latencies) // 2] if latencies else float("nan")
                figures["p99"] = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
                listed = api.call("GET", "/api/v1/monitor")
                figures["groups"] = sum(len(monitor["state"]["groups"]) for monitor in listed)
                figures["notifications"] = receiver.count
            figures["rss_after"] = rss_mb(process.pid)
        finally:
            receiver.close()
            process.terminate()
            process.wait(timeout=120)
        state = Path(data_dir) / "monitors" / "state.json"
        figures["state_bytes"] = state.stat().st_size if state.exists() else 0
    return figures


def metric(base, name):
    api = Api(base)
    api.connection.request("GET", "/metrics", headers={"DD-APPLICATION-KEY": APP_KEY})
    response = api.connection.getresponse()
    for line in response.read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def new_value_memory(binary, values, work, monitor):
    """RSS after `values` distinct values of one field went through a
    new-value monitor learning them (or, without `monitor`, through no
    monitor), once evaluation has caught up; what the monitor remembers and
    its values file."""
    figures = {}
    with tempfile.TemporaryDirectory(dir=work) as data_dir:
        process, base = start_evident(binary, data_dir)
        try:
            api = Api(base)
            if monitor:
                api.call("POST", "/api/v1/monitor", {
                    "name": "every value", "type": "audit alert",
                    "query": 'audits("@bench.value:*").new_value("@bench.value").learning("30d")',
                    "message": "new {{new_value}}"})
            figures["rss_before"] = rss_mb(process.pid)
            url = urlparse(base)
            connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            for first in range(0, values, 1000):
                batch = ",".join(f'{{"message":"v","bench":{{"value":"v{n}"}}}}' for n in range(first, min(values, first + 1000)))
                body = gzip.compress(f"[{batch}]".encode(), compresslevel=1)
                while True:
                    connection.request("POST", "/api/v2/logs", body=body, headers={
                        "DD-API-KEY": API_KEY, "Content-Type": "application/json", "Content-Encoding": "gzip"})
                    response = connection.getresponse()
                    response.read()
                    if response.status == 202:
                        break
                    if response.status != 503:
                        raise RuntimeError(f"intake answered {response.status}")
                    time.sleep(float(response.getheader("Retry-After", "1")))
            deadline = time.perf_counter() + 300
            while monitor and metric(base, "evident_monitor_lag_events") > 0 and time.perf_counter() < deadline:
                time.sleep(0.5)
            time.sleep(11)  # the learned values are written with the next save
            figures["rss_after"] = rss_mb(process.pid)
            figures["remembered"] = metric(base, "evident_monitor_values")
            values_dir = Path(data_dir) / "monitors" / "values"
            figures["values_file"] = sum(path.stat().st_size for path in values_dir.glob("*")) if values_dir.exists() else 0
        finally:
            process.terminate()
            process.wait(timeout=120)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evident", required=True, help="path to the evident binary (a release build)")
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--events", type=int, default=200_000, help="distinct events to cycle through")
    parser.add_argument("--rate", type=float, default=20_000,
                        help="the sustained ingest rate (events/s) of the latency runs")
    parser.add_argument("--work", default=tempfile.gettempdir())
    parser.add_argument("--new-values", type=int, default=1_200_000,
                        help="distinct values sent through one new-value monitor, for its memory (0: skip)")
    args = parser.parse_args()
    bodies = make_batches(args.events, 42)
    without, with_monitors, steady = [], [], []
    for number in range(args.runs):
        without.append(run(args.evident, bodies, 0, args.senders, args.seconds, args.work))
        with_monitors.append(run(args.evident, bodies, args.monitors, args.senders, args.seconds, args.work))
        steady.append(run(args.evident, bodies, args.monitors, args.senders, args.seconds, args.work, args.rate))
        print(f"run {number + 1}: without {without[-1]}", file=sys.stderr)
        print(f"run {number + 1}: with    {with_monitors[-1]}", file=sys.stderr)
        print(f"run {number + 1}: steady  {steady[-1]}", file=sys.stderr)
    median = lambda runs, key: statistics.median(run[key] for run in runs)  # noqa: E731
    rate_without = median(without, "events_per_second")
    rate_with = median(with_monitors, "events_per_second")
    ratios = [w["events_per_second"] / n["events_per_second"] for w, n in zip(with_monitors, without)]
    print(f"ingest, {args.senders} senders, gzip batches of 1000, 202 after fsync (medians of {args.runs} runs):")
    print(f"  without monitors        {rate_without:10,.0f} events/s")
    print(f"  with {args.monitors} monitors     {rate_with:10,.0f} events/s   ratio {statistics.median(ratios):.2f}x (worst {min(ratios):.2f}x)")
    for title, runs in [(f"sustained ingest of {args.rate:,.0f} events/s (achieved {median(steady, 'events_per_second'):,.0f})", steady),
                        ("ingest as fast as it goes (above)", with_monitors)]:
        print(f"alert latency, probe's 202 → webhook received, {args.monitors} monitors, during {title}:")
        print(f"  p50 {median(runs, 'p50') * 1000:7.0f} ms   p99 {median(runs, 'p99') * 1000:7.0f} ms"
              f"   (worst p99 {max(run['p99'] for run in runs) * 1000:.0f} ms; "
              f"{median(runs, 'probes_received'):.0f} of {median(runs, 'probes'):.0f} probes received)")
    print("memory (RSS):")
    print(f"  before monitors {median(with_monitors, 'rss_before'):7.0f} MB, with {args.monitors} monitors "
          f"{median(with_monitors, 'rss_monitors'):7.0f} MB, after the ingest {median(with_monitors, 'rss_after'):7.0f} MB "
          f"(without monitors: {median(without, 'rss_after'):.0f} MB)")
    if args.new_values:
        alone = new_value_memory(args.evident, args.new_values, args.work, monitor=False)
        learned = new_value_memory(args.evident, args.new_values, args.work, monitor=True)
        print(f"  a new-value monitor over {args.new_values:,} distinct values: remembers {learned['remembered']:,.0f} "
              f"(at most 1,000,000: past it the values seen longest ago are forgotten); RSS after "
              f"{learned['rss_after']:.0f} MB vs {alone['rss_after']:.0f} MB for the same ingest without it "
              f"(+{learned['rss_after'] - alone['rss_after']:.0f} MB); values file {learned['values_file'] / 1e6:.1f} MB")
    per_monitor = (median(with_monitors, "rss_monitors") - median(with_monitors, "rss_before")) * 1024 / args.monitors
    print(f"  {per_monitor:.1f} KB a monitor; {median(with_monitors, 'groups'):.0f} groups held; state.json "
          f"{median(with_monitors, 'state_bytes') / 1e6:.1f} MB; monitors created in {median(with_monitors, 'create_seconds'):.1f} s")


if __name__ == "__main__":
    main()
