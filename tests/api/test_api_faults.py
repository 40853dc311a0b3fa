"""Each fault the sandbox injects, and what the client does about it."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from api_testkit import FIRST_DAY, LAST_DAY, make_client
from report_polling import ready_report
from urllib3.util import Retry

from sales_mart.api_client import (
    IncompleteDownload,
    IncrementNotFound,
    MalformedResponse,
    ReportApiError,
    ReportRequestUncertain,
    RetriesExhausted,
    TryAgainLater,
    default_retry,
)

DAY = FIRST_DAY + dt.timedelta(days=2)


def only_file(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_on_a_get_are_retried_by_urllib3_until_success(api, client, report, status):
    api.set_faults({"endpoints": {"get_increment": [{"status": status, "times": 2}]}})
    assert client.get_increment(report.report_id, DAY).date == DAY
    assert api.request_counts["get_increment"] == 3


@pytest.mark.parametrize("status", [429, 503])
def test_a_refused_report_request_is_not_repeated_inside_the_call(api, client, status):
    """POST /generate_report is not idempotent: the client sends it once and says the caller
    may try again (the API refused, so no report was started)."""
    api.set_faults({"endpoints": {"generate_report": [{"status": status, "times": 1}]}})
    with pytest.raises(TryAgainLater, match=f"HTTP {status}.*no report was started"):
        client.generate_report()
    assert api.request_counts["generate_report"] == 1


def test_a_report_request_without_answer_is_not_repeated(api):
    """The request reached the API but no answer came: a report may be running there. The
    client does not send a second one; the error says so."""
    with make_client(api.base_url, read_timeout=0.3) as client:
        api.set_faults({"endpoints": {"generate_report": [{"delay": 1.0, "times": 1}]}})
        with pytest.raises(ReportRequestUncertain, match="may have reached the API"):
            client.generate_report()
    assert api.request_counts["generate_report"] == 1


def test_persistent_server_error_fails_after_the_allowed_attempts(api, client, report):
    api.set_faults({"endpoints": {"get_increment": [{"status": 503, "times": "always"}]}})
    with pytest.raises(RetriesExhausted) as caught:
        client.get_increment(report.report_id, DAY)
    assert "after 4 attempts" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert api.request_counts["get_increment"] == 4


def recording_retry(waits: list, **kwargs) -> Retry:
    """``default_retry`` that notes each Retry-After wait urllib3 takes (a spy, not a stand-in:
    urllib3 still sleeps)."""

    class Recording(Retry):
        def sleep_for_retry(self, response):
            waits.append(self.get_retry_after(response))
            return super().sleep_for_retry(response)

    return default_retry(cls=Recording, **kwargs)


def test_429_retry_after_is_honoured_up_to_the_cap(api):
    waits = []
    retry = recording_retry(waits, total=3, backoff_factor=0.01, retry_after_max=1)
    with make_client(api.base_url, retry=retry) as client:
        api.set_faults({"endpoints": {"get_report": [{"status": 429, "retry_after": 1},
                                                     {"status": 503, "retry_after": 60}]}})
        task_id = client.generate_report()
        report = ready_report(client, task_id)
    assert report.report_id
    assert waits == [1, 1]  # the server's Retry-After; 60 s capped at retry_after_max


def test_slow_answer_times_out_then_retry_succeeds(api, report):
    with make_client(api.base_url, read_timeout=0.3) as client:
        api.set_faults({"endpoints": {"get_increment": [{"delay": 1.0, "times": 1}]}})
        assert client.get_increment(report.report_id, DAY).date == DAY
    assert api.request_counts["get_increment"] == 2


def test_always_slow_answer_fails_with_timeout(api, report):
    retry = default_retry(total=1, backoff_factor=0.01)
    with make_client(api.base_url, read_timeout=0.2, retry=retry) as client:
        api.set_faults({"endpoints": {"get_increment": [{"delay": 0.6, "times": "always"}]}})
        with pytest.raises(RetriesExhausted, match="timed out"):
            client.get_increment(report.report_id, DAY)
    assert api.request_counts["get_increment"] == 2


def test_a_running_report_is_none_until_ready(api, client):
    """One poll per call, no waiting inside the client: waiting is the sensor's job."""
    api.set_faults({"stuck_running": True})
    task_id = client.generate_report()
    assert [client.get_report(task_id) for _ in range(3)] == [None, None, None]
    assert api.request_counts["get_report"] == 3


def test_running_polls_are_configurable(api, client):
    api.set_faults({"running_polls": 5})
    ready_report(client, client.generate_report())
    assert api.request_counts["get_report"] == 6


def test_not_found_for_chosen_dates(api, client, report):
    api.set_faults({"not_found_dates": [str(DAY)]})
    with pytest.raises(IncrementNotFound) as caught:
        client.get_increment(report.report_id, DAY)
    assert caught.value.date == DAY
    assert "injected" in caught.value.reason
    assert client.get_increment(report.report_id, LAST_DAY).date == LAST_DAY


@pytest.mark.parametrize("body", ["<html>Bad gateway</html>", json.dumps({"status": "OK"}),
                                  json.dumps({"tusk_id": "x"})])
def test_malformed_answers_quote_the_body(api, client, body):
    api.set_faults({"endpoints": {"generate_report": [{"body": body}]}})
    with pytest.raises(MalformedResponse) as caught:
        client.generate_report()
    assert body[:10].strip("{") in str(caught.value)


def test_malformed_increment_answer_lacking_files(api, client, report):
    body = json.dumps({"report_id": report.report_id, "date": f"{DAY} 00:00:00",
                       "status": "SUCCESS", "data": {"increment_id": "x"}})
    api.set_faults({"endpoints": {"get_increment": [{"body": body}]}})
    with pytest.raises(MalformedResponse, match="s3_path"):
        client.get_increment(report.report_id, DAY)


def test_other_client_errors_fail_at_once(api, client):
    with pytest.raises(ReportApiError, match="HTTP 404") as caught:
        client.get_increment("no-such-report", DAY)
    assert not isinstance(caught.value, RetriesExhausted)
    assert api.request_counts["get_increment"] == 1


def test_download_cut_off_fails_for_the_caller_to_try_again(api, client, report, tmp_path):
    """A transfer cut in the middle is not repeated inside the call (the Airflow task retry is
    the layer for it); nothing is left behind, and the next try gets the whole file."""
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    reference = client.download(url, tmp_path / "reference.csv")
    api.set_faults({"endpoints": {"download": [{"cut_off": 0.5, "times": 1}]}})
    with pytest.raises(IncompleteDownload) as caught:
        client.download(url, tmp_path / "retried.csv")
    assert isinstance(caught.value, TryAgainLater)
    assert only_file(tmp_path) == ["reference.csv"]
    result = client.download(url, tmp_path / "retried.csv")
    assert api.request_counts["download"] == 2
    assert (result.bytes, result.sha256, result.rows) == (
        reference.bytes, reference.sha256, reference.rows)
    assert only_file(tmp_path) == ["reference.csv", "retried.csv"]


def test_download_always_cut_off_fails_and_leaves_nothing(api, client, report, tmp_path):
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    api.set_faults({"endpoints": {"download": [{"cut_off": 0.3, "times": "always"}]}})
    dest = tmp_path / "out" / "inc.csv"
    with pytest.raises(IncompleteDownload) as caught:
        client.download(url, dest)
    assert "interrupted" in str(caught.value) or "Content-Length" in str(caught.value)
    assert only_file(dest.parent) == []  # neither the file nor a temporary part


def test_download_server_error_then_success(api, client, report, tmp_path):
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    api.set_faults({"endpoints": {"download": [{"status": 503, "retry_after": 0}]}})
    assert client.download(url, tmp_path / "inc.csv").rows > 0
    assert api.request_counts["download"] == 2


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        return next(reader, None), list(reader)


def test_malformed_rows_file(api, client, report, tmp_path):
    api.set_faults({"file_faults": {str(DAY): "malformed"}})
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    result = client.download(url, tmp_path / "bad.csv")
    header, rows = _rows(result.path)

    def is_valid(row):
        if len(row) != len(header):
            return False
        try:
            dt.date.fromisoformat(row[2][:10])
            return int(row[10]) > 0 and float(row[11]) > 0 and row[5] != ""
        except ValueError:
            return False

    bad = [row for row in rows if not is_valid(row)]
    assert 3 <= len(bad) <= 10  # a handful, among hundreds of good rows
    assert len(rows) == result.rows > 100


def test_empty_and_zero_byte_files(api, client, report, tmp_path):
    day2 = DAY + dt.timedelta(days=1)
    api.set_faults({"file_faults": {str(DAY): "empty", str(day2): "zero_bytes"}})
    empty = client.download(client.get_increment(report.report_id, DAY)
                            .files["user_order_log_inc"], tmp_path / "empty.csv")
    zero = client.download(client.get_increment(report.report_id, day2)
                           .files["user_order_log_inc"], tmp_path / "zero.csv")
    assert (empty.rows, empty.bytes > 0) == (0, True)
    assert _rows(empty.path)[0][-1] == "status"
    assert (zero.rows, zero.bytes) == (0, 0)


def test_file_with_three_customers(api, client, report, tmp_path):
    api.set_faults({"file_faults": {str(DAY): "few_customers"}})
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    _, rows = _rows(client.download(url, tmp_path / "few.csv").path)
    assert len(rows) > 100
    assert len({row[5] for row in rows}) <= 3


def test_fault_config_can_be_replaced_over_http(api):
    import requests
    from api_testkit import API_KEY, COHORT, NICKNAME

    headers = {"X-API-KEY": API_KEY, "X-Nickname": NICKNAME, "X-Cohort": COHORT,
               "X-Project": "True"}
    plan = {"endpoints": {"generate_report": [{"status": 500, "times": 1}]}}
    answer = requests.put(f"{api.base_url}/_sandbox/faults", json=plan, headers=headers,
                          timeout=5)
    assert answer.status_code == 200
    assert requests.post(f"{api.base_url}/generate_report", headers=headers,
                         timeout=5).status_code == 500
    bad = requests.put(f"{api.base_url}/_sandbox/faults", json={"endpoints": {"nope": []}},
                       headers=headers, timeout=5)
    assert bad.status_code == 400 and "unknown endpoint" in bad.json()["detail"]


def test_a_body_fault_with_a_status_and_repeated(api):
    import requests
    from api_testkit import API_KEY, COHORT, NICKNAME

    headers = {"X-API-KEY": API_KEY, "X-Nickname": NICKNAME, "X-Cohort": COHORT,
               "X-Project": "True"}
    api.set_faults({"endpoints": {"generate_report": [
        {"status": 401, "body": '{"detail": "no"}'},
        {"body": "ab", "repeat": 3},
        {"status": 400, "body": "xyz", "repeat": 2}]}})
    answers = [requests.post(f"{api.base_url}/generate_report", headers=headers, timeout=5)
               for _ in range(3)]
    assert [(a.status_code, a.text) for a in answers] == [
        (401, '{"detail": "no"}'), (200, "ababab"), (400, "xyzxyz")]
    with pytest.raises(ValueError, match="repeat"):
        api.set_faults({"endpoints": {"get_report": [{"status": 400, "repeat": 2}]}})
