"""The freshness alert: a day not published by its deadline (D+1 09:00 UTC) e-mails the alert
address. Airflow 3 deadline alerts, for real: ``dag.test`` creates the run and its deadline
row (the DAG's DeadlineAlert), the scheduler's step that finds missed deadlines queues the
callback, and the callback trigger runs the DAG's alert function, which sends through the
SMTP connection to the aiosmtpd sink. Only the two service loops are driven by the test: the
scheduler and the triggerer are long-running processes that cannot be given a fixed end."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from conftest import ALERT_TO, DAYS, parse_daily

pytestmark = pytest.mark.slow


def scheduler_step_for_missed_deadlines() -> int:
    """What the scheduler loop does for deadlines (SchedulerJobRunner._run_scheduler_loop):
    every unhandled deadline in the past is a miss, and its callback is queued."""
    from airflow._shared.timezones import timezone
    from airflow.models import Deadline
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        missed = session.scalars(select(Deadline).where(
            Deadline.deadline_time < timezone.utcnow(), ~Deadline.missed)).all()
        for deadline in missed:
            deadline.handle_miss(session)
        return len(missed)


def triggerer_step() -> list:
    """What the triggerer does with a queued callback: runs its CallbackTrigger and submits
    each event (which sets the callback's state). Returns the events' payloads."""
    from airflow._shared.module_loading import import_string
    from airflow.models.callback import Callback, CallbackState
    from airflow.models.trigger import Trigger
    from airflow.triggers.base import TriggerEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        queued = session.scalars(select(Callback).where(
            Callback.state == CallbackState.QUEUED, Callback.trigger_id.is_not(None))).all()
        jobs = [(c.trigger_id, import_string(c.trigger.classpath)(**c.trigger.kwargs))
                for c in queued]

    async def run(trigger):
        return [event async for event in trigger.run()]

    payloads = []
    for trigger_id, trigger in jobs:
        events: list[TriggerEvent] = asyncio.run(run(trigger))
        for event in events:
            Trigger.submit_event(trigger_id, event)
        payloads.append([event.payload for event in events])
    return payloads


def hours_until_today_plus(seconds: float) -> float:
    """SALES_MART_FRESHNESS_HOURS that puts today's deadline ``seconds`` from now."""
    now = dt.datetime.now(dt.UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return ((now - midnight).total_seconds() + seconds) / 3600


def test_a_day_not_published_by_its_deadline_emails_the_alert_address(pipeline, monkeypatch):
    """Today's run fails (the API has no such day) before its deadline; once the deadline has
    passed, the alert goes out, once."""
    import time

    today = dt.datetime.now(dt.UTC).date()
    pipeline.dagbag = parse_daily(
        monkeypatch, SALES_MART_FRESHNESS_HOURS=str(hours_until_today_plus(20)))
    state, _ = pipeline.daily(today)  # not published: the API answers NOT FOUND
    assert state == "failed"
    pipeline.smtp.take()  # the failure e-mail
    while scheduler_step_for_missed_deadlines() == 0:  # the scheduler's loop, until the miss
        time.sleep(1)
    events = triggerer_step()

    assert [e[-1]["state"] for e in events] == ["success"], events
    (mail,) = pipeline.smtp.take()
    assert mail.to == [ALERT_TO]
    assert "sales_mart_daily" in mail.subject and f"{today} not published by" in mail.subject
    assert "Next step" in mail.text
    assert (f"airflow backfill create --dag-id sales_mart_daily --from-date {today} "
            f"--to-date {today}") in mail.text
    assert "airflow dags test" not in mail.text  # it would delete the run (docs/airflow.md)
    assert scheduler_step_for_missed_deadlines() == 0  # one alert per run, not one per loop


def test_a_run_created_after_its_deadline_sends_no_freshness_alert(pipeline, monkeypatch):
    """Catching up, or running an old day by hand, is not a freshness miss: no e-mail storm."""
    pipeline.dagbag = parse_daily(monkeypatch, SALES_MART_FRESHNESS_HOURS="33")
    day = DAYS[3]  # its deadline, D+1 09:00, passed long ago
    pipeline.sandbox.set_faults({"not_found_dates": [day.isoformat()]})
    state, _ = pipeline.daily(day)
    assert state == "failed"
    pipeline.smtp.take()  # the run's own failure e-mail

    assert scheduler_step_for_missed_deadlines() == 1
    events = triggerer_step()
    assert [e[-1]["state"] for e in events] == ["success"], events
    assert pipeline.smtp.take() == []
