"""What the sales_mart DAG tasks do, kept out of the DAG files (``dags/sales_mart_*.py``).

Each function is one task's work: one API call, one download, one COPY or one CALL. They return
only ids, paths and counts (what goes to XCom). Settings:

Read when a DAG file is parsed (environment only, so parsing touches no database or network):

- ``SALES_MART_API_WINDOW_DAYS`` (default 7): the report API serves increments for that many
  days before today; the daily DAG's scheduled runs (catch-up included) never start earlier
  (:mod:`sales_mart.schedule`). Older days: ``sales_mart_history``.
- ``SALES_MART_START_DATE`` (or the env form of the Variable, ``AIRFLOW_VAR_SALES_MART_START_DATE``;
  optional, ``YYYY-MM-DD``): no scheduled run before this day either.
- ``SALES_MART_API_RETRIES`` (default 3), ``SALES_MART_API_RETRY_DELAY`` (seconds, default 60),
  ``SALES_MART_API_MAX_RETRY_DELAY`` (seconds, default 900): Airflow retries of the API tasks,
  with exponential backoff. SQL tasks never retry.
- ``SALES_MART_POLL_INTERVAL`` (seconds, default 5), ``SALES_MART_REPORT_DEADLINE`` (seconds,
  default 900): the ``wait_for_report`` sensor's longest wait between pokes (its first waits
  are 1, 1, 2-3 s) and its timeout.
- ``SALES_DWH_ROLE`` (default ``sales_loader``; empty: no role switch): the role the pipeline
  assumes after connecting to ``sales_dwh``.

Read when a task runs (Airflow Variable, or an environment variable of the same name in upper
case, which wins):

- ``sales_mart_landing_dir``: folder that keeps every downloaded raw file (default
  ``$AIRFLOW_HOME/sales_mart/landing``).
- ``sales_mart_api_retry``: JSON object of :func:`~sales_mart.api_client.default_retry`
  arguments for urllib3's retries inside one call (e.g. ``{"total": 3, "backoff_factor": 1}``).
- ``sales_mart_max_reject_share`` (default 0.01): the share of rejected rows a load may have
  (used by the check tasks' templates).
- ``sales_mart_alert_email`` (required for e-mail), ``sales_mart_alert_from`` (default
  ``sales-mart@localhost``): failure e-mail through the SMTP connection ``sales_smtp``.

Connections: ``sales_api`` (http; host = base URL, password = API key, extra nickname/cohort),
``sales_dwh`` (postgres), ``sales_smtp`` (smtp).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLCheckOperator
from airflow.sdk import BaseSensorOperator

log = logging.getLogger(__name__)

API_CONN_ID = "sales_api"
DWH_CONN_ID = "sales_dwh"
SMTP_CONN_ID = "sales_smtp"

# The DAGs' start_date: early, so any date a person runs or triggers gets its tasks (a logical
# date before start_date would run no task and "succeed"). Scheduling is the timetable's job.
ANY_DATE = pendulum.datetime(1970, 1, 1, tz="UTC")
COPY_TASK_ID = "copy_to_staging"
PUBLISH_TASK_ID = "publish"
# The run's load id, as a template for the SQL tasks after the COPY.
LOAD_ID_TEMPLATE = "{{ ti.xcom_pull(task_ids='" + COPY_TASK_ID + "') | int }}"


# --- parse-time settings (environment only) ---------------------------------------------


def catchup_from() -> dt.date | None:
    """``SALES_MART_START_DATE``: the first day a scheduled run may load (optional)."""
    raw = (os.environ.get("SALES_MART_START_DATE")
           or os.environ.get("AIRFLOW_VAR_SALES_MART_START_DATE") or "").strip()
    return dt.date.fromisoformat(raw[:10]) if raw else None


def api_window_days() -> int:
    """``SALES_MART_API_WINDOW_DAYS``: days before today the report API serves increments for."""
    from sales_mart.schedule import DEFAULT_WINDOW_DAYS

    return int(_env_float("SALES_MART_API_WINDOW_DAYS", DEFAULT_WINDOW_DAYS))


def daily_timetable():
    """``@daily`` whose catch-up never asks the API for a day outside its window."""
    from sales_mart.schedule import ApiWindowTimetable

    return ApiWindowTimetable(window_days=api_window_days(), catchup_from=catchup_from())


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def api_task_retry_args() -> dict[str, Any]:
    """Airflow retries of the tasks that talk to the report API: only for a failure another
    try may fix and no other layer retries (``TryAgainLater``: the report request refused with
    429/5xx, a file transfer cut off), with exponential backoff. Everything else fails at once:
    urllib3 already retried the transient HTTP failures inside the call (docs/airflow.md)."""
    from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

    from sales_mart.api_client import TryAgainLater

    return {
        "retries": int(_env_float("SALES_MART_API_RETRIES", 3)),
        "retry_delay": dt.timedelta(seconds=_env_float("SALES_MART_API_RETRY_DELAY", 60)),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(seconds=_env_float("SALES_MART_API_MAX_RETRY_DELAY", 900)),
        "retry_policy": ExceptionRetryPolicy(
            rules=[RetryRule(exception=TryAgainLater, action=RetryAction.RETRY,
                             reason="the API refused for now or a transfer broke off")],
            default=RetryAction.FAIL),
    }


def freshness_deadline():
    """The daily DAG's deadline alert: day D not published ``SALES_MART_FRESHNESS_HOURS`` hours
    after D began (default 33: D+1 09:00 UTC) e-mails the alert address (Airflow 3 deadline
    alerts: the scheduler notices the miss, the triggerer runs :func:`freshness_alert`).
    ``0`` turns it off."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    hours = _env_float("SALES_MART_FRESHNESS_HOURS", 33)
    if hours <= 0 or _under_dags_test():
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
                         interval=dt.timedelta(hours=hours), callback=AsyncCallback(freshness_alert),
                         name="sales_mart_freshness")


def _under_dags_test() -> bool:
    """Whether this process is ``airflow dags test``. There the deadline alert is left out:
    no scheduler runs to notice a miss, and Airflow 3.3.2's ``dag.test()`` fails when a run
    with a deadline alert succeeds (``DagRun.update_state`` looks the alerts up by id, while
    the test's in-memory DAG holds their definitions). For ``dag.test()`` from Python, set
    ``SALES_MART_FRESHNESS_HOURS=0``."""
    return Path(sys.argv[0]).name == "airflow" and sys.argv[1:3] == ["dags", "test"]


def dwh_role() -> str | None:
    from sales_mart import config

    return config.dwh_role()


def dwh_hook_params() -> dict[str, str]:
    """``hook_params`` of the SQL operators: connect to ``sales_dwh`` acting as the loader role."""
    role = dwh_role()
    return {"options": f"-c role={role}"} if role else {}


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
    archive (below) when ``sales_mart_archive_url`` is not set."""
    configured = setting("sales_mart_landing_dir")
    if configured:
        return Path(configured)
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "sales_mart" / "landing"


def archive_root():
    """Where raw files are archived, through Airflow's object storage: Variable
    ``sales_mart_archive_url`` (e.g. ``s3://bucket/sales_mart/``, with the connection named by
    ``sales_mart_archive_conn_id``), by default the local landing folder. With workers on
    several machines it must be storage they all reach: the COPY may run on another worker
    than the download."""
    from airflow.sdk import ObjectStoragePath

    url = setting("sales_mart_archive_url") or landing_dir().resolve().as_uri()
    return ObjectStoragePath(url.rstrip("/") + "/",
                             conn_id=setting("sales_mart_archive_conn_id") or None)


def _scratch():
    """A temporary folder in the worker's local landing folder (removed when done)."""
    import tempfile

    folder = landing_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix=".scratch-", dir=folder)


def api_retry():
    """urllib3 ``Retry`` of the API client: Variable ``sales_mart_api_retry``, a JSON object of
    :func:`~sales_mart.api_client.default_retry` arguments (``total``, ``backoff_factor``,
    ``backoff_max``, ``retry_after_max``)."""
    from sales_mart.api_client import default_retry

    raw = setting("sales_mart_api_retry")
    if not raw:
        return default_retry()
    return default_retry(**(raw if isinstance(raw, dict) else json.loads(raw)))


# --- errors -----------------------------------------------------------------------------


def _fail(message: str) -> Exception:
    """An error that fails the task at once, without Airflow retries."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(message)


# --- the report API ---------------------------------------------------------------------


def api_client():
    from airflow.sdk import BaseHook

    from sales_mart.api_client import ReportApiClient

    conn = BaseHook.get_connection(API_CONN_ID)
    return ReportApiClient.from_airflow_connection(conn, retry=api_retry())


def request_report() -> str:
    """``POST /generate_report``; returns the report task id. Never repeated inside the call
    (not idempotent); a refused request (no report started) is retried by Airflow."""
    with api_client() as client:
        return client.generate_report()


def report_sensor_args() -> dict[str, Any]:
    """``wait_for_report`` is a sensor in poke mode: one try that pokes ``GET /get_report``
    right after the report request and, while the report is RUNNING, sleeps 1 s, 1 s, 2-3 s,
    then ``SALES_MART_POLL_INTERVAL`` (seconds, default 5) between pokes (Airflow's sensor
    backoff from 1 s, ``max_wait`` the interval; an interval of 1 s or less is used as is,
    without backoff). So a quick report is picked up within a second or two, and a slow one (a
    minute on the real service) costs about one poke per interval. ``SALES_MART_REPORT_DEADLINE``
    (seconds, default 900) until the sensor fails (no retry).

    Not reschedule mode, although that gives the worker slot back between pokes: on Airflow 3.3
    a rescheduled sensor is sometimes failed when the executor's "success" for one poke reaches
    the scheduler after the next poke was queued, both pokes having the same try number
    (apache/airflow#71172, fix proposed in #71194). With waits of seconds that race is common
    (a run in four failed so under load here). Poke mode holds one slot for the report's minute,
    and the task instance stays running, so there is no late event to mistake."""
    interval = _env_float("SALES_MART_POLL_INTERVAL", 5)
    return {
        "mode": "poke",
        "poke_interval": min(interval, 1.0),
        "max_wait": interval,
        "exponential_backoff": interval > 1,
        "timeout": _env_float("SALES_MART_REPORT_DEADLINE", 900),
        "retries": 0,
    }


class ReportReadySensor(BaseSensorOperator):
    """``wait_for_report``: pokes ``GET /get_report`` for the report task ``report_task_id``
    (templated: the ``generate_report`` task's XCom) until the report is ready; see
    :func:`report_sensor_args` for the mode and timing."""

    template_fields = ("report_task_id",)

    def __init__(self, *, report_task_id: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_task_id = report_task_id

    def poke(self, context):
        return poke_report(self.report_task_id)


def poke_report(task_id: str):
    """One poke of ``wait_for_report``: done once the report is ready, with its task id, report
    id and last day (no URL: the download asks the API for the file's signed URL itself, so it
    never reaches XCom)."""
    from airflow.sdk import PokeReturnValue

    with api_client() as client:
        report = client.get_report(task_id)
    if report is None:
        log.info("report task %s is still RUNNING", task_id)
        return PokeReturnValue(is_done=False)
    log.info("report %s ready: %s .. %s", report.report_id, report.start_day, report.end_date)
    return PokeReturnValue(is_done=True, xcom_value={
        "task_id": task_id, "report_id": report.report_id,
        "end_date": report.end_date.isoformat()})


def _increment(client, report_id: str, day: str):
    """``GET /get_increment`` for ``day``; NOT FOUND fails the run with the API's reason."""
    from sales_mart.api_client import IncrementNotFound

    try:
        return client.get_increment(report_id, day)
    except IncrementNotFound as exc:
        raise _fail(
            f"gate 1 (file generated): the API answered NOT FOUND for {day}: {exc.reason}. "
            f"The report API serves increments for the {api_window_days()} days before today "
            "only: load an older day with the DAG sales_mart_history (the full report, about "
            "days -30..-8) or `sales-mart load FILE --date` from an archived file; a recent day "
            "may simply not be ready yet, so run it again later.") from None


def get_increment(report_id: str, day: str) -> dict[str, str]:
    """``GET /get_increment`` for ``day`` (gate 1: the API has the day); returns ids only."""
    with api_client() as client:
        increment = _increment(client, report_id, day)
    return {"report_id": report_id, "increment_id": increment.increment_id}


def landing_name(prefix: str, day: str, sha256: str) -> str:
    """A raw file's name in the landing folder: file name, date and checksum."""
    return f"{prefix}_{day}_{sha256[:16]}.csv"


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
    """Asks the API for the day's file (a fresh signed URL) and downloads it, see :func:`_land`."""
    with api_client() as client:
        url = _signed(_increment(client, report_id, day).files["user_order_log_inc"])
        return _land(client, url, kind="increments", day=day)


def download_history(task_id: str) -> dict[str, Any]:
    """Asks the API for the ready report's file (a fresh signed URL) and downloads it."""
    with api_client() as client:
        report = client.get_report(task_id)
        if report is None:
            raise _fail(f"report task {task_id} answers RUNNING again; run the DAG again")
        url = _signed(report.files["user_order_log"])
        return _land(client, url, kind="history", day=report.end_date.isoformat())


def max_download_bytes() -> int:
    """``sales_mart_max_download_mb`` (default 1024): a larger file fails the download."""
    return int(float(setting("sales_mart_max_download_mb", 1024)) * 1024 * 1024)


def retention_days() -> float:
    """``sales_mart_landing_retention_days`` (default 30; 0 keeps raw files forever)."""
    return float(setting("sales_mart_landing_retention_days", 30))


def prune_archive(folder, days: float, now: float | None = None) -> list:
    """Deletes raw files of the archive ``folder`` (an ObjectStoragePath) written more than
    ``days`` ago; returns them."""
    if days <= 0 or not folder.exists():
        return []
    cutoff = (time.time() if now is None else now) - days * 86400
    old = [p for p in folder.iterdir()
           if p.name.endswith(".csv") and p.is_file() and p.stat().st_mtime < cutoff]
    for path in old:
        path.unlink()
    if old:
        log.info("removed %d raw file(s) older than %g days from %s", len(old), days, folder)
    return old


def _land(client, url: str, *, kind: str, day: str) -> dict[str, Any]:
    """Downloads one file (into the worker's scratch folder) and archives it through object
    storage, named by date and checksum (mode 0640 on a local archive); archived files older
    than the retention are removed. Returns the archived file's URI, checksum and counts: the
    COPY task fetches it from the archive, wherever it runs.

    Gate 1: the download is complete (the client checks Content-Length) and non-empty.
    """
    from airflow.sdk import ObjectStoragePath

    folder = archive_root() / kind
    with _scratch() as scratch:
        result = client.download(url, Path(scratch) / "incoming.csv",
                                 max_bytes=max_download_bytes())
        prefix = "user_order_log" if kind == "history" else "user_order_log_inc"
        target = folder / landing_name(prefix, day, result.sha256)
        if target.protocol == "file":
            Path(target.path).parent.mkdir(parents=True, exist_ok=True)
        ObjectStoragePath(result.path.resolve().as_uri()).copy(target)
        if target.protocol == "file":
            os.chmod(target.path, 0o640)
    log.info("raw file archived at %s (%d bytes, %d rows, sha256 %s)", target, result.bytes,
             result.rows, result.sha256)
    prune_archive(folder, retention_days())
    if result.rows == 0:
        what = "0 bytes" if result.bytes == 0 else "a header and no rows"
        raise _fail(f"gate 1 (file generated): the file for {day} is empty ({what}); "
                    f"archived at {target}")
    return {"uri": str(target), "sha256": result.sha256, "bytes": result.bytes,
            "rows": result.rows}


# --- the warehouse ----------------------------------------------------------------------


def dwh_connect():
    """A psycopg2 connection to ``sales_dwh`` acting as the loader role.

    (PostgresHook hands out psycopg 3 connections here; the warehouse's COPY path is psycopg2.)
    """
    import psycopg2
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(DWH_CONN_ID)
    kwargs: dict[str, Any] = {
        "host": conn.host or "127.0.0.1",
        "port": conn.port or 5432,
        "user": conn.login or None,
        "password": conn.password or None,
        "dbname": conn.schema or "sales_mart",
        "application_name": "sales_mart_airflow",
    }
    extra = conn.extra_dejson or {}
    for key in ("sslmode", "sslrootcert", "connect_timeout"):
        if key in extra:
            kwargs[key] = extra[key]
    role = dwh_role()
    if role:
        kwargs["options"] = f"-c role={role}"
    return psycopg2.connect(**{k: v for k, v in kwargs.items() if v is not None})


def copy_to_staging(uri: str, sha256: str, *, source: str, day: str | None) -> int:
    """Fetches the archived file (object storage, so from any worker) into this worker's
    scratch folder, opens a load and COPYs it into ``staging.user_order_inc``; returns the
    load id."""
    from airflow.sdk import ObjectStoragePath

    from sales_mart import warehouse

    delivery = dt.date.fromisoformat(day) if day else None
    archived = ObjectStoragePath(uri, conn_id=archive_root().conn_id)
    conn = dwh_connect()
    try:
        with _scratch() as scratch:
            local = Path(scratch) / archived.name
            archived.copy(ObjectStoragePath(local.resolve().as_uri()))
            return warehouse.copy_file(conn, local, source=source, delivery_date=delivery,
                                       sha256=sha256, name=uri)
    except warehouse.FileRefused as exc:
        raise _fail(f"the file was refused (journalled in staging.load_log): {exc}") from None
    finally:
        conn.close()


def ingest(load_id: int) -> dict[str, int]:
    """``CALL staging.ingest_load(load_id)``; returns the journalled counts."""
    from sales_mart import warehouse

    conn = dwh_connect()
    try:
        summary = warehouse.ingest(conn, int(load_id))
    finally:
        conn.close()
    log.info("%s", summary.describe())
    return {"load_id": summary.load_id, "rows_read": summary.rows_read,
            "rows_loaded": summary.rows_loaded, "rows_duplicate": summary.rows_duplicate,
            "rows_rejected": summary.rows_rejected}


def fail_load(load_id: int, reason: str) -> None:
    """``CALL staging.fail_load``: the journal shows the load failed, and why."""
    from sales_mart import warehouse

    conn = dwh_connect()
    try:
        warehouse.fail_load(conn, int(load_id), reason)
    finally:
        conn.close()


def mark_load_failed(context) -> None:
    """Failure callback of the tasks after the COPY: marks the run's load failed."""
    ti = context["ti"]
    load_id = ti.xcom_pull(task_ids=COPY_TASK_ID)
    if load_id is None:
        return
    reason = f"{ti.dag_id} {context.get('ds')} task {ti.task_id}: {context.get('exception')}"
    try:
        fail_load(int(load_id), reason[:2000])
    except Exception:  # the e-mail must still go out
        log.exception("could not mark load %s failed", load_id)


# --- checks and notifications -----------------------------------------------------------


def check_sql(name: str) -> str:
    from sales_mart import warehouse

    return warehouse.check_sql(name)


def check_parameters() -> dict[str, str]:
    """Templated parameters of every check file: the run's load id and the reject threshold."""
    from sales_mart import warehouse

    default = warehouse.DEFAULT_MAX_REJECT_SHARE
    return {
        "load_id": LOAD_ID_TEMPLATE,
        "max_reject_share": (
            "{{ var.value.get('sales_mart_max_reject_share', " + str(default) + ") | float }}"
        ),
    }


class CheckFileOperator(SQLCheckOperator):
    """``SQLCheckOperator`` running one file of ``db/checks`` (the files the command line uses),
    with templated ``parameters`` (the run's load id from XCom). The failure message names the
    check and its result row ``(passed, detail)``."""

    template_fields = (*SQLCheckOperator.template_fields, "parameters")

    def __init__(self, *, check: str, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", check)
        kwargs.setdefault("conn_id", DWH_CONN_ID)
        kwargs.setdefault("hook_params", dwh_hook_params())
        kwargs.setdefault("parameters", check_parameters())
        super().__init__(sql=check_sql(check), **kwargs)
        self.check = check

    def _raise_exception(self, exception_string: str):
        results = getattr(self, "check_results", None) or []
        actual = results[0].actual if results else None
        if actual:
            exception_string = (f"data-quality check {self.check} failed for load "
                                f"{(self.parameters or {}).get('load_id')}: {actual}")
        super()._raise_exception(exception_string)


ALERT_SUBJECT = ("[sales_mart] {{ dag.dag_id }} failed for {{ ds }} "
                 "at task {{ ti.task_id }}")
# Everything quoted is HTML-escaped: a reason may quote an API answer or a data value.
ALERT_BODY = """\
<p>DAG <b>{{ dag.dag_id | e }}</b>, date <b>{{ ds | e }}</b>, run {{ run_id | e }}:
task <b>{{ ti.task_id | e }}</b> failed (try {{ ti.try_number }}).</p>
<p>Reason:</p>
<pre>{{ exception | e }}</pre>
<p>Next step: {{ next_step | e }}</p>
<p>Log: <a href="{{ ti.log_url | e }}">{{ ti.log_url | e }}</a></p>
"""

API_TASK_IDS = frozenset({"generate_report", "wait_for_report", "get_increment", "download"})


def next_step(context) -> str:
    """What the person reading the failure e-mail should do, by the failed task."""
    ti = context["ti"]
    rerun = (f"airflow dags test {ti.dag_id} {context.get('ds')}"
             if ti.dag_id == "sales_mart_daily" else f"airflow dags trigger {ti.dag_id}")
    again = f"then run the date again ({rerun}, or clear the failed task in the UI)."
    if ti.task_id in API_TASK_IDS:
        return ("nothing reached the warehouse. If the API is down or refusing, wait, or fix "
                "the connection sales_api as the reason says; for a day the API no longer "
                f"serves, use sales_mart_history; {again}")
    return ("the mart is as it was before this delivery. The load is journalled in "
            "staging.load_log (status, error) and rejected rows in "
            "staging.user_order_log_rejects; fix the cause at the source, " + again)


def failure_notifier():
    """The failure e-mail: DAG, date, task, reason, log link, to Variable sales_mart_alert_email."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        from_email="{{ var.value.get('sales_mart_alert_from', 'sales-mart@localhost') }}",
        to="{{ var.value.sales_mart_alert_email }}",
        smtp_conn_id=SMTP_CONN_ID,
        subject=ALERT_SUBJECT,
        html_content=ALERT_BODY,
    )


def notify_failure(context) -> None:
    """Failure callback: sends the e-mail with a fresh :func:`failure_notifier`.

    A notifier renders its templates in place, so one shared instance would repeat the first
    failure's subject in every later e-mail of the same process (``airflow dags test``).
    """
    failure_notifier()({**context, "next_step": next_step(context)})


FRESHNESS_SUBJECT = ("[sales_mart] {{ dag_run.dag_id }}: {{ dag_run.logical_date[:10] }} not "
                     "published by {{ deadline.deadline_time }}")
FRESHNESS_BODY = """\
<p>Day <b>{{ dag_run.logical_date[:10] | e }}</b> of <b>{{ dag_run.dag_id | e }}</b> was not
published by its deadline, {{ deadline.deadline_time | e }} (run {{ dag_run.run_id | e }},
state {{ dag_run.state | e }}). The retention views do not hold that day yet.</p>
<p>Next step: look at the run in the Airflow UI; if it failed, its failure e-mail says why.
Run the date again once the cause is fixed
(<code>airflow dags test {{ dag_run.dag_id | e }} {{ dag_run.logical_date[:10] | e }}</code>,
or clear the failed task).</p>
"""


async def freshness_alert(context: dict[str, Any], **_: Any) -> None:
    """Deadline-alert callback (runs on the triggerer): e-mails Variable
    ``sales_mart_alert_email`` through ``sales_smtp`` that the run's day is not published.
    A run created after its deadline (catch-up of older days, a person running an old date)
    sends nothing: that would be one alert per day caught up, about days long past."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from asgiref.sync import sync_to_async

    run = context["dag_run"]
    deadline = pendulum.parse(str(context["deadline"]["deadline_time"]))
    # When the run came to be: queued (scheduler, trigger) or, for a manual run, run_after.
    born = [pendulum.parse(str(run[k])) for k in ("queued_at", "run_after") if run.get(k)]
    if born and max(born) > deadline:
        # Born after its deadline (a catch-up run, a person re-running an old day): not a
        # freshness miss, and its own failure e-mail (if any) says the rest.
        log.info("run %s was created after its deadline %s: no freshness alert",
                 run.get("dag_run_id"), deadline)
        return
    to = await sync_to_async(setting)("sales_mart_alert_email")
    sender = await sync_to_async(setting)("sales_mart_alert_from", "sales-mart@localhost")
    notifier = SmtpNotifier(from_email=sender, to=to, smtp_conn_id=SMTP_CONN_ID,
                            subject=FRESHNESS_SUBJECT, html_content=FRESHNESS_BODY)
    notifier.render_template_fields(context)
    await notifier.async_notify(context)


# --- the warehouse half of a DAG --------------------------------------------------------


def after_copy_args() -> dict[str, Any]:
    """Task arguments after the COPY: a failure also marks the run's load failed."""
    return {"on_failure_callback": [mark_load_failed, notify_failure]}


RETENTION_VIEWS = ("mart.customer_retention", "mart.customer_retention_by_city")


def retention_assets() -> list:
    """The retention views as Airflow Assets: ``publish`` updates them (its outlets), so a BI
    refresh or an export DAG can run on ``schedule=[Asset("mart.customer_retention")]``."""
    from airflow.sdk import Asset

    return [Asset(name=view, group="sales_mart") for view in RETENTION_VIEWS]


def load_into_mart(ingested) -> None:
    """Inside a DAG: after the ingest task, the gates (one check file each), then ``publish``
    (``CALL mart.publish_load``: the gates again, merge, reconciliation and refresh in one
    transaction, so a failure leaves the mart as it was), then a read-only confirmation."""
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
    from airflow.sdk import chain

    from sales_mart import warehouse

    args = after_copy_args()
    gates = [CheckFileOperator(check=name, **args) for name in warehouse.GATE_CHECKS]
    publish = SQLExecuteQueryOperator(
        task_id=PUBLISH_TASK_ID, conn_id=DWH_CONN_ID, hook_params=dwh_hook_params(),
        sql=warehouse.PUBLISH_SQL, parameters=check_parameters(), outlets=retention_assets(),
        **args,
    )
    confirm = [CheckFileOperator(check=name, **args) for name in warehouse.FINAL_CHECKS]
    chain(ingested, *gates, publish, *confirm)
