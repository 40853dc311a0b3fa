"""A second, plain-Python computation of the mart's retention views (SPEC §5), written without
looking at the SQL: read the CSV files, keep each uniq_id's row from its latest-dated delivery,
classify customers per ISO week, aggregate per week × item (× city)."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path


def final_rows(deliveries: list[tuple[Path, date | None]]) -> dict[str, dict]:
    """deliveries: (file, day) for increments, (file, None) for a full report, where each row
    counts as delivered on its own order day. Latest day wins; an increment wins a tie."""
    best: dict[str, tuple[tuple, dict]] = {}
    for path, day in deliveries:
        with open(path, newline="", encoding="utf-8") as fh:
            for line, row in enumerate(csv.DictReader(fh), start=2):
                row.setdefault("status", "shipped")
                row["status"] = row["status"] or "shipped"
                when = datetime.fromisoformat(row["date_time"])
                rank = (day or when.date(), 2 if day else 1, when, line)
                if row["uniq_id"] not in best or rank > best[row["uniq_id"]][0]:
                    best[row["uniq_id"]] = (rank, row)
    return {uniq: row for uniq, (_, row) in best.items()}


def days_in_mart(rows: dict[str, dict]) -> dict[int, int]:
    """ISO week (year * 100 + week) -> how many of its days have at least one order line, over
    all items and cities."""
    days: dict[int, set[date]] = defaultdict(set)
    for r in rows.values():
        day = datetime.fromisoformat(r["date_time"]).date()
        iso = day.isocalendar()
        days[iso.year * 100 + iso.week].add(day)
    return {period: len(held) for period, held in days.items()}


def retention(rows: dict[str, dict], *, by_city: bool) -> list[tuple]:
    """Rows of the view in its column order, days_in_mart last."""
    week_days = days_in_mart(rows)
    orders = []
    for uniq, r in rows.items():
        day = datetime.fromisoformat(r["date_time"]).date()
        iso = day.isocalendar()
        orders.append({
            "uniq": uniq, "customer": int(r["customer_id"]), "item": int(r["item_id"]),
            "city": int(r["city_id"]), "status": r["status"],
            "amount": Decimal(r["payment_amount"]).quantize(Decimal("0.01")),
            "period": iso.year * 100 + iso.week, "monday": day - timedelta(days=day.weekday()),
        })
    shipped_per_customer_week: dict[tuple, int] = defaultdict(int)
    for o in orders:
        if o["status"] == "shipped":
            shipped_per_customer_week[o["customer"], o["period"]] += 1

    groups: dict[tuple, list[dict]] = defaultdict(list)
    for o in orders:
        key = (o["period"], o["monday"], o["item"]) + ((o["city"],) if by_city else ())
        groups[key].append(o)

    result = []
    for key, group in sorted(groups.items()):
        new, returning, refunded_customers = set(), set(), set()
        new_rev = returning_rev = refunded_amount = shipped_rev = Decimal("0.00")
        refunds = shipped = 0
        for o in group:
            if o["status"] == "refunded":
                refunds += 1
                refunded_amount += o["amount"]
                refunded_customers.add(o["customer"])
                continue
            shipped += 1
            shipped_rev += o["amount"]
            if shipped_per_customer_week[o["customer"], o["period"]] == 1:
                new.add(o["customer"])
                new_rev += o["amount"]
            else:
                returning.add(o["customer"])
                returning_rev += o["amount"]
        period, monday, item, *city = key
        result.append((
            period, monday, item, *city, len(new), len(returning), len(refunded_customers),
            new_rev, returning_rev, refunds, shipped, refunded_amount, shipped_rev - refunded_amount,
            week_days[period],
        ))
    return result
