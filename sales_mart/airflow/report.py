"""The report API tasks: ``generate_report``, ``get_increment`` and ``download`` (SPEC §2).

Each is one API call or one download; they return ids, the archived file's URI and counts (what
goes to XCom), never a URL. Retries: :func:`api_task_args` (docs/airflow.md, "Retry layers").
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from sales_mart.airflow import archive, lineage, timeouts
from sales_mart.airflow.settings import (
    API_CONN_ID,
    api_retry,
    api_window_days,
    env_float,
    fail,
    max_download_bytes,
)

log = logging.getLogger(__name__)


def api_task_args(kind: timeouts.TaskKind = timeouts.API) -> dict[str, Any]:
    """Task arguments of the tasks that talk to the report API: Airflow retries only for a
    failure another try may fix and no other layer retries (``TryAgainLater``: the report
    request refused with 429/5xx, a file transfer cut off), with exponential backoff; everything
    else fails at once (urllib3 already retried the transient HTTP failures inside the call).
    And the ``execution_timeout`` of the task's kind."""
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    from sales_mart.api_client import TryAgainLater

    return {
        "retries": int(env_float("SALES_MART_API_RETRIES", 3)),
        "retry_delay": dt.timedelta(seconds=env_float("SALES_MART_API_RETRY_DELAY", 60)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=env_float("SALES_MART_API_MAX_RETRY_DELAY", 900)),
        "retry_policy": ExceptionRetryPolicy(
            rules=[RetryRule(exception=TryAgainLater, action=RetryAction.RETRY,
                             reason="the API refused for now or a transfer broke off")],
            default=RetryAction.FAIL),
        **timeouts.timeout_args(kind),
    }


def download_task_args() -> dict[str, Any]:
    return api_task_args(timeouts.DOWNLOAD)


def api_client():
    from airflow.sdk import BaseHook

    from sales_mart.api_client import ReportApiClient

    conn = BaseHook.get_connection(API_CONN_ID)
    return ReportApiClient.from_airflow_connection(conn, retry=api_retry())


def request_report() -> str:
    """``generate_report``: ``POST /generate_report``; returns the report task id. Never
    repeated inside the call (not idempotent); a refused request (no report started) is retried
    by Airflow."""
    lineage.start_collecting()
    with timeouts.waiting("generate_report", timeouts.API), api_client() as client:
        return client.generate_report()


def _increment(client, report_id: str, day: str):
    """``GET /get_increment`` for ``day``; NOT FOUND fails the run with the API's reason."""
    from sales_mart.api_client import IncrementNotFound

    try:
        return client.get_increment(report_id, day)
    except IncrementNotFound as exc:
        raise fail(
            f"gate 1 (file generated): the API answered NOT FOUND for {day}: {exc.reason}. "
            f"The report API serves increments for the {api_window_days()} days before today "
            "only: load an older day with the DAG sales_mart_history (the full report, about "
            "days -30..-8) or `sales-mart load FILE --date` from an archived file; a recent day "
            "may simply not be ready yet, so run it again later.") from None


def get_increment(report_id: str, day: str) -> dict[str, str]:
    """``get_increment``: ``GET /get_increment`` for ``day`` (gate 1: the API has the day);
    returns ids only."""
    lineage.start_collecting()
    with timeouts.waiting("get_increment", timeouts.API), api_client() as client:
        increment = _increment(client, report_id, day)
    return {"report_id": report_id, "increment_id": increment.increment_id}


def _signed(url: str) -> str:
    """A file URL from the API: its query string (an object store's signature) is masked in
    every task log line from now on; the URL itself is never returned to XCom."""
    from urllib.parse import urlsplit

    from airflow.sdk.log import mask_secret

    query = urlsplit(url).query
    if query:
        mask_secret(query)
    return url


def download_increment(report_id: str, day: str) -> dict[str, Any]:
    """``download`` (daily): asks the API for the day's file (a fresh signed URL) and downloads
    it, see :func:`land`."""
    lineage.start_collecting()
    with timeouts.waiting("download", timeouts.DOWNLOAD), api_client() as client:
        url = _signed(_increment(client, report_id, day).files["user_order_log_inc"])
        return land(client, url, kind="increments", day=day)


def download_history(task_id: str) -> dict[str, Any]:
    """``download`` (history): asks the API for the ready report's file (a fresh signed URL)
    and downloads it."""
    lineage.start_collecting()
    with timeouts.waiting("download", timeouts.DOWNLOAD), api_client() as client:
        report = client.get_report(task_id)
        if report is None:
            raise fail(f"report task {task_id} answers RUNNING again; run the DAG again")
        url = _signed(report.files["user_order_log"])
        return land(client, url, kind="history", day=report.end_date.isoformat())


def land(client, url: str, *, kind: str, day: str) -> dict[str, Any]:
    """Downloads one file (into the worker's scratch folder) and archives it, named by date and
    checksum; archived files older than the retention are removed. Returns the archived file's
    URI, checksum and counts: the COPY task fetches it from the archive, wherever it runs.

    Gate 1: the download is complete (the client checks Content-Length) and non-empty.
    """
    folder = archive.archive_root() / kind
    with archive.scratch() as scratch:
        result = client.download(url, Path(scratch) / "incoming.csv",
                                 max_bytes=max_download_bytes())
        prefix = "user_order_log" if kind == "history" else "user_order_log_inc"
        target = folder / archive.landing_name(prefix, day, result.sha256)
        archive.store(result.path, target)
    log.info("raw file archived at %s (%d bytes, %d rows, sha256 %s)", target, result.bytes,
             result.rows, result.sha256)
    archive.prune_archive(folder, archive.retention_days())
    if result.rows == 0:
        what = "0 bytes" if result.bytes == 0 else "a header and no rows"
        raise fail(f"gate 1 (file generated): the file for {day} is empty ({what}); "
                   f"archived at {target}")
    return {"uri": str(target), "sha256": result.sha256, "bytes": result.bytes,
            "rows": result.rows}
