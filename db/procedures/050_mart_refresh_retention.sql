-- The retention tables (mart.customer_retention, mart.customer_retention_by_city) hold the rows
-- of their rule views (db/views/*_rows.sql). A publish keeps them from the day's change, not
-- the week's facts (issue 15): three state tables say what the rules need —
--   mart.retention_customer_sales  shipped / refunded orders and amounts per customer, ISO
--                                  week, item and city;
--   mart.retention_customer_week   shipped orders per customer and ISO week (1 = new,
--                                  more = returning);
--   mart.retention_day             the days the mart holds (days_in_mart);
-- each fact version the publish removes or adds (publish_work.fact_delta) changes them, and
-- each retention row changes by the difference between what the customers it counts brought
-- before and after: a customer whose class changes moves all its week's sales between new and
-- returning; a customer's first or last order in a group moves the distinct counts. Nothing
-- re-reads a week. Readers see a week before or after a publish, never half of it, and are
-- never blocked (row locks only). `call mart.refresh_retention()` rebuilds all of it from the
-- facts and gives the same rows.

drop procedure if exists mart.refresh_retention_weeks(integer []);

create or replace procedure mart.apply_retention_delta()
language plpgsql
set search_path = pg_catalog, pg_temp
set work_mem = '256MB'
as $$
declare
    v_weeks integer[];
begin
    -- The days the mart holds; the ISO weeks whose count of days changes.
    with day_delta as (
        select d.date_id, sum(d.sign) as facts
        from publish_work.fact_delta as d
        group by d.date_id
        having sum(d.sign) <> 0
    ),

    day_new as (
        select dd.date_id, coalesce(r.facts, 0) as old_facts,
            coalesce(r.facts, 0) + dd.facts as new_facts
        from day_delta as dd
        left join mart.retention_day as r on r.date_id = dd.date_id
    ),

    written as (
        insert into mart.retention_day as r (date_id, facts)
        select n.date_id, n.new_facts from day_new as n where n.new_facts > 0
        on conflict (date_id) do update set facts = excluded.facts
    ),

    deleted as (
        delete from mart.retention_day as r
        using day_new as n
        where r.date_id = n.date_id and n.new_facts = 0
    )

    select array_agg(distinct c.iso_period_id) into v_weeks
    from day_new as n
    join mart.d_calendar as c on c.date_id = n.date_id
    where (n.old_facts > 0) <> (n.new_facts > 0);

    with sales_delta as (
        select
            d.customer_id, c.iso_period_id as period_id, d.item_id, d.city_id,
            sum(case when d.status = 'shipped' then d.sign else 0 end) as shipped_orders,
            sum(case when d.status = 'shipped' then d.sign * d.payment_amount else 0 end)
                as shipped_revenue,
            sum(case when d.status = 'refunded' then d.sign else 0 end) as refunded_orders,
            sum(case when d.status = 'refunded' then -d.sign * d.payment_amount else 0 end)
                as refunded_amount
        from publish_work.fact_delta as d
        join mart.d_calendar as c on c.date_id = d.date_id
        group by d.customer_id, c.iso_period_id, d.item_id, d.city_id
    ),

    -- Shipped orders per customer and week, before and after: the class is least(n, 2)
    -- (0 none, 1 new, 2 returning).
    week as (
        select k.customer_id, k.period_id,
            coalesce(w.shipped_orders, 0) as old_shipped,
            coalesce(w.shipped_orders, 0) + k.shipped_orders as new_shipped
        from (
            select s.customer_id, s.period_id, sum(s.shipped_orders) as shipped_orders
            from sales_delta as s
            group by s.customer_id, s.period_id
        ) as k
        left join mart.retention_customer_week as w
            on w.customer_id = k.customer_id and w.period_id = k.period_id
    ),

    -- Every (customer, week, item, city) whose share of a retention row may change: what
    -- changed, and all of the week of a customer whose class changed.
    sales_key as (
        select s.customer_id, s.period_id, s.item_id, s.city_id from sales_delta as s
        union
        select m.customer_id, m.period_id, m.item_id, m.city_id
        from mart.retention_customer_sales as m
        join week as w on w.customer_id = m.customer_id and w.period_id = m.period_id
        where least(w.old_shipped, 2) <> least(w.new_shipped, 2)
    ),

    sales as (
        select
            k.customer_id, k.period_id, k.item_id, k.city_id,
            least(w.old_shipped, 2) as old_class,
            least(w.new_shipped, 2) as new_class,
            m.customer_id is not null as had_row,
            coalesce(m.shipped_orders, 0) as old_s,
            coalesce(m.shipped_revenue, 0) as old_sr,
            coalesce(m.refunded_orders, 0) as old_r,
            coalesce(m.refunded_amount, 0) as old_ra,
            coalesce(m.shipped_orders, 0) + coalesce(d.shipped_orders, 0) as new_s,
            coalesce(m.shipped_revenue, 0) + coalesce(d.shipped_revenue, 0) as new_sr,
            coalesce(m.refunded_orders, 0) + coalesce(d.refunded_orders, 0) as new_r,
            coalesce(m.refunded_amount, 0) + coalesce(d.refunded_amount, 0) as new_ra
        from sales_key as k
        join week as w on w.customer_id = k.customer_id and w.period_id = k.period_id
        left join mart.retention_customer_sales as m
            on m.customer_id = k.customer_id and m.period_id = k.period_id
                and m.item_id = k.item_id and m.city_id = k.city_id
        left join sales_delta as d
            on d.customer_id = k.customer_id and d.period_id = k.period_id
                and d.item_id = k.item_id and d.city_id = k.city_id
    ),

    -- The same per (customer, week, item), over all its cities: the item rows count distinct
    -- customers across cities.
    item_sales as (
        select
            k.customer_id, k.period_id, k.item_id, k.old_class, k.new_class,
            coalesce(sum(m.shipped_orders), 0) as old_s,
            coalesce(sum(m.shipped_revenue), 0) as old_sr,
            coalesce(sum(m.refunded_orders), 0) as old_r,
            coalesce(sum(m.refunded_amount), 0) as old_ra
        from (
            select distinct s.customer_id, s.period_id, s.item_id, s.old_class, s.new_class
            from sales as s
        ) as k
        left join mart.retention_customer_sales as m
            on m.customer_id = k.customer_id and m.period_id = k.period_id
                and m.item_id = k.item_id
        group by k.customer_id, k.period_id, k.item_id, k.old_class, k.new_class
    ),

    item_change as (
        select
            i.*,
            i.old_s + coalesce(d.shipped_orders, 0) as new_s,
            i.old_sr + coalesce(d.shipped_revenue, 0) as new_sr,
            i.old_r + coalesce(d.refunded_orders, 0) as new_r,
            i.old_ra + coalesce(d.refunded_amount, 0) as new_ra
        from item_sales as i
        left join (
            select s.customer_id, s.period_id, s.item_id,
                sum(s.shipped_orders) as shipped_orders, sum(s.shipped_revenue) as shipped_revenue,
                sum(s.refunded_orders) as refunded_orders, sum(s.refunded_amount) as refunded_amount
            from sales_delta as s
            group by s.customer_id, s.period_id, s.item_id
        ) as d on d.customer_id = i.customer_id and d.period_id = i.period_id
            and d.item_id = i.item_id
    ),

    -- What each retention row gains or loses: a customer's share after minus before.
    city_delta as (
        select s.period_id, s.item_id, s.city_id,
            sum((s.new_s > 0 and s.new_class = 1)::int - (s.old_s > 0 and s.old_class = 1)::int)
                as new_customers_count,
            sum((s.new_s > 0 and s.new_class = 2)::int - (s.old_s > 0 and s.old_class = 2)::int)
                as returning_customers_count,
            sum((s.new_r > 0)::int - (s.old_r > 0)::int) as refunded_customer_count,
            sum(case when s.new_class = 1 then s.new_sr else 0 end
                - case when s.old_class = 1 then s.old_sr else 0 end) as new_customers_revenue,
            sum(case when s.new_class = 2 then s.new_sr else 0 end
                - case when s.old_class = 2 then s.old_sr else 0 end)
                as returning_customers_revenue,
            sum(s.new_r - s.old_r) as customers_refunded,
            sum(s.new_s - s.old_s) as orders_count,
            sum(s.new_ra - s.old_ra) as refunded_amount,
            sum(s.new_sr - s.new_ra - s.old_sr + s.old_ra) as net_revenue
        from sales as s
        group by s.period_id, s.item_id, s.city_id
    ),

    item_delta as (
        select s.period_id, s.item_id,
            sum((s.new_s > 0 and s.new_class = 1)::int - (s.old_s > 0 and s.old_class = 1)::int)
                as new_customers_count,
            sum((s.new_s > 0 and s.new_class = 2)::int - (s.old_s > 0 and s.old_class = 2)::int)
                as returning_customers_count,
            sum((s.new_r > 0)::int - (s.old_r > 0)::int) as refunded_customer_count,
            sum(case when s.new_class = 1 then s.new_sr else 0 end
                - case when s.old_class = 1 then s.old_sr else 0 end) as new_customers_revenue,
            sum(case when s.new_class = 2 then s.new_sr else 0 end
                - case when s.old_class = 2 then s.old_sr else 0 end)
                as returning_customers_revenue,
            sum(s.new_r - s.old_r) as customers_refunded,
            sum(s.new_s - s.old_s) as orders_count,
            sum(s.new_ra - s.old_ra) as refunded_amount,
            sum(s.new_sr - s.new_ra - s.old_sr + s.old_ra) as net_revenue
        from item_change as s
        group by s.period_id, s.item_id
    ),

    week_info as (
        select c.iso_period_id as period_id, min(c.week_start) as week_start,
            count(r.date_id) as days_in_mart
        from mart.d_calendar as c
        left join mart.retention_day as r on r.date_id = c.date_id
        where c.iso_period_id in (select d.period_id from item_delta as d)
        group by c.iso_period_id
    ),

    sales_written as (
        insert into mart.retention_customer_sales as m (
            customer_id, period_id, item_id, city_id, shipped_orders, shipped_revenue,
            refunded_orders, refunded_amount
        )
        select s.customer_id, s.period_id, s.item_id, s.city_id, s.new_s, s.new_sr, s.new_r,
            s.new_ra
        from sales as s
        where s.new_s + s.new_r > 0
            and (s.new_s, s.new_sr, s.new_r, s.new_ra) <> (s.old_s, s.old_sr, s.old_r, s.old_ra)
        on conflict (customer_id, period_id, item_id, city_id) do update
            set shipped_orders = excluded.shipped_orders,
                shipped_revenue = excluded.shipped_revenue,
                refunded_orders = excluded.refunded_orders,
                refunded_amount = excluded.refunded_amount
    ),

    sales_deleted as (
        delete from mart.retention_customer_sales as m
        using sales as s
        where m.customer_id = s.customer_id and m.period_id = s.period_id
            and m.item_id = s.item_id and m.city_id = s.city_id and s.new_s + s.new_r = 0
    ),

    week_written as (
        insert into mart.retention_customer_week as w (customer_id, period_id, shipped_orders)
        select k.customer_id, k.period_id, k.new_shipped
        from week as k
        where k.new_shipped > 0 and k.new_shipped <> k.old_shipped
        on conflict (customer_id, period_id) do update
            set shipped_orders = excluded.shipped_orders
    ),

    week_deleted as (
        delete from mart.retention_customer_week as w
        using week as k
        where w.customer_id = k.customer_id and w.period_id = k.period_id
            and k.new_shipped = 0
    ),

    city_written as (
        insert into mart.customer_retention_by_city as r (
            period_name, period_id, week_start, item_id, item_name, city_id, city_name,
            new_customers_count, returning_customers_count, refunded_customer_count,
            new_customers_revenue, returning_customers_revenue, customers_refunded,
            orders_count, refunded_amount, net_revenue, days_in_mart
        )
        select
            'weekly', d.period_id, wi.week_start, d.item_id, i.item_name, d.city_id, c.city_name,
            d.new_customers_count, d.returning_customers_count, d.refunded_customer_count,
            d.new_customers_revenue, d.returning_customers_revenue, d.customers_refunded,
            d.orders_count, d.refunded_amount, d.net_revenue, wi.days_in_mart
        from city_delta as d
        join week_info as wi on wi.period_id = d.period_id
        join mart.d_item as i on i.item_id = d.item_id
        join mart.d_city as c on c.city_id = d.city_id
        left join mart.customer_retention_by_city as o
            on o.period_id = d.period_id and o.item_id = d.item_id and o.city_id = d.city_id
        where coalesce(o.orders_count + o.customers_refunded, 0) + d.orders_count
            + d.customers_refunded > 0
        on conflict (period_id, item_id, city_id) do update
            set item_name = excluded.item_name,
                city_name = excluded.city_name,
                new_customers_count = r.new_customers_count + excluded.new_customers_count,
                returning_customers_count
                = r.returning_customers_count + excluded.returning_customers_count,
                refunded_customer_count
                = r.refunded_customer_count + excluded.refunded_customer_count,
                new_customers_revenue = r.new_customers_revenue + excluded.new_customers_revenue,
                returning_customers_revenue
                = r.returning_customers_revenue + excluded.returning_customers_revenue,
                customers_refunded = r.customers_refunded + excluded.customers_refunded,
                orders_count = r.orders_count + excluded.orders_count,
                refunded_amount = r.refunded_amount + excluded.refunded_amount,
                net_revenue = r.net_revenue + excluded.net_revenue,
                days_in_mart = excluded.days_in_mart
    ),

    city_deleted as (
        delete from mart.customer_retention_by_city as r
        using city_delta as d
        where r.period_id = d.period_id and r.item_id = d.item_id and r.city_id = d.city_id
            and r.orders_count + r.customers_refunded + d.orders_count + d.customers_refunded = 0
    ),

    item_deleted as (
        delete from mart.customer_retention as r
        using item_delta as d
        where r.period_id = d.period_id and r.item_id = d.item_id
            and r.orders_count + r.customers_refunded + d.orders_count + d.customers_refunded = 0
    )

    insert into mart.customer_retention as r (
        period_name, period_id, week_start, item_id, item_name,
        new_customers_count, returning_customers_count, refunded_customer_count,
        new_customers_revenue, returning_customers_revenue, customers_refunded,
        orders_count, refunded_amount, net_revenue, days_in_mart
    )
    select
        'weekly', d.period_id, wi.week_start, d.item_id, i.item_name,
        d.new_customers_count, d.returning_customers_count, d.refunded_customer_count,
        d.new_customers_revenue, d.returning_customers_revenue, d.customers_refunded,
        d.orders_count, d.refunded_amount, d.net_revenue, wi.days_in_mart
    from item_delta as d
    join week_info as wi on wi.period_id = d.period_id
    join mart.d_item as i on i.item_id = d.item_id
    left join mart.customer_retention as o on o.period_id = d.period_id and o.item_id = d.item_id
    where coalesce(o.orders_count + o.customers_refunded, 0) + d.orders_count
        + d.customers_refunded > 0
    on conflict (period_id, item_id) do update
        set item_name = excluded.item_name,
            new_customers_count = r.new_customers_count + excluded.new_customers_count,
            returning_customers_count
            = r.returning_customers_count + excluded.returning_customers_count,
            refunded_customer_count = r.refunded_customer_count + excluded.refunded_customer_count,
            new_customers_revenue = r.new_customers_revenue + excluded.new_customers_revenue,
            returning_customers_revenue
            = r.returning_customers_revenue + excluded.returning_customers_revenue,
            customers_refunded = r.customers_refunded + excluded.customers_refunded,
            orders_count = r.orders_count + excluded.orders_count,
            refunded_amount = r.refunded_amount + excluded.refunded_amount,
            net_revenue = r.net_revenue + excluded.net_revenue,
            days_in_mart = excluded.days_in_mart;

    -- A week whose count of days changed: every row of it says so.
    if v_weeks is not null then
        update mart.customer_retention as r
        set days_in_mart = w.days_in_mart
        from (
            select c.iso_period_id, count(d.date_id) as days_in_mart
            from mart.d_calendar as c
            left join mart.retention_day as d on d.date_id = c.date_id
            where c.iso_period_id = any(v_weeks)
            group by c.iso_period_id
        ) as w
        where r.period_id = w.iso_period_id and r.days_in_mart <> w.days_in_mart;
        update mart.customer_retention_by_city as r
        set days_in_mart = w.days_in_mart
        from (
            select c.iso_period_id, count(d.date_id) as days_in_mart
            from mart.d_calendar as c
            left join mart.retention_day as d on d.date_id = c.date_id
            where c.iso_period_id = any(v_weeks)
            group by c.iso_period_id
        ) as w
        where r.period_id = w.iso_period_id and r.days_in_mart <> w.days_in_mart;
    end if;
end
$$;

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
