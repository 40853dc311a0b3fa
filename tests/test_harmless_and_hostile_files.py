"""Files that must load the same numbers as the clean file, values at the edge of the rules,
and re-deliveries with a bad line: no bad line costs a good order, no file blocks a later day
(issue 16, items 3-5). Expected numbers are worked out by hand or by a clean load of the same
orders."""

from __future__ import annotations

import subprocess
from datetime import date, timedelta
from decimal import Decimal

import psycopg2
import pytest
from orders import Order, fetch, mart_dump, write_file

from sales_mart import warehouse

D = date(2024, 3, 5)
DAY = [Order(n, "2024-03-05", customer=10 + n % 4, item=1 + n % 3, city=1 + n % 2)
       for n in range(1, 206)]  # 205 orders, as in the report


# --- harmless files -------------------------------------------------------------------------


@pytest.mark.parametrize("spoil", [
    lambda b: b + b"\n",  # a trailing blank line
    lambda b: b + b"\n\n\r\n",  # several
    lambda b: b.replace(b"\n", b"\r\n"),  # Windows line ends
    lambda b: b"\r\n".join(b.split(b"\n")[:50]) + b"\n" + b"\n".join(b.split(b"\n")[50:]),  # mixed
], ids=["trailing blank line", "trailing blank lines", "crlf", "mixed lf and crlf"])
def test_harmless_line_ends_load_the_same_numbers_as_the_clean_file(dwh, files, fresh_warehouse,
                                                                     spoil):
    clean = write_file(files / "clean.csv", DAY)
    spoiled = files / "spoiled.csv"
    spoiled.write_bytes(spoil(clean.read_bytes()))
    other = fresh_warehouse()
    summary = warehouse.load_file(spoiled, delivery_date=D)
    warehouse.load_file(clean, delivery_date=D, url=other)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (205, 205, 0)
    conn = psycopg2.connect(other)
    try:
        assert mart_dump(dwh) == mart_dump(conn)
    finally:
        conn.close()


def test_one_order_in_two_cases_is_one_order(dwh, files):
    """The same uniq_id in upper and lower case: one order (a plain duplicate), not two."""
    lettered = next(o for o in DAY if o.uniq_id != o.uniq_id.upper())  # e.g. ...00ab
    upper = dict(lettered.row(), uniq_id=lettered.uniq_id.upper())
    summary = warehouse.load_file(write_file(files / "d.csv", DAY, raw_rows=[upper]),
                                  delivery_date=D)
    assert (summary.rows_read, summary.rows_loaded, summary.rows_duplicate) == (206, 205, 1)
    assert fetch(dwh, "select count(*), sum(payment_amount) from mart.f_sales") == [
        (205, sum(o.amount for o in DAY))]
    assert fetch(dwh, "select count(*) from mart.f_sales where uniq_id <> lower(uniq_id)") == [(0,)]


@pytest.mark.parametrize("uniq_id, reason", [
    ("x" * 10_000, "uniq_id is not 32 hexadecimal characters (it has 10000)"),
    ("0" * 1_000_000, "uniq_id is not 32 hexadecimal characters (it has 1000000)"),
    ("0" * 31, "uniq_id is not 32 hexadecimal characters (it has 31)"),
    ("g" * 32, "uniq_id is not 32 hexadecimal characters (it has 32)"),
])
def test_a_uniq_id_that_is_not_32_hex_is_rejected_alone(dwh, files, uniq_id, reason):
    bad = dict(DAY[0].row(), uniq_id=uniq_id)
    summary = warehouse.load_file(write_file(files / "d.csv", DAY[1:], raw_rows=[bad]),
                                  delivery_date=D)
    assert (summary.rows_loaded, summary.rows_rejected) == (204, 1)
    ((line, column, value, got),) = fetch(dwh, "select line_no, column_name, bad_value, reason "
                                               "from staging.user_order_log_rejects")
    assert (line, column, got) == (206, "uniq_id", reason)
    assert len(value) <= 230 and value.startswith(uniq_id[:200])


@pytest.mark.parametrize("column, value, reason", [
    ("payment_amount", "1234567890123.00", "payment_amount is too large, at most 999999999999.99"),
    ("payment_amount", "9" * 5000, "payment_amount is too large, at most 999999999999.99"),
    ("payment_amount", "NaN", "payment_amount is not a number"),
    ("quantity", "2147483648", "quantity is too large, at most 2147483647"),
    ("customer_id", "-2147483649", "customer_id is too small, at least -2147483648"),
    ("customer_id", "9" * 5000, "customer_id is too large, at most 2147483647"),
])
def test_values_out_of_range_get_the_right_reason(dwh, files, column, value, reason):
    bad = dict(DAY[0].row(), **{column: value})
    summary = warehouse.load_file(write_file(files / "d.csv", DAY[1:], raw_rows=[bad]),
                                  delivery_date=D)
    assert summary.rows_rejected == 1
    assert fetch(dwh, "select column_name, reason from staging.user_order_log_rejects") == [
        (column, reason)]


def test_a_header_with_a_column_twice_names_that_column_only(dwh, files):
    columns = ["id", "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name",
               "last_name", "item_id", "item_name", "quantity", "payment_amount", "status",
               "status"]
    with pytest.raises(warehouse.FileRefused, match=r"refused: repeated column\(s\): status\n"):
        warehouse.load_file(write_file(files / "d.csv", DAY, columns=columns), delivery_date=D)


@pytest.mark.parametrize("other_day", [D - timedelta(days=1), D + timedelta(days=3650),
                                       date(2010, 1, 1)],
                         ids=["the day before", "ten years ahead", "before the calendar"])
def test_a_row_of_another_day_refuses_the_file_naming_both_days(dwh, files, other_day):
    """The same rule for every other day, past, future or outside the calendar: the file is
    refused (SPEC §5), both dates named; the mart is as before."""
    warehouse.load_file(write_file(files / "first.csv", DAY), delivery_date=D)
    before = mart_dump(dwh)
    odd = dict(DAY[0].row(), date_time=f"{other_day}T10:00:00")
    with pytest.raises(warehouse.CheckFailed,
                       match=f"1 of 205 rows are dated {other_day}, not the delivery day {D}"):
        warehouse.load_file(write_file(files / "again.csv", DAY[1:], raw_rows=[odd]),
                            delivery_date=D)
    assert mart_dump(dwh) == before


# --- a bad line never costs a good order --------------------------------------------------


@pytest.mark.parametrize("column, value", [
    ("payment_amount", "NaN"),
    ("payment_amount", "1234567890123"),
    ("date_time", "2024-03-05T10:00:00Z"),
    ("quantity", "0"),
])
def test_a_redelivery_whose_line_for_a_published_order_is_rejected_keeps_that_order(
        dwh, files, column, value):
    warehouse.load_file(write_file(files / "first.csv", DAY), delivery_date=D)
    before = mart_dump(dwh)
    bad = dict(DAY[0].row(), **{column: value})
    summary = warehouse.load_file(write_file(files / "again.csv", DAY[1:], raw_rows=[bad]),
                                  delivery_date=D)
    assert (summary.rows_loaded, summary.rows_rejected) == (204, 1)
    assert mart_dump(dwh) == before  # 205 facts, as published
    assert fetch(dwh, "select rows_carried, status from staging.load_log where load_id = 2") == [
        (1, "merged")]
    # the order's published row now belongs to the delivery that replaced it
    assert fetch(dwh, "select load_id, carried_from_load_id from staging.user_order_log "
                      "where uniq_id = %s", (DAY[0].uniq_id,)) == [(2, 1)]
    # ... and stays when the day is delivered again, whole
    warehouse.load_file(write_file(files / "third.csv", DAY), delivery_date=D)
    assert mart_dump(dwh) == before


def test_a_redelivery_dropping_the_line_is_not_a_rejected_line(dwh, files):
    """Without a rejected line for it, an order missing from the re-delivery leaves the mart
    (SPEC §5: the published delivery is what the mart holds)."""
    warehouse.load_file(write_file(files / "first.csv", DAY), delivery_date=D)
    warehouse.load_file(write_file(files / "again.csv", DAY[1:]), delivery_date=D)
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(204,)]
    assert fetch(dwh, "select rows_carried from staging.load_log where load_id = 2") == [(0,)]


def test_a_redelivery_over_the_reject_threshold_is_refused_and_keeps_the_day(dwh, files):
    warehouse.load_file(write_file(files / "first.csv", DAY), delivery_date=D)
    before = mart_dump(dwh)
    bad = [dict(o.row(), payment_amount="NaN") for o in DAY[:3]]  # 3 of 205 > 1 %
    with pytest.raises(warehouse.CheckFailed, match="rejected rows: 3 of 205"):
        warehouse.load_file(write_file(files / "again.csv", DAY[3:], raw_rows=bad),
                            delivery_date=D)
    assert mart_dump(dwh) == before


# --- the largest accepted values, then a normal day of the same week -----------------------


def test_the_largest_accepted_amounts_never_block_a_later_day_of_their_week(dwh, files):
    huge = [Order(1000 + n, "2024-03-05", customer=10 + n % 4) for n in range(100)]
    rows = [dict(o.row(), payment_amount="999999999999.99", quantity="5") for o in huge]
    warehouse.load_file(write_file(files / "huge.csv", [DAY[0]], raw_rows=rows), delivery_date=D)
    later = [Order(2000 + n, "2024-03-06", customer=10 + n % 4) for n in range(8)]
    warehouse.load_file(write_file(files / "next.csv", later), delivery_date=D + timedelta(days=1))

    expected = Decimal("999999999999.99") * 100 + DAY[0].amount + sum(o.amount for o in later)
    assert fetch(dwh, "select sum(net_revenue) from mart.customer_retention") == [(expected,)]
    assert fetch(dwh, "select sum(net_revenue) from mart.customer_retention_by_city") == [
        (expected,)]
    summary = fetch(dwh, "select sum(new_customers_revenue + returning_customers_revenue) "
                         "from mart.customer_retention")
    assert summary == [(expected,)]
    # the full rebuild holds them too
    dwh.cursor().execute("call mart.refresh_retention()")
    assert fetch(dwh, "select sum(net_revenue) from mart.customer_retention") == [(expected,)]


def test_the_command_line_exits_zero_on_a_redelivery_with_a_rejected_line(dwh, files):
    from test_upgrade_and_cli import SALES_MART

    warehouse.load_file(write_file(files / "first.csv", DAY), delivery_date=D)
    bad = dict(DAY[0].row(), payment_amount="NaN")
    done = subprocess.run([*SALES_MART, "load", str(write_file(files / "again.csv", DAY[1:],
                                                                raw_rows=[bad])),
                           "--date", str(D)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(205,)]
