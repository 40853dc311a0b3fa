"""HTTP plumbing of the report API client: the sessions, urllib3's ``Retry`` and what a
``requests`` failure or answer says (sales_mart.api_client).
"""

from __future__ import annotations

import ipaddress

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import Retry

from sales_mart.redaction import redact_urls

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


def is_not_found_body(response: requests.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and str(body.get("status", "")).upper() == "NOT FOUND"


def attempts(retry: Retry) -> int:
    return (retry.total or 0) + 1


def tries(response: requests.Response) -> int:
    """Attempts urllib3 made for this answer (its retry history, plus the first)."""
    retries = getattr(response.raw, "retries", None)
    return len(retries.history) + 1 if retries is not None else 1


def reason(exc: Exception) -> str:
    """The innermost cause of a requests error, without URLs' query strings."""
    cause = exc.args[0] if exc.args else exc
    cause = getattr(cause, "reason", cause)  # urllib3's MaxRetryError wraps the cause
    return redact_urls(f"{type(exc).__name__}: {cause}")


def never_sent(exc: Exception) -> bool:
    """Whether the request surely never reached the server (the connection was not made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = getattr(exc.args[0] if exc.args else None, "reason", None)
    return isinstance(cause, (NewConnectionError, ConnectTimeoutError))
