"""``sales-mart api export`` and ``sales-mart api serve`` as a person runs them."""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
import requests
from api_testkit import COHORT, NICKNAME, make_client
from report_polling import ready_report

from sales_mart.api_client import IncrementNotFound
from sales_mart.sandbox import data

START = dt.date(2024, 6, 3)


def sales_mart(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "sales_mart.cli", *args], capture_output=True,
                          text=True, timeout=60, env=env, **kwargs)


def test_export_writes_the_file_the_generator_makes(tmp_path):
    day = START + dt.timedelta(days=2)
    done = sales_mart("api", "export", "--date", str(day), "--out", str(tmp_path / "cli.csv"),
                      "--seed", "4", "--rows-per-day", "300", "--start-date", str(START))
    assert done.returncode == 0, done.stderr
    data.write_increment(tmp_path / "lib.csv", day, seed=4, rows_per_day=300)
    assert (tmp_path / "cli.csv").read_bytes() == (tmp_path / "lib.csv").read_bytes()
    assert "new format" in done.stdout

    first = sales_mart("api", "export", "--date", str(START), "--out", str(tmp_path / "f.csv"),
                       "--seed", "4", "--rows-per-day", "300", "--start-date", str(START))
    assert first.returncode == 0 and "old format" in first.stdout


def test_export_history(tmp_path):
    done = sales_mart("api", "export", "--history", "--out", str(tmp_path / "h.csv"),
                      "--seed", "4", "--rows-per-day", "100", "--start-date", str(START))
    assert done.returncode == 0, done.stderr
    data.write_history(tmp_path / "lib.csv", end_date=START - dt.timedelta(days=1), seed=4,
                       rows_per_day=100)
    assert (tmp_path / "h.csv").read_bytes() == (tmp_path / "lib.csv").read_bytes()


def test_export_needs_a_date_or_history(tmp_path):
    done = sales_mart("api", "export", "--out", str(tmp_path / "x.csv"))
    assert done.returncode == 2 and "--date" in done.stderr


def test_serve_needs_a_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SALES_API_KEY"}
    done = sales_mart("api", "serve", "--port", "0", env=env)
    assert done.returncode == 2 and "SALES_API_KEY" in done.stderr


@pytest.fixture
def served(tmp_path):
    """`sales-mart api serve` in a subprocess, key from the environment, faults from a file
    and flags; yields its base URL."""
    faults = tmp_path / "faults.json"
    faults.write_text(json.dumps({"endpoints": {"get_report": [{"status": 503}]}}))
    env = {**os.environ, "SALES_API_KEY": "env-key-9d2e"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sales_mart.cli", "api", "serve", "--port", "0",
         "--seed", "4", "--rows-per-day", "200", "--start-date", str(START),
         "--end-date", str(START + dt.timedelta(days=6)), "--running-polls", "1",
         "--faults", str(faults), "--not-found", str(START + dt.timedelta(days=1)),
         "--fail", "get_increment=500:1", "--retry-after", "0"],
        stderr=subprocess.PIPE, text=True, env=env)
    # Lines read by a thread: select() on the pipe misses lines already in the text buffer
    # (two lines arriving in one read left "running on" unseen until the deadline, under load).
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr],
                              daemon=True)
    reader.start()
    url = None
    deadline = time.monotonic() + 30
    seen = []
    while url is None and time.monotonic() < deadline and process.poll() is None:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if match := re.search(r"running on (http://\S+)", line):
            url = match.group(1)
    try:
        assert url, f"the server did not start: {''.join(seen)}"
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)  # the pipe's end ends it
        process.stderr.close()


def test_serve_from_the_command_line(served, tmp_path):
    with make_client(served, api_key="env-key-9d2e") as client:
        report = ready_report(client, client.generate_report())  # 503 from the fault file, then retried
        increment = client.get_increment(report.report_id, START)  # 500 once from --fail
        result = client.download(increment.files["user_order_log_inc"], tmp_path / "a.csv")
        with pytest.raises(IncrementNotFound):
            client.get_increment(report.report_id, START + dt.timedelta(days=1))
    data.write_increment(tmp_path / "b.csv", START, seed=4, rows_per_day=200, old_format=True)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert result.rows > 0

    stats = requests.get(f"{served}/_sandbox/stats", timeout=5, headers={
        "X-API-KEY": "env-key-9d2e", "X-Nickname": NICKNAME, "X-Cohort": COHORT,
        "X-Project": "True"}).json()
    assert stats["request_counts"]["generate_report"] == 1
    assert stats["request_counts"]["get_report"] == 3  # 503 (retried), RUNNING, SUCCESS
    assert stats["request_counts"]["get_increment"] == 3

    with make_client(served, api_key="other") as client:
        with pytest.raises(Exception, match="403"):
            client.generate_report()


def test_serve_rejects_a_bad_fault_file(tmp_path):
    faults = tmp_path / "faults.json"
    faults.write_text('{"endpoints": {"get_reports": []}}')
    done = sales_mart("api", "serve", "--api-key", "k", "--faults", str(faults))
    assert done.returncode == 2 and "unknown endpoint 'get_reports'" in done.stderr



def test_export_format_can_be_forced(tmp_path):
    day = START + dt.timedelta(days=3)
    done = sales_mart("api", "export", "--date", str(day), "--out", str(tmp_path / "o.csv"),
                      "--format", "old", "--rows-per-day", "100")
    assert done.returncode == 0, done.stderr
    data.write_increment(tmp_path / "lib.csv", day, rows_per_day=100, old_format=True)
    assert (tmp_path / "o.csv").read_bytes() == (tmp_path / "lib.csv").read_bytes()
