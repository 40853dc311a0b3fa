"""Sequences, not just steps: a load that fails (a gate or a later step) never reaches the mart,
not even when a later load covers the same day; a failed re-delivery keeps the delivery it
would have replaced; delivery dates are checked; conflicting lines are journalled apart from
duplicates. Each "equals" compares whole dumps with a fresh warehouse that loaded only the
eligible deliveries, once, in date order."""

from __future__ import annotations

from datetime import date

import psycopg2
import pytest
from orders import Order, fetch, mart_dump, mart_dump_at, write_file

from sales_mart import warehouse

D = date(2024, 3, 5)
GOOD = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
# A full report covering 2024-03-04..06 that shares uniq_ids 10, 11 with the day's increments.
REPORT = [
    Order(1, "2024-03-04", customer=10),
    Order(2, "2024-03-04", customer=11, item=2),
    Order(10, "2024-03-05", customer=10, item=3),
    Order(11, "2024-03-05", customer=12),
    Order(3, "2024-03-06", customer=13, quantity=2),
    Order(4, "2024-03-06", customer=14),
]



def reference(fresh_warehouse, *loads) -> dict:
    """The mart of a fresh warehouse that loaded only these (path, delivery date or None)."""
    url = fresh_warehouse()
    for path, day in loads:
        warehouse.load_file(path, delivery_date=day, history=day is None, url=url)
    return mart_dump_at(url)


def test_increment_stopped_by_gate_two_never_wins_over_a_later_report(dwh, files,
                                                                      fresh_warehouse):
    three = [Order(10, "2024-03-05", customer=10, quantity=5), *GOOD[1:3]]  # 3 customers
    with pytest.raises(warehouse.CheckFailed, match="distinct customers: 3"):
        warehouse.load_file(write_file(files / "three.csv", three), delivery_date=D)
    report = write_file(files / "report.csv", REPORT, with_status=False)

    warehouse.load_file(report, history=True)

    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None))
    assert fetch(dwh, "select source, status from staging.load_log order by load_id") == [
        ("increment", "failed"), ("history", "merged")]


def test_increment_failed_at_publish_never_wins_over_a_later_report(dwh, files, fresh_warehouse):
    # A constraint the publish trips over midway (after the gates passed).
    dwh.cursor().execute("alter table mart.f_sales add constraint test_breaks_publish "
                         "check (quantity <> 5)")
    day = [Order(10, "2024-03-05", customer=10, quantity=5), *GOOD[1:]]
    with pytest.raises(warehouse.LoadError, match="test_breaks_publish"):
        warehouse.load_file(write_file(files / "d.csv", day), delivery_date=D)
    dwh.cursor().execute("alter table mart.f_sales drop constraint test_breaks_publish")
    report = write_file(files / "report.csv", REPORT, with_status=False)

    warehouse.load_file(report, history=True)

    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None))
    assert fetch(dwh, "select status from staging.load_log order by load_id") == [
        ("failed",), ("merged",)]


def test_failed_redelivery_keeps_the_published_day_for_later_loads(dwh, files, fresh_warehouse):
    good = write_file(files / "good.csv", GOOD)
    warehouse.load_file(good, delivery_date=D)
    before = mart_dump(dwh)
    staged = fetch(dwh, "select count(*) from staging.user_order_log")

    with pytest.raises(warehouse.CheckFailed, match="distinct customers: 3"):
        warehouse.load_file(write_file(files / "bad.csv", GOOD[:3]), delivery_date=D)

    assert mart_dump(dwh) == before
    assert fetch(dwh, "select count(*) from staging.user_order_log") == staged
    assert fetch(dwh, "select delivery_date, load_id from staging.published_delivery") == [
        (D, 1)]
    report = write_file(files / "report.csv", REPORT, with_status=False)
    warehouse.load_file(report, history=True)  # reconciles: the good day is still there
    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None), (good, D))


def test_redelivery_replaces_the_day_and_supersedes_the_old_load(dwh, files, fresh_warehouse):
    first = write_file(files / "first.csv", [*GOOD, Order(99, "2024-03-05", customer=14)])
    second = write_file(files / "second.csv", [*GOOD[:3], Order(98, "2024-03-05", customer=15)])
    warehouse.load_file(first, delivery_date=D)
    warehouse.load_file(second, delivery_date=D)

    assert mart_dump(dwh) == reference(fresh_warehouse, (second, D))
    assert fetch(dwh, "select status from staging.load_log order by load_id") == [
        ("superseded",), ("merged",)]
    assert fetch(dwh, "select distinct load_id from staging.user_order_log") == [(2,)]


def test_full_report_never_beats_an_increment_of_the_same_day(dwh, files, fresh_warehouse):
    increment = write_file(files / "inc.csv", [Order(10, "2024-03-05", customer=10, quantity=4),
                                               *GOOD[1:]])
    report = write_file(files / "report.csv", REPORT, with_status=False)
    warehouse.load_file(increment, delivery_date=D)
    warehouse.load_file(report, history=True)
    assert fetch(dwh, f"select quantity, delivery_source from mart.f_sales "
                      f"where uniq_id = '{10:032x}'") == [(4, "increment")]
    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None), (increment, D))


# --- delivery dates ----------------------------------------------------------------------


def test_increment_dated_another_day_is_refused_naming_both_dates(dwh, files):
    path = write_file(files / "d.csv", GOOD)
    with pytest.raises(warehouse.CheckFailed,
                       match="4 of 4 rows are dated 2024-03-05, not the delivery day 2024-03-06"):
        warehouse.load_file(path, delivery_date=date(2024, 3, 6))
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(0,)]
    assert fetch(dwh, "select status from staging.load_log") == [("failed",)]


def test_full_report_given_an_increments_date_is_refused(dwh, files):
    report = write_file(files / "report.csv", REPORT, with_status=False)
    with pytest.raises(warehouse.CheckFailed,
                       match=r"4 of 6 rows are dated 2024-03-04\.\.2024-03-06, not the delivery "
                             r"day 2024-03-05.*--history"):
        warehouse.load_file(report, delivery_date=D)
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(0,)]


@pytest.mark.parametrize(("day", "reason"), [
    (date(1900, 1, 1), "delivery date 1900-01-01 is outside the calendar 2015-01-01..2045-12-31"),
    (date(2099, 1, 1), "delivery date 2099-01-01 is outside the calendar"),
    (date(2045, 12, 31), "delivery date 2045-12-31 is after tomorrow"),
])
def test_delivery_date_outside_calendar_or_after_tomorrow_is_refused(dwh, files, day, reason):
    path = write_file(files / "d.csv", [Order(n, day.isoformat(), customer=n)
                                        for n in (10, 11, 12, 13)])
    with pytest.raises(warehouse.FileRefused, match=reason):
        warehouse.load_file(path, delivery_date=day)
    assert fetch(dwh, "select status, error like %s from staging.load_log",
                 (f"%{reason}%",)) == [("failed", True)]
    assert fetch(dwh, "select count(*) from staging.published_delivery") == [(0,)]


def test_report_rows_dated_after_tomorrow_or_outside_calendar_are_rejected(dwh, files):
    report = [*REPORT, Order(50, "2045-12-31", customer=10), Order(51, "1999-12-31", customer=10)]
    warehouse.load_file(write_file(files / "report.csv", report), history=True,
                        max_reject_share=0.5)
    assert fetch(dwh, "select line_no, reason from staging.user_order_log_rejects "
                      "order by line_no") == [
        (8, "date_time is after tomorrow"
            f" ({fetch(dwh, 'select current_date + 1')[0][0]})"),
        (9, "date_time is outside the calendar 2015-01-01..2045-12-31"),
    ]
    assert fetch(dwh, "select max(delivery_date)::text from mart.f_sales") == [("2024-03-06",)]


@pytest.mark.parametrize("share", ["1.5", "-0.1", "nan", "lots"])
def test_max_reject_share_accepts_only_0_to_1(dwh, files, share):
    from test_upgrade_and_cli import run_load

    done = run_load(write_file(files / "d.csv", GOOD), "--date", "2024-03-05",
                    "--max-reject-share", share)
    assert done.returncode == 2
    assert "max reject share must be a number from 0 to 1" in done.stderr
    assert fetch(dwh, "select count(*) from staging.load_log") == [(0,)]


def test_publish_refuses_a_reject_share_outside_0_to_1(dwh, files):
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(conn, write_file(files / "d.csv", GOOD),
                                      source="increment", delivery_date=D)
        warehouse.ingest(conn, load_id)
        with pytest.raises(psycopg2.errors.InvalidParameterValue, match="between 0 and 1"):
            with conn, conn.cursor() as cur:
                cur.execute("call mart.publish_load(%s, 2)", (load_id,))
    finally:
        conn.close()


# --- duplicates and conflicts ------------------------------------------------------------


def test_conflicting_lines_are_counted_apart_and_the_last_line_wins(dwh, files):
    lines = [
        *GOOD,  # lines 2-5
        Order(10, "2024-03-05", customer=10, quantity=3),  # line 6: conflicts with line 2
        GOOD[1],  # line 7: a plain duplicate of line 3
        Order(10, "2024-03-05", customer=10, quantity=2),  # line 8: conflicts; the last wins
    ]
    summary = warehouse.load_file(write_file(files / "d.csv", lines), delivery_date=D)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_duplicate,
            summary.rows_conflicting, summary.rows_rejected) == (7, 4, 1, 2, 0)
    assert fetch(dwh, "select line_no, winning_line_no, raw_row->>'quantity' "
                      "from staging.user_order_log_conflicts order by line_no") == [
        (2, 8, "1"), (6, 8, "3")]
    assert fetch(dwh, f"select quantity from mart.f_sales where uniq_id = '{10:032x}'") == [(2,)]


def test_a_later_order_time_wins_over_a_later_line(dwh, files):
    late = Order(10, "2024-03-05", customer=10, quantity=4).row() | {
        "date_time": "2024-03-05T18:30:00"}
    early = Order(10, "2024-03-05", customer=10, quantity=2).row() | {
        "date_time": "2024-03-05T09:00:00"}
    warehouse.load_file(write_file(files / "d.csv", GOOD[1:], raw_rows=[late, early]),
                        delivery_date=D)
    assert fetch(dwh, f"select quantity from mart.f_sales where uniq_id = '{10:032x}'") == [(4,)]
    assert fetch(dwh, "select line_no, winning_line_no from staging.user_order_log_conflicts") \
        == [(6, 5)]


def test_a_duplicate_is_kept_with_its_last_line(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", [*GOOD, GOOD[0], GOOD[0]]), delivery_date=D)
    assert fetch(dwh, f"select line_no from staging.user_order_log "
                      f"where uniq_id = '{10:032x}'") == [(7,)]


# --- values ------------------------------------------------------------------------------


def test_status_is_read_whatever_its_case(dwh, files):
    rows = [o.row() | {"status": s} for o, s in zip(GOOD, ["Shipped", "SHIPPED", "Refunded",
                                                            " refunded "], strict=True)]
    warehouse.load_file(write_file(files / "d.csv", [], raw_rows=rows), delivery_date=D)
    assert fetch(dwh, "select status, count(*) from mart.f_sales group by 1 order by 1") == [
        ("refunded", 2), ("shipped", 2)]


def test_an_amount_with_more_than_two_decimals_is_rejected(dwh, files):
    bad = Order(50, "2024-03-05", customer=10).row() | {"payment_amount": "100.005"}
    warehouse.load_file(write_file(files / "d.csv", GOOD, raw_rows=[bad]), delivery_date=D,
                        max_reject_share=0.5)
    assert fetch(dwh, "select line_no, bad_value, reason from staging.user_order_log_rejects") \
        == [(6, "100.005", "payment_amount has more than 2 decimal places")]


def test_reject_share_exactly_at_the_limit_passes(dwh, files):
    good = [Order(n, "2024-03-05", customer=10 + n % 4) for n in range(1, 100)]  # 99 lines
    bad = Order(500, "2024-03-05", customer=10).row() | {"quantity": "x"}  # 1 in 100
    summary = warehouse.load_file(write_file(files / "d.csv", good, raw_rows=[bad]),
                                  delivery_date=D, max_reject_share=0.01)
    assert (summary.rows_read, summary.rows_rejected) == (100, 1)
    assert fetch(dwh, "select status from staging.load_log") == [("merged",)]


# --- every gate and check seen failing (a fault planted where ingest or merge would be wrong) --


def plant(dwh, table: str, when: str, body: str) -> None:
    """A trigger standing for a bug in ingest or the merge: what the checks exist to catch."""
    with dwh.cursor() as cur:
        cur.execute(f"create function public.test_fault() returns trigger language plpgsql "
                    f"as $$ begin {body} end $$")
        cur.execute("grant execute on function public.test_fault() to sales_loader")
        timing, per = when.split(" for ")
        cur.execute(f"create trigger test_fault {timing} on {table} for {per} "
                    f"execute function public.test_fault()")


PLANTED = {
    # check: (table, trigger timing, body, words of the failure)
    "staged_rows_valid": (
        "staging.user_order_log", "before insert for each row",
        "new.quantity := 0; return new;", "rows breaking a rule: 5 of 5"),
    "rows_reconcile": (
        "staging.user_order_log", "after insert for each statement",
        "delete from staging.user_order_log where (load_id, uniq_id) = (select load_id, uniq_id "
        "from staging.user_order_log order by 1 desc, 2 limit 1); return null;",
        "read 5 = loaded 5"),
    "net_revenue_reconciles": (
        "mart.f_sales", "before insert or update for each row",
        "new.payment_amount := new.payment_amount + 0.01; return new;",
        "staging net revenue 500.00 over 5 rows; mart 500.05 over 5 rows; rows that differ: 5"),
}


@pytest.mark.parametrize("check", list(PLANTED))
def test_each_check_fails_the_load_and_leaves_the_mart(dwh, files, check):
    warehouse.load_file(write_file(files / "first.csv", [Order(n, "2024-03-04", customer=n)
                                                        for n in (10, 11, 12, 13)]),
                        delivery_date=date(2024, 3, 4))
    before = mart_dump(dwh)
    table, when, body, words = PLANTED[check]
    plant(dwh, table, when, body)

    five = [*GOOD, Order(14, "2024-03-05", customer=14)]
    with pytest.raises(warehouse.LoadError, match=f"{check} failed.*{words}"):
        warehouse.load_file(write_file(files / "d.csv", five), delivery_date=D)

    assert mart_dump(dwh) == before
    assert fetch(dwh, "select status, error like %s from staging.load_log where load_id = 2",
                 (f"%{check}%",)) == [("failed", True)]
    assert fetch(dwh, "select count(*) from staging.user_order_log where load_id = 2") == [(0,)]


def test_the_confirmation_after_publish_fails_when_the_mart_drifts(dwh, files):
    summary = warehouse.load_file(write_file(files / "d.csv", GOOD), delivery_date=D)
    dwh.cursor().execute(f"update mart.f_sales set quantity = 2, payment_amount = 200 "
                         f"where uniq_id = '{10:032x}'")
    with dwh.cursor() as cur:
        result = warehouse.run_check(cur, "net_revenue_reconciles",
                                     warehouse.check_parameters(summary.load_id))
    assert not result.passed
    assert "mart 500.00 over 4 rows; rows that differ: 1" in result.detail


def test_a_load_abandoned_before_its_gates_is_never_eligible(dwh, files, fresh_warehouse):
    """The process died between ingest and the gates: nothing marked the load failed."""
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(conn, write_file(files / "d.csv", GOOD[:3]),
                                      source="increment", delivery_date=D)
        warehouse.ingest(conn, load_id)
    finally:
        conn.close()
    report = write_file(files / "report.csv", REPORT, with_status=False)

    warehouse.load_file(report, history=True)

    assert mart_dump(dwh) == reference(fresh_warehouse, (report, None))
    with pytest.raises(psycopg2.Error, match="distinct customers: 3"):
        with dwh, dwh.cursor() as cur:  # and publishing it later re-runs the gates
            cur.execute("call mart.merge_increment('2024-03-05')")


def test_a_file_with_no_loadable_row_fails_gate_one(dwh, files):
    path = write_file(files / "header_only.csv", [])
    with pytest.raises(warehouse.CheckFailed,
                       match=r"check staging_has_rows failed: rows loaded into staging: 0 "
                             r"\(read 0, rejected 0\)"):
        warehouse.load_file(path, delivery_date=D)
    assert fetch(dwh, "select status from staging.load_log") == [("failed",)]


def test_a_customer_a_redelivery_drops_is_named_after_its_remaining_rows(dwh, files,
                                                                         fresh_warehouse):
    """Customer 14's latest row was in day 2's first delivery; its re-delivery no longer holds
    customer 14, so the name comes back from 14's remaining published row (day 1), which the
    re-delivery does not contain: the publish must look beyond the load's own rows."""
    day2 = date(2024, 3, 6)
    first_day = write_file(files / "d1.csv", [
        *GOOD, Order(20, "2024-03-05", customer=14, first_name="Старое")])
    regular = [Order(n, "2024-03-06", customer=n) for n in (10, 11, 12, 13)]
    delivered = write_file(files / "d2.csv", [
        *regular, Order(21, "2024-03-06", customer=14, first_name="Новое")])
    redelivered = write_file(files / "d2-again.csv", [
        *regular, Order(21, "2024-03-06", customer=15)])
    warehouse.load_file(first_day, delivery_date=D)
    warehouse.load_file(delivered, delivery_date=day2)
    assert fetch(dwh, "select first_name from mart.d_customer where customer_id = 14") == [
        ("Новое",)]

    warehouse.load_file(redelivered, delivery_date=day2)

    assert fetch(dwh, "select first_name from mart.d_customer where customer_id = 14") == [
        ("Старое",)]
    assert mart_dump(dwh) == reference(fresh_warehouse, (first_day, D), (redelivered, day2))


def test_an_abandoned_load_never_supplies_an_order_a_redelivery_drops(dwh, files,
                                                                      fresh_warehouse):
    """Order 20 is published on day 1 and sits in an abandoned (ingested, never published) load
    of day 2; day 1's re-delivery drops it. The publish looks for order 20's other rows: the
    abandoned load's row is not eligible, so order 20 leaves the mart."""
    first = write_file(files / "d1.csv", [*GOOD, Order(20, "2024-03-05", customer=14)])
    warehouse.load_file(first, delivery_date=D)
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(
            conn, write_file(files / "d2.csv", [
                Order(20, "2024-03-06", customer=14, quantity=3),
                *[Order(n, "2024-03-06", customer=n) for n in (10, 11, 12, 13)]]),
            source="increment", delivery_date=date(2024, 3, 6))
        warehouse.ingest(conn, load_id)
    finally:
        conn.close()
    again = write_file(files / "d1-again.csv", GOOD)

    warehouse.load_file(again, delivery_date=D)

    assert fetch(dwh, "select count(*) from mart.f_sales where uniq_id = %s",
                 (Order(20, "2024-03-05", customer=14).uniq_id,)) == [(0,)]
    assert mart_dump(dwh) == reference(fresh_warehouse, (again, D))
