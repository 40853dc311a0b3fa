"""A merge that fails midway leaves the mart exactly as it was (one transaction, no COMMIT)."""

from __future__ import annotations

from datetime import date

import pytest
from orders import Order, fetch, mart_dump, write_file

from sales_mart import warehouse


def test_merge_failing_after_dimensions_rolls_everything_back(dwh, files):
    day1 = [Order(n, "2024-03-04", customer=n) for n in (10, 11, 12, 13)]
    warehouse.load_file(write_file(files / "d1.csv", day1), delivery_date=date(2024, 3, 4))
    before = mart_dump(dwh)

    # A new customer (14) makes the merge upsert d_customer first; the fact insert that follows
    # then hits this constraint, i.e. the merge fails midway.
    dwh.cursor().execute(
        f"alter table mart.f_sales add constraint test_breaks_midway check (uniq_id <> '{99:032x}')"
    )
    day2 = [Order(n + 20, "2024-03-05", customer=n) for n in (10, 11, 12)]
    day2.append(Order(99, "2024-03-05", customer=14))
    with pytest.raises(warehouse.LoadError, match="test_breaks_midway"):
        warehouse.load_file(write_file(files / "d2.csv", day2), delivery_date=date(2024, 3, 5))

    assert mart_dump(dwh) == before
    assert fetch(dwh, "select count(*) from mart.d_customer where customer_id = 14") == [(0,)]
    assert fetch(dwh, "select status from staging.load_log order by load_id") == [("merged",), ("failed",)]


def test_merge_procedure_called_in_a_transaction_block_is_rolled_back(dwh, files):
    day1 = [Order(n, "2024-03-04", customer=n) for n in (10, 11, 12, 13)]
    path = write_file(files / "d1.csv", day1)
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(conn, path, source="increment", delivery_date=date(2024, 3, 4))
        warehouse.ingest(conn, load_id)
        with conn.cursor() as cur:  # psycopg2 opens a transaction block
            cur.execute("call mart.merge_increment('2024-03-04')")
            cur.execute("select count(*) from mart.f_sales")
            assert cur.fetchone() == (4,)
        conn.rollback()
    finally:
        conn.close()
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(0,)]
