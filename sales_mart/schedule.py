"""When ``sales_mart_daily`` runs: a daily timetable whose catch-up stays inside the report API's
window, and the Airflow plugin that registers it with the scheduler.

The report API serves increments for the last few days only (7 on the real service, SPEC §2).
Airflow's own ``catchup`` would create a run for every day since the DAG's start date — about
a thousand runs for a DAG started years ago, each asking the API for a day it no longer has,
failing and e-mailing. :class:`ApiWindowTimetable` is ``@daily`` over data intervals (the run
for day D starts when D is over, with ``ds = D``) whose scheduled runs never start before
``today − window_days`` (nor before ``catchup_from``, if set). Days older than the window are
never scheduled: load them with the ``sales_mart_history`` DAG (the full report).

The DAG's own ``start_date`` stays early, so a date a person runs (``airflow dags test``) or
triggers always gets its tasks, and either loads or fails saying why.

Scheduler and DAG processor find the class through the ``airflow.plugins`` entry point of the
installed package (pyproject.toml): no file in Airflow's plugins folder is needed.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.plugins_manager import AirflowPlugin
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

DEFAULT_WINDOW_DAYS = 7


class ApiWindowTimetable(CronDataIntervalTimetable):
    """``@daily`` data intervals in UTC; scheduled runs start no earlier than
    ``today − window_days`` and ``catchup_from`` (a date, or None)."""

    def __init__(self, *, window_days: int = DEFAULT_WINDOW_DAYS,
                 catchup_from: dt.date | None = None) -> None:
        super().__init__("@daily", "UTC")
        if window_days < 1:
            raise ValueError(f"window_days must be at least 1, got {window_days}")
        self.window_days = int(window_days)
        self.catchup_from = catchup_from
        since = f", not before {catchup_from.isoformat()}" if catchup_from else ""
        self.description = (f"daily, catch-up limited to the report API's {self.window_days}-day "
                            f"window{since}; older days: sales_mart_history")

    def floor(self, now: dt.datetime | None = None) -> pendulum.DateTime:
        """The first logical date a scheduled run may have at ``now``."""
        today = (now or pendulum.now("UTC")).astimezone(dt.UTC).date()
        first = today - dt.timedelta(days=self.window_days)
        if self.catchup_from and self.catchup_from > first:
            first = self.catchup_from
        return pendulum.datetime(first.year, first.month, first.day, tz="UTC")

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction) -> DagRunInfo | None:
        floor = self.floor()
        earliest = floor if restriction.earliest is None else max(restriction.earliest, floor)
        return super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval,
            restriction=TimeRestriction(earliest, restriction.latest, restriction.catchup))

    def serialize(self) -> dict[str, Any]:
        return {"window_days": self.window_days,
                "catchup_from": self.catchup_from.isoformat() if self.catchup_from else None}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> ApiWindowTimetable:
        since = data.get("catchup_from")
        return cls(window_days=int(data.get("window_days", DEFAULT_WINDOW_DAYS)),
                   catchup_from=dt.date.fromisoformat(since) if since else None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ApiWindowTimetable):
            return NotImplemented
        return self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.window_days, self.catchup_from))


class SalesMartPlugin(AirflowPlugin):
    """Registers :class:`ApiWindowTimetable` (entry point ``airflow.plugins`` = sales_mart)."""

    name = "sales_mart"
    timetables = [ApiWindowTimetable]
