"""Fixtures of the DAG tests: real Airflow (``dag.test()`` on a SQLite metadata DB made once per
session, see the Airflow block of tests/conftest.py), a fresh warehouse per test (``dwh_url``),
the sandbox report API over HTTP on 127.0.0.1, and an aiosmtpd sink catching the alert e-mails.

Connections and Variables reach Airflow as ``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*`` environment
variables, set per test. Retry delays are tiny so the retry tests take seconds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email
import email.policy
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sales_mart import localstack

# Airflow's execution API imports svcs.fastapi, whose import of starlette's test client warns
# (a dependency's warning; see localstack.import_svcs_quietly): imported once, that warning off.
localstack.import_svcs_quietly()

# Parse-time settings of the DAG files (environment only): fast Airflow retries of API tasks.
os.environ["SALES_MART_API_RETRIES"] = "2"
os.environ["SALES_MART_API_RETRY_DELAY"] = "0.2"
os.environ["SALES_MART_API_MAX_RETRY_DELAY"] = "1"
os.environ["SALES_MART_START_DATE"] = "2024-03-04"
os.environ["SALES_MART_POLL_INTERVAL"] = "0.2"  # the wait_for_report sensor's pokes
os.environ["SALES_MART_REPORT_DEADLINE"] = "30"
# dag.test() cannot finish a successful run of a DAG with a deadline alert (Airflow 3.3.2, see
# sales_mart.airflow.alerts.under_dags_test); test_freshness.py parses the DAG with its alert.
os.environ["SALES_MART_FRESHNESS_HOURS"] = "0"

REPO = Path(__file__).resolve().parents[2]
DAGS_DIR = REPO / "dags"
API_KEY = "dag-test-key-7f3a91"
SEED = 23
ROWS_PER_DAY = 200
FIRST_DAY = dt.date(2024, 3, 4)  # a Monday; the window's first increment (old format)
DAYS = [FIRST_DAY + dt.timedelta(days=n) for n in range(7)]
ALERT_TO = "data-team@example.com"
# The client's in-call retries (urllib3): the production shape with tiny waits.
CLIENT_RETRY = {"total": 2, "backoff_factor": 0.01, "backoff_max": 0.05, "retry_after_max": 2}


@pytest.fixture(scope="session")
def airflow_db():
    """The Airflow metadata DB (SQLite in the session's AIRFLOW_HOME), created once."""
    from airflow.utils import db

    db.initdb()
    return os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


@pytest.fixture(scope="session")
def dagbag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    from sales_mart.sandbox.server import run_in_thread

    server = run_in_thread(api_key=API_KEY, seed=SEED, rows_per_day=ROWS_PER_DAY,
                           start_date=DAYS[0], end_date=DAYS[-1], running_polls=1,
                           cache_dir=tmp_path_factory.mktemp("sandbox-cache"))
    yield server
    server.stop()


@dataclass
class Mail:
    to: list[str]
    sender: str
    subject: str
    text: str


@dataclass
class SmtpSink:
    host: str
    port: int
    messages: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd handler hook
        msg = email.message_from_bytes(envelope.original_content or envelope.content,
                                       policy=email.policy.default)
        parts = [p.get_content() for p in msg.walk() if p.get_content_maintype() == "text"]
        with self.lock:
            self.messages.append(Mail(list(envelope.rcpt_tos), envelope.mail_from,
                                      str(msg["subject"]), "\n".join(parts)))
        return "250 OK"

    def take(self) -> list[Mail]:
        with self.lock:
            taken, self.messages[:] = list(self.messages), []
        return taken


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def smtp_sink():
    from aiosmtpd.controller import Controller

    sink = SmtpSink("127.0.0.1", _free_port())
    controller = Controller(sink, hostname=sink.host, port=sink.port)
    controller.start()
    yield sink
    controller.stop()


# dag.test() (airflow/sdk/definitions/dag.py, Airflow 3.3.2) sleeps a fixed 1 s whenever no task
# of the run can start yet: while a task waits out its retry delay or its reschedule, and once
# for each task after a failed one, as it marks them upstream_failed one by one (12 s for a run
# failing at its first task). That sleep only paces dag.test's own loop: when a task may run is
# decided by the task's state and dates, which every turn of the loop reads again; so the loop
# turns every 0.05 s here. Nothing else's sleep changes (the caller's frame is checked).
DAG_TEST_IDLE_SLEEP = 0.05


@contextlib.contextmanager
def dag_test_idle_sleep(seconds: float = DAG_TEST_IDLE_SLEEP):
    from airflow.sdk.definitions.dag import DAG

    loop, real_sleep = DAG.test.__code__, time.sleep

    def sleep(wanted: float) -> None:
        real_sleep(min(wanted, seconds) if sys._getframe(1).f_code is loop else wanted)

    time.sleep = sleep
    try:
        yield
    finally:
        time.sleep = real_sleep


def dwh_connection(url: str) -> str:
    parts = urlsplit(url)
    return json.dumps({"conn_type": "postgres", "host": parts.hostname, "port": parts.port,
                       "login": parts.username, "schema": parts.path.lstrip("/")})


@dataclass
class Pipeline:
    """The Airflow side of one test: run a DAG for a date, read its task states."""

    dagbag: object
    sandbox: object
    smtp: SmtpSink
    landing: Path
    monkeypatch: object
    last_run_id: str | None = None

    def use_warehouse(self, url: str) -> None:
        self.monkeypatch.setenv("AIRFLOW_CONN_SALES_DWH", dwh_connection(url))

    def use_api_key(self, key: str, **extra) -> None:
        self.monkeypatch.setenv("AIRFLOW_CONN_SALES_API", json.dumps({
            "conn_type": "http", "host": self.sandbox.base_url, "password": key,
            "extra": {"nickname": "dag-tests", "cohort": "4", **extra}}))

    def run(self, dag_id: str, day: dt.date) -> tuple[str, dict[str, tuple[str, int]]]:
        """``dag.test`` for one logical date; returns the run state and task states/tries."""
        from airflow.models.taskinstance import TaskInstance
        from airflow.sdk import timezone
        from airflow.utils.session import create_session

        dag = self.dagbag.get_dag(dag_id)
        with dag_test_idle_sleep():
            run = dag.test(logical_date=timezone.datetime(day.year, day.month, day.day))
        self.last_run_id = run.run_id
        with create_session() as session:
            tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag_id,
                                                     TaskInstance.run_id == run.run_id)
            states = {ti.task_id: (str(ti.state), ti.try_number) for ti in tis}
        return str(run.state), states

    def daily(self, day: dt.date):
        return self.run("sales_mart_daily", day)

    def history(self, day: dt.date = FIRST_DAY):
        return self.run("sales_mart_history", day)


def parse_daily(monkeypatch, **env: str):
    """A DagBag of the daily DAG parsed with these parse-time settings (environment), for a
    test that needs other ones than the session's."""
    from airflow.dag_processing.dagbag import DagBag

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return DagBag(dag_folder=str(DAGS_DIR / "sales_mart_daily.py"))


@pytest.fixture
def pipeline(dagbag, sandbox, smtp_sink, dwh_url, tmp_path, monkeypatch) -> Pipeline:
    landing = tmp_path / "landing"
    for name in ("SALES_MART_LANDING_DIR", "SALES_MART_MAX_REJECT_SHARE", "SALES_MART_API_RETRY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_SALES_SMTP", json.dumps({
        "conn_type": "smtp", "host": smtp_sink.host, "port": smtp_sink.port,
        "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 10}}))
    monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_ALERT_EMAIL", ALERT_TO)
    monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_LANDING_DIR", str(landing))
    monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_API_RETRY", json.dumps(CLIENT_RETRY))
    sandbox.clear_faults()
    smtp_sink.take()
    p = Pipeline(dagbag, sandbox, smtp_sink, landing, monkeypatch)
    p.use_warehouse(dwh_url)
    p.use_api_key(API_KEY)
    yield p
    sandbox.clear_faults()


@dataclass
class S3Server:
    """moto's S3 stand-in, a real HTTP server on 127.0.0.1 (a separate process)."""

    url: str
    process: object

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def connection(self) -> str:
        """An Airflow ``aws`` connection (JSON) to this server."""
        return json.dumps({"conn_type": "aws", "login": "testing", "password": "testing",
                           "extra": {"endpoint_url": self.url, "region_name": "us-east-1"}})


@pytest.fixture(scope="session")
def s3_server():
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except OSError:
            if process.poll() is not None:
                raise RuntimeError("moto_server exited at start") from None
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("moto_server did not answer within 30 s")
    yield S3Server(url, process)
    process.terminate()
    process.wait(timeout=10)
