"""The pieces `make demo` and `make airflow` start on a developer's machine: a warehouse (the one
at SALES_DWH_URL, or a private PostgreSQL in a project folder), an SMTP sink, and the Airflow
environment (connections and variables as AIRFLOW_* variables) that points the DAGs at them.
"""

from __future__ import annotations

import glob
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2

from sales_mart import config, warehouse

# Where local runs keep their state (private PostgreSQL, Airflow home, landing files).
VAR_DIR = Path(os.environ.get("SALES_MART_VAR_DIR", config.PROJECT_ROOT / "var"))

# Airflow masks every extra of a connection in its logs, like a password, and skips (with a
# warning) any secret shorter than 5 characters; a 5-character one such as "local" would also
# turn every "localhost" into "***host". So the local stack's extras are long and unlike any
# other log text.
LOCAL_NICKNAME, LOCAL_COHORT = "local-nickname", "local-cohort"

# A dependency's warning, filtered exactly. Airflow's execution API imports svcs.fastapi, which
# imports fastapi.testclient; with httpx installed (Airflow 3.3 pins it) instead of httpx2,
# starlette warns at that import (StarletteDeprecationWarning, a UserWarning). Nothing here uses
# a test client and the pin is Airflow's, so exactly this warning is ignored, nothing else.
TESTCLIENT_WARNING = "Using `httpx` with `starlette.testclient` is deprecated"
TESTCLIENT_WARNING_MODULE = "fastapi.testclient"  # the import the warning is attributed to


def import_svcs_quietly() -> None:
    """For Airflow in this process (`make demo`): import svcs.fastapi once with exactly that
    warning ignored; the module stays imported, so Airflow's own import of it is silent."""
    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape(TESTCLIENT_WARNING),
                                category=StarletteDeprecationWarning,
                                module=re.escape(TESTCLIENT_WARNING_MODULE))
        import svcs.fastapi  # noqa: F401


def pythonwarnings_without_testclient_warning(current: str | None) -> str:
    """PYTHONWARNINGS for Airflow's own processes (`make airflow`): the same filter added to
    `current`. The -W syntax cannot name StarletteDeprecationWarning (its module is not
    importable yet when Python reads the option), so the category is its base UserWarning; the
    message and the module still select exactly this warning."""
    rule = f"ignore:{TESTCLIENT_WARNING}:UserWarning:{TESTCLIENT_WARNING_MODULE}"
    return ",".join(filter(None, [current, rule]))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str) -> bool:
    """True when a PostgreSQL server accepts connections for the URL's server."""
    try:
        psycopg2.connect(url, dbname="postgres", connect_timeout=3).close()
        return True
    except psycopg2.OperationalError:
        return False


def postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PrivatePostgres:
    """A PostgreSQL server in a project folder, for machines with binaries but no server.

    PostgreSQL refuses to run as root, so as root it runs as the `postgres` user (runuser)."""

    data_dir: Path
    port: int
    bin_dir: Path
    started: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/sales_mart"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self) -> None:
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.data_dir.mkdir(exist_ok=True)
            shutil.chown(self.data_dir, "postgres", "postgres")
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--locale=C.UTF-8")
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
                  "-o", f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1", "-w", "start")
        self.started = True

    def stop(self) -> None:
        if self.started:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
            self.started = False


class NoWarehouse(RuntimeError):
    pass


def ensure_warehouse(url: str, say=print) -> tuple[str, PrivatePostgres | None]:
    """The URL to use and the private server started for it (None when one already answered)."""
    if answers(url):
        return url, None
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise NoWarehouse(
            f"no PostgreSQL answers at {warehouse.redact_url(url)} and no server binaries are installed: "
            "set SALES_DWH_URL=postgresql://USER:PASSWORD@HOST:PORT/sales_mart, "
            "or run `docker compose up -d warehouse` (see docs/docker.md)"
        )
    server = PrivatePostgres(VAR_DIR / "pgdata", free_port(), bin_dir)
    say(f"no PostgreSQL answers at {warehouse.redact_url(url)}; starting a private server in "
        f"{server.data_dir} on port {server.port}")
    try:
        server.start()
    except RuntimeError as exc:
        raise NoWarehouse(
            f"no PostgreSQL answers at {warehouse.redact_url(url)} and a private server in "
            f"{server.data_dir} did not start ({' '.join(str(exc).split())}); set SALES_DWH_URL "
            "to a reachable server"
        ) from None
    return server.url, server


def airflow_environment(
    *,
    home: Path,
    dwh_url: str,
    api_base_url: str,
    api_key: str,
    smtp_port: int,
    landing_dir: Path,
    start_date: str,
    alert_email: str = "data-team@localhost",
    metadata_url: str | None = None,
) -> dict[str, str]:
    """AIRFLOW_* settings, connections and variables pointing the DAGs at local services.
    Airflow's metadata in ``metadata_url``, by default SQLite in ``home`` (enough for
    `dag.test`, which alone writes to it)."""
    dwh = urlsplit(dwh_url)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url or f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        # The key signing the API's tokens: Airflow's generated default (16 bytes) draws an
        # InsecureKeyLengthWarning (HS512 wants 64 bytes or more); a fresh 64-byte one per start.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "SALES_MART_START_DATE": start_date,
        # The retention Assets' URIs name this warehouse, as lineage does (sales_mart.airflow.lineage).
        "SALES_MART_WAREHOUSE_URI": (f"postgres://{dwh.hostname}:{dwh.port or 5432}/"
                                     f"{dwh.path.lstrip('/') or 'sales_mart'}"),
        "AIRFLOW_CONN_SALES_DWH": json.dumps({
            "conn_type": "postgres", "host": dwh.hostname, "port": dwh.port or 5432,
            "login": dwh.username, "password": dwh.password,
            "schema": dwh.path.lstrip("/") or "sales_mart",
        }),
        "AIRFLOW_CONN_SALES_API": json.dumps({
            "conn_type": "http", "host": api_base_url, "password": api_key,
            "extra": {"nickname": LOCAL_NICKNAME, "cohort": LOCAL_COHORT},
        }),
        "AIRFLOW_CONN_SALES_SMTP": json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": smtp_port,
            "extra": {"disable_tls": True, "disable_ssl": True},
        }),
        "AIRFLOW_VAR_SALES_MART_ALERT_EMAIL": alert_email,
        "AIRFLOW_VAR_SALES_MART_LANDING_DIR": str(landing_dir),
        # The wait_for_report sensor's poke interval: read when the DAG file is parsed.
        "SALES_MART_POLL_INTERVAL": "0.2",
    }


def stop_all(*services) -> None:
    """Stops what was started (None for what was not), each even if another fails."""
    for service in services:
        if service is not None:
            try:
                service.stop()
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                print(f"could not stop {service!r}: {exc}")


class SmtpSink:
    """Catches the pipeline's alert e-mails on a local port (aiosmtpd) and keeps them."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[bytes] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
                sink.messages.append(envelope.content)
                return "250 OK"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
