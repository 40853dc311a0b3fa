"""Files shaped like the real service's (SPEC §3: heavy duplication, old format, positive
refunds, Cyrillic, multi-city customers) give views equal to tests/reference.py's computation."""

from __future__ import annotations

from datetime import date, timedelta

from orders import fetch
from reference import final_rows, retention

from sales_mart import warehouse
from sales_mart.sandbox import data

FIRST_DAY = date(2024, 4, 1)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(5)]
COLUMNS = (
    "period_id, week_start, item_id{city}, new_customers_count, returning_customers_count, "
    "refunded_customer_count, new_customers_revenue, returning_customers_revenue, "
    "customers_refunded, orders_count, refunded_amount, net_revenue, days_in_mart"
)


def test_sandbox_history_and_increments_match_independent_computation(dwh, files):
    history = files / "history.csv"
    data.write_history(history, end_date=data.history_end_for(FIRST_DAY), rows_per_day=300, seed=5)
    deliveries = [(history, None)]
    warehouse.load_file(history, history=True)
    for n, day in enumerate(DAYS):
        path = files / f"inc_{day}.csv"
        data.write_increment(path, day, rows_per_day=300, seed=5, old_format=(n == 0))
        warehouse.load_file(path, delivery_date=day)
        deliveries.append((path, day))

    rows = final_rows(deliveries)
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(len(rows),)]
    shares = fetch(dwh, "select rows_duplicate::float / rows_read from staging.load_log")
    assert all(0.6 < share < 0.9 for (share,) in shares)  # the files really are duplicated

    for view, by_city, city in (
        ("mart.customer_retention", False, ""),
        ("mart.customer_retention_by_city", True, ", city_id"),
    ):
        expected = retention(rows, by_city=by_city)
        got = fetch(dwh, f"select {COLUMNS.format(city=city)} from {view} order by 1, 3{', 4' if by_city else ''}")
        assert got == expected
        # (..., new, returning, refunded customers, new rev, returning rev, refunds, orders, ...)
        assert any(r[-5] > 0 for r in expected)  # refunds present
        assert any(r[-9] > 0 for r in expected)  # returning customers present
        assert {r[-1] for r in expected} >= {7} and min(r[-1] for r in expected) < 7  # partial too
