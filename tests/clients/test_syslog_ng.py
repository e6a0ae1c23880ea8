"""syslog-ng's http() destination, in Datadog's intake format, against evident."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import API_KEY, APP_KEY

CONFIG = """@version: 3.38
options {{ stats_freq(0); }};
source s_lines {{ file("{input}" flags(no-parse) follow-freq(0.1)); }};
destination d_evident {{
  http(
    url("{base}/api/v2/logs")
    method("POST")
    headers("DD-API-KEY: {key}", "Content-Type: application/json")
    body-prefix("[")
    delimiter(",")
    body-suffix("]")
    body('$(format-json --scope none message=$MESSAGE ddsource=syslog-ng service=syslog-test hostname=syslog-host ddtags=env:test,via:http)')
    batch-lines(20)
    batch-timeout(200)
  );
}};
log {{ source(s_lines); destination(d_evident); }};
"""


def search(server, query):
    request = urllib.request.Request(
        f"{server['base']}/api/v2/logs/events/search",
        data=json.dumps({"filter": {"query": query, "from": "now-15m"}, "page": {"limit": 1000}}).encode(),
        headers={"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY, "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["data"]


def test_syslog_ng_http_destination(server):
    syslog_ng = shutil.which("syslog-ng")
    if syslog_ng is None:
        pytest.fail("syslog-ng is not installed (scripts/test.sh installs syslog-ng-core and syslog-ng-mod-http)")
    with tempfile.TemporaryDirectory() as work:
        input_path = os.path.join(work, "input.log")
        with open(input_path, "w") as lines:
            for n in range(50):
                lines.write(f"sshd[42]: accepted publickey for user{n % 5} from 10.0.0.{n}\n")
        config = os.path.join(work, "syslog-ng.conf")
        with open(config, "w") as handle:
            handle.write(CONFIG.format(input=input_path, base=server["base"], key=API_KEY))
        process = subprocess.Popen(
            [
                syslog_ng,
                "-F",
                "-f", config,
                "--persist-file", os.path.join(work, "persist"),
                "--pidfile", os.path.join(work, "pid"),
                "--control", os.path.join(work, "ctl"),
                "--no-caps",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.time() + 30
            found = []
            while time.time() < deadline:
                found = search(server, "service:syslog-test accepted")
                if len(found) >= 50 or process.poll() is not None:
                    break
                time.sleep(0.2)
            assert process.poll() is None, process.stderr.read()
            assert len(found) == 50
            event = found[0]["attributes"]
            assert event["host"] == "syslog-host"
            assert "source:syslog-ng" in event["tags"] and "via:http" in event["tags"]
            assert search(server, "user3 10.0.0.8") and not search(server, "user3 10.0.0.9")
        finally:
            process.terminate()
            process.wait(timeout=10)
