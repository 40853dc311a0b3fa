"""The Airflow side of sales_mart: what the tasks of ``dags/sales_mart_*.py`` do, one module
per concern, named as a reader finds them in the DAG graph:

- :mod:`~sales_mart.airflow.settings` — connection ids, task ids, the settings read when a DAG
  file is parsed (environment only) and when a task runs (Variables);
- :mod:`~sales_mart.airflow.timeouts` — every task's ``execution_timeout`` and the message that
  names what a task waited for when it ran out of time;
- :mod:`~sales_mart.airflow.report` — the report API tasks ``generate_report``,
  ``get_increment`` and ``download``;
- :mod:`~sales_mart.airflow.report_sensor` — the ``wait_for_report`` sensor;
- :mod:`~sales_mart.airflow.archive` — where raw files are archived, and their pruning;
- :mod:`~sales_mart.airflow.dwh` — the warehouse session of the tasks (``sales_dwh``);
- :mod:`~sales_mart.airflow.load` — ``copy_to_staging`` and ``ingest``, and marking a load
  failed;
- :mod:`~sales_mart.airflow.checks` — the data-quality gates (``CheckFileOperator``);
- :mod:`~sales_mart.airflow.publish` — ``publish`` and the warehouse half of a DAG;
- :mod:`~sales_mart.airflow.alerts` — the failure e-mail and the freshness alert;
- :mod:`~sales_mart.airflow.lineage` — the datasets each task reads and writes (OpenLineage)
  and the retention Assets.

Imports go one way: DAG files → this package → the client and the warehouse
(:mod:`sales_mart.api_client`, :mod:`sales_mart.warehouse`, :mod:`sales_mart.config`), never
the reverse and never the sandbox or the developer tools (tests/test_import_direction.py).
Nothing here touches a database or the network when imported.
"""
