-- One row (passed, detail); the rule lives in db/procedures/025_staging_checks.sql.
select
    c.passed,
    c.detail
from staging.staging_has_rows(%(load_id)s::bigint) as c
