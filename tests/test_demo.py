"""`make demo` end to end at small volume: exit 0, a first screen without warnings or
tracebacks, the views equal to an independent computation from the raw files it kept (the
partial-week column included), partial weeks marked in the table and the chart, a closing
summary whose numbers come from those files and whose next commands work, identical numbers on
a second run; and its expected failures in one line."""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest
from reference import final_rows, retention

from sales_mart import config, demo, localstack, warehouse

# `make test` (two pytest-xdist workers) runs the modules that start Airflow's own processes or
# the demo on one worker, one after another, while the other worker runs the rest.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-processes")]

FIRST_DAY = "2024-03-04"  # Monday of ISO week 2024-10; the history covers the 23 days before
# What must never reach a newcomer's screen (or the demo's Airflow log): any warning, any
# traceback. Airflow logs warnings as "[warning  ]", Python as "...Warning: ...".
NOISE = re.compile(r"warn|traceback", re.IGNORECASE)
COLUMNS = (
    "period_id, week_start, item_id, new_customers_count, returning_customers_count, "
    "refunded_customer_count, new_customers_revenue, returning_customers_revenue, "
    "customers_refunded, orders_count, refunded_amount, net_revenue, days_in_mart"
)


def demo_env(url, tmp_path):
    env = {**os.environ, "SALES_DWH_URL": url, "SALES_MART_VAR_DIR": str(tmp_path / "var")}
    for key in [k for k in env if k.startswith("AIRFLOW")]:
        env.pop(key)  # the demo sets up its own Airflow, as on a fresh machine
    return env


def run_demo(url, tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "sales_mart.demo", "--first-day", FIRST_DAY,
         "--out", str(tmp_path / "out"), *args],
        env=demo_env(url, tmp_path), capture_output=True, text=True, timeout=300, check=False,
    )


def query(url, sql):
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute(sql)
        rows = cur.fetchall()
    conn.close()
    return rows


def landed_files(landing: Path) -> list[tuple[Path, dt.date | None]]:
    """The raw files the demo kept, as deliveries: (file, day) for increments, (file, None)
    for the full report."""
    deliveries = [(path, None) for path in sorted((landing / "history").glob("*.csv"))]
    for path in sorted((landing / "increments").glob("*.csv")):
        day = re.search(r"_inc_(\d{4}-\d{2}-\d{2})_", path.name).group(1)
        deliveries.append((path, dt.date.fromisoformat(day)))
    return deliveries


def data_lines(path: Path) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def distinct_uniq_ids(path: Path) -> set[str]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["uniq_id"] for row in csv.DictReader(fh)}


def next_commands(stdout: str) -> list[str]:
    return [line.strip().split("   #")[0] for line in stdout.split("Next, try:\n", 1)[1].splitlines()
            if line.strip()]


def test_demo_runs_end_to_end_with_a_clean_screen_and_repeats_identically(fresh_warehouse,
                                                                           tmp_path):
    url = fresh_warehouse()
    done = run_demo(url, tmp_path, "--days", "3", "--rows-per-day", "150")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    airflow_log = tmp_path / "var" / "airflow" / "demo.log"
    for text in (done.stdout, done.stderr, airflow_log.read_text()):
        assert not [line for line in text.splitlines() if NOISE.search(line)]

    # History 2024-02-10..2024-03-03 and days 2024-03-04..06: ISO weeks 6 to 10 of 2024, of
    # which the mart holds 2 days of week 6 (Sat, Sun) and 3 of week 10 (Mon..Wed).
    deliveries = landed_files(tmp_path / "var" / "landing")
    assert [day for _, day in deliveries] == [None, *(dt.date(2024, 3, d) for d in (4, 5, 6))]
    rows = final_rows(deliveries)
    expected = retention(rows, by_city=False)
    got = query(url, f"select {COLUMNS} from mart.customer_retention order by 1, 3")
    assert got == expected
    week_days = {r[0]: r[-1] for r in expected}
    assert week_days == {202406: 2, 202407: 7, 202408: 7, 202409: 7, 202410: 3}

    # the table marks exactly the partial weeks, with the days the mart holds
    table = [line for line in done.stdout.splitlines() if re.match(r"│ 2024\d\d ", line)]
    assert len(table) == len(expected)
    for line in table:
        week = int(line[2:8])
        assert (demo.PARTIAL_MARK in line) == (week_days[week] < 7), line
        assert f"{week_days[week]}/7" in line

    # the chart: a real PNG; partial weeks' ticks marked and their bars pale and hatched
    chart = tmp_path / "out" / "retention.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    view_rows, _ = demo.read_results(url, 0)
    figure = demo.chart_figure(view_rows)
    bottom_row = figure.axes[8:12]  # 12 items, 4 a row; the shared week axis is labelled below
    for axes in bottom_row:
        assert [t.get_text() for t in axes.get_xticklabels()] == [
            "06◐\n2d", "07", "08", "09", "10◐\n3d"]
    for axes in figure.axes[:12]:
        new_customer_bars = axes.patches[:5]
        assert [bar.get_hatch() for bar in new_customer_bars] == ["//", None, None, None, "//"]
    assert any("partial week" in text.get_text() for text in figure.legends[0].get_texts())

    # the closing summary: numbers from the raw files, not from the warehouse
    read = sum(data_lines(path) for path, _ in deliveries)
    summary = re.search(r"Loaded 1 full report and 3 daily increments \(2024-03-04\.\.2024-03-06\)"
                        r": ([\d,]+) rows read, ([\d,]+) loaded, ([\d,]+) duplicate, "
                        r"([\d,]+) rejected\.", done.stdout)
    assert summary, done.stdout[-3000:]
    numbers = [int(n.replace(",", "")) for n in summary.groups()]
    assert numbers[0] == read and sum(numbers[1:]) == read and numbers[3] == 0
    assert numbers[1] == sum(len(distinct_uniq_ids(path)) for path, _ in deliveries)
    days = sorted({dt.datetime.fromisoformat(r["date_time"]).date() for r in rows.values()})
    assert (f"The mart holds {len(days)} days ({days[0]}..{days[-1]}): {len(rows):,} order lines"
            in done.stdout)
    checks = len(warehouse.GATE_CHECKS + warehouse.FINAL_CHECKS)
    assert f"Data-quality gates passed: {4 * checks} checks in 4 DAG runs" in done.stdout
    assert "Partial weeks (◐): 202406 holds 2 of 7 days, 202410 holds 3 of 7 days." in done.stdout
    assert f"Raw files:    {tmp_path / 'var' / 'landing'}" in done.stdout
    assert "Load journal: staging.load_log" in done.stdout
    assert f"Chart:        {chart}" in done.stdout

    # the next commands work as printed, from the project folder, without SALES_DWH_URL set
    psql, make_airflow, load = next_commands(done.stdout)
    assert make_airflow == f"SALES_DWH_URL={url} make airflow PORT=8080"
    shell_env = {k: v for k, v in os.environ.items() if k != "SALES_DWH_URL"}
    as_bi = subprocess.run(["bash", "-c", psql], env=shell_env, capture_output=True, text=True,
                           check=False, timeout=60)
    assert as_bi.returncode == 0, as_bi.stderr
    assert as_bi.stdout.startswith("SET\n") and "days_in_mart" in as_bi.stdout
    assert "(12 rows)" in as_bi.stdout
    assert "--date 2024-03-06" in load and "user_order_log_inc_2024-03-06_" in load
    replay = subprocess.run(["bash", "-c", load], env=shell_env, cwd=config.PROJECT_ROOT,
                            capture_output=True, text=True, check=False, timeout=120)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert query(url, f"select {COLUMNS} from mart.customer_retention order by 1, 3") == expected

    second = run_demo(url, tmp_path, "--days", "3", "--rows-per-day", "150")
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert not [line for line in second.stdout.splitlines() if NOISE.search(line)]
    assert query(url, f"select {COLUMNS} from mart.customer_retention order by 1, 3") == expected


def test_failed_dag_run_ends_the_demo_in_one_line_naming_task_and_reason(fresh_warehouse,
                                                                        tmp_path):
    # Two rows a day: the history (23 days) passes its gates; the first day has too few
    # customers, so gate 2 stops sales_mart_daily.
    done = run_demo(fresh_warehouse(), tmp_path, "--days", "1", "--rows-per-day", "2")
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("make demo: sales_mart_daily for 2024-03-04 failed at task "
                           "more_than_three_customers: data-quality check "
                           "more_than_three_customers failed"), done.stdout[-2000:]
    assert f"Airflow's log: {tmp_path / 'var' / 'airflow' / 'demo.log'}" in last
    assert "Traceback" in (tmp_path / "var" / "airflow" / "demo.log").read_text()  # kept there
    assert not done.stderr


def test_no_postgresql_ends_the_demo_in_one_line(monkeypatch, capfd, tmp_path):
    # No server at SALES_DWH_URL and no PostgreSQL binaries: hiding the binaries installed
    # here is the only way to see what a machine without them gets.
    monkeypatch.setenv("SALES_DWH_URL",
                       f"postgresql://postgres@127.0.0.1:{localstack.free_port()}/sales_mart")
    monkeypatch.setattr(localstack, "postgres_bin_dir", lambda: None)
    assert demo.main(["--days", "1", "--out", str(tmp_path)]) == 1
    out, err = capfd.readouterr()
    assert out.count("\n") == 1 and not err, out + err
    assert out.startswith("make demo: no PostgreSQL answers at ")
    assert "SALES_DWH_URL=" in out and "docker compose up -d warehouse" in out
