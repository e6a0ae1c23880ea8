"""Monitors through the official Python Datadog client (`MonitorsApi`,
`WebhooksIntegrationApi`) against a real server, and the seed monitors end
to end: events posted through the intake, the notification received by a
real HTTP receiver (webhook, Slack, PagerDuty Events API v2), the recovery
received, nothing lost nor sent twice across a kill -9."""

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v1.api.monitors_api import MonitorsApi
from datadog_api_client.v1.api.webhooks_integration_api import WebhooksIntegrationApi
from datadog_api_client.v1.model.monitor import Monitor
from datadog_api_client.v1.model.monitor_options import MonitorOptions
from datadog_api_client.v1.model.monitor_thresholds import MonitorThresholds
from datadog_api_client.v1.model.monitor_type import MonitorType
from datadog_api_client.v1.model.monitor_update_request import MonitorUpdateRequest
from datadog_api_client.v1.model.webhooks_integration import WebhooksIntegration
from datadog_api_client.v1.model.webhooks_integration_encoding import WebhooksIntegrationEncoding

from conftest import API_KEY, APP_KEY


def client(server):
    config = Configuration(host=server["base"])
    config.api_key["apiKeyAuth"] = API_KEY
    config.api_key["appKeyAuth"] = APP_KEY
    return ApiClient(config)


def call(server, method, path, body=None):
    request = urllib.request.Request(
        f"{server['base']}{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else None


def send_events(server, events):
    request = urllib.request.Request(
        f"{server['base']}/api/v2/logs", data=json.dumps(events).encode(), method="POST",
        headers={"DD-API-KEY": API_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 202


def stamped(seconds_ago):
    """An event time `seconds_ago` before now, as epoch milliseconds."""
    return int((time.time() - seconds_ago) * 1000)


class Receiver:
    """A real HTTP server that records what it receives; it can answer an
    error for a while, or be absent (its port closed)."""

    def __init__(self, port=0):
        self.received = []
        self.fail_with = None
        self.failures_left = {}
        self.hang_on = None
        self.attempts = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.hang_on and self.path == receiver.hang_on:
                    time.sleep(60)  # never answers within the sender's timeout
                    return
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.fail_with or 202
                    if receiver.failures_left.get(self.path, 0) > 0:
                        receiver.failures_left[self.path] -= 1
                        status = 500
                    if status == 202:
                        receiver.received.append({"path": self.path, "body": body.decode(),
                                                  "headers": {name.lower(): value for name, value in self.headers.items()}})
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def bodies(self, path):
        with self.lock:
            return [json.loads(item["body"]) for item in self.received if item["path"] == path]

    def wait_for(self, path, count, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies(path)
            if len(bodies) >= count:
                return bodies
            time.sleep(0.05)
        raise AssertionError(f"{path}: {len(self.bodies(path))} received, {count} expected within {timeout} s")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def channels(server, receiver):
    with client(server) as api:
        WebhooksIntegrationApi(api).create_webhooks_integration(body=WebhooksIntegration(
            name="secops-hook", url=receiver.url("/hook"),
            payload=json.dumps({"title": "$EVENT_TITLE", "status": "$ALERT_TRANSITION", "monitor": "$ALERT_ID",
                                "scope": "$ALERT_SCOPE", "text": "$TEXT_ONLY_MSG"}),
            custom_headers=json.dumps({"Authorization": "Bearer hook-secret-1234"}),
            encode_as=WebhooksIntegrationEncoding.JSON))
    call(server, "POST", "/api/v1/integration/slack/configuration/channels",
         {"name": "secops", "url": receiver.url("/slack")})
    call(server, "POST", "/api/v1/integration/pagerduty/configuration/services",
         {"service_name": "oncall", "service_key": "routing-key-0123456789", "url": receiver.url("/pagerduty")})
    return receiver


def test_monitor_crud_through_the_datadog_client(server, channels):
    with client(server) as api:
        monitors = MonitorsApi(api)
        created = monitors.create_monitor(body=Monitor(
            name="Spike in blocked decisions",
            type=MonitorType.AUDIT_ALERT,
            query='audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10',
            message="Blocked decisions spiking {{value}} @slack-secops",
            tags=["team:secops", "seed:aegis"],
            priority=2,
            options=MonitorOptions(thresholds=MonitorThresholds(critical=10.0, warning=5.0),
                                   renotify_interval=30, evaluation_delay=0, notify_audit=True, include_tags=True)))
        assert created.id > 0
        assert created.type == MonitorType.AUDIT_ALERT
        assert str(created.overall_state) == "OK"
        assert created.options.thresholds.critical == 10.0
        assert created.options.thresholds.warning == 5.0
        assert created.creator.email == "admin@localhost"

        assert monitors.get_monitor(created.id).name == "Spike in blocked decisions"
        listed = monitors.list_monitors(name="blocked", monitor_tags="team:secops")
        assert [monitor.id for monitor in listed] == [created.id]
        assert monitors.list_monitors(monitor_tags="team:nobody") == []

        updated = monitors.update_monitor(created.id, body=MonitorUpdateRequest(name="Blocked decisions spiking"))
        assert updated.name == "Blocked decisions spiking"
        assert updated.query == created.query

        # An invalid query: 400, Datadog's error shape, with the column.
        with pytest.raises(ApiException) as refused:
            monitors.validate_monitor(body=Monitor(
                type=MonitorType.AUDIT_ALERT, name="broken",
                query='audits("@aegis.decision:").rollup("count").last("5m") > 10'))
        assert refused.value.status == 400
        body = refused.value.body
        assert "at column 25" in (body if isinstance(body, dict) else json.loads(body))["errors"][0]

        assert monitors.delete_monitor(created.id).deleted_monitor_id == created.id
        with pytest.raises(ApiException) as gone:
            monitors.get_monitor(created.id)
        assert gone.value.status == 404

        # The webhook's header value is never answered.
        hook = WebhooksIntegrationApi(api).get_webhooks_integration("secops-hook")
        assert "hook-secret" not in hook.custom_headers
        assert "****1234" in hook.custom_headers


@pytest.mark.parametrize("monitor, error", [
    ({"query": 'audits("x").rollup("count").last("5m") > 10', "options": {"thresholds": {"critical": 10, "warning": 20}}},
     "warning threshold (20) must be below the critical threshold (10)"),
    ({"query": 'audits("x").rollup("count").last("3d") > 10'}, "between 1m and 2d"),
    ({"query": 'audits("x").rollup("count").last("5m") > 10', "message": "@slack-nowhere"}, "unknown notification handle @slack-nowhere"),
    ({"query": 'audits("x").rollup("count").last("5m") > 10', "type": "metric alert"}, "unsupported monitor type"),
    ({"query": 'audits("x").rollup("count").last("5m") > 10', "message": "{{#is_alert}}unclosed"}, "is not closed"),
    ({"query": 'audits("x").rollup("count").last("5m") > 10', "options": {"thresholds": {"critical": 11}}}, "differs from the query's threshold"),
])
def test_malformed_monitors_are_refused_with_the_reason(server, channels, monitor, error):
    body = {"name": "bad", "type": "audit alert", "message": "", **monitor}
    with pytest.raises(urllib.error.HTTPError) as refused:
        call(server, "POST", "/api/v1/monitor", body)
    assert refused.value.code == 400
    assert error in json.loads(refused.value.read())["errors"][0]


def create(server, name, query, message, **options):
    return call(server, "POST", "/api/v1/monitor", {
        "name": name, "type": "audit alert", "query": query, "message": message, "options": options})


def test_seed_spike_of_blocked_decisions_pages_and_resolves(server, channels):
    """"@aegis.decision:BLOCKED > 10 in 5 min", to PagerDuty: a trigger,
    then a resolve of the same incident when the window has passed."""
    monitor = create(server, "Spike in blocked decisions",
                     'audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10',
                     "{{#is_alert}}Blocked decisions spiking {{value}}{{/is_alert}}{{#is_recovery}}Calm again{{/is_recovery}} @pagerduty-oncall")
    # Ten do not cross it; the eleventh does. Stamped so that they leave the window a few seconds later.
    at = stamped(300 - 6)
    send_events(server, [{"ddsource": "aegis", "message": f"blocked {index}", "timestamp": at,
                          "aegis": {"decision": "BLOCKED"}} for index in range(10)])
    time.sleep(1.0)
    assert channels.bodies("/pagerduty") == []
    sent = time.monotonic()
    send_events(server, [{"ddsource": "aegis", "message": "blocked 10", "timestamp": at, "aegis": {"decision": "BLOCKED"}}])
    trigger = channels.wait_for("/pagerduty", 1)[0]
    latency = time.monotonic() - sent
    assert latency < 2.0, latency
    assert trigger["routing_key"] == "routing-key-0123456789"
    assert trigger["event_action"] == "trigger"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "evident"
    assert "Blocked decisions spiking 11" in trigger["payload"]["custom_details"]["message"]
    resolve = channels.wait_for("/pagerduty", 2, timeout=20)[1]
    assert resolve["event_action"] == "resolve"
    assert resolve["dedup_key"] == trigger["dedup_key"]
    assert set(resolve) == {"routing_key", "event_action", "dedup_key"}
    state = call(server, "GET", f"/api/v1/monitor/{monitor['id']}")
    assert state["overall_state"] == "OK"
    # The history is evident's own audit trail.
    history = call(server, "POST", "/api/v2/logs/events/search", {
        "filter": {"query": f"source:evident @evt.name:monitor_alert @asset.id:{monitor['id']}", "from": "now-1h"},
        "sort": "timestamp"})
    transitions = [hit["attributes"]["attributes"]["monitor"]["transition"] for hit in history["data"]]
    assert transitions == ["Triggered", "Recovered"]
    with urllib.request.urlopen(f"{server['base']}/metrics", timeout=30) as response:
        metrics = dict(line.rsplit(" ", 1) for line in response.read().decode().splitlines() if line.startswith("evident_monitor"))
    assert int(metrics["evident_monitors"]) >= 1
    assert int(metrics["evident_monitor_triggers_total"]) >= 2
    assert int(metrics["evident_monitor_notifications_delivered_total"]) >= 2
    assert "evident_monitor_lag_events" in metrics
    # The intake took the posted events apart for the monitors as it parsed them (a batch committed
    # within microseconds of an evaluation step may be read back instead: two batches were sent).
    assert int(metrics["evident_monitor_events_prepared_total"]) >= 1, metrics
    assert "evident_monitor_events_read_back_total" in metrics
    call(server, "DELETE", f"/api/v1/monitor/{monitor['id']}")


def test_seed_vendor_blocks_grouped_by_user_reach_the_webhook(server, channels):
    """"@aegis.destination:VENDOR @aegis.decision:BLOCKED > 5 in 1 hr",
    one alert per user, through Datadog's webhook payload template."""
    monitor = create(server, "Blocked calls to a vendor",
                     'audits("@aegis.destination:VENDOR @aegis.decision:BLOCKED").rollup("count").by("@usr.email").last("1h") > 5',
                     "{{usr.email.name}} was blocked {{value}} times @webhook-secops-hook")
    events = [{"ddsource": "aegis", "message": "blocked", "usr": {"email": email},
               "aegis": {"destination": "VENDOR", "decision": "BLOCKED"}}
              for email, count in [("mallory@example.com", 6), ("alice@example.com", 5)] for _ in range(count)]
    events.append({"ddsource": "aegis", "usr": {"email": "alice@example.com"},
                   "aegis": {"destination": "INTERNAL", "decision": "BLOCKED"}})
    send_events(server, events)
    hook = channels.wait_for("/hook", 1)
    time.sleep(1.5)
    hook = [body for body in channels.bodies("/hook") if body["monitor"] == str(monitor["id"])]
    assert len(hook) == 1, hook
    assert hook[0]["status"] == "Triggered"
    assert hook[0]["scope"] == "usr.email:mallory@example.com"
    assert hook[0]["text"].startswith("mallory@example.com was blocked 6 times")
    with channels.lock:
        headers = [item["headers"] for item in channels.received if item["path"] == "/hook"]
    assert headers[-1]["authorization"] == "Bearer hook-secret-1234"
    assert headers[-1]["x-evident-notification"].startswith(f"{monitor['id']}:")
    call(server, "DELETE", f"/api/v1/monitor/{monitor['id']}")


def test_seed_ingest_stalled_fires_with_no_event_at_all(server, channels):
    """"@event.dataset:aegis.preflight 0 in 30 min": nothing ever arrived,
    so it alerts at once; the first preflight event recovers it."""
    monitor = create(server, "Preflight ingest stalled",
                     'audits("@event.dataset:aegis.preflight").rollup("count").last("30m") < 1',
                     "{{#is_alert}}No preflight event in 30 minutes{{/is_alert}}{{#is_recovery}}Preflight events are back{{/is_recovery}} @slack-secops")
    alert = channels.wait_for("/slack", 1)[-1]
    assert "No preflight event in 30 minutes" in alert["text"]
    assert "[Triggered] Preflight ingest stalled" in alert["text"]
    send_events(server, [{"ddsource": "aegis", "event": {"dataset": "aegis.preflight"}, "aegis": {"actor_id": "agent-1"}}])
    recovery = channels.wait_for("/slack", 2)[-1]
    assert "Preflight events are back" in recovery["text"]
    call(server, "DELETE", f"/api/v1/monitor/{monitor['id']}")


def test_seed_new_actor_fires_once_per_actor_never_for_known_ones(server, channels):
    """"@aegis.actor_id:* @event.dataset:aegis.preflight first-seen new
    actor": the actors of stored history are known at creation."""
    history = stamped(2 * 3600)
    send_events(server, [{"ddsource": "aegis", "timestamp": history + index, "event": {"dataset": "aegis.preflight"},
                          "aegis": {"actor_id": actor}} for index, actor in enumerate(["agent-known", "agent-old"])])
    monitor = create(server, "New preflight actor",
                     'audits("@aegis.actor_id:* @event.dataset:aegis.preflight").new_value("@aegis.actor_id").learning("3h")',
                     "New actor {{new_value}} @webhook-secops-hook")
    events = [{"ddsource": "aegis", "event": {"dataset": "aegis.preflight"}, "aegis": {"actor_id": actor}}
              for actor in ["agent-known", "agent-new", "agent-new", "agent-old", "agent-newer"]]
    send_events(server, events)
    channels.wait_for("/hook", 1)
    time.sleep(1.5)
    texts = sorted(body["text"] for body in channels.bodies("/hook") if body["monitor"] == str(monitor["id"]))
    assert texts == ["New actor agent-new @webhook-secops-hook", "New actor agent-newer @webhook-secops-hook"]
    call(server, "DELETE", f"/api/v1/monitor/{monitor['id']}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(binary, data_dir, *extra):
    env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_LOG="warn")
    process = subprocess.Popen(
        [binary, "serve", "--listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0", "--data-dir", data_dir, *extra],
        stdout=subprocess.PIPE, env=env, text=True)
    for line in process.stdout:
        if line.startswith("evident listening on "):
            return process, {"base": line.split()[3]}
    raise AssertionError("the server did not start")


def test_a_kill_between_trigger_and_delivery_loses_nothing_and_sends_once(server):
    """The receiver is down when the alert fires; the server is killed -9
    while it retries; after the restart the receiver gets it exactly once."""
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        process, node = start(server["binary"], data_dir)
        try:
            call(node, "POST", "/api/v1/integration/pagerduty/configuration/services",
                 {"service_name": "oncall", "service_key": "routing-key-kill", "url": f"http://127.0.0.1:{port}/pagerduty"})
            create(node, "Spike", 'audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10', "spike @pagerduty-oncall")
            send_events(node, [{"ddsource": "aegis", "aegis": {"decision": "BLOCKED"}} for _ in range(11)])
            # The first attempt fails at once (nothing listens); the trigger is in the outbox.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                failed = call(node, "POST", "/api/v2/logs/events/search", {
                    "filter": {"query": "source:evident @evt.name:monitor_notification @action:failed", "from": "now-1h"}})
                if failed["data"]:
                    break
                time.sleep(0.1)
            assert failed["data"], "a failed attempt was recorded"
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        receiver = Receiver(port)
        try:
            process, node = start(server["binary"], data_dir)
            try:
                pages = receiver.wait_for("/pagerduty", 1)
                time.sleep(3.0)
                pages = receiver.bodies("/pagerduty")
                assert len(pages) == 1, pages
                assert pages[0]["event_action"] == "trigger"
                assert pages[0]["routing_key"] == "routing-key-kill"
                monitors = call(node, "GET", "/api/v1/monitor")
                assert monitors[0]["overall_state"] == "Alert"
                assert monitors[0]["last_notification"]["ok"] is True
            finally:
                process.terminate()
                process.wait(timeout=30)
        finally:
            receiver.close()


def test_the_command_line_creates_lists_mutes_and_deletes(server, channels):
    env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_SERVER=server["base"])

    def evident(*args):
        return subprocess.run([server["binary"], "monitor", *args], env=env, capture_output=True, text=True, timeout=60)

    created = evident("create", "--name", "Spike in blocked decisions (cli)",
                      "--query", 'audits("@aegis.decision:BLOCKED @usr.email:cli@example.com").rollup("count").last("5m") > 10',
                      "--message", "Blocked decisions spiking {{value}} @slack-secops", "--tag", "via:cli")
    assert created.returncode == 0, created.stderr
    monitor_id = created.stdout.split()[2]
    stalled = evident("create", "--name", "Stalled (cli)", "--query",
                      'audits("@event.dataset:nothing.ever").rollup("count").last("30m") < 1', "--tag", "via:cli")
    assert stalled.returncode == 0, stalled.stderr
    time.sleep(1.5)
    listed = evident("list", "--tags", "via:cli")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "TYPE", "STATE", "LAST", "TRIGGERED"]
    spike = next(line for line in lines if "Spike in blocked decisions (cli)" in line)
    assert "threshold" in spike and "OK" in spike and spike.rstrip().endswith("-")
    stalled_line = next(line for line in lines if "Stalled (cli)" in line)
    assert "no data" in stalled_line and "Alert" in stalled_line
    assert evident("mute", monitor_id).returncode == 0
    assert "OK (muted)" in evident("list", "--tags", "via:cli").stdout
    refused = evident("create", "--name", "x", "--query", 'audits("x").rollup("count").last("5m") >')
    assert refused.returncode == 2
    assert "expected a number after the comparison" in refused.stderr
    for line in lines[1:]:
        assert evident("delete", line.split()[0]).returncode == 0
    assert evident("list", "--tags", "via:cli").stdout.splitlines()[1:] == []


def test_windows_and_learned_values_survive_a_restart(server):
    """Six events before a restart and five after cross "> 10 in 5m"; a
    value learned before the restart is not new after it."""
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            process, node = start(server["binary"], data_dir)
            try:
                call(node, "POST", "/api/v1/integration/webhooks/configuration/webhooks",
                     {"name": "hook", "url": receiver.url("/hook"), "payload": json.dumps({"text": "$TEXT_ONLY_MSG"})})
                create(node, "Spike", 'audits("@aegis.decision:BLOCKED").rollup("count").last("5m") > 10', "spike {{value}} @webhook-hook")
                create(node, "New actor", 'audits("@aegis.actor_id:*").new_value("@aegis.actor_id").learning("1s")',
                       "new {{new_value}} @webhook-hook")
                send_events(node, [{"aegis": {"actor_id": "first"}}])
                time.sleep(1.5)
                send_events(node, [{"aegis": {"decision": "BLOCKED", "actor_id": "known"}} for _ in range(6)])
                receiver.wait_for("/hook", 1)
                time.sleep(1.0)
            finally:
                process.terminate()
                process.wait(timeout=30)
            assert [body["text"] for body in receiver.bodies("/hook")] == ["new known @webhook-hook"]
            process, node = start(server["binary"], data_dir)
            try:
                send_events(node, [{"aegis": {"decision": "BLOCKED", "actor_id": "known"}} for _ in range(5)])
                receiver.wait_for("/hook", 2)
                time.sleep(1.0)
                texts = [body["text"] for body in receiver.bodies("/hook")]
                assert texts == ["new known @webhook-hook", "spike 11 @webhook-hook"], texts
            finally:
                process.terminate()
                process.wait(timeout=30)
    finally:
        receiver.close()


SHARED = os.environ.get("EVIDENT_SHARED_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))


def cloudtrail_files_in_time_order():
    """Every CloudTrail log file of the shared data (not digests), by the
    time of its first record."""
    import glob
    import gzip as gz
    root = os.path.join(SHARED, "data", "aws-cloudtrail")
    files = []
    for path in glob.glob(os.path.join(root, "**", "*.json*"), recursive=True):
        opener = gz.open if path.endswith(".gz") else open
        with opener(path, "rt") as handle:
            text = handle.read()
        try:
            records = json.loads(text).get("Records")
        except (json.JSONDecodeError, AttributeError):
            records = [json.loads(line) for line in text.splitlines() if line.strip()]
        times = [record["eventTime"] for record in records or [] if isinstance(record, dict) and "eventTime" in record]
        if times:
            files.append((min(times), path))
    return [path for _, path in sorted(files)]


def scopes_of(receiver, monitor):
    """The groups `monitor` notified the receiver of."""
    return [body["scope"] for body in receiver.bodies("/hook") if body["monitor"] == str(monitor["id"])]


def in_log_order(node, query):
    """The events matching `query` as the log holds them, oldest first (live tail from position 0)."""
    events, position = [], 0
    while True:
        page = call(node, "POST", "/api/v1/live", {"query": query, "position": position, "limit": 1000})
        events.extend(page["data"])
        if not page["data"]:
            return events
        position = page["meta"]["position"]


def test_imported_cloudtrail_history_alerts_once_per_new_user_and_once_per_group(server):
    """Every CloudTrail file of the shared data imported in time order:
    a new-value monitor on @usr.name fires exactly once per name first seen
    after the 30-day learning period (counted here from the stored events
    in log order), and a threshold monitor grouped by user raises at most
    one alert per user for the whole backfill."""
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            process, node = start(server["binary"], data_dir)
            try:
                call(node, "POST", "/api/v1/integration/webhooks/configuration/webhooks",
                     {"name": "hook", "url": receiver.url("/hook"),
                      "payload": json.dumps({"monitor": "$ALERT_ID", "text": "$TEXT_ONLY_MSG", "scope": "$ALERT_SCOPE"})})
                new_user = create(node, "New IAM user name",
                                  'audits("source:cloudtrail @usr.name:*").new_value("@usr.name").learning("30d")',
                                  "{{new_value}} @webhook-hook")
                busy = create(node, "Busy user", 'audits("source:cloudtrail").rollup("count").by("@usr.name").last("1h") > 2',
                              "{{usr.name}} {{value}} @webhook-hook")
                files = cloudtrail_files_in_time_order()
                assert len(files) >= 70
                env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY)
                imported = subprocess.run([server["binary"], "import", "cloudtrail", *files, "--server", node["base"]],
                                          env=env, capture_output=True, text=True, timeout=300)
                assert imported.returncode in (0, 1), imported.stderr

                # The expected new names, from the stored events in the order the monitor saw them.
                learning = 30 * 86400 * 1000
                learning_until, known, expected = None, set(), []
                for hit in in_log_order(node, "source:cloudtrail @usr.name:*"):
                    at = int(time.mktime(time.strptime(hit["attributes"]["timestamp"][:19], "%Y-%m-%dT%H:%M:%S")) * 1000) - time.timezone * 1000
                    names = hit["attributes"]["attributes"]["usr"]["name"]
                    for name in names if isinstance(names, list) else [names]:
                        name = str(name)
                        if learning_until is None:
                            learning_until = at + learning
                        if name not in known and at > learning_until:
                            expected.append(name)
                        known.add(name)
                assert expected, "the data has names first seen after the learning period"

                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    got = [body["text"].split(" @")[0] for body in receiver.bodies("/hook") if body["monitor"] == str(new_user["id"])]
                    if len(got) >= len(expected):
                        break
                    time.sleep(0.2)
                time.sleep(2.0)
                got = [body["text"].split(" @")[0] for body in receiver.bodies("/hook") if body["monitor"] == str(new_user["id"])]
                assert sorted(got) == sorted(expected)

                scopes = scopes_of(receiver, busy)
                assert scopes, "the backfill holds bursts of more than 2 calls an hour by one user"
                assert len(scopes) == len(set(scopes)), scopes
                alerts = call(node, "POST", "/api/v2/logs/events/search", {
                    "filter": {"query": f"source:evident @evt.name:monitor_alert @monitor.id:{busy['id']}", "from": "now-1h"},
                    "page": {"limit": 1000}})
                transitions = [hit["attributes"]["attributes"]["monitor"]["transition"] for hit in alerts["data"]]
                assert transitions.count("Triggered") == len(scopes)
            finally:
                process.terminate()
                process.wait(timeout=30)
    finally:
        receiver.close()


def own_events(node, query):
    return call(node, "POST", "/api/v2/logs/events/search", {
        "filter": {"query": f"source:evident {query}", "from": "now-1h"}, "sort": "timestamp", "page": {"limit": 1000}})["data"]


def test_a_failing_channel_is_retried_and_a_hanging_one_delays_no_other(server):
    """A receiver answering 500 twice gets the notification on the third
    attempt (each attempt recorded); a receiver that never answers holds
    back neither another monitor's alert nor ingest."""
    receiver = Receiver()
    receiver.failures_left = {"/flaky": 2}
    receiver.hang_on = "/hang"
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            process, node = start(server["binary"], data_dir)
            try:
                for name, path in [("flaky", "/flaky"), ("stuck", "/hang"), ("healthy", "/healthy")]:
                    call(node, "POST", "/api/v1/integration/webhooks/configuration/webhooks",
                         {"name": name, "url": receiver.url(path), "payload": json.dumps({"text": "$TEXT_ONLY_MSG"})})
                flaky = create(node, "Flaky", 'audits("@evt.name:flaky").rollup("count").last("5m") > 0', "flaky @webhook-flaky")
                create(node, "Stuck", 'audits("@evt.name:stuck").rollup("count").last("5m") > 0', "stuck @webhook-stuck")
                create(node, "Healthy", 'audits("@evt.name:healthy").rollup("count").last("5m") > 0', "healthy @webhook-healthy")

                send_events(node, [{"evt": {"name": "stuck"}}])
                time.sleep(0.5)
                sent = time.monotonic()
                send_events(node, [{"evt": {"name": "healthy"}}])
                receiver.wait_for("/healthy", 1, timeout=5)
                assert time.monotonic() - sent < 2.0

                send_events(node, [{"evt": {"name": "flaky"}}])
                receiver.wait_for("/flaky", 1, timeout=20)
                attempts = [hit["attributes"]["attributes"]["notification"] for hit in own_events(
                    node, f"@evt.name:monitor_notification @monitor.id:{flaky['id']}")]
                assert [attempt["attempt"] for attempt in attempts] == [1, 2, 3]
                assert [attempt["status_code"] for attempt in attempts] == [500, 500, 202]
                state = call(node, "GET", f"/api/v1/monitor/{flaky['id']}")
                assert state["last_notification"]["ok"] is True
            finally:
                process.terminate()
                process.wait(timeout=30)
    finally:
        receiver.close()


def test_email_reaches_a_real_smtp_server(server):
    """`@secops@example.com` through aiosmtpd, parsed and checked."""
    from email import message_from_bytes
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, smtp, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            process, node = start(server["binary"], data_dir, "--smtp-url", f"smtp://127.0.0.1:{port}",
                                  "--smtp-from", "evident@alerts.example.com")
            try:
                create(node, "Root console login",
                       'audits("@evt.name:ConsoleLogin @usr.name:root").rollup("count").last("5m") > 0',
                       "{{#is_alert}}Root signed in to the console ({{value}} times){{/is_alert}} @secops@example.com")
                send_events(node, [{"evt": {"name": "ConsoleLogin"}, "usr": {"name": "root"}}])
                deadline = time.monotonic() + 10
                while not inbox.messages and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert len(inbox.messages) == 1
                envelope = inbox.messages[0]
                assert envelope.mail_from == "evident@alerts.example.com"
                assert envelope.rcpt_tos == ["secops@example.com"]
                message = message_from_bytes(envelope.content)
                assert message["Subject"] == "[Triggered] Root console login"
                assert message["To"] == "secops@example.com"
                body = message.get_payload(decode=True).decode()
                assert "Root signed in to the console (1 times)" in body
                assert 'Query: audits("@evt.name:ConsoleLogin @usr.name:root")' in body
                # Without an SMTP server, an address is an unknown handle.
            finally:
                process.terminate()
                process.wait(timeout=30)
        with pytest.raises(urllib.error.HTTPError) as refused:
            create(server, "x", 'audits("x").rollup("count").last("5m") > 0', "@secops@example.com")
        assert "no SMTP server is configured" in json.loads(refused.value.read())["errors"][0]
    finally:
        controller.stop()


def test_ten_thousand_monitors_are_kept_and_evaluated_and_one_more_is_refused(server):
    """10,000 monitors (the bound): each made, all listed, evaluated on the
    next event within seconds; the 10,001st is refused with the reason."""
    receiver = Receiver()
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            process, node = start(server["binary"], data_dir)
            try:
                call(node, "POST", "/api/v1/integration/webhooks/configuration/webhooks",
                     {"name": "hook", "url": receiver.url("/hook"), "payload": json.dumps({"text": "$TEXT_ONLY_MSG"})})
                url = urlparse(node["base"])
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
                headers = {"DD-API-KEY": API_KEY, "DD-APPLICATION-KEY": APP_KEY, "Content-Type": "application/json"}
                for index in range(10_000):
                    kind = index % 4
                    query = [
                        f'audits("@evt.name:name{index % 500} @usr.id:u{index}").rollup("count").last("5m") > 0',
                        f'audits("@evt.name:name{index % 500}").rollup("count").by("@usr.id").last("15m") > 1000',
                        f'audits("@evt.name:name{index % 500}").new_value("@usr.id")',
                        f'audits("@evt.name:name{index % 500} service:s{index}").rollup("count").last("1h") > 1000',
                    ][kind]
                    body = {"name": f"monitor {index}", "type": "audit alert", "query": query,
                            "message": "{{value}} @webhook-hook" if kind == 0 else ""}
                    connection.request("POST", "/api/v1/monitor", json.dumps(body), headers)
                    response = connection.getresponse()
                    text = response.read()
                    assert response.status == 200, (index, response.status, text)
                connection.request("POST", "/api/v1/monitor", json.dumps({
                    "name": "one too many", "type": "audit alert", "query": 'audits("x").rollup("count").last("5m") > 0'}), headers)
                response = connection.getresponse()
                assert response.status == 400
                assert "at most 10000 monitors" in json.loads(response.read())["errors"][0]
                assert len(call(node, "GET", "/api/v1/monitor")) == 10_000
                sent = time.monotonic()
                send_events(node, [{"evt": {"name": "name8"}, "usr": {"id": "u8"}}])  # monitor 8 counts it
                received = receiver.wait_for("/hook", 1, timeout=10)
                assert time.monotonic() - sent < 5.0
                assert received[0]["text"] == "1 @webhook-hook"
            finally:
                process.terminate()
                process.wait(timeout=60)
    finally:
        receiver.close()
