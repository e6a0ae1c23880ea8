"""A real `evident serve` process for the client tests, on a loopback port."""

import os
import subprocess
import tempfile

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
