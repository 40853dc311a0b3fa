"""`sales-mart db upgrade` is safe to repeat and rebuilds a view only when its file changed;
`sales-mart load` exits 0 only when the data landed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

from orders import Order, fetch, mart_dump, write_file

from sales_mart import config, warehouse

SALES_MART = [str(Path(sys.executable).parent / "sales-mart")]


def view_oids(conn):
    """The retention rule views (db/views/*_rows.sql)."""
    return fetch(conn, "select relname, oid from pg_class where relkind = 'v' "
                       "and relname like 'customer_retention%%_rows' order by relname")


def test_second_upgrade_changes_nothing_and_keeps_views(dwh, dwh_url):
    before = view_oids(dwh)
    migrations = fetch(dwh, "select version from public.schema_migrations order by 1")
    assert len(before) == 2

    report = warehouse.upgrade(dwh_url)

    assert report.views_rebuilt == [] and len(report.views_unchanged) == 3
    assert view_oids(dwh) == before  # not dropped and re-created
    assert fetch(dwh, "select version from public.schema_migrations order by 1") == migrations


def change_view_file(name, tmp_path, monkeypatch):
    """Points the upgrade at a copy of db/ in which one view file has changed."""
    db_copy = tmp_path / "db"
    shutil.copytree(config.DB_DIR, db_copy)
    view = db_copy / "views" / name
    view.write_text(view.read_text() + "\n-- a comment changes the file\n")
    monkeypatch.setattr(config, "DB_DIR", db_copy)


def test_changed_view_file_is_rebuilt(dwh, dwh_url, tmp_path, monkeypatch):
    warehouse.load_file(write_file(tmp_path / "d.csv", [Order(n, "2024-03-05", customer=n)
                                                        for n in (10, 11, 12, 13)]),
                        delivery_date=date(2024, 3, 5), url=dwh_url)
    change_view_file("customer_retention_rows.sql", tmp_path, monkeypatch)
    before = dict(view_oids(dwh))
    with dwh.cursor() as cur:  # a stale table: the upgrade rebuilds it from the facts
        cur.execute("delete from mart.customer_retention")

    report = warehouse.upgrade(dwh_url)

    assert report.views_rebuilt == ["customer_retention_rows.sql"]
    after = dict(view_oids(dwh))
    assert after["customer_retention_rows"] != before["customer_retention_rows"]
    assert after["customer_retention_by_city_rows"] == before["customer_retention_by_city_rows"]
    assert fetch(dwh, "select count(*) from mart.customer_retention") == [(1,)]


def test_upgrade_command_creates_a_missing_database(fresh_warehouse, migrations_lock):
    url = fresh_warehouse().rsplit("/", 1)[0] + f"/sales_mart_cli_{os.getpid()}"
    admin = warehouse.connect(url, dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"drop database if exists sales_mart_cli_{os.getpid()}")
    try:
        done = subprocess.run([*SALES_MART, "db", "upgrade"], env={**os.environ, "SALES_DWH_URL": url},
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "created database" in done.stdout
        again = subprocess.run([*SALES_MART, "db", "upgrade"], env={**os.environ, "SALES_DWH_URL": url},
                               capture_output=True, text=True, check=False)
        assert again.returncode == 0 and "views rebuilt: none" in again.stdout
    finally:
        admin.cursor().execute(f"drop database if exists sales_mart_cli_{os.getpid()} with (force)")
        admin.close()


def test_two_upgrades_at_once_both_succeed_and_migrate_once(fresh_warehouse, migrations_lock):
    """Two `sales-mart db upgrade` started together on a missing database (two deploys, or
    `make airflow` beside `make demo`): the second waits for the first, then has nothing left
    to do. Without the upgrade's lock one of them failed, on creating the database or on
    dbmate's table, in 3 runs of 3. (The lock is a table lock in the warehouse itself since
    issue 16, so either may take it first.)"""
    dbname = f"sales_mart_twice_{os.getpid()}"
    url = fresh_warehouse().rsplit("/", 1)[0] + f"/{dbname}"
    admin = warehouse.connect(url, dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"drop database if exists {dbname}")
    try:
        env = {**os.environ, "SALES_DWH_URL": url}
        both = [subprocess.Popen([*SALES_MART, "db", "upgrade"], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)]
        done = [(p.wait(timeout=300), *p.communicate()) for p in both]
        assert [status for status, _, _ in done] == [0, 0], done
        creators = [out for _, out, _ in done if "created database" in out]
        assert len(creators) == 1, done
        # the second to take the upgrade lock (not always the creator) found the first's work done
        assert sorted("views rebuilt: none" in out for _, out, _ in done) == [False, True], done
        migrations = len(list((config.DB_DIR / "migrations").glob("*.sql")))
        conn = warehouse.connect(url)
        try:
            assert fetch(conn, "select count(*) from public.schema_migrations") == [(migrations,)]
        finally:
            conn.close()
    finally:
        admin.cursor().execute(f"drop database if exists {dbname} with (force)")
        admin.close()


def run_load(*args):
    return subprocess.run([*SALES_MART, "load", *map(str, args)], capture_output=True, text=True,
                          check=False, env=dict(os.environ))


def test_load_command_lands_data_and_exits_zero(dwh, files):
    path = write_file(files / "d.csv", [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)])
    done = run_load(path, "--date", "2024-03-05")
    assert done.returncode == 0, done.stderr
    assert "read 4, loaded 4, duplicate 0, conflicting 0, rejected 0" in done.stdout
    assert fetch(dwh, "select count(*) from mart.f_sales") == [(4,)]


def test_load_command_refuses_with_message_and_leaves_mart(dwh, files):
    good = write_file(files / "d.csv", [Order(n, "2024-03-05", customer=n) for n in (10, 11, 12, 13)])
    assert run_load(good, "--date", "2024-03-05").returncode == 0
    before = mart_dump(dwh)
    three = write_file(files / "three.csv", [Order(n + 50, "2024-03-06", customer=n) for n in (10, 11, 12)])

    done = run_load(three, "--date", "2024-03-06")

    assert done.returncode == 1
    assert "more_than_three_customers failed: distinct customers: 3" in done.stderr
    assert "the mart is unchanged" in done.stderr
    assert mart_dump(dwh) == before


def test_load_command_names_a_missing_file(dwh, files):
    done = run_load(files / "nope.csv", "--date", "2024-03-06")
    assert done.returncode == 1 and "no such file" in done.stderr


def test_changed_base_view_rebuilds_the_views_built_on_it(dwh, dwh_url, tmp_path, monkeypatch):
    change_view_file("customer_order_class.sql", tmp_path, monkeypatch)

    report = warehouse.upgrade(dwh_url)

    assert report.views_rebuilt == [
        "customer_order_class.sql", "customer_retention_by_city_rows.sql",
        "customer_retention_rows.sql",
    ]
    assert fetch(dwh, "select count(*) from mart.customer_retention") == [(0,)]  # usable
