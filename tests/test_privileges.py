"""Least privilege, tried as an attacker would, with real logins (not the superuser narrowed by
SET ROLE, which `set role none` undoes): a login holding only sales_loader cannot run code with
anyone else's rights nor orphan facts; sales_bi executes no routine and reads only the two
views; PUBLIC (any other login) cannot even connect."""

from __future__ import annotations

import os
import subprocess
from datetime import date
from decimal import Decimal

import psycopg2
import pytest
from orders import Order, fetch, write_file
from psycopg2 import errors

from sales_mart import warehouse

SUFFIX = f"{os.getpid()}"


@pytest.fixture
def login(dwh):
    """Makes a login role (cluster-wide, so named per test process and dropped afterwards) that
    is a member of the given group roles; returns a function giving an autocommit cursor."""
    made, conns = [], []
    dbname = dwh.info.dbname

    def make(name: str, *groups: str):
        role = f"sales_test_{name}_{SUFFIX}"
        with dwh.cursor() as cur:
            cur.execute(f"drop role if exists {role}")
            cur.execute(f"create role {role} login")
            for group in groups:
                cur.execute(f"grant {group} to {role}")
        made.append(role)
        return role

    def connect(role: str):
        conn = psycopg2.connect(host="127.0.0.1", port=5432, user=role, dbname=dbname)
        conn.autocommit = True
        conns.append(conn)
        return conn.cursor()

    yield make, connect
    for conn in conns:
        with conn.cursor() as cur:
            cur.execute("discard temp")  # its temp objects would keep the role from being dropped
        conn.close()
    with dwh.cursor() as cur:
        for role in made:
            cur.execute(f"drop role if exists {role}")


def routines(dwh) -> list[tuple[str, int]]:
    return fetch(dwh, """
        select p.oid::regprocedure::text, p.oid::int from pg_proc as p
        join pg_namespace as n on n.oid = p.pronamespace
        where n.nspname in ('staging', 'mart') order by 1""")


# The routines that write (issue 16): they run as the mart's owner, so the loader needs no
# write privilege of its own. Nothing else is SECURITY DEFINER.
DEFINERS = [
    "mart.publish_load(bigint,numeric)",
    "mart.refresh_retention()",
    "staging.fail_load(bigint,text)",
    "staging.ingest_load(bigint)",
    "staging.refuse_file(text,date,text,text[],text,text,bigint)",
    "staging.start_load(text,date,text,text[],text,bigint)",
]


def test_the_writing_routines_run_as_the_mart_owner_with_a_pinned_search_path(dwh):
    definers = fetch(dwh, """
        select p.oid::regprocedure::text, pg_get_userbyid(p.proowner)::text, p.proconfig
        from pg_proc as p
        join pg_namespace as n on n.oid = p.pronamespace
        where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
        order by 1""")
    assert [name for name, _, _ in definers] == DEFINERS
    for name, owner, settings in definers:
        assert owner == "sales_mart_owner", name
        assert "search_path=pg_catalog, pg_temp" in settings, name
    # ... and what they read lives where the loader cannot create anything, temp objects included.
    assert fetch(dwh, """
        select has_schema_privilege('sales_loader', 'mart', 'create'),
               has_schema_privilege('sales_loader', 'staging', 'create'),
               has_schema_privilege('sales_loader', 'publish_work', 'usage'),
               has_schema_privilege('sales_loader', 'public', 'create'),
               has_database_privilege('sales_loader', current_database(), 'temporary')""") == [
        (False, False, False, False, False)]


def test_no_fact_writer_and_no_replica_mode_anywhere(dwh):
    assert fetch(dwh, """
        select count(*) from pg_proc
        where array_to_string(proconfig, ',') like '%session_replication_role%'""") == [(0,)]
    assert fetch(dwh, """
        select count(*) from information_schema.role_routine_grants
        where grantee = 'sales_fact_writer'""") == [(0,)]


def test_loader_login_cannot_hijack_a_security_definer_routine_through_temp_objects(
        dwh, files, login):
    """The attack that worked on the first release's mart.write_facts: temp objects named like
    what a SECURITY DEFINER routine reads, over a function of the attacker's, then the whole
    pipeline run through those routines from the attacker's session. Run as the routine's
    owner, the function would open every routine to PUBLIC and empty a dimension. The loader
    may not make temp objects at all now; this grants it that (as a careless DBA might) to show
    the routines stay safe even then: they must only ever read their own tables."""
    make, connect = login
    role = make("attacker", "sales_loader")
    cur = connect(role)
    with pytest.raises(errors.InsufficientPrivilege, match="temporary"):
        cur.execute("create temp table scratch (x int)")
    with dwh.cursor() as admin:
        admin.execute(f"grant temporary on database {dwh.info.dbname} to {role}")
    try:
        attack(dwh, files, connect(role))
    finally:
        with dwh.cursor() as admin:
            admin.execute(f"revoke temporary on database {dwh.info.dbname} from {role}")


def attack(dwh, files, cur):
    cur.execute("""
        create function pg_temp.escalate() returns boolean language plpgsql as $$
        declare r record;
        begin
            for r in select p.oid::regprocedure as routine from pg_proc as p
                     where p.prosecdef and p.pronamespace in ('mart'::regnamespace,
                                                             'staging'::regnamespace) loop
                begin
                    execute format('grant execute on routine %s to public', r.routine);
                exception when insufficient_privilege then null;
                end;
            end loop;
            delete from mart.d_customer;
            return true;
        exception when others then return false;
        end $$""")
    shadowed = [name for (name,) in fetch(dwh, """
        select distinct c.relname::text from pg_class as c
        where c.relnamespace in ('mart'::regnamespace, 'staging'::regnamespace,
                                 'publish_work'::regnamespace) and c.relkind in ('r', 'v', 'p')
        union select unnest(array['pg_locks', 'pg_stat_activity', 'pg_class'])""")]
    assert {"f_sales", "published_delivery", "load_log", "fact_delta"} <= set(shadowed)
    for name in shadowed:
        cur.execute(f"create temp view {name} as select pg_temp.escalate() as hijacked")
    opened_to_public = """
        select p.oid::regprocedure::text from pg_proc as p
        cross join lateral aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) as a
        where a.grantee = 0
            and p.pronamespace in ('mart'::regnamespace, 'staging'::regnamespace)"""
    assert fetch(dwh, opened_to_public) == []

    path = write_file(files / "d.csv", [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)])
    header = warehouse.read_header(path)
    for search_path in ("pg_temp, mart, staging, public", "default"):
        cur.execute(f"set search_path = {search_path}")
        cur.execute("begin")
        cur.execute("select staging.start_load('increment', '2024-03-05', 'd.csv', %s)", (header,))
        (load_id,) = cur.fetchone()
        with open(path, "rb") as fh:
            cur.copy_expert("copy staging.user_order_inc (" + ", ".join(header)
                            + ") from stdin with (format csv, header true)", fh)
        cur.execute("commit")
        cur.execute("call staging.ingest_load(%s)", (load_id,))
        cur.execute("call mart.publish_load(%s)", (load_id,))
        cur.execute("call mart.refresh_retention()")
        cur.execute("call staging.fail_load(%s, 'tried')", (load_id,))

    assert fetch(dwh, opened_to_public) == []
    assert fetch(dwh, "select count(*) from mart.d_customer") == [(4,)]
    assert fetch(dwh, "select count(*), sum(payment_amount) from mart.f_sales") == [
        (4, Decimal("400.00"))]


def test_loader_login_runs_the_whole_pipeline(dwh, files, login, dwh_url):
    make, _ = login
    role = make("pipeline", "sales_loader")
    url = dwh_url.replace("postgres@", f"{role}@")
    orders = [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)]
    summary = warehouse.load_file(write_file(files / "d.csv", orders),
                                  delivery_date=date(2024, 3, 5), url=url, role="")
    assert summary.rows_loaded == 4
    assert fetch(dwh, "select count(*) from mart.customer_retention") == [(1,)]


def test_no_routine_is_executable_by_public_or_bi(dwh):
    found = routines(dwh)
    assert len(found) > 10
    executable = fetch(dwh, """
        select p.oid::regprocedure::text,
               exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
                       as a where a.grantee = 0),
               has_function_privilege('sales_bi', p.oid, 'execute')
        from pg_proc as p join pg_namespace as n on n.oid = p.pronamespace
        where n.nspname in ('staging', 'mart')""")
    assert [(name, public, bi) for name, public, bi in executable if public or bi] == []


def test_routines_made_later_start_closed(dwh):
    """Default privileges: a routine an upgrade adds is not executable by PUBLIC."""
    with dwh.cursor() as cur:
        cur.execute("create function mart.added_later() returns int language sql as 'select 1'")
    assert fetch(dwh, """
        select exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
                       as a where a.grantee = 0)
        from pg_proc as p where p.oid = 'mart.added_later()'::regprocedure""") == [(False,)]


def test_bi_login_cannot_call_the_merge_nor_make_temp_objects(dwh, login):
    make, connect = login
    cur = connect(make("analyst", "sales_bi"))
    for statement in ("call mart.merge_increment('2024-03-05')", "call mart.publish_load(1)",
                      "call mart.refresh_retention()", "select staging.gate_results(1, 0.01)"):
        with pytest.raises(errors.InsufficientPrivilege, match="permission denied for"):
            cur.execute(statement)
    with pytest.raises(errors.InsufficientPrivilege, match="temporary tables"):
        cur.execute("create temp table scratch (x int)")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute("create table public.scratch (x int)")
    cur.execute("select count(*) from mart.customer_retention_by_city")
    assert cur.fetchone() == (0,)


def test_a_login_in_no_group_cannot_connect(dwh, login):
    make, connect = login
    with pytest.raises(psycopg2.OperationalError, match="permission denied for database"):
        connect(make("nobody"))


def test_db_login_makes_a_login_holding_only_its_group(dwh, dwh_url, files):
    from test_upgrade_and_cli import SALES_MART

    name = f"sales_test_pipeline_login_{SUFFIX}"
    env = dict(os.environ, SALES_DWH_URL=dwh_url, SALES_DWH_LOGIN_PASSWORD="s3cret-not-logged")
    try:
        with dwh.cursor() as cur:  # an earlier, wider login of the same name
            cur.execute(f"create role {name} login createdb")
            cur.execute(f"grant sales_bi to {name}")
        done = subprocess.run([*SALES_MART, "db", "login", name], env=env, capture_output=True,
                              text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert f"login {name} reset: a member of sales_loader only" in done.stdout
        assert "s3cret" not in done.stdout + done.stderr
        assert fetch(dwh, """
            select r.rolname from pg_auth_members as m join pg_roles as r on r.oid = m.roleid
            where m.member = %s::regrole""", (name,)) == [("sales_loader",)]
        assert fetch(dwh, "select rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, "
                          "rolpassword is not null from pg_authid where rolname = %s",
                     (name,)) == [(False, False, False, True, True)]

        conn = psycopg2.connect(host="127.0.0.1", port=5432, user=name, dbname=dwh.info.dbname)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("set role none")  # what undid `-c role=sales_loader` for a superuser
            cur.execute("select current_user, (select rolsuper from pg_roles "
                        "where rolname = current_user)")
            assert cur.fetchone() == (name, False)
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("set role postgres")
            with pytest.raises(errors.InsufficientPrivilege):
                cur.execute("create table mart.scratch (x int)")
            cur.execute("discard temp")
        conn.close()
    finally:
        with dwh.cursor() as cur:
            cur.execute(f"drop role if exists {name}")


def test_db_login_strips_a_prior_admin_option(dwh, dwh_url):
    """A login once granted its group WITH ADMIN OPTION could grant sales_loader to anyone; a
    reset by `sales-mart db login` leaves it a plain member."""
    name = f"sales_test_admin_login_{SUFFIX}"
    try:
        with dwh.cursor() as cur:
            cur.execute(f"drop role if exists {name}")
            cur.execute(f"create role {name} login")
            cur.execute(f"grant sales_loader to {name} with admin option")
        warehouse.ensure_login(dwh_url, name, "sales_loader", "another-secret")
        assert fetch(dwh, """
            select r.rolname::text, m.admin_option from pg_auth_members as m
            join pg_roles as r on r.oid = m.roleid where m.member = %s::regrole""", (name,)) == [
            ("sales_loader", False)]
    finally:
        with dwh.cursor() as cur:
            cur.execute(f"drop role if exists {name}")
