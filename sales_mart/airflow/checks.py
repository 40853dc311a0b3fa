"""The data-quality gates and the final confirmation: one ``SQLCheckOperator`` per file of
``db/checks`` (the files ``sales-mart load`` runs too)."""

from __future__ import annotations

from typing import Any

from airflow.providers.common.sql.operators.sql import SQLCheckOperator

from sales_mart.airflow import dwh, lineage, timeouts
from sales_mart.airflow.settings import DWH_CONN_ID, LOAD_ID_TEMPLATE


def check_sql(name: str) -> str:
    from sales_mart import warehouse

    return warehouse.check_sql(name)


def check_parameters() -> dict[str, str]:
    """Templated parameters of every check file: the run's load id and the reject threshold."""
    from sales_mart import warehouse

    default = warehouse.DEFAULT_MAX_REJECT_SHARE
    return {
        "load_id": LOAD_ID_TEMPLATE,
        "max_reject_share": (
            "{{ var.value.get('sales_mart_max_reject_share', " + str(default) + ") | float }}"
        ),
    }


class CheckFileOperator(SQLCheckOperator):
    """``SQLCheckOperator`` running one file of ``db/checks``, with templated ``parameters``
    (the run's load id from XCom). The failure message names the check and its result row
    ``(passed, detail)``; its OpenLineage event names the tables it read, the checked one
    carrying the result (a data-quality assertion)."""

    template_fields = (*SQLCheckOperator.template_fields, "parameters")

    def __init__(self, *, check: str, **kwargs: Any) -> None:
        kwargs.setdefault("task_id", check)
        kwargs.setdefault("conn_id", DWH_CONN_ID)
        kwargs.setdefault("hook_params", dwh.hook_params())
        kwargs.setdefault("parameters", check_parameters())
        kwargs.setdefault("execution_timeout", timeouts.execution_timeout(timeouts.CHECK))
        super().__init__(sql=check_sql(check), **kwargs)
        self.check = check

    def execute(self, context):
        dwh.refresh_hook(self)
        with timeouts.waiting(self.task_id, timeouts.CHECK, self.execution_timeout):
            return super().execute(context)

    def _raise_exception(self, exception_string: str):
        results = getattr(self, "check_results", None) or []
        actual = results[0].actual if results else None
        if actual:
            exception_string = (f"data-quality check {self.check} failed for load "
                                f"{(self.parameters or {}).get('load_id')}: {actual}")
        super()._raise_exception(exception_string)

    # OpenLineage: the tables, named from the connection when the task runs (not the provider's
    # SQL parser, which cannot read `%(load_id)s` and would take the check function for a table).
    def get_openlineage_facets_on_start(self):
        return lineage.operator_lineage(dwh.connection(),
                                        reads=lineage.CHECK_READS[self.check])

    def get_openlineage_facets_on_complete(self, task_instance):
        results = getattr(self, "check_results", None) or []
        passed = results[0].success if results else None
        detail = results[0].actual if results else None
        return lineage.operator_lineage(
            dwh.connection(), reads=lineage.CHECK_READS[self.check],
            input_facets=lineage.check_facets(self.check, passed, detail))

    def get_openlineage_facets_on_failure(self, task_instance):
        return self.get_openlineage_facets_on_complete(task_instance)
