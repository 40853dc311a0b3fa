-- One row (passed, detail); the rule lives in db/procedures/025_staging_checks.sql.
select
    c.passed,
    c.detail
from staging.rows_reconcile(%(load_id)s::bigint) as c
