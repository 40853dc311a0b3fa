"""
# sales_mart_history

Loads the report API's full report (`user_order_log`, about 23 days of history) into the
retention mart, the same way `sales_mart_daily` loads a day. Trigger it by hand, once, before
the daily runs (SPEC §6); loading it again is safe.

1. `generate_report` → `wait_for_report` (connection `sales_api`);
2. `download`: the report's `user_order_log` into the landing folder
   (Variable `sales_mart_landing_dir`), kept as `history/user_order_log_<last day>_<sha256>.csv`;
   an incomplete or empty file fails here (gate 1);
3. `copy_to_staging` (one `COPY`), `ingest` (`CALL staging.ingest_load(load_id)`);
4. gates, one `SQLCheckOperator` each (files of `db/checks`), as in the daily DAG;
5. `publish`: `CALL mart.publish_load(load_id, share)` (gates again, merge, reconciliation,
   refresh, in one transaction); `net_revenue_reconciles`: a read-only confirmation.

Failures e-mail Variable `sales_mart_alert_email` through connection `sales_smtp`; a failure
after the COPY marks the load `failed` in `staging.load_log`. See docs/airflow.md.
"""

from __future__ import annotations

from airflow.sdk import dag, task

from sales_mart.airflow import alerts, load, publish, report, settings
from sales_mart.airflow.report_sensor import ReportReadySensor, report_sensor_args


@dag(
    dag_id="sales_mart_history",
    schedule=None,
    # Manual: any logical date may be given (a date before start_date would run no task).
    start_date=settings.ANY_DATE,
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    render_template_as_native_obj=True,
    default_args={"retries": 0, "on_failure_callback": [alerts.notify_failure]},
    tags=["sales_mart"],
)
def sales_mart_history():
    @task(**report.api_task_args())
    def generate_report() -> str:
        return report.request_report()

    @task(**report.download_task_args())
    def download(ready: dict) -> dict:
        return report.download_history(ready["task_id"])

    @task(**load.copy_task_args())
    def copy_to_staging(landed: dict) -> int:
        return load.copy_to_staging(landed["uri"], landed["sha256"], source="history",
                                    day=None)

    @task(**load.after_copy_args())
    def ingest(load_id: int) -> dict:
        return load.ingest(load_id)

    wait_for_report = ReportReadySensor(
        task_id="wait_for_report", report_task_id=generate_report(),
        **report_sensor_args())
    load_id = copy_to_staging(download(wait_for_report.output))
    publish.load_into_mart(ingest(load_id))


sales_mart_history()
