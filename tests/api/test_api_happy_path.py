"""The client against the sandbox over real HTTP: report → increments → downloads."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib

import pytest
from api_testkit import FIRST_DAY, HEADER, HEADER_OLD, LAST_DAY, RUNNING_POLLS
from report_polling import ready_report

from sales_mart.api_client import IncrementNotFound


def read_csv(path):
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, list(reader)


def test_report_then_increments_then_downloads(api, client, tmp_path):
    task_id = client.generate_report()
    report = ready_report(client, task_id)

    # the full report covers the 23 days before the window's first day
    assert report.start_day == FIRST_DAY - dt.timedelta(days=23)
    assert report.end_date == FIRST_DAY - dt.timedelta(days=1)
    assert set(report.files) == {"customer_research", "user_order_log", "user_activity_log",
                                 "price_log"}
    assert all(url.startswith(api.base_url + "/") for url in report.files.values())
    assert api.request_counts["get_report"] == RUNNING_POLLS + 1

    days = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1), LAST_DAY]
    for day in days:
        increment = client.get_increment(report.report_id, day)
        assert increment.date == day
        assert all(url.startswith(api.base_url + "/") for url in increment.files.values())
        dest = tmp_path / f"user_order_log_{day}.csv"
        result = client.download(increment.files["user_order_log_inc"], dest)

        raw = dest.read_bytes()
        assert result.path == dest
        assert result.bytes == len(raw)
        assert result.sha256 == hashlib.sha256(raw).hexdigest()
        header, rows = read_csv(dest)
        assert result.rows == len(rows) > 100
        # the window's first increment is in the old format, the others carry status
        assert header == (HEADER_OLD if day == FIRST_DAY else HEADER)
        assert {row[2] for row in rows} == {f"{day}T00:00:00"}
        assert [int(row[0]) for row in rows] == list(range(1, len(rows) + 1))

    history = client.download(report.files["user_order_log"], tmp_path / "history.csv")
    header, rows = read_csv(history.path)
    assert header == HEADER_OLD
    assert history.rows == len(rows)
    dates = {dt.date.fromisoformat(row[2][:10]) for row in rows}
    assert min(dates) == report.start_day and max(dates) == report.end_date
    assert len(dates) == 23

    prices = client.download(report.files["price_log"], tmp_path / "price_log.csv")
    assert prices.rows == 12


def test_dates_outside_the_window_are_not_found(client, report):
    for day in (FIRST_DAY - dt.timedelta(days=1), LAST_DAY + dt.timedelta(days=1)):
        with pytest.raises(IncrementNotFound) as caught:
            client.get_increment(report.report_id, day)
        assert caught.value.date == day
        assert str(FIRST_DAY) in caught.value.reason  # the reason names the window


def test_get_increment_accepts_datetimes_and_strings(client, report):
    day = FIRST_DAY + dt.timedelta(days=2)
    for value in (day, dt.datetime(day.year, day.month, day.day), f"{day}T00:00:00", str(day)):
        assert client.get_increment(report.report_id, value).date == day


def test_download_replaces_an_existing_file_whole(client, report, tmp_path):
    dest = tmp_path / "inc.csv"
    dest.write_text("stale content\n")
    increment = client.get_increment(report.report_id, LAST_DAY)
    result = client.download(increment.files["user_order_log_inc"], dest)
    assert dest.read_bytes()[:3] == b"id,"
    assert result.bytes == dest.stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inc.csv"]  # no temp files left


def test_strict_window_mimics_the_real_service(tmp_path):
    from api_testkit import API_KEY, make_client

    from sales_mart.sandbox.server import run_in_thread

    generated_on = dt.date(2024, 4, 1)
    with run_in_thread(api_key=API_KEY, seed=3, rows_per_day=100, strict_window=True,
                       today=generated_on, running_polls=0, cache_dir=tmp_path) as server:
        with make_client(server.base_url) as client:
            report = ready_report(client, client.generate_report())
            assert report.start_day == generated_on - dt.timedelta(days=30)
            assert report.end_date == generated_on - dt.timedelta(days=8)
            for offset in range(1, 8):
                day = generated_on - dt.timedelta(days=offset)
                assert client.get_increment(report.report_id, day).date == day
            for offset in (0, 8, 20):
                with pytest.raises(IncrementNotFound):
                    client.get_increment(report.report_id,
                                         generated_on - dt.timedelta(days=offset))
