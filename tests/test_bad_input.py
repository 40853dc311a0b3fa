"""Bad rows go to the rejects table with line, column, value and reason; bad files are refused
whole with the columns named; in every case the mart is left exactly as it was."""

from __future__ import annotations

from datetime import date

import pytest
from orders import Order, fetch, mart_dump, write_file

from sales_mart import warehouse

GOOD = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]


def good_row(uniq: int = 50, **changes) -> dict:
    """A valid row for customer 10, then the given values changed."""
    row = Order(uniq, "2024-03-05", customer=10).row()
    row.update(changes)
    return row


BAD_ROWS = [
    # (values changed in an otherwise good row, column, reason)
    ({"uniq_id": " "}, "uniq_id", "uniq_id is blank"),
    ({"customer_id": ""}, "customer_id", "customer_id is blank"),
    ({"item_id": "7a"}, "item_id", "item_id is not a whole number"),
    ({"quantity": "two"}, "quantity", "quantity is not a whole number"),
    ({"quantity": "-1"}, "quantity", "quantity must be at least 1"),
    ({"payment_amount": "-10.0"}, "payment_amount", "payment_amount is negative"),
    ({"payment_amount": ""}, "payment_amount", "payment_amount is blank"),
    ({"payment_amount": "12,50"}, "payment_amount", "payment_amount is not a number"),
    ({"status": "lost"}, "status", "status is not shipped or refunded"),
    ({"date_time": "2024-02-30T00:00:00"}, "date_time", "date_time is not a date like 2024-02-25T00:00:00"),
    ({"date_time": "now"}, "date_time", "date_time is not a date like 2024-02-25T00:00:00"),
]


def test_each_bad_value_is_rejected_with_line_column_value_and_reason(dwh, files):
    raw = [good_row(100 + n, **changes) for n, (changes, _, _) in enumerate(BAD_ROWS)]
    path = write_file(files / "bad.csv", GOOD, raw_rows=raw)

    summary = warehouse.load_file(path, delivery_date=date(2024, 3, 5), max_reject_share=0.9)

    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (15, 4, 11)
    rejects = fetch(
        dwh,
        "select line_no, column_name, bad_value, reason, raw_row->>'uniq_id', file_name "
        "from staging.user_order_log_rejects order by line_no",
    )
    # Line 1 is the header and lines 2-5 the good rows, so bad row n sits on line 6 + n.
    expected = [
        # an empty CSV field arrives as NULL
        (6 + n, column, changes[column] or None, reason, good_row(100 + n, **changes)["uniq_id"])
        for n, (changes, column, reason) in enumerate(BAD_ROWS)
    ]
    assert [r[:5] for r in rejects] == expected
    assert {r[5] for r in rejects} == {str(path)}
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(4,)]


def test_a_row_with_several_problems_names_them_all(dwh, files):
    raw = [good_row(77, quantity="x", status="?")]
    warehouse.load_file(write_file(files / "f.csv", GOOD, raw_rows=raw),
                        delivery_date=date(2024, 3, 5), max_reject_share=0.5)
    assert fetch(dwh, "select column_name, reason from staging.user_order_log_rejects") == [
        ("quantity", "quantity is not a whole number; status is not shipped or refunded")
    ]


@pytest.fixture
def loaded_mart(dwh, files):
    warehouse.load_file(write_file(files / "ok.csv", GOOD), delivery_date=date(2024, 3, 5))
    return mart_dump(dwh)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["id", "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name",
          "last_name", "item_id", "item_name", "quantity", "status"],
         "missing required column(s): payment_amount"),
        (["id", "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name",
          "last_name", "item_id", "item_name", "quantity", "payment_amount", "status", "coupon"],
         "unknown column(s): coupon"),
    ],
)
def test_bad_header_is_refused_whole_and_journalled(dwh, files, loaded_mart, columns, message):
    path = write_file(files / "bad_header.csv", GOOD, columns=columns)
    with pytest.raises(warehouse.FileRefused, match=message.replace("(", r"\(").replace(")", r"\)")):
        warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    assert mart_dump(dwh) == loaded_mart
    assert fetch(dwh, "select status, error like %s from staging.load_log where file_name = %s",
                 (f"%{message}%", str(path))) == [("failed", True)]


def test_columns_are_mapped_by_header_name_not_position(dwh, files):
    shuffled = ["status", "payment_amount", "quantity", "item_name", "item_id", "last_name",
                "first_name", "customer_id", "city_name", "city_id", "date_time", "uniq_id"]
    warehouse.load_file(write_file(files / "s.csv", GOOD, columns=shuffled), delivery_date=date(2024, 3, 5))
    assert fetch(dwh, "select sum(payment_amount), count(distinct customer_id) from mart.f_sales")[0][1] == 4


def test_empty_file_is_refused(dwh, files, loaded_mart):
    path = files / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(warehouse.FileRefused, match="the file is empty"):
        warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    assert mart_dump(dwh) == loaded_mart


def test_ragged_csv_is_refused_with_the_line(dwh, files, loaded_mart):
    path = write_file(files / "ragged.csv", GOOD)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("9,abc,2024-03-05T00:00:00,1\n")
    with pytest.raises(warehouse.FileRefused, match="line 6"):
        warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    assert mart_dump(dwh) == loaded_mart


def test_day_with_three_customers_fails_gate_two_and_leaves_mart(dwh, files, loaded_mart):
    path = write_file(files / "three.csv", GOOD[:3])
    with pytest.raises(warehouse.CheckFailed, match="distinct customers: 3"):
        warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    assert mart_dump(dwh) == loaded_mart
    assert fetch(dwh, "select status from staging.load_log order by load_id desc limit 1") == [("failed",)]


def test_too_many_rejected_rows_fail_the_load(dwh, files, loaded_mart):
    path = write_file(files / "rejects.csv", GOOD, raw_rows=[good_row(quantity="x")])
    with pytest.raises(warehouse.CheckFailed, match="rejected rows: 1 of 5"):
        warehouse.load_file(path, delivery_date=date(2024, 3, 5))
    assert mart_dump(dwh) == loaded_mart
