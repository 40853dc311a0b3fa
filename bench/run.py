"""Benchmark: one large day through the warehouse, against baselines measured in the same run.

    make bench                      # 1,000,000 rows/day, 3 days
    .venv/bin/python -m bench.run --rows-per-day 200000 --days 2

Baselines (same file, same server): a raw `COPY` into an all-text table (the floor), and the
original project's pandas `read_csv` + `DataFrame.to_sql`. Reported as seconds, rows per second
and ratios; nothing here is asserted — timings belong in reports, not tests.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg2

from sales_mart import warehouse
from sales_mart.sandbox import data

BENCH_DB = "sales_mart_bench"


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def fresh_database(base_url: str) -> str:
    url = base_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    admin.cursor().execute(f"drop database if exists {BENCH_DB} with (force)")
    admin.close()
    warehouse.upgrade(url)
    return url


def raw_copy(url: str, path: Path, header: list[str]) -> float:
    conn = psycopg2.connect(url)
    with conn, conn.cursor() as cur:
        cur.execute("create temp table raw_copy ({})".format(", ".join(f"{c} text" for c in header)))
        start = time.perf_counter()
        with open(path, "rb") as fh:
            cur.copy_expert("copy raw_copy from stdin with (format csv, header true)", fh)
        elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


def pandas_to_sql(url: str, path: Path) -> float:
    import pandas as pd
    import sqlalchemy

    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg2://"))
    start = time.perf_counter()
    frame = pd.read_csv(path)
    frame.to_sql("pandas_baseline", engine, schema="public", if_exists="replace", index=False)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def pipeline_day(url: str, path: Path, day: date) -> dict[str, float]:
    conn = warehouse.connect(url, role="sales_loader")
    times = {}
    times["copy"], load_id = timed(
        warehouse.copy_file, conn, path, source="increment", delivery_date=day
    )
    times["ingest"], _ = timed(warehouse.ingest, conn, load_id)
    with conn.cursor() as cur:
        # publish = the gates again + merge + reconciliation + refresh, one transaction; the
        # refresh is timed apart (a second, separate refresh of the same facts)
        times["merge"], _ = timed(cur.execute, warehouse.PUBLISH_SQL,
                                  warehouse.check_parameters(load_id))
        conn.commit()
        times["refresh"], _ = timed(cur.execute, "call mart.refresh_retention()")
        conn.commit()
        cur.execute("select count(*) from mart.f_sales")
        times["facts"] = cur.fetchone()[0]
    conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    base_url = os.environ.get("SALES_DWH_URL", "postgresql://postgres@127.0.0.1:5432/sales_mart")
    url = fresh_database(base_url)
    first = date(2024, 4, 8)
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n in range(args.days):
            day = first + timedelta(days=n)
            summary = data.write_increment(
                Path(tmp) / f"inc_{day}.csv", day, seed=args.seed, rows_per_day=args.rows_per_day
            )
            files.append((day, summary))
        day0, s0 = files[0]
        header = warehouse.read_header(s0.path)
        rows = s0.rows
        print(f"file: {rows:,} rows, {s0.bytes / 1e6:.0f} MB, {s0.order_lines:,} distinct orders")

        copy_s = raw_copy(url, s0.path, header)
        print(f"baseline raw COPY          {copy_s:7.2f} s  {rows / copy_s:>11,.0f} rows/s")
        if not args.skip_pandas:
            pandas_s = pandas_to_sql(url, s0.path)
            print(f"baseline pandas to_sql     {pandas_s:7.2f} s  {rows / pandas_s:>11,.0f} rows/s")

        for n, (day, summary) in enumerate(files):
            t = pipeline_day(url, summary.path, day)
            total = t["copy"] + t["ingest"] + t["merge"]
            line = (
                f"day {n + 1} ({day}): copy {t['copy']:.2f} s, ingest {t['ingest']:.2f} s, "
                f"merge {t['merge']:.2f} s, refresh {t['refresh']:.2f} s over {t['facts']:,} facts;"
                f" copy+ingest+merge {total:.2f} s = {total / copy_s:.1f}x raw COPY"
            )
            if not args.skip_pandas:
                line += f", {pandas_s / total:.1f}x faster than pandas"
            print(line)
        t = pipeline_day(url, files[-1][1].path, files[-1][0])
        total = t["copy"] + t["ingest"] + t["merge"]
        print(
            f"re-run of {files[-1][0]}: copy {t['copy']:.2f} s, ingest {t['ingest']:.2f} s, "
            f"merge {t['merge']:.2f} s, refresh {t['refresh']:.2f} s; total {total:.2f} s"
        )


if __name__ == "__main__":
    main()
