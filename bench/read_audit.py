"""What recording every read costs: the same data directory served three
times by the same binary, with `--audit-reads off`, `written` (the default:
each read's record is written to the log before the answer, durable within
10 ms, one fsync for the records of that time) and `durable` (durable
before the answer), the core-path questions
asked of each in turns (off, written, durable, off, ...), medians and the
ratios to `off` printed per question.

    python bench/read_audit.py --evident target/release/evident --events 1000000

Questions: a needle (`@usr.email:<mid-frequency user>`) counted and its
newest 50, `| stats count by @evt.name`, each over the past 30 days and over
the newest tenth of their time span (a slice of the newest segments), and the same questions asked
by 4 clients at once (questions per second). The windows end where the
loaded events end: the records of reads are events too, and a window
reaching the present would count a trail growing with every question
rather than the cost of recording it. The run checks that the records are
there.
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


MODES = ("off", "written", "durable")


def start(binary, data_dir, audit_reads):
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
         "--audit-reads", audit_reads, "--retention-days", "0"],
        stdout=subprocess.PIPE, text=True,
        env={"EVIDENT_API_KEY": ingest.API_KEY, "EVIDENT_APP_KEY": ingest.APP_KEY, "EVIDENT_LOG": "warn",
             "PATH": "/usr/bin:/bin"},
    )
    for line in process.stdout:
        if line.startswith("evident listening on "):
            return process, line.split()[3]
    raise RuntimeError("evident did not start")


def windows(events_path):
    """The past 30 days and the newest tenth of the events' time span, both
    ending at the newest event, as query windows (ms)."""
    with open(events_path, "rb") as lines:
        first = json.loads(lines.readline())["timestamp"]
        lines.seek(max(0, Path(events_path).stat().st_size - 100_000))
        last = json.loads(lines.readlines()[-1])["timestamp"]
    month = {"from": str(last - 30 * 86_400_000), "to": str(last + 1)}
    newest = {"from": str(last - (last - first) // 10), "to": str(last + 1)}
    return month, newest


def questions(base, user, month, newest):
    def needle(window):
        return lambda: search.post(base, "/api/v2/logs/analytics/aggregate",
                                   {"filter": {"query": f"@usr.email:{user}", **window}})["data"]["buckets"][0]["computes"]["c0"]

    def newest_50(window):
        return lambda: len(search.post(base, "/api/v2/logs/events/search",
                                       {"filter": {"query": f"@usr.email:{user}", **window}, "page": {"limit": 50}})["data"])

    def stats(window):
        return lambda: len(search.post(base, "/api/v2/logs/analytics/aggregate",
                                       {"filter": {"query": "* | stats count by @evt.name", **window}})["data"]["buckets"])

    return {
        "needle count, 30 days": needle(month),
        "needle newest 50, 30 days": newest_50(month),
        "stats by @evt.name, 30 days": stats(month),
        "needle count, newest tenth": needle(newest),
        "needle newest 50, newest tenth": newest_50(newest),
        "stats by @evt.name, newest tenth": stats(newest),
    }


def throughput(base, user, month, newest, seconds, clients):
    """Questions per second that `clients` threads get answered, each
    asking the questions in turn for `seconds` on a connection of its own."""
    deadline = time.perf_counter() + seconds

    def client(index):
        # search.post keeps one connection per base string; a fragment makes
        # the string unique per client without changing the address.
        asked = questions(f"{base}#{index}", user, month, newest)
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
    month, newest = windows(events_path)
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        loaded = Path(scratch) / "loaded"
        process, base = start(args.evident, loaded, "off")
        try:
            ingest.send_all(base, list(ingest.batches(str(events_path), 1000)), 4)
            time.sleep(args.settle)
        finally:
            process.terminate()
            process.wait(timeout=120)
        servers = {}
        for mode in MODES:
            copy = Path(scratch) / f"audit-reads-{mode}"
            shutil.copytree(loaded, copy)
            servers[mode] = start(args.evident, copy, mode)
        try:
            asked = {mode: questions(base, user, month, newest) for mode, (_, base) in servers.items()}
            times = {mode: {name: [] for name in asked[mode]} for mode in MODES}
            results = {}
            for mode in MODES:  # warm the caches of all alike
                for question in asked[mode].values():
                    question()
            for name in asked["off"]:
                for _ in range(args.runs):
                    for mode in MODES:
                        started = time.perf_counter()
                        results[name, mode] = asked[mode][name]()
                        times[mode][name].append(time.perf_counter() - started)
            rates = {mode: [] for mode in MODES}
            for _ in range(3):
                for mode in MODES:
                    rates[mode].append(throughput(servers[mode][1], user, month, newest, 5, 4))
            recorded = {}
            for mode in MODES:
                found = search.post(servers[mode][1], "/api/v2/logs/analytics/aggregate", {
                    "filter": {"query": "source:evident @evt.name:audit_logs_query", "from": "now-1d", "to": "now+1h"}})
                recorded[mode] = found["data"]["buckets"][0]["computes"]["c0"] if found["data"]["buckets"] else 0
        finally:
            for process, _ in servers.values():
                process.terminate()
                process.wait(timeout=120)

    print(f"events: {args.events:,}, runs: {args.runs} in turns (medians), needle user: {user}")
    print(f"{'question':32} {'off':>9} {'written':>9} {'durable':>9} {'written/off':>12} {'durable/off':>12}  results")
    ratios = {mode: [] for mode in MODES[1:]}
    for name in asked["off"]:
        median = {mode: statistics.median(times[mode][name]) for mode in MODES}
        for mode in MODES[1:]:
            ratios[mode].append(median[mode] / median["off"])
        print(f"{name:32} " + " ".join(f"{median[mode] * 1000:7.2f}ms" for mode in MODES)
              + "".join(f" {median[mode] / median['off']:11.3f}x" for mode in MODES[1:])
              + "  " + " / ".join(str(results[name, mode]) for mode in MODES))
    rate = {mode: statistics.median(rates[mode]) for mode in MODES}
    print(f"{'4 clients at once (questions/s)':32} " + " ".join(f"{rate[mode]:9.1f}" for mode in MODES)
          + "".join(f" {rate['off'] / rate[mode]:11.3f}x" for mode in MODES[1:]) + "  (time per question)")
    for mode in MODES[1:]:
        print(f"{mode}: median over the questions {statistics.median(ratios[mode]):.3f}x, "
              f"worst {max(ratios[mode]):.3f}x; reads recorded: {recorded[mode]:,}")
    if recorded["off"] != 0:
        sys.exit("the server that does not record reads recorded some")
    for mode in MODES[1:]:
        if recorded[mode] < args.runs * len(asked[mode]):
            sys.exit(f"the {mode} server recorded fewer reads than it answered")
    for name in asked["off"]:
        if len({results[name, mode] for mode in MODES}) != 1:
            sys.exit(f"{name}: the servers answered differently")


if __name__ == "__main__":
    main()
