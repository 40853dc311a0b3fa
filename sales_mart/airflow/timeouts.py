"""Every task's ``execution_timeout``, by kind of task, and the message a task fails with when
it runs out of time or a warehouse statement waits too long: it names what the task waited for.

Parse-time settings (seconds; environment only):

| kind | env | default | tasks |
|---|---|---|---|
| API call | ``SALES_MART_API_TASK_TIMEOUT`` | 600 | ``generate_report``, ``get_increment`` |
| download | ``SALES_MART_DOWNLOAD_TIMEOUT`` | 1800 | ``download`` |
| report wait | ``SALES_MART_REPORT_DEADLINE`` + 60 | 960 | ``wait_for_report`` (its own deadline fails it first) |
| warehouse step | ``SALES_MART_WAREHOUSE_TASK_TIMEOUT`` | 7200 | ``copy_to_staging``, ``ingest``, ``publish`` |
| check | ``SALES_MART_CHECK_TIMEOUT`` | 1800 | the gates and ``net_revenue_reconciles`` |

Inside the warehouse every statement also has ``lock_timeout`` and ``statement_timeout``
(:func:`sales_mart.config.dwh_session_options`, env ``SALES_MART_LOCK_TIMEOUT`` /
``SALES_MART_STATEMENT_TIMEOUT``): a statement blocked by another session fails after
``lock_timeout`` (2 min) instead of waiting out the task's timeout. Those defaults sit below the
warehouse steps' ``execution_timeout``, so the database's own error, which says what the
statement waited for, comes first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

from sales_mart.airflow.settings import env_float

# SQLSTATEs of a statement that waited too long: lock_not_available (lock_timeout) and
# query_canceled (statement_timeout, or a cancel).
LOCK_NOT_AVAILABLE = "55P03"
QUERY_CANCELED = "57014"


@dataclass(frozen=True)
class TaskKind:
    name: str
    env: str
    default_seconds: float
    waits_for: str  # named in the timeout message

    def seconds(self) -> float:
        return env_float(self.env, self.default_seconds)


API = TaskKind("API call", "SALES_MART_API_TASK_TIMEOUT", 600,
               "the report API (connection sales_api)")
DOWNLOAD = TaskKind("download", "SALES_MART_DOWNLOAD_TIMEOUT", 1800,
                    "the raw file from the report API and the archive")
REPORT_WAIT = TaskKind("report wait", "SALES_MART_REPORT_DEADLINE", 900,
                       "the report API to finish building the report (connection sales_api)")
WAREHOUSE = TaskKind("warehouse step", "SALES_MART_WAREHOUSE_TASK_TIMEOUT", 7200,
                     "the warehouse (connection sales_dwh)")
CHECK = TaskKind("check", "SALES_MART_CHECK_TIMEOUT", 1800,
                 "a data-quality check in the warehouse (connection sales_dwh)")
# The sensor's own deadline (its `timeout`) fails it first, with Airflow's sensor message;
# the execution_timeout is a backstop a minute later.
REPORT_WAIT_MARGIN = 60


def execution_timeout(kind: TaskKind) -> dt.timedelta:
    seconds = kind.seconds() + (REPORT_WAIT_MARGIN if kind is REPORT_WAIT else 0)
    return dt.timedelta(seconds=seconds)


def timeout_args(kind: TaskKind) -> dict[str, dt.timedelta]:
    """Task arguments: the ``execution_timeout`` of this kind of task."""
    return {"execution_timeout": execution_timeout(kind)}


def _seconds(delta: dt.timedelta) -> str:
    return f"{delta.total_seconds():g} s"


def warehouse_wait(exc: BaseException) -> str | None:
    """What a warehouse statement waited for, when ``exc`` (psycopg2 or psycopg 3) is a lock or
    statement timeout; None for any other error."""
    from sales_mart import config

    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    first = (str(exc).strip().splitlines() or [""])[0]
    if code == LOCK_NOT_AVAILABLE:
        return (f"waited longer than lock_timeout ({config.lock_timeout()}, "
                f"SALES_MART_LOCK_TIMEOUT) for a lock in the warehouse (connection sales_dwh) "
                f"that another session holds ({first}); find the session in pg_locks / "
                "pg_stat_activity, end it, then run the date again")
    if code == QUERY_CANCELED and "statement timeout" in first:
        return (f"a statement ran longer than statement_timeout ({config.statement_timeout()}, "
                f"SALES_MART_STATEMENT_TIMEOUT) in the warehouse (connection sales_dwh) "
                f"({first}); look for what holds or slows it, then run the date again")
    return None


@contextlib.contextmanager
def waiting(task_id: str, kind: TaskKind, timeout: dt.timedelta | None = None):
    """Runs a task's work; turns Airflow's bare ``Timeout, PID: …`` and the warehouse's lock
    and statement timeouts into a failure that names the task, the limit and what it waited for."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTimeout

    try:
        yield
    except AirflowTaskTimeout as exc:
        limit = timeout or execution_timeout(kind)
        raise AirflowTaskTimeout(
            f"{task_id} ran longer than its execution_timeout ({_seconds(limit)}, {kind.env}) "
            f"waiting for {kind.waits_for}") from exc
    except Exception as exc:
        wait = warehouse_wait(exc)
        if wait is None:
            raise
        raise AirflowFailException(f"{task_id} {wait}") from exc
