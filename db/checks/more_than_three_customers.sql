-- One row (passed, detail); the rule lives in db/procedures/025_staging_checks.sql.
select
    c.passed,
    c.detail
from staging.more_than_three_customers(%(load_id)s::bigint) as c
