"""Raw files are archived through Airflow's object storage: the local landing folder by
default, an S3 bucket when sales_mart_archive_url says so (here moto's S3 server). The COPY
task reads the archived object, not a file the download task left on its worker's disk."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from conftest import DAYS, FIRST_DAY, ROWS_PER_DAY, SEED
from orders import fetch, mart_dump

from sales_mart.sandbox import data

pytestmark = pytest.mark.slow


def use_s3_archive(pipeline, s3_server) -> str:
    bucket = f"sales-archive-{uuid.uuid4().hex[:8]}"
    s3_server.client().create_bucket(Bucket=bucket)
    pipeline.monkeypatch.setenv("AIRFLOW_CONN_SALES_ARCHIVE", s3_server.connection())
    pipeline.monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_ARCHIVE_CONN_ID", "sales_archive")
    pipeline.monkeypatch.setenv("AIRFLOW_VAR_SALES_MART_ARCHIVE_URL", f"s3://{bucket}/raw/")
    return bucket


def test_an_s3_archive_holds_the_raw_files_and_the_mart_is_the_same(
        pipeline, s3_server, dwh, dwh_url, fresh_warehouse, files):
    bucket = use_s3_archive(pipeline, s3_server)
    day = DAYS[1]
    for state, tasks in (pipeline.history(), pipeline.daily(day)):
        assert state == "success", tasks

    s3 = s3_server.client()
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    expected = files / "inc.csv"
    data.write_increment(expected, day, seed=SEED, rows_per_day=ROWS_PER_DAY)
    digest = hashlib.sha256(expected.read_bytes()).hexdigest()
    inc_key = f"raw/increments/user_order_log_inc_{day}_{digest[:16]}.csv"
    assert inc_key in keys and len(keys) == 2
    assert s3.get_object(Bucket=bucket, Key=inc_key)["Body"].read() == expected.read_bytes()
    # the journal names the archived object; the worker's local folder keeps nothing
    names = [name for (name,) in fetch(dwh, "select file_name from staging.load_log "
                                            "order by load_id")]
    # (Airflow's form of an object storage URI: the connection id in its user part)
    archived = f"s3://sales_archive@{bucket}/"
    assert names[-1] == archived + inc_key and names[0].startswith(archived)
    assert not [p for p in pipeline.landing.rglob("*") if p.is_file()]

    # the same days with the default archive (the local folder) give the same mart
    with_s3 = mart_dump(dwh)
    other = fresh_warehouse()
    for name in ("AIRFLOW_VAR_SALES_MART_ARCHIVE_URL", "AIRFLOW_VAR_SALES_MART_ARCHIVE_CONN_ID"):
        pipeline.monkeypatch.delenv(name)
    pipeline.use_warehouse(other)
    for state, tasks in (pipeline.history(FIRST_DAY), pipeline.daily(day)):
        assert state == "success", tasks
    import psycopg2

    conn = psycopg2.connect(other)
    try:
        assert mart_dump(conn) == with_s3
    finally:
        conn.close()
    assert len(list(pipeline.landing.rglob("*.csv"))) == 2
