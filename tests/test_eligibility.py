"""Which deliveries the mart is built from (SPEC §5, README "Deliveries and re-runs"), for every
kind of load: a fact a re-delivery drops falls back to any other published delivery that still
holds it (an earlier increment, the full report's row of that day), and leaves only when none
does, with the members left without sales; an increment ranks before the full report of its
own day whatever the load order, and never replaces the report's delivery of that day; a report
whose day another report re-delivers stays published for its other days; `mart.merge_increment`
publishes the day's latest waiting increment, never a full report, and `mart.publish_load`
refuses loads that failed or were superseded. Each "equals" compares whole mart dumps with a
fresh warehouse that loaded only the eligible deliveries, in date order."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
from orders import Order, fetch, mart_dump, mart_dump_at, write_file

from sales_mart import warehouse

D4, D5, D6 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
REGULAR_5 = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
FACT = ("select status, payment_amount::text, date_time::date::text, delivery_date::text, "
        "delivery_source from mart.f_sales where uniq_id = %s")


def reference(fresh_warehouse, *loads) -> dict:
    """The mart of a fresh warehouse that loaded these (path, day or None) in the order given."""
    url = fresh_warehouse()
    for path, day in loads:
        warehouse.load_file(path, delivery_date=day, history=day is None, url=url)
    return mart_dump_at(url)


def statuses(dwh) -> list[tuple]:
    return fetch(dwh, "select load_id, status from staging.load_log order by load_id")


# --- a re-delivery drops a fact another published delivery still holds --------------------


def test_a_fact_a_redelivery_drops_falls_back_to_an_earlier_published_day(dwh, files,
                                                                         fresh_warehouse):
    """Order 20 is shipped on day 1 and refunded on day 2; day 2's re-delivery no longer holds
    it, so the mart shows day 1's row again."""
    day1 = write_file(files / "d1.csv", [*REGULAR_5, Order(20, "2024-03-05", customer=14)])
    regular_6 = [Order(n + 20, "2024-03-06", customer=n) for n in (10, 11, 12, 13)]
    warehouse.load_file(day1, delivery_date=D5)
    warehouse.load_file(write_file(files / "d2.csv", [
        *regular_6, Order(20, "2024-03-06", customer=14, status="refunded")]), delivery_date=D6)
    order_20 = Order(20, "2024-03-05", customer=14).uniq_id
    assert fetch(dwh, FACT, (order_20,)) == [
        ("refunded", "-100.00", "2024-03-06", "2024-03-06", "increment")]
    again = write_file(files / "d2-again.csv", regular_6)

    warehouse.load_file(again, delivery_date=D6)

    assert fetch(dwh, FACT, (order_20,)) == [
        ("shipped", "100.00", "2024-03-05", "2024-03-05", "increment")]
    assert mart_dump(dwh) == reference(fresh_warehouse, (day1, D5), (again, D6))


# A full report of 2024-03-04 and 2024-03-05: orders 1-4 on the 4th, 5-8 on the 5th.
REPORT = [*[Order(n, "2024-03-04", customer=9 + n) for n in (1, 2, 3, 4)],
          *[Order(n + 4, "2024-03-05", customer=9 + n) for n in (1, 2, 3, 4)]]


def test_an_increment_does_not_replace_the_full_reports_delivery_of_its_day(dwh, files,
                                                                           fresh_warehouse):
    """The increment of the 5th refunds order 5; its re-delivery drops order 5, which the
    report's delivery of the 5th still holds: the report's row comes back."""
    report = write_file(files / "report.csv", REPORT)
    warehouse.load_file(report, history=True)
    warehouse.load_file(write_file(files / "inc.csv", [
        Order(5, "2024-03-05", customer=10, status="refunded"), *REPORT[5:]]), delivery_date=D5)
    again = write_file(files / "inc-again.csv", [*REPORT[5:],
                                                 Order(9, "2024-03-05", customer=14)])

    warehouse.load_file(again, delivery_date=D5)

    assert fetch(dwh, FACT, (REPORT[4].uniq_id,)) == [
        ("shipped", "100.00", "2024-03-05", "2024-03-05", "history")]
    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None), (again, D5))
    assert statuses(dwh) == [(1, "merged"), (2, "superseded"), (3, "merged")]


def test_a_report_another_report_redelivers_in_part_stays_published_for_its_other_days(
        dwh, files, fresh_warehouse):
    """A second report re-delivers only the 5th: the first stays the published delivery of the
    4th (journalled as merged), and when a re-delivered increment of the 4th drops order 1, the
    first report's row of order 1 comes back."""
    report = write_file(files / "report.csv", REPORT)
    report_5th = write_file(files / "report-5th.csv", [
        *REPORT[4:7], Order(8, "2024-03-05", customer=13, quantity=2)])
    warehouse.load_file(report, history=True)
    warehouse.load_file(report_5th, history=True)
    assert statuses(dwh) == [(1, "merged"), (2, "merged")]
    warehouse.load_file(write_file(files / "inc-4th.csv", [
        Order(1, "2024-03-04", customer=10, status="refunded"), *REPORT[1:4]]), delivery_date=D4)
    again = write_file(files / "inc-4th-again.csv", [*REPORT[1:4],
                                                     Order(9, "2024-03-04", customer=14)])

    warehouse.load_file(again, delivery_date=D4)

    assert fetch(dwh, FACT, (REPORT[0].uniq_id,)) == [
        ("shipped", "100.00", "2024-03-04", "2024-03-04", "history")]
    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None), (report_5th, None),
                                       (again, D4))
    assert statuses(dwh) == [(1, "merged"), (2, "merged"), (3, "superseded"), (4, "merged")]
    assert fetch(dwh, "select source, delivery_date::text, load_id from "
                      "staging.published_delivery order by 2, 1") == [
        ("history", "2024-03-04", 1), ("increment", "2024-03-04", 4),
        ("history", "2024-03-05", 2)]


def test_an_increment_beats_a_later_loaded_report_that_starts_on_its_day(dwh, files,
                                                                       fresh_warehouse):
    increment = write_file(files / "inc.csv", [Order(10, "2024-03-05", customer=10, quantity=4),
                                               *REGULAR_5[1:]])
    report = write_file(files / "report.csv", [  # its first day is the increment's day
        *REGULAR_5, *[Order(n + 20, "2024-03-06", customer=n) for n in (10, 11, 12, 13)]])
    warehouse.load_file(increment, delivery_date=D5)

    warehouse.load_file(report, history=True)

    assert fetch(dwh, FACT, (REGULAR_5[0].uniq_id,)) == [
        ("shipped", "400.00", "2024-03-05", "2024-03-05", "increment")]
    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None), (increment, D5))


def test_members_a_redelivery_leaves_without_sales_leave_the_mart(dwh, files, fresh_warehouse):
    """Order 20 is customer 14's only order, the only one of item 3 and of city 3."""
    warehouse.load_file(write_file(files / "d.csv", [
        *REGULAR_5, Order(20, "2024-03-05", customer=14, item=3, city=3)]), delivery_date=D5)
    again = write_file(files / "d-again.csv", REGULAR_5)

    warehouse.load_file(again, delivery_date=D5)

    assert fetch(dwh, "select (select array_agg(item_id) from mart.d_item), "
                      "(select array_agg(city_id) from mart.d_city), "
                      "(select array_agg(customer_id order by customer_id) from mart.d_customer)") == [
        ([1], [1], [10, 11, 12, 13])]
    assert mart_dump(dwh) == reference(fresh_warehouse, (again, D5))


# --- the procedures a person may CALL, on every kind of load --------------------------------


def ingest_only(files, name: str, orders, *, day: date | None) -> int:
    """COPY and ingest a file as the loader, without publishing it; returns its load id."""
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(conn, write_file(files / name, orders),
                                      source="increment" if day else "history",
                                      delivery_date=day)
        warehouse.ingest(conn, load_id)
        return load_id
    finally:
        conn.close()


def call_as_loader(sql: str, params=()) -> list[str]:
    """Runs a CALL as the loader in one transaction; returns the notices it raised."""
    conn = warehouse.connect(role="sales_loader")
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
        return list(conn.notices)
    finally:
        conn.close()


def test_merge_increment_publishes_the_latest_of_two_waiting_increments(dwh, files,
                                                                      fresh_warehouse):
    ingest_only(files, "first.csv", REGULAR_5, day=D5)
    latest = [Order(n, "2024-03-05", customer=n, quantity=3) for n in (10, 11, 12, 13)]
    second = ingest_only(files, "second.csv", latest, day=D5)

    call_as_loader("call mart.merge_increment(%s)", (D5,))

    assert fetch(dwh, "select load_id from staging.published_delivery") == [(second,)]
    assert fetch(dwh, "select quantity, count(*) from mart.f_sales group by 1") == [(3, 4)]
    assert mart_dump(dwh) == reference(fresh_warehouse, (files / "second.csv", D5))


def test_merge_increment_never_publishes_a_full_report_waiting_for_the_same_day(
        dwh, files, fresh_warehouse):
    increment = ingest_only(files, "inc.csv", REGULAR_5, day=D5)
    report = ingest_only(files, "report.csv", [  # ends on the same day, ingested after it
        *[Order(n + 20, "2024-03-04", customer=n) for n in (10, 11, 12, 13)],
        *[Order(n, "2024-03-05", customer=n, quantity=2) for n in (10, 11, 12, 13)]], day=None)
    assert fetch(dwh, "select delivery_date from staging.load_log where load_id = %s",
                 (report,)) == [(D5,)]

    call_as_loader("call mart.merge_increment(%s)", (D5,))

    assert statuses(dwh) == [(increment, "merged"), (report, "ingested")]
    assert mart_dump(dwh) == reference(fresh_warehouse, (files / "inc.csv", D5))


def test_merge_increment_leaves_a_published_day_as_it_is(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", REGULAR_5), delivery_date=D5)
    before = mart_dump(dwh)

    notices = call_as_loader("call mart.merge_increment(%s)", (D5,))

    assert any("the increment of 2024-03-05 is already published" in n for n in notices)
    assert mart_dump(dwh) == before
    assert statuses(dwh) == [(1, "merged")]


def test_merge_increment_does_not_take_a_published_full_report_for_the_days_increment(
        dwh, files):
    warehouse.load_file(write_file(files / "report.csv", REGULAR_5), history=True)
    before = mart_dump(dwh)

    with pytest.raises(psycopg2.errors.RaiseException,
                       match="no increment of 2024-03-05 is waiting in staging"):
        call_as_loader("call mart.merge_increment(%s)", (D5,))
    assert mart_dump(dwh) == before


def test_publish_load_refuses_a_superseded_or_failed_load_naming_its_status(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", REGULAR_5), delivery_date=D5)
    again = [Order(n, "2024-03-05", customer=n, quantity=2) for n in (10, 11, 12, 13)]
    warehouse.load_file(write_file(files / "d-again.csv", again), delivery_date=D5)
    with pytest.raises(warehouse.CheckFailed, match="distinct customers: 3"):
        warehouse.load_file(write_file(files / "three.csv", REGULAR_5[:3]), delivery_date=D5)
    assert statuses(dwh) == [(1, "superseded"), (2, "merged"), (3, "failed")]
    before = mart_dump(dwh)

    for load_id, status in ((1, "superseded"), (3, "failed")):
        with pytest.raises(psycopg2.errors.RaiseException,
                           match=f"load {load_id} is {status}, so it cannot be published"):
            call_as_loader("call mart.publish_load(%s)", (load_id,))

    assert mart_dump(dwh) == before
    assert statuses(dwh) == [(1, "superseded"), (2, "merged"), (3, "failed")]
