"""CloudTrail import benchmark: the same CloudTrail log files (.json.gz in
CloudTrail's S3 layout, {"Records": [...]} of 500 records each, made from
the shared Panther records with fresh ids, times and addresses) imported by
`evident import cloudtrail` (into a data directory, and into a running
server over HTTP) and loaded by DuckDB's read_json, in one run.

    python bench/cloudtrail.py --evident target/release/evident --records 200000

Prints records/s for each (median of --runs runs) and the ratios.
"""

import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from ingest import API_KEY, start_evident

SHARED = Path(os.environ.get("EVIDENT_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
PER_FILE = 500


def templates():
    path = SHARED / "data" / "aws-cloudtrail" / "panther-analysis" / "rule-tests.cloudtrail.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def generate(directory, count):
    """CloudTrail files under directory/AWSLogs/..., count records in all."""
    random.seed(7)
    records = templates()
    start = 1_700_000_000
    written = 0
    file_index = 0
    while written < count:
        batch = []
        for _ in range(min(PER_FILE, count - written)):
            record = dict(random.choice(records))
            moment = start + written
            record["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
            record["eventID"] = f"{random.getrandbits(128):032x}"
            record["sourceIPAddress"] = f"{random.randint(1, 223)}.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
            record["recipientAccountId"] = "123456789012"
            record["awsRegion"] = "us-east-1"
            batch.append(record)
            written += 1
        day = time.strftime("%Y/%m/%d", time.gmtime(start + written))
        folder = directory / "AWSLogs" / "123456789012" / "CloudTrail" / "us-east-1" / day
        folder.mkdir(parents=True, exist_ok=True)
        name = f"123456789012_CloudTrail_us-east-1_{file_index:08d}.json.gz"
        (folder / name).write_bytes(gzip.compress(json.dumps({"Records": batch}).encode(), compresslevel=6))
        file_index += 1
    return file_index


def evident_data_dir(binary, files_dir, work):
    with tempfile.TemporaryDirectory(dir=work) as data_dir:
        started = time.perf_counter()
        subprocess.run([binary, "import", "cloudtrail", str(files_dir), "--data-dir", data_dir],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - started


def evident_server(binary, files_dir, work):
    with tempfile.TemporaryDirectory(dir=work) as data_dir:
        process, base = start_evident(binary, data_dir)
        try:
            started = time.perf_counter()
            subprocess.run([binary, "import", "cloudtrail", str(files_dir), "--server", base],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env=dict(os.environ, EVIDENT_API_KEY=API_KEY))
            return time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=120)


def duckdb_load(files_dir, work):
    import duckdb
    with tempfile.TemporaryDirectory(dir=work) as scratch:
        connection = duckdb.connect(str(Path(scratch) / "bench.duckdb"))
        started = time.perf_counter()
        connection.execute(
            "CREATE TABLE records AS SELECT unnest(Records) AS record FROM read_json("
            f"'{files_dir}/**/*.json.gz', columns = {{'Records': 'JSON[]'}}, maximum_object_size = 536870912)")
        connection.execute("CHECKPOINT")
        elapsed = time.perf_counter() - started
        loaded = connection.execute("SELECT count(*) FROM records").fetchone()[0]
        connection.close()
    return elapsed, loaded


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evident", required=True, help="path to the evident binary (a release build)")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work-dir", default=None)
    args = parser.parse_args()
    work = Path(args.work_dir or tempfile.gettempdir())
    files_dir = work / f"cloudtrail-{args.records}"
    if not files_dir.exists():
        files = generate(files_dir, args.records)
        print(f"generated {files} files")
    size = sum(path.stat().st_size for path in files_dir.rglob("*.json.gz"))

    local, remote, duck = [], [], []
    for _ in range(args.runs):
        local.append(evident_data_dir(args.evident, files_dir, work))
        remote.append(evident_server(args.evident, files_dir, work))
        elapsed, loaded = duckdb_load(files_dir, work)
        assert loaded == args.records, loaded
        duck.append(elapsed)
    rate = lambda times: args.records / statistics.median(times)
    print(f"records: {args.records:,} in {len(list(files_dir.rglob('*.json.gz')))} files ({size / 1e6:.1f} MB gzip), "
          f"runs: {args.runs} (medians), 2 cores")
    print(f"{'loader':48} {'records/s':>12} {'vs DuckDB':>10}")
    for name, times in [("evident import --data-dir (normalize, fsync)", local),
                        ("evident import --server (HTTP, a file a request)", remote),
                        ("DuckDB read_json (records as JSON)", duck)]:
        print(f"{name:48} {rate(times):12,.0f} {rate(times) / rate(duck):9.2f}x")


if __name__ == "__main__":
    main()
