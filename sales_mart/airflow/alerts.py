"""The failure e-mail of every task and the daily DAG's freshness alert, to Airflow Variable
``sales_mart_alert_email`` through the SMTP connection ``sales_smtp``; each says what to do
next, with a command that is safe to run (docs/airflow.md, "When a run fails")."""

from __future__ import annotations

import datetime as dt
import logging
import sys
from pathlib import Path
from typing import Any

import pendulum

from sales_mart.airflow.settings import API_TASK_IDS, SMTP_CONN_ID, env_float, setting

log = logging.getLogger(__name__)

DAILY_DAG_ID = "sales_mart_daily"

ALERT_SUBJECT = ("[sales_mart] {{ dag.dag_id }} failed for {{ ds }} "
                 "at task {{ ti.task_id }}")
# Everything quoted is HTML-escaped: a reason may quote an API answer or a data value.
ALERT_BODY = """\
<p>DAG <b>{{ dag.dag_id | e }}</b>, date <b>{{ ds | e }}</b>, run {{ run_id | e }}:
task <b>{{ ti.task_id | e }}</b> failed (try {{ ti.try_number }}).</p>
<p>Reason:</p>
<pre>{{ exception | e }}</pre>
<p>Next step: {{ next_step | e }}</p>
<p>Log: <a href="{{ ti.log_url | e }}">{{ ti.log_url | e }}</a></p>
"""


def clear_command(dag_id: str, logical_date: Any) -> str:
    """The command that runs one existing run again, every task of it, through the scheduler
    and the executor (a new report, a new load: re-running a date is safe). Not
    ``airflow dags test``: on Airflow 3.3 that deletes the run, runs it in the caller's process
    outside the executor, and skips the deadline alert."""
    stamp = pendulum.instance(logical_date).in_timezone("UTC").isoformat()
    return f"airflow tasks clear {dag_id} --start-date {stamp} --end-date {stamp} --yes"


def backfill_command(first_day: str, last_day: str) -> str:
    """The command for a span of days of the daily DAG that failed or never ran: a backfill,
    through the scheduler, re-running the failed days as well."""
    return (f"airflow backfill create --dag-id {DAILY_DAG_ID} --from-date {first_day} "
            f"--to-date {last_day} --reprocess-behavior failed")


def rerun_command(context) -> str:
    """How to run the failed run again: clear it (all its tasks), or, for a manual run without
    a logical date, trigger a new one (loading the full report again is safe)."""
    dag_id = context["ti"].dag_id
    logical_date = getattr(context.get("dag_run"), "logical_date", None)
    if logical_date is None:
        return f"airflow dags trigger {dag_id}"
    return clear_command(dag_id, logical_date)


def next_step(context) -> str:
    """What the person reading the failure e-mail should do, by the failed task."""
    ti = context["ti"]
    again = (f"then run the date again: `{rerun_command(context)}` (or clear the run in the "
             "UI), which re-runs every task of it through the scheduler.")
    if ti.task_id in API_TASK_IDS:
        return ("nothing reached the warehouse. If the API is down or refusing, wait, or fix "
                "the connection sales_api as the reason says; for a day the API no longer "
                f"serves, use sales_mart_history; {again}")
    return ("the mart is as it was before this delivery. The load is journalled in "
            "staging.load_log (status, error) and rejected rows in "
            "staging.user_order_log_rejects; fix the cause at the source, " + again)


def failure_notifier():
    """The failure e-mail: DAG, date, task, reason, log link, to Variable sales_mart_alert_email."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    return SmtpNotifier(
        from_email="{{ var.value.get('sales_mart_alert_from', 'sales-mart@localhost') }}",
        to="{{ var.value.sales_mart_alert_email }}",
        smtp_conn_id=SMTP_CONN_ID,
        subject=ALERT_SUBJECT,
        html_content=ALERT_BODY,
    )


def notify_failure(context) -> None:
    """Failure callback: sends the e-mail with a fresh :func:`failure_notifier`.

    A notifier renders its templates in place, so one shared instance would repeat the first
    failure's subject in every later e-mail of the same process (``airflow dags test``).
    """
    failure_notifier()({**context, "next_step": next_step(context)})


FRESHNESS_SUBJECT = ("[sales_mart] {{ dag_run.dag_id }}: {{ dag_run.logical_date[:10] }} not "
                     "published by {{ deadline.deadline_time }}")
FRESHNESS_BODY = """\
<p>Day <b>{{ dag_run.logical_date[:10] | e }}</b> of <b>{{ dag_run.dag_id | e }}</b> was not
published by its deadline, {{ deadline.deadline_time | e }} (run {{ dag_run.run_id | e }},
state {{ dag_run.state | e }}). The retention tables do not hold that day yet.</p>
<p>Next step: look at the run in the Airflow UI. If it is still running or queued, wait for
it. If it failed, its failure e-mail says why; once the cause is fixed, run it again:
<code>{{ clear_command | e }}</code> (or clear the run in the UI). For a span of days that
failed or never ran:
<code>{{ backfill_command | e }}</code>.</p>
"""


def freshness_deadline():
    """The daily DAG's deadline alert: day D not published ``SALES_MART_FRESHNESS_HOURS`` hours
    after D began (default 33: D+1 09:00 UTC) e-mails the alert address (Airflow 3 deadline
    alerts: the scheduler notices the miss, the triggerer runs :func:`freshness_alert`).
    ``0`` turns it off."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    hours = env_float("SALES_MART_FRESHNESS_HOURS", 33)
    if hours <= 0 or under_dags_test():
        return None
    return DeadlineAlert(reference=DeadlineReference.DAGRUN_LOGICAL_DATE,
                         interval=dt.timedelta(hours=hours), callback=AsyncCallback(freshness_alert),
                         name="sales_mart_freshness")


def under_dags_test() -> bool:
    """Whether this process is ``airflow dags test``. There the deadline alert is left out:
    no scheduler runs to notice a miss, and Airflow 3.3.2's ``dag.test()`` fails when a run
    with a deadline alert succeeds (``DagRun.update_state`` looks the alerts up by id, while
    the test's in-memory DAG holds their definitions). For ``dag.test()`` from Python, set
    ``SALES_MART_FRESHNESS_HOURS=0``."""
    return Path(sys.argv[0]).name == "airflow" and sys.argv[1:3] == ["dags", "test"]


async def freshness_alert(context: dict[str, Any], **_: Any) -> None:
    """Deadline-alert callback (runs on the triggerer): e-mails Variable
    ``sales_mart_alert_email`` through ``sales_smtp`` that the run's day is not published.
    A run created after its deadline (catch-up of older days, a person running an old date)
    sends nothing: that would be one alert per day caught up, about days long past."""
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from asgiref.sync import sync_to_async

    run = context["dag_run"]
    deadline = pendulum.parse(str(context["deadline"]["deadline_time"]))
    # When the run came to be: queued (scheduler, trigger) or, for a manual run, run_after.
    born = [pendulum.parse(str(run[k])) for k in ("queued_at", "run_after") if run.get(k)]
    if born and max(born) > deadline:
        # Born after its deadline (a catch-up run, a person re-running an old day): not a
        # freshness miss, and its own failure e-mail (if any) says the rest.
        log.info("run %s was created after its deadline %s: no freshness alert",
                 run.get("dag_run_id"), deadline)
        return
    day = str(run["logical_date"])[:10]
    to = await sync_to_async(setting)("sales_mart_alert_email")
    sender = await sync_to_async(setting)("sales_mart_alert_from", "sales-mart@localhost")
    notifier = SmtpNotifier(from_email=sender, to=to, smtp_conn_id=SMTP_CONN_ID,
                            subject=FRESHNESS_SUBJECT, html_content=FRESHNESS_BODY)
    context = {**context,
               "clear_command": clear_command(run.get("dag_id", DAILY_DAG_ID),
                                                  pendulum.parse(str(run["logical_date"]))),
               "backfill_command": backfill_command(day, day)}
    notifier.render_template_fields(context)
    await notifier.async_notify(context)
