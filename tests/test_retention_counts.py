"""SPEC §5: the customer counts of the retention tables count distinct customers, not order
lines: `refunded_customer_count` (customers with a refunded order in the group) and
`returning_customers_count` (returning customers with a shipped order in the group), in both
tables, as the publish maintains them per ISO week and as `CALL mart.refresh_retention()`
rebuilds them. Expected rows worked out by hand below."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from orders import RETENTION_COLUMNS, Order, fetch, write_file

from sales_mart import warehouse

# One ISO week (2024-W10, Monday 2024-03-04), one delivery on Tuesday 2024-03-05. Item 1 costs
# 100.00, item 2 150.50 (quantity 1 each).
#  c10: two shipped orders of item 1 in city 1          -> returning, one customer, two lines
#  c11: one shipped order of item 1 in city 1           -> new
#  c12: two refunds of item 1 in city 1                 -> one refunded customer, two refunds
#  c13: a refund of item 1 in city 2, a shipped item 2  -> new (item 2), refunded (item 1)
WEEK = [
    Order(1, "2024-03-05", customer=10, item=1, city=1),
    Order(2, "2024-03-05", customer=10, item=1, city=1),
    Order(3, "2024-03-05", customer=11, item=1, city=1),
    Order(4, "2024-03-05", customer=12, item=1, city=1, status="refunded"),
    Order(5, "2024-03-05", customer=12, item=1, city=1, status="refunded"),
    Order(6, "2024-03-05", customer=13, item=1, city=2, status="refunded"),
    Order(7, "2024-03-05", customer=13, item=2, city=1),
]

# period, week_start, item, name, new, returning, refunded customers, new revenue, returning
# revenue, refunded orders, shipped orders, refunded amount, net revenue
BY_ITEM = [
    # item 1: new c11; returning c10 (2 lines); refunded c12 (2 lines) and c13 (1 line)
    (202410, "2024-03-04", 1, "Чай", 1, 1, 2, D("100.00"), D("200.00"), 3, 3, D("300.00"),
     D("0.00")),
    (202410, "2024-03-04", 2, "Кофе", 1, 0, 0, D("150.50"), D("0.00"), 0, 1, D("0.00"),
     D("150.50")),
]
BY_CITY = [  # the same, then city_id
    # item 1 in city 1: new c11; returning c10 (2 lines); refunded c12 (2 lines)
    (202410, "2024-03-04", 1, "Чай", 1, 1, 1, D("100.00"), D("200.00"), 2, 3, D("200.00"),
     D("100.00"), 1),
    # item 1 in city 2: c13's refund only
    (202410, "2024-03-04", 1, "Чай", 0, 0, 1, D("0.00"), D("0.00"), 1, 0, D("100.00"),
     D("-100.00"), 2),
    (202410, "2024-03-04", 2, "Кофе", 1, 0, 0, D("150.50"), D("0.00"), 0, 1, D("0.00"),
     D("150.50"), 1),
]


def retention_tables(conn) -> tuple[list[tuple], list[tuple]]:
    return (
        fetch(conn, f"select {RETENTION_COLUMNS} from mart.customer_retention "
                    "order by period_id, item_id"),
        fetch(conn, f"select {RETENTION_COLUMNS}, city_id from mart.customer_retention_by_city "
                    "order by period_id, item_id, city_id"),
    )


def test_customer_counts_are_distinct_customers_after_the_publish(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", WEEK), delivery_date=date(2024, 3, 5))

    assert retention_tables(dwh) == (BY_ITEM, BY_CITY)


def test_customer_counts_are_distinct_customers_after_a_full_rebuild(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", WEEK), delivery_date=date(2024, 3, 5))
    conn = warehouse.connect(role="sales_loader")
    try:
        with conn, conn.cursor() as cur:
            cur.execute("call mart.refresh_retention()")
    finally:
        conn.close()

    assert retention_tables(dwh) == (BY_ITEM, BY_CITY)


def test_customer_counts_are_distinct_customers_in_a_week_refreshed_by_a_later_day(dwh, files):
    """Wednesday's delivery recomputes the week (per-week refresh over two days' facts): c12
    refunds a third order and c10 ships a third, still one customer each."""
    warehouse.load_file(write_file(files / "tue.csv", WEEK), delivery_date=date(2024, 3, 5))
    wednesday = [
        Order(8, "2024-03-06", customer=12, item=1, city=1, status="refunded"),
        Order(9, "2024-03-06", customer=10, item=1, city=1),
        Order(10, "2024-03-06", customer=14, item=2, city=1),
        Order(11, "2024-03-06", customer=15, item=2, city=1),
    ]
    warehouse.load_file(write_file(files / "wed.csv", wednesday), delivery_date=date(2024, 3, 6))

    by_item, by_city = retention_tables(dwh)
    # item 1: new c11; returning c10 (3 lines); refunded c12 (3 lines), c13 (1 line)
    assert by_item[0] == (202410, "2024-03-04", 1, "Чай", 1, 1, 2, D("100.00"), D("300.00"),
                          4, 4, D("400.00"), D("0.00"))
    # item 1 in city 1: refunded c12 only, over 3 refund lines
    assert by_city[0] == (202410, "2024-03-04", 1, "Чай", 1, 1, 1, D("100.00"), D("300.00"),
                          3, 4, D("300.00"), D("100.00"), 1)
    dwh.cursor().execute("call mart.refresh_retention()")  # the full rebuild agrees
    assert retention_tables(dwh) == (by_item, by_city)
