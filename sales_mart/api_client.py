"""Client of the sales report API (SPEC §2), used by the DAGs' tasks (sales_mart.airflow).

    with ReportApiClient.from_airflow_connection(BaseHook.get_connection("sales_api")) as client:
        task_id = client.generate_report()
        report = client.get_report(task_id)            # None while RUNNING: poll again later
        increment = client.get_increment(report.report_id, "2024-03-05")
        result = client.download(increment.files["user_order_log_inc"], "/tmp/inc.csv")

- The identity headers and ``X-API-KEY`` go to the configured base URL only: a redirect is
  refused, never followed; ``https`` is required except on a loopback host or with
  ``allow_http`` (a sandbox on a private network). File downloads carry none of them.
- Retries, one layer per kind of failure (docs/airflow.md, "Retry layers"): urllib3's
  ``Retry`` on the sessions (:func:`default_retry`) repeats a connection that was never made
  and, for ``GET``, a timeout, a dropped connection, 429 and 5xx; then
  :class:`RetriesExhausted`. ``POST /generate_report`` is never repeated: refused (429/5xx, no
  report started) is :class:`TryAgainLater`, unanswered is :class:`ReportRequestUncertain`. A
  transfer cut short is :class:`IncompleteDownload` (a ``TryAgainLater``).
- ``download`` fetches from ``https`` only (plain ``http`` from a loopback host, or from the
  API's own host with ``allow_http``), following at most 5 redirects held to the same rule; it
  streams to a temporary file (0640) beside ``dest``, checks ``Content-Length`` and
  ``max_bytes``, hashes, fsyncs and renames: a partial file never exists under ``dest``
  (sales_mart.api_download).
- Every body is streamed and read under a cap (an answer 256 KiB, an error's excerpt 16 KiB, a
  file ``max_bytes``), never whole into memory.
- One redaction (sales_mart.redaction) on every message that leaves the client: each error's
  text and each log record (urllib3's included) loses the API key, the signatures of the file
  URLs it was handed, URL credentials and query strings; quoted bodies are masked before they
  are cut.

The errors live in sales_mart.api_errors, the settings' checks in sales_mart.api_connection,
the answers' fields in sales_mart.api_answers, the HTTP plumbing in sales_mart.api_http; this
module exports the public names, as before the split.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from urllib3.util import Retry

from sales_mart import api_download
from sales_mart.api_answers import (
    Increment,
    Report,
    answer_field,
    date_arg,
    day_field,
    file_urls,
    not_found_reason,
)
from sales_mart.api_connection import checked_settings, settings_from_connection
from sales_mart.api_download import DownloadResult
from sales_mart.api_errors import (
    AuthError,
    ConfigError,
    DownloadTooLarge,
    IncompleteDownload,
    IncrementNotFound,
    MalformedResponse,
    ReportApiError,
    ReportRequestUncertain,
    RetriesExhausted,
    TryAgainLater,
)
from sales_mart.api_http import (
    ANSWER_CAP,
    REQUEST_ERRORS,
    RETRY_STATUSES,
    default_retry,
    error_body,
    new_session,
    origin,
    read_capped,
    redirect_target,
    request_failure,
    tries,
)
from sales_mart.redaction import (
    excerpt,
    host_of,
    quote,
    redact,
    redact_log_records,
    redact_urls,
)

log = logging.getLogger(__name__)

# The one redaction on every record of the client's loggers and urllib3's (which logs request
# URLs with their query string).
redact_log_records(__name__, api_download.__name__, "urllib3.connectionpool",
                   "urllib3.connection", "urllib3.response", "urllib3.poolmanager",
                   "urllib3.util.retry")


@dataclass(repr=False)
class ReportApiClient:
    """A client of one report API. ``ReportApiClient(base_url, api_key, nickname, cohort, *,
    connect_timeout=10.0, read_timeout=60.0, download_read_timeout=300.0,
    retry=default_retry(), allow_http=False)``."""

    base_url: str
    api_key: str
    nickname: str
    cohort: str
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    download_read_timeout: float = 300.0
    retry: Retry = field(default_factory=default_retry)
    chunk_size: int = 1 << 20
    allow_http: bool = False

    def __post_init__(self) -> None:
        self.base_url = checked_settings(self.base_url, self.api_key, self.nickname,
                                         self.cohort, allow_http=self.allow_http)
        self.cohort = str(self.cohort)
        self._api = new_session(self.retry)
        self._api.headers.update({
            "X-Nickname": self.nickname,
            "X-Cohort": self.cohort,
            "X-Project": "True",
            "X-API-KEY": self.api_key,
            "Accept": "application/json",
        })
        self._files = new_session(self.retry)  # no identity headers: file URLs are public
        self._files.headers["Accept-Encoding"] = "identity"  # so Content-Length = file bytes

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_airflow_connection(cls, conn: Any, **overrides: Any) -> ReportApiClient:
        """Build from an Airflow ``Connection`` (or anything with the same attributes), see
        :func:`sales_mart.api_connection.settings_from_connection`; keyword ``overrides``
        (e.g. ``retry=default_retry(total=5)``) win over everything."""
        return cls(**{**settings_from_connection(conn), **overrides})

    def __repr__(self) -> str:
        return redact(f"ReportApiClient(base_url={self.base_url!r}, api_key='***', "
                      f"nickname={self.nickname!r}, cohort={self.cohort!r})")

    def close(self) -> None:
        self._api.close()
        self._files.close()

    def __enter__(self) -> ReportApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One API call (urllib3 retries inside, see the module doc); the decoded JSON body.
        Every body is streamed and read under a cap (sales_mart.api_http)."""
        what = f"{method} {path}"
        may_have_started = method != "GET"
        try:
            # Never follow a redirect: it would carry X-API-KEY to wherever it points.
            response = self._api.request(
                method, f"{self.base_url}{path}", params=params, allow_redirects=False,
                stream=True, timeout=(self.connect_timeout, self.read_timeout))
        except REQUEST_ERRORS as exc:
            raise request_failure(what, exc, self.retry,
                                  may_have_started=may_have_started) from None
        with response:
            status = response.status_code
            if 300 <= status < 400:
                target = host_of(redirect_target(response))
                raise ReportApiError(
                    f"{what} answered HTTP {status}, a redirect to {target}: refused, the API "
                    f"key is sent only to {host_of(self.base_url)}; if the service moved, set "
                    "the new base URL on the connection sales_api")
            if status in RETRY_STATUSES:
                body = excerpt(error_body(response), 120)
                if method != "GET":
                    raise TryAgainLater(
                        f"{what} was refused with HTTP {status} ({body}); no report was started")
                raise RetriesExhausted(f"{what} still answered HTTP {status} after "
                                       f"{tries(response)} attempts: {body}")
            if status in (401, 403):
                raise AuthError(
                    f"{what} was refused with HTTP {status} ({excerpt(error_body(response), 120)}"
                    "): check the API key (password of the Airflow connection sales_api) and "
                    "the extras nickname and cohort")
            if 400 <= status and status != 404:
                raise ReportApiError(
                    f"{what} failed with HTTP {status}: {excerpt(error_body(response))}")
            try:
                text, more = read_capped(response, ANSWER_CAP)
            except REQUEST_ERRORS as exc:
                raise request_failure(what, exc, self.retry,
                                      may_have_started=may_have_started) from None
        if more:
            raise MalformedResponse(f"{what} answered HTTP {status} with more than {ANSWER_CAP} "
                                    f"bytes, not an answer of this API: {excerpt(text)!r}")
        try:
            body = json.loads(text)
        except ValueError:
            body = _NOT_JSON
        if status == 404:
            if isinstance(body, dict) and str(body.get("status", "")).upper() == "NOT FOUND":
                return body  # NOT FOUND sent as HTTP 404: same meaning as with 200
            raise ReportApiError(f"{what} failed with HTTP {status}: {excerpt(text)}")
        if body is _NOT_JSON:
            raise MalformedResponse(f"{what} answered HTTP {status} with a body that is not "
                                    f"JSON: {excerpt(text)!r}")
        return body

    # -- the API ------------------------------------------------------------------------

    def generate_report(self) -> str:
        """``POST /generate_report``; returns the task id."""
        body = self._call("POST", "/generate_report")
        task_id = str(answer_field(body, "POST /generate_report", "task_id"))
        log.info("report requested: task %s", task_id)
        return task_id

    def get_report(self, task_id: str) -> Report | None:
        """One ``GET /get_report`` poll: the :class:`Report` once ready, None while RUNNING."""
        what = "GET /get_report"
        body = self._call("GET", "/get_report", {"task_id": task_id})
        status = str(answer_field(body, what, "status")).upper()
        if status == "RUNNING":
            return None
        if status != "SUCCESS":
            raise ReportApiError(
                f"report task {task_id} ended with status {status}: {quote(body)}")
        return Report(
            task_id=task_id,
            report_id=str(answer_field(body, what, "data", "report_id")),
            start_day=day_field(body, what, "data", "start_day"),
            end_date=day_field(body, what, "data", "end_date"),
            files=file_urls(body, what, "user_order_log"),
        )

    def get_increment(self, report_id: str, date: dt.date | dt.datetime | str) -> Increment:
        """``GET /get_increment`` for one day; :class:`IncrementNotFound` on ``NOT FOUND``."""
        day = date_arg(date)
        what = f"GET /get_increment {day.isoformat()}"
        body = self._call("GET", "/get_increment",
                          {"report_id": report_id, "date": f"{day.isoformat()}T00:00:00"})
        status = str(answer_field(body, what, "status")).upper()
        if status == "NOT FOUND":
            raise IncrementNotFound(day, not_found_reason(body), report_id)
        if status != "SUCCESS":
            raise ReportApiError(f"{what}: unexpected status {status}: {quote(body)}")
        answered = day_field(body, what, "date")
        if answered != day:
            raise MalformedResponse(f"{what}: the answer is for {answered}, not {day}")
        increment = Increment(
            report_id=report_id,
            increment_id=str(answer_field(body, what, "data", "increment_id")),
            date=day,
            files=file_urls(body, what, "user_order_log_inc"),
        )
        log.info("increment %s for %s", increment.increment_id, day)
        return increment

    def download(self, url: str, dest: str | os.PathLike[str],
                 max_bytes: int | None = None) -> DownloadResult:
        """Stream ``url`` to ``dest`` atomically; return path, bytes, sha256 and row count.

        Only from ``https`` (plain ``http`` from a loopback host, or from the API's own host
        with ``allow_http``), following at most 5 redirects held to the same rule. The body
        goes to a temporary file (mode 0640) beside ``dest``; its size must equal
        ``Content-Length`` when the server sends one (else :class:`IncompleteDownload`), and
        may not pass ``max_bytes`` (:class:`DownloadTooLarge`); the file is fsynced and then
        renamed to ``dest``. On failure nothing is left behind.
        """
        api_origin = origin(self.base_url)
        return api_download.download(
            self._files, url, dest, timeout=(self.connect_timeout, self.download_read_timeout),
            retry=self.retry, chunk_size=self.chunk_size, max_bytes=max_bytes,
            plain_http_origins=frozenset([api_origin] if self.allow_http and api_origin else []))


_NOT_JSON = object()


__all__ = [
    "AuthError", "ConfigError", "DownloadResult", "DownloadTooLarge", "Increment",
    "IncompleteDownload", "IncrementNotFound", "MalformedResponse", "Report", "ReportApiClient",
    "ReportApiError", "ReportRequestUncertain", "RetriesExhausted",
    "TryAgainLater", "default_retry", "redact_urls",
]
