"""CloudTrail from S3 against a real S3 API server on loopback (moto):
the bucket layout of shared/data read by `evident serve` as a continuous
source, exactly once across a crash and restart, new and late files, and a
one-off `evident import s3://...` that finds everything already imported."""

import gzip
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import tempfile
import time
import urllib.request

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import API_KEY, APP_KEY

SHARED = pathlib.Path(os.environ.get("EVIDENT_SHARED_DIR", pathlib.Path(__file__).parents[3] / "shared"))
LAYOUT = SHARED / "data" / "aws-cloudtrail" / "s3-bucket-layout-panther"
BUCKET = "trail"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
# Held back at first: the newest day of one folder (new files), and one
# file of the day before it, delivered after them (a late file).
NEW_DAY = "AWSLogs/123456789012/CloudTrail/us-west-2/2024/01/18/"
LATE_DAY = "AWSLogs/123456789012/CloudTrail/us-west-2/2024/01/17/"


def records_in(path):
    return len(json.loads(gzip.decompress(path.read_bytes()))["Records"])


@pytest.fixture(scope="module")
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=BUCKET)
    files = sorted(LAYOUT.rglob("*.json.gz"))
    keys = {path: str(path.relative_to(LAYOUT)) for path in files}
    new = [path for path in files if keys[path].startswith(NEW_DAY)]
    late = [path for path in files if keys[path].startswith(LATE_DAY)][:1]
    assert len(files) == 74 and new and late
    for path in files:
        if path not in new + late:
            client.upload_file(str(path), BUCKET, keys[path])
    yield {"endpoint": endpoint, "client": client,
           "new": [(path, keys[path]) for path in new], "late": [(path, keys[path]) for path in late],
           "new_records": sum(records_in(path) for path in new),
           "late_records": sum(records_in(path) for path in late)}
    server.stop()


class Evident:
    """`evident serve` reading the bucket, restartable on one data directory."""

    def __init__(self, endpoint, data_dir, bucket=BUCKET):
        self.endpoint, self.data_dir, self.bucket, self.process, self.base = endpoint, data_dir, bucket, None, None

    def start(self):
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_LOG="warn", **CREDENTIALS)
        self.process = subprocess.Popen(
            [os.environ["EVIDENT_BIN"], "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--cloudtrail-bucket", f"s3://{self.bucket}", "--aws-endpoint-url", self.endpoint,
             "--bucket-poll-seconds", "1"],
            stdout=subprocess.PIPE, env=env, text=True)
        for line in self.process.stdout:
            if line.startswith("evident listening on "):
                self.base = line.split()[3]
                break
        assert self.base

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)

    def sql(self, statement):
        request = urllib.request.Request(
            f"{self.base}/api/v1/sql", data=json.dumps({"query": statement}).encode(), method="POST",
            headers={"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY, "Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            return json.load(response)["rows"]

    def counts(self):
        """(events, distinct (file, record) pairs) from the bucket."""
        return tuple(self.sql(
            "SELECT count(*), count(DISTINCT origin || '#' || record) FROM dd.audit("
            "columns => ARRAY['@evident.import.origin', '@evident.import.record'], filter => 'source:cloudtrail') "
            "AS (origin VARCHAR, record VARCHAR)")[0])

    def wait_for(self, expected, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            counts = self.counts()
            if counts[0] >= expected:
                return counts
            time.sleep(0.2)
        return self.counts()


def test_a_bucket_is_imported_exactly_once_across_a_crash_new_and_late_files(s3):
    first = 324 - s3["new_records"] - s3["late_records"]
    with tempfile.TemporaryDirectory() as data_dir:
        evident = Evident(s3["endpoint"], data_dir)
        evident.start()
        # Kill as soon as the first events are in: most likely mid-import.
        deadline = time.monotonic() + 30
        while evident.counts()[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        evident.kill()

        evident.start()
        assert evident.wait_for(first) == (first, first)

        # New files (a newer day), then a late one (the day before).
        for path, key in s3["new"]:
            s3["client"].upload_file(str(path), BUCKET, key)
        assert evident.wait_for(first + s3["new_records"]) == (first + s3["new_records"],) * 2
        for path, key in s3["late"]:
            s3["client"].upload_file(str(path), BUCKET, key)
        assert evident.wait_for(324) == (324, 324)

        # Polling again, and restarting, imports nothing twice.
        time.sleep(2.5)
        evident.stop()
        evident.start()
        time.sleep(2.5)
        assert evident.counts() == (324, 324)

        # A one-off import through the server's API only declares where its
        # files come from: they are kept apart from the files the server
        # read from the bucket itself (under declared: origins, never
        # verified), so they cannot take the bucket files' place. Sent
        # again, every one of them is skipped.
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, **CREDENTIALS)

        def import_through_the_api():
            finished = subprocess.run(
                [os.environ["EVIDENT_BIN"], "import", "cloudtrail", f"s3://{BUCKET}", "--server", evident.base,
                 "--endpoint-url", s3["endpoint"]],
                capture_output=True, text=True, env=env, timeout=120)
            assert finished.returncode == 0, finished.stdout + finished.stderr
            return finished.stdout

        assert "imported 324 of 324 records from 74 files" in import_through_the_api()
        assert "74 files were imported before and skipped" in import_through_the_api()
        assert evident.counts() == (648, 648)
        declared = evident.sql(
            "SELECT count(*) FROM dd.audit(columns => ARRAY['@evident.import.origin'], "
            "filter => 'source:cloudtrail @evident.import.origin:declared*') AS (origin VARCHAR)")[0][0]
        assert declared == 324
        evident.stop()


def test_a_one_off_import_reads_every_file_of_a_bucket(s3):
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, **CREDENTIALS)
        command = [os.environ["EVIDENT_BIN"], "import", "cloudtrail", f"s3://{BUCKET}/AWSLogs/123456789012",
                   "--endpoint-url", s3["endpoint"], "--region", "us-east-1", "--data-dir", data_dir]
        finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert finished.returncode == 0, finished.stdout + finished.stderr
        assert finished.stdout.startswith("imported "), finished.stdout
        again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
        assert again.returncode == 0 and "were imported before and skipped" in again.stdout, again.stdout


def digest(bucket, key, files, previous=None):
    """A CloudTrail digest body listing `files` [(key, uncompressed bytes)]."""
    body = {
        "awsAccountId": "123456789012", "digestStartTime": "2024-01-15T00:00:00Z",
        "digestEndTime": "2024-01-15T01:00:00Z", "digestS3Bucket": bucket, "digestS3Object": key,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "logFiles": [{"s3Bucket": bucket, "s3Object": name, "hashAlgorithm": "SHA-256",
                      "hashValue": hashlib.sha256(content).hexdigest()} for name, content in files],
    }
    if previous:
        body.update({"previousDigestS3Bucket": bucket, "previousDigestS3Object": previous[0],
                     "previousDigestHashAlgorithm": "SHA-256",
                     "previousDigestHashValue": hashlib.sha256(previous[1]).hexdigest()})
    return json.dumps(body).encode()


def test_digests_vouch_for_the_imported_files_and_catch_altered_and_missing_ones(s3):
    client, bucket = s3["client"], "trail-digests"
    client.create_bucket(Bucket=bucket)
    folder = "AWSLogs/123456789012/CloudTrail/us-west-2/2024/01/15/"
    files = [(str(path.relative_to(LAYOUT)), gzip.decompress(path.read_bytes()))
             for path in sorted(LAYOUT.rglob("*.json.gz")) if str(path.relative_to(LAYOUT)).startswith(folder)]
    assert len(files) >= 3
    for key, content in files:
        client.put_object(Bucket=bucket, Key=key, Body=gzip.compress(content))
    digests = "AWSLogs/123456789012/CloudTrail-Digest/us-west-2/2024/01/15/"
    first_key, second_key = digests + "d-20240115T0100Z.json.gz", digests + "d-20240115T0200Z.json.gz"
    first = digest(bucket, first_key, files[:2])
    vanished = (folder + "123456789012_CloudTrail_us-west-2_20240115T2359Z_vanished.json.gz", b"{}")
    second = digest(bucket, second_key, files[2:] + [vanished], previous=(first_key, first))
    client.put_object(Bucket=bucket, Key=first_key, Body=gzip.compress(first))
    client.put_object(Bucket=bucket, Key=second_key, Body=gzip.compress(second))
    # Not a digest at all: set aside, reported, the rest goes on.
    client.put_object(Bucket=bucket, Key=digests + "d-garbage.json.gz", Body=b"not gzip")

    env = dict(os.environ, **CREDENTIALS)

    def run(data_dir):
        return subprocess.run(
            [os.environ["EVIDENT_BIN"], "import", "cloudtrail", f"s3://{bucket}", "--endpoint-url", s3["endpoint"],
             "--data-dir", data_dir], capture_output=True, text=True, env=env, timeout=120)

    with tempfile.TemporaryDirectory() as data_dir:
        # As delivered: every file vouched for, one listed file never arrived.
        clean = run(data_dir)
        assert clean.returncode == 1, clean.stdout + clean.stderr
        assert f"CloudTrail digests: 2 checked, {len(files)} files verified, 2 problems" in clean.stdout, clean.stdout
        assert "missing (listed in" in clean.stderr and "vanished" in clean.stderr, clean.stderr
        assert "unreadable digest" in clean.stderr and "d-garbage" in clean.stderr, clean.stderr

    # A file altered after CloudTrail delivered it.
    altered_key, altered_content = files[0]
    records = json.loads(altered_content)
    records["Records"][0]["eventName"] = "NothingToSeeHere"
    client.put_object(Bucket=bucket, Key=altered_key, Body=gzip.compress(json.dumps(records).encode()))
    with tempfile.TemporaryDirectory() as data_dir:
        tampered = run(data_dir)
        assert tampered.returncode == 1
        assert f"{len(files) - 1} files verified, 3 problems" in tampered.stdout, tampered.stdout
        assert f"altered (hash differs from s3://{bucket}/{first_key}): s3://{bucket}/{altered_key}" in tampered.stderr
        # The events themselves say whether their file is as CloudTrail delivered it.
        statement = ("SELECT digest, count(DISTINCT origin) FROM dd.audit(columns => ARRAY["
                     "'@evident.import.digest', '@evident.import.origin'], filter => 'source:cloudtrail') "
                     "AS (digest VARCHAR, origin VARCHAR) GROUP BY digest ORDER BY digest")
        rows = subprocess.run([os.environ["EVIDENT_BIN"], "sql", "--data-dir", data_dir, "--csv", statement],
                              capture_output=True, text=True, timeout=120)
        assert rows.returncode == 0, rows.stderr
        assert rows.stdout.splitlines()[1:] == ["altered,1", f"verified,{len(files) - 1}"], rows.stdout

    # The continuous source checks the digests too, after the files, and
    # records each check as an event of its own.
    with tempfile.TemporaryDirectory() as data_dir:
        evident = Evident(s3["endpoint"], data_dir, bucket)
        evident.start()
        statement = ("SELECT status, chain, missing FROM dd.audit(columns => ARRAY["
                     "'status', '@cloudtrail_digest.chain', '@cloudtrail_digest.missing'], "
                     "filter => 'source:evident @evt.name:cloudtrail_digest_check') "
                     "AS (status VARCHAR, chain VARCHAR, missing VARCHAR) ORDER BY chain")
        deadline = time.monotonic() + 60
        while len(checks := evident.sql(statement)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        evident.stop()
        assert [row[:2] for row in checks] == [["error", "first"], ["error", "linked"]], checks
        assert "vanished" in checks[1][2]
