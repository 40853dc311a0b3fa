"""The package deploys where the repository is not: a wheel built from this tree, installed (not
editable) in a fresh venv with the runtime lock, holds the SQL of db/ as sales_mart/db, parses
both DAGs and runs `sales-mart db upgrade` against a fresh database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = Path(sys.executable).with_name("uv")
PG = "postgresql://postgres@127.0.0.1:5432"

pytestmark = pytest.mark.slow

PARSE = textwrap.dedent("""
    import sys
    from airflow.dag_processing.dagbag import DagBag
    from sales_mart import config
    bag = DagBag(dag_folder=sys.argv[1])
    print("DB_DIR", config.DB_DIR)
    print("ERRORS", bag.import_errors)
    print("DAGS", sorted(bag.dag_ids))
""")


def run(*args, **kwargs):
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600,
                          check=False, **kwargs)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture
def wheel(tmp_path):
    out = tmp_path / "dist"
    run(UV, "build", "--wheel", "--no-build-isolation", "--python", sys.executable,
        "--out-dir", out, ROOT)
    (built,) = out.glob("sales_mart-*.whl")
    return built


def test_the_wheel_ships_db_and_deploys_without_the_repository(wheel, tmp_path):
    names = zipfile.ZipFile(wheel).namelist()
    for folder in ("migrations", "procedures", "views", "checks"):
        shipped = sorted(n for n in names if n.startswith(f"sales_mart/db/{folder}/"))
        in_repo = sorted(f"sales_mart/db/{folder}/{p.name}" for p in (ROOT / "db" / folder).iterdir())
        assert shipped == in_repo, folder
    assert not [n for n in names if n.startswith(("tests/", "dags/", "bench/"))]

    venv = tmp_path / "venv"
    run(UV, "venv", "--quiet", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(UV, "pip", "install", "--quiet", "--python", python, "-r", ROOT / "requirements-runtime.lock")
    run(UV, "pip", "install", "--quiet", "--python", python, "--no-deps", wheel)

    # A deployment's own folder: the DAG files and nothing else of the repository.
    site = tmp_path / "deploy"
    shutil.copytree(ROOT / "dags", site / "dags")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "SALES_", "PYTHON", "VIRTUAL_ENV"))}
    env.update({"AIRFLOW_HOME": str(site / "airflow"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PATH": f"{venv / 'bin'}:{env.get('PATH', '')}"})
    out = run(python, "-c", PARSE, site / "dags", cwd=site, env=env)
    assert "ERRORS {}" in out, out
    assert "DAGS ['sales_mart_daily', 'sales_mart_history']" in out
    db_dir = Path(out.split("DB_DIR ", 1)[1].splitlines()[0])
    assert db_dir.is_relative_to(venv) and db_dir.parts[-2:] == ("sales_mart", "db")

    name = f"sales_mart_wheel_{os.getpid()}"
    env["SALES_DWH_URL"] = f"{PG}/{name}"
    try:
        out = run(venv / "bin" / "sales-mart", "db", "upgrade", cwd=site, env=env)
        conn = psycopg2.connect(f"{PG}/{name}")
        try:
            with conn.cursor() as cur:
                cur.execute("select to_regclass('mart.f_sales') is not null, "
                            "to_regprocedure('mart.refresh_retention()') is not null, "
                            "(select count(*) from public.schema_migrations)")
                tables, procedure, migrations = cur.fetchone()
        finally:
            conn.close()
        assert tables and procedure
        assert migrations == len(list((ROOT / "db" / "migrations").glob("*.sql")))
    finally:
        admin = psycopg2.connect(f"{PG}/postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
        admin.close()
