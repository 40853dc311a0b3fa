"""The tasks' sessions in the warehouse (connection ``sales_dwh``).

Two drivers, one set of session settings. The ``@task`` tasks hand their connection to
:mod:`sales_mart.warehouse`, whose COPY path and error reports are psycopg2's (the command line
shares them), so they connect with psycopg2. The SQL operators connect through
``PostgresHook``, which uses psycopg 3 whenever it is installed (the postgres provider depends
on it), so it cannot be made psycopg2. Either way every session carries the same libpq
``options`` (:func:`sales_mart.config.dwh_session_options`): the lock and statement timeouts and
the pipeline's role.
"""

from __future__ import annotations

from typing import Any

from sales_mart.airflow.settings import DWH_CONN_ID, dwh_role


def session_options() -> str:
    """libpq ``options`` of every task session: ``-c lock_timeout=… -c statement_timeout=…``
    and, unless ``SALES_DWH_ROLE`` is empty, ``-c role=…``."""
    from sales_mart import config

    return config.dwh_session_options(dwh_role())


def hook_params() -> dict[str, str]:
    """``hook_params`` of the SQL operators: ``PostgresHook(options=…)``."""
    return {"options": session_options()}


def refresh_hook(operator) -> None:
    """Before a SQL operator runs: its ``hook_params`` from the settings as they are now (the
    timeouts are read when the task runs, like every other run-time setting, not when the DAG
    file was parsed), and no hook made with older ones."""
    operator.hook_params = {**(operator.hook_params or {}), **hook_params()}
    operator.__dict__.pop("_hook", None)  # BaseSQLOperator._hook is a cached_property


def connection():
    """The ``sales_dwh`` connection (for names: lineage), without opening a session."""
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(DWH_CONN_ID)


def connect():
    """A psycopg2 connection to ``sales_dwh`` with :func:`session_options`."""
    import psycopg2
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(DWH_CONN_ID)
    kwargs: dict[str, Any] = {
        "host": conn.host or "127.0.0.1",
        "port": conn.port or 5432,
        "user": conn.login or None,
        "password": conn.password or None,
        "dbname": conn.schema or "sales_mart",
        "application_name": "sales_mart_airflow",
        "options": session_options(),
    }
    extra = conn.extra_dejson or {}
    for key in ("sslmode", "sslrootcert", "connect_timeout"):
        if key in extra:
            kwargs[key] = extra[key]
    return psycopg2.connect(**{k: v for k, v in kwargs.items() if v is not None})
