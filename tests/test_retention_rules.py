"""SPEC §5 rule by rule, on small files whose expected views were worked out by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from orders import RETENTION_COLUMNS, Order, fetch, write_file

from sales_mart import warehouse

# One ISO week (2024-W10, Monday 2024-03-04), one delivery on Tuesday 2024-03-05.
#  c10: two shipped orders, two items, two cities   -> returning in both item groups
#  c11, c14: one shipped order                       -> new
#  c12: only a refund                                -> neither; a refunded customer
#  c13: one shipped order and one refund             -> new, and a refunded customer
WEEK_10 = [
    Order(1, "2024-03-05", customer=10, item=1, city=1, quantity=2),  # 200.00
    Order(2, "2024-03-05", customer=10, item=2, city=2, quantity=1),  # 150.50
    Order(3, "2024-03-05", customer=11, item=1, city=1, quantity=1),  # 100.00
    Order(4, "2024-03-05", customer=12, item=1, city=1, quantity=1, status="refunded"),
    Order(5, "2024-03-05", customer=13, item=2, city=3, quantity=3),  # 451.50
    Order(6, "2024-03-05", customer=13, item=2, city=3, quantity=1, status="refunded"),
    Order(7, "2024-03-05", customer=14, item=1, city=1, quantity=1),  # 100.00
]


def retention(conn, view="mart.customer_retention", extra=""):
    return fetch(
        conn,
        f"select {RETENTION_COLUMNS}{extra} from {view} order by period_id, item_id{extra}",
    )


def test_new_and_returning_are_decided_per_week_across_items_and_cities(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", WEEK_10), delivery_date=date(2024, 3, 5))

    # period, week_start, item, name, new, returning, refunded customers, new revenue,
    # returning revenue, refunded orders, shipped orders, refunded amount, net revenue
    assert retention(dwh) == [
        (202410, "2024-03-04", 1, "Чай", 2, 1, 1, D("200.00"), D("200.00"), 1, 3, D("100.00"), D("300.00")),
        (202410, "2024-03-04", 2, "Кофе", 1, 1, 1, D("451.50"), D("150.50"), 1, 2, D("150.50"), D("451.50")),
    ]
    assert retention(dwh, "mart.customer_retention_by_city", ", city_id") == [
        (202410, "2024-03-04", 1, "Чай", 2, 1, 1, D("200.00"), D("200.00"), 1, 3, D("100.00"), D("300.00"), 1),
        (202410, "2024-03-04", 2, "Кофе", 0, 1, 0, D("0.00"), D("150.50"), 0, 1, D("0.00"), D("150.50"), 2),
        (202410, "2024-03-04", 2, "Кофе", 1, 0, 1, D("451.50"), D("0.00"), 1, 1, D("150.50"), D("301.00"), 3),
    ]
    assert fetch(dwh, "select distinct period_name from mart.customer_retention") == [("weekly",)]
    assert fetch(dwh, "select city_name from mart.customer_retention_by_city where city_id = 3 limit 1") == [
        ("Самара",)
    ]


def test_refunds_are_stored_negative_in_f_sales(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", WEEK_10), delivery_date=date(2024, 3, 5))
    assert fetch(
        dwh, "select uniq_id, status, payment_amount, date_id from mart.f_sales where status = 'refunded' order by 1"
    ) == [
        (f"{4:032x}", "refunded", D("-100.00"), 20240305),
        (f"{6:032x}", "refunded", D("-150.50"), 20240305),
    ]
    assert fetch(dwh, "select sum(payment_amount) from mart.f_sales") == [(D("751.50"),)]


def test_iso_week_edges(dwh, files):
    history = [
        Order(11, "2024-03-10", customer=10),  # Sunday: week 2024-W10
        Order(12, "2024-03-11", customer=10),  # Monday: week 2024-W11
        Order(16, "2024-03-10", customer=12),
        Order(13, "2024-12-29", customer=11),  # Sunday: 2024-W52
        Order(14, "2024-12-30", customer=11),  # Monday: ISO week 2025-W01
        Order(15, "2024-12-31", customer=11),  # second order that week: returning
        Order(17, "2025-01-01", customer=13),
    ]
    warehouse.load_file(write_file(files / "h.csv", history, with_status=False), history=True)

    assert [r[:11] for r in retention(dwh)] == [
        (202410, "2024-03-04", 1, "Чай", 2, 0, 0, D("200.00"), D("0.00"), 0, 2),
        (202411, "2024-03-11", 1, "Чай", 1, 0, 0, D("100.00"), D("0.00"), 0, 1),
        (202452, "2024-12-23", 1, "Чай", 1, 0, 0, D("100.00"), D("0.00"), 0, 1),
        (202501, "2024-12-30", 1, "Чай", 1, 1, 0, D("100.00"), D("200.00"), 0, 3),
    ]


def test_duplicates_and_old_format_file(dwh, files):
    day = [Order(n, "2024-03-05", customer=10 + n % 4, quantity=n % 5 + 1) for n in range(1, 9)]
    path = write_file(files / "old.csv", [*day, *day[:5], *day[:2]], with_status=False)

    summary = warehouse.load_file(path, delivery_date=date(2024, 3, 5))

    assert (summary.rows_read, summary.rows_loaded, summary.rows_duplicate, summary.rows_rejected) == (15, 8, 7, 0)
    assert fetch(dwh, "select count(*), count(*) filter (where status = 'shipped') from mart.f_sales") == [(8, 8)]
    # quantities 2,3,4,5,1,2,3,4 at 100.00 each
    assert fetch(dwh, "select orders_count, net_revenue from mart.customer_retention") == [(8, D("2400.00"))]


def test_customer_buying_in_two_cities_is_one_customer(dwh, files):
    orders = [
        Order(1, "2024-03-05", customer=10, city=1),
        Order(2, "2024-03-06", customer=10, city=2),
        *[Order(n, "2024-03-05", customer=n) for n in (11, 12, 13)],
    ]
    warehouse.load_file(write_file(files / "h.csv", orders), history=True)
    assert fetch(dwh, "select new_customers_count, returning_customers_count from mart.customer_retention") == [(3, 1)]
    assert fetch(
        dwh,
        "select city_id, new_customers_count, returning_customers_count from mart.customer_retention_by_city order by 1",
    ) == [(1, 3, 1), (2, 0, 1)]
    assert fetch(dwh, "select count(*) from mart.d_customer where customer_id = 10") == [(1,)]


def test_name_that_changes_takes_the_latest_delivery_in_any_load_order(dwh, files):
    others = [Order(n, "2024-03-05", customer=n) for n in (11, 12, 13)]
    day1 = write_file(files / "d1.csv", [Order(1, "2024-03-05", customer=10, first_name="Иван"), *others])
    others2 = [Order(n + 10, "2024-03-06", customer=n) for n in (11, 12, 13)]
    day2 = write_file(files / "d2.csv", [Order(2, "2024-03-06", customer=10, first_name="Ваня"), *others2])

    warehouse.load_file(day2, delivery_date=date(2024, 3, 6))
    warehouse.load_file(day1, delivery_date=date(2024, 3, 5))
    assert fetch(dwh, "select first_name from mart.d_customer where customer_id = 10") == [("Ваня",)]


def test_later_delivery_of_a_uniq_id_wins_and_refund_turns_negative(dwh, files):
    others = [Order(n, "2024-03-05", customer=n) for n in (11, 12, 13)]
    day1 = write_file(files / "d1.csv", [Order(1, "2024-03-05", customer=10, quantity=2), *others])
    # The next day's file repeats uniq 1 as refunded (dated on its own day, as every real row).
    day2 = write_file(
        files / "d2.csv",
        [Order(1, "2024-03-06", customer=10, quantity=2, status="refunded"),
         *[Order(n + 10, "2024-03-06", customer=n) for n in (11, 12, 13)]],
    )
    warehouse.load_file(day2, delivery_date=date(2024, 3, 6))
    warehouse.load_file(day1, delivery_date=date(2024, 3, 5))  # an older delivery, loaded later
    assert fetch(dwh, f"select status, payment_amount, delivery_date::text from mart.f_sales where uniq_id = '{1:032x}'") == [
        ("refunded", D("-200.00"), "2024-03-06")
    ]


def test_redelivered_day_removes_lines_that_disappeared(dwh, files):
    base = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
    warehouse.load_file(write_file(files / "a.csv", [*base, Order(99, "2024-03-05", customer=14)]),
                        delivery_date=date(2024, 3, 5))
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(5,)]

    warehouse.load_file(write_file(files / "b.csv", base), delivery_date=date(2024, 3, 5))

    assert fetch(dwh, "select count(*), count(*) filter (where customer_id = 14) from mart.f_sales") == [(4, 0)]
    assert fetch(dwh, "select count(*) from mart.d_customer where customer_id = 14") == [(0,)]
    assert fetch(dwh, "select new_customers_count from mart.customer_retention") == [(4,)]


def test_days_in_mart_counts_the_weeks_days_held_over_the_whole_mart(dwh, files):
    # ISO week 2024-W10 (Mon 03-04 .. Sun 03-10): item 1 sells on Tuesday, item 2 on Wednesday,
    # item 3 has only a refund, on Thursday. 2024-W11: Monday only.
    history = [
        *[Order(n, "2024-03-05", customer=n, item=1, city=1) for n in (10, 11, 12)],
        Order(20, "2024-03-06", customer=13, item=2, city=2),
        Order(21, "2024-03-07", customer=14, item=3, city=3, status="refunded"),
        Order(22, "2024-03-11", customer=15, item=1, city=1),
    ]
    warehouse.load_file(write_file(files / "h.csv", history), history=True)
    week_days = "select period_id, item_id{city}, days_in_mart from {view} order by 1, 2{order}"
    # Tuesday, Wednesday and Thursday hold facts: 3 days for every item of W10, whatever it sold
    assert fetch(dwh, week_days.format(city="", view="mart.customer_retention", order="")) == [
        (202410, 1, 3), (202410, 2, 3), (202410, 3, 3), (202411, 1, 1),
    ]
    assert fetch(dwh, week_days.format(city=", city_id", view="mart.customer_retention_by_city",
                                       order=", 3")) == [
        (202410, 1, 1, 3), (202410, 2, 2, 3), (202410, 3, 3, 3), (202411, 1, 1, 1),
    ]

    # Friday's increment sells item 1 only; the refresh makes W10 four days for every item.
    friday = [Order(n + 30, "2024-03-08", customer=n, item=1) for n in (10, 11, 12, 13)]
    warehouse.load_file(write_file(files / "fri.csv", friday), delivery_date=date(2024, 3, 8))
    assert fetch(dwh, week_days.format(city="", view="mart.customer_retention", order="")) == [
        (202410, 1, 4), (202410, 2, 4), (202410, 3, 4), (202411, 1, 1),
    ]
    assert fetch(dwh, "select distinct days_in_mart from mart.customer_retention_by_city "
                      "where period_id = 202410") == [(4,)]


# The BI contract (SPEC §4): every column a BI tool may use keeps its name, position and type;
# days_in_mart is added at the end; the unique keys and the sales_bi grant are unchanged.
SPEC_COLUMNS = [
    ("period_name", "text"), ("period_id", "integer"), ("week_start", "date"),
    ("item_id", "integer"), ("item_name", "text"),
    ("new_customers_count", "bigint"), ("returning_customers_count", "bigint"),
    ("refunded_customer_count", "bigint"), ("new_customers_revenue", "numeric(24,2)"),
    ("returning_customers_revenue", "numeric(24,2)"), ("customers_refunded", "bigint"),
    ("orders_count", "bigint"), ("refunded_amount", "numeric(24,2)"),
    ("net_revenue", "numeric(24,2)"),
]
CITY_COLUMNS = [("city_id", "integer"), ("city_name", "text")]


def test_retention_views_keep_the_bi_contract_and_add_days_in_mart_last(dwh, files):
    for view, spec, key in (
        ("mart.customer_retention", SPEC_COLUMNS, "(period_id, item_id)"),
        ("mart.customer_retention_by_city", SPEC_COLUMNS[:5] + CITY_COLUMNS + SPEC_COLUMNS[5:],
         "(period_id, item_id, city_id)"),
    ):
        columns = fetch(dwh, "select attname::text, format_type(atttypid, atttypmod) from pg_attribute "
                             "where attrelid = %s::regclass and attnum > 0 and not attisdropped "
                             "order by attnum", (view,))
        assert columns == [*spec, ("days_in_mart", "bigint")]
        assert [d.split(" USING btree ")[1] for (d,) in fetch(
            dwh, "select pg_get_indexdef(indexrelid) from pg_index where indrelid = %s::regclass "
                 "and indisunique", (view,))] == [key]
        assert fetch(dwh, "select has_table_privilege('sales_bi', %s, 'select')", (view,)) == [(True,)]

    warehouse.load_file(write_file(files / "d.csv", WEEK_10), delivery_date=date(2024, 3, 5))
    with dwh.cursor() as cur:
        cur.execute("set role sales_bi")
        cur.execute("select period_id, item_id, days_in_mart from mart.customer_retention order by 2")
        assert cur.fetchall() == [(202410, 1, 1), (202410, 2, 1)]
        cur.execute("reset role")
