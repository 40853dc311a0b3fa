"""The pipeline runs as sales_loader, BI reads as sales_bi; each is kept to its job."""

from __future__ import annotations

import psycopg2
import pytest
from psycopg2 import errors


@pytest.fixture
def as_role(dwh_url):
    conns = []

    def connect(role):
        conn = psycopg2.connect(dwh_url, options=f"-c role={role}")
        conn.autocommit = True
        conns.append(conn)
        return conn.cursor()

    yield connect
    for conn in conns:
        conn.close()


def test_bi_reads_both_views(as_role):
    cur = as_role("sales_bi")
    for view in ("mart.customer_retention", "mart.customer_retention_by_city"):
        cur.execute(f"select count(*) from {view}")
        assert cur.fetchone() == (0,)


@pytest.mark.parametrize(
    "relation",
    ["mart.d_customer", "mart.f_sales", "mart.d_item", "mart.customer_order_class",
     "staging.user_order_log", "staging.load_log"],
)
def test_bi_cannot_read_tables_or_customer_names(as_role, relation):
    cur = as_role("sales_bi")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute(f"select * from {relation} limit 1")


def test_bi_cannot_refresh_or_write(as_role):
    cur = as_role("sales_bi")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute("call mart.refresh_retention()")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute("call mart.merge_increment('2024-03-05')")


@pytest.mark.parametrize(
    "statement",
    [
        "drop table mart.f_sales",
        "alter table mart.f_sales add column note text",
        "truncate staging.user_order_log",
        "drop table mart.customer_retention",
        "alter table mart.customer_retention_by_city add column note text",
        "truncate mart.customer_retention",
        "create table mart.scratch (x int)",
        "alter table staging.load_log drop column error",
    ],
)
def test_loader_cannot_drop_alter_or_create(as_role, statement):
    cur = as_role("sales_loader")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute(statement)


def test_loader_can_run_the_pipeline_procedures(as_role, dwh):
    cur = as_role("sales_loader")
    with pytest.raises(errors.RaiseException, match="no increment of 2024-03-05 is waiting"):
        cur.execute("call mart.merge_increment('2024-03-05')")
    cur.execute("call mart.refresh_retention()")
    cur.execute("select current_user")
    assert cur.fetchone() == ("sales_loader",)


def test_loader_cannot_switch_off_foreign_keys_itself(as_role):
    cur = as_role("sales_loader")
    with pytest.raises(errors.InsufficientPrivilege):
        cur.execute("set session_replication_role = replica")
