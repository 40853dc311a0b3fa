"""The database misbehaving under a load: the backend killed mid-publish, the server restarted
(cleanly, or crashed) between two steps, two publishes or refreshes at once, a statement
timeout. Each time the mart is either the old one or the new one, never a mix, and the next
attempt succeeds."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psycopg2
import pytest
from orders import Order, fetch, mart_dump, mart_dump_at, write_file

from sales_mart import localstack, warehouse

D1, D2 = date(2024, 3, 4), date(2024, 3, 5)


def day(d: date, first: int = 0, customers=(10, 11, 12, 13)) -> list[Order]:
    return [Order(first + n, d.isoformat(), customer=c) for n, c in enumerate(customers)]



def slow_fact_writes(dwh, seconds: float) -> None:
    """Every statement writing mart.f_sales sleeps first: the publish is caught in the middle."""
    with dwh.cursor() as cur:
        cur.execute("create function public.test_slow() returns trigger language plpgsql as "
                    f"$$ begin perform pg_sleep({seconds}); return null; end $$")
        cur.execute("grant execute on function public.test_slow() to sales_loader")
        cur.execute("create trigger test_slow before insert on mart.f_sales "
                    "for each statement execute function public.test_slow()")


def fast_fact_writes(dwh) -> None:
    with dwh.cursor() as cur:
        cur.execute("drop trigger test_slow on mart.f_sales")


def wait_for_publish(dwh, timeout: float = 20) -> int:
    """The pid of the backend running a publish, once it is inside it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = fetch(dwh, "select pid from pg_stat_activity where datname = current_database() "
                          "and query like 'call mart.publish_load%%' and state = 'active'")
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    raise AssertionError("no publish started")


def test_backend_killed_mid_publish_leaves_the_mart_then_the_rerun_lands(
        dwh, dwh_url, files, fresh_warehouse):
    first = write_file(files / "d1.csv", day(D1))
    second = write_file(files / "d2.csv", day(D2, first=100))
    warehouse.load_file(first, delivery_date=D1)
    before = mart_dump(dwh)
    slow_fact_writes(dwh, 30)

    errors: list[Exception] = []

    def load():
        try:
            warehouse.load_file(second, delivery_date=D2)
        except Exception as exc:  # noqa: BLE001 (the thread reports what it saw)
            errors.append(exc)

    worker = threading.Thread(target=load)
    worker.start()
    pid = wait_for_publish(dwh)
    fetch(dwh, "select pg_terminate_backend(%s)", (pid,))
    worker.join(30)

    assert len(errors) == 1 and "failed at publish" in str(errors[0])
    assert "terminat" in str(errors[0])
    assert mart_dump(dwh) == before
    assert fetch(dwh, "select status from staging.load_log order by load_id") == [
        ("merged",), ("failed",)]

    fast_fact_writes(dwh)
    warehouse.load_file(second, delivery_date=D2)  # the re-run
    reference = fresh_warehouse()
    warehouse.load_file(first, delivery_date=D1, url=reference)
    warehouse.load_file(second, delivery_date=D2, url=reference)
    assert mart_dump(dwh) == mart_dump_at(reference)


def test_two_publishes_at_once_are_serialized_and_both_land(dwh, dwh_url, files,
                                                            fresh_warehouse):
    paths = {D1: write_file(files / "d1.csv", day(D1)),
             D2: write_file(files / "d2.csv", day(D2, first=100, customers=(10, 11, 12, 14)))}
    slow_fact_writes(dwh, 1)
    errors: list[Exception] = []

    def load(d):
        try:
            warehouse.load_file(paths[d], delivery_date=d)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=load, args=(d,)) for d in paths]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    fast_fact_writes(dwh)

    assert errors == []
    reference = fresh_warehouse()
    for d, path in paths.items():
        warehouse.load_file(path, delivery_date=d, url=reference)
    assert mart_dump(dwh) == mart_dump_at(reference)


def test_two_refreshes_at_once_both_succeed(dwh, dwh_url, files):
    warehouse.load_file(write_file(files / "d1.csv", day(D1)), delivery_date=D1)
    before = mart_dump(dwh)
    errors: list[Exception] = []

    def refresh():
        try:
            conn = warehouse.connect(role="sales_loader")
            with conn, conn.cursor() as cur:
                cur.execute("call mart.refresh_retention()")
                cur.execute("select pg_sleep(0.5)")  # hold the view's lock a little longer
            conn.close()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=refresh) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == []
    assert mart_dump(dwh) == before


def test_statement_timeout_fails_naming_the_step(dwh, files, monkeypatch):
    first = write_file(files / "d1.csv", day(D1))
    warehouse.load_file(first, delivery_date=D1)
    before = mart_dump(dwh)
    slow_fact_writes(dwh, 20)
    # Every pipeline session sets its own statement_timeout (SALES_MART_STATEMENT_TIMEOUT, over
    # any database default): room for every other step of a 4-row load on a busy machine.
    monkeypatch.setenv("SALES_MART_STATEMENT_TIMEOUT", "5s")

    with pytest.raises(warehouse.LoadError,
                       match=r"load 2 of .* failed at publish: canceling statement due to "
                             r"statement timeout"):
        warehouse.load_file(write_file(files / "d2.csv", day(D2, first=100)), delivery_date=D2)

    assert mart_dump(dwh) == before
    assert fetch(dwh, "select status, error like '%%at publish%%statement timeout%%' "
                      "from staging.load_log where load_id = 2") == [("failed", True)]


# --- the server restarted between two steps (a private server: the machine's is shared) ----


@pytest.fixture
def private_server():
    bin_dir = localstack.postgres_bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="sales-mart-restart-"))
    folder.chmod(0o755)
    server = localstack.PrivatePostgres(folder / "pgdata", localstack.free_port(), bin_dir)
    server.start()
    warehouse.upgrade(server.url)
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def restart(server, mode: str) -> None:
    # -l: the restarted server must not inherit (and hold open) this process's output pipes
    server._run("pg_ctl", "-D", str(server.data_dir), "-l", str(server.data_dir / "server.log"),
                "-m", mode, "-w", "restart")


def steps_after_copy(url: str, load_id: int) -> None:
    """Ingest, gates and publish, each on its own connection, as the DAG's tasks do."""
    for step in ("ingest", "gates", "publish"):
        conn = warehouse.connect(url, role="sales_loader")
        try:
            params = warehouse.check_parameters(load_id)
            with conn, conn.cursor() as cur:
                if step == "ingest":
                    cur.execute("call staging.ingest_load(%s)", (load_id,))
                elif step == "gates":
                    warehouse.run_checks(cur, warehouse.GATE_CHECKS, params)
                else:
                    cur.execute(warehouse.PUBLISH_SQL, params)
        finally:
            conn.close()


def copy(url: str, path, d) -> int:
    conn = warehouse.connect(url, role="sales_loader")
    try:
        return warehouse.copy_file(conn, path, source="increment", delivery_date=d)
    finally:
        conn.close()


def test_server_restart_between_two_steps_then_the_next_attempt_lands(private_server, files):
    url = private_server.url
    path = write_file(files / "d1.csv", day(D1))

    load_id = copy(url, path, D1)
    restart(private_server, "fast")  # a clean restart keeps even the unlogged landing table
    steps_after_copy(url, load_id)
    assert fetch_url(url, "select status from staging.load_log") == [("merged",)]

    # A crash (immediate stop) empties the unlogged landing table: the ingest finds no row,
    # gate 1 stops the load, and the next attempt copies the kept raw file again.
    second = write_file(files / "d2.csv", day(D2, first=100))
    load_id = copy(url, second, D2)
    before = fetch_url(url, "select count(*), sum(payment_amount) from mart.f_sales")
    restart(private_server, "immediate")
    with pytest.raises(warehouse.CheckFailed, match="staging_has_rows failed: rows loaded "
                                                    "into staging: 0"):
        steps_after_copy(url, load_id)
    assert fetch_url(url, "select count(*), sum(payment_amount) from mart.f_sales") == before
    warehouse.load_file(second, delivery_date=D2, url=url)
    assert fetch_url(url, "select count(*) from mart.f_sales") == [(8,)]


def fetch_url(url: str, query: str) -> list[tuple]:
    conn = psycopg2.connect(url)
    try:
        return fetch(conn, query)
    finally:
        conn.close()
