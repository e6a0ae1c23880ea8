"""The official Python Datadog client against evident: submit logs (plain
and gzip), list and page through them, search audit events."""

import subprocess

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.exceptions import ApiException
from datadog_api_client.v2.api.audit_api import AuditApi
from datadog_api_client.v2.api.logs_api import LogsApi
from datadog_api_client.v2.model.audit_logs_query_filter import AuditLogsQueryFilter
from datadog_api_client.v2.model.audit_logs_search_events_request import AuditLogsSearchEventsRequest
from datadog_api_client.v2.model.content_encoding import ContentEncoding
from datadog_api_client.v2.model.http_log import HTTPLog
from datadog_api_client.v2.model.http_log_item import HTTPLogItem
from datadog_api_client.v2.model.logs_list_request import LogsListRequest
from datadog_api_client.v2.model.logs_list_request_page import LogsListRequestPage
from datadog_api_client.v2.model.logs_query_filter import LogsQueryFilter
from datadog_api_client.v2.model.logs_sort import LogsSort

from conftest import API_KEY, APP_KEY


def configuration(server, api_key=API_KEY):
    config = Configuration(host=server["base"])
    config.api_key["apiKeyAuth"] = api_key
    config.api_key["appKeyAuth"] = APP_KEY
    return config


def item(n, marker):
    return HTTPLogItem(
        ddsource="python",
        ddtags=f"env:test,marker:{marker}",
        hostname="client-host",
        message=f"client event {n} for {marker}",
        service="client-svc",
        usr={"email": f"user{n % 3}@example.com"},
        evt={"name": "Request"},
    )


def test_submit_plain_and_gzip_then_list(server):
    with ApiClient(configuration(server)) as client:
        logs = LogsApi(client)
        logs.submit_log(body=HTTPLog([item(n, "plain") for n in range(5)]))
        logs.submit_log(content_encoding=ContentEncoding.GZIP, body=HTTPLog([item(n, "gzip") for n in range(7)]))
        logs.submit_log(content_encoding=ContentEncoding.DEFLATE, body=HTTPLog([item(n, "deflate") for n in range(2)]))

        response = logs.list_logs(
            body=LogsListRequest(
                filter=LogsQueryFilter(query="service:client-svc marker:gzip", _from="now-15m", to="now"),
                sort=LogsSort.TIMESTAMP_DESCENDING,
                page=LogsListRequestPage(limit=100),
            )
        )
        assert len(response.data) == 7
        first = response.data[0]
        assert str(first.type) == "log"
        assert first.attributes.service == "client-svc"
        assert first.attributes.host == "client-host"
        assert "source:python" in first.attributes.tags
        assert first.attributes.attributes["usr"]["email"].endswith("@example.com")

        # The client's own pagination follows meta.page.after to the end.
        pages = list(
            logs.list_logs_with_pagination(
                body=LogsListRequest(
                    filter=LogsQueryFilter(query="@evt.name:Request", _from="now-15m", to="now"),
                    page=LogsListRequestPage(limit=3),
                )
            )
        )
        assert len(pages) == 14
        assert len({event.id for event in pages}) == 14


def test_audit_search_and_errors(server):
    with ApiClient(configuration(server)) as client:
        audit = AuditApi(client)
        response = audit.search_audit_logs(
            body=AuditLogsSearchEventsRequest(
                filter=AuditLogsQueryFilter(query="@usr.email:user1@example.com marker:plain", _from="now-15m", to="now")
            )
        )
        assert all(str(event.type) == "audit" for event in response.data)
        assert len(response.data) == 2

        try:
            audit.search_audit_logs(body=AuditLogsSearchEventsRequest(filter=AuditLogsQueryFilter(query="@usr.email:")))
        except ApiException as error:
            assert error.status == 400
            assert "at column 12" in str(error.body)
        else:
            raise AssertionError("a query that does not parse is a 400")

    with ApiClient(configuration(server, api_key="wrong")) as client:
        try:
            LogsApi(client).submit_log(body=HTTPLog([item(0, "rejected")]))
        except ApiException as error:
            assert error.status == 403
        else:
            raise AssertionError("a wrong API key is a 403")


def test_verify_after_client_traffic(server):
    # verify reads the data directory while the server runs.
    result = subprocess.run(
        [server["binary"], "verify", "--data-dir", server["data_dir"]], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
