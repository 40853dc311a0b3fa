"""The ``wait_for_report`` sensor: pokes ``GET /get_report`` until the report is ready."""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import BaseSensorOperator

from sales_mart.airflow import timeouts
from sales_mart.airflow.report import api_client
from sales_mart.airflow.settings import env_float

log = logging.getLogger(__name__)


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
    interval = env_float("SALES_MART_POLL_INTERVAL", 5)
    return {
        "mode": "poke",
        "poke_interval": min(interval, 1.0),
        "max_wait": interval,
        "exponential_backoff": interval > 1,
        "timeout": timeouts.REPORT_WAIT.seconds(),
        "retries": 0,
        **timeouts.timeout_args(timeouts.REPORT_WAIT),
    }


class ReportReadySensor(BaseSensorOperator):
    """``wait_for_report``: pokes ``GET /get_report`` for the report task ``report_task_id``
    (templated: the ``generate_report`` task's XCom) until the report is ready; see
    :func:`report_sensor_args` for the mode and timing."""

    template_fields = ("report_task_id",)

    def __init__(self, *, report_task_id: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.report_task_id = report_task_id

    def execute(self, context):
        with timeouts.waiting(self.task_id, timeouts.REPORT_WAIT, self.execution_timeout):
            return super().execute(context)

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
