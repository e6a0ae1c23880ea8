"""Ingest benchmark: evident over HTTP (gzip batches of 1000, concurrent
senders, each batch acknowledged only after fsync) against DuckDB's bulk
load of the same events from a local JSON file, in one run.

    python bench/ingest.py --evident target/release/evident --events 1000000

Prints events/s for both, and the ratio (median of --runs runs). With
`--api-keys 100`, evident also ingests with that many API keys (made through
`POST /api/v2/api_keys`, each batch sent with the next) in the same runs, to
show that checking a key among many costs nothing.
"""

import argparse
import os
import gzip
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

API_KEY = "bench-api-key"
APP_KEY = "bench-app-key"


def start_evident(binary, data_dir):
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        stdout=subprocess.PIPE, text=True,
        env={"EVIDENT_API_KEY": API_KEY, "EVIDENT_APP_KEY": APP_KEY, "EVIDENT_LOG": os.environ.get("EVIDENT_LOG", "warn"), "PATH": "/usr/bin:/bin"},
    )
    for line in process.stdout:
        if line.startswith("evident listening on "):
            return process, line.split()[3]
    raise RuntimeError("evident did not start")


def batches(path, size):
    with open(path, "rb") as lines:
        batch = []
        for line in lines:
            batch.append(line.rstrip(b"\n"))
            if len(batch) == size:
                yield gzip.compress(b"[" + b",".join(batch) + b"]", compresslevel=1)
                batch = []
        if batch:
            yield gzip.compress(b"[" + b",".join(batch) + b"]", compresslevel=1)


def create_api_keys(base, count):
    """`count` new API keys, made by the Admin's application key."""
    url = urlparse(base)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    keys = []
    for index in range(count):
        body = json.dumps({"data": {"type": "api_keys", "attributes": {"name": f"bench-{index}"}}})
        connection.request("POST", "/api/v2/api_keys", body=body, headers={
            "DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY, "Content-Type": "application/json"})
        response = connection.getresponse()
        answer = response.read()
        if response.status != 201:
            raise RuntimeError(f"creating an API key answered {response.status}: {answer[:200]!r}")
        keys.append(json.loads(answer)["data"]["attributes"]["key"])
    return keys


def send_all(base, bodies, senders, api_keys=(API_KEY,)):
    url = urlparse(base)
    queue = list(enumerate(bodies))
    lock = threading.Lock()
    failures = []
    retries = [0]

    def worker():
        connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            try:
                connection.request("POST", "/api/v2/logs", body=item[1], headers={
                    "DD-API-KEY": api_keys[item[0] % len(api_keys)], "Content-Type": "application/json",
                    "Content-Encoding": "gzip"})
                response = connection.getresponse()
                response.read()
            except (ConnectionError, http.client.HTTPException):
                # A refused request may close the connection before reading
                # the body: reconnect and send the batch again.
                connection.close()
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
                with lock:
                    queue.append(item)
                    retries[0] += 1
                time.sleep(0.2)
                continue
            if response.status == 503:
                # Overloaded (sealing behind): retry after the delay asked, as Datadog senders do.
                with lock:
                    queue.append(item)
                    retries[0] += 1
                time.sleep(float(response.getheader("Retry-After", "1")))
            elif response.status != 202:
                failures.append(response.status)

    threads = [threading.Thread(target=worker) for _ in range(senders)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed: {failures[:5]}")
    if retries[0]:
        print(f"{retries[0]} batches were retried after a 503 or a closed connection", file=sys.stderr)
    return elapsed


def evident_run(binary, events_path, count, senders, api_keys=1):
    bodies = list(batches(events_path, 1000))
    with tempfile.TemporaryDirectory(dir=Path(events_path).parent) as data_dir:
        process, base = start_evident(binary, data_dir)
        try:
            keys = create_api_keys(base, api_keys) if api_keys > 1 else [API_KEY]
            elapsed = send_all(base, bodies, senders, keys)
        finally:
            process.terminate()
            process.wait(timeout=120)
        size = sum(f.stat().st_size for f in Path(data_dir).rglob("*") if f.is_file())
        started = time.perf_counter()
        subprocess.run([binary, "verify", "--data-dir", data_dir], check=True, stdout=subprocess.DEVNULL)
        verify_seconds = time.perf_counter() - started
    return count / elapsed, size, count / verify_seconds


def duckdb_run(events_path, count):
    import duckdb
    with tempfile.TemporaryDirectory(dir=Path(events_path).parent) as work:
        database = str(Path(work) / "bench.duckdb")
        connection = duckdb.connect(database)
        started = time.perf_counter()
        connection.execute(f"CREATE TABLE events AS SELECT * FROM read_json('{events_path}', format='newline_delimited')")
        connection.execute("CHECKPOINT")
        elapsed = time.perf_counter() - started
        connection.close()
        size = Path(database).stat().st_size
    return count / elapsed, size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evident", required=True, help="path to the evident binary (a release build)")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--senders", type=int, default=4)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--api-keys", type=int, default=1,
                        help="also ingest with this many API keys, each batch sent with the next")
    args = parser.parse_args()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="evident-bench-"))
    events_path = work / f"events-{args.events}.jsonl"
    if not events_path.exists():
        print(f"generating {args.events} events into {events_path} ...", file=sys.stderr)
        base_ms = int(time.time() * 1000) - 3 * args.events
        subprocess.run([sys.executable, str(Path(__file__).parent / "generate.py"), "--events", str(args.events),
                        "--base-ms", str(base_ms), str(events_path)], check=True)
    raw_bytes = events_path.stat().st_size
    evident_rates, duck_rates, verify_rates, many_key_rates = [], [], [], []
    evident_size = duck_size = 0
    for run in range(args.runs):
        rate, evident_size, verify_rate = evident_run(args.evident, str(events_path), args.events, args.senders)
        evident_rates.append(rate)
        verify_rates.append(verify_rate)
        if args.api_keys > 1:
            rate, _, _ = evident_run(args.evident, str(events_path), args.events, args.senders, args.api_keys)
            many_key_rates.append(rate)
        rate, duck_size = duckdb_run(str(events_path), args.events)
        duck_rates.append(rate)
        print(f"run {run + 1}: evident {evident_rates[-1]:,.0f} events/s, duckdb {duck_rates[-1]:,.0f} events/s", file=sys.stderr)
    evident_rate, duck_rate = statistics.median(evident_rates), statistics.median(duck_rates)
    print(f"events: {args.events:,} ({raw_bytes / args.events:.0f} bytes each as JSON), senders: {args.senders}, runs: {args.runs}")
    print(f"ingest  evident (HTTP, gzip batches of 1000, fsync before 202): {evident_rate:,.0f} events/s")
    print(f"ingest  duckdb (bulk read_json from a local file):            {duck_rate:,.0f} events/s")
    print(f"ratio evident/duckdb: {evident_rate / duck_rate:.2f}")
    if many_key_rates:
        many = statistics.median(many_key_rates)
        print(f"ingest  evident with {args.api_keys} API keys (each batch the next key): {many:,.0f} events/s "
              f"({many / evident_rate:.2f}x one key)")
    print(f"verify  evident (offline re-hash of every event, checkpoints): {statistics.median(verify_rates):,.0f} events/s")
    print(f"disk    evident (after the shutdown seal): {evident_size / 1e6:,.1f} MB ({evident_size / raw_bytes:.0%} of raw JSON), "
          f"duckdb: {duck_size / 1e6:,.1f} MB ({duck_size / raw_bytes:.0%})")


if __name__ == "__main__":
    main()
