"""The errors of the report API client (sales_mart.api_client), all :class:`ReportApiError`.

Every message (and ``IncrementNotFound.reason``) goes through :func:`sales_mart.redaction.redact`
when the error is made: whatever a caller puts in, no registered secret, URL credential or
query string comes out.
"""

from __future__ import annotations

import datetime as dt

from sales_mart.redaction import redact


class ReportApiError(Exception):
    """Any failure talking to the report API. Its message is redacted (see the module doc)."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(redact(str(message)), *args)


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
        self.reason = redact(str(reason))  # quoted by the task failure and the alert e-mail
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


__all__ = [
    "AuthError", "ConfigError", "DownloadTooLarge", "IncompleteDownload", "IncrementNotFound",
    "MalformedResponse", "ReportApiError", "ReportRequestUncertain", "RetriesExhausted",
    "TryAgainLater",
]
