"""Referential integrity of mart.f_sales, enforced by the database for every writer (SPEC §4,
issue 15): statement triggers over transition tables, not declared foreign keys. Tried as an
attacker would: as the superuser and as the mart's owner (the only roles that can write facts),
with triggers' usual switch (session_replication_role = replica), and with two sessions racing
a member's delete against a fact that uses it."""

from __future__ import annotations

import threading
from datetime import date

import psycopg2
import pytest
from orders import Order, fetch, write_file
from psycopg2 import errors

from sales_mart import warehouse

D = date(2024, 3, 5)
FACT = ("insert into mart.f_sales values ('{uniq}', {date_id}, '2024-03-05', {customer}, "
        "{item}, {city}, 1, 100.00, 'shipped', '2024-03-05', 'increment')")


def fact(uniq="f" * 32, date_id=20240305, customer=10, item=1, city=1) -> str:
    return FACT.format(uniq=uniq, date_id=date_id, customer=customer, item=item, city=city)


@pytest.fixture
def loaded(dwh, files):
    warehouse.load_file(write_file(files / "d.csv", [
        Order(n, "2024-03-05", customer=n, item=1 + n % 2) for n in (10, 11, 12, 13)]),
        delivery_date=D)


@pytest.fixture(params=["postgres", "sales_mart_owner"])
def writer(request, dwh_url):
    """A session of a role that may write facts: the superuser, or the mart's owner."""
    role = request.param
    conn = psycopg2.connect(dwh_url, options=f"-c role={role}" if role != "postgres" else "")
    conn.autocommit = True
    yield conn.cursor()
    conn.close()


@pytest.mark.parametrize("statement, missing", [
    (fact(customer=99), "customer_id 99"),
    (fact(item=9), "item_id 9"),
    (fact(city=9), "city_id 9"),
    (fact(date_id=20991301), "date_id 20991301"),
    ("update mart.f_sales set customer_id = 98 where customer_id = 10", "customer_id 98"),
    ("update mart.f_sales set date_id = 19991231 where customer_id = 11", "date_id 19991231"),
])
def test_no_writer_can_leave_a_fact_without_its_member(dwh, loaded, writer, statement, missing):
    before = fetch(dwh, "select * from mart.f_sales order by uniq_id")
    with pytest.raises(errors.ForeignKeyViolation, match=f"do not exist: {missing}"):
        writer.execute(statement)
    assert fetch(dwh, "select * from mart.f_sales order by uniq_id") == before


@pytest.mark.parametrize("statement, used", [
    ("delete from mart.d_customer where customer_id = 10", "customer 10"),
    ("delete from mart.d_item where item_id = 2", "item 2"),
    ("delete from mart.d_city", "city 1"),
    ("delete from mart.d_calendar where date_id = 20240305", "day 20240305"),
    ("update mart.d_customer set customer_id = 97 where customer_id = 11", "customer 11"),
    ("update mart.d_item set item_id = 7 where item_id = 1", "item 1"),
    ("update mart.d_calendar set date_id = 20240399 where date_id = 20240305", "day 20240305"),
])
def test_no_writer_can_delete_or_rekey_a_member_facts_use(dwh, loaded, writer, statement, used):
    with pytest.raises(errors.ForeignKeyViolation, match=f"{used} still used by facts"):
        writer.execute(statement)
    assert fetch(dwh, "select count(*) from mart.f_sales f left join mart.d_customer c "
                      "using (customer_id) where c.customer_id is null") == [(0,)]


@pytest.mark.parametrize("table", ["mart.d_customer", "mart.d_item", "mart.d_city",
                                   "mart.d_calendar"])
def test_a_member_table_is_truncated_only_without_facts(dwh, loaded, writer, table):
    with pytest.raises(errors.ForeignKeyViolation, match="cannot be truncated"):
        writer.execute(f"truncate {table}")


def test_renames_and_unused_members_are_free(dwh, loaded, writer):
    writer.execute("update mart.d_customer set first_name = 'Renamed' where customer_id = 10")
    writer.execute("insert into mart.d_customer values (55, 'Unused', 'Member')")
    writer.execute("delete from mart.d_customer where customer_id = 55")
    writer.execute("update mart.d_city set city_name = 'Москва-2'")
    assert fetch(dwh, "select first_name from mart.d_customer where customer_id = 10") == [
        ("Renamed",)]


def test_replica_mode_which_skips_foreign_keys_does_not_skip_these(dwh, loaded, dwh_url):
    conn = psycopg2.connect(dwh_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("set session_replication_role = replica")
            with pytest.raises(errors.ForeignKeyViolation):
                cur.execute(fact(customer=99))
            with pytest.raises(errors.ForeignKeyViolation):
                cur.execute("delete from mart.d_customer where customer_id = 10")
    finally:
        conn.close()


def test_a_member_is_deleted_only_in_read_committed(dwh, loaded, dwh_url):
    conn = psycopg2.connect(dwh_url)
    try:
        with conn.cursor() as cur:
            cur.execute("begin isolation level repeatable read")
            cur.execute("insert into mart.d_customer values (56, 'Unused', 'Member')")
            with pytest.raises(errors.SerializationFailure, match="only in READ COMMITTED"):
                cur.execute("delete from mart.d_customer where customer_id = 56")
    finally:
        conn.close()


def race(dwh_url, first: str, second: str) -> tuple[Exception | None, Exception | None]:
    """`first` runs in a transaction left open; `second` starts in another session (it must
    wait for the first's locks); then the first commits. Returns what each raised."""
    a, b = psycopg2.connect(dwh_url), psycopg2.connect(dwh_url)
    outcome: dict[str, Exception | None] = {"a": None, "b": None}
    try:
        a.cursor().execute(first)
        started = threading.Event()

        def run_second():
            try:
                started.set()
                with b.cursor() as cur:
                    cur.execute(second)
                b.commit()
            except psycopg2.Error as exc:
                outcome["b"] = exc
                b.rollback()

        thread = threading.Thread(target=run_second)
        thread.start()
        started.wait()
        # the second session is blocked on the first's locks before the first commits
        for _ in range(200):
            waiting = fetch(a, "select count(*) from pg_stat_activity "
                               "where pid = %s and wait_event_type = 'Lock'", (b.get_backend_pid(),))
            if waiting == [(1,)]:
                break
            threading.Event().wait(0.05)
        assert waiting == [(1,)], "the second session never waited for the first"
        try:
            a.commit()
        except psycopg2.Error as exc:
            outcome["a"] = exc
        thread.join(30)
    finally:
        a.close()
        b.close()
    return outcome["a"], outcome["b"]


def orphans(dwh) -> list:
    return fetch(dwh, """
        select f.uniq_id from mart.f_sales as f
        left join mart.d_customer as c on c.customer_id = f.customer_id
        where c.customer_id is null""")


def test_a_fact_inserted_while_its_customer_is_deleted_concurrently(dwh, loaded, dwh_url):
    """Fact first: the delete waits for the fact's transaction, then sees the fact and fails."""
    with dwh.cursor() as cur:
        cur.execute("insert into mart.d_customer values (60, 'Racing', 'Member')")
    first, second = race(dwh_url, fact(uniq="a" * 32, customer=60),
                         "delete from mart.d_customer where customer_id = 60")
    assert first is None
    assert isinstance(second, errors.ForeignKeyViolation), second
    assert orphans(dwh) == []
    assert fetch(dwh, "select count(*) from mart.f_sales where customer_id = 60") == [(1,)]


def test_a_customer_deleted_while_a_fact_that_uses_it_is_inserted_concurrently(
        dwh, loaded, dwh_url):
    """Delete first: the fact waits for the delete's transaction, then misses its member."""
    with dwh.cursor() as cur:
        cur.execute("insert into mart.d_customer values (61, 'Racing', 'Member')")
    first, second = race(dwh_url, "delete from mart.d_customer where customer_id = 61",
                         fact(uniq="b" * 32, customer=61))
    assert first is None
    assert isinstance(second, errors.ForeignKeyViolation), second
    assert orphans(dwh) == []
    assert fetch(dwh, "select count(*) from mart.f_sales where customer_id = 61") == [(0,)]


def test_the_relationships_are_documented_for_bi_tools(dwh):
    comments = dict(fetch(dwh, """
        select a.attname::text, col_description(a.attrelid, a.attnum) from pg_attribute as a
        where a.attrelid = 'mart.f_sales'::regclass
            and a.attname in ('customer_id', 'item_id', 'city_id', 'date_id')"""))
    for column, target in (("customer_id", "mart.d_customer (customer_id)"),
                           ("item_id", "mart.d_item (item_id)"),
                           ("city_id", "mart.d_city (city_id)"),
                           ("date_id", "mart.d_calendar (date_id")):
        assert comments[column].startswith(f"References {target}"), comments[column]
    assert fetch(dwh, "select count(*) from pg_constraint where conrelid = 'mart.f_sales'::regclass "
                      "and contype = 'f'") == [(0,)]
