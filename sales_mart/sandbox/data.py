"""Deterministic generator of ``user_order_log`` files shaped like the real service (SPEC §3).

Public functions (what the DAG tests, the demo, ``sales-mart api export`` and the server call):

- ``write_increment(path, date, *, seed=DEFAULT_SEED, rows_per_day=DEFAULT_ROWS_PER_DAY,
  old_format=False, variant="normal") -> FileSummary`` — one day's increment file.
- ``write_history(path, *, seed=DEFAULT_SEED, end_date, days=HISTORY_DAYS,
  rows_per_day=DEFAULT_ROWS_PER_DAY, variant="normal") -> FileSummary`` — the full report: the
  ``days`` calendar days ending on ``end_date`` inclusive, always in the old format.
- ``iter_increment_lines`` / ``iter_history_lines`` — the same content as an iterator of lines.
- ``history_end_for(first_increment_date)`` — the last history day that precedes an increment
  window (the day before its first day), so history and increments line up.

How the data stays consistent across files:

- A day's order lines depend only on ``(seed, date, rows_per_day)``: the history's rows of day D
  and an increment for D hold the same ``uniq_id`` values with the same contents (old-format
  files simply leave out the refund lines, as they have no ``status`` column).
- The customer population depends only on ``(seed, rows_per_day)``; a customer's names and home
  city are a pure function of its id, so nothing about the population is held in memory.
- A ``uniq_id`` is one order line; ``payment_amount = quantity × the item's fixed price``;
  refunds are lines with ``status = refunded`` and a positive amount.
- About 77 % of rows repeat an earlier row of the same block (same ``uniq_id``, identical apart
  from ``id``). Rows are produced in blocks of ~1,000 so memory stays flat for any volume.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SEED = 42
DEFAULT_ROWS_PER_DAY = 1000
HISTORY_DAYS = 23

HEADER_NEW = (
    "id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,"
    "item_id,item_name,quantity,payment_amount,status"
)
HEADER_OLD = HEADER_NEW.rsplit(",", 1)[0]
COLUMNS_NEW = tuple(HEADER_NEW.split(","))
COLUMNS_OLD = tuple(HEADER_OLD.split(","))

CITIES = {1: "Москва", 2: "Санкт-Петербург", 3: "Казань"}

# item_id -> (name, unit price in kopecks); prices are fixed for the whole history.
ITEMS = {
    1: ("Чай чёрный", 14900),
    2: ("Кофе молотый", 45900),
    3: ("Сахар", 8900),
    4: ("Мёд липовый", 52000),
    5: ("Печенье овсяное", 11950),
    6: ("Шоколад горький", 18900),
    7: ("Варенье вишнёвое", 32500),
    8: ("Пряники тульские", 24000),
    9: ("Сушки", 7500),
    10: ("Зефир", 21900),
    11: ("Халва", 16500),
    12: ("Пастила", 29900),
}

MALE_FIRST = ("Александр", "Дмитрий", "Иван", "Сергей", "Андрей", "Михаил", "Алексей",
              "Николай", "Павел", "Егор", "Артём", "Максим", "Владимир", "Олег")
FEMALE_FIRST = ("Мария", "Анна", "Ольга", "Елена", "Наталья", "Татьяна", "Ирина",
                "Светлана", "Екатерина", "Дарья", "Юлия", "Ксения", "Полина", "Вера")
# (male form, female form)
LAST_NAMES = (("Иванов", "Иванова"), ("Смирнов", "Смирнова"), ("Кузнецов", "Кузнецова"),
              ("Попов", "Попова"), ("Соколов", "Соколова"), ("Лебедев", "Лебедева"),
              ("Козлов", "Козлова"), ("Новиков", "Новикова"), ("Морозов", "Морозова"),
              ("Петров", "Петрова"), ("Волков", "Волкова"), ("Соловьёв", "Соловьёва"),
              ("Васильев", "Васильева"), ("Зайцев", "Зайцева"), ("Павлов", "Павлова"),
              ("Семёнов", "Семёнова"), ("Голубев", "Голубева"), ("Виноградов", "Виноградова"))

DUPLICATE_SHARE = 0.77  # share of rows that repeat an earlier row
REFUND_SHARE = 0.03  # share of order lines that are refunds
HOME_CITY_SHARE = 0.4  # an order is in the customer's home city this often, else any city
REGULAR_SHARE = 0.2  # the first 20 % of customer ids are regulars ...
REGULAR_PICK = 0.3  # ... who place 30 % of the orders
CUSTOMERS_PER_DAILY_ORDER = 5  # population = 5 × order lines per day: most buy weekly or less
VOLUME_JITTER = 0.15  # a day's row count varies ±15 % around rows_per_day
BLOCK_ROWS = 1000  # duplicates are drawn within blocks of this size: bounded memory
MALFORMED_ROWS = 5  # rows corrupted in a "malformed" file

VARIANTS = ("normal", "malformed", "empty", "zero_bytes", "few_customers")


@dataclass(frozen=True)
class FileSummary:
    """What was written: counts are of data rows (header excluded)."""

    path: Path
    rows: int
    order_lines: int  # distinct uniq_id
    refund_lines: int  # distinct uniq_id with status refunded
    bytes: int
    sha256: str
    first_date: dt.date
    last_date: dt.date
    old_format: bool
    variant: str


def as_date(value: dt.date | dt.datetime | str) -> dt.date:
    """Accept a date, a datetime or ``YYYY-MM-DD[T| ]HH:MM:SS`` / ``YYYY-MM-DD``."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


def history_end_for(first_increment_date: dt.date | str) -> dt.date:
    """The last day of the full report that precedes an increment window starting on that day."""
    return as_date(first_increment_date) - dt.timedelta(days=1)


def population_size(rows_per_day: int) -> int:
    order_lines = max(1, round(rows_per_day * (1 - DUPLICATE_SHARE)))
    return max(12, order_lines * CUSTOMERS_PER_DAILY_ORDER)


def _mix(*parts: int) -> int:
    """A cheap, stable 64-bit hash of integers (Python's hash() is salted per process)."""
    h = 0xCBF29CE484222325
    for part in parts:
        h ^= part & 0xFFFFFFFFFFFFFFFF
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        h ^= h >> 29
    return h


@dataclass
class _Counts:
    order_lines: int = 0
    refund_lines: int = 0


class _Customers:
    """The customer population of a seed: attributes are computed from the id, never stored."""

    def __init__(self, seed: int, rows_per_day: int) -> None:
        self.seed_key = _mix(seed, 0x5EED)
        self.size = population_size(rows_per_day)
        self.regulars = max(1, int(self.size * REGULAR_SHARE))

    def pick(self, rng: random.Random) -> int:
        if rng.random() < REGULAR_PICK:
            return 1 + rng.randrange(self.regulars)
        return 1 + rng.randrange(self.size)

    def names(self, customer_id: int) -> tuple[str, str]:
        h = _mix(self.seed_key, customer_id)
        female = h & 1
        first_pool = FEMALE_FIRST if female else MALE_FIRST
        first = first_pool[(h >> 1) % len(first_pool)]
        last = LAST_NAMES[(h >> 9) % len(LAST_NAMES)][female]
        return first, last

    def home_city(self, customer_id: int) -> int:
        return 1 + (_mix(self.seed_key, customer_id, 3) >> 17) % len(CITIES)


def _day_row_count(rng: random.Random, rows_per_day: int) -> int:
    factor = 1 + VOLUME_JITTER * (2 * rng.random() - 1)
    return max(1, round(rows_per_day * factor))


def _corrupt(fields: list[str], kind: int) -> list[str]:
    """One malformed row: the kinds a loader must reject, each keeping the row's uniq_id."""
    fields = list(fields)
    if kind == 0:  # quantity is not a number
        fields[10] = "два"
    elif kind == 1:  # impossible date
        fields[2] = fields[2][:5] + "13-45T00:00:00"
    elif kind == 2:  # a field is missing
        del fields[7]
    elif kind == 3:  # customer id missing
        fields[5] = ""
    else:  # payment_amount is not a number
        fields[11] = "n/a"
    return fields


def _day_lines(
    day: dt.date, *, seed: int, rows_per_day: int, old_format: bool, variant: str,
    customers: _Customers, first_id: int, counts: _Counts,
) -> Iterator[list[str]]:
    """Yield the fields of one day's rows, ids numbered from ``first_id``.

    The random draws do not depend on ``old_format``: the old format only drops refund lines.
    """
    rng = random.Random(f"sales-mart:{seed}:{day.isoformat()}")
    total_rows = _day_row_count(rng, rows_per_day)
    date_time = f"{day.isoformat()}T00:00:00"
    few = [customers.pick(rng) for _ in range(3)] if variant == "few_customers" else None

    n_blocks = max(1, total_rows // BLOCK_ROWS)
    order_share = 1 - DUPLICATE_SHARE
    row_id = first_id
    malformed_every = max(1, total_rows // MALFORMED_ROWS)
    rows_emitted_today = 0
    for block in range(n_blocks):
        start = block * total_rows // n_blocks
        end = (block + 1) * total_rows // n_blocks
        lines_before = round(start * order_share)
        n_lines = max(1, round(end * order_share) - lines_before)
        n_rows = max(n_lines, end - start)
        lines: list[list[str] | None] = []
        for _ in range(n_lines):
            uniq_id = f"{rng.getrandbits(128):032x}"
            customer_id = few[rng.randrange(3)] if few else customers.pick(rng)
            if rng.random() < HOME_CITY_SHARE:
                city_id = customers.home_city(customer_id)
            else:
                city_id = 1 + rng.randrange(len(CITIES))
            item_id = 1 + rng.randrange(len(ITEMS))
            quantity = 1 + rng.randrange(5)
            refunded = rng.random() < REFUND_SHARE
            if refunded and old_format:
                lines.append(None)  # old-format files carry no refunds
                continue
            item_name, price = ITEMS[item_id]
            amount = quantity * price
            first_name, last_name = customers.names(customer_id)
            fields = [uniq_id, date_time, str(city_id), CITIES[city_id], str(customer_id),
                      first_name, last_name, str(item_id), item_name, str(quantity),
                      f"{amount // 100}.{amount % 100:02d}"]
            if not old_format:
                fields.append("refunded" if refunded else "shipped")
            lines.append(fields)
            counts.order_lines += 1
            counts.refund_lines += refunded
        # every order line appears once, the rest of the block repeats random earlier lines
        order = list(range(n_lines)) + [rng.randrange(n_lines) for _ in range(n_rows - n_lines)]
        rng.shuffle(order)
        for index in order:
            fields = lines[index]
            if fields is None:
                continue
            out = [str(row_id), *fields]
            rows_emitted_today += 1
            if variant == "malformed" and rows_emitted_today % malformed_every == 0:
                out = _corrupt(out, (rows_emitted_today // malformed_every) % 5)
            yield out
            row_id += 1


def iter_increment_lines(
    date: dt.date | str, *, seed: int = DEFAULT_SEED, rows_per_day: int = DEFAULT_ROWS_PER_DAY,
    old_format: bool = False, variant: str = "normal",
) -> Iterator[str]:
    """Lines (with ``\\n``) of one day's ``user_order_log_inc`` file, header first."""
    yield from _iter_file([as_date(date)], seed=seed, rows_per_day=rows_per_day,
                          old_format=old_format, variant=variant)


def iter_history_lines(
    *, end_date: dt.date | str, seed: int = DEFAULT_SEED, days: int = HISTORY_DAYS,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY, variant: str = "normal",
) -> Iterator[str]:
    """Lines of the full report ``user_order_log``: ``days`` days ending on ``end_date``."""
    last = as_date(end_date)
    dates = [last - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    yield from _iter_file(dates, seed=seed, rows_per_day=rows_per_day, old_format=True,
                          variant=variant)


def _iter_file(
    dates: list[dt.date], *, seed: int, rows_per_day: int, old_format: bool, variant: str,
    counts: _Counts | None = None,
) -> Iterator[str]:
    counts = counts if counts is not None else _Counts()
    if variant not in VARIANTS:
        raise ValueError(f"unknown file variant {variant!r}; expected one of {VARIANTS}")
    if variant == "zero_bytes":
        return
    yield (HEADER_OLD if old_format else HEADER_NEW) + "\n"
    if variant == "empty":
        return
    customers = _Customers(seed, rows_per_day)
    next_id = 1
    for day in dates:
        for fields in _day_lines(day, seed=seed, rows_per_day=rows_per_day,
                                 old_format=old_format, variant=variant,
                                 customers=customers, first_id=next_id, counts=counts):
            next_id += 1
            yield ",".join(fields) + "\n"


def _write(path: str | os.PathLike[str], lines: Iterator[str], *, dates: list[dt.date],
           old_format: bool, variant: str, counts: _Counts) -> FileSummary:
    """Write lines to ``path`` through a temporary file renamed into place; count as we go."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    size = rows = 0
    try:
        with open(tmp, "wb") as out:
            buffer: list[bytes] = []
            for number, line in enumerate(lines):
                data = line.encode("utf-8")
                digest.update(data)
                size += len(data)
                buffer.append(data)
                rows += number > 0
                if len(buffer) >= 4096:
                    out.write(b"".join(buffer))
                    buffer.clear()
            out.write(b"".join(buffer))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FileSummary(path=path, rows=rows, order_lines=counts.order_lines,
                       refund_lines=counts.refund_lines,
                       bytes=size, sha256=digest.hexdigest(), first_date=dates[0],
                       last_date=dates[-1], old_format=old_format, variant=variant)


def write_increment(
    path: str | os.PathLike[str], date: dt.date | str, *, seed: int = DEFAULT_SEED,
    rows_per_day: int = DEFAULT_ROWS_PER_DAY, old_format: bool = False,
    variant: str = "normal",
) -> FileSummary:
    """Write one day's increment file ``user_order_log_inc``; return a :class:`FileSummary`.

    ``write_increment(path, date, *, seed=42, rows_per_day=1000, old_format=False,
    variant="normal")``. ``old_format`` drops the ``status`` column and the refund lines (the
    real service's first increment of a window looks like that). ``variant`` is one of
    ``normal``, ``malformed`` (a few corrupted rows), ``empty`` (header only), ``zero_bytes``,
    ``few_customers`` (every row from 3 customers). Same arguments give byte-identical files.
    """
    day = as_date(date)
    counts = _Counts()
    lines = _iter_file([day], seed=seed, rows_per_day=rows_per_day, old_format=old_format,
                       variant=variant, counts=counts)
    return _write(path, lines, dates=[day], old_format=old_format, variant=variant,
                  counts=counts)


def write_history(
    path: str | os.PathLike[str], *, end_date: dt.date | str, seed: int = DEFAULT_SEED,
    days: int = HISTORY_DAYS, rows_per_day: int = DEFAULT_ROWS_PER_DAY,
    variant: str = "normal",
) -> FileSummary:
    """Write the full report ``user_order_log`` (old format); return a :class:`FileSummary`.

    ``write_history(path, *, end_date, seed=42, days=23, rows_per_day=1000, variant="normal")``
    covers the ``days`` calendar days ending on ``end_date`` inclusive. To match an increment
    window starting on day S, pass ``end_date=history_end_for(S)`` (S − 1).
    """
    last = as_date(end_date)
    dates = [last - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    counts = _Counts()
    lines = _iter_file(dates, seed=seed, rows_per_day=rows_per_day, old_format=True,
                       variant=variant, counts=counts)
    return _write(path, lines, dates=dates, old_format=True, variant=variant, counts=counts)
