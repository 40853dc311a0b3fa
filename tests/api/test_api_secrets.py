"""Issue 16 item 6: no secret leaves the client. The API key and file URLs' signatures stay
out of every error (message, repr, traceback, ``IncrementNotFound.reason``) and every log record,
whatever the API answers: the sandbox's fault injection plays the hostile or broken API."""

from __future__ import annotations

import datetime as dt
import json
import logging
import traceback
from urllib.parse import parse_qs, urlsplit

import pytest
from api_testkit import API_KEY, FIRST_DAY, NICKNAME, assert_no_piece_of, make_client

from sales_mart.api_client import (
    AuthError,
    ConfigError,
    IncrementNotFound,
    MalformedResponse,
    ReportApiError,
)

DAY = FIRST_DAY + dt.timedelta(days=2)


def texts(error: BaseException) -> list[str]:
    """Everything of an error that can reach a log, a task failure or an e-mail."""
    return [str(error), repr(error), "".join(traceback.format_exception(error)),
            *(str(arg) for arg in error.args), str(getattr(error, "reason", ""))]


def signature_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Signature"][0]


def increment_answer(report_id: str, **fields) -> str:
    return json.dumps({"report_id": report_id, "date": f"{DAY} 00:00:00", **fields})


@pytest.fixture
def logged(caplog):
    caplog.set_level(logging.DEBUG)  # everything: the client's loggers, urllib3, uvicorn
    return caplog


@pytest.mark.parametrize("endpoint", ["generate_report", "get_report"])
def test_a_redirect_whose_location_carries_the_key_names_the_host_only(api, logged, endpoint):
    """(a) ``Location: http://nick:KEY@host/…``: the error names host and port, not the key."""
    api.set_faults({"endpoints": {endpoint: [
        {"redirect_to": f"http://{NICKNAME}:{API_KEY}@127.0.0.2:9", "times": "always"}]}})
    with make_client(api.base_url) as client, pytest.raises(ReportApiError) as caught:
        client.generate_report() if endpoint == "generate_report" else client.get_report("t")
    message = str(caught.value)
    assert "redirect" in message and "127.0.0.2:9" in message and "refused" in message
    assert_no_piece_of(API_KEY, *texts(caught.value), logged.text)


@pytest.mark.parametrize("status, error", [(401, AuthError), (400, ReportApiError),
                                           (200, MalformedResponse)])
def test_a_body_echoing_the_key_is_masked_before_it_is_cut(api, client, logged, status, error):
    """(b) The key at every offset of a quoted body, 5 characters apart: wherever the excerpt
    ends, no run of 10 of its characters survives (a cut before the mask leaves the key's
    head)."""
    offsets = range(0, 400, 5)
    rules = [{"body": json.dumps({"detail": "x" * offset + API_KEY + " echoed"}),
              **({"status": status} if status != 200 else {})} for offset in offsets]
    api.set_faults({"endpoints": {"generate_report": rules}})
    quoted = 0
    for _ in offsets:
        with pytest.raises(error) as caught:
            client.generate_report()
        assert_no_piece_of(API_KEY, *texts(caught.value))
        quoted += "***" in str(caught.value)  # the body is quoted, with the key masked
    assert api.request_counts["generate_report"] == len(offsets)
    assert quoted >= 10
    assert_no_piece_of(API_KEY, logged.text)


@pytest.mark.parametrize("key", [API_KEY + "\n", API_KEY + "\r\n", " " + API_KEY,
                                 API_KEY[:11] + "\r\nX-Injected: 1" + API_KEY[11:]])
def test_a_key_with_a_newline_or_blank_is_refused_without_quoting_it(api, logged, key):
    """(c) requests' ``InvalidHeader`` quotes the header value, key and all; the client refuses
    such a key before any request, saying what is wrong with it instead."""
    with pytest.raises(ConfigError) as caught:
        with make_client(api.base_url, api_key=key) as client:
            client.generate_report()
    message = str(caught.value)
    assert "API key" in message and "whitespace" in message and "sales_api" in message
    assert_no_piece_of(API_KEY, *texts(caught.value), logged.text)
    assert api.request_counts.get("generate_report", 0) == 0


def test_a_not_found_reason_quoting_a_signed_url_keeps_the_signature_out(api, client, report,
                                                                         logged):
    """(d) The reason of ``NOT FOUND`` goes to the task failure and the alert e-mail
    (``IncrementNotFound.reason``): a signature the API handed out is masked there, whether
    the reason quotes the URL, the parameter or the bare value."""
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    signature = signature_of(url)
    assert signature in api.issued_signatures
    reasons = [f"the file {url} has expired", f"expired: X-Amz-Signature={signature}",
               f"signature {signature} has expired"]
    api.set_faults({"endpoints": {"get_increment": [
        {"body": increment_answer(report.report_id, status="NOT FOUND", reason=reason)}
        for reason in reasons]}})
    for _ in reasons:
        with pytest.raises(IncrementNotFound) as caught:
            client.get_increment(report.report_id, DAY)
        assert caught.value.date == DAY and "expired" in caught.value.reason
        assert_no_piece_of(signature, *texts(caught.value))
    assert_no_piece_of(signature, logged.text)


BAD_FILE_URLS = {  # what requests raises for each today
    "ftp": "ftp://127.0.0.1:21/f.csv?X-Amz-Signature={}",  # InvalidSchema
    "file": "file:///etc/passwd?X-Amz-Signature={}",  # InvalidSchema
    "no_host": "http:///f.csv?X-Amz-Signature={}",  # InvalidURL: no host supplied
    "bad_port": "http://127.0.0.1:99999/f.csv?X-Amz-Signature={}",  # InvalidURL
    "bad_host": "https://exa mple.net/f.csv?X-Amz-Signature={}",  # InvalidURL
    "bad_ipv6": "http://[::1/f.csv?X-Amz-Signature={}",  # ValueError
}


@pytest.mark.parametrize("name", BAD_FILE_URLS)
def test_a_file_url_requests_cannot_use_is_refused_without_its_signature(api, client, report,
                                                                         logged, tmp_path,
                                                                         name):
    """(e) The API hands out a file URL of another scheme or a broken one: the client refuses
    it (``ReportApiError``, nothing downloaded) and the signature is in no message."""
    signature = "5e" * 32
    files = {"user_order_log_inc": BAD_FILE_URLS[name].format(signature)}
    api.set_faults({"endpoints": {"get_increment": [{"body": increment_answer(
        report.report_id, status="SUCCESS", data={"increment_id": "i", "s3_path": files})}]}})
    url = client.get_increment(report.report_id, DAY).files["user_order_log_inc"]
    with pytest.raises(ReportApiError) as caught:
        client.download(url, tmp_path / "f.csv")
    assert "refused" in str(caught.value) or "could not be sent" in str(caught.value)
    assert_no_piece_of(signature, *texts(caught.value), logged.text)
    assert list(tmp_path.iterdir()) == []
