"""The retention tables are maintained per ISO week by the publish (issue 10). Property
(hypothesis): after every load of any sequence of loads (re-runs, changed re-deliveries, gated
loads, full reports), each table equals the full computation of its rule view, and at the end
it equals a plain Python computation from the eligible raw files (tests/reference.py); a full
`CALL mart.refresh_retention()` then changes nothing."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from orders import Order, fetch, write_file
from reference import final_rows, retention
from test_replay_property import Files, replay, replays

from sales_mart import warehouse

TABLES = (
    ("mart.customer_retention", "mart.customer_retention_rows", False),
    ("mart.customer_retention_by_city", "mart.customer_retention_by_city_rows", True),
)
REFERENCE_COLUMNS = (
    "period_id, week_start, item_id{city}, new_customers_count, returning_customers_count, "
    "refunded_customer_count, new_customers_revenue, returning_customers_revenue, "
    "customers_refunded, orders_count, refunded_amount, net_revenue, days_in_mart"
)


@pytest.fixture(scope="module")
def sandbox_files(tmp_path_factory) -> Files:
    return Files(tmp_path_factory.mktemp("incremental-files"))


def table_rows(conn, relation: str) -> list[str]:
    return [r[0] for r in fetch(conn, f"select t::text from {relation} as t order by 1")]


def assert_tables_equal_full_computation(conn) -> None:
    for table, rule, _ in TABLES:
        assert table_rows(conn, table) == table_rows(conn, rule), table


@settings(max_examples=10, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequence=replays())
def test_weekly_refresh_always_equals_the_full_rebuild(sequence, sandbox_files, fresh_warehouse):
    url = fresh_warehouse()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        eligible = replay(sequence, sandbox_files, url,
                          after_each=lambda: assert_tables_equal_full_computation(conn))
        rows = final_rows(eligible)
        for table, _, by_city in TABLES:
            got = fetch(conn, f"select {REFERENCE_COLUMNS.format(city=', city_id' if by_city else '')}"
                              f" from {table} order by 1, 3{', 4' if by_city else ''}")
            assert got == retention(rows, by_city=by_city), table

        before = {table: table_rows(conn, table) for table, _, _ in TABLES}
        conn.cursor().execute("call mart.refresh_retention()")
        assert {table: table_rows(conn, table) for table, _, _ in TABLES} == before
    finally:
        conn.close()


def renamed(order: Order, item_name: str, city_name: str) -> dict:
    row = order.row()
    row["item_name"], row["city_name"] = item_name, city_name
    return row


def test_a_renamed_item_or_city_is_renamed_in_weeks_not_recomputed(dwh, files):
    warehouse.load_file(write_file(files / "w10.csv", [Order(n, "2024-03-05", customer=n)
                                                       for n in (10, 11, 12, 13)]),
                        delivery_date=date(2024, 3, 5))
    later = [renamed(Order(20 + n, "2024-03-12", customer=10 + n), "Чай зелёный", "Москва-Сити")
             for n in range(4)]
    warehouse.load_file(write_file(files / "w11.csv", [], raw_rows=later),
                        delivery_date=date(2024, 3, 12))

    assert fetch(dwh, "select period_id, item_name, city_name from mart.customer_retention_by_city "
                      "order by 1") == [(202410, "Чай зелёный", "Москва-Сити"),
                                        (202411, "Чай зелёный", "Москва-Сити")]
    assert fetch(dwh, "select period_id, item_name from mart.customer_retention order by 1") == [
        (202410, "Чай зелёный"), (202411, "Чай зелёный")]
    assert_tables_equal_full_computation(dwh)


def test_a_rerun_of_an_unchanged_day_refreshes_no_week(dwh, files):
    path = write_file(files / "d.csv", [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)])
    warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    before = fetch(dwh, "select xmin::text::bigint from mart.customer_retention_by_city")
    warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    assert fetch(dwh, "select xmin::text::bigint from mart.customer_retention_by_city") == before


def test_a_fact_moved_to_another_week_leaves_its_old_week(dwh, files):
    """An order line re-delivered later with another order day moves weeks: its old week is
    recomputed too (here it is left empty, so its rows go)."""
    week_10 = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
    warehouse.load_file(write_file(files / "w10.csv", week_10), delivery_date=date(2024, 3, 5))
    moved = [Order(n, "2024-03-12", customer=n) for n in (10, 11, 12, 13)]  # same uniq_ids
    warehouse.load_file(write_file(files / "w11.csv", moved), delivery_date=date(2024, 3, 12))

    assert fetch(dwh, "select period_id, orders_count from mart.customer_retention") == [(202411, 4)]
    assert_tables_equal_full_computation(dwh)
