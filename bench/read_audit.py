"""What recording every read costs: the same data directory served twice by
the same binary, once with `--audit-reads false` and once with `true`, the
core-path questions asked of both in turns (off, on, off, on, ...), medians
and the ratio printed per question.

    python bench/read_audit.py --evident target/release/evident --events 1000000

Questions: a needle (`@usr.email:<mid-frequency user>`) counted and its
newest 50, `| stats count by @evt.name`, each over the past 30 days and over
the newest tenth of their time span (a slice of the newest segments), and the same questions asked
by 4 clients at once (questions per second). Every read of the second
server is recorded and durable before it is answered; the run checks that
the records are there.
"""

import concurrent.futures
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import ingest
import search


def start(binary, data_dir, audit_reads):
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
         "--audit-reads", "true" if audit_reads else "false", "--retention-days", "0"],
        stdout=subprocess.PIPE, text=True,
        env={"EVIDENT_API_KEY": ingest.API_KEY, "EVIDENT_APP_KEY": ingest.APP_KEY, "EVIDENT_LOG": "warn",
             "PATH": "/usr/bin:/bin"},
    )
    for line in process.stdout:
        if line.startswith("evident listening on "):
            return process, line.split()[3]
    raise RuntimeError("evident did not start")


def newest_slice(events_path):
    """The newest tenth of the events' time span, as a query window (ms)."""
    with open(events_path, "rb") as lines:
        first = json.loads(lines.readline())["timestamp"]
        lines.seek(max(0, Path(events_path).stat().st_size - 100_000))
        last = json.loads(lines.readlines()[-1])["timestamp"]
    return {"from": str(last - (last - first) // 10), "to": str(last + 1)}


def questions(base, user, newest):
    def needle(window):
        return lambda: search.post(base, "/api/v2/logs/analytics/aggregate",
                                   {"filter": {"query": f"@usr.email:{user}", **window}})["data"]["buckets"][0]["computes"]["c0"]

    def newest_50(window):
        return lambda: len(search.post(base, "/api/v2/logs/events/search",
                                       {"filter": {"query": f"@usr.email:{user}", **window}, "page": {"limit": 50}})["data"])

    def stats(window):
        return lambda: len(search.post(base, "/api/v2/logs/analytics/aggregate",
                                       {"filter": {"query": "* | stats count by @evt.name", **window}})["data"]["buckets"])

    month = {"from": "now-30d", "to": "now+1h"}
    return {
        "needle count, 30 days": needle(month),
        "needle newest 50, 30 days": newest_50(month),
        "stats by @evt.name, 30 days": stats(month),
        "needle count, newest tenth": needle(newest),
        "needle newest 50, newest tenth": newest_50(newest),
        "stats by @evt.name, newest tenth": stats(newest),
    }


def throughput(base, user, newest, seconds, clients):
    """Questions per second that `clients` threads get answered, each
    asking the questions in turn for `seconds` on a connection of its own."""
    deadline = time.perf_counter() + seconds

    def client(index):
        # search.post keeps one connection per base string; a fragment makes
        # the string unique per client without changing the address.
        asked = questions(f"{base}#{index}", user, newest)
        answered = 0
        while time.perf_counter() < deadline:
            for question in asked.values():
                question()
                answered += 1
        return answered

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        started = time.perf_counter()
        answered = sum(pool.map(client, range(clients)))
        return answered / (time.perf_counter() - started)


def main():
    args, work, events_path = search.setup(__doc__)
    user = search.mid_frequency_user(events_path)
    newest = newest_slice(events_path)
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        loaded = Path(scratch) / "loaded"
        process, base = start(args.evident, loaded, audit_reads=False)
        try:
            ingest.send_all(base, list(ingest.batches(str(events_path), 1000)), 4)
            time.sleep(args.settle)
        finally:
            process.terminate()
            process.wait(timeout=120)
        servers = {}
        for audited in (False, True):
            copy = Path(scratch) / f"audit-reads-{audited}"
            shutil.copytree(loaded, copy)
            servers[audited] = start(args.evident, copy, audited)
        try:
            asked = {audited: questions(base, user, newest) for audited, (_, base) in servers.items()}
            times = {audited: {name: [] for name in asked[audited]} for audited in servers}
            results = {}
            for audited in servers:  # warm the caches of both alike
                for question in asked[audited].values():
                    question()
            for name in asked[False]:
                for _ in range(args.runs):
                    for audited in (False, True):
                        started = time.perf_counter()
                        results[name, audited] = asked[audited][name]()
                        times[audited][name].append(time.perf_counter() - started)
            rates = {audited: [] for audited in servers}
            for _ in range(3):
                for audited in (False, True):
                    rates[audited].append(throughput(servers[audited][1], user, newest, 5, 4))
            recorded = search.post(servers[True][1], "/api/v2/logs/analytics/aggregate", {
                "filter": {"query": "source:evident @evt.name:audit_logs_query", "from": "now-1d", "to": "now+1h"}})
            recorded = recorded["data"]["buckets"][0]["computes"]["c0"] if recorded["data"]["buckets"] else 0
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=120)

    print(f"events: {args.events:,}, runs: {args.runs} in turns (medians), needle user: {user}")
    print(f"{'question':32} {'reads off':>11} {'reads on':>11} {'on/off':>8}  results (off / on)")
    ratios = []
    for name in asked[False]:
        off, on = statistics.median(times[False][name]), statistics.median(times[True][name])
        ratios.append(on / off)
        print(f"{name:32} {off * 1000:9.2f}ms {on * 1000:9.2f}ms {on / off:7.3f}x  {results[name, False]} / {results[name, True]}")
    off_rate, on_rate = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"{'4 clients at once (questions/s)':32} {off_rate:11.1f} {on_rate:11.1f} {off_rate / on_rate:7.3f}x  (time per question, on/off)")
    print(f"median on/off over the questions: {statistics.median(ratios):.3f}x; worst: {max(ratios):.3f}x")
    print(f"reads recorded by the second server: {recorded:,}")
    if recorded < args.runs * len(asked[True]):
        sys.exit("the audited server recorded fewer reads than it answered")


if __name__ == "__main__":
    main()
