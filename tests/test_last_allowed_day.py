"""Tomorrow is the last day allowed (SPEC §5, README "Deliveries and re-runs"): a delivery date
of tomorrow and rows dated tomorrow are loaded; the day after tomorrow is refused as a delivery
date and rejected as a row's order day. "Tomorrow" is the database's current_date + 1, as the
rule counts it (a test run across midnight could see it move; the window is milliseconds)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from orders import Order, fetch, write_file

from sales_mart import warehouse


def tomorrow_of(dwh) -> date:
    return fetch(dwh, "select current_date + 1")[0][0]


def day_orders(day: date, first_uniq: int = 1) -> list[Order]:
    return [Order(first_uniq + n, day.isoformat(), customer=10 + n) for n in range(4)]


def test_an_increment_for_tomorrow_dated_tomorrow_is_loaded(dwh, files):
    tomorrow = tomorrow_of(dwh)

    summary = warehouse.load_file(write_file(files / "d.csv", day_orders(tomorrow)),
                                  delivery_date=tomorrow)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (4, 4, 0)
    assert fetch(dwh, "select count(*), min(date_time)::date, max(delivery_date) "
                      "from mart.f_sales") == [(4, tomorrow, tomorrow)]
    assert fetch(dwh, "select status from staging.load_log") == [("merged",)]


def test_an_increment_for_the_day_after_tomorrow_is_refused_naming_both_days(dwh, files):
    tomorrow = tomorrow_of(dwh)
    after = tomorrow + timedelta(days=1)

    with pytest.raises(warehouse.FileRefused,
                       match=f"delivery date {after} is after tomorrow \\({tomorrow}\\)"):
        warehouse.load_file(write_file(files / "d.csv", day_orders(after)), delivery_date=after)

    assert fetch(dwh, "select count(*) from mart.f_sales") == [(0,)]
    assert fetch(dwh, "select status from staging.load_log") == [("failed",)]
    assert fetch(dwh, "select count(*) from staging.published_delivery") == [(0,)]


def test_report_rows_dated_tomorrow_load_and_the_day_after_is_rejected(dwh, files):
    tomorrow = tomorrow_of(dwh)
    after = tomorrow + timedelta(days=1)
    today = tomorrow - timedelta(days=1)
    report = [*day_orders(today), *day_orders(tomorrow, first_uniq=11),
              Order(21, after.isoformat(), customer=14)]  # line 10

    summary = warehouse.load_file(write_file(files / "r.csv", report), history=True,
                                  max_reject_share=0.5)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (9, 8, 1)
    assert fetch(dwh, "select line_no, column_name, bad_value, reason "
                      "from staging.user_order_log_rejects") == [
        (10, "date_time", f"{after}T00:00:00", f"date_time is after tomorrow ({tomorrow})")]
    assert fetch(dwh, "select date_time::date, count(*) from mart.f_sales group by 1 "
                      "order by 1") == [(today, 4), (tomorrow, 4)]
