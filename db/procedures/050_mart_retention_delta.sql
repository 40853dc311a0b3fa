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

drop procedure if exists mart.refresh_retention_weeks(integer[]);

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

    -- Lookups of the state go by primary key, one probe per changed key (lateral ... offset 0
    -- keeps the planner from scanning the whole state instead): the cost follows the day's
    -- change, not the weeks held.
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
            least(coalesce(w.shipped_orders, 0), 2) as old_class,
            least(coalesce(w.shipped_orders, 0) + k.shipped_orders, 2) as new_class,
            coalesce(w.shipped_orders, 0) as old_shipped,
            coalesce(w.shipped_orders, 0) + k.shipped_orders as new_shipped
        from (
            select s.customer_id, s.period_id, sum(s.shipped_orders) as shipped_orders
            from sales_delta as s
            group by s.customer_id, s.period_id
        ) as k
        left join lateral (
            select w.shipped_orders from mart.retention_customer_week as w
            where w.customer_id = k.customer_id and w.period_id = k.period_id
            offset 0
        ) as w on true
    ),

    -- Every (customer, week, item, city) whose share of a retention row may change, with its
    -- state before and after: what changed, and all of the week of a customer whose class
    -- changed (its sales move between new and returning).
    sales as (
        select
            d.customer_id, d.period_id, d.item_id, d.city_id, w.old_class, w.new_class,
            coalesce(m.shipped_orders, 0) as old_s,
            coalesce(m.shipped_revenue, 0) as old_sr,
            coalesce(m.refunded_orders, 0) as old_r,
            coalesce(m.refunded_amount, 0) as old_ra,
            coalesce(m.shipped_orders, 0) + d.shipped_orders as new_s,
            coalesce(m.shipped_revenue, 0) + d.shipped_revenue as new_sr,
            coalesce(m.refunded_orders, 0) + d.refunded_orders as new_r,
            coalesce(m.refunded_amount, 0) + d.refunded_amount as new_ra
        from sales_delta as d
        join week as w on w.customer_id = d.customer_id and w.period_id = d.period_id
        left join lateral (
            select m.shipped_orders, m.shipped_revenue, m.refunded_orders, m.refunded_amount
            from mart.retention_customer_sales as m
            where m.customer_id = d.customer_id and m.period_id = d.period_id
                and m.item_id = d.item_id and m.city_id = d.city_id
            offset 0
        ) as m on true
        union all
        select
            m.customer_id, m.period_id, m.item_id, m.city_id, w.old_class, w.new_class,
            m.shipped_orders, m.shipped_revenue, m.refunded_orders, m.refunded_amount,
            m.shipped_orders, m.shipped_revenue, m.refunded_orders, m.refunded_amount
        from week as w
        join lateral (
            select m.* from mart.retention_customer_sales as m
            where m.customer_id = w.customer_id and m.period_id = w.period_id
            offset 0
        ) as m on true
        where w.old_class <> w.new_class
            and not exists (
                select from sales_delta as d
                where d.customer_id = m.customer_id and d.period_id = m.period_id
                    and d.item_id = m.item_id and d.city_id = m.city_id
            )
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

    -- The item rows count distinct customers over all cities. A new customer has one shipped
    -- order in the week, so one row: its counts add up from the cities. Returning and refunding
    -- customers are counted once per item: per (customer, week, item), the cities with shipped
    -- (refunded) orders before, from the state, and after, moved by the changed cities.
    item_customer as (
        select
            k.*,
            coalesce(m.shipped_cities, 0) as old_shipped_cities,
            coalesce(m.refunded_cities, 0) as old_refunded_cities
        from (
            select s.customer_id, s.period_id, s.item_id, s.old_class, s.new_class,
                count(*) filter (where s.new_s > 0) - count(*) filter (where s.old_s > 0)
                    as shipped_cities_change,
                count(*) filter (where s.new_r > 0) - count(*) filter (where s.old_r > 0)
                    as refunded_cities_change
            from sales as s
            group by s.customer_id, s.period_id, s.item_id, s.old_class, s.new_class
        ) as k
        left join lateral (
            select count(*) filter (where m.shipped_orders > 0) as shipped_cities,
                count(*) filter (where m.refunded_orders > 0) as refunded_cities
            from mart.retention_customer_sales as m
            where m.customer_id = k.customer_id and m.period_id = k.period_id
                and m.item_id = k.item_id
            offset 0
        ) as m on true
    ),

    item_delta as (
        select c.period_id, c.item_id, c.new_customers_count,
            coalesce(i.returning_customers_count, 0) as returning_customers_count,
            coalesce(i.refunded_customer_count, 0) as refunded_customer_count,
            c.new_customers_revenue, c.returning_customers_revenue, c.customers_refunded,
            c.orders_count, c.refunded_amount, c.net_revenue
        from (
            select d.period_id, d.item_id,
                sum(d.new_customers_count) as new_customers_count,
                sum(d.new_customers_revenue) as new_customers_revenue,
                sum(d.returning_customers_revenue) as returning_customers_revenue,
                sum(d.customers_refunded) as customers_refunded,
                sum(d.orders_count) as orders_count,
                sum(d.refunded_amount) as refunded_amount,
                sum(d.net_revenue) as net_revenue
            from city_delta as d
            group by d.period_id, d.item_id
        ) as c
        left join (
            select k.period_id, k.item_id,
                sum((k.old_shipped_cities + k.shipped_cities_change > 0 and k.new_class = 2)::int
                    - (k.old_shipped_cities > 0 and k.old_class = 2)::int)
                    as returning_customers_count,
                sum((k.old_refunded_cities + k.refunded_cities_change > 0)::int
                    - (k.old_refunded_cities > 0)::int) as refunded_customer_count
            from item_customer as k
            group by k.period_id, k.item_id
        ) as i on i.period_id = c.period_id and i.item_id = c.item_id
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
