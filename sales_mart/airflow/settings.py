"""Connection ids, task ids and settings of the sales_mart tasks.

Read when a DAG file is parsed (environment only, so parsing touches no database or network):

- ``SALES_MART_API_WINDOW_DAYS`` (default 7): the report API serves increments for that many
  days before today; the daily DAG's scheduled runs (catch-up included) never start earlier
  (:mod:`sales_mart.schedule`). Older days: ``sales_mart_history``.
- ``SALES_MART_START_DATE`` (or the env form of the Variable, ``AIRFLOW_VAR_SALES_MART_START_DATE``;
  optional, ``YYYY-MM-DD``): no scheduled run before this day either.
- ``SALES_MART_API_RETRIES`` (default 3), ``SALES_MART_API_RETRY_DELAY`` (seconds, default 60),
  ``SALES_MART_API_MAX_RETRY_DELAY`` (seconds, default 900): Airflow retries of the API tasks,
  with exponential backoff. SQL tasks never retry.
- ``SALES_MART_POLL_INTERVAL``, ``SALES_MART_REPORT_DEADLINE``: the ``wait_for_report`` sensor
  (:mod:`~sales_mart.airflow.report_sensor`).
- the ``execution_timeout`` of each kind of task (:mod:`~sales_mart.airflow.timeouts`).
- ``SALES_DWH_ROLE`` (default ``sales_loader``; empty: no role switch): the role the pipeline
  assumes after connecting to ``sales_dwh``.

Read when a task runs (Airflow Variable, or an environment variable of the same name in upper
case, which wins): ``sales_mart_landing_dir``, ``sales_mart_archive_url``,
``sales_mart_archive_conn_id``, ``sales_mart_api_retry``, ``sales_mart_max_download_mb``,
``sales_mart_landing_retention_days``, ``sales_mart_max_reject_share``,
``sales_mart_alert_email``, ``sales_mart_alert_from`` (docs/airflow.md lists them).

Connections: ``sales_api`` (http; host = base URL, password = API key, extra nickname/cohort),
``sales_dwh`` (postgres), ``sales_smtp`` (smtp).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pendulum

API_CONN_ID = "sales_api"
DWH_CONN_ID = "sales_dwh"
SMTP_CONN_ID = "sales_smtp"

# The DAGs' start_date: early, so any date a person runs or triggers gets its tasks (a logical
# date before start_date would run no task and "succeed"). Scheduling is the timetable's job.
ANY_DATE = pendulum.datetime(1970, 1, 1, tz="UTC")
COPY_TASK_ID = "copy_to_staging"
PUBLISH_TASK_ID = "publish"
# The tasks that talk to the report API (nothing of theirs reaches the warehouse).
API_TASK_IDS = frozenset({"generate_report", "wait_for_report", "get_increment", "download"})
# The run's load id, as a template for the SQL tasks after the COPY.
LOAD_ID_TEMPLATE = "{{ ti.xcom_pull(task_ids='" + COPY_TASK_ID + "') | int }}"


# --- parse-time settings (environment only) ---------------------------------------------


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def catchup_from() -> dt.date | None:
    """``SALES_MART_START_DATE``: the first day a scheduled run may load (optional)."""
    raw = (os.environ.get("SALES_MART_START_DATE")
           or os.environ.get("AIRFLOW_VAR_SALES_MART_START_DATE") or "").strip()
    return dt.date.fromisoformat(raw[:10]) if raw else None


def api_window_days() -> int:
    """``SALES_MART_API_WINDOW_DAYS``: days before today the report API serves increments for."""
    from sales_mart.schedule import DEFAULT_WINDOW_DAYS

    return int(env_float("SALES_MART_API_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))


def daily_timetable():
    """``@daily`` whose catch-up never asks the API for a day outside its window."""
    from sales_mart.schedule import ApiWindowTimetable

    return ApiWindowTimetable(window_days=api_window_days(), catchup_from=catchup_from())


def dwh_role() -> str | None:
    from sales_mart import config

    return config.dwh_role()


# --- run-time settings (Variables) ------------------------------------------------------


def setting(name: str, default: Any = None) -> Any:
    """An environment variable ``NAME`` if set, else the Airflow Variable ``name``, else default."""
    value = os.environ.get(name.upper())
    if value not in (None, ""):
        return value
    from airflow.sdk import Variable

    return Variable.get(name, default=default)


def landing_dir() -> Path:
    """The worker's local folder: scratch space of its downloads and COPYs, and the default
    archive (:func:`sales_mart.airflow.archive.archive_root`) when ``sales_mart_archive_url`` is
    not set."""
    configured = setting("sales_mart_landing_dir")
    if configured:
        return Path(configured)
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "sales_mart" / "landing"


def api_retry():
    """urllib3 ``Retry`` of the API client: Variable ``sales_mart_api_retry``, a JSON object of
    :func:`~sales_mart.api_client.default_retry` arguments (``total``, ``backoff_factor``,
    ``backoff_max``, ``retry_after_max``)."""
    from sales_mart.api_client import default_retry

    raw = setting("sales_mart_api_retry")
    if not raw:
        return default_retry()
    return default_retry(**(raw if isinstance(raw, dict) else json.loads(raw)))


def max_download_bytes() -> int:
    """``sales_mart_max_download_mb`` (default 1024): a larger file fails the download."""
    return int(float(setting("sales_mart_max_download_mb", 1024)) * 1024 * 1024)


# --- errors -----------------------------------------------------------------------------


def fail(message: str) -> Exception:
    """An error that fails the task at once, without Airflow retries."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)
