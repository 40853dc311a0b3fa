-- After the merge: the mart holds exactly the load's winning rows (those no later-dated merged
-- delivery overrides), with the same net revenue (refunds negative) and row count as staging.
with load_row as (
    select s.* from staging.user_order_log as s
    where s.load_id = %(load_id)s
),

winning as (
    select r.*
    from load_row as r
    where not exists (
            select
            from staging.user_order_log as o
            join staging.load_log as l on l.load_id = o.load_id
            where o.uniq_id = r.uniq_id and l.status = 'merged'
                and (o.delivery_date, o.source_rank) > (r.delivery_date, r.source_rank)
        )
),

staged as (
    select
        count(*) as n,
        coalesce(sum(
            case status when 'refunded' then -payment_amount else payment_amount end
        ), 0) as net
    from winning
),

marted as (
    select
        count(*) as n,
        coalesce(sum(f.payment_amount), 0) as net
    from mart.f_sales as f
    where (f.delivery_date, f.delivery_source) in (
            select distinct
                lr.delivery_date,
                lr.source
            from load_row as lr
        )
)

select
    staged.n = marted.n and staged.net = marted.net as passed,
    'staging net revenue ' || staged.net || ' over ' || staged.n || ' rows; mart '
    || marted.net || ' over ' || marted.n || ' rows' as detail
from staged, marted
