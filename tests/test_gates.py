"""Each data-quality gate (db/procedures/025_staging_checks.sql) seen failing on what it exists
to catch, beyond test_load_integrity.py's planted faults: gate 2 counts distinct customers, not
lines; one misdated row refuses an increment; staged_rows_valid sees a negative amount and an
unknown status; rows_reconcile compares the conflicts and rejects tables with the journal; the
reconciliation compares the facts row by row, not only their totals. In every case the load
fails, says which check and why, and the mart is left as it was."""

from __future__ import annotations

from datetime import date

import pytest
from orders import Order, fetch, mart_dump, write_file
from test_load_integrity import plant

from sales_mart import warehouse

D = date(2024, 3, 5)
GOOD = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]


@pytest.fixture
def published_day(dwh, files):
    """A day published before the one under test: the mart dump it leaves."""
    warehouse.load_file(write_file(files / "first.csv", [Order(n + 100, "2024-03-04", customer=n)
                                                        for n in (10, 11, 12, 13)]),
                        delivery_date=date(2024, 3, 4))
    return mart_dump(dwh)


def assert_failed_and_mart_unchanged(dwh, before, check: str) -> None:
    assert mart_dump(dwh) == before
    assert fetch(dwh, "select status, error like %s from staging.load_log where load_id = 2",
                 (f"%{check}%",)) == [("failed", True)]


def test_gate_two_counts_customers_not_lines(dwh, files, published_day):
    five_lines = [Order(1, "2024-03-05", customer=10), Order(2, "2024-03-05", customer=10),
                  Order(3, "2024-03-05", customer=11), Order(4, "2024-03-05", customer=12),
                  Order(5, "2024-03-05", customer=12)]
    with pytest.raises(warehouse.CheckFailed,
                       match=r"more_than_three_customers.*distinct customers: 3 \(need more"):
        warehouse.load_file(write_file(files / "d.csv", five_lines), delivery_date=D)
    assert_failed_and_mart_unchanged(dwh, published_day, "more_than_three_customers")


def test_one_row_dated_another_day_refuses_the_increment_naming_both_days(dwh, files,
                                                                          published_day):
    lines = [*GOOD, Order(20, "2024-03-04", customer=14)]
    with pytest.raises(warehouse.CheckFailed,
                       match="1 of 5 rows are dated 2024-03-04, not the delivery day 2024-03-05"):
        warehouse.load_file(write_file(files / "d.csv", lines), delivery_date=D)
    assert_failed_and_mart_unchanged(dwh, published_day, "rows_dated_on_delivery_day")


FIVE = [*GOOD, Order(14, "2024-03-05", customer=14)]  # lines 2-6, 100.00 each
CONFLICT = Order(10, "2024-03-05", customer=10, quantity=3)  # order 10, other content
BAD = Order(50, "2024-03-05", customer=10).row() | {"quantity": "x"}

PLANTED = {
    # name: (check, table, trigger timing, body, extra lines, words of the failure)
    "negative_amount": (
        "staged_rows_valid", "staging.user_order_log", "before insert for each row",
        "new.payment_amount := -new.payment_amount; return new;", [],
        "rows breaking a rule: 5 of 5"),
    "unknown_status": (
        "staged_rows_valid", "staging.user_order_log", "before insert for each row",
        "new.status := 'lost'; return new;", [], "rows breaking a rule: 5 of 5"),
    "conflicts_lost": (
        "rows_reconcile", "staging.user_order_log_conflicts", "after insert for each statement",
        "delete from staging.user_order_log_conflicts; return null;", [CONFLICT.row()],
        r"read 6 = loaded 5 \+ duplicate 0 \+ conflicting 1 \+ rejected 0"),
    "rejects_lost": (
        "rows_reconcile", "staging.user_order_log_rejects", "after insert for each statement",
        "delete from staging.user_order_log_rejects; return null;", [BAD],
        r"read 6 = loaded 5 \+ duplicate 0 \+ conflicting 0 \+ rejected 1"),
    # Two facts off by one cent each way: the totals agree, the rows do not.
    "amounts_swapped": (
        "net_revenue_reconciles", "mart.f_sales", "before insert for each row",
        f"if new.uniq_id = '{GOOD[0].uniq_id}' then new.payment_amount := new.payment_amount "
        f"+ 0.01; elsif new.uniq_id = '{GOOD[1].uniq_id}' then new.payment_amount := "
        "new.payment_amount - 0.01; end if; return new;", [],
        "staging net revenue 500.00 over 5 rows; mart 500.00 over 5 rows; rows that differ: 2"),
}


@pytest.mark.parametrize("fault", list(PLANTED))
def test_each_check_sees_the_fault_it_exists_for(dwh, files, published_day, fault):
    check, table, when, body, extra, words = PLANTED[fault]
    plant(dwh, table, when, body)
    # extra lines first: a conflicting line then loses to the later line of the same order
    path = write_file(files / "d.csv", [*extra, *FIVE])

    with pytest.raises(warehouse.LoadError, match=f"{check} failed.*{words}"):
        warehouse.load_file(path, delivery_date=D, max_reject_share=0.5)

    assert_failed_and_mart_unchanged(dwh, published_day, check)


def test_the_confirmation_sees_two_facts_off_a_cent_each_way(dwh, files, published_day):
    """After the publish, the mart drifts: two facts off by a cent each way. The totals agree;
    the read-only confirmation compares which row holds which amount, and fails."""
    summary = warehouse.load_file(write_file(files / "d.csv", FIVE), delivery_date=D)
    with dwh.cursor() as cur:
        cur.execute("update mart.f_sales set payment_amount = payment_amount + 0.01 "
                    "where uniq_id = %s", (GOOD[0].uniq_id,))
        cur.execute("update mart.f_sales set payment_amount = payment_amount - 0.01 "
                    "where uniq_id = %s", (GOOD[1].uniq_id,))
        result = warehouse.run_check(cur, "net_revenue_reconciles",
                                     warehouse.check_parameters(summary.load_id))
    assert not result.passed
    assert result.detail == ("staging net revenue 500.00 over 5 rows; mart 500.00 over 5 rows; "
                             "rows that differ: 2")


def test_staged_rows_valid_sees_a_journal_whose_order_days_leave_the_calendar(
        dwh, files, published_day):
    """The gate reads what the ingest journalled: order days outside the calendar (a fault
    planted where the ingest writes the journal) fail it, naming them."""
    plant(dwh, "staging.load_log", "before update for each row",
          "if new.status = 'ingested' then new.first_order_day := '1900-01-01'; end if; "
          "return new;")
    with pytest.raises(warehouse.CheckFailed,
                       match=r"staged_rows_valid failed.*order days 1900-01-01\.\.2024-03-05 "
                             r"\(calendar 2015-01-01\.\.2045-12-31\)"):
        warehouse.load_file(write_file(files / "d.csv", FIVE), delivery_date=D)
    assert_failed_and_mart_unchanged(dwh, published_day, "staged_rows_valid")
