"""Fixtures of the report API tests: one sandbox server for the session on a free 127.0.0.1
port, faults reset around every test, and a client with tiny backoffs and poll intervals."""

from __future__ import annotations

import pytest
from api_testkit import API_KEY, FIRST_DAY, LAST_DAY, ROWS_PER_DAY, RUNNING_POLLS, SEED, make_client
from report_polling import ready_report

from sales_mart.api_client import ReportApiClient
from sales_mart.sandbox.server import RunningSandbox, run_in_thread


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory) -> RunningSandbox:
    server = run_in_thread(api_key=API_KEY, seed=SEED, rows_per_day=ROWS_PER_DAY,
                           start_date=FIRST_DAY, end_date=LAST_DAY,
                           running_polls=RUNNING_POLLS,
                           cache_dir=tmp_path_factory.mktemp("sandbox-cache"))
    yield server
    server.stop()


@pytest.fixture
def api(sandbox) -> RunningSandbox:
    """The session's sandbox with no faults and zeroed request counts."""
    sandbox.clear_faults()
    yield sandbox
    sandbox.clear_faults()


@pytest.fixture
def client(api) -> ReportApiClient:
    with make_client(api.base_url) as c:
        yield c


@pytest.fixture
def report(client):
    """A ready report of the session's sandbox."""
    task_id = client.generate_report()
    return ready_report(client, task_id)
