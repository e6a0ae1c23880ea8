"""A real `evident serve` process for the client tests, on a loopback port."""

import gzip
import json
import os
import subprocess
import tempfile
import urllib.request

import pytest

API_KEY = "client-test-api-key"
APP_KEY = "client-test-app-key"


@pytest.fixture(scope="module")
def server():
    binary = os.environ.get("EVIDENT_BIN")
    if not binary:
        pytest.fail("set EVIDENT_BIN to the evident binary (scripts/test.sh does)")
    with tempfile.TemporaryDirectory() as data_dir:
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_LOG="warn")
        process = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0", "--data-dir", data_dir],
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        base = postgres = None
        for line in process.stdout:
            if line.startswith("evident postgres listening on "):
                postgres = line.split()[4]
            if line.startswith("evident listening on "):
                base = line.split()[3]
                break
        assert base and postgres, "the server printed its addresses"
        yield {"base": base, "postgres": postgres, "data_dir": data_dir, "binary": binary}
        process.terminate()
        process.wait(timeout=30)


# Twelve events the SQL client tests query: three `api_key` (status codes
# 200, 204, 208; one per user) and nine `dashboard`.
EVENTS = [
    {"ddsource": "datadog", "service": "web", "message": f"event {index}",
     "usr": {"email": f"user{index % 3}@example.com"},
     "evt": {"name": "api_key" if index % 4 == 0 else "dashboard"},
     "http": {"status_code": 200 + index}}
    for index in range(12)
]


@pytest.fixture(scope="module")
def loaded(server):
    body = gzip.compress(json.dumps(EVENTS).encode())
    request = urllib.request.Request(f"{server['base']}/api/v2/logs", data=body, method="POST", headers={
        "DD-API-KEY": API_KEY, "Content-Type": "application/json", "Content-Encoding": "gzip"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 202
    return server
