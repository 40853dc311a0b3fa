"""The retention tables are maintained per ISO week (docs: db/CONVENTIONS.md): what a publish
changes must reach them. A renamed item or a renamed city, each alone, is renamed in the weeks
the publish does not recompute; a re-delivered order line that changed only its customer, its
item or its city gets its week recomputed. Expected rows: by hand, and tests/reference.py."""

from __future__ import annotations

from datetime import date

import pytest
from orders import Order, fetch, write_file
from reference import final_rows, retention
from test_retention_incremental import REFERENCE_COLUMNS, assert_tables_equal_full_computation

from sales_mart import warehouse

WEEK_10 = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]  # item 1, city 1


def load_week_11_renamed(files, **names) -> None:
    rows = [Order(20 + n, "2024-03-12", customer=10 + n).row() | names for n in range(4)]
    warehouse.load_file(write_file(files / "w11.csv", [], raw_rows=rows),
                        delivery_date=date(2024, 3, 12))


def test_a_city_renamed_alone_is_renamed_in_weeks_not_recomputed(dwh, files):
    warehouse.load_file(write_file(files / "w10.csv", WEEK_10), delivery_date=date(2024, 3, 5))
    load_week_11_renamed(files, city_name="Москва-Сити")  # item 1 keeps its name

    assert fetch(dwh, "select period_id, item_name, city_name "
                      "from mart.customer_retention_by_city order by 1") == [
        (202410, "Чай", "Москва-Сити"), (202411, "Чай", "Москва-Сити")]
    assert fetch(dwh, "select period_id, item_name from mart.customer_retention "
                      "order by 1") == [(202410, "Чай"), (202411, "Чай")]
    assert_tables_equal_full_computation(dwh)


def test_an_item_renamed_alone_is_renamed_in_weeks_not_recomputed(dwh, files):
    warehouse.load_file(write_file(files / "w10.csv", WEEK_10), delivery_date=date(2024, 3, 5))
    load_week_11_renamed(files, item_name="Чай зелёный")  # city 1 keeps its name

    assert fetch(dwh, "select period_id, item_name, city_name "
                      "from mart.customer_retention_by_city order by 1") == [
        (202410, "Чай зелёный", "Москва"), (202411, "Чай зелёный", "Москва")]
    assert fetch(dwh, "select period_id, item_name from mart.customer_retention "
                      "order by 1") == [(202410, "Чай зелёный"), (202411, "Чай зелёный")]
    assert_tables_equal_full_computation(dwh)


# Order 5 is customer 10's second order of the week (so 10 is returning); its re-delivery
# changes one thing only, keeping the day, the quantity and the amount (100.00).
ORDER_5 = Order(5, "2024-03-05", customer=10)
CHANGED = {
    "customer": Order(5, "2024-03-05", customer=14).row(),  # 10 and 14 both new
    "item": ORDER_5.row() | {"item_id": 2, "item_name": "Кофе"},  # item 2 at item 1's price
    "city": Order(5, "2024-03-05", customer=10, city=2).row(),
}


@pytest.mark.parametrize("change", list(CHANGED))
def test_a_redelivered_line_that_changed_only_its_member_refreshes_its_week(dwh, files, change):
    day = date(2024, 3, 5)
    warehouse.load_file(write_file(files / "d.csv", [*WEEK_10, ORDER_5]), delivery_date=day)
    again = write_file(files / "d-again.csv", WEEK_10, raw_rows=[CHANGED[change]])

    warehouse.load_file(again, delivery_date=day)

    rows = final_rows([(again, day)])
    for table, by_city in (("mart.customer_retention", False),
                           ("mart.customer_retention_by_city", True)):
        columns = REFERENCE_COLUMNS.format(city=", city_id" if by_city else "")
        assert fetch(dwh, f"select {columns} from {table} order by 1, 3"
                          f"{', 4' if by_city else ''}") == retention(rows, by_city=by_city), table
    assert_tables_equal_full_computation(dwh)
