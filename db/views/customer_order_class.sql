-- Every order line with its ISO week, its customer's class that week (SPEC §5) and how many days
-- of that week the mart holds: the one place the new / returning rule and the week's coverage
-- live; both retention views aggregate it. A plain view:
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
),

-- Days of each ISO week for which the mart holds at least one order line (shipped or refunded),
-- counted over the whole mart, not per item or city: a week with fewer than 7 is partial (the
-- first week of the history, the current week), so its totals are not comparable with a full
-- week's. A day counts once it is in the mart, whatever item or city sold.
week_coverage as (
    select
        c.iso_period_id,
        count(distinct f.date_id) as days_in_mart
    from mart.f_sales as f
    join mart.d_calendar as c on c.date_id = f.date_id
    group by c.iso_period_id
)

select
    s.uniq_id,
    s.customer_id,
    s.item_id,
    s.city_id,
    s.status,
    s.payment_amount,
    s.iso_period_id,
    s.week_start,
    -- one shipped order that week = new, more = returning, refunds only = neither (null)
    case
        when s.shipped_orders_in_week = 1 then 'new'
        when s.shipped_orders_in_week > 1 then 'returning'
    end as customer_class,
    w.days_in_mart
from sale as s
join week_coverage as w on w.iso_period_id = s.iso_period_id;

comment on view mart.customer_order_class is
'Order lines: ISO week, customer class that week (new / returning / null), days of the week in the mart.';
alter view mart.customer_order_class owner to sales_mart_owner;
