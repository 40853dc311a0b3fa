"""Dimension names (README "The warehouse": members named after their latest delivered row):
an item, a city or a customer takes the name of its latest eligible row — the latest delivery
day, an increment before the full report of the same day, then the latest order time — in
whatever order the days are loaded, and in the retention tables too. Rows of loads that were
never published name nothing; a member a re-delivery drops is named after its remaining rows.
(Customers renamed out of order: test_retention_rules.py.)"""

from __future__ import annotations

from datetime import date

import pytest
from orders import Order, fetch, mart_dump, mart_dump_at, write_file

from sales_mart import warehouse

D1, D2 = date(2024, 3, 5), date(2024, 3, 6)  # both in ISO week 2024-W10


def renamed(order: Order, **names) -> dict:
    """The order's row with some of its names (item_name, city_name, first_name) changed."""
    return order.row() | names


def names(dwh) -> dict[str, list[tuple]]:
    """Every name the mart shows for item 1, city 1 and customer 10, in every relation."""
    return {
        "item": fetch(dwh, "select item_name from mart.d_item where item_id = 1"),
        "city": fetch(dwh, "select city_name from mart.d_city where city_id = 1"),
        "customer": fetch(dwh, "select first_name from mart.d_customer where customer_id = 10"),
        "retention": fetch(dwh, "select distinct item_name from mart.customer_retention "
                                "where item_id = 1"),
        "retention_by_city": fetch(dwh, "select distinct item_name, city_name "
                                        "from mart.customer_retention_by_city "
                                        "where item_id = 1 and city_id = 1"),
    }


def reference(fresh_warehouse, *loads) -> dict:
    """The mart of a fresh warehouse that loaded these (path, day or None) in the order given."""
    url = fresh_warehouse()
    for path, day in loads:
        warehouse.load_file(path, delivery_date=day, history=day is None, url=url)
    return mart_dump_at(url)


def test_item_and_city_renamed_later_keep_the_new_name_when_an_earlier_day_loads_after(
        dwh, files, fresh_warehouse):
    day1 = write_file(files / "d1.csv", [Order(n, "2024-03-05", customer=9 + n)
                                         for n in (1, 2, 3, 4)])
    day2 = write_file(files / "d2.csv", [], raw_rows=[
        renamed(Order(10 + n, "2024-03-06", customer=9 + n), item_name="Чай зелёный",
                city_name="Москва-Сити") for n in (1, 2, 3, 4)])

    warehouse.load_file(day2, delivery_date=D2)
    warehouse.load_file(day1, delivery_date=D1)  # an earlier day, loaded afterwards

    assert names(dwh) == {
        "item": [("Чай зелёный",)], "city": [("Москва-Сити",)], "customer": [("Иван",)],
        "retention": [("Чай зелёный",)], "retention_by_city": [("Чай зелёный", "Москва-Сити")],
    }
    assert mart_dump(dwh) == reference(fresh_warehouse, (day1, D1), (day2, D2))


@pytest.mark.parametrize("increment_first", [True, False], ids=["increment-first",
                                                                "report-first"])
def test_an_increment_names_members_before_the_full_report_of_the_same_day(
        dwh, files, increment_first):
    increment = write_file(files / "inc.csv", [], raw_rows=[
        renamed(Order(n, "2024-03-05", customer=9 + n, first_name="Ваня" if n == 1 else None),
                item_name="Чай (магазин)", city_name="Москва (магазин)")
        for n in (1, 2, 3, 4)])
    # The report holds the same orders on 2024-03-05, with the old names, and the day before.
    report = write_file(files / "report.csv", [
        *[Order(n + 4, "2024-03-04", customer=9 + n) for n in (1, 2, 3, 4)],
        *[Order(n, "2024-03-05", customer=9 + n) for n in (1, 2, 3, 4)],
    ])
    loads = [lambda: warehouse.load_file(increment, delivery_date=D1),
             lambda: warehouse.load_file(report, history=True)]
    for load in loads if increment_first else reversed(loads):
        load()

    assert names(dwh) == {
        "item": [("Чай (магазин)",)], "city": [("Москва (магазин)",)],
        "customer": [("Ваня",)], "retention": [("Чай (магазин)",)],
        "retention_by_city": [("Чай (магазин)", "Москва (магазин)")],
    }


def test_the_latest_order_time_of_a_delivery_names_the_member_not_the_last_line(dwh, files):
    renamed_at_six = renamed(Order(1, "2024-03-05", customer=10), item_name="Чай зелёный",
                             city_name="Москва-Сити", first_name="Ваня") | {
        "date_time": "2024-03-05T18:00:00"}
    old_at_nine = Order(2, "2024-03-05", customer=10).row() | {
        "date_time": "2024-03-05T09:00:00"}  # a later line, an earlier order time
    others = [Order(n, "2024-03-05", customer=8 + n, item=2, city=2) for n in (3, 4, 5)]

    warehouse.load_file(write_file(files / "d.csv", others, raw_rows=[renamed_at_six,
                                                                      old_at_nine]),
                        delivery_date=D1)

    assert names(dwh) == {
        "item": [("Чай зелёный",)], "city": [("Москва-Сити",)], "customer": [("Ваня",)],
        "retention": [("Чай зелёный",)], "retention_by_city": [("Чай зелёный", "Москва-Сити")],
    }


# Customer 14 buys item 3 (Торт) in city 3 (Самара) only: on day 1 (order 20) and on day 2's
# first delivery (order 21, new names); day 2's re-delivery drops order 21.
REGULAR_1 = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
REGULAR_2 = [Order(n + 20, "2024-03-06", customer=n) for n in (10, 11, 12, 13)]
ORDER_20 = Order(20, "2024-03-05", customer=14, item=3, city=3)
ORDER_21 = Order(21, "2024-03-06", customer=14, item=3, city=3)
NAMES_OF_14 = ("select (select item_name from mart.d_item where item_id = 3), "
               "(select city_name from mart.d_city where city_id = 3), "
               "(select first_name from mart.d_customer where customer_id = 14), "
               "(select array_agg(distinct item_name || '/' || city_name) "
               " from mart.customer_retention_by_city where item_id = 3)")


def test_an_item_or_city_a_redelivery_drops_is_named_after_its_remaining_rows(
        dwh, files, fresh_warehouse):
    day1 = write_file(files / "d1.csv", [*REGULAR_1, ORDER_20])
    warehouse.load_file(day1, delivery_date=D1)
    warehouse.load_file(write_file(files / "d2.csv", REGULAR_2, raw_rows=[
        renamed(ORDER_21, item_name="Торт новый", city_name="Самара новая",
                first_name="Новое")]), delivery_date=D2)
    assert fetch(dwh, NAMES_OF_14) == [("Торт новый", "Самара новая", "Новое",
                                        ["Торт новый/Самара новая"])]
    again = write_file(files / "d2-again.csv", REGULAR_2)

    warehouse.load_file(again, delivery_date=D2)

    assert fetch(dwh, NAMES_OF_14) == [("Торт", "Самара", "Мария", ["Торт/Самара"])]
    assert mart_dump(dwh) == reference(fresh_warehouse, (day1, D1), (again, D2))


def test_a_load_never_published_names_nothing(dwh, files, fresh_warehouse):
    """Day 1 waits, re-delivered with new names at a later order time, ingested but never
    published. When day 2's re-delivery drops customer 14's item and city, their names come
    back from day 1's published rows, not from the waiting load of the same day."""
    day1 = write_file(files / "d1.csv", [*REGULAR_1, ORDER_20])
    warehouse.load_file(day1, delivery_date=D1)
    warehouse.load_file(write_file(files / "d2.csv", [*REGULAR_2, ORDER_21]), delivery_date=D2)
    waiting = renamed(ORDER_20, item_name="Торт брошенный", city_name="Самара брошенная",
                      first_name="Брошенное") | {"date_time": "2024-03-05T23:00:00"}
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(conn, write_file(files / "d1-waiting.csv", REGULAR_1,
                                                       raw_rows=[waiting]),
                                      source="increment", delivery_date=D1)
        warehouse.ingest(conn, load_id)
    finally:
        conn.close()
    again = write_file(files / "d2-again.csv", REGULAR_2)

    warehouse.load_file(again, delivery_date=D2)

    assert fetch(dwh, NAMES_OF_14) == [("Торт", "Самара", "Мария", ["Торт/Самара"])]
    assert mart_dump(dwh) == reference(fresh_warehouse, (day1, D1), (again, D2))
    assert fetch(dwh, "select status from staging.load_log where load_id = %s",
                 (load_id,)) == [("ingested",)]
