"""`make demo` end to end at small volume: exit 0, the views hold the expected weeks, the chart
is a real PNG, and a second run gives identical numbers."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import psycopg2
import pytest

pytestmark = pytest.mark.slow

FIRST_DAY = "2024-03-04"  # Monday of ISO week 2024-10; the history covers the 23 days before


def run_demo(url, tmp_path):
    env = {**os.environ, "SALES_DWH_URL": url, "SALES_MART_VAR_DIR": str(tmp_path / "var")}
    for key in [k for k in env if k.startswith("AIRFLOW")]:
        env.pop(key)  # the demo sets up its own Airflow, as on a fresh machine
    done = subprocess.run(
        [sys.executable, "-m", "sales_mart.demo", "--days", "3", "--rows-per-day", "150",
         "--first-day", FIRST_DAY, "--out", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    conn = psycopg2.connect(url)
    with conn.cursor() as cur:
        cur.execute("select t::text from mart.customer_retention as t order by 1")
        views = [r[0] for r in cur.fetchall()]
        cur.execute("select distinct period_id from mart.customer_retention order by 1")
        weeks = [r[0] for r in cur.fetchall()]
    conn.close()
    return done.stdout, views, weeks


def test_demo_runs_end_to_end_and_repeats_identically(fresh_warehouse, tmp_path):
    url = fresh_warehouse()
    stdout, first_views, weeks = run_demo(url, tmp_path)

    # History 2024-02-10..2024-03-03 and days 2024-03-04..06: ISO weeks 6 to 10 of 2024.
    first = dt.date.fromisoformat(FIRST_DAY)
    history_start = first - dt.timedelta(days=23)
    expected = sorted({
        (d.isocalendar().year * 100 + d.isocalendar().week)
        for d in (history_start + dt.timedelta(days=n) for n in range(23 + 3))
    })
    assert weeks == expected == [202406, 202407, 202408, 202409, 202410]
    chart = tmp_path / "out" / "retention.png"
    assert f"chart: {chart}" in stdout.replace("\n", "")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000
    assert list((tmp_path / "var" / "landing").rglob("*.csv"))  # raw files kept

    _, second_views, _ = run_demo(url, tmp_path)
    assert second_views == first_views
