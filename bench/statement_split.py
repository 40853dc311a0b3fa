"""Where one day's time goes, statement by statement: the steps of `sales-mart load` (COPY,
ingest, gates, publish, confirmation) on a fresh warehouse, with PostgreSQL's auto_explain
reporting every statement over 50 ms, nested ones included (no ANALYZE instrumentation, so the
times are the statements' own). The reports come back as notices on the loading connection, so
nothing depends on where the server writes its log.

    .venv/bin/python -m bench.statement_split returning 2      # days 1 and 2 of that shape
    .venv/bin/python -m bench.statement_split sandbox 1 --rows 1000000

Prints a table per day (milliseconds, the first words of each statement); docs/SCALING.md quotes
one. Needs a superuser URL in SALES_DWH_URL's server (it sets auto_explain on the scratch
database) and the `auto_explain` module, which ships with PostgreSQL.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import psycopg2

from bench import run
from sales_mart import config, warehouse

DURATION = re.compile(r"duration: ([0-9.]+) ms\s+plan:\s*Query Text: (.*)", re.DOTALL)


def label(text: str) -> str:
    words = " ".join(line.strip() for line in text.strip().splitlines()
                     if line.strip() and not line.strip().startswith("--"))
    return words[:70] or "(a nested statement)"


def split_day(url: str, path: Path, day) -> list[tuple[str, float]]:
    conn = warehouse.connect(url, role="sales_loader")
    conn.notices = collections.deque()  # every notice, not the last 50
    steps: list[tuple[str, float]] = []
    try:
        start = time.perf_counter()
        load_id = warehouse.copy_file(conn, path, source="increment", delivery_date=day)
        steps.append(("COPY into staging.user_order_inc (step)", time.perf_counter() - start))
        params = warehouse.check_parameters(load_id)
        for name, call in (
            ("ingest (step)", lambda cur: cur.execute("call staging.ingest_load(%s)", (load_id,))),
            ("gates (step)", lambda cur: warehouse.run_checks(cur, warehouse.GATE_CHECKS, params)),
            ("publish (step)", lambda cur: cur.execute(warehouse.PUBLISH_SQL, params)),
            ("confirmation (step)",
             lambda cur: warehouse.run_checks(cur, warehouse.FINAL_CHECKS, params)),
        ):
            start = time.perf_counter()
            with conn, conn.cursor() as cur:
                call(cur)
            steps.append((name, time.perf_counter() - start))
    finally:
        notices = list(conn.notices)
        conn.close()
    statements = []
    for notice in notices:
        found = DURATION.search(notice)
        if found:
            statements.append((label(found.group(2)), float(found.group(1)) / 1000))
    return steps + statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("shape", choices=["sandbox", "returning"])
    parser.add_argument("days", type=int, nargs="?", default=1)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    name = f"{os.environ.get('BENCH_DB', 'sales_mart_bench')}_split"
    base = config.dwh_url()
    url = run.fresh_database(base, name)
    admin = psycopg2.connect(run.admin_url(base, name))
    admin.autocommit = True
    with admin.cursor() as cur:
        for setting, value in (("session_preload_libraries", "auto_explain"),
                               ("auto_explain.log_min_duration", "50ms"),
                               ("auto_explain.log_nested_statements", "on"),
                               ("auto_explain.log_level", "notice")):
            cur.execute(f"alter database {name} set {setting} = %s", (value,))
    admin.close()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.days):
            day = run.FIRST + timedelta(days=n)
            path, _ = run.write_day(args.shape, Path(tmp), day, args.rows, args.seed)
            copy_s = run.raw_copy(url, path)
            rows = split_day(url, path, day)
            total = sum(s for name, s in rows if name.endswith("(step)"))
            print(f"\n{args.shape} day {n + 1} ({day}): raw COPY {copy_s:.2f} s, "
                  f"steps {total:.2f} s = {total / copy_s:.1f} x COPY")
            for what, seconds in rows:
                print(f"  {seconds:8.2f}  {what}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    run.drop_database(base, name)


if __name__ == "__main__":
    main()
