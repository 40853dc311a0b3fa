"""The one redaction every message of the report API client goes through: each error's text
(``ReportApiError`` redacts its message, ``IncrementNotFound`` its reason too) and each log
record of the client's and urllib3's loggers (:func:`redact_log_records`).

Masked wherever they appear in a text:

- the registered secrets (:func:`add_secret`): the API key of every client made in this
  process and the long query values of every file URL it was handed (a presigned URL's
  signature, credential, token), each also as it looks stripped, escaped or percent-encoded;
- a URL's credentials (``scheme://user:password@host`` → ``scheme://***@host``);
- the value of a parameter named like a signature or token (``X-Amz-Signature=***``);
- a URL's (or a request path's) query string (``/f.csv?X-Amz-…`` → ``/f.csv?…``).

Quote with :func:`excerpt`: it masks first and cuts after, so a secret across the cut cannot
leave its head behind.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit
from urllib.parse import quote as percent_encoded

MASK = "***"
BODY_EXCERPT = 300  # characters of an offending body quoted in errors
# Shorter values are not registered: masking every "k" or "abc" would garble every message and
# such a key guards nothing. File URLs' query values from this length on are taken for
# signatures or tokens (an expiry or a date is shorter).
MIN_SECRET_LENGTH = 6
MIN_URL_SECRET_LENGTH = 16
MAX_SECRETS = 1000  # the oldest registered values are forgotten first (a long-lived process)

_QUERY = re.compile(r"((?:https?://|/)[^\s?#'\"<>]*)\?[^\s#'\"<>)]+")
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s'\"<>?#]*@")
_SECRET_PARAM = re.compile(
    r"(?i)\b(x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
    r"x-goog-credential|signature|sig|access_token|token|api_key|apikey)(=|%3D)[^&\s'\"<>#)]+")

_lock = threading.Lock()
_secrets: dict[str, None] = {}  # insertion order: the oldest first
_longest_first: tuple[str, ...] = ()


def add_secret(value: str | None, min_length: int = MIN_SECRET_LENGTH) -> None:
    """Mask ``value`` in every later message, with the spellings it takes in error texts
    (stripped of whitespace, repr- or JSON-escaped, percent-encoded)."""
    global _longest_first
    if not value:
        return
    spellings = {value, value.strip(), repr(value)[1:-1], json.dumps(value)[1:-1],
                 percent_encoded(value, safe=""), quote_plus(value)}
    with _lock:
        for spelling in spellings:
            if len(spelling) >= min_length:
                _secrets.pop(spelling, None)
                _secrets[spelling] = None
        while len(_secrets) > MAX_SECRETS:
            del _secrets[next(iter(_secrets))]
        _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def add_url_secrets(url: str) -> None:
    """Register what a URL carries that is secret: its password, its long query values."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:  # not even a URL: the patterns of redact() still apply
        return
    add_secret(password)
    for raw in parts.query.split("&"):
        add_secret(raw.partition("=")[2], MIN_URL_SECRET_LENGTH)
    for _, value in parse_qsl(parts.query):
        add_secret(value, MIN_URL_SECRET_LENGTH)


def redact(text: str) -> str:
    """``text`` with every secret, URL credential, signature and query string masked."""
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _SECRET_PARAM.sub(rf"\1\2{MASK}", text)
    return _QUERY.sub(r"\1?…", text)


def excerpt(text: str | bytes, limit: int = BODY_EXCERPT) -> str:
    """``text`` redacted, then cut to ``limit`` characters (in that order)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = redact(text.strip())
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def quote(body: Any) -> str:
    """An answer's JSON, redacted and shortened, for an error message."""
    return excerpt(json.dumps(body, ensure_ascii=False))


def public_url(url: str) -> str:
    """A URL fit for a message: scheme, host, port and path; no credentials, no query."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return redact(url.split("?", 1)[0])
    host = f"[{host}]" if ":" in host else host
    return redact(f"{parts.scheme}://{host}{port}{parts.path}")


def host_of(url: str) -> str:
    """``host[:port]`` of a URL, without credentials; ``?`` when it has none."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "?"
    if not host:
        return "?"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def _redact_record(record: logging.LogRecord) -> bool:
    """Log filter: the record's text redacted once formatted (urllib3 logs request URLs with
    their query string), its traceback too."""
    record.msg, record.args = redact(record.getMessage()), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    return True


def redact_log_records(*logger_names: str) -> None:
    """Redact every record logged on these loggers (a filter on each: a logger's filters do not
    apply to its children's records)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _redact_record not in logger.filters:
            logger.addFilter(_redact_record)


redact_urls = redact  # its name before it masked more than URLs' query strings
