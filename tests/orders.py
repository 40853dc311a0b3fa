"""Small order files for warehouse tests, written exactly like the API's CSVs (SPEC §3), and
helpers to read the mart back."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

COLUMNS = [
    "id", "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name",
    "last_name", "item_id", "item_name", "quantity", "payment_amount", "status",
]
CITIES = {1: "Москва", 2: "Казань", 3: "Самара"}
ITEMS = {1: ("Чай", Decimal("100.00")), 2: ("Кофе", Decimal("150.50")), 3: ("Торт", Decimal("420.00"))}
NAMES = {10: ("Иван", "Петров"), 11: ("Анна", "Смирнова"), 12: ("Олег", "Иванов"),
         13: ("Пётр", "Сидоров"), 14: ("Мария", "Кузнецова"), 15: ("Юлия", "Орлова")}


@dataclass(frozen=True)
class Order:
    uniq: int  # becomes a 32-hex uniq_id
    day: str  # YYYY-MM-DD
    customer: int
    item: int = 1
    city: int = 1
    quantity: int = 1
    status: str = "shipped"
    first_name: str | None = None

    @property
    def uniq_id(self) -> str:
        return f"{self.uniq:032x}"

    @property
    def amount(self) -> Decimal:
        return self.quantity * ITEMS[self.item][1]

    def row(self) -> dict:
        first, last = NAMES[self.customer]
        return {
            "uniq_id": self.uniq_id,
            "date_time": f"{self.day}T00:00:00",
            "city_id": self.city,
            "city_name": CITIES[self.city],
            "customer_id": self.customer,
            "first_name": self.first_name or first,
            "last_name": last,
            "item_id": self.item,
            "item_name": ITEMS[self.item][0],
            "quantity": self.quantity,
            "payment_amount": f"{self.amount:.1f}" if self.amount == self.amount.to_integral()
            else str(self.amount),
            "status": self.status,
        }


def write_file(path: Path, orders, *, with_status: bool = True, raw_rows=(), columns=None) -> Path:
    """Writes orders (each Order, or a dict of raw values) as a user_order_log CSV."""
    columns = columns or [c for c in COLUMNS if with_status or c != "status"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(columns)
        for n, item in enumerate([*orders, *raw_rows], start=1):
            row = item.row() if isinstance(item, Order) else dict(item)
            row["id"] = n
            out.writerow([row.get(c, "") for c in columns])
    return path


def fetch(conn, query: str, params=None) -> list[tuple]:
    with conn.cursor() as cur:
        cur.execute(query, params)
        return cur.fetchall()


MART_RELATIONS = (
    "mart.d_city", "mart.d_item", "mart.d_customer", "mart.f_sales",
    "mart.customer_retention", "mart.customer_retention_by_city",
)


def mart_dump_at(url: str) -> dict[str, list[str]]:
    """mart_dump of the warehouse at a URL."""
    import psycopg2

    conn = psycopg2.connect(url)
    try:
        return mart_dump(conn)
    finally:
        conn.close()


def mart_dump(conn) -> dict[str, list[str]]:
    """Every mart table and view as ordered text rows: equal dumps mean an identical mart."""
    return {
        name: [r[0] for r in fetch(conn, f"select t::text from {name} as t order by 1")]
        for name in MART_RELATIONS
    }


RETENTION_COLUMNS = (
    "period_id, week_start::text, item_id, item_name, new_customers_count, "
    "returning_customers_count, refunded_customer_count, new_customers_revenue, "
    "returning_customers_revenue, customers_refunded, orders_count, refunded_amount, net_revenue"
)
