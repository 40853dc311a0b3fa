"""Issue 16 item 2, the Airflow side: every warehouse session a task opens (psycopg2 in the
``@task`` tasks, ``PostgresHook`` in the SQL operators) carries the lock and statement timeouts
and the role of ``sales_mart.config.dwh_session_options``; a task that waits too long fails
with a message naming what it waited for, and so does a warehouse statement blocked by a lock."""

from __future__ import annotations

import pytest
from conftest import DAYS, parse_daily
from orders import fetch

pytestmark = pytest.mark.slow

DAY = DAYS[1]


def test_every_task_session_carries_the_timeouts_and_the_role(pipeline, dwh, monkeypatch):
    """A trigger on the load journal, written by copy_to_staging and ingest (psycopg2) and by
    publish (PostgresHook), records the settings of the session that wrote it, from inside."""
    monkeypatch.setenv("SALES_MART_LOCK_TIMEOUT", "1234ms")
    monkeypatch.setenv("SALES_MART_STATEMENT_TIMEOUT", "17min")
    with dwh.cursor() as cur:
        cur.execute("""
            create table public.session_seen (pid int, app text, lock_timeout text,
                statement_timeout text, role text, op text);
            create function public.record_session() returns trigger language plpgsql
                security definer set search_path = pg_catalog as $$
            begin
                insert into public.session_seen values (pg_backend_pid(),
                    current_setting('application_name'), current_setting('lock_timeout'),
                    current_setting('statement_timeout'), current_setting('role'), tg_op);
                return null;
            end $$;
            grant execute on function public.record_session() to sales_loader;
            create trigger record_session after insert or update on staging.load_log
                for each statement execute function public.record_session();
        """)
    state, tasks = pipeline.daily(DAY)
    assert state == "success", tasks
    seen = fetch(dwh, "select pid, app, lock_timeout, statement_timeout, role from "
                      "public.session_seen")
    assert {row[2:] for row in seen} == {("1234ms", "17min", "sales_loader")}
    apps = {row[1] for row in seen}
    assert "sales_mart_airflow" in apps  # the @task tasks' psycopg2 sessions
    assert len(apps) == 2  # and PostgresHook's (publish), which names itself otherwise
    assert len({row[0] for row in seen}) >= 3  # copy_to_staging, ingest, publish


def test_sql_operators_get_the_session_options(dagbag):
    from sales_mart.airflow import dwh

    for dag_id in ("sales_mart_daily", "sales_mart_history"):
        for task in dagbag.get_dag(dag_id).tasks:
            if hasattr(task, "hook_params"):
                assert task.hook_params == dwh.hook_params(), task.task_id
    assert "-c lock_timeout=" in dwh.hook_params()["options"]


def test_a_task_out_of_time_fails_naming_what_it_waited_for(pipeline, monkeypatch):
    pipeline.dagbag = parse_daily(monkeypatch, SALES_MART_API_TASK_TIMEOUT="1")
    pipeline.sandbox.set_faults({"endpoints": {"generate_report": [{"delay": 4.0,
                                                                    "times": "always"}]}})
    state, tasks = pipeline.daily(DAY)
    assert state == "failed"
    assert tasks["generate_report"] == ("failed", 1)  # no retry of a timeout
    (mail,) = pipeline.smtp.take()
    assert ("generate_report ran longer than its execution_timeout (1 s, "
            "SALES_MART_API_TASK_TIMEOUT) waiting for the report API (connection sales_api)"
            ) in mail.text, mail.text


def test_a_statement_blocked_by_a_lock_fails_naming_the_lock_timeout(pipeline, dwh_url,
                                                                     monkeypatch):
    import psycopg2

    monkeypatch.setenv("SALES_MART_LOCK_TIMEOUT", "1s")
    holder = psycopg2.connect(dwh_url)  # another session holding the journal
    try:
        with holder.cursor() as cur:
            cur.execute("lock table staging.load_log in access exclusive mode")
        state, tasks = pipeline.daily(DAY)
    finally:
        holder.rollback()
        holder.close()
    assert state == "failed"
    assert tasks["copy_to_staging"][0] == "failed"
    (mail,) = pipeline.smtp.take()
    assert ("copy_to_staging waited longer than lock_timeout (1s, SALES_MART_LOCK_TIMEOUT) for "
            "a lock in the warehouse (connection sales_dwh) that another session holds"
            ) in mail.text, mail.text
