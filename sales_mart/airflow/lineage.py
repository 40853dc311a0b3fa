"""Lineage: the tables and files each task reads and writes, for OpenLineage, and the retention
tables as Airflow Assets.

Datasets follow OpenLineage's naming: a table of the warehouse is namespace
``postgres://<host>:<port>``, name ``<database>.<schema>.<table>``, taken from the ``sales_dwh``
connection when the task runs (so one DAG file serves any warehouse); a raw file is named by
the archive it is in (``file`` + its path, or ``s3://<bucket>`` + its key).

| task | reads | writes |
|---|---|---|
| ``download`` | — (the report API) | the raw file in the archive |
| ``copy_to_staging`` | the raw file in the archive | ``staging.user_order_inc`` |
| ``ingest`` | ``staging.user_order_inc`` | ``staging.user_order_log``, ``staging.user_order_log_rejects`` |
| the gates | ``staging.user_order_log`` (with the check's result) | — |
| ``publish`` | ``staging.user_order_log`` | ``mart.d_city``, ``mart.d_item``, ``mart.d_customer``, ``mart.f_sales``, ``mart.customer_retention``, ``mart.customer_retention_by_city`` |
| ``net_revenue_reconciles`` | ``staging.user_order_log``, ``mart.f_sales`` (with the check's result) | — |

``generate_report``, ``wait_for_report`` and ``get_increment`` move no data: their events name
no dataset. The load journal (``staging.load_log`` and the tables beside it) is bookkeeping,
not data, and is left out.

How each kind of task reports them, as the provider expects: the SQL operators through their
``get_openlineage_facets_on_complete``; the ``@task`` tasks through Airflow's hook lineage
collector (:func:`collect`), which also receives the archive reads and writes of
``ObjectStoragePath`` by itself.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from sales_mart.airflow.settings import DWH_CONN_ID

DEFAULT_PORT = 5432
DEFAULT_DATABASE = "sales_mart"

LANDING_TABLE = "staging.user_order_inc"
STAGED_TABLE = "staging.user_order_log"
REJECTS_TABLE = "staging.user_order_log_rejects"
FACTS_TABLE = "mart.f_sales"
DIMENSIONS = ("mart.d_city", "mart.d_item", "mart.d_customer")
RETENTION_TABLES = ("mart.customer_retention", "mart.customer_retention_by_city")

COPY_WRITES = (LANDING_TABLE,)
INGEST_READS, INGEST_WRITES = (LANDING_TABLE,), (STAGED_TABLE, REJECTS_TABLE)
PUBLISH_READS = (STAGED_TABLE,)
PUBLISH_WRITES = (*DIMENSIONS, FACTS_TABLE, *RETENTION_TABLES)
# Each check file: the tables it reads; its result is attached to the first (what it checks).
CHECK_READS = {
    "staging_has_rows": (STAGED_TABLE,),
    "more_than_three_customers": (STAGED_TABLE,),
    "rows_dated_on_delivery_day": (STAGED_TABLE,),
    "rows_reconcile": (STAGED_TABLE,),
    "staged_rows_valid": (STAGED_TABLE,),
    "reject_share_within_threshold": (STAGED_TABLE,),
    "net_revenue_reconciles": (FACTS_TABLE, STAGED_TABLE),
}


# --- names -------------------------------------------------------------------------------


def warehouse_of(host: str | None, port: int | None, database: str | None) -> tuple[str, str]:
    """``(namespace, database)`` of a warehouse: ``postgres://host:port`` and its database."""
    return (f"postgres://{host or '127.0.0.1'}:{port or DEFAULT_PORT}",
            database or DEFAULT_DATABASE)


def connection_warehouse(conn) -> tuple[str, str]:
    """The namespace and database of an Airflow connection to the warehouse."""
    return warehouse_of(conn.host, conn.port, conn.schema)


def table_uri(namespace: str, database: str, table: str) -> str:
    """The Airflow Asset URI of a warehouse table, which the postgres provider converts to the
    OpenLineage dataset ``namespace`` / ``database.schema.table``."""
    schema, _, name = table.partition(".")
    return f"{namespace}/{database}/{schema}/{name}"


WAREHOUSE_URI_ENV = "SALES_MART_WAREHOUSE_URI"
DEFAULT_WAREHOUSE_URI = "postgres://127.0.0.1:5432/sales_mart"


def parse_time_warehouse() -> tuple[str, str]:
    """The warehouse named by ``SALES_MART_WAREHOUSE_URI`` (``postgres://host:port/database``,
    no login; default ``postgres://127.0.0.1:5432/sales_mart``), for what is fixed when a DAG
    file is parsed: the retention Assets' URIs. Set it, in every Airflow component's
    environment alike, to the warehouse of ``sales_dwh``; the ``publish`` task warns at run
    time when they differ (:func:`check_assets`)."""
    url = urlsplit(os.environ.get(WAREHOUSE_URI_ENV) or DEFAULT_WAREHOUSE_URI)
    return warehouse_of(url.hostname, url.port, url.path.lstrip("/"))


def retention_assets() -> list:
    """The retention tables as Airflow Assets: ``publish`` updates them (its outlets). Their
    names stay ``mart.customer_retention`` and ``mart.customer_retention_by_city`` (a downstream
    DAG schedules on ``Asset.ref(name=…)``, wherever the warehouse is); their URIs are the
    ``postgres://`` URIs of the tables, so lineage and Assets name the same thing."""
    from airflow.sdk import Asset

    namespace, database = parse_time_warehouse()
    return [Asset(name=table, uri=table_uri(namespace, database, table), group="sales_mart")
            for table in RETENTION_TABLES]


# --- run time ----------------------------------------------------------------------------


def datasets(conn, tables, facets: dict | None = None, kind: str = "input") -> list:
    """OpenLineage datasets of warehouse ``tables``; ``facets`` go on the first (input facets
    for an input, e.g. a check's result)."""
    from openlineage.client.event_v2 import InputDataset, OutputDataset

    namespace, database = connection_warehouse(conn)
    made = []
    for n, table in enumerate(tables):
        name = f"{database}.{table}"
        if kind == "input":
            made.append(InputDataset(namespace=namespace, name=name,
                                     inputFacets=(facets or {}) if n == 0 else {}))
        else:
            made.append(OutputDataset(namespace=namespace, name=name))
    return made


def operator_lineage(conn, reads=(), writes=(), input_facets: dict | None = None):
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=datasets(conn, reads, input_facets),
                           outputs=datasets(conn, writes, kind="output"))


def check_facets(check: str, passed: bool | None, detail: str | None) -> dict:
    """A gate's result as OpenLineage's data-quality assertions facet of the dataset it checks."""
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    if passed is None:  # it did not get as far as a result (e.g. no connection)
        return {}
    return {"dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(
        assertions=[dq.Assertion(assertion=check, success=bool(passed), actual=detail)])}


def start_collecting() -> None:
    """Called first in each ``@task`` task: a new hook lineage collector for this task. A
    worker runs each task in a process of its own, so this changes nothing there; ``dag.test()``
    and ``airflow dags test`` run every task of the run in one process, where the collector
    (one per process) would otherwise carry every earlier task's datasets into later events."""
    from airflow.sdk.lineage import get_hook_lineage_collector

    get_hook_lineage_collector.cache_clear()


def collect(reads=(), writes=()) -> None:
    """Reports the warehouse tables an ``@task`` task read and wrote to the hook lineage
    collector (the OpenLineage provider turns them into the task's datasets)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.lineage import get_hook_lineage_collector

    from sales_mart.airflow.dwh import connection

    conn = connection()
    namespace, database = connection_warehouse(conn)
    collector = get_hook_lineage_collector()
    context = PostgresHook(postgres_conn_id=DWH_CONN_ID)  # names the source; does not connect
    for table in reads:
        collector.add_input_asset(context=context, uri=table_uri(namespace, database, table))
    for table in writes:
        collector.add_output_asset(context=context, uri=table_uri(namespace, database, table))


def check_assets(outlets, conn, log) -> None:
    """Warns when the retention Assets (fixed at parse time, :func:`parse_time_warehouse`) name another
    warehouse than ``sales_dwh``: downstream DAGs would still run, but lineage and Assets would
    disagree."""
    namespace, database = connection_warehouse(conn)
    for asset in outlets:
        uri = getattr(asset, "uri", "")
        if uri.startswith("postgres") and not uri.startswith(f"{namespace}/{database}/"):
            log.warning("Asset %s has URI %s, but sales_dwh is %s/%s: set %s in every Airflow "
                        "component's environment to the warehouse of sales_dwh",
                        asset.name, uri, namespace, database, WAREHOUSE_URI_ENV)
