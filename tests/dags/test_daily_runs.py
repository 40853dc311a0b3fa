"""Whole runs through real Airflow (``dag.test``), the sandbox API over HTTP and a real warehouse:
the mart equals an independent computation, every raw file is kept, re-runs and out-of-order
runs leave a byte-identical mart."""

from __future__ import annotations

import hashlib

import psycopg2
import pytest
from conftest import DAYS, FIRST_DAY, ROWS_PER_DAY, SEED
from orders import fetch, mart_dump
from reference import final_rows, retention

from sales_mart.sandbox import data

pytestmark = pytest.mark.slow

COLUMNS = (
    "period_id, week_start, item_id{city}, new_customers_count, returning_customers_count, "
    "refunded_customer_count, new_customers_revenue, returning_customers_revenue, "
    "customers_refunded, orders_count, refunded_amount, net_revenue, days_in_mart"
)


def expected_files(folder):
    """The files the sandbox serves, written independently by the generator."""
    history = folder / "history.csv"
    data.write_history(history, end_date=data.history_end_for(FIRST_DAY), seed=SEED,
                       rows_per_day=ROWS_PER_DAY)
    days = {}
    for day in DAYS:
        days[day] = folder / f"inc_{day}.csv"
        data.write_increment(days[day], day, seed=SEED, rows_per_day=ROWS_PER_DAY,
                             old_format=(day == FIRST_DAY))
    return history, days


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_succeeded(result):
    state, tasks = result
    failed = {t: s for t, s in tasks.items() if s[0] != "success"}
    assert state == "success" and not failed, failed


def dump(url):
    conn = psycopg2.connect(url)
    try:
        return mart_dump(conn)
    finally:
        conn.close()


def test_history_then_seven_days_equal_the_independent_computation(pipeline, dwh, files):
    assert_succeeded(pipeline.history())
    for day in DAYS:
        assert_succeeded(pipeline.daily(day))

    history, days = expected_files(files)
    # the landing folder keeps every raw file, named by date and checksum, byte for byte
    landed = sorted(p.relative_to(pipeline.landing).as_posix()
                    for p in pipeline.landing.rglob("*.csv"))
    assert landed == sorted(
        [f"history/user_order_log_{data.history_end_for(FIRST_DAY)}_{sha256(history)[:16]}.csv"]
        + [f"increments/user_order_log_inc_{day}_{sha256(path)[:16]}.csv"
           for day, path in days.items()])
    assert not [p for p in pipeline.landing.rglob("*") if p.is_file() and p.suffix != ".csv"]

    journal = fetch(dwh, "select source, delivery_date, status, file_sha256, rows_read, "
                         "rows_loaded + rows_duplicate + rows_rejected "
                         "from staging.load_log order by load_id")
    assert [(s, st) for s, _, st, *_ in journal] == [("history", "merged")] + \
        [("increment", "merged")] * len(DAYS)
    assert [r[1] for r in journal[1:]] == DAYS
    assert [r[3] for r in journal] == [sha256(history)] + [sha256(p) for p in days.values()]
    assert all(read == accounted for *_, read, accounted in journal)

    rows = final_rows([(history, None), *[(path, day) for day, path in days.items()]])
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(len(rows),)]
    for view, by_city, city in (
        ("mart.customer_retention", False, ""),
        ("mart.customer_retention_by_city", True, ", city_id"),
    ):
        expected = retention(rows, by_city=by_city)
        got = fetch(dwh, f"select {COLUMNS.format(city=city)} from {view} "
                         f"order by 1, 3{', 4' if by_city else ''}")
        assert got == expected
    assert not pipeline.smtp.take()  # no failure, no e-mail


def test_rerun_and_out_of_order_leave_a_byte_identical_mart(pipeline, dwh_url,
                                                           fresh_warehouse):
    first, second = DAYS[0], DAYS[1]
    assert_succeeded(pipeline.history())
    assert_succeeded(pipeline.daily(first))
    assert_succeeded(pipeline.daily(second))
    in_order = dump(dwh_url)
    assert in_order["mart.f_sales"]

    assert_succeeded(pipeline.daily(first))  # re-running a date
    assert dump(dwh_url) == in_order
    assert_succeeded(pipeline.daily(second))
    assert dump(dwh_url) == in_order

    other = fresh_warehouse()  # the same dates out of order, in another warehouse
    pipeline.use_warehouse(other)
    assert_succeeded(pipeline.daily(second))
    assert_succeeded(pipeline.daily(first))
    assert_succeeded(pipeline.history())
    assert dump(other) == in_order
    assert not pipeline.smtp.take()


def test_waiting_for_the_report_pokes_in_one_try_and_is_never_rescheduled(pipeline):
    """The sandbox answers RUNNING once: wait_for_report pokes again within its one try, and
    Airflow never reschedules it (a rescheduled sensor can be failed by a late executor event,
    apache/airflow#71172: docs/airflow.md, "Why the sensor pokes"); no report requested twice."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    assert_succeeded(pipeline.daily(DAYS[1]))
    with create_session() as session:
        sensor = session.query(TaskInstance).filter_by(
            dag_id="sales_mart_daily", task_id="wait_for_report",
            run_id=pipeline.last_run_id).one()
        reschedules = session.query(TaskReschedule).filter(
            TaskReschedule.ti_id == sensor.id).count()
        assert (sensor.state, sensor.try_number, reschedules) == ("success", 1, 0)
    assert pipeline.sandbox.request_counts["generate_report"] == 1
    assert pipeline.sandbox.request_counts["get_report"] == 2  # RUNNING, then ready


def test_publish_updates_the_retention_views_as_assets(pipeline):
    """A DAG scheduled on Asset("mart.customer_retention") runs after every published day."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    assert_succeeded(pipeline.daily(DAYS[1]))
    with create_session() as session:
        events = session.query(AssetModel.name, AssetEvent.source_task_id).join(
            AssetEvent, AssetEvent.asset_id == AssetModel.id).filter(
            AssetEvent.source_run_id == pipeline.last_run_id).all()
    assert sorted(events) == [("mart.customer_retention", "publish"),
                              ("mart.customer_retention_by_city", "publish")]
