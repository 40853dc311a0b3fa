"""Each gate failing ends the run failed, leaves the mart exactly as before and sends exactly one
e-mail naming the date, the task and the reason; transient API faults are retried and the run
succeeds; a wrong API key fails fast with one e-mail."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json

import psycopg2
import pytest
from conftest import ALERT_TO, CLIENT_RETRY, DAYS, FIRST_DAY, ROWS_PER_DAY, SEED, parse_daily
from orders import fetch, mart_dump
from report_polling import ready_report

from sales_mart import warehouse
from sales_mart.api_client import ReportApiClient, default_retry
from sales_mart.sandbox import data

pytestmark = pytest.mark.slow

DAY = DAYS[2]


@pytest.fixture
def loaded(pipeline, dwh, files):
    """The mart after the history and the first day (loaded by the command-line path)."""
    history = files / "history.csv"
    data.write_history(history, end_date=data.history_end_for(FIRST_DAY), seed=SEED,
                       rows_per_day=ROWS_PER_DAY)
    first = files / "first.csv"
    data.write_increment(first, FIRST_DAY, seed=SEED, rows_per_day=ROWS_PER_DAY, old_format=True)
    warehouse.load_file(history, history=True)
    warehouse.load_file(first, delivery_date=FIRST_DAY)
    before = mart_dump(dwh)
    assert before["mart.f_sales"]
    return before


@contextlib.contextmanager
def serve_instead(sandbox, day, rewrite):
    """Makes the sandbox serve ``rewrite(original text)`` as the day's increment file: fetch it
    once over HTTP (so the sandbox materializes it in its cache), then rewrite the cached file;
    on exit the cached file is removed (the sandbox generates it again when asked)."""
    client = ReportApiClient(sandbox.base_url, sandbox.settings.api_key, "t", "1",
                             retry=default_retry(**CLIENT_RETRY))
    with client:
        report = ready_report(client, client.generate_report())
        increment = client.get_increment(report.report_id, day)
        text = client._files.get(increment.files["user_order_log_inc"]).text
    cached = [p for p in sandbox.settings.cache_dir.glob(f"inc-*-{day}-*.csv")
              if p.read_text(encoding="utf-8") == text]
    assert len(cached) == 1, "the sandbox cache layout changed; adapt serve_instead"
    cached[0].write_text(rewrite(text), encoding="utf-8")
    try:
        yield
    finally:
        cached[0].unlink()


def bad_quantities(text: str) -> str:
    """Every 20th row gets a quantity that is not a number: 5 % rejected rows (limit 1 %)."""
    rows = list(csv.reader(io.StringIO(text)))
    column = rows[0].index("quantity")
    for n, row in enumerate(rows[1:], start=1):
        if n % 20 == 0:
            row[column] = "два"
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


CASES = {
    # name: (fault plan or file rewrite, failing task, words of the reason)
    "not_found": ({"not_found_dates": [DAY.isoformat()]}, "get_increment",
                  ["NOT FOUND", f"no increment for {DAY}"]),
    "empty_file": ({"file_faults": {DAY.isoformat(): "empty"}}, "download",
                   ["empty", "a header and no rows"]),
    "zero_bytes": ({"file_faults": {DAY.isoformat(): "zero_bytes"}}, "download",
                   ["empty", "0 bytes"]),
    "three_customers": ({"file_faults": {DAY.isoformat(): "few_customers"}},
                        "more_than_three_customers", ["distinct customers: 3"]),
    "ragged_rows": ({"file_faults": {DAY.isoformat(): "malformed"}}, "copy_to_staging",
                    ["refused", "missing data for column"]),
    "too_many_bad_rows": (bad_quantities, "reject_share_within_threshold",
                          ["reject_share_within_threshold", "rejected rows:", "limit 1.00 per cent"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failing_gate_fails_the_run_keeps_the_mart_and_sends_one_email(
        case, pipeline, dwh, loaded):
    fault, task, reason = CASES[case]
    if callable(fault):
        with serve_instead(pipeline.sandbox, DAY, fault):
            state, tasks = pipeline.daily(DAY)
    else:
        pipeline.sandbox.set_faults(fault)
        state, tasks = pipeline.daily(DAY)

    assert state == "failed"
    assert tasks[task][0] == "failed"
    assert [t for t, (s, _) in tasks.items() if s == "failed"] == [task]
    assert tasks["publish"][0] == "upstream_failed"
    assert mart_dump(dwh) == loaded  # the mart exactly as before

    mails = pipeline.smtp.take()
    assert len(mails) == 1, [m.subject for m in mails]
    mail = mails[0]
    assert mail.to == [ALERT_TO]
    assert "sales_mart_daily" in mail.subject and str(DAY) in mail.subject
    assert task in mail.subject
    for words in reason:
        assert words in mail.text, (words, mail.text)
    assert "/dags/sales_mart_daily/runs/" in mail.text and f"/tasks/{task}" in mail.text

    journal = fetch(dwh, "select status, error from staging.load_log "
                         "where delivery_date = %s order by load_id", (DAY,))
    if task in ("get_increment", "download"):
        assert journal == []  # nothing reached the warehouse
    else:  # the load is journalled as failed, with the reason
        assert len(journal) == 1 and journal[0][0] == "failed"
        assert reason[-1] in journal[0][1]


def test_transient_api_faults_are_retried_by_one_layer_each_and_the_run_succeeds(
        pipeline, dwh, loaded):
    pipeline.sandbox.set_faults({"endpoints": {
        # the report request refused: no report started, Airflow retries the task (one try more)
        "generate_report": [{"status": 503, "times": 1}],
        # transient answers to GETs: urllib3 retries inside the call, the task does not retry
        "get_report": [{"status": 429, "retry_after": 1, "times": 1}],
        "get_increment": [{"status": 502, "times": 1}],
        # a transfer cut in the middle: Airflow retries the download task
        "download": [{"cut_off": 0.5, "times": 1}],
    }})

    state, tasks = pipeline.daily(DAY)

    assert state == "success", tasks
    assert tasks["generate_report"] == ("success", 2)
    assert tasks["get_increment"] == ("success", 1)
    assert tasks["download"] == ("success", 2)
    counts = pipeline.sandbox.request_counts
    assert counts["generate_report"] == 2  # sent once per try: never twice within one
    # 502 + its urllib3 retry; then each download try asks for a fresh file URL
    assert counts["get_increment"] == 2 + 2
    assert counts["download"] == 2
    assert fetch(dwh, "select status from staging.load_log where delivery_date = %s",
                 (DAY,)) == [("merged",)]
    (landed,) = pipeline.landing.glob(f"increments/*_{DAY}_*.csv")
    expected = data.iter_increment_lines(DAY, seed=SEED, rows_per_day=ROWS_PER_DAY)
    assert landed.read_text(encoding="utf-8") == "".join(expected)  # complete despite the cut
    assert not pipeline.smtp.take()


def test_an_api_outage_is_retried_inside_the_call_only_then_fails_with_one_email(
        pipeline, dwh, loaded):
    """Retries do not stack: urllib3's attempts, then the task fails (no Airflow retry)."""
    pipeline.sandbox.set_faults({"endpoints": {"get_increment": [{"status": 503,
                                                                  "times": "always"}]}})
    state, tasks = pipeline.daily(DAY)

    assert state == "failed"
    assert tasks["get_increment"] == ("failed", 1)
    assert pipeline.sandbox.request_counts["get_increment"] == CLIENT_RETRY["total"] + 1
    (mail,) = pipeline.smtp.take()
    assert "HTTP 503" in mail.text and f"after {CLIENT_RETRY['total'] + 1} attempts" in mail.text
    assert mart_dump(dwh) == loaded


def test_a_report_request_left_without_answer_is_not_sent_again(pipeline, dwh, loaded):
    """The POST may have started a report: no second request, a failed run, an e-mail saying
    a report may be running and what to do."""
    pipeline.use_api_key(pipeline.sandbox.settings.api_key, read_timeout=0.5)
    pipeline.sandbox.set_faults({"endpoints": {"generate_report": [{"delay": 2.0,
                                                                    "times": "always"}]}})
    state, tasks = pipeline.daily(DAY)

    assert state == "failed"
    assert tasks["generate_report"] == ("failed", 1)
    assert pipeline.sandbox.request_counts["generate_report"] == 1
    (mail,) = pipeline.smtp.take()
    assert "may have reached the API" in mail.text and "run the date again" in mail.text


def test_a_wrong_api_key_fails_fast_with_one_email(pipeline, dwh, loaded):
    pipeline.use_api_key("not-the-key")

    state, tasks = pipeline.daily(DAY)

    assert state == "failed"
    assert tasks["generate_report"] == ("failed", 1)  # no Airflow retry
    assert pipeline.sandbox.request_counts == {"generate_report": 1}  # no client retry
    assert mart_dump(dwh) == loaded
    (mail,) = pipeline.smtp.take()
    assert "generate_report" in mail.subject and str(DAY) in mail.subject
    assert "HTTP 403" in mail.text and "not-the-key" not in mail.text


def test_history_run_failure_also_sends_one_email(pipeline, dwh):
    pipeline.sandbox.set_faults({"file_faults": {"history": "empty"}})
    state, tasks = pipeline.history()
    assert state == "failed" and tasks["download"][0] == "failed"
    (mail,) = pipeline.smtp.take()
    assert "sales_mart_history" in mail.subject and "download" in mail.subject
    assert json.dumps(fetch(dwh, "select count(*) from mart.f_sales")) == "[[0]]"


def test_a_date_outside_the_api_window_fails_saying_why_and_what_to_do(pipeline, dwh):
    """A date long before the catch-up start (and outside the API's window) still gets its tasks
    when a person runs it: it fails at get_increment, the e-mail names the way out."""
    day = dt.date(2023, 4, 13)
    state, tasks = pipeline.daily(day)

    assert state == "failed"
    assert tasks["generate_report"][0] == "success"
    assert tasks["get_increment"][0] == "failed"
    (mail,) = pipeline.smtp.take()
    assert str(day) in mail.subject and "get_increment" in mail.subject
    for words in ("NOT FOUND", "sales_mart_history", "7 days before today"):
        assert words in mail.text, (words, mail.text)
    assert fetch(dwh, "select count(*) from staging.load_log") == [(0,)]

# --- the checks after ingest and the publish, seen failing through the DAG -------------------


def dated_day_before(text: str) -> str:
    """The day's file with every row dated the day before (as if the API mixed up days)."""
    day_before = (DAY - dt.timedelta(days=1)).isoformat()
    return text.replace(f"{DAY.isoformat()}T", f"{day_before}T")


PLANTED = {
    # check: (table, trigger timing, trigger body, failing task, words of the reason)
    # Gates read what the ingest counted; a row spoiled after that count is caught where the
    # publish reads the rows (issue 15: the gates do not re-read the load).
    "staged_rows_valid": ("staging.user_order_log", "before insert", "for each row",
                          "new.quantity := 0; return new;", "publish",
                          "staged_rows_valid failed for load"),
    "rows_reconcile": ("staging.user_order_log", "after insert", "for each statement",
                       "delete from staging.user_order_log where (load_id, uniq_id) = "
                       "(select load_id, uniq_id from staging.user_order_log "
                       "order by 1 desc, 2 limit 1); return null;", "publish",
                       "rows_reconcile failed for load"),
    "net_revenue_reconciles": ("mart.f_sales", "before insert or update", "for each row",
                               "new.payment_amount := new.payment_amount + 0.01; return new;",
                               "publish", "net_revenue_reconciles failed"),
}


def plant(dwh, table, timing, per, body):
    with dwh.cursor() as cur:
        cur.execute("create function public.test_fault() returns trigger language plpgsql "
                    f"as $$ begin {body} end $$")
        cur.execute("grant execute on function public.test_fault() to sales_loader")
        cur.execute(f"create trigger test_fault {timing} on {table} {per} "
                    "execute function public.test_fault()")


def unplant(dwh, table):
    with dwh.cursor() as cur:
        cur.execute(f"drop trigger test_fault on {table}")
        cur.execute("drop function public.test_fault()")


def assert_failed_cleanly(pipeline, dwh, result, task, words, before):
    state, tasks = result
    assert state == "failed"
    assert [t for t, (s, _) in tasks.items() if s == "failed"] == [task]
    assert mart_dump(dwh) == before
    (mail,) = pipeline.smtp.take()
    assert task in mail.subject and words in mail.text
    (journal,) = fetch(dwh, "select status, error from staging.load_log "
                            "where delivery_date = %s order by load_id desc limit 1", (DAY,))
    assert journal[0] == "failed" and words in journal[1]


@pytest.mark.parametrize("check", list(PLANTED))
def test_each_check_fails_the_run_through_the_dag(check, pipeline, dwh, loaded):
    table, timing, per, body, task, words = PLANTED[check]
    plant(dwh, table, timing, per, body)
    assert_failed_cleanly(pipeline, dwh, pipeline.daily(DAY), task, words, loaded)


def test_a_file_dated_another_day_fails_its_gate_through_the_dag(pipeline, dwh, loaded):
    with serve_instead(pipeline.sandbox, DAY, dated_day_before):
        result = pipeline.daily(DAY)
    assert_failed_cleanly(pipeline, dwh, result, "rows_dated_on_delivery_day",
                          f"not the delivery day {DAY}", loaded)


def test_a_failed_redelivery_keeps_the_published_day_then_a_rerun_lands(pipeline, dwh, loaded):
    """Publish D; a re-run of D fails at publish (the mart and D's published rows stay as they
    were); a later re-run of D succeeds and gives the same mart as the first. (The re-run
    delivers the same file, so the publish writes no fact: the fault is planted where every
    publish writes, the switch of D's published delivery to the new load.)"""
    state, _ = pipeline.daily(DAY)
    assert state == "success"
    published = mart_dump(dwh)
    staged = fetch(dwh, "select load_id, count(*) from staging.user_order_log "
                        "where delivery_date = %s group by 1", (DAY,))

    table, timing, per, body, task, words = (
        "staging.published_delivery", "before update", "for each row",
        "raise exception 'planted publish fault'; return new;", "publish", "planted publish fault")
    plant(dwh, table, timing, per, body)
    assert_failed_cleanly(pipeline, dwh, pipeline.daily(DAY), task, words, published)
    assert fetch(dwh, "select load_id, count(*) from staging.user_order_log "
                      "where delivery_date = %s group by 1", (DAY,)) == staged
    unplant(dwh, table)

    state, _ = pipeline.daily(DAY)
    assert state == "success"
    assert mart_dump(dwh) == published
    assert fetch(dwh, "select status from staging.load_log where delivery_date = %s "
                      "order by load_id", (DAY,)) == [("superseded",), ("failed",), ("merged",)]


def test_a_day_stopped_by_a_gate_never_reaches_the_mart_through_a_later_report(
        pipeline, dwh, files, loaded, fresh_warehouse):
    pipeline.sandbox.set_faults({"file_faults": {DAY.isoformat(): "few_customers"}})
    state, tasks = pipeline.daily(DAY)
    assert state == "failed" and tasks["more_than_three_customers"][0] == "failed"
    pipeline.smtp.take()

    # A full report that covers DAY (and the day before), loaded afterwards.
    report = files / "report.csv"
    data.write_history(report, end_date=DAY, seed=SEED, rows_per_day=ROWS_PER_DAY)
    warehouse.load_file(report, history=True)

    other = fresh_warehouse()
    history = files / "history.csv"
    first = files / "first.csv"
    for path, day in ((history, None), (first, FIRST_DAY), (report, None)):
        warehouse.load_file(path, delivery_date=day, history=day is None, url=other)
    conn = psycopg2.connect(other)
    try:
        assert mart_dump(dwh) == mart_dump(conn)
    finally:
        conn.close()


def test_the_failure_email_escapes_what_it_quotes_and_names_the_next_step(pipeline, dwh,
                                                                          loaded):
    """An API answer with markup is quoted as text, not rendered; the e-mail says what to do."""
    pipeline.sandbox.set_faults({"endpoints": {"get_increment": [
        {"body": "<html><script>alert(1)</script>Bad gateway</html>", "times": "always"}]}})
    state, tasks = pipeline.daily(DAY)

    assert state == "failed" and tasks["get_increment"][0] == "failed"
    (mail,) = pipeline.smtp.take()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Bad gateway" in mail.text
    assert "<script>" not in mail.text
    assert "Next step:" in mail.text
    stamp = f"{DAY}T00:00:00+00:00"  # the run's logical date; its test: test_rerun_command.py
    assert (f"airflow tasks clear sales_mart_daily --start-date {stamp} --end-date {stamp} "
            "--yes") in mail.text
    assert "dags test" not in mail.text  # deletes the run, bypasses executor and deadline
    assert "sales_api" in mail.text


def test_a_report_stuck_running_fails_at_the_sensor_deadline(pipeline, dwh, loaded,
                                                             monkeypatch):
    """wait_for_report gives up at SALES_MART_REPORT_DEADLINE: the run fails once, with one
    e-mail, and no second report is requested."""
    pipeline.dagbag = parse_daily(monkeypatch, SALES_MART_REPORT_DEADLINE="2")
    pipeline.sandbox.set_faults({"stuck_running": True})
    state, tasks = pipeline.daily(DAY)

    assert state == "failed"
    assert tasks["wait_for_report"] == ("failed", 1)
    assert pipeline.sandbox.request_counts["generate_report"] == 1
    assert pipeline.sandbox.request_counts["get_report"] >= 2
    (mail,) = pipeline.smtp.take()
    assert "wait_for_report" in mail.subject
    assert mart_dump(dwh) == loaded
