-- The share of rejected rows stays under a threshold (default 1 per cent).
select
    coalesce(l.rows_rejected, 0) <= %(max_reject_share)s * greatest(coalesce(l.rows_read, 0), 1)
        as passed,
    'rejected rows: ' || coalesce(l.rows_rejected, 0) || ' of ' || coalesce(l.rows_read, 0)
    || ' (limit ' || round(100 * %(max_reject_share)s::numeric, 2) || ' per cent);'
    || ' see staging.user_order_log_rejects where load_id = ' || l.load_id as detail
from staging.load_log as l
where l.load_id = %(load_id)s
