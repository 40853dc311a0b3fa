"""
# sales_mart_daily

Loads one day's order increment from the report API into the retention mart (SPEC §6).

For the run's logical date `ds`:

1. `generate_report` → `wait_for_report` (a sensor in poke mode: one try that polls the
   report, 1 s then up to 5 s apart, while it is RUNNING) → `get_increment` (report API, connection `sales_api`;
   `NOT FOUND` fails the run with the API's reason and says to use `sales_mart_history`);
2. `download`: the day's `user_order_log_inc` into the landing folder
   (Variable `sales_mart_landing_dir`), kept as `increments/user_order_log_inc_<ds>_<sha256>.csv`;
   an incomplete or empty file fails here (gate 1);
3. `copy_to_staging`: one `COPY` into `staging.user_order_inc` (a load in `staging.load_log`);
4. `ingest`: `CALL staging.ingest_load(load_id)`;
5. gates, one `SQLCheckOperator` each (files of `db/checks`): `staging_has_rows` (gate 1),
   `more_than_three_customers` (gate 2), `rows_dated_on_delivery_day`, `rows_reconcile`,
   `staged_rows_valid`, `reject_share_within_threshold` (Variable
   `sales_mart_max_reject_share`, default 0.01);
6. `publish`: `CALL mart.publish_load(load_id, share)`: the gates again, the merge into the
   mart, the reconciliation and the refresh of the retention views, in **one transaction**;
7. `net_revenue_reconciles`: a read-only confirmation of the published day.

Any failed task e-mails Variable `sales_mart_alert_email` through connection `sales_smtp`; a
failure after the COPY also marks the load `failed` in `staging.load_log`, and the mart is
exactly as before (the day's earlier delivery, if any, stays published). Re-running a date is
safe. Each kind of API failure is retried by one layer only (docs/airflow.md, "Retry layers").
"""

from __future__ import annotations

from airflow.sdk import dag, task

from sales_mart.airflow import alerts, load, publish, report, settings
from sales_mart.airflow.report_sensor import ReportReadySensor, report_sensor_args


@dag(
    dag_id="sales_mart_daily",
    # @daily over data intervals (the run for day D starts once D is over, with ds = D); the
    # catch-up never reaches a day outside the report API's window (SALES_MART_API_WINDOW_DAYS)
    # nor before SALES_MART_START_DATE. start_date is early so that any date a person runs or
    # triggers gets its tasks: it loads, or fails saying why.
    schedule=settings.daily_timetable(),
    start_date=settings.ANY_DATE,
    catchup=True,
    max_active_runs=1,
    # Day D not published by D+1 09:00 UTC (SALES_MART_FRESHNESS_HOURS=33) e-mails the alert
    # address: an Airflow deadline alert, noticed by the scheduler, sent by the triggerer.
    deadline=alerts.freshness_deadline(),
    doc_md=__doc__,
    render_template_as_native_obj=True,
    default_args={"retries": 0, "on_failure_callback": [alerts.notify_failure]},
    tags=["sales_mart"],
)
def sales_mart_daily():
    @task(**report.api_task_args())
    def generate_report() -> str:
        return report.request_report()

    @task(**report.api_task_args())
    def get_increment(ready: dict, ds=None) -> dict:
        return report.get_increment(ready["report_id"], ds)

    @task(**report.download_task_args())
    def download(increment: dict, ds=None) -> dict:
        return report.download_increment(increment["report_id"], ds)

    @task(**load.copy_task_args())
    def copy_to_staging(landed: dict, ds=None) -> int:
        return load.copy_to_staging(landed["uri"], landed["sha256"], source="increment",
                                    day=ds)

    @task(**load.after_copy_args())
    def ingest(load_id: int) -> dict:
        return load.ingest(load_id)

    wait_for_report = ReportReadySensor(
        task_id="wait_for_report", report_task_id=generate_report(),
        **report_sensor_args())
    load_id = copy_to_staging(download(get_increment(wait_for_report.output)))
    publish.load_into_mart(ingest(load_id))


sales_mart_daily()
