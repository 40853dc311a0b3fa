-- Every order line with its ISO week and its customer's class that week (SPEC §5): the one
-- place the new / returning rule lives; both retention views aggregate it. A plain view:
-- rebuilding it (when this file changes) drops the retention views too, and the upgrade then
-- rebuilds them because they are missing. Files of db/views apply in name order, this first.
drop view if exists mart.customer_order_class cascade;

create view mart.customer_order_class as
with sale as (
    select
        f.uniq_id,
        f.customer_id,
        f.item_id,
        f.city_id,
        f.status,
        f.payment_amount,
        c.iso_period_id,
        c.week_start,
        -- shipped orders of the customer that ISO week, over all items and cities
        count(*) filter (where f.status = 'shipped')
            over (partition by f.customer_id, c.iso_period_id) as shipped_orders_in_week
    from mart.f_sales as f
    join mart.d_calendar as c on c.date_id = f.date_id
)

select
    uniq_id,
    customer_id,
    item_id,
    city_id,
    status,
    payment_amount,
    iso_period_id,
    week_start,
    -- one shipped order that week = new, more = returning, refunds only = neither (null)
    case
        when shipped_orders_in_week = 1 then 'new'
        when shipped_orders_in_week > 1 then 'returning'
    end as customer_class
from sale;

comment on view mart.customer_order_class is
'Order lines with ISO week and the customer''s class that week (new / returning / null).';
alter view mart.customer_order_class owner to sales_view_owner;
