"""Client of the sales report API (SPEC §2), used by the DAGs' tasks (sales_mart.pipeline).

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
- ``download`` streams to a temporary file (0640) beside ``dest``, checks ``Content-Length``
  and ``max_bytes``, hashes, fsyncs and renames: a partial file never exists under ``dest``
  (sales_mart.api_download).
- Neither the API key nor a URL's query string (object stores sign file URLs there) appears in
  a log line (urllib3's included), an error or a repr (sales_mart.redaction).

The errors live in sales_mart.api_errors, the HTTP plumbing in sales_mart.api_http; this module
exports them all, as before the split.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.util import Retry

from sales_mart import api_download
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
    RETRY_STATUSES,
    attempts,
    default_retry,
    is_loopback,
    is_not_found_body,
    never_sent,
    new_session,
    reason,
    tries,
)
from sales_mart.redaction import excerpt, quote, redact_log_records, redact_urls

log = logging.getLogger(__name__)

# urllib3 logs request URLs with their query string
redact_log_records("urllib3.connectionpool", "urllib3.util.retry")


@dataclass(frozen=True)
class Report:
    task_id: str
    report_id: str
    start_day: dt.date
    end_date: dt.date
    files: dict[str, str]  # customer_research, user_order_log, user_activity_log, price_log


@dataclass(frozen=True)
class Increment:
    report_id: str
    increment_id: str
    date: dt.date
    files: dict[str, str]  # customer_research_inc, user_order_log_inc, ...


def _date_arg(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


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
        missing = [name for name in ("base_url", "api_key", "nickname", "cohort")
                   if not str(getattr(self, name) or "").strip()]
        if missing:
            raise ConfigError(f"report API client is missing {', '.join(missing)}; set them on "
                              "the Airflow connection sales_api (host, password, extra "
                              "nickname / cohort)")
        self.base_url = self.base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https"):
            raise ConfigError(f"base URL {self.base_url!r} needs a scheme (https://)")
        if parts.scheme == "http" and not (self.allow_http or is_loopback(parts.hostname)):
            raise ConfigError(
                f"base URL {self.base_url!r}: the API key is sent only over https (http is "
                "allowed on a loopback host; for a sandbox on a private network set the extra "
                '"allow_http": true on the connection sales_api)')
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
        """Build from an Airflow ``Connection`` (or anything with the same attributes).

        ``host`` is the base URL with scheme (``https://reports.example.net``), or a bare host
        completed by ``schema`` (the scheme, default https) and ``port``; ``password`` is the
        API key (extra ``api_key`` also accepted); extras ``nickname`` and ``cohort``. Optional
        extras ``connect_timeout``, ``read_timeout`` override the defaults; keyword
        ``overrides`` (e.g. ``retry=default_retry(total=5)``) win over everything.
        """
        extra = getattr(conn, "extra_dejson", None) or {}
        host = (getattr(conn, "host", None) or "").strip()
        if not host:
            raise ConfigError("connection sales_api has no host; set it to the API base URL, "
                              "e.g. https://reports.example.net")
        if "://" in host:
            base_url = host
        else:
            scheme = (getattr(conn, "schema", None) or "https").strip().lower()
            if scheme not in ("http", "https"):
                scheme = "https"
            port = getattr(conn, "port", None)
            host, _, path = host.partition("/")
            base_url = f"{scheme}://{host}{f':{port}' if port else ''}"
            if path:
                base_url += "/" + path
        kwargs: dict[str, Any] = {
            "base_url": base_url,
            "api_key": getattr(conn, "password", None) or extra.get("api_key") or "",
            "nickname": extra.get("nickname") or "",
            "cohort": str(extra.get("cohort") or ""),
        }
        for name in ("connect_timeout", "read_timeout", "download_read_timeout"):
            if extra.get(name) is not None:
                kwargs[name] = float(extra[name])
        if str(extra.get("allow_http", "")).lower() in ("true", "1", "yes"):
            kwargs["allow_http"] = True
        kwargs.update(overrides)
        return cls(**kwargs)

    def __repr__(self) -> str:
        return (f"ReportApiClient(base_url={self.base_url!r}, api_key='***', "
                f"nickname={self.nickname!r}, cohort={self.cohort!r})")

    def close(self) -> None:
        self._api.close()
        self._files.close()

    def __enter__(self) -> ReportApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------

    def _mask(self, text: str) -> str:
        return text.replace(self.api_key, "***") if self.api_key else text

    def _call(self, method: str, path: str, params: Mapping[str, str] | None = None) -> Any:
        """One API call (urllib3 retries inside, see the module doc); the decoded JSON body."""
        what = f"{method} {path}"
        try:
            # Never follow a redirect: it would carry X-API-KEY to wherever it points.
            response = self._api.request(
                method, f"{self.base_url}{path}", params=params, allow_redirects=False,
                timeout=(self.connect_timeout, self.read_timeout))
        except (requests.ConnectionError, requests.Timeout) as exc:
            if method != "GET" and not never_sent(exc):
                raise ReportRequestUncertain(self._mask(
                    f"{what}: no answer ({reason(exc)}); the request may have reached the API "
                    "and started a report there. Not retried automatically (the request is not "
                    "idempotent): run the date again when the API answers.")) from None
            raise RetriesExhausted(self._mask(
                f"{what} failed after {attempts(self.retry)} attempts: {reason(exc)}")) from None
        status = response.status_code
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", "")).netloc or "?"
            raise ReportApiError(
                f"{what} answered HTTP {status}, a redirect to {target}: refused, the API "
                f"key is sent only to {urlsplit(self.base_url).netloc}; if the service "
                "moved, set the new base URL on the connection sales_api")
        if status in RETRY_STATUSES:
            body = excerpt(response.text, 120)
            if method != "GET":
                raise TryAgainLater(self._mask(
                    f"{what} was refused with HTTP {status} ({body}); no report was started"))
            raise RetriesExhausted(self._mask(
                f"{what} still answered HTTP {status} after {tries(response)} attempts: {body}"))
        if status in (401, 403):
            raise AuthError(self._mask(
                f"{what} was refused with HTTP {status} ({excerpt(response.text, 120)}): "
                "check the API key (password of the Airflow connection sales_api) and the "
                "extras nickname and cohort"))
        if status == 404 and is_not_found_body(response):
            return response.json()  # NOT FOUND sent as HTTP 404: same meaning as with 200
        if status >= 400:
            raise ReportApiError(self._mask(
                f"{what} failed with HTTP {status}: {excerpt(response.text)}"))
        try:
            return response.json()
        except ValueError:
            raise MalformedResponse(self._mask(
                f"{what} answered HTTP {status} with a body that is not JSON: "
                f"{excerpt(response.text)!r}")) from None

    def _field(self, body: Any, what: str, *path: str) -> Any:
        value = body
        for key in path:
            if not isinstance(value, dict) or key not in value or value[key] in (None, ""):
                raise MalformedResponse(self._mask(
                    f"{what}: the answer lacks field {'.'.join(path)}: {quote(body)!r}"))
            value = value[key]
        return value

    def _file_urls(self, body: Any, what: str, needed: str) -> dict[str, str]:
        """``data.s3_path``: file name -> URL; it must name ``needed``."""
        files = self._field(body, what, "data", "s3_path")
        if not isinstance(files, dict) or needed not in files:
            raise MalformedResponse(self._mask(
                f"{what}: data.s3_path lacks {needed}: {quote(body)!r}"))
        return {str(k): str(v) for k, v in files.items()}

    def _day_field(self, body: Any, what: str, *path: str) -> dt.date:
        value = self._field(body, what, *path)
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise MalformedResponse(self._mask(
                f"{what}: field {'.'.join(path)} is not a date: {excerpt(str(value))!r}"
            )) from None

    # -- the API ------------------------------------------------------------------------

    def generate_report(self) -> str:
        """``POST /generate_report``; returns the task id."""
        body = self._call("POST", "/generate_report")
        task_id = str(self._field(body, "POST /generate_report", "task_id"))
        log.info("report requested: task %s", task_id)
        return task_id

    def get_report(self, task_id: str) -> Report | None:
        """One ``GET /get_report`` poll: the :class:`Report` once ready, None while RUNNING."""
        what = "GET /get_report"
        body = self._call("GET", "/get_report", {"task_id": task_id})
        status = str(self._field(body, what, "status")).upper()
        if status == "RUNNING":
            return None
        if status != "SUCCESS":
            raise ReportApiError(self._mask(
                f"report task {task_id} ended with status {status}: {quote(body)}"))
        return Report(
            task_id=task_id,
            report_id=str(self._field(body, what, "data", "report_id")),
            start_day=self._day_field(body, what, "data", "start_day"),
            end_date=self._day_field(body, what, "data", "end_date"),
            files=self._file_urls(body, what, "user_order_log"),
        )

    def get_increment(self, report_id: str, date: dt.date | dt.datetime | str) -> Increment:
        """``GET /get_increment`` for one day; :class:`IncrementNotFound` on ``NOT FOUND``."""
        day = _date_arg(date)
        what = f"GET /get_increment {day.isoformat()}"
        body = self._call("GET", "/get_increment",
                          {"report_id": report_id, "date": f"{day.isoformat()}T00:00:00"})
        status = str(self._field(body, what, "status")).upper()
        if status == "NOT FOUND":
            reason = body.get("reason") or body.get("detail") or body.get("message") \
                or quote(body)
            raise IncrementNotFound(day, self._mask(str(reason)), report_id)
        if status != "SUCCESS":
            raise ReportApiError(self._mask(
                f"{what}: unexpected status {status}: {quote(body)}"))
        answered = self._day_field(body, what, "date")
        if answered != day:
            raise MalformedResponse(f"{what}: the answer is for {answered}, not {day}")
        increment = Increment(
            report_id=report_id,
            increment_id=str(self._field(body, what, "data", "increment_id")),
            date=day,
            files=self._file_urls(body, what, "user_order_log_inc"),
        )
        log.info("increment %s for %s", increment.increment_id, day)
        return increment

    def download(self, url: str, dest: str | os.PathLike[str],
                 max_bytes: int | None = None) -> DownloadResult:
        """Stream ``url`` to ``dest`` atomically; return path, bytes, sha256 and row count.

        The body goes to a temporary file (mode 0640) beside ``dest``; its size must equal
        ``Content-Length`` when the server sends one (else :class:`IncompleteDownload`), and
        may not pass ``max_bytes`` (:class:`DownloadTooLarge`); the file is fsynced and then
        renamed to ``dest``. On failure nothing is left behind.
        """
        return api_download.download(
            self._files, url, dest, timeout=(self.connect_timeout, self.download_read_timeout),
            retry=self.retry, chunk_size=self.chunk_size, max_bytes=max_bytes)


__all__ = [
    "AuthError", "ConfigError", "DownloadResult", "DownloadTooLarge", "Increment",
    "IncompleteDownload", "IncrementNotFound", "MalformedResponse", "Report", "ReportApiClient",
    "ReportApiError", "ReportRequestUncertain", "RetriesExhausted",
    "TryAgainLater", "default_retry", "redact_urls",
]
