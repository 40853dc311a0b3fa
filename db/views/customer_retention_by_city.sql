-- Weekly customer retention per item and city (SPEC §4–§5). Rebuilt by `sales-mart db upgrade`
-- only when this file changes.
drop materialized view if exists mart.customer_retention_by_city;

create materialized view mart.customer_retention_by_city as
with sale as (
    select
        f.uniq_id,
        f.customer_id,
        f.item_id,
        f.city_id,
        f.status,
        f.payment_amount,
        c.iso_period_id,
        c.week_start
    from mart.f_sales as f
    join mart.d_calendar as c on c.date_id = f.date_id
),

-- A customer's class per ISO week, over all items and cities: one shipped order = new,
-- more = returning, refunds only = neither.
customer_week as (
    select
        customer_id,
        iso_period_id,
        case
            when count(*) filter (where status = 'shipped') = 1 then 'new'
            when count(*) filter (where status = 'shipped') > 1 then 'returning'
        end as customer_class
    from sale
    group by customer_id, iso_period_id
)

select
    'weekly'::text as period_name,
    s.iso_period_id as period_id,
    s.week_start,
    s.item_id,
    i.item_name,
    s.city_id,
    ci.city_name,
    count(distinct s.customer_id) filter (
        where s.status = 'shipped' and cw.customer_class = 'new'
    ) as new_customers_count,
    count(distinct s.customer_id) filter (
        where s.status = 'shipped' and cw.customer_class = 'returning'
    ) as returning_customers_count,
    count(distinct s.customer_id) filter (
        where s.status = 'refunded'
    ) as refunded_customer_count,
    coalesce(sum(s.payment_amount) filter (
        where s.status = 'shipped' and cw.customer_class = 'new'
    ), 0)::numeric(16, 2) as new_customers_revenue,
    coalesce(sum(s.payment_amount) filter (
        where s.status = 'shipped' and cw.customer_class = 'returning'
    ), 0)::numeric(16, 2) as returning_customers_revenue,
    count(*) filter (where s.status = 'refunded') as customers_refunded,
    count(*) filter (where s.status = 'shipped') as orders_count,
    coalesce(-sum(s.payment_amount) filter (where s.status = 'refunded'), 0)::numeric(16, 2)
        as refunded_amount,
    sum(s.payment_amount)::numeric(16, 2) as net_revenue
from sale as s
join customer_week as cw on cw.customer_id = s.customer_id and cw.iso_period_id = s.iso_period_id
join mart.d_item as i on i.item_id = s.item_id
join mart.d_city as ci on ci.city_id = s.city_id
group by s.iso_period_id, s.week_start, s.item_id, i.item_name, s.city_id, ci.city_name;

create unique index customer_retention_by_city_key on mart.customer_retention_by_city (period_id, item_id, city_id);
comment on materialized view mart.customer_retention_by_city is
'Weekly (ISO) customer retention per item and city: new / returning customers, their revenue, refunds.';
alter materialized view mart.customer_retention_by_city owner to sales_view_owner;
grant select on mart.customer_retention_by_city to sales_bi;
