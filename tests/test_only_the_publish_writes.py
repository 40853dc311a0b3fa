"""Only the publish writes the mart (issue 16): a login holding only sales_loader or only
sales_bi cannot change a number a BI reader sees, a published delivery or a load's status, and
no login outside the pipeline can make it wait. Each attack is tried with a real login."""

from __future__ import annotations

import os
import threading
import time
from datetime import date

import psycopg2
import pytest
from orders import Order, fetch, mart_dump, write_file
from psycopg2 import errors

from sales_mart import warehouse

SUFFIX = f"{os.getpid()}"
D = date(2024, 3, 5)
ORDERS = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
FAILED_GATE_TWO = [Order(n, "2024-03-06", customer=n) for n in (10, 11, 12)]


@pytest.fixture
def login(dwh):
    """Logins (cluster-wide roles, named per test process, dropped afterwards) holding the
    given group roles; returns (make, connect)."""
    made, conns = [], []

    def make(name: str, *groups: str) -> str:
        role = f"sales_test_{name}_{SUFFIX}"
        with dwh.cursor() as cur:
            cur.execute(f"drop role if exists {role}")
            cur.execute(f"create role {role} login")
            for group in groups:
                cur.execute(f"grant {group} to {role}")
        made.append(role)
        return role

    def connect(role: str, *, autocommit: bool = True, dbname: str | None = None):
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user=role,
                                dbname=dbname or dwh.info.dbname)
        conn.autocommit = autocommit
        conns.append(conn)
        return conn

    yield make, connect
    for conn in conns:
        conn.close()
    with dwh.cursor() as cur:
        for role in made:
            cur.execute(f"drop role if exists {role}")


@pytest.fixture
def published(dwh, files):
    """A published day, and a load of the next day that gate 2 stopped."""
    warehouse.load_file(write_file(files / "d.csv", ORDERS), delivery_date=D)
    with pytest.raises(warehouse.CheckFailed):
        warehouse.load_file(write_file(files / "e.csv", FAILED_GATE_TWO),
                            delivery_date=date(2024, 3, 6))
    (failed_load,) = fetch(dwh, "select load_id from staging.load_log where status = 'failed'")[0]
    return failed_load


def tables(dwh, *schemas: str) -> list[str]:
    return [name for (name,) in fetch(dwh, """
        select format('%%I.%%I', n.nspname, c.relname) from pg_class as c
        join pg_namespace as n on n.oid = c.relnamespace
        where n.nspname = any(%s) and c.relkind in ('r', 'p') order by 1""", (list(schemas),))]


# What the attacker did as a loader login, in one transaction: a forged fact, a forged
# retention number, a publish of a load gate 2 stopped, and its status set to merged.
FORGERIES = [
    "insert into mart.f_sales values (repeat('f', 32), 20240305, '2024-03-05', 10, 1, 1, 1, "
    "5000000.00, 'shipped', '2024-03-05', 'increment')",
    "update mart.customer_retention set net_revenue = 1",
    "insert into staging.published_delivery (source, delivery_date, load_id) "
    "values ('increment', '2024-03-06', {failed})",
    "update staging.load_log set status = 'merged' where load_id = {failed}",
    "insert into mart.d_calendar (date_id, date_actual, year, quarter, month, month_name, "
    "day_of_month, day_of_week, day_name, iso_year, iso_week, iso_period_id, week_start, "
    "is_weekend) values (20460101, '2046-01-01', 2046, 1, 1, 'January', 1, 1, 'Monday', 2046, "
    "1, 204601, '2046-01-01', false)",
    "delete from mart.d_calendar where date_id = 20240306",
    "update mart.d_calendar set iso_period_id = 1",
    "insert into staging.user_order_log (source, delivery_date, uniq_id, load_id, line_no, "
    "date_time, city_id, customer_id, item_id, quantity, payment_amount, status) values "
    "('increment', '2024-03-06', repeat('e', 32), {failed}, 2, '2024-03-06', 1, 10, 1, 1, 1, "
    "'shipped')",
    "update staging.user_order_log set payment_amount = 1",
    "delete from mart.d_customer where customer_id = 10",
    "update mart.retention_customer_week set shipped_orders = 9",
    "delete from staging.user_order_log_rejects",
]


@pytest.mark.parametrize("statement", FORGERIES)
def test_a_loader_login_cannot_forge_what_a_reader_sees(dwh, published, login, statement):
    make, connect = login
    before = mart_dump(dwh)
    cur = connect(make("loader", "sales_loader")).cursor()
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute(statement.format(failed=published))
    assert mart_dump(dwh) == before
    assert fetch(dwh, "select status from staging.load_log order by load_id") == [
        ("merged",), ("failed",)]


def test_a_loader_login_writes_nothing_but_the_landing_table(dwh, published, login):
    """Every table of staging, mart and the publish's scratch schema, every way of writing or
    of taking a lock that a writer would wait on; only COPY into the landing table is left."""
    make, connect = login
    conn = connect(make("loader", "sales_loader"))
    cur = conn.cursor()
    landing = "staging.user_order_inc"
    for table in tables(dwh, "staging", "mart", "publish_work"):
        attempts = [f"delete from {table}", f"update {table} set {plain_column(dwh, table)} = null",
                    f"truncate {table}", f"lock table {table} in share row exclusive mode",
                    f"lock table {table} in access exclusive mode",
                    f"select from {table} for key share"]
        if table != landing:
            attempts.append(f"insert into {table} default values")
        for statement in attempts:
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("begin")  # LOCK TABLE runs in a transaction block only
                cur.execute(statement)
            cur.execute("rollback")
    cur.execute("begin")
    cur.execute(f"insert into {landing} (load_id, uniq_id) values (-1, 'x')")  # COPY's right
    cur.execute("rollback")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute(f"select * from {landing}")


def plain_column(dwh, table: str) -> str:
    return fetch(dwh, "select attname::text from pg_attribute where attrelid = %s::regclass "
                      "and attnum > 0 and attidentity = '' and attgenerated = '' "
                      "and not attisdropped order by attnum limit 1", (table,))[0][0]


def test_a_loader_login_cannot_publish_a_load_a_gate_stopped(dwh, published, login):
    make, connect = login
    cur = connect(make("loader", "sales_loader")).cursor()
    before = mart_dump(dwh)
    with pytest.raises(errors.RaiseException, match=f"load {published} is failed"):
        cur.execute("call mart.publish_load(%s)", (published,))
    assert mart_dump(dwh) == before


def test_bi_login_cannot_lock_what_readers_or_the_pipeline_use_nor_fill_the_disk(
        dwh, published, login):
    make, connect = login
    cur = connect(make("analyst", "sales_bi")).cursor()
    for table in ("mart.customer_retention", "mart.customer_retention_by_city"):
        for mode in ("access exclusive", "exclusive", "share row exclusive", "share"):
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("begin")
                cur.execute(f"lock table {table} in {mode} mode")
            cur.execute("rollback")
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute(f"select from {table} for key share")
    # Large objects: a BI login could store gigabytes in pg_largeobject (issue 16, item 7).
    for statement in ("select lo_from_bytea(0, 'x')", "select lo_create(0)", "select lo_creat(-1)"):
        with pytest.raises(errors.InsufficientPrivilege):
            cur.execute(statement)
    assert fetch(dwh, "select count(*) from pg_largeobject_metadata") == [(0,)]


def hold(conn, *statements: str) -> None:
    with conn.cursor() as cur:
        cur.execute("begin")
        for statement in statements:
            cur.execute(statement)


def test_no_login_outside_the_pipeline_makes_a_load_wait(dwh, files, login, monkeypatch):
    """The locks the old pipeline serialized on (advisory keys anyone could take), held by a BI
    login and by a login in no group, and every lock a BI reader can take, held in an open
    transaction: a load with a 2 s lock_timeout still lands."""
    monkeypatch.setenv("SALES_MART_LOCK_TIMEOUT", "2s")
    warehouse.load_file(write_file(files / "d.csv", ORDERS), delivery_date=D)
    make, connect = login
    bi = connect(make("analyst", "sales_bi"))
    hold(bi, "select pg_advisory_lock(hashtext('sales_mart.merge'))",
         "select pg_advisory_lock(hashtext('sales_mart.copy_landing'))",
         "select count(*) from mart.customer_retention",
         "select count(*) from mart.customer_retention_by_city")
    nobody = connect(make("nobody", ), dbname="postgres")
    hold(nobody, "select pg_advisory_lock(7314201127)")  # the old upgrade lock
    start = time.monotonic()
    summary = warehouse.load_file(write_file(files / "e.csv", [
        Order(n + 10, "2024-03-06", customer=n) for n in (10, 11, 12, 13)]),
        delivery_date=date(2024, 3, 6))
    assert summary.rows_loaded == 4
    assert time.monotonic() - start < 30
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(8,)]


@pytest.mark.parametrize("lock, step, what", [
    ("lock table staging.user_order_inc in share row exclusive mode", "copy",
     "copy lock on staging.user_order_inc"),
    ("lock table staging.published_delivery in share row exclusive mode", "publish",
     "publish lock on staging.published_delivery"),
])
def test_a_held_pipeline_lock_fails_the_load_naming_it(dwh, dwh_url, files, monkeypatch, lock,
                                                       step, what):
    """Only the owner (or a publish, or a load) can hold these: a stuck one fails the next load
    after lock_timeout, with a message naming the lock and who holds it; nothing changes."""
    monkeypatch.setenv("SALES_MART_LOCK_TIMEOUT", "1s")
    warehouse.load_file(write_file(files / "d.csv", ORDERS), delivery_date=D)
    before = mart_dump(dwh)
    holder = psycopg2.connect(dwh_url, application_name="stuck-session")
    try:
        hold(holder, lock)
        with pytest.raises(warehouse.LoadError) as failed:
            warehouse.load_file(write_file(files / "e.csv", ORDERS), delivery_date=D)
        message = str(failed.value)
        assert f"waited 1s (lock_timeout) for the {what}: held by pid" in message, message
        assert "stuck-session" in message
    finally:
        holder.close()
    assert mart_dump(dwh) == before
    if step == "publish":
        assert fetch(dwh, "select status from staging.load_log order by load_id") == [
            ("merged",), ("failed",)]


def test_a_statement_over_its_timeout_fails_naming_the_setting(dwh, files, monkeypatch):
    """statement_timeout reaches every statement of a load: 1 ms is too short for a publish."""
    warehouse.load_file(write_file(files / "d.csv", ORDERS), delivery_date=D)
    before = mart_dump(dwh)
    monkeypatch.setenv("SALES_MART_STATEMENT_TIMEOUT", "1ms")
    with pytest.raises(warehouse.LoadError, match="statement_timeout 1ms"):
        warehouse.load_file(write_file(files / "e.csv", ORDERS), delivery_date=D)
    assert mart_dump(dwh) == before


def test_no_login_outside_the_owner_holds_up_an_upgrade(dwh, dwh_url, login, monkeypatch):
    """The upgrade serializes on dbmate's table in the warehouse, which only its owner may
    lock: BI and loader logins cannot, and the advisory key the old upgrade waited on no longer
    matters. An owner session holding it fails the upgrade after SALES_MART_UPGRADE_WAIT."""
    make, connect = login
    for group in ("sales_bi", "sales_loader"):
        conn = connect(make(f"u_{group}", group))
        with conn.cursor() as cur, pytest.raises(errors.InsufficientPrivilege):
            cur.execute("begin")
            cur.execute("lock table public.schema_migrations in share update exclusive mode")
    nobody = connect(make("nobody"), dbname="postgres")
    hold(nobody, "select pg_advisory_lock(7314201127)")
    done = threading.Event()
    threading.Thread(target=lambda: (warehouse.upgrade(dwh_url), done.set()), daemon=True).start()
    assert done.wait(120), "the upgrade waited on a lock a login in no group held"

    monkeypatch.setenv("SALES_MART_UPGRADE_WAIT", "1s")
    holder = psycopg2.connect(dwh_url, application_name="stuck-upgrade")
    try:
        hold(holder, "lock table public.schema_migrations in share update exclusive mode")
        with pytest.raises(warehouse.LoadError, match="waited 1s for the upgrade lock"):
            warehouse.upgrade(dwh_url)
    finally:
        holder.close()
