-- Every row read is accounted for: read = loaded + duplicate + rejected, and staging and the
-- rejects table hold exactly the loaded and rejected counts.
select
    l.rows_read = l.rows_loaded + l.rows_duplicate + l.rows_rejected
    and l.rows_loaded = (
        select count(*) from staging.user_order_log as s
        where s.load_id = l.load_id
    )
    and l.rows_rejected = (
        select count(*) from staging.user_order_log_rejects as r
        where r.load_id = l.load_id
    ) as passed,
    'read ' || l.rows_read || ' = loaded ' || l.rows_loaded || ' + duplicate '
    || l.rows_duplicate || ' + rejected ' || l.rows_rejected as detail
from staging.load_log as l
where l.load_id = %(load_id)s
