"""Search benchmark: the same events in evident (loaded over HTTP) and in
DuckDB (native table), the same questions asked of both, medians printed
side by side.

    python bench/search.py --evident target/release/evident --events 1000000

Questions: a needle (`@usr.email:<mid-frequency user>`: count, and the
newest 50), free text (`suspicious`: every hit, page after page of 1000 as a
Datadog client reads them; DuckDB returns them all at once), and
`| stats count by @evt.name`.
"""

import argparse
import contextlib
import collections
import json
import statistics
import subprocess
import sys
import tempfile
import time
import http.client
import urllib.parse
from pathlib import Path

import ingest


def timed(function, runs):
    times = []
    result = None
    for _ in range(runs):
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


_connections = {}


def post(base, path, body):
    """POST on one kept-alive connection per server, as an API client would."""
    url = urllib.parse.urlparse(base)
    connection = _connections.get(base)
    if connection is None:
        connection = _connections[base] = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    connection.request("POST", path, body=json.dumps(body).encode(), headers={
        "DD-API-KEY": ingest.API_KEY, "DD-APPLICATION-KEY": ingest.APP_KEY, "Content-Type": "application/json"})
    response = connection.getresponse()
    payload = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path} answered {response.status}: {payload[:200]!r}")
    return json.loads(payload)


def all_hits(base, path, body):
    """Every hit, page by page (1000 at a time, the API's maximum)."""
    hits, cursor = 0, None
    while True:
        page = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        answer = post(base, path, {**body, "page": page})
        hits += len(answer["data"])
        cursor = answer["meta"].get("page", {}).get("after")
        if not cursor:
            return hits


def mid_frequency_user(events_path):
    counts = collections.Counter()
    with open(events_path) as lines:
        for line in lines:
            counts[json.loads(line)["usr"]["email"]] += 1
    ranked = counts.most_common()
    return ranked[len(ranked) // 10][0]


def setup(description):
    """The command line both query benchmarks take, and their events file:
    generated when missing, the newest event at the time of generation
    (regenerate it for questions about the last 24 hours)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evident", required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds to wait after loading, so that sealing and indexing catch up (the unsealed tail is scanned)")
    args = parser.parse_args()
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="evident-bench-"))
    events_path = work / f"events-{args.events}.jsonl"
    if not events_path.exists():
        base_ms = int(time.time() * 1000) - 3 * args.events
        subprocess.run([sys.executable, str(Path(__file__).parent / "generate.py"), "--events", str(args.events),
                        "--base-ms", str(base_ms), str(events_path)], check=True)
    return args, work, events_path


@contextlib.contextmanager
def loaded_evident(args, work, events_path):
    """A server on a temporary data directory holding the events, settled;
    yields its base URL and stops it afterwards."""
    with tempfile.TemporaryDirectory(dir=work) as data_dir:
        process, base = ingest.start_evident(args.evident, data_dir)
        try:
            ingest.send_all(base, list(ingest.batches(str(events_path), 1000)), 4)
            time.sleep(args.settle)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=120)


def duckdb_table(work, name, events_path):
    """A DuckDB database with the events as a native table `events`."""
    import duckdb
    connection = duckdb.connect(str(work / f"{name}.duckdb"))
    connection.execute("DROP TABLE IF EXISTS events")
    connection.execute(f"CREATE TABLE events AS SELECT * FROM read_json('{events_path}', format='newline_delimited')")
    return connection


def main():
    args, work, events_path = setup(__doc__)
    user = mid_frequency_user(events_path)
    window = {"from": "now-30d", "to": "now+1h"}

    with loaded_evident(args, work, events_path) as base:
        questions = {
            "needle count": lambda: post(base, "/api/v2/logs/analytics/aggregate",
                                         {"filter": {"query": f"@usr.email:{user}", **window}})["data"]["buckets"][0]["computes"]["c0"],
            "needle newest 50": lambda: len(post(base, "/api/v2/logs/events/search",
                                                 {"filter": {"query": f"@usr.email:{user}", **window}, "page": {"limit": 50}})["data"]),
            "free text 'suspicious'": lambda: all_hits(base, "/api/v2/logs/events/search",
                                                      {"filter": {"query": "suspicious", **window}}),
            "stats count by @evt.name": lambda: len(post(base, "/api/v2/logs/analytics/aggregate",
                                                        {"filter": {"query": "* | stats count by @evt.name", **window}})["data"]["buckets"]),
        }
        evident_times = {name: timed(question, args.runs) for name, question in questions.items()}

    connection = duckdb_table(work, "search", events_path)
    duck_questions = {
        "needle count": lambda: connection.execute("SELECT count(*) FROM events WHERE usr.email = ?", [user]).fetchone()[0],
        "needle newest 50": lambda: len(connection.execute(
            "SELECT * FROM events WHERE usr.email = ? ORDER BY timestamp DESC LIMIT 50", [user]).fetchall()),
        "free text 'suspicious'": lambda: len(connection.execute(
            "SELECT * FROM events WHERE regexp_matches(message, '(?i)\\bsuspicious\\b')").fetchall()),
        "stats count by @evt.name": lambda: len(connection.execute(
            "SELECT evt.name, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10").fetchall()),
    }
    duck_times = {name: timed(question, args.runs) for name, question in duck_questions.items()}
    connection.close()

    print(f"events: {args.events:,}, runs: {args.runs} (medians), needle user: {user}, settled {args.settle:.0f} s after loading")
    print(f"{'question':28} {'evident':>12} {'duckdb':>12} {'evident/duckdb':>15} {'speed-up':>9}  results (evident / duckdb)")
    for name in questions:
        (evident_seconds, evident_result), (duck_seconds, duck_result) = evident_times[name], duck_times[name]
        print(f"{name:28} {evident_seconds * 1000:10.1f}ms {duck_seconds * 1000:10.1f}ms {evident_seconds / duck_seconds:14.3f}x"
              f" {duck_seconds / evident_seconds:8.1f}x  {evident_result} / {duck_result}")


if __name__ == "__main__":
    main()
