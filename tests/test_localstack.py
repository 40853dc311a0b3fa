"""The warehouse fallback of `make demo` / `make airflow`: a private PostgreSQL when nothing
answers, and a one-line message naming the fixes when there is no server binary either."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import psycopg2
import pytest

from sales_mart import localstack

NOTHING_THERE = f"postgresql://postgres@127.0.0.1:{localstack.free_port()}/sales_mart"


def test_answering_warehouse_is_used_as_it_is(dwh_url):
    assert localstack.ensure_warehouse(dwh_url, say=lambda _: None) == (dwh_url, None)


@pytest.fixture
def shared_dir():
    """A folder the `postgres` user can reach (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="sales-mart-private-pg-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_private_server_starts_when_nothing_answers_and_stops(shared_dir, monkeypatch):
    tmp_path = shared_dir
    monkeypatch.setattr(localstack, "VAR_DIR", tmp_path)
    said = []
    url, server = localstack.ensure_warehouse(NOTHING_THERE, say=said.append)
    try:
        assert server is not None and "starting a private server" in said[0]
        conn = psycopg2.connect(url, dbname="postgres")
        with conn.cursor() as cur:
            cur.execute("show data_directory")
            assert cur.fetchone()[0] == str(tmp_path / "pgdata")
        conn.close()
    finally:
        server.stop()
    assert not localstack.answers(url)


def test_no_server_and_no_binaries_names_the_fixes(monkeypatch):
    # Server binaries are installed on this machine; hiding them is the only way to see the
    # message a machine without them gets.
    monkeypatch.setattr(localstack, "postgres_bin_dir", lambda: None)
    with pytest.raises(localstack.NoWarehouse) as refused:
        localstack.ensure_warehouse(NOTHING_THERE, say=lambda _: None)
    message = str(refused.value)
    assert "SALES_DWH_URL=" in message and "docker compose up -d warehouse" in message
    assert "\n" not in message
