-- One row (passed, detail); the rule lives in db/procedures/025_staging_checks.sql.
select
    c.passed,
    c.detail
from staging.reject_share_within_threshold(%(load_id)s::bigint, %(max_reject_share)s::numeric) as c
