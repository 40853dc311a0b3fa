"""Constants and helpers shared by the report API tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import datetime as dt

from sales_mart.api_client import ReportApiClient, default_retry

API_KEY = "sbx-test-key-5c1f0e9a2b"
NICKNAME = "tester"
COHORT = "7"
SEED = 11
ROWS_PER_DAY = 400
FIRST_DAY = dt.date(2024, 3, 4)  # the window's first increment day: old format
LAST_DAY = dt.date(2024, 3, 10)
RUNNING_POLLS = 2

HEADER = ("id,uniq_id,date_time,city_id,city_name,customer_id,first_name,last_name,item_id,"
          "item_name,quantity,payment_amount,status").split(",")
HEADER_OLD = HEADER[:-1]

# Tests must not wait seconds for backoff: same shape as production, smaller numbers.
FAST_RETRY = default_retry(total=3, backoff_factor=0.01, backoff_max=0.05, retry_after_max=2)


def make_client(base_url: str, **kwargs) -> ReportApiClient:
    options = dict(connect_timeout=2.0, read_timeout=2.0, download_read_timeout=2.0,
                   retry=FAST_RETRY)
    options.update(kwargs)
    return ReportApiClient(base_url, options.pop("api_key", API_KEY), NICKNAME, COHORT,
                           **options)
