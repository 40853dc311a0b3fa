"""Replay property (hypothesis): 30 days of sandbox files loaded in any order, with re-runs,
re-deliveries with changed rows, loads stopped by a gate and full reports interleaved. Whatever
the sequence, the final mart equals the mart of the eligible deliveries (each day's last
successful increment and every successful report) loaded once, in date order, into a fresh
warehouse; and its revenue reconciles with those raw files, to the cent, by a plain Python
computation (tests/reference.py)."""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orders import mart_dump_at
from reference import final_rows

from sales_mart import warehouse
from sales_mart.sandbox import data

FIRST = date(2024, 3, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(30)]
SEED, ROWS = 5, 40
# Variants of one day's increment: what is loaded, and whether it must land.
VARIANTS = {"normal": True, "changed": True, "few_customers": False, "another_day": False}


class Files:
    """Sandbox files, written once per test session and reused by every example."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.made: dict[tuple, Path] = {}

    def increment(self, day: date, variant: str) -> Path:
        key = ("inc", day, variant)
        if key not in self.made:
            path = self.folder / f"inc_{day}_{variant}.csv"
            if variant == "changed":
                changed_redelivery(self.increment(day, "normal"), path, day)
            elif variant == "another_day":  # the file of the day before, given this day's date
                path = self.increment(day - timedelta(days=1), "normal")
            else:
                data.write_increment(path, day, seed=SEED, rows_per_day=ROWS, variant=variant)
            self.made[key] = path
        return self.made[key]

    def report(self, end: date) -> Path:
        key = ("report", end)
        if key not in self.made:
            path = self.folder / f"report_{end}.csv"
            data.write_history(path, end_date=end, seed=SEED, rows_per_day=ROWS)
            self.made[key] = path
        return self.made[key]


def changed_redelivery(original: Path, path: Path, day: date) -> None:
    """The day delivered again with changes: some lines gone, some quantities changed, some
    orders now refunded (every copy of a uniq_id changed alike, as a real re-delivery)."""
    with open(original, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(f"changed:{day}")
    uniq = sorted({r["uniq_id"] for r in rows})
    share = max(1, len(uniq) // 5)
    dropped = set(rng.sample(uniq, share))
    requantified = set(rng.sample(uniq, share))
    refunded = set(rng.sample(uniq, share))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        out.writeheader()
        for row in rows:
            if row["uniq_id"] in dropped:
                continue
            if row["uniq_id"] in requantified:
                price = Decimal(row["payment_amount"]) / int(row["quantity"])
                quantity = int(row["quantity"]) % 5 + 1
                row["quantity"], row["payment_amount"] = str(quantity), f"{price * quantity:.2f}"
            if row["uniq_id"] in refunded:
                row["status"] = "refunded"
            out.writerow(row)


@pytest.fixture(scope="module")
def sandbox_files(tmp_path_factory) -> Files:
    return Files(tmp_path_factory.mktemp("replay-files"))


@st.composite
def replays(draw):
    """A sequence of loads over a few of the 30 days (so re-runs and re-deliveries of the same
    day are frequent): increments in any variant, and full reports ending on one of them."""
    days = draw(st.lists(st.sampled_from(DAYS), min_size=2, max_size=6, unique=True))
    step = st.one_of(
        st.tuples(st.just("increment"), st.sampled_from(days), st.sampled_from(list(VARIANTS))),
        st.tuples(st.just("report"), st.sampled_from(days), st.none()),
    )
    return draw(st.lists(step, min_size=4, max_size=16))


def replay(sequence, files: Files, url: str, after_each=lambda: None) -> list[tuple]:
    """Loads the sequence (a gated variant must fail its gate), calling after_each after every
    load; returns the eligible deliveries: every successful report once, in the order they
    came, then each day's last successful increment, in date order."""
    last_increment: dict[date, Path] = {}
    reports: list[Path] = []
    for kind, day, variant in sequence:
        if kind == "report":
            path = files.report(day)
            warehouse.load_file(path, history=True, url=url)
            reports.append(path)
        else:
            path = files.increment(day, variant)
            if VARIANTS[variant]:
                warehouse.load_file(path, delivery_date=day, url=url)
                last_increment[day] = path
            else:
                with pytest.raises(warehouse.CheckFailed):
                    warehouse.load_file(path, delivery_date=day, url=url)
        after_each()
    return [(p, None) for p in dict.fromkeys(reports)] + sorted(
        ((p, d) for d, p in last_increment.items()), key=lambda pd: pd[1])



def net_of(url: str) -> tuple[int, Decimal]:
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select count(*), coalesce(sum(payment_amount), 0) from mart.f_sales")
            return cur.fetchone()
    finally:
        conn.close()


@settings(max_examples=10, deadline=None, derandomize=True, print_blob=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequence=replays())
def test_any_replay_gives_the_mart_of_the_eligible_deliveries(sequence, sandbox_files,
                                                              fresh_warehouse):
    url = fresh_warehouse()
    eligible = replay(sequence, sandbox_files, url)
    reference = fresh_warehouse()
    for path, day in eligible:
        warehouse.load_file(path, delivery_date=day, history=day is None, url=reference)
    assert mart_dump_at(url) == mart_dump_at(reference)

    rows = final_rows(eligible)
    net = sum((Decimal(r["payment_amount"]) * (-1 if r["status"] == "refunded" else 1)
               for r in rows.values()), Decimal("0.00"))
    assert net_of(url) == (len(rows), net)
