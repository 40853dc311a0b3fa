"""Benchmark: one ~1,000-row day through `airflow dags test sales_mart_daily <date>`, wall clock,
with the sandbox report API answering RUNNING once before SUCCESS (issue 10's Airflow target).

    make bench-airflow                                  # 5 runs, the defaults a user gets
    .venv/bin/python -m bench.airflow_day --runs 3 --env SALES_MART_POLL_INTERVAL=1

Prepares, untimed: the sandbox API over HTTP on 127.0.0.1 (a thread of this process,
`running_polls=1`), an SMTP sink, a fresh warehouse database (`sales-mart db upgrade`), a
fresh Airflow home (`airflow db migrate`, SQLite) with the connections and variables of
`sales_mart.localstack.airflow_environment`, and the history (`airflow dags test
sales_mart_history`). Then times `airflow dags test sales_mart_daily D` for N consecutive
days, each a separate process as a person runs it, and prints each wall time, its CPU time
(user + system of the airflow process: less sensitive than the wall time to other work on the
machine), the run's task durations from Airflow's metadata DB, the medians and the load average. The DAGs' parse-time
settings are not set (the defaults), apart from those given with --env; SALES_MART_* and
AIRFLOW_* variables of the calling shell are not passed on. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

from sales_mart import config, localstack

BIN = Path(sys.executable).parent
API_KEY = "bench-airflow-key-5c81e2"
FIRST_DAY = dt.date(2024, 3, 4)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs, one day each (max 6)")
    parser.add_argument("--rows-per-day", type=int, default=1000)
    parser.add_argument("--running-polls", type=int, default=1,
                        help="RUNNING answers before SUCCESS (default 1)")
    parser.add_argument("--db", default=os.environ.get("BENCH_DB", "sales_mart_bench") + "_airflow",
                        help="warehouse database, dropped and made afresh")
    parser.add_argument("--work", type=Path, default=localstack.VAR_DIR / "bench-airflow",
                        help="Airflow home, landing folder and logs (emptied first)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="extra environment of the airflow commands (e.g. a poll interval)")
    parser.add_argument("--wrap", default="", metavar="COMMAND",
                        help="prefix of the timed commands, e.g. 'py-spy record -o p.svg --'")
    return parser.parse_args(argv)


def fresh_warehouse(name: str, env: dict[str, str]) -> str:
    base = config.dwh_url().rsplit("/", 1)[0]
    admin = psycopg2.connect(f"{base}/postgres")
    admin.autocommit = True
    admin.cursor().execute(f'drop database if exists "{name}" with (force)')
    admin.close()
    url = f"{base}/{name}"
    subprocess.run([str(BIN / "sales-mart"), "db", "upgrade"], env={**env, "SALES_DWH_URL": url},
                   check=True, stdout=subprocess.DEVNULL)
    return url


def airflow(env: dict[str, str], log: Path, *args: str, wrap: str = "") -> tuple[float, float]:
    """Runs `airflow ARGS` with its output into `log`; returns its wall and CPU time (s)."""
    with log.open("wb") as out:
        cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run([*shlex.split(wrap), str(BIN / "airflow"), *args], env=env, stdout=out,
                              stderr=subprocess.STDOUT, check=False)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"airflow {' '.join(args)} failed ({done.returncode}); see {log}")
    return wall, after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime


def task_times(db: Path, dag_id: str, day: dt.date) -> tuple[float, list[tuple[str, float]]]:
    """The run's span (first task start to last task end) and each task's duration."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select ti.task_id, ti.start_date, ti.end_date from task_instance ti"
            " join dag_run dr on dr.run_id = ti.run_id and dr.dag_id = ti.dag_id"
            " where ti.dag_id = ? and date(dr.logical_date) = ? order by ti.start_date",
            (dag_id, day.isoformat())).fetchall()
    stamps = [(t, dt.datetime.fromisoformat(s), dt.datetime.fromisoformat(e)) for t, s, e in rows]
    span = (max(e for _, _, e in stamps) - min(s for _, s, _ in stamps)).total_seconds()
    return span, [(t, (e - s).total_seconds()) for t, s, e in stamps]


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None) -> int:
    from sales_mart.sandbox.server import run_in_thread

    args = parse_args(argv)
    days = [FIRST_DAY + dt.timedelta(days=n) for n in range(1, args.runs + 1)]
    shutil.rmtree(args.work, ignore_errors=True)
    (args.work / "logs").mkdir(parents=True)
    base_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("SALES_MART_", "AIRFLOW_", "AIRFLOW__", "SALES_DWH"))}
    sandbox = smtp = None
    try:
        sandbox = run_in_thread(api_key=API_KEY, rows_per_day=args.rows_per_day,
                                start_date=FIRST_DAY, end_date=FIRST_DAY + dt.timedelta(days=6),
                                running_polls=args.running_polls,
                                cache_dir=args.work / "sandbox-cache")
        smtp = localstack.SmtpSink().start()
        url = fresh_warehouse(args.db, base_env)
        env = {**base_env, **localstack.airflow_environment(
            home=args.work / "airflow", dwh_url=url, api_base_url=sandbox.base_url,
            api_key=API_KEY, smtp_port=smtp.port, landing_dir=args.work / "landing",
            start_date=FIRST_DAY.isoformat())}
        env.pop("SALES_MART_POLL_INTERVAL")  # the measured runs use the DAG's defaults
        env.update(dict(item.split("=", 1) for item in args.env))
        airflow(env, args.work / "logs" / "migrate.log", "db", "migrate")
        history = FIRST_DAY - dt.timedelta(days=1)
        wall, _ = airflow(env, args.work / "logs" / "history.log",
                       "dags", "test", "sales_mart_history", history.isoformat())
        print(f"prepared: sandbox {sandbox.base_url} (RUNNING x{args.running_polls}), "
              f"warehouse {args.db}, history in {wall:.1f} s; extra env: {args.env or 'none'}")
        walls, cpus = [], []
        for day in days:
            before = load()
            wall, cpu = airflow(env, args.work / "logs" / f"daily-{day}.log",
                           "dags", "test", "sales_mart_daily", day.isoformat(), wrap=args.wrap)
            walls.append(wall)
            cpus.append(cpu)
            span, tasks = task_times(args.work / "airflow" / "airflow.db", "sales_mart_daily", day)
            slow = ", ".join(f"{t} {d:.2f}" for t, d in sorted(tasks, key=lambda x: -x[1])[:4])
            print(f"{day}: {wall:5.1f} s wall, {cpu:4.1f} s CPU, run {span:4.1f} s (slowest: {slow}); "
                  f"load before {before}", flush=True)
        print(f"median {statistics.median(walls):.1f} s wall, {statistics.median(cpus):.1f} s CPU "
              f"over {len(walls)} runs "
              f"({' '.join(f'{w:.1f}' for w in walls)}); {os.cpu_count()} cores, load {load()}")
    finally:
        localstack.stop_all(sandbox, smtp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
