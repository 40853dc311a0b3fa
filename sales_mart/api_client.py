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
  and ``max_bytes``, hashes, fsyncs and renames: a partial file never exists under ``dest``.
- Neither the API key nor a URL's query string (object stores sign file URLs there) appears in
  a log line (urllib3's included), an error or a repr.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import ipaddress
import json
import logging
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import Retry

log = logging.getLogger(__name__)

BODY_EXCERPT = 300  # characters of an offending body quoted in errors


# --- errors -----------------------------------------------------------------------------


# A URL's (or a request path's) query string: where presigned URLs carry their signature.
_QUERY = re.compile(r"((?:https?://|/)[^\s?#'\"<>]*)\?[^\s#'\"<>)]+")


def redact_urls(text: str) -> str:
    """``text`` with the query string of every URL in it replaced by ``?…``."""
    return _QUERY.sub(r"\1?…", text)


def _redact_record(record: logging.LogRecord) -> bool:
    """Log filter: urllib3 logs request URLs with their query string."""
    record.msg, record.args = redact_urls(record.getMessage()), ()
    return True


for _name in ("urllib3.connectionpool", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_redact_record)


class ReportApiError(Exception):
    """Any failure talking to the report API. The message never holds a URL's query string."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(redact_urls(str(message)), *args)


class ConfigError(ReportApiError):
    """The client is missing a setting (base URL, key, nickname, cohort)."""


class AuthError(ReportApiError):
    """HTTP 401/403: the API key (or the identity headers) was refused."""


class MalformedResponse(ReportApiError):
    """The body is not JSON, or lacks a field the contract promises."""


class IncrementNotFound(ReportApiError):
    """The API answered ``NOT FOUND`` for the day: no increment exists for that date."""

    def __init__(self, date: dt.date, reason: str, report_id: str | None = None) -> None:
        self.date = date
        self.reason = reason
        self.report_id = report_id
        super().__init__(f"no increment for {date.isoformat()} (report {report_id}): {reason}")


class RetriesExhausted(ReportApiError):
    """A transient failure (timeout, connection error, 429, 5xx) outlasted urllib3's retries."""


class TryAgainLater(ReportApiError):
    """Not retried inside the call, but another try of the whole step may succeed: the report
    request was refused with 429/5xx (no report started), or a file transfer broke off."""


class IncompleteDownload(TryAgainLater):
    """The file transfer ended early or did not match its Content-Length."""


class ReportRequestUncertain(ReportApiError):
    """``POST /generate_report`` may have reached the API but no answer came back: a report may
    be running there. Not retried, so no second report starts unnoticed."""


class DownloadTooLarge(ReportApiError):
    """The file is larger than the download cap (``max_bytes``)."""


# --- results ----------------------------------------------------------------------------


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


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    bytes: int
    sha256: str
    rows: int  # data lines, header excluded (0 for an empty or header-only file)


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def default_retry(total: int = 3, backoff_factor: float = 1.0, backoff_max: float = 30.0,
                  retry_after_max: int = 60, cls: type[Retry] = Retry) -> Retry:
    """urllib3's ``Retry`` for the client's sessions: ``total`` retries of a call (so
    ``total + 1`` attempts) waiting ``backoff_factor × 2^n`` seconds (at most ``backoff_max``)
    or the server's ``Retry-After`` (at most ``retry_after_max``). Connection failures are
    retried for any method; read errors and 429/5xx for ``GET`` only; redirects never."""
    return cls(
        total=total, connect=total, read=total, status=total, other=0, redirect=0,
        allowed_methods=frozenset({"GET"}), status_forcelist=RETRY_STATUSES,
        backoff_factor=backoff_factor, backoff_max=backoff_max, backoff_jitter=0.25 * backoff_factor,
        respect_retry_after_header=True, retry_after_max=retry_after_max,
        raise_on_status=False, raise_on_redirect=False,
    )


def _excerpt(text: str | bytes, limit: int = BODY_EXCERPT) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def _quote(body: Any) -> str:
    """An answer's JSON, shortened, for an error message."""
    return _excerpt(json.dumps(body, ensure_ascii=False))


def _public_url(url: str) -> str:
    """A URL fit for logs: without its query string (presigned URLs carry tokens there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _is_loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def _date_arg(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


# --- the client -------------------------------------------------------------------------


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
        if parts.scheme == "http" and not (self.allow_http or _is_loopback(parts.hostname)):
            raise ConfigError(
                f"base URL {self.base_url!r}: the API key is sent only over https (http is "
                "allowed on a loopback host; for a sandbox on a private network set the extra "
                '"allow_http": true on the connection sales_api)')
        self.cohort = str(self.cohort)
        self._api = self._session()
        self._api.headers.update({
            "X-Nickname": self.nickname,
            "X-Cohort": self.cohort,
            "X-Project": "True",
            "X-API-KEY": self.api_key,
            "Accept": "application/json",
        })
        self._files = self._session()  # no identity headers: file URLs are public
        self._files.headers["Accept-Encoding"] = "identity"  # so Content-Length = file bytes

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc credentials from the environment
        adapter = HTTPAdapter(max_retries=self.retry)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

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
            if method != "GET" and not _never_sent(exc):
                raise ReportRequestUncertain(self._mask(
                    f"{what}: no answer ({_reason(exc)}); the request may have reached the API "
                    "and started a report there. Not retried automatically (the request is not "
                    "idempotent): run the date again when the API answers.")) from None
            raise RetriesExhausted(self._mask(
                f"{what} failed after {_attempts(self.retry)} attempts: {_reason(exc)}")) from None
        status = response.status_code
        if 300 <= status < 400:
            target = urlsplit(response.headers.get("Location", "")).netloc or "?"
            raise ReportApiError(
                f"{what} answered HTTP {status}, a redirect to {target}: refused, the API "
                f"key is sent only to {urlsplit(self.base_url).netloc}; if the service "
                "moved, set the new base URL on the connection sales_api")
        if status in RETRY_STATUSES:
            body = _excerpt(response.text, 120)
            if method != "GET":
                raise TryAgainLater(self._mask(
                    f"{what} was refused with HTTP {status} ({body}); no report was started"))
            raise RetriesExhausted(self._mask(
                f"{what} still answered HTTP {status} after {_tries(response)} attempts: {body}"))
        if status in (401, 403):
            raise AuthError(self._mask(
                f"{what} was refused with HTTP {status} ({_excerpt(response.text, 120)}): "
                "check the API key (password of the Airflow connection sales_api) and the "
                "extras nickname and cohort"))
        if status == 404 and _is_not_found_body(response):
            return response.json()  # NOT FOUND sent as HTTP 404: same meaning as with 200
        if status >= 400:
            raise ReportApiError(self._mask(
                f"{what} failed with HTTP {status}: {_excerpt(response.text)}"))
        try:
            return response.json()
        except ValueError:
            raise MalformedResponse(self._mask(
                f"{what} answered HTTP {status} with a body that is not JSON: "
                f"{_excerpt(response.text)!r}")) from None

    def _field(self, body: Any, what: str, *path: str) -> Any:
        value = body
        for key in path:
            if not isinstance(value, dict) or key not in value or value[key] in (None, ""):
                raise MalformedResponse(self._mask(
                    f"{what}: the answer lacks field {'.'.join(path)}: {_quote(body)!r}"))
            value = value[key]
        return value

    def _file_urls(self, body: Any, what: str, needed: str) -> dict[str, str]:
        """``data.s3_path``: file name -> URL; it must name ``needed``."""
        files = self._field(body, what, "data", "s3_path")
        if not isinstance(files, dict) or needed not in files:
            raise MalformedResponse(self._mask(
                f"{what}: data.s3_path lacks {needed}: {_quote(body)!r}"))
        return {str(k): str(v) for k, v in files.items()}

    def _day_field(self, body: Any, what: str, *path: str) -> dt.date:
        value = self._field(body, what, *path)
        try:
            return dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            raise MalformedResponse(self._mask(
                f"{what}: field {'.'.join(path)} is not a date: {_excerpt(str(value))!r}"
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
                f"report task {task_id} ended with status {status}: {_quote(body)}"))
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
                or _quote(body)
            raise IncrementNotFound(day, self._mask(str(reason)), report_id)
        if status != "SUCCESS":
            raise ReportApiError(self._mask(
                f"{what}: unexpected status {status}: {_quote(body)}"))
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
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shown = _public_url(url)
        what = f"GET {shown}"
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            response = self._files.get(url, stream=True,
                                       timeout=(self.connect_timeout, self.download_read_timeout))
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetriesExhausted(
                f"{what} failed after {_attempts(self.retry)} attempts: {_reason(exc)}") from None
        try:
            with response:
                size, digest, lines = self._stream(response, tmp, what, max_bytes)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(dest.parent)
        result = DownloadResult(path=dest, bytes=size, sha256=digest, rows=max(0, lines - 1))
        log.info("downloaded %s to %s: %d bytes, %d rows, sha256 %s", shown, result.path,
                 result.bytes, result.rows, result.sha256)
        return result

    def _stream(self, response: requests.Response, tmp: Path, what: str,
                max_bytes: int | None) -> tuple[int, str, int]:
        """Writes the body to ``tmp``; returns its size, sha256 and number of lines."""
        status = response.status_code
        if status in RETRY_STATUSES:
            raise RetriesExhausted(f"{what} still answered HTTP {status} after "
                                   f"{_tries(response)} attempts")
        if status >= 400:
            raise ReportApiError(f"{what} failed with HTTP {status}: "
                                 f"{_excerpt(response.text, 120)}")
        expected = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding", "identity").lower() != "identity"
        too_large = (f"{what}: the file is larger than the download cap of {max_bytes} "
                     "bytes (setting sales_mart_max_download_mb)")
        if max_bytes is not None and expected is not None and int(expected) > max_bytes:
            raise DownloadTooLarge(f"{too_large}: Content-Length {expected}")
        digest = hashlib.sha256()
        size = newlines = 0
        last_byte = b""
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
            os.fchmod(fd, 0o640)  # whatever the umask
            with open(fd, "wb") as out:
                for chunk in response.iter_content(self.chunk_size):
                    if max_bytes is not None and size + len(chunk) > max_bytes:
                        raise DownloadTooLarge(too_large)
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    newlines += chunk.count(b"\n")
                    last_byte = chunk[-1:] or last_byte
                out.flush()
                os.fsync(out.fileno())
        except (requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ConnectionError, requests.Timeout) as exc:
            raise IncompleteDownload(
                f"{what}: transfer interrupted after {size} bytes"
                f"{f' of {expected}' if expected else ''} ({type(exc).__name__})") from None
        if expected is not None and not encoded and size != int(expected):
            raise IncompleteDownload(f"{what}: received {size} bytes, Content-Length says "
                                     f"{expected}")
        lines = newlines + (1 if last_byte not in (b"", b"\n") else 0)
        return size, digest.hexdigest(), lines


def _is_not_found_body(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("status", "")).upper() == "NOT FOUND"


def _attempts(retry: Retry) -> int:
    return (retry.total or 0) + 1


def _tries(response: requests.Response) -> int:
    """Attempts urllib3 made for this answer (its retry history, plus the first)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


def _reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without URLs' query strings."""
    reason = exc.args[0] if exc.args else exc
    reason = getattr(reason, "reason", reason)  # urllib3's MaxRetryError wraps the cause
    return redact_urls(f"{type(exc).__name__}: {reason}")


def _never_sent(exc: Exception) -> bool:
    """Whether the request surely never reached the server (the connection was not made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _fsync_dir(path: Path) -> None:
    """Make the rename durable (where a directory can be opened: not on every platform)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


__all__ = [
    "AuthError", "ConfigError", "DownloadResult", "DownloadTooLarge", "Increment",
    "IncompleteDownload", "IncrementNotFound", "MalformedResponse", "Report", "ReportApiClient",
    "ReportApiError", "ReportRequestUncertain", "RetriesExhausted",
    "TryAgainLater", "default_retry", "redact_urls",
]
