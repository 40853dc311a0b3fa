-- What mart.customer_retention holds (SPEC §4–§5), as a plain view: the rule. The table
-- mart.customer_retention is its materialization, kept by the publish from each day's change
-- (mart.apply_retention_delta) and whole by `call mart.refresh_retention()`; a rebuilt
-- file (`sales-mart db upgrade`) rebuilds the tables from the facts.
drop view if exists mart.customer_retention_rows;

create view mart.customer_retention_rows as
select
    'weekly'::text as period_name,
    o.iso_period_id as period_id,
    o.week_start,
    o.item_id,
    i.item_name,
    count(distinct o.customer_id) filter (
        where o.status = 'shipped' and o.customer_class = 'new'
    ) as new_customers_count,
    count(distinct o.customer_id) filter (
        where o.status = 'shipped' and o.customer_class = 'returning'
    ) as returning_customers_count,
    count(distinct o.customer_id) filter (
        where o.status = 'refunded'
    ) as refunded_customer_count,
    coalesce(sum(o.payment_amount) filter (
        where o.status = 'shipped' and o.customer_class = 'new'
    ), 0)::numeric(24, 2) as new_customers_revenue,
    coalesce(sum(o.payment_amount) filter (
        where o.status = 'shipped' and o.customer_class = 'returning'
    ), 0)::numeric(24, 2) as returning_customers_revenue,
    count(*) filter (where o.status = 'refunded') as customers_refunded,
    count(*) filter (where o.status = 'shipped') as orders_count,
    coalesce(-sum(o.payment_amount) filter (where o.status = 'refunded'), 0)::numeric(24, 2)
        as refunded_amount,
    sum(o.payment_amount)::numeric(24, 2) as net_revenue,
    -- Added after the SPEC columns (which keep their positions): how many days (1-7) of this ISO
    -- week the mart holds at least one order line for, over all items and cities; fewer than 7
    -- marks a partial week (the history's first week, the current week), not a real dip.
    o.days_in_mart
from mart.customer_order_class as o
join mart.d_item as i on i.item_id = o.item_id
group by o.iso_period_id, o.week_start, o.item_id, i.item_name, o.days_in_mart;

comment on view mart.customer_retention_rows is
'The rule of mart.customer_retention (which BI reads): Weekly (ISO) customer retention per item.';
alter view mart.customer_retention_rows owner to sales_mart_owner;
