-- One row (passed, detail); the rule lives in db/procedures/025_staging_checks.sql.
select
    c.passed,
    c.detail
from staging.rows_dated_on_delivery_day(%(load_id)s::bigint) as c
