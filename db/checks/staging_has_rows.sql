-- Gate 1, "the file was generated": the load put rows into staging.
-- One row: passed, detail (for SQLCheckOperator every value must be truthy to pass).
select
    coalesce(l.rows_loaded, 0) > 0 as passed,
    'rows loaded into staging: ' || coalesce(l.rows_loaded, 0)
    || ' (read ' || coalesce(l.rows_read, 0) || ', rejected ' || coalesce(l.rows_rejected, 0)
    || ') for ' || l.source || ' ' || coalesce(l.delivery_date::text, '?') as detail
from staging.load_log as l
where l.load_id = %(load_id)s
