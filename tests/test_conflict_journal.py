"""The journal of a load's lines (SPEC §5, README "Deliveries and re-runs"): every line read is
one of loaded, duplicate, conflicting or rejected, each listed with its own line number — also
when a losing or a bad line appears several times; and a full report's rows of one uniq_id on
two different days are two deliveries, not a conflict, and the later one reaches the mart. Counts worked out by hand per line."""

from __future__ import annotations

from datetime import date

from orders import Order, fetch, mart_dump, mart_dump_at, write_file

from sales_mart import warehouse

D = date(2024, 3, 5)
GOOD = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]  # lines 2-5


def counts(summary) -> tuple:
    return (summary.rows_read, summary.rows_loaded, summary.rows_duplicate,
            summary.rows_conflicting, summary.rows_rejected)


def test_a_repeated_losing_line_is_a_conflict_on_each_of_its_lines(dwh, files):
    lines = [
        *GOOD,  # line 2: order 10, quantity 1
        Order(10, "2024-03-05", customer=10, quantity=3),  # line 6
        Order(10, "2024-03-05", customer=10, quantity=3),  # line 7: the same as line 6
        Order(10, "2024-03-05", customer=10, quantity=2),  # line 8
        Order(10, "2024-03-05", customer=10, quantity=2),  # line 9: the same; the last wins
    ]

    summary = warehouse.load_file(write_file(files / "d.csv", lines), delivery_date=D)

    # lines 2, 6, 7 conflict with line 9; line 8 is a plain duplicate of it
    assert counts(summary) == (8, 4, 1, 3, 0)
    assert fetch(dwh, "select line_no, winning_line_no, uniq_id, delivery_date, "
                      "raw_row->>'quantity' from staging.user_order_log_conflicts "
                      "order by line_no") == [
        (2, 9, GOOD[0].uniq_id, D, "1"), (6, 9, GOOD[0].uniq_id, D, "3"),
        (7, 9, GOOD[0].uniq_id, D, "3")]
    assert fetch(dwh, "select quantity from mart.f_sales where uniq_id = %s",
                 (GOOD[0].uniq_id,)) == [(2,)]


def test_a_repeated_bad_line_is_rejected_on_each_of_its_lines(dwh, files):
    bad = Order(50, "2024-03-05", customer=10).row() | {"quantity": "x"}

    summary = warehouse.load_file(write_file(files / "d.csv", GOOD, raw_rows=[bad, bad]),
                                  delivery_date=D, max_reject_share=0.5)

    assert counts(summary) == (6, 4, 0, 0, 2)
    assert fetch(dwh, "select line_no, column_name, bad_value, reason, raw_row->>'uniq_id' "
                      "from staging.user_order_log_rejects order by line_no") == [
        (6, "quantity", "x", "quantity is not a whole number", bad["uniq_id"]),
        (7, "quantity", "x", "quantity is not a whole number", bad["uniq_id"])]


# Order 1 is shipped on the 4th and refunded on the 5th: in a full report, whose rows count as
# delivered on their own order day, these are two deliveries of order 1, not a conflict.
TWO_DAYS = [
    Order(1, "2024-03-04", customer=10),
    *[Order(n, "2024-03-04", customer=9 + n) for n in (2, 3, 4)],
    Order(1, "2024-03-05", customer=10, status="refunded"),
    *[Order(n + 3, "2024-03-05", customer=9 + n) for n in (2, 3, 4)],
]


def test_a_report_holding_an_order_on_two_days_stages_both_rows_without_a_conflict(dwh, files):
    conn = warehouse.connect(role="sales_loader")
    try:
        load_id = warehouse.copy_file(conn, write_file(files / "report.csv", TWO_DAYS),
                                      source="history", delivery_date=None)
        summary = warehouse.ingest(conn, load_id)
    finally:
        conn.close()

    assert counts(summary) == (8, 8, 0, 0, 0)
    assert fetch(dwh, "select delivery_date::text, status from staging.user_order_log "
                      "where uniq_id = %s order by 1", (TWO_DAYS[0].uniq_id,)) == [
        ("2024-03-04", "shipped"), ("2024-03-05", "refunded")]
    assert fetch(dwh, "select count(*) from staging.user_order_log_conflicts") == [(0,)]


def test_a_report_holding_an_order_on_two_days_publishes_its_latest_row(dwh, files,
                                                                      fresh_warehouse):
    """The mart keeps the latest-dated row (the refund of the 5th); when another report
    re-delivers the 5th without order 1, the 4th's row is the one left."""
    report = write_file(files / "report.csv", TWO_DAYS)
    warehouse.load_file(report, history=True)
    fact = ("select status, date_time::date::text, delivery_date::text from mart.f_sales "
            "where uniq_id = %s")
    assert fetch(dwh, fact, (TWO_DAYS[0].uniq_id,)) == [("refunded", "2024-03-05", "2024-03-05")]

    report_5th = write_file(files / "report-5th.csv", [*TWO_DAYS[5:],
                                                       Order(8, "2024-03-05", customer=14)])
    warehouse.load_file(report_5th, history=True)

    assert fetch(dwh, fact, (TWO_DAYS[0].uniq_id,)) == [("shipped", "2024-03-04", "2024-03-04")]
    url = fresh_warehouse()
    for path in (report, report_5th):
        warehouse.load_file(path, history=True, url=url)
    assert mart_dump(dwh) == mart_dump_at(url)
