"""Retention from the day's change (issue 15), as a property (hypothesis): days of one ISO week
and the next Monday, each delivered once or several times with a few customers, so that
re-deliveries drop, add, refund and move orders and move customers between new and returning
(and between weeks). After every load the retention tables equal their rule views computed from
every fact, and the state they are kept from (retention_customer_sales, _week, retention_day)
equals the same state computed here straight from the facts; at the end the tables equal a
plain Python computation from the eligible files (tests/reference.py), and a full
`CALL mart.refresh_retention()` changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders import Order, fetch, write_file
from reference import final_rows, retention
from test_retention_incremental import REFERENCE_COLUMNS, TABLES, table_rows

from sales_mart import warehouse

MONDAY = date(2024, 3, 4)
DAYS = [MONDAY + timedelta(days=n) for n in range(8)]  # a whole ISO week and the next Monday

# The state, computed independently from the facts (not by the routines that keep it).
STATE = {
    "mart.retention_customer_sales": """
        select f.customer_id, c.iso_period_id, f.item_id, f.city_id,
            count(*) filter (where f.status = 'shipped'),
            coalesce(sum(f.payment_amount) filter (where f.status = 'shipped'), 0),
            count(*) filter (where f.status = 'refunded'),
            coalesce(-sum(f.payment_amount) filter (where f.status = 'refunded'), 0)
        from mart.f_sales as f join mart.d_calendar as c on c.date_id = f.date_id
        group by 1, 2, 3, 4 order by 1, 2, 3, 4""",
    "mart.retention_customer_week": """
        select f.customer_id, c.iso_period_id, count(*)
        from mart.f_sales as f join mart.d_calendar as c on c.date_id = f.date_id
        where f.status = 'shipped' group by 1, 2 order by 1, 2""",
    "mart.retention_day": "select date_id, count(*) from mart.f_sales group by 1 order by 1",
}


def state_rows(conn, table: str) -> list[tuple]:
    return fetch(conn, f"select * from {table} order by 1, 2, 3, 4" if table.endswith("sales")
                 else f"select * from {table} order by 1, 2")


@st.composite
def deliveries(draw):
    """Loads of increments: (day, orders). uniq_ids come from a small pool, so a later day (or a
    re-delivery) takes an order over, moves it to another day or week, or drops it."""
    loads = []
    for n in range(draw(st.integers(min_value=2, max_value=9))):
        day = draw(st.sampled_from(DAYS))
        orders = draw(st.lists(st.builds(
            Order,
            uniq=st.integers(min_value=1, max_value=14),
            day=st.just(day.isoformat()),
            customer=st.integers(min_value=10, max_value=15),
            item=st.integers(min_value=1, max_value=3),
            city=st.integers(min_value=1, max_value=3),
            quantity=st.integers(min_value=1, max_value=3),
            status=st.sampled_from(["shipped", "shipped", "refunded"]),
        ), max_size=8, unique_by=lambda o: o.uniq))
        # gate 2 wants more than three customers: four shipped orders of the load's own
        fillers = [Order(1000 + 10 * n + k, day.isoformat(), customer=10 + k,
                         item=1 + (n + k) % 3) for k in range(4)]
        loads.append((day, orders + fillers))
    return loads


@settings(max_examples=25, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(loads=deliveries())
def test_retention_kept_from_each_change_equals_the_rule_and_the_state_the_facts(
        loads, tmp_path_factory, fresh_warehouse):
    folder = tmp_path_factory.mktemp("delta")
    url = fresh_warehouse()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    last: dict[date, object] = {}
    try:
        for n, (day, orders) in enumerate(loads):
            path = write_file(folder / f"{n}.csv", orders)
            warehouse.load_file(path, delivery_date=day, url=url)
            last[day] = path
            for table, rule, _ in TABLES:
                assert table_rows(conn, table) == table_rows(conn, rule), (n, table)
            for table, query in STATE.items():
                assert state_rows(conn, table) == fetch(conn, query), (n, table)

        rows = final_rows(sorted(((p, d) for d, p in last.items()), key=lambda pd: pd[1]))
        for table, _, by_city in TABLES:
            got = fetch(conn, f"select {REFERENCE_COLUMNS.format(city=', city_id' if by_city else '')}"
                              f" from {table} order by 1, 3{', 4' if by_city else ''}")
            assert got == retention(rows, by_city=by_city), table
        before = {table: table_rows(conn, table) for table, _, _ in TABLES}
        conn.cursor().execute("call mart.refresh_retention()")
        assert {table: table_rows(conn, table) for table, _, _ in TABLES} == before
    finally:
        conn.close()


def test_a_redelivery_moves_a_customer_from_returning_to_new_and_back(dwh, files):
    """Worked by hand: customer 14 has two shipped orders on Monday (returning, 2 × 100.00 of
    item 1 in city 1); Tuesday's re-delivery... is another day, so: Monday re-delivered with one
    of them refunded makes 14 new (one shipped order); Monday delivered again whole makes it
    returning again."""
    base = [Order(n, "2024-03-04", customer=10 + n) for n in range(4)]
    two = [Order(20, "2024-03-04", customer=14), Order(21, "2024-03-04", customer=14)]
    d = date(2024, 3, 4)

    def item_one() -> list[tuple]:
        return fetch(dwh, "select new_customers_count, returning_customers_count, "
                          "new_customers_revenue, returning_customers_revenue, "
                          "refunded_customer_count, refunded_amount, net_revenue "
                          "from mart.customer_retention where item_id = 1")

    warehouse.load_file(write_file(files / "a.csv", base + two), delivery_date=d)
    assert item_one() == [(4, 1, 400, 200, 0, 0, 600)]
    refunded = [two[0], Order(21, "2024-03-04", customer=14, status="refunded")]
    warehouse.load_file(write_file(files / "b.csv", base + refunded), delivery_date=d)
    assert item_one() == [(5, 0, 500, 0, 1, 100, 400)]
    warehouse.load_file(write_file(files / "c.csv", base + two), delivery_date=d)
    assert item_one() == [(4, 1, 400, 200, 0, 0, 600)]
