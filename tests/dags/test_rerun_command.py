"""The failure e-mail's next step is a command that is safe to run: on a real failed run (the
scheduler, the LocalExecutor and the API server as processes, metadata in PostgreSQL), the
command the e-mail recommends re-runs the whole day through the scheduler, the day lands, and
the mart equals the one the command line builds from the same file. (Not `airflow dags test`,
which the e-mails said before: it deletes the run and bypasses the executor.)"""

from __future__ import annotations

import html
import json
import os
import re
import secrets
import shlex
import subprocess
import time

import psycopg2
import pytest
from conftest import ALERT_TO, DAGS_DIR, DAYS, ROWS_PER_DAY, SEED, _free_port, dwh_connection
from orders import mart_dump
from test_celery import PG, Stack, metadata_db, wait_for_run  # noqa: F401 - fixture

from sales_mart import warehouse
from sales_mart.sandbox import data

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-processes")]

DAY = DAYS[1]


def test_the_recommended_command_reruns_a_failed_day_and_the_mart_ends_right(
        pipeline, sandbox, smtp_sink, metadata_db, fresh_warehouse, tmp_path):  # noqa: F811
    from cryptography.fernet import Fernet

    warehouse_url = fresh_warehouse()
    home = tmp_path / "airflow"
    home.mkdir()
    api_port = _free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "PYTEST", "SALES_MART_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{PG}/{metadata_db}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "SALES_MART_START_DATE": "2099-01-01",  # no scheduled run: only the one triggered
        "SALES_MART_FRESHNESS_HOURS": "0",
        "SALES_MART_POLL_INTERVAL": "1",
        "SALES_MART_LANDING_DIR": str(tmp_path / "landing"),
        "AIRFLOW_CONN_SALES_API": json.dumps({
            "conn_type": "http", "host": sandbox.base_url, "password": sandbox.settings.api_key,
            "extra": {"nickname": "rerun-test", "cohort": "4"}}),
        "AIRFLOW_CONN_SALES_DWH": dwh_connection(warehouse_url),
        "AIRFLOW_CONN_SALES_SMTP": json.dumps({
            "conn_type": "smtp", "host": smtp_sink.host, "port": smtp_sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0}}),
        "AIRFLOW_VAR_SALES_MART_ALERT_EMAIL": ALERT_TO,
    })
    stack = Stack(home, env)
    meta = None
    run_id = f"rerun_{secrets.token_hex(4)}"
    try:
        stack.run("db", "migrate")
        stack.start("api-server", "api-server", "--port", str(api_port))
        stack.start("scheduler", "scheduler")
        stack.start("dag-processor", "dag-processor")
        meta = psycopg2.connect(f"postgresql://{PG}/{metadata_db}")
        meta.autocommit = True
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with meta.cursor() as cur:
                cur.execute("select count(*) from dag where dag_id = 'sales_mart_daily'")
                if cur.fetchone()[0]:
                    break
            time.sleep(2)
        else:
            raise AssertionError(f"the DAG was not parsed\n{stack.logs()}")

        # gate 2 fails: the day's file has three customers
        sandbox.set_faults({"file_faults": {DAY.isoformat(): "few_customers"}})
        stack.run("dags", "trigger", "sales_mart_daily", "--run-id", run_id,
                  "--logical-date", f"{DAY.isoformat()}T00:00:00+00:00")
        assert wait_for_run(meta, "sales_mart_daily", run_id, stack) == "failed"
        deadline = time.monotonic() + 60
        while not smtp_sink.messages and time.monotonic() < deadline:
            time.sleep(1)
        (mail,) = smtp_sink.take()
        assert "more_than_three_customers" in mail.subject
        command = re.search(r"`(airflow tasks clear [^`]+)`", html.unescape(mail.text)).group(1)

        # the cause goes away (the API serves the real file again); run what the e-mail says
        sandbox.clear_faults()
        argv = shlex.split(command)
        done = subprocess.run([stack.airflow, *argv[1:]], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the cleared run goes back to queued, then runs
            with meta.cursor() as cur:
                cur.execute("select state from dag_run where run_id = %s", (run_id,))
                if cur.fetchone()[0] != "failed":
                    break
            time.sleep(1)
        assert wait_for_run(meta, "sales_mart_daily", run_id, stack) == "success", stack.logs()
        with meta.cursor() as cur:
            cur.execute("select task_id, state, try_number from task_instance "
                        "where run_id = %s", (run_id,))
            tasks = {task: (state, tries) for task, state, tries in cur.fetchall()}
    finally:
        if meta is not None:
            meta.close()
        stack.stop()

    # the whole day ran again from its first task (a new report, a new load), not only the
    # failed gate, and every task succeeded
    assert {state for state, _ in tasks.values()} == {"success"}, tasks
    assert tasks["generate_report"][1] == tasks["copy_to_staging"][1] == 2, tasks
    assert tasks["more_than_three_customers"][1] == 2
    conn = psycopg2.connect(warehouse_url)
    try:
        with conn.cursor() as cur:
            cur.execute("select status from staging.load_log where delivery_date = %s "
                        "order by load_id", (DAY,))
            assert [s for (s,) in cur.fetchall()] == ["failed", "merged"]
        published = mart_dump(conn)
    finally:
        conn.close()

    # the mart is the one the command line builds from the day's file
    expected_url = fresh_warehouse()
    increment = tmp_path / "day.csv"
    data.write_increment(increment, DAY, seed=SEED, rows_per_day=ROWS_PER_DAY)
    warehouse.load_file(increment, delivery_date=DAY, url=expected_url)
    conn = psycopg2.connect(expected_url)
    try:
        assert published["mart.f_sales"] and published == mart_dump(conn)
    finally:
        conn.close()
    assert not smtp_sink.take()  # the re-run sent no e-mail
