-- After the publish, read-only: the mart holds the load's winning rows (the same assertion
-- ran inside mart.publish_load); the rule lives in db/procedures/025_staging_checks.sql.
select
    c.passed,
    c.detail
from mart.net_revenue_reconciles(%(load_id)s::bigint) as c
