"""The redaction every message of the report API client goes through (exceptions, log records).

URLs' query strings (object stores sign file URLs there) are replaced by ``?…``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BODY_EXCERPT = 300  # characters of an offending body quoted in errors

# A URL's (or a request path's) query string: where presigned URLs carry their signature.
_QUERY = re.compile(r"((?:https?://|/)[^\s?#'\"<>]*)\?[^\s#'\"<>)]+")


def redact_urls(text: str) -> str:
    """``text`` with the query string of every URL in it replaced by ``?…``."""
    return _QUERY.sub(r"\1?…", text)


def _redact_record(record: logging.LogRecord) -> bool:
    """Log filter: urllib3 logs request URLs with their query string."""
    record.msg, record.args = redact_urls(record.getMessage()), ()
    return True


def redact_log_records(*logger_names: str) -> None:
    """Redact every record logged on these loggers (a filter on each: a logger's filters do not
    apply to its children's records)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if _redact_record not in logger.filters:
            logger.addFilter(_redact_record)


def excerpt(text: str | bytes, limit: int = BODY_EXCERPT) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def quote(body: Any) -> str:
    """An answer's JSON, shortened, for an error message."""
    return excerpt(json.dumps(body, ensure_ascii=False))


def public_url(url: str) -> str:
    """A URL fit for logs: without its query string (presigned URLs carry tokens there)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
