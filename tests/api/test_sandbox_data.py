"""The generated files: deterministic, and shaped like the real service's (SPEC §3). Every
expected number is computed here from the file, not taken from the generator."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import re
import tracemalloc

import pytest
from api_testkit import HEADER, HEADER_OLD

from sales_mart.sandbox import data

DAY = dt.date(2024, 5, 14)
HISTORY_END = dt.date(2024, 5, 12)
CYRILLIC = re.compile(r"^[А-ЯЁа-яё -]+$")


def read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def increment(tmp_path_factory):
    path = tmp_path_factory.mktemp("inc") / "inc.csv"
    data.write_increment(path, DAY, seed=5, rows_per_day=3000)
    return read(path)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("hist") / "history.csv"
    summary = data.write_history(path, end_date=HISTORY_END, seed=5, rows_per_day=1000)
    return summary, *read(path)


def first_rows(rows):
    """One row per uniq_id: the order lines."""
    lines = {}
    for row in rows:
        lines.setdefault(row["uniq_id"], row)
    return lines


def test_same_seed_gives_byte_identical_files(tmp_path):
    a = data.write_increment(tmp_path / "a.csv", DAY, seed=9, rows_per_day=500)
    b = data.write_increment(tmp_path / "b.csv", DAY, seed=9, rows_per_day=500)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert a.sha256 == b.sha256
    h1 = data.write_history(tmp_path / "h1.csv", end_date=HISTORY_END, seed=9, rows_per_day=100)
    h2 = data.write_history(tmp_path / "h2.csv", end_date=HISTORY_END, seed=9, rows_per_day=100)
    assert (tmp_path / "h1.csv").read_bytes() == (tmp_path / "h2.csv").read_bytes()
    assert h1.sha256 == h2.sha256


def test_different_dates_and_seeds_give_different_orders(tmp_path):
    data.write_increment(tmp_path / "d1.csv", DAY, seed=9, rows_per_day=500)
    data.write_increment(tmp_path / "d2.csv", DAY + dt.timedelta(days=1), seed=9,
                         rows_per_day=500)
    data.write_increment(tmp_path / "s2.csv", DAY, seed=10, rows_per_day=500)
    ids = {name: set(first_rows(read(tmp_path / name)[1])) for name in
           ("d1.csv", "d2.csv", "s2.csv")}
    assert not ids["d1.csv"] & ids["d2.csv"]
    assert not ids["d1.csv"] & ids["s2.csv"]


def test_increment_shape(increment):
    header, rows = increment
    assert header == HEADER
    assert 3000 * 0.85 <= len(rows) <= 3000 * 1.15
    assert [int(r["id"]) for r in rows] == list(range(1, len(rows) + 1))
    lines = first_rows(rows)

    # ~77 % of rows repeat an earlier row, identical apart from id
    duplicate_share = 1 - len(lines) / len(rows)
    assert 0.74 <= duplicate_share <= 0.80
    for row in rows:
        first = lines[row["uniq_id"]]
        assert {k: v for k, v in row.items() if k != "id"} == \
            {k: v for k, v in first.items() if k != "id"}

    assert all(re.fullmatch(r"[0-9a-f]{32}", uid) for uid in lines)
    assert {r["date_time"] for r in rows} == {f"{DAY}T00:00:00"}
    assert {r["status"] for r in rows} == {"shipped", "refunded"}

    # a few % of order lines are refunds, with positive amounts
    refunds = [r for r in lines.values() if r["status"] == "refunded"]
    assert 0.01 <= len(refunds) / len(lines) <= 0.06
    assert all(float(r["payment_amount"]) > 0 for r in refunds)

    # 3 cities, 12 items each with one unit price, quantity 1-5, amount = quantity × price
    cities = {(r["city_id"], r["city_name"]) for r in rows}
    assert len(cities) == 3 and len({c for c, _ in cities}) == 3
    unit_prices = collections.defaultdict(set)
    for r in lines.values():
        quantity = int(r["quantity"])
        assert 1 <= quantity <= 5
        cents = round(float(r["payment_amount"]) * 100)
        assert cents % quantity == 0
        unit_prices[(r["item_id"], r["item_name"])].add(cents // quantity)
    assert len(unit_prices) == 12
    assert all(len(prices) == 1 for prices in unit_prices.values())
    assert {q for q in (int(r["quantity"]) for r in lines.values())} == {1, 2, 3, 4, 5}

    for r in lines.values():
        assert CYRILLIC.match(r["first_name"]) and CYRILLIC.match(r["last_name"])
        assert CYRILLIC.match(r["city_name"]) and CYRILLIC.match(r["item_name"])


def test_old_format_drops_status_and_refunds_but_keeps_the_orders(tmp_path, increment):
    _, new_rows = increment
    data.write_increment(tmp_path / "old.csv", DAY, seed=5, rows_per_day=3000, old_format=True)
    header, old_rows = read(tmp_path / "old.csv")
    assert header == HEADER_OLD
    shipped = {uid: {k: v for k, v in r.items() if k not in ("id", "status")}
               for uid, r in first_rows(new_rows).items() if r["status"] == "shipped"}
    old = {uid: {k: v for k, v in r.items() if k != "id"}
           for uid, r in first_rows(old_rows).items()}
    assert old == shipped


def test_history_covers_23_days_in_the_old_format(history):
    summary, header, rows = history
    assert header == HEADER_OLD
    days = sorted({dt.date.fromisoformat(r["date_time"][:10]) for r in rows})
    assert days[0] == HISTORY_END - dt.timedelta(days=22) and days[-1] == HISTORY_END
    assert len(days) == 23
    assert 23 * 1000 * 0.9 <= len(rows) <= 23 * 1000 * 1.1  # "about 22,500 rows"
    assert summary.rows == len(rows) and summary.order_lines == len(first_rows(rows))
    assert data.history_end_for(HISTORY_END + dt.timedelta(days=1)) == HISTORY_END


def test_history_day_equals_that_days_old_format_increment(tmp_path, history):
    _, _, rows = history
    day = HISTORY_END - dt.timedelta(days=3)
    data.write_increment(tmp_path / "day.csv", day, seed=5, rows_per_day=1000, old_format=True)
    _, inc_rows = read(tmp_path / "day.csv")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "id"} for r in rs]  # noqa: E731
    assert strip(inc_rows) == strip(r for r in rows if r["date_time"].startswith(str(day)))


def test_customers_buy_in_several_cities_and_return_within_a_week(history):
    _, _, rows = history
    lines = first_rows(rows).values()
    cities = collections.defaultdict(set)
    order_days = collections.defaultdict(list)
    for r in lines:
        cities[r["customer_id"]].add(r["city_id"])
        order_days[r["customer_id"]].append(dt.date.fromisoformat(r["date_time"][:10]))

    multi_city = sum(len(c) > 1 for c in cities.values()) / len(cities)
    assert multi_city > 0.5  # "most customers buy in more than one city"

    returned = sum(
        any((b - a).days <= 7 for a, b in zip(sorted(d), sorted(d)[1:], strict=False))
        for d in order_days.values())
    assert 0.3 <= returned / len(order_days) <= 0.95

    # per full ISO week, a realistic share of buyers are returning (>1 order that week)
    weekly = collections.defaultdict(collections.Counter)
    days_in_week = collections.defaultdict(set)
    for r in lines:
        day = dt.date.fromisoformat(r["date_time"][:10])
        weekly[day.isocalendar()[:2]][r["customer_id"]] += 1
        days_in_week[day.isocalendar()[:2]].add(day)
    full_weeks = [week for week, days in days_in_week.items() if len(days) == 7]
    assert len(full_weeks) >= 2
    for week in full_weeks:
        buyers = weekly[week]
        returning = sum(n > 1 for n in buyers.values()) / len(buyers)
        assert 0.2 <= returning <= 0.8


def test_file_variants(tmp_path):
    empty = data.write_increment(tmp_path / "e.csv", DAY, variant="empty")
    zero = data.write_increment(tmp_path / "z.csv", DAY, variant="zero_bytes")
    few = data.write_increment(tmp_path / "f.csv", DAY, rows_per_day=500, variant="few_customers")
    assert (tmp_path / "e.csv").read_text(encoding="utf-8") == ",".join(HEADER) + "\n"
    assert empty.rows == 0 and (zero.rows, zero.bytes) == (0, 0)
    _, rows = read(tmp_path / "f.csv")
    assert len({r["customer_id"] for r in rows}) <= 3 and few.rows == len(rows) > 0
    with pytest.raises(ValueError, match="unknown file variant"):
        data.write_increment(tmp_path / "x.csv", DAY, variant="nope")


def test_large_files_are_streamed_not_held_in_memory(tmp_path):
    tracemalloc.start()
    try:
        summary = data.write_increment(tmp_path / "big.csv", DAY, rows_per_day=60_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.bytes > 7_000_000
    assert peak < summary.bytes / 4  # a few blocks of rows, not the file
