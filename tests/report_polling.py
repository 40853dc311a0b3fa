"""Polling a report until it is ready, for tests that use the API client directly (the DAGs
poll with the wait_for_report sensor instead)."""

from __future__ import annotations

import time


def ready_report(client, task_id: str, polls: int = 500):
    """``client.get_report(task_id)`` every 10 ms until the report is ready."""
    for _ in range(polls):
        report = client.get_report(task_id)
        if report is not None:
            return report
        time.sleep(0.01)
    raise AssertionError(f"report task {task_id} still RUNNING after {polls} polls")
