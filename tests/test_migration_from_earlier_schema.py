"""Upgrading a warehouse that ran the first release's migrations (one row per uniq_id and day
in staging, a merged and a failed load of the same day, the fact writer role): the merged load
becomes the published delivery, the failed load's rows go, the mart is untouched, and the next
load publishes over it."""

from __future__ import annotations

import os
import shutil
from datetime import date

import psycopg2
from orders import Order, fetch, write_file

from sales_mart import config, warehouse

MART_TABLES = ("mart.d_city", "mart.d_item", "mart.d_customer", "mart.f_sales")
FIRST_RELEASE_LAST_MIGRATION = "20261126060008"
UNIQ = [f"{n:032x}" for n in range(1, 6)]


def tables(conn) -> dict:
    """The mart's tables as text rows (the first release's views are not built here)."""
    return {t: fetch(conn, f"select x::text from {t} as x order by 1") for t in MART_TABLES}


def test_upgrade_from_the_first_release_keeps_the_published_day(tmp_path, files,
                                                                 fresh_warehouse,
                                                                 migrations_lock):
    url = fresh_warehouse().rsplit("/", 1)[0] + f"/sales_mart_first_release_{os.getpid()}"
    dbname = url.rsplit("/", 1)[1]
    admin = psycopg2.connect(url.rsplit("/", 1)[0] + "/postgres")
    admin.autocommit = True
    admin.cursor().execute(f"drop database if exists {dbname}")
    admin.cursor().execute(f"create database {dbname}")
    try:
        # The first release's schema: its migrations (never edited since), nothing later.
        old = tmp_path / "db" / "migrations"
        old.mkdir(parents=True)
        for path in sorted((config.DB_DIR / "migrations").glob("*.sql")):
            if path.name[:14] <= FIRST_RELEASE_LAST_MIGRATION:
                shutil.copy(path, old)
        original = config.DB_DIR
        config.DB_DIR = tmp_path / "db"
        try:
            warehouse.migrate(url)
        finally:
            config.DB_DIR = original

        conn = psycopg2.connect(url)
        conn.autocommit = True
        with conn.cursor() as cur:
            # load 1 merged 2024-03-05 (4 rows, in the mart); load 2, a later delivery of the
            # same day, failed at a gate after its ingest had replaced the day's rows with 2.
            cur.execute("""
                insert into staging.load_log (source, delivery_date, file_name, header, status)
                values ('increment', '2024-03-05', 'a.csv', '{}', 'merged'),
                       ('increment', '2024-03-05', 'b.csv', '{}', 'failed')""")
            cur.execute("insert into mart.d_item values (1, 'Чай')")
            cur.execute("insert into mart.d_city values (1, 'Москва')")
            for n, uniq in enumerate(UNIQ[:4]):
                cur.execute("insert into mart.d_customer values (%s, 'A', 'B')", (10 + n,))
                cur.execute("""
                    insert into mart.f_sales values (%s, 20240305, '2024-03-05', %s, 1, 1, 1,
                        100, 'shipped', '2024-03-05', 'increment')""", (uniq, 10 + n))
                cur.execute("""
                    insert into staging.user_order_log (source, delivery_date, uniq_id, load_id,
                        line_no, date_time, city_id, customer_id, item_id, quantity,
                        payment_amount, status)
                    values ('increment', '2024-03-05', %s, %s, 2, '2024-03-05', 1, %s, 1, 1,
                        100, 'shipped')""", (uniq, 1 if n < 2 else 2, 10 + n))
        before = tables(conn)

        warehouse.upgrade(url)

        assert tables(conn) == before
        assert fetch(conn, "select source, delivery_date, load_id "
                           "from staging.published_delivery") == [
            ("increment", date(2024, 3, 5), 1)]
        assert fetch(conn, "select load_id, count(*) from staging.user_order_log "
                           "group by 1") == [(1, 2)]
        assert fetch(conn, "select count(*) from pg_proc "
                           "where proname = 'write_facts'") == [(0,)]

        # the next delivery of the day publishes over the old one
        orders = [Order(n, "2024-03-05", customer=c) for n, c in ((1, 10), (7, 11), (8, 12),
                                                                 (9, 13))]
        warehouse.load_file(write_file(files / "c.csv", orders), delivery_date=date(2024, 3, 5),
                            url=url)
        assert fetch(conn, "select count(*), sum(payment_amount) from mart.f_sales") == [
            (4, 400)]
        assert fetch(conn, "select load_id, status from staging.load_log order by 1") == [
            (1, "superseded"), (2, "failed"), (3, "merged")]
        conn.close()
    finally:
        admin.cursor().execute(f"drop database if exists {dbname} with (force)")
        admin.close()
