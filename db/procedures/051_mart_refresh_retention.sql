-- The full rebuild of the retention tables and their state (db/procedures/050 keeps them from
-- each day's change).

-- Rebuilds the retention state and both retention tables from every fact (the rule views),
-- for a person who wants that. SECURITY DEFINER as the mart's owner, pinned search_path, every
-- name qualified: it reads nothing and calls nothing its caller can create or replace.
create or replace procedure mart.refresh_retention()
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set work_mem = '256MB'
as $$
begin
    -- Not while a publish changes the facts (the publish lock).
    call staging.take_pipeline_lock('staging.published_delivery', 'share row exclusive',
        'publish');
    delete from mart.retention_customer_sales;
    insert into mart.retention_customer_sales (
        customer_id, period_id, item_id, city_id, shipped_orders, shipped_revenue,
        refunded_orders, refunded_amount
    )
    select f.customer_id, c.iso_period_id, f.item_id, f.city_id,
        count(*) filter (where f.status = 'shipped'),
        coalesce(sum(f.payment_amount) filter (where f.status = 'shipped'), 0),
        count(*) filter (where f.status = 'refunded'),
        coalesce(-sum(f.payment_amount) filter (where f.status = 'refunded'), 0)
    from mart.f_sales as f
    join mart.d_calendar as c on c.date_id = f.date_id
    group by f.customer_id, c.iso_period_id, f.item_id, f.city_id;

    delete from mart.retention_customer_week;
    insert into mart.retention_customer_week (customer_id, period_id, shipped_orders)
    select s.customer_id, s.period_id, sum(s.shipped_orders)
    from mart.retention_customer_sales as s
    group by s.customer_id, s.period_id
    having sum(s.shipped_orders) > 0;

    delete from mart.retention_day;
    insert into mart.retention_day (date_id, facts)
    select f.date_id, count(*) from mart.f_sales as f group by f.date_id;

    -- The rows themselves from the rule views, over the facts: not from the state above.
    delete from mart.customer_retention;
    delete from mart.customer_retention_by_city;
    insert into mart.customer_retention select v.* from mart.customer_retention_rows as v;
    insert into mart.customer_retention_by_city
    select v.* from mart.customer_retention_by_city_rows as v;
end
$$;
