"""The DAG folder parses with no errors, without touching a database or the network, and the
DAGs have the shape SPEC §6 fixes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest
from conftest import DAGS_DIR, REPO

from sales_mart import warehouse

DAILY_TASKS = [
    "generate_report", "wait_for_report", "get_increment", "download", "copy_to_staging",
    "ingest", *warehouse.GATE_CHECKS, "publish", *warehouse.FINAL_CHECKS,
]
HISTORY_TASKS = [
    "generate_report", "wait_for_report", "download", "copy_to_staging", "ingest",
    *warehouse.GATE_CHECKS, "publish", *warehouse.FINAL_CHECKS,
]
API_TASKS = {"generate_report", "get_increment", "download"}


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == {"sales_mart_daily", "sales_mart_history"}


def _in_order(dag) -> list[str]:
    """Task ids along the (single) chain, from the root."""
    (task,) = [t for t in dag.tasks if not t.upstream_list]
    order = [task.task_id]
    while task.downstream_list:
        (task,) = task.downstream_list
        order.append(task.task_id)
    return order


def test_daily_dag_shape(dagbag):
    from airflow.providers.common.sql.operators.sql import SQLCheckOperator

    from sales_mart.schedule import ApiWindowTimetable

    dag = dagbag.get_dag("sales_mart_daily")
    assert dag.max_active_runs == 1
    assert dag.catchup is True
    # @daily over data intervals: the run for day D starts when D is over, with ds = D
    assert isinstance(dag.timetable, ApiWindowTimetable)
    assert dag.timetable._expression == "0 0 * * *"  # @daily
    assert dag.timetable.catchup_from.isoformat() == os.environ["SALES_MART_START_DATE"]
    assert dag.timetable.window_days == 7
    assert dag.start_date.year == 1970  # any date a person runs gets its tasks
    assert dag.doc_md.strip().startswith("# sales_mart_daily")
    assert _in_order(dag) == DAILY_TASKS
    for task in dag.tasks:
        assert task.on_failure_callback, task.task_id
        if task.task_id == "wait_for_report":  # poke mode: docs/airflow.md, "Why the sensor pokes"
            assert task.mode == "poke" and task.poke_interval == 0.2
            assert task.timeout == 30 and not task.exponential_backoff and task.retries == 0
        elif task.task_id in API_TASKS:
            assert task.retries == 2 and task.retry_exponential_backoff
            assert task.retry_policy is not None  # retries TryAgainLater only
            assert task.retry_delay == timedelta(seconds=0.2)
        else:
            assert task.retries == 0, task.task_id  # SQL tasks do not retry blindly
    for name in (*warehouse.GATE_CHECKS, *warehouse.FINAL_CHECKS):
        check = dag.get_task(name)
        assert isinstance(check, SQLCheckOperator)
        assert check.sql == warehouse.check_sql(name)  # the files the command line uses
        assert check.conn_id == "sales_dwh"


def test_history_dag_shape(dagbag):
    dag = dagbag.get_dag("sales_mart_history")
    assert dag.schedule is None  # manual
    assert dag.max_active_runs == 1
    assert dag.doc_md.strip().startswith("# sales_mart_history")
    assert _in_order(dag) == HISTORY_TASKS


def _sensor_waits(sensor, until: float) -> list[float]:
    """The waits between pokes of a poke-mode sensor whose report stays RUNNING for `until`
    seconds: what BaseSensorOperator.execute sleeps after each poke (its poke count and the
    time since its first poke)."""
    elapsed, waits = 0.0, []
    while elapsed < until and len(waits) < 100:
        waits.append(sensor._get_next_poke_interval(0.0, lambda now=elapsed: now, len(waits) + 1))
        elapsed += waits[-1]
    return waits


def test_report_sensor_pokes_again_soon_then_at_the_poll_interval(monkeypatch):
    """By default wait_for_report waits 1 s after a RUNNING answer, then longer, never more than
    SALES_MART_POLL_INTERVAL (5 s): a quick report is picked up in a second, a minute-long one
    is not polled every second."""
    from sales_mart.airflow.report_sensor import ReportReadySensor, report_sensor_args

    def sensor():
        return ReportReadySensor(task_id="wait_for_report", report_task_id="t",
                                 **report_sensor_args())

    monkeypatch.delenv("SALES_MART_POLL_INTERVAL")
    monkeypatch.setenv("SALES_MART_REPORT_DEADLINE", "900")  # the session's is 30 s
    assert sensor().mode == "poke" and sensor().retries == 0
    waits = _sensor_waits(sensor(), 60)
    assert waits[:2] == [1, 1] and waits == sorted(waits) and max(waits) == 5
    assert len(waits) < 20  # 60 s of RUNNING: about 15 pokes

    monkeypatch.setenv("SALES_MART_POLL_INTERVAL", "30")
    waits = _sensor_waits(sensor(), 300)
    assert waits[0] == 1 and max(waits) == 30

    monkeypatch.setenv("SALES_MART_POLL_INTERVAL", "0.5")  # 1 s or less: fixed
    assert _sensor_waits(sensor(), 5) == [0.5] * 10


def test_parsing_touches_no_database_and_no_network(tmp_path):
    """Each DAG file runs in a fresh interpreter whose sockets refuse to connect and whose
    Airflow metadata DB cannot be opened: parsing must still succeed."""
    script = textwrap.dedent("""
        import runpy, socket, sys
        def refuse(*args, **kwargs):
            raise AssertionError(f"network or database access at parse time: {args}")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        for path in sys.argv[1:]:
            namespace = runpy.run_path(path)
        print("parsed", len(sys.argv) - 1)
    """)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))}
    env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{tmp_path}/missing/dir/airflow.db"
    env["AIRFLOW_HOME"] = str(tmp_path)
    files = sorted(str(p) for p in DAGS_DIR.glob("*.py"))
    done = subprocess.run([sys.executable, "-c", script, *files], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"parsed {len(files)}" in done.stdout



def scheduled_days(dag) -> list:
    """The logical dates the scheduler would create from now on, one after the other, for the
    intervals already over: the DAG serialized and read back as the scheduler does, asked
    ``next_dagrun_info`` in a loop."""
    import pendulum
    from airflow.serialization.serialized_objects import DagSerialization

    scheduler_dag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    now = pendulum.now("UTC")
    days, last = [], None
    while (info := scheduler_dag.next_dagrun_info(last_automated_run_info=last)) is not None:
        if info.run_after > now:
            break
        days.append(info.logical_date.date())
        last = info
    return days


@pytest.mark.parametrize("start", ["2024-03-01", "", "3 days ago"])
def test_catch_up_never_reaches_a_day_outside_the_api_window(start, monkeypatch):
    """Unpaused years after its start date, the daily DAG catches up over the API's window
    (the 7 days before today) only: no run for a day the API no longer serves; a start date
    inside the window bounds it further."""
    from airflow.dag_processing.dagbag import DagBag

    today = datetime.now(UTC).date()
    first = today - timedelta(days=3) if start == "3 days ago" else today - timedelta(days=7)
    monkeypatch.setenv("SALES_MART_START_DATE", first.isoformat() if start == "3 days ago"
                       else start)
    dag = DagBag(dag_folder=str(DAGS_DIR / "sales_mart_daily.py")).get_dag("sales_mart_daily")
    assert scheduled_days(dag) == [first + timedelta(days=n) for n in range((today - first).days)]
