"""``publish`` and the warehouse half of a DAG: after ``ingest``, the gates (one check file
each), then ``publish`` (``CALL mart.publish_load``: the gates again, merge, reconciliation and
refresh in one transaction, so a failure leaves the mart as it was), then a read-only
confirmation."""

from __future__ import annotations

import logging
from typing import Any

from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

from sales_mart.airflow import dwh, lineage, timeouts
from sales_mart.airflow.checks import CheckFileOperator, check_parameters
from sales_mart.airflow.load import after_copy_args
from sales_mart.airflow.settings import DWH_CONN_ID, PUBLISH_TASK_ID

log = logging.getLogger(__name__)


class PublishOperator(SQLExecuteQueryOperator):
    """``publish``: ``CALL mart.publish_load(load_id, share)``. Its outlets are the retention
    Assets; its OpenLineage event names the staged rows it read and the mart tables it wrote."""

    def __init__(self, **kwargs: Any) -> None:
        from sales_mart import warehouse

        kwargs.setdefault("task_id", PUBLISH_TASK_ID)
        kwargs.setdefault("conn_id", DWH_CONN_ID)
        kwargs.setdefault("hook_params", dwh.hook_params())
        kwargs.setdefault("parameters", check_parameters())
        kwargs.setdefault("outlets", lineage.retention_assets())
        kwargs.setdefault("execution_timeout", timeouts.execution_timeout(timeouts.WAREHOUSE))
        super().__init__(sql=warehouse.PUBLISH_SQL, **kwargs)

    def execute(self, context):
        dwh.refresh_hook(self)
        lineage.check_assets(self.outlets, dwh.connection(), log)
        with timeouts.waiting(self.task_id, timeouts.WAREHOUSE, self.execution_timeout):
            return super().execute(context)

    def get_openlineage_facets_on_start(self):
        return self.get_openlineage_facets_on_complete(None)

    def get_openlineage_facets_on_complete(self, task_instance):
        return lineage.operator_lineage(dwh.connection(),
                                        reads=lineage.PUBLISH_READS,
                                        writes=lineage.PUBLISH_WRITES)


def load_into_mart(ingested) -> None:
    """Inside a DAG: after the ingest task, the gates, ``publish``, the confirmation."""
    from airflow.sdk import chain

    from sales_mart import warehouse

    gates = [CheckFileOperator(check=name, **after_copy_args(timeouts.CHECK))
             for name in warehouse.GATE_CHECKS]
    publish = PublishOperator(**after_copy_args())
    confirm = [CheckFileOperator(check=name, **after_copy_args(timeouts.CHECK))
               for name in warehouse.FINAL_CHECKS]
    chain(ingested, *gates, publish, *confirm)
