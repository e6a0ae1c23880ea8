"""Explorer first paint: the web UI opened in Debian's chromium on a server
holding the benchmark events (the explorer's past 7 days), timed
from navigation until the count, the histogram by status, the eight facets
and the newest 100 events are on screen; beside it, the same questions
asked of DuckDB's native table in the same run (count, 60 time buckets by
status, top 10 of the eight facets, newest 100 rows; one after the other).

    python bench/ui.py --evident target/release/evident --events 10000000 --work-dir /tmp/bench

Needs `npm ci` in tests/ui (playwright-core) and Debian's chromium.
"""

import json
import statistics
import subprocess
import time
from pathlib import Path

import ingest
from search import duckdb_table, loaded_evident, setup

FACETS = ["service", "ddsource", "status", "evt.name", "usr.email", "asset.type", "action",
          "network.client.geoip.country.name"]


def duckdb_first_paint(connection, runs):
    now = int(time.time() * 1000)
    start = now - 7 * 86_400_000
    interval = 7 * 86_400_000 // 60
    window = f"timestamp BETWEEN {start} AND {now}"
    questions = [f"SELECT count(*) FROM events WHERE {window}",
                 f"SELECT (timestamp - {start}) // {interval} AS slot, status, count(*) FROM events WHERE {window} GROUP BY ALL",
                 *[f"SELECT {facet}, count(*) FROM events WHERE {window} GROUP BY 1 ORDER BY 2 DESC LIMIT 10" for facet in FACETS],
                 f"SELECT * FROM events WHERE {window} ORDER BY timestamp DESC LIMIT 100"]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for question in questions:
            connection.execute(question).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main():
    args, work, events_path = setup(__doc__)
    with loaded_evident(args, work, events_path) as base:
        output = subprocess.run(["node", str(Path(__file__).parent / "ui_first_paint.mjs"), base, ingest.APP_KEY, str(args.runs)],
                                capture_output=True, text=True, check=True).stdout
        paint = json.loads(output)
    connection = duckdb_table(work, f"ui-{args.events}", events_path)
    duck = duckdb_first_paint(connection, args.runs)
    connection.close()
    evident_ms, duck_ms = statistics.median(paint["times"]), statistics.median(duck)
    print(f"events: {args.events:,} ({paint['count']:,} in the past 7 days), runs: {args.runs} (medians)")
    print(f"explorer first paint in chromium (evident, 11 requests in parallel): {evident_ms:8.1f} ms   runs: {[round(t) for t in paint['times']]}")
    print(f"the same questions of DuckDB, one after the other:                 {duck_ms:8.1f} ms   runs: {[round(t) for t in duck]}")
    print(f"target <= 1000 ms: {'met' if evident_ms <= 1000 else 'missed'}; evident/duckdb {evident_ms / duck_ms:.2f}x")


if __name__ == "__main__":
    main()
