"""HTTP plumbing of the report API client (sales_mart.api_client): the sessions, urllib3's
``Retry``, bodies read under a cap, which URLs a download may fetch, and what a ``requests``
failure becomes.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import Retry

from sales_mart.api_errors import ReportApiError, ReportRequestUncertain, RetriesExhausted
from sales_mart.redaction import redact

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Bodies are streamed and read up to a cap, never whole: a hostile or broken server can answer
# with gigabytes. An API answer is a few hundred bytes of JSON; of an error body only an
# excerpt is quoted (sales_mart.redaction.excerpt), masked before it is cut.
ANSWER_CAP = 256 << 10
ERROR_BODY_CAP = 16 << 10
# Errors a request can end with before any answer: requests' own, and urllib3's ValueErrors
# for a URL it cannot parse (LocationParseError) that requests lets through.
REQUEST_ERRORS = (requests.RequestException, ValueError)


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


def new_session(retry: Retry) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy or .netrc credentials from the environment
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def is_loopback(host: str | None) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def read_capped(response: requests.Response, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, streamed; and whether there was more (left unread:
    closing the response drops the connection)."""
    body = bytearray()
    for chunk in response.iter_content(chunk_size=min(cap + 1, 64 << 10)):
        body += chunk
        if len(body) > cap:
            return bytes(body[:cap]), True
    return bytes(body), False


def error_body(response: requests.Response) -> str:
    """The start of an error answer's body, for an excerpt."""
    try:
        body, more = read_capped(response, ERROR_BODY_CAP)
    except REQUEST_ERRORS:
        return "(the body broke off)"
    return body.decode("utf-8", "replace") + ("…" if more else "")


def redirect_target(response: requests.Response) -> str:
    """The absolute URL a redirect answer points at ("" when its Location is not a URL)."""
    try:
        return urljoin(response.url, response.headers.get("Location", ""))
    except ValueError:
        return ""


def origin(url: str) -> tuple[str, int] | None:
    """``(host, port)`` of an http(s) URL, the default port filled in; None if unparsable."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    except ValueError:
        return None
    return (parts.hostname or "", port)


def download_refusal(url: str, plain_http_origins: frozenset[tuple[str, int]]) -> str | None:
    """Why a file URL (or a redirect's target) is not fetched, or None if it may be: https;
    plain http only from a loopback host (dev) or an origin of ``plain_http_origins`` (the
    API's own, with ``allow_http``); never credentials in it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return "it is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        return f"files are downloaded over https only, not {scheme or 'a URL without scheme'}"
    if not host:
        return "it names no host"
    if "@" in parts.netloc:
        return "it carries credentials (user:password@)"
    if scheme == "https" or is_loopback(host) or origin(url) in plain_http_origins:
        return None
    return ("files are downloaded over https only (plain http from a loopback host, or from "
            "the API's own host when the connection sales_api has allow_http)")


def request_failure(what: str, exc: Exception, retry: Retry, *,
                    may_have_started: bool = False) -> ReportApiError:
    """The client's error for a request that got no (whole) answer."""
    if not isinstance(exc, (requests.ConnectionError, requests.Timeout)):
        return ReportApiError(f"{what}: the request could not be sent: {reason(exc)}")
    if may_have_started and not never_sent(exc):
        return ReportRequestUncertain(
            f"{what}: no answer ({reason(exc)}); the request may have reached the API and "
            "started a report there. Not retried automatically (the request is not "
            "idempotent): run the date again when the API answers.")
    return RetriesExhausted(f"{what} failed after {attempts(retry)} attempts: {reason(exc)}")


def attempts(retry: Retry) -> int:
    return (retry.total or 0) + 1


def tries(response: requests.Response) -> int:
    """Attempts urllib3 made for this answer (its retry history, plus the first)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


def reason(exc: Exception) -> str:
    """The innermost cause of a requests error, redacted."""
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the cause
    return redact(f"{type(exc).__name__}: {cause}")


def never_sent(exc: Exception) -> bool:
    """Whether the request surely never reached the server (the connection was not made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(cause, (NewConnectionError, ConnectTimeoutError))
