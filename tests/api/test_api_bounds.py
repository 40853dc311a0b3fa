"""Issue 16 item 6: where the client lets a hostile API take it. Downloads only over https
(plain http from a loopback host in dev, or from the API's own host with ``allow_http``),
redirects limited the same way and bounded in number; every body read under a size cap, in
bounded memory (tracemalloc, which sees the sandbox's thread too: it streams its big bodies)."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc

import pytest
from api_testkit import (
    API_KEY,
    FIRST_DAY,
    LAST_DAY,
    SEED,
    Catcher,
    make_client,
    non_loopback_address,
)
from report_polling import ready_report

from sales_mart.api_client import MalformedResponse, ReportApiError, RetriesExhausted, default_retry
from sales_mart.sandbox.server import run_in_thread

DAY = FIRST_DAY + dt.timedelta(days=2)
ADDRESS = non_loopback_address()
needs_address = pytest.mark.skipif(ADDRESS is None, reason="no non-loopback IPv4 address here")


def file_url(client, report) -> str:
    return client.get_increment(report.report_id, DAY).files["user_order_log_inc"]


@needs_address
def test_a_file_url_over_plain_http_elsewhere_is_refused_unfetched(api, client, report,
                                                                     tmp_path):
    """(f) The API hands out ``http://`` on a host that is not loopback (an internal service,
    say): refused before any request."""
    with Catcher(ADDRESS) as internal:
        files = {"user_order_log_inc": f"{internal.url}/latest/meta-data?X-Amz-Signature=1"}
        api.set_faults({"endpoints": {"get_increment": [{"body": json.dumps({
            "report_id": report.report_id, "date": f"{DAY} 00:00:00", "status": "SUCCESS",
            "data": {"increment_id": "i", "s3_path": files}})}]}})
        with pytest.raises(ReportApiError, match="https") as caught:
            client.download(file_url(client, report), tmp_path / "f.csv")
    assert internal.requests == []
    assert "refused" in str(caught.value) and ADDRESS in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@needs_address
def test_a_download_redirect_to_plain_http_elsewhere_is_refused(api, client, report, tmp_path):
    """(f) A file URL that redirects to ``http://`` on a host that is not loopback."""
    url = file_url(client, report)
    with Catcher(ADDRESS) as internal:
        api.set_faults({"endpoints": {"download": [
            {"redirect_to": f"{internal.url}/latest/meta-data", "times": "always"}]}})
        with pytest.raises(ReportApiError, match="redirect") as caught:
            client.download(url, tmp_path / "f.csv")
    assert internal.requests == []
    assert "https" in str(caught.value) and ADDRESS in str(caught.value)
    assert api.request_counts["download"] == 1
    assert list(tmp_path.iterdir()) == []


def test_download_redirects_are_bounded(api, client, report, tmp_path):
    """(f) A file URL that redirects to itself forever: a handful of hops, then an error."""
    url = file_url(client, report)
    api.set_faults({"endpoints": {"download": [{"redirect_to": url, "times": "always"}]}})
    with pytest.raises(ReportApiError, match="redirects") as caught:
        client.download(url, tmp_path / "f.csv")
    assert api.request_counts["download"] == 6  # the URL and 5 redirects
    assert "X-Amz-Signature" not in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_download_redirect_to_loopback_http_is_followed(api, client, report, tmp_path):
    """In dev the sandbox serves files over http on a loopback host: still followed."""
    url = file_url(client, report)
    reference = client.download(url, tmp_path / "reference.csv")
    api.set_faults({"endpoints": {"download": [{"redirect_to": url, "times": 2}]}})
    result = client.download(url, tmp_path / "redirected.csv")
    assert (result.bytes, result.sha256) == (reference.bytes, reference.sha256)
    assert api.request_counts["download"] == 3


@needs_address
def test_allow_http_lets_files_come_over_http_from_the_api_host_only(tmp_path):
    """The compose stack: a sandbox on a private network, ``allow_http`` on the connection.
    Its own file URLs download over http; a redirect to another http host does not."""
    with run_in_thread(api_key=API_KEY, seed=SEED, rows_per_day=100, start_date=FIRST_DAY,
                       end_date=LAST_DAY, running_polls=0, host=ADDRESS,
                       cache_dir=tmp_path / "cache") as private:
        with make_client(private.base_url, allow_http=True) as client, Catcher(ADDRESS) as other:
            report = ready_report(client, client.generate_report())
            url = file_url(client, report)
            assert url.startswith(f"http://{ADDRESS}:")
            assert client.download(url, tmp_path / "f.csv").rows > 10
            private.set_faults({"endpoints": {"download": [{"redirect_to": other.url}]}})
            with pytest.raises(ReportApiError, match="redirect"):
                client.download(url, tmp_path / "g.csv")
        assert other.requests == []


BIG_CHUNK = "x" * 65536
REPEAT = 768  # a 48 MiB body
BIG = len(BIG_CHUNK) * REPEAT


def peak_bytes(call) -> int:
    """The most memory Python held at once (every thread of the process) during ``call()``."""
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def raises(error, call):
    def run():
        with pytest.raises(error) as caught:
            call()
        run.caught = caught.value
    return run


@pytest.mark.parametrize("status, error", [(400, ReportApiError), (200, MalformedResponse)])
def test_a_huge_api_answer_is_read_up_to_a_cap_only(api, client, status, error):
    """(g) A 48 MiB answer (an error or a "success") to ``GET /get_report``."""
    api.set_faults({"endpoints": {"get_report": [
        {"body": BIG_CHUNK, "repeat": REPEAT, **({"status": status} if status != 200 else {})}
    ]}})
    run = raises(error, lambda: client.get_report("some-task"))
    peak = peak_bytes(run)
    assert peak < BIG / 10, f"{peak} bytes held for a {BIG}-byte body"
    assert f"HTTP {status}" in str(run.caught) and "xxxxxxxxxx" in str(run.caught)


def test_a_huge_retried_error_answer_is_not_held(api):
    """(g) 503 with a 48 MiB body, twice (urllib3 retries it once here)."""
    retry = default_retry(total=1, backoff_factor=0.01)
    api.set_faults({"endpoints": {"get_report": [
        {"status": 503, "body": BIG_CHUNK, "repeat": REPEAT, "times": "always",
         "retry_after": 0}]}})
    with make_client(api.base_url, retry=retry) as client:
        run = raises(RetriesExhausted, lambda: client.get_report("some-task"))
        peak = peak_bytes(run)
    assert peak < BIG / 10, f"{peak} bytes held for a {BIG}-byte body"
    assert api.request_counts["get_report"] == 2


def test_a_huge_error_answer_to_a_download_is_read_up_to_a_cap_only(api, client, report,
                                                                     tmp_path):
    """(g) A file URL answering 400 with a 48 MiB body."""
    url = file_url(client, report)
    api.set_faults({"endpoints": {"download": [
        {"status": 400, "body": BIG_CHUNK, "repeat": REPEAT}]}})
    run = raises(ReportApiError, lambda: client.download(url, tmp_path / "f.csv"))
    peak = peak_bytes(run)
    assert peak < BIG / 10, f"{peak} bytes held for a {BIG}-byte body"
    assert "HTTP 400" in str(run.caught)
    assert list(tmp_path.iterdir()) == []
