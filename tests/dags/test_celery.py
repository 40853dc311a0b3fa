"""The DAGs on CeleryExecutor: the machine's Redis as broker, two Celery workers whose local
folders differ, raw files archived on S3 (moto's server). A cluster policy sends `download` to
one worker and `copy_to_staging` to the other, so the COPY can only read what the download
archived. The mart equals the one `dag.test` (in-process, LocalExecutor-like) builds.

Real processes: `airflow api-server`, `scheduler`, `dag-processor` and two `celery worker`s on
a metadata database of their own in the machine's PostgreSQL; nothing is mocked.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import psycopg2
import pytest
from conftest import ALERT_TO, DAGS_DIR, DAYS, FIRST_DAY, REPO, _free_port, dwh_connection
from orders import mart_dump

# `make test` (two pytest-xdist workers) runs the modules that start Airflow's own processes or
# the demo on one worker, one after another, while the other worker runs the rest.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("airflow-processes")]

REDIS = "redis://127.0.0.1:6379/0"
PG = "postgres@127.0.0.1:5432"
RUN_TIMEOUT = 600  # seconds a run may take before the test gives up (not a speed assertion)

LOCAL_SETTINGS = """
# Cluster policy of this test only: download on worker A, the COPY on worker B.
import os


def task_policy(task):
    if task.task_id == "download":
        task.queue = os.environ["TEST_QUEUE_A"]
    elif task.task_id == "copy_to_staging":
        task.queue = os.environ["TEST_QUEUE_B"]
"""
WORKER_NAME = """
import os
import socket


def hostname():
    return os.environ.get("TEST_WORKER_NAME") or socket.getfqdn()
"""


class Stack:
    """The Airflow processes of the test, each with its log file; stops them all."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.env, self.procs = home, env, []
        self.airflow = str(Path(sys.executable).with_name("airflow"))

    def run(self, *args: str) -> str:
        done = subprocess.run([self.airflow, *args], env=self.env, capture_output=True,
                              text=True, timeout=300, check=False)
        assert done.returncode == 0, f"airflow {' '.join(args)}: {done.stderr[-3000:]}"
        return done.stdout

    def start(self, name: str, *args: str, cwd: Path | None = None, **env: str) -> None:
        log = open(self.home / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen([self.airflow, *args], env={**self.env, **env}, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=cwd)
        self.procs.append((name, proc, log))

    def logs(self) -> str:
        return "\n".join(f"--- {name}.log ---\n" + (self.home / f"{name}.log").read_text()[-4000:]
                         for name, _, _ in self.procs)

    def stop(self) -> None:
        for _, proc, _ in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for _, proc, log in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


@pytest.fixture
def metadata_db():
    name = f"airflow_celery_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = psycopg2.connect(f"postgresql://{PG}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create database "{name}"')
    yield name
    with admin.cursor() as cur:
        cur.execute(f'drop database if exists "{name}" with (force)')
    admin.close()


def wait_for_run(meta, dag_id: str, run_id: str, stack: Stack) -> str:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        with meta.cursor() as cur:
            cur.execute("select state from dag_run where dag_id = %s and run_id = %s",
                        (dag_id, run_id))
            row = cur.fetchone()
        if row and row[0] in ("success", "failed"):
            return row[0]
        time.sleep(2)
    raise AssertionError(f"{dag_id} {run_id} did not finish\n{stack.logs()}")


def test_a_day_on_celery_with_two_workers_gives_the_local_mart(
        pipeline, sandbox, smtp_sink, s3_server, metadata_db, fresh_warehouse, tmp_path):
    from cryptography.fernet import Fernet

    day = DAYS[1]
    bucket = f"celery-archive-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    warehouse_url = fresh_warehouse()
    home = tmp_path / "airflow"
    (home / "config").mkdir(parents=True)
    (home / "config" / "airflow_local_settings.py").write_text(textwrap.dedent(LOCAL_SETTINGS))
    (home / "config" / "worker_name.py").write_text(textwrap.dedent(WORKER_NAME))
    tag = uuid.uuid4().hex[:8]
    queues = {"default": f"sm-default-{tag}", "a": f"sm-a-{tag}", "b": f"sm-b-{tag}"}
    api_port = _free_port()
    meta_url = f"postgresql+psycopg2://{PG}/{metadata_db}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "PYTEST", "SALES_MART_"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": meta_url,
        "AIRFLOW__CELERY__BROKER_URL": REDIS,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG}/{metadata_db}",
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queues["default"],
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_name.hostname",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # No scheduled run (the timetable starts in 2099): only the runs triggered below.
        "SALES_MART_START_DATE": "2099-01-01",
        "SALES_MART_POLL_INTERVAL": "1",
        "SALES_MART_API_RETRIES": "1",
        "SALES_MART_API_RETRY_DELAY": "1",
        "TEST_QUEUE_A": queues["a"],
        "TEST_QUEUE_B": queues["b"],
        "AIRFLOW_CONN_SALES_API": json.dumps({
            "conn_type": "http", "host": sandbox.base_url, "password": sandbox.settings.api_key,
            "extra": {"nickname": "celery-test", "cohort": "4"}}),
        "AIRFLOW_CONN_SALES_DWH": dwh_connection(warehouse_url),
        "AIRFLOW_CONN_SALES_SMTP": json.dumps({
            "conn_type": "smtp", "host": smtp_sink.host, "port": smtp_sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0}}),
        "AIRFLOW_CONN_SALES_ARCHIVE": s3_server.connection(),
        "AIRFLOW_VAR_SALES_MART_ALERT_EMAIL": ALERT_TO,
        "AIRFLOW_VAR_SALES_MART_ARCHIVE_URL": f"s3://{bucket}/raw/",
        "AIRFLOW_VAR_SALES_MART_ARCHIVE_CONN_ID": "sales_archive",
    })
    stack = Stack(home, env)
    meta = None
    try:
        stack.run("db", "migrate")
        stack.start("api-server", "api-server", "--port", str(api_port))
        stack.start("scheduler", "scheduler")
        stack.start("dag-processor", "dag-processor")
        # Two "machines": each worker runs in its own folder with the relative local folder
        # `landing`, so a path one worker writes names nothing on the other.
        for name, queue in (("a", queues["a"]), ("b", queues["b"])):
            machine = tmp_path / f"worker-{name}"
            machine.mkdir()
            stack.start(f"worker-{name}", "celery", "worker", "--concurrency", "1",
                        "--queues", f"{queues['default']},{queue}",
                        "--celery-hostname", f"worker-{name}-{tag}@%h", cwd=machine,
                        TEST_WORKER_NAME=f"worker-{name}", SALES_MART_LANDING_DIR="landing",
                        PYTHONPATH=str(REPO))  # this checkout's package, whatever the cwd
        meta = psycopg2.connect(f"postgresql://{PG}/{metadata_db}")
        meta.autocommit = True
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            with meta.cursor() as cur:
                cur.execute("select count(*) from dag where dag_id like 'sales_mart_%%'")
                if cur.fetchone()[0] == 2:
                    break
            time.sleep(2)
        else:
            raise AssertionError(f"the DAGs were not parsed\n{stack.logs()}")

        for dag_id, logical in (("sales_mart_history", FIRST_DAY), ("sales_mart_daily", day)):
            run_id = f"celery_{dag_id}_{tag}"
            stack.run("dags", "trigger", dag_id, "--run-id", run_id,
                      "--logical-date", f"{logical.isoformat()}T00:00:00+00:00")
            state = wait_for_run(meta, dag_id, run_id, stack)
            assert state == "success", stack.logs()

        with meta.cursor() as cur:
            cur.execute("select task_id, queue, hostname from task_instance where dag_id = %s "
                        "and task_id in ('download', 'copy_to_staging') order by task_id",
                        ("sales_mart_daily",))
            placed = cur.fetchall()
    finally:
        if meta is not None:
            meta.close()
        stack.stop()

    # the COPY ran on the other worker, whose local folder never held the downloaded file
    assert placed == [("copy_to_staging", queues["b"], "worker-b"),
                      ("download", queues["a"], "worker-a")]
    assert not [p for p in (tmp_path / "worker-b").rglob("*") if p.is_file()]
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) == 2

    # the same two runs in-process (dag.test) into another warehouse: the same mart
    pipeline.use_warehouse(other := fresh_warehouse())
    for state, tasks in (pipeline.history(FIRST_DAY), pipeline.daily(day)):
        assert state == "success", tasks
    dumps = []
    for url in (warehouse_url, other):
        conn = psycopg2.connect(url)
        try:
            dumps.append(mart_dump(conn))
        finally:
            conn.close()
    assert dumps[0]["mart.f_sales"] and dumps[0] == dumps[1]
    assert not smtp_sink.take()

