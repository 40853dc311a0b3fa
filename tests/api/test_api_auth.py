"""The key: wrong or missing keys are refused, and the key never leaks into logs, errors or
reprs; the client is configured from an Airflow connection."""

from __future__ import annotations

import json
import logging

import pytest
import requests
from api_testkit import API_KEY, COHORT, FIRST_DAY, NICKNAME, Catcher, make_client
from report_polling import ready_report

from sales_mart.api_client import (
    AuthError,
    ConfigError,
    IncrementNotFound,
    ReportApiClient,
    ReportApiError,
    RetriesExhausted,
)

HEADERS = {"X-Nickname": NICKNAME, "X-Cohort": COHORT, "X-Project": "True"}


def test_server_refuses_missing_and_wrong_keys(api):
    missing = requests.post(f"{api.base_url}/generate_report", headers=HEADERS, timeout=5)
    wrong = requests.post(f"{api.base_url}/generate_report",
                          headers={**HEADERS, "X-API-KEY": "not-the-key"}, timeout=5)
    right = requests.post(f"{api.base_url}/generate_report",
                          headers={**HEADERS, "X-API-KEY": API_KEY}, timeout=5)
    assert (missing.status_code, wrong.status_code, right.status_code) == (401, 403, 200)
    no_nickname = requests.post(f"{api.base_url}/generate_report",
                                headers={"X-API-KEY": API_KEY, "X-Cohort": COHORT,
                                         "X-Project": "True"}, timeout=5)
    assert no_nickname.status_code == 400


def test_client_with_wrong_key_fails_at_once_saying_what_to_fix(api):
    with make_client(api.base_url, api_key="wrong-key-123") as client:
        with pytest.raises(AuthError) as caught:
            client.generate_report()
    message = str(caught.value)
    assert "403" in message and "API key" in message and "sales_api" in message
    assert "wrong-key-123" not in message
    assert api.request_counts["generate_report"] == 1  # not retried


def test_key_never_appears_in_logs_errors_or_repr(api, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # everything: our logger, urllib3, uvicorn
    api.set_faults({"endpoints": {
        "get_report": [{"status": 503, "times": 1}],
        "get_increment": [{"body": json.dumps({"echo": API_KEY})}],
    }})
    errors = []
    with make_client(api.base_url) as client:
        report = ready_report(client, client.generate_report())
        try:
            client.get_increment(report.report_id, FIRST_DAY)  # a body that echoes the key
        except Exception as exc:  # noqa: BLE001 - any error text is checked below
            errors.append(exc)
        increment = client.get_increment(report.report_id, FIRST_DAY)
        client.download(increment.files["user_order_log_inc"], tmp_path / "f.csv")
        try:
            client.get_increment(report.report_id, "2023-01-01")
        except IncrementNotFound as exc:
            errors.append(exc)
        errors.append(repr(client))
    with make_client(api.base_url, api_key=API_KEY + "-bad") as bad:
        with pytest.raises(AuthError) as caught:
            bad.generate_report()
        errors.append(caught.value)
        errors.append(repr(bad))

    assert len(errors) == 5
    assert caplog.records, "nothing was logged"
    assert API_KEY not in caplog.text
    for error in errors:
        assert API_KEY not in str(error) and API_KEY not in repr(error)


class AirflowLikeConnection:
    """What the client reads of airflow.models.Connection (used when Airflow is absent)."""

    def __init__(self, host, password=None, schema=None, port=None, extra=None):
        self.host, self.password, self.schema, self.port = host, password, schema, port
        self.extra_dejson = extra or {}


def _connection(**kwargs):
    """A real Airflow Connection when Airflow imports, else the same attributes."""
    try:
        from airflow.models.connection import Connection
    except Exception:  # noqa: BLE001 - Airflow is optional for these tests
        return AirflowLikeConnection(**kwargs)
    extra = kwargs.pop("extra", None)
    return Connection(conn_id="sales_api", conn_type="http",
                      extra=json.dumps(extra) if extra else None, **kwargs)


def test_from_airflow_connection_with_url_host(api):
    conn = _connection(host=api.base_url, password=API_KEY,
                       extra={"nickname": NICKNAME, "cohort": COHORT})
    with ReportApiClient.from_airflow_connection(conn) as client:
        assert client.base_url == api.base_url
        assert client.generate_report()
        assert API_KEY not in repr(client)


def test_from_airflow_connection_with_schema_host_port_and_extra_key(api):
    conn = _connection(host=api.host, schema="http", port=api.port,
                       extra={"nickname": NICKNAME, "cohort": 7, "api_key": API_KEY,
                              "read_timeout": 3})
    with ReportApiClient.from_airflow_connection(conn) as client:
        assert client.base_url == api.base_url
        assert client.read_timeout == 3.0
        assert client.generate_report()


def test_from_airflow_connection_names_what_is_missing():
    conn = AirflowLikeConnection(host="https://reports.example.net", password="k",
                                 extra={"cohort": "1"})
    with pytest.raises(ConfigError, match="nickname"):
        ReportApiClient.from_airflow_connection(conn)
    with pytest.raises(ConfigError, match="host"):
        ReportApiClient.from_airflow_connection(AirflowLikeConnection(host=""))


def test_unreachable_server_fails_after_bounded_retries():
    # a closed port on 127.0.0.1: connection refused every time
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with make_client(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(RetriesExhausted, match="after 4 attempts"):
            client.generate_report()


@pytest.mark.parametrize("endpoint", ["generate_report", "get_report"])
def test_a_redirect_to_another_host_is_refused_and_the_key_stays_home(api, endpoint):
    catcher = Catcher()
    try:
        api.set_faults({"endpoints": {endpoint: [{"redirect_to": catcher.url,
                                                  "times": "always"}]}})
        with make_client(api.base_url) as client, pytest.raises(ReportApiError) as caught:
            if endpoint == "generate_report":
                client.generate_report()
            else:
                client.get_report("some-task")
    finally:
        catcher.close()
    assert catcher.requests == []  # nothing reached the other host, with or without the key
    message = str(caught.value)
    assert "redirect" in message and "127.0.0.2" in message and "refused" in message
    assert API_KEY not in message


@pytest.mark.parametrize("url, allowed", [
    ("https://reports.example.net", True),
    ("http://reports.example.net", False),
    ("http://10.1.2.3:8000", False),
    ("http://127.0.0.1:8000", True),
    ("http://localhost:8000", True),
    ("http://[::1]:8000", True),
    ("ftp://reports.example.net", False),
])
def test_the_key_goes_over_https_except_to_loopback(url, allowed):
    if allowed:
        ReportApiClient(url, API_KEY, NICKNAME, COHORT).close()
    else:
        with pytest.raises(ConfigError, match="https") as caught:
            ReportApiClient(url, API_KEY, NICKNAME, COHORT)
        assert API_KEY not in str(caught.value)


def test_plain_http_to_a_private_sandbox_needs_the_explicit_extra():
    conn = AirflowLikeConnection(host="http://sandbox-api:8000", password=API_KEY,
                                 extra={"nickname": NICKNAME, "cohort": COHORT})
    with pytest.raises(ConfigError, match="allow_http"):
        ReportApiClient.from_airflow_connection(conn)
    conn.extra_dejson["allow_http"] = True
    ReportApiClient.from_airflow_connection(conn).close()
