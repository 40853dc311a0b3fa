"""The warehouse steps before the gates: ``copy_to_staging`` (one COPY) and ``ingest`` (one
CALL), and marking a load failed when a later task fails. Each goes through
:mod:`sales_mart.warehouse`, the path the command line takes too."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from sales_mart.airflow import alerts, archive, dwh, lineage, timeouts
from sales_mart.airflow.settings import COPY_TASK_ID, fail

log = logging.getLogger(__name__)


def copy_task_args() -> dict[str, Any]:
    return {"task_id": COPY_TASK_ID, **timeouts.timeout_args(timeouts.WAREHOUSE)}


def after_copy_args(kind: timeouts.TaskKind = timeouts.WAREHOUSE) -> dict[str, Any]:
    """Task arguments after the COPY: a failure also marks the run's load failed (then the
    e-mail); the ``execution_timeout`` of the task's kind."""
    return {"on_failure_callback": [mark_load_failed, alerts.notify_failure],
            **timeouts.timeout_args(kind)}


def copy_to_staging(uri: str, sha256: str, *, source: str, day: str | None) -> int:
    """``copy_to_staging``: fetches the archived file (object storage, so from any worker) into
    this worker's scratch folder, opens a load and COPYs it into ``staging.user_order_inc``;
    returns the load id."""
    from sales_mart import warehouse

    lineage.start_collecting()
    delivery = dt.date.fromisoformat(day) if day else None
    with timeouts.waiting(COPY_TASK_ID, timeouts.WAREHOUSE):
        conn = dwh.connect()
        try:
            with archive.scratch() as scratch:
                local = Path(scratch) / Path(uri).name
                archive.fetch(uri, local)
                load_id = warehouse.copy_file(conn, local, source=source, delivery_date=delivery,
                                              sha256=sha256, name=uri)
        except warehouse.FileRefused as exc:
            raise fail(f"the file was refused (journalled in staging.load_log): {exc}") from None
        finally:
            conn.close()
    lineage.collect(writes=lineage.COPY_WRITES)
    return load_id


def ingest(load_id: int) -> dict[str, int]:
    """``ingest``: ``CALL staging.ingest_load(load_id)``; returns the journalled counts."""
    from sales_mart import warehouse

    lineage.start_collecting()
    with timeouts.waiting("ingest", timeouts.WAREHOUSE):
        conn = dwh.connect()
        try:
            summary = warehouse.ingest(conn, int(load_id))
        finally:
            conn.close()
    log.info("%s", summary.describe())
    lineage.collect(reads=lineage.INGEST_READS, writes=lineage.INGEST_WRITES)
    return {"load_id": summary.load_id, "rows_read": summary.rows_read,
            "rows_loaded": summary.rows_loaded, "rows_duplicate": summary.rows_duplicate,
            "rows_rejected": summary.rows_rejected}


def fail_load(load_id: int, reason: str) -> None:
    """``CALL staging.fail_load``: the journal shows the load failed, and why."""
    from sales_mart import warehouse

    conn = dwh.connect()
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
