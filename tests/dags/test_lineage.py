"""OpenLineage: through a real ``dag.test()`` run with the provider's file transport, every
task's COMPLETE event names the datasets it read and wrote, in the namespace of the
``sales_dwh`` connection; the gates carry their results on the dataset they check (also when one
fails); the retention Assets' URIs are the same tables.

The run goes in a fresh interpreter: the provider reads its transport and registers its
listener once per process, and the tests before this one ran Airflow in this process without a
transport. It has a metadata DB of its own: its retention Assets name this test's warehouse,
and Airflow keeps one URI per Asset name in a metadata DB (the session's DAG tests use another).
Connections and Variables reach it through the environment, as in the other DAG tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import pytest
from conftest import DAGS_DIR, DAYS, FIRST_DAY, REPO

pytestmark = pytest.mark.slow

RUN = textwrap.dedent("""
    import datetime, sys
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import timezone
    dag = DagBag(dag_folder=sys.argv[1]).get_dag(sys.argv[2])
    day = datetime.date.fromisoformat(sys.argv[3])
    run = dag.test(logical_date=timezone.datetime(day.year, day.month, day.day))
    print("RUN", run.state, [str(a.uri) for t in dag.tasks for a in t.outlets])
""")


@pytest.fixture(scope="module")
def empty_metadata_db(tmp_path_factory):
    """A migrated, empty SQLite metadata DB, copied for each run."""
    path = tmp_path_factory.mktemp("lineage-metadata") / "airflow.db"
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{path}"}
    subprocess.run([sys.executable, "-c", "from airflow.utils import db; db.initdb()"],
                   env=env, check=True, capture_output=True, timeout=300)
    return path


def run_with_lineage(dag_id, day, events_file, dwh_url, metadata_db):
    url = urlsplit(dwh_url)
    own_db = events_file.with_name("airflow.db")
    shutil.copy(metadata_db, own_db)
    env = {**os.environ, "SALES_MART_WAREHOUSE_URI": f"postgres://{url.hostname}:{url.port}{url.path}",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{own_db}",
           "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(
        {"type": "file", "log_file_path": str(events_file), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "sales_mart_test"}
    done = subprocess.run([sys.executable, "-c", RUN, str(DAGS_DIR / f"{dag_id}.py"), dag_id,
                           day.isoformat()], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RUN "))
    state, _, outlets = line[4:].partition(" ")
    return state, eval(outlets)  # noqa: S307 - our own printed list of strings


def task_events(events_file, dag_id):
    """task id -> its last COMPLETE or FAIL event (inputs, outputs)."""
    found = {}
    for line in events_file.read_text().splitlines():
        event = json.loads(line)
        job = event["job"]["name"]
        if event["eventType"] in ("COMPLETE", "FAIL") and job.startswith(dag_id + "."):
            found[job.split(".", 1)[1]] = event
    return found


def names(datasets):
    return sorted((d["namespace"], d["name"]) for d in datasets)


def assertion(dataset):
    facet = dataset.get("inputFacets", {}).get("dataQualityAssertions")
    return facet and [(a["assertion"], a["success"]) for a in facet["assertions"]]


def test_every_task_names_its_datasets(pipeline, dwh_url, tmp_path, empty_metadata_db):
    events_file = tmp_path / "ol.jsonl"
    day = DAYS[1]
    state, outlets = run_with_lineage("sales_mart_daily", day, events_file, dwh_url,
                                      empty_metadata_db)
    assert state == "success"

    url = urlsplit(dwh_url)
    ns, db = f"postgres://{url.hostname}:{url.port}", url.path.lstrip("/")

    def table(name):
        return (ns, f"{db}.{name}")

    (raw,) = pipeline.landing.glob(f"increments/user_order_log_inc_{day}_*.csv")
    raw_file = ("file", str(raw))
    staged = table("staging.user_order_log")
    expected = {  # task: (inputs, outputs)
        "generate_report": ([], []),
        "wait_for_report": ([], []),
        "get_increment": ([], []),
        "download": ([], [raw_file]),
        "copy_to_staging": ([raw_file], [table("staging.user_order_inc")]),
        "ingest": ([table("staging.user_order_inc")],
                   sorted([staged, table("staging.user_order_log_rejects")])),
        **{gate: ([staged], []) for gate in (
            "staging_has_rows", "more_than_three_customers", "rows_dated_on_delivery_day",
            "rows_reconcile", "staged_rows_valid", "reject_share_within_threshold")},
        "publish": ([staged], sorted(table(t) for t in (
            "mart.d_city", "mart.d_item", "mart.d_customer", "mart.f_sales",
            "mart.customer_retention", "mart.customer_retention_by_city"))),
        "net_revenue_reconciles": (sorted([table("mart.f_sales"), staged]), []),
    }
    events = task_events(events_file, "sales_mart_daily")
    assert sorted(events) == sorted(expected)
    for task, (inputs, outputs) in expected.items():
        event = events[task]
        assert event["eventType"] == "COMPLETE", task
        assert (names(event["inputs"]), names(event["outputs"])) == (inputs, outputs), task

    # each gate's result sits on the dataset it checks
    for task in [*list(expected)[6:12], "net_revenue_reconciles"]:
        checked = events[task]["inputs"][0]
        want = table("mart.f_sales" if task == "net_revenue_reconciles"
                     else "staging.user_order_log")
        assert (checked["namespace"], checked["name"]) == want
        assert assertion(checked) == [(task, True)], task

    # the retention Assets are the tables lineage names
    assert sorted(outlets) == sorted(f"{ns}/{db}/mart/{t}" for t in
                                     ("customer_retention", "customer_retention_by_city"))


def test_a_failing_gate_reports_its_failed_assertion(pipeline, dwh_url, tmp_path,
                                                      empty_metadata_db):
    events_file = tmp_path / "ol.jsonl"
    pipeline.sandbox.set_faults({"file_faults": {FIRST_DAY.isoformat(): "few_customers"}})
    state, _ = run_with_lineage("sales_mart_daily", FIRST_DAY, events_file, dwh_url,
                                empty_metadata_db)
    assert state == "failed"
    events = task_events(events_file, "sales_mart_daily")
    failed = events["more_than_three_customers"]
    assert failed["eventType"] == "FAIL"
    assert assertion(failed["inputs"][0]) == [("more_than_three_customers", False)]
    assert failed["inputs"][0]["name"].endswith(".staging.user_order_log")
    assert events["staging_has_rows"]["eventType"] == "COMPLETE"
