"""What the report API answers (SPEC §2), read field by field: the results of the client
(sales_mart.api_client) and the checks that make a missing or odd field a clear error."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sales_mart.api_errors import MalformedResponse
from sales_mart.redaction import add_url_secrets, excerpt, quote


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


def date_arg(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def answer_field(body: Any, what: str, *path: str) -> Any:
    """``body[path[0]][path[1]]…``; :class:`MalformedResponse` when absent or empty."""
    value = body
    for key in path:
        if not isinstance(value, dict) or key not in value or value[key] in (None, ""):
            raise MalformedResponse(
                f"{what}: the answer lacks field {'.'.join(path)}: {quote(body)!r}")
        value = value[key]
    return value


def day_field(body: Any, what: str, *path: str) -> dt.date:
    value = answer_field(body, what, *path)
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise MalformedResponse(
            f"{what}: field {'.'.join(path)} is not a date: {excerpt(str(value))!r}") from None


def file_urls(body: Any, what: str, needed: str) -> dict[str, str]:
    """``data.s3_path``: file name -> URL; it must name ``needed``. The URLs' signatures are
    registered for redaction: no later message of this process quotes them."""
    files = answer_field(body, what, "data", "s3_path")
    if isinstance(files, dict):
        for url in files.values():
            add_url_secrets(str(url))
    if not isinstance(files, dict) or needed not in files:
        raise MalformedResponse(f"{what}: data.s3_path lacks {needed}: {quote(body)!r}")
    return {str(k): str(v) for k, v in files.items()}


def not_found_reason(body: dict[str, Any]) -> str:
    """Why the API answered ``NOT FOUND``, as it says it (redacted, shortened)."""
    reason = body.get("reason") or body.get("detail") or body.get("message")
    return excerpt(str(reason)) if reason else quote(body)
