"""Shared fixtures: a real PostgreSQL (the machine's service at 127.0.0.1:5432), a fresh
database per test cloned from a template that `sales-mart db upgrade` prepared once.

pytest-postgresql's `postgresql_proc` cannot start a server as root here, so the
`postgresql_noproc` factory points at the running service; its `postgresql` fixture creates and
drops one database per test from the template.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest
from pytest_postgresql import factories

from sales_mart import warehouse

# --- Airflow for tests/dags: set before anything imports airflow (nothing above does): a
# throwaway AIRFLOW_HOME, a SQLite metadata DB created once per session by tests/dags/conftest.py,
# the repository's dags/ folder, no examples.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="sales-mart-airflow-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ.update({
    "AIRFLOW_HOME": _AIRFLOW_HOME,
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME}/airflow.db",
    "AIRFLOW__CORE__DAGS_FOLDER": str(Path(__file__).resolve().parent.parent / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    "AIRFLOW__API__BASE_URL": "http://localhost:8080",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    # dag.test() writes the DAG it runs to the metadata DB, but not within 30 s (the default) of
    # the last write of that DAG: a DAG parsed again with other settings (test_freshness.py's
    # deadline alert) would run as the old version, without its deadline, when its test comes
    # soon after another DAG test (as on a pytest-xdist worker).
    "AIRFLOW__CORE__MIN_SERIALIZED_DAG_UPDATE_INTERVAL": "0",
})
# --- end of the Airflow block ---------------------------------------------------------------

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
TEST_DB = f"sales_mart_test_{os.getpid()}"


def _url(dbname: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{dbname}"


# Roles are cluster-wide, and the migrations create some when missing (and drop one again):
# two full runs of the migrations at once on one server can collide, as `make test`'s two
# workers (pytest-xdist; each has its own databases, named by its process id) would when each
# prepares its template. `warehouse.upgrade` holds a lock of its own for that
# (warehouse.UPGRADE_LOCK); a test that runs `warehouse.migrate` by itself, or several upgrades,
# holds this advisory lock too (taken on the `postgres` database, since advisory locks belong
# to one database; always before the upgrade's, so the two never wait on each other in a cycle).
MIGRATIONS_LOCK = 7_314_201_126  # any number no other code here uses


@contextlib.contextmanager
def migrations_held():
    conn = psycopg2.connect(_url("postgres"))
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (MIGRATIONS_LOCK,))
        yield
    finally:
        conn.close()  # ends the session, so releases the lock


@pytest.fixture
def migrations_lock(postgresql_noproc):
    """Held for the test: it runs the migrations on a database of its own making. (After the
    template is made: that takes the lock too, on another connection.)"""
    with migrations_held():
        yield


def _upgrade_template(*, dbname: str, **_kwargs) -> None:
    with migrations_held():
        warehouse.upgrade(_url(dbname))


postgresql_noproc = factories.postgresql_noproc(
    host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=TEST_DB, load=[_upgrade_template]
)
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture
def dwh_url(postgresql, monkeypatch) -> str:
    """URL of this test's fresh, upgraded warehouse; also exported as SALES_DWH_URL."""
    url = _url(postgresql.info.dbname)
    warehouse.apply_grants(url)  # a copy of the template does not keep database privileges
    monkeypatch.setenv("SALES_DWH_URL", url)
    monkeypatch.delenv("SALES_DWH_ROLE", raising=False)
    return url


@pytest.fixture
def dwh(dwh_url):
    """A superuser psycopg2 connection (autocommit) for arranging and inspecting."""
    conn = psycopg2.connect(dwh_url)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def files(tmp_path) -> Path:
    path = tmp_path / "files"
    path.mkdir()
    return path


@pytest.fixture
def fresh_warehouse(postgresql_noproc):
    """Makes further fresh, upgraded warehouses (cloned from the template); returns their URLs."""
    made: list[str] = []

    def make() -> str:
        name = f"{TEST_DB}_extra_{len(made)}"
        admin = psycopg2.connect(_url("postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}"')
            cur.execute(f'create database "{name}" template "{postgresql_noproc.template_dbname}"')
        admin.close()
        made.append(name)
        warehouse.apply_grants(_url(name))
        return _url(name)

    yield make
    admin = psycopg2.connect(_url("postgres"))
    admin.autocommit = True
    with admin.cursor() as cur:
        for name in made:  # and the Airflow metadata database `make airflow` puts beside it
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'drop database if exists "{name}_airflow" with (force)')
    admin.close()
