"""Benchmark: 1M-row days end to end through `sales-mart load`, against a raw COPY of the same
file measured in the same run (the floor). Nothing is asserted: timings belong in reports.

    make bench          # both shapes, a 6-day history, a re-run, the 10M-fact point
    make bench-quick    # the same report at small sizes (under a minute), a smoke test
    .venv/bin/python -m bench.run --rows-per-day 200000 --days 2 --facts 0

Shapes of a day's file:
  sandbox  the sandbox API's files (sales_mart.sandbox.data): ~77 % duplicate lines
  returning  ~30 % duplicate lines (~70 % distinct orders) and a pool of returning customers
           (~20 % of the rows' count), each always with one name
Baselines measured in the same run: a raw COPY of the same file into an unindexed table (the
floor), and on day 1 of each shape the original project's pandas read_csv + to_sql (in a child
process). Each load is timed as a whole (wall clock, as `sales-mart load` runs it) and split by the load
journal (copy + ingest until ingested_at, then gates + publish until merged_at). The 10M-fact
point adds synthetic facts (one per uniq_id over past weeks) to a copy of the history mart and
times one more day's load and a full `CALL mart.refresh_retention()`. Peak RSS is this
process's, which runs every load (files stream through COPY).

Writes bench/results/<date>.json and, with --write-docs, the tables as bench/results/<date>.md,
which docs/BENCHMARKS.md quotes with their reading.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg2

from sales_mart import warehouse
from sales_mart.sandbox import data

REPO = Path(__file__).resolve().parent.parent
BENCH_DB = os.environ.get("BENCH_DB", "sales_mart_bench")
FIRST = date(2024, 4, 8)
COLUMNS = ["id", "uniq_id", "date_time", "city_id", "city_name", "customer_id", "first_name",
           "last_name", "item_id", "item_name", "quantity", "payment_amount", "status"]


def admin_url(base_url: str, name: str) -> str:
    return base_url.rsplit("/", 1)[0] + f"/{name}"


def fresh_database(base_url: str, name: str) -> str:
    url = admin_url(base_url, name)
    admin = psycopg2.connect(admin_url(base_url, "postgres"))
    admin.autocommit = True
    admin.cursor().execute(f"drop database if exists {name} with (force)")
    admin.close()
    warehouse.upgrade(url)
    return url


def drop_database(base_url: str, name: str) -> None:
    admin = psycopg2.connect(admin_url(base_url, "postgres"))
    admin.autocommit = True
    admin.cursor().execute(f"drop database if exists {name} with (force)")
    admin.close()


def write_returning_day(path: Path, day: date, rows: int, seed: int) -> dict:
    """~30 % duplicate lines, ~70 % distinct orders, returning customers with one name each."""
    rng = random.Random(f"{seed}:{day}")
    orders = int(rows * 0.7)
    customers = max(4, rows // 5)
    day_no = (day - FIRST).days
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(COLUMNS)
        written = 0
        for n in range(orders):
            customer = rng.randrange(customers) + 1
            item = rng.randrange(200) + 1
            city = rng.randrange(30) + 1
            quantity = rng.randrange(1, 6)
            status = "refunded" if rng.random() < 0.05 else "shipped"
            row = [0, f"{day_no:08x}{n:024x}", f"{day}T{rng.randrange(24):02d}:00:00", city,
                   f"City {city}", customer, f"First{customer}", f"Last{customer}", item,
                   f"Item {item}", quantity, f"{quantity * (item + 0.5):.2f}", status]
            copies = 2 if rng.random() < 0.43 else 1  # 0.7 * 1.43 ~ 1.0 lines per row
            for _ in range(copies):
                if written >= rows:
                    break
                written += 1
                row[0] = written
                out.writerow(row)
    return {"rows": written, "bytes": path.stat().st_size, "orders": orders}


def write_day(shape: str, folder: Path, day: date, rows: int, seed: int) -> tuple[Path, dict]:
    path = folder / f"{shape}_{day}.csv"
    if shape == "sandbox":
        s = data.write_increment(path, day, seed=seed, rows_per_day=rows)
        return path, {"rows": s.rows, "bytes": s.bytes, "orders": s.order_lines}
    return path, write_returning_day(path, day, rows, seed)


def raw_copy(url: str, path: Path) -> float:
    header = warehouse.read_header(path)
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("create temp table raw_copy ({})".format(", ".join(f"{c} text" for c in header)))
        start = time.perf_counter()
        with open(path, "rb") as fh:
            cur.copy_expert("copy raw_copy from stdin with (format csv, header true)", fh)
        elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


# The original project's approach, the second baseline: pandas reads the whole file, to_sql
# inserts it (no validation, no deduplication). In a child process, so that its memory is not
# counted in this process's peak RSS.
PANDAS_TO_SQL = """
import sys, time
import pandas as pd
import sqlalchemy
engine = sqlalchemy.create_engine(sys.argv[1].replace("postgresql://", "postgresql+psycopg2://"))
start = time.perf_counter()
pd.read_csv(sys.argv[2], dtype=str).to_sql(
    "pandas_baseline", engine, schema="public", if_exists="replace", index=False)
print(time.perf_counter() - start)
engine.dispose()
"""


def pandas_to_sql(url: str, path: Path) -> float:
    done = subprocess.run([sys.executable, "-c", PANDAS_TO_SQL, url, str(path)],
                          capture_output=True, text=True, check=True)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute("drop table if exists public.pandas_baseline")
    conn.close()
    return float(done.stdout.strip().splitlines()[-1])


def load(url: str, path: Path, day: date) -> dict:
    start = time.perf_counter()
    summary = warehouse.load_file(path, delivery_date=day, url=url, role="sales_loader")
    wall = time.perf_counter() - start
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("""
            select extract(epoch from ingested_at - started_at),
                   extract(epoch from merged_at - ingested_at),
                   (select count(*) from mart.f_sales)
            from staging.load_log where load_id = %s""", (summary.load_id,))
        copy_ingest, publish, facts = cur.fetchone()
    conn.close()
    return {"wall_s": round(wall, 3), "copy_ingest_s": round(float(copy_ingest), 3),
            "gates_publish_s": round(float(publish), 3), "facts_after": facts,
            "rows_loaded": summary.rows_loaded}


def add_synthetic_facts(url: str, target: int) -> int:
    """Fills the mart up to `target` facts with synthetic ones on the 52 weeks before the first
    day, in date order like daily loads (one customer, item and city per fact drawn from the
    existing dimensions)."""
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("select count(*) from mart.f_sales")
        have = cur.fetchone()[0]
        missing = max(0, target - have)
        cur.execute("""
            insert into mart.f_sales (uniq_id, date_id, date_time, customer_id, item_id, city_id,
                quantity, payment_amount, status, delivery_date, delivery_source)
            select 'synthetic' || lpad(n::text, 23, '0'),
                c.date_id, c.date_actual + time '12:00', cu.customer_id, it.item_id, ci.city_id,
                1, 10.00, 'shipped', c.date_actual, 'increment'
            from generate_series(1, %(missing)s) as n
            -- in date order, as daily loads lay facts out (the refresh reads a week by date)
            join mart.d_calendar as c
                on c.date_actual = %(first)s::date - 364 + ((n - 1)::bigint * 364 / %(missing)s)::integer
            join (select customer_id, row_number() over () - 1 as k from mart.d_customer) as cu
                on cu.k = n %% (select count(*) from mart.d_customer)
            join (select item_id, row_number() over () - 1 as k from mart.d_item) as it
                on it.k = n %% (select count(*) from mart.d_item)
            join (select city_id, row_number() over () - 1 as k from mart.d_city) as ci
                on ci.k = n %% (select count(*) from mart.d_city)
            order by n""",
                    {"missing": missing, "first": FIRST})
        cur.execute("call mart.refresh_retention()")
        cur.execute("select count(*) from mart.f_sales")
        total = cur.fetchone()[0]
    conn.close()
    conn = psycopg2.connect(url)
    conn.autocommit = True
    conn.cursor().execute("vacuum analyze mart.f_sales")
    conn.close()
    return total


def full_refresh(url: str) -> float:
    conn = warehouse.connect(url, role="sales_loader")
    with conn, conn.cursor() as cur:
        start = time.perf_counter()
        cur.execute("call mart.refresh_retention()")
        elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def ratio(seconds: float, base: float) -> float:
    return round(seconds / base, 2)


def run_shape(base_url: str, shape: str, args, folder: Path, report: dict) -> None:
    name = f"{BENCH_DB}_{shape}"
    url = fresh_database(base_url, name)
    results = []
    for n in range(args.days):
        day = FIRST + timedelta(days=n)
        path, info = write_day(shape, folder, day, args.rows_per_day, args.seed)
        copies = [raw_copy(url, path) for _ in range(args.copy_runs)]
        copy_s = statistics.median(copies)
        t = load(url, path, day)
        t.update(day=str(day), file_rows=info["rows"], file_mb=round(info["bytes"] / 1e6, 1),
                 distinct_orders=info["orders"], raw_copy_s=round(copy_s, 3),
                 ratio_vs_copy=ratio(t["wall_s"], copy_s))
        if n == 0 and args.pandas:
            pandas_s = pandas_to_sql(url, path)
            t.update(pandas_to_sql_s=round(pandas_s, 3),
                     pandas_vs_copy=ratio(pandas_s, copy_s),
                     load_vs_pandas=ratio(t["wall_s"], pandas_s))
            print(f"{shape:9}   pandas to_sql of the same file: {pandas_s:7.2f} s = "
                  f"{t['pandas_vs_copy']:.1f}x COPY; the load takes {t['load_vs_pandas']:.2f}x "
                  "that", flush=True)
        results.append(t)
        print(f"{shape:9} day {n + 1} {day}: {info['rows']:>9,} rows, raw COPY {copy_s:6.2f} s, "
              f"load {t['wall_s']:7.2f} s = {t['ratio_vs_copy']:5.1f}x COPY (copy+ingest "
              f"{t['copy_ingest_s']:.2f}, gates+publish {t['gates_publish_s']:.2f}), "
              f"{t['facts_after']:,} facts", flush=True)
        if n == 0 or n == args.days - 1:
            rerun = load(url, path, day)
            rerun.update(day=str(day), raw_copy_s=round(copy_s, 3),
                         ratio_vs_copy=ratio(rerun["wall_s"], copy_s),
                         ratio_vs_first_run=ratio(rerun["wall_s"], t["wall_s"]))
            t["rerun"] = rerun
            print(f"{shape:9}   re-run of {day}: load {rerun['wall_s']:7.2f} s = "
                  f"{rerun['ratio_vs_first_run']:.2f}x the first run", flush=True)
    first, last = results[0], results[-1]
    summary = {"days": results,
               "last_day_vs_first_day": ratio(last["wall_s"] / last["raw_copy_s"],
                                              first["wall_s"] / first["raw_copy_s"])}
    refresh_s = full_refresh(url)
    summary["full_refresh_s"] = round(refresh_s, 3)
    summary["full_refresh_us_per_fact"] = round(refresh_s / last["facts_after"] * 1e6, 2)
    print(f"{shape:9} day {args.days} vs day 1 (each vs its raw COPY): "
          f"{summary['last_day_vs_first_day']:.2f}x; full refresh {refresh_s:.2f} s over "
          f"{last['facts_after']:,} facts ({summary['full_refresh_us_per_fact']} us/fact)",
          flush=True)
    if shape == "sandbox" and args.facts:
        total = add_synthetic_facts(url, args.facts)
        # The Monday after the history: a new ISO week, so the day's refresh reads one day of
        # facts and the figure shows what the history costs, not how full the week is.
        day = FIRST + timedelta(days=7 * ((args.days + 6) // 7))
        path, info = write_day(shape, folder, day, args.rows_per_day, args.seed)
        copy_s = statistics.median(raw_copy(url, path) for _ in range(args.copy_runs))
        t = load(url, path, day)
        t.update(day=str(day), facts_before=total, raw_copy_s=round(copy_s, 3),
                 ratio_vs_copy=ratio(t["wall_s"], copy_s),
                 vs_first_day=ratio(t["wall_s"] / copy_s, first["wall_s"] / first["raw_copy_s"]))
        refresh_s = full_refresh(url)
        t["full_refresh_s"] = round(refresh_s, 3)
        t["full_refresh_us_per_fact"] = round(refresh_s / t["facts_after"] * 1e6, 2)
        summary["many_facts"] = t
        print(f"{shape:9} a day on {total:,} facts: load {t['wall_s']:.2f} s = "
              f"{t['ratio_vs_copy']:.1f}x COPY, {t['vs_first_day']:.2f}x day 1; full refresh "
              f"{refresh_s:.2f} s ({t['full_refresh_us_per_fact']} us/fact)", flush=True)
    report["shapes"][shape] = summary
    if not args.keep:
        drop_database(base_url, name)


def server_version(base_url: str) -> str:
    conn = psycopg2.connect(admin_url(base_url, "postgres"))
    with conn.cursor() as cur:
        cur.execute("show server_version")
        version = cur.fetchone()[0]
    conn.close()
    return version


def _loads(loads) -> str:
    return " ".join(f"{x:.2f}" for x in loads) if loads else "not recorded"


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{report['command']}` on {report['date']} ({m['cores']} cores, "
        f"{m['python']}, PostgreSQL {m['postgresql']}, {m['platform']}). Load average (1, 5, "
        f"15 min) {_loads(m.get('load_average_at_start'))} at the start and "
        f"{_loads(m.get('load_average_at_end'))} at the end: other work on the machine slows "
        "every step, so every time is set against a raw `COPY` of the same file measured in the "
        f"same run (median of {report['copy_runs']}). Rows per day: "
        f"{report['rows_per_day']:,}. Peak RSS of the Python process that ran every load: "
        f"{report['peak_rss_mb']} MB.",
        "",
        "| shape | day | file rows | raw COPY s | load s | × COPY | copy+ingest s | "
        "gates+publish s | facts after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for shape, s in report["shapes"].items():
        for n, d in enumerate(s["days"], start=1):
            lines.append(f"| {shape} | {n} ({d['day']}) | {d['file_rows']:,} | {d['raw_copy_s']} | "
                         f"{d['wall_s']} | {d['ratio_vs_copy']} | {d['copy_ingest_s']} | "
                         f"{d['gates_publish_s']} | {d['facts_after']:,} |")
            if "rerun" in d:
                r = d["rerun"]
                lines.append(f"| {shape} | re-run of {n} | | | {r['wall_s']} | "
                             f"{r['ratio_vs_copy']} ({r['ratio_vs_first_run']}× first run) | "
                             f"{r['copy_ingest_s']} | {r['gates_publish_s']} | |")
        if "many_facts" in s:
            t = s["many_facts"]
            lines.append(f"| {shape} | a day on {t['facts_before']:,} facts | | {t['raw_copy_s']} | "
                         f"{t['wall_s']} | {t['ratio_vs_copy']} ({t['vs_first_day']}× day 1) | "
                         f"{t['copy_ingest_s']} | {t['gates_publish_s']} | {t['facts_after']:,} |")
    lines += ["", "| shape | day 1: raw COPY s | pandas to_sql s (× COPY) | load s (× pandas) |",
              "|---|---|---|---|"]
    for shape, s in report["shapes"].items():
        d = s["days"][0]
        if "pandas_to_sql_s" in d:
            lines.append(f"| {shape} | {d['raw_copy_s']} | {d['pandas_to_sql_s']} "
                         f"({d['pandas_vs_copy']}×) | {d['wall_s']} ({d['load_vs_pandas']}×) |")
    lines += ["", "| shape | last day vs day 1 | full refresh s | µs per fact |", "|---|---|---|---|"]
    for shape, s in report["shapes"].items():
        lines.append(f"| {shape} | {s['last_day_vs_first_day']}× | {s['full_refresh_s']} "
                     f"({s['days'][-1]['facts_after']:,} facts) | {s['full_refresh_us_per_fact']} |")
        if "many_facts" in s:
            t = s["many_facts"]
            lines.append(f"| {shape} (synthetic) | | {t['full_refresh_s']} ({t['facts_after']:,} "
                         f"facts) | {t['full_refresh_us_per_fact']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--facts", type=int, default=10_000_000,
                        help="the many-facts point (0: skip)")
    parser.add_argument("--shapes", default="sandbox,returning")
    parser.add_argument("--copy-runs", type=int, default=3)
    parser.add_argument("--no-pandas", dest="pandas", action="store_false",
                        help="skip the pandas to_sql baseline (day 1 of each shape)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--write-docs", action="store_true",
                        help="also write the tables as bench/results/<date>.md (docs/BENCHMARKS.md "
                             "quotes them with the reading)")
    parser.add_argument("--results", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()

    base_url = os.environ.get("SALES_DWH_URL", "postgresql://postgres@127.0.0.1:5432/sales_mart")
    report = {
        "command": os.environ.get("BENCH_COMMAND", "python -m bench.run"),
        "date": date.today().isoformat(),
        "rows_per_day": args.rows_per_day,
        "copy_runs": args.copy_runs,
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                    "postgresql": server_version(base_url), "platform": platform.platform(),
                    "load_average_at_start": os.getloadavg()},
        "shapes": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            run_shape(base_url, shape, args, Path(tmp), report)
    report["machine"]["load_average_at_end"] = os.getloadavg()
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(f"peak RSS of this process: {report['peak_rss_mb']} MB")
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    out = results / f"{report['date']}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    if args.write_docs:
        tables = results / f"{report['date']}.md"
        tables.write_text(markdown(report))
        print(f"wrote {tables}")


if __name__ == "__main__":
    main()
