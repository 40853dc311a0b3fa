-- Merges the staging deliveries dated p_from..p_to into the mart, in the caller's transaction.
--
-- The mart is a function of staging: for every uniq_id touched (delivered in the range, or held
-- by the mart from a delivery in the range) the winning row is recomputed over all eligible
-- deliveries: the latest delivery day, an increment before the full report on the same day.
-- So any set of days loaded in any order, any number of times, gives the same mart. Eligible:
-- deliveries already merged, and the ones being merged now (a delivery stopped by a gate stays
-- out). Dimensions take the names of their latest eligible row; ones left without facts go.
create or replace procedure mart.merge_dates(p_from date, p_to date)
language plpgsql
as $$
begin
    if p_from is null or p_to is null or p_from > p_to then
        raise exception 'merge needs a date range, got % .. %', p_from, p_to;
    end if;
    -- One merge at a time: two merges deciding winners of the same uniq_id must not interleave.
    perform pg_advisory_xact_lock(hashtext('sales_mart.merge'));

    drop table if exists pg_temp.merge_affected, pg_temp.merge_winner, pg_temp.merge_dimension,
        pg_temp.merge_old_dimension;

    create temp table merge_affected on commit drop as
    select s.uniq_id from staging.user_order_log as s where s.delivery_date between p_from and p_to
    union
    select f.uniq_id from mart.f_sales as f where f.delivery_date between p_from and p_to;
    analyze merge_affected;

    create temp table merge_winner on commit drop as
    select distinct on (s.uniq_id) s.*
    from merge_affected as a
    join staging.user_order_log as s on s.uniq_id = a.uniq_id
    join staging.load_log as l on l.load_id = s.load_id
    where l.status = 'merged' or s.delivery_date between p_from and p_to
    order by s.uniq_id, s.delivery_date desc, s.source_rank desc;
    analyze merge_winner;

    -- Every dimension member a winner uses, and those only replaced facts used: all are
    -- renamed after their latest eligible row; the latter are deleted below if left without sales.
    create temp table merge_dimension on commit drop as
    select distinct m.kind, m.id
    from merge_winner as w
    cross join lateral (
        values ('customer', w.customer_id), ('item', w.item_id), ('city', w.city_id)
    ) as m (kind, id);

    create temp table merge_old_dimension on commit drop as
    select distinct m.kind, m.id
    from mart.f_sales as f
    join merge_affected as a on a.uniq_id = f.uniq_id
    cross join lateral (
        values ('customer', f.customer_id), ('item', f.item_id), ('city', f.city_id)
    ) as m (kind, id)
    where not exists (select from merge_dimension as d where d.kind = m.kind and d.id = m.id);

    insert into mart.d_customer as d (customer_id, first_name, last_name)
    select m.id, latest.first_name, latest.last_name
    from (
        select kind, id from merge_dimension
        union all
        select kind, id from merge_old_dimension
    ) as m
    cross join lateral (
        select s.first_name, s.last_name
        from staging.user_order_log as s
        join staging.load_log as l on l.load_id = s.load_id
        where s.customer_id = m.id
            and (l.status = 'merged' or s.delivery_date between p_from and p_to)
        order by s.delivery_date desc, s.source_rank desc, s.date_time desc, s.uniq_id desc
        limit 1
    ) as latest
    where m.kind = 'customer'
    on conflict (customer_id) do update
        set first_name = excluded.first_name, last_name = excluded.last_name
        where (d.first_name, d.last_name) is distinct from (excluded.first_name, excluded.last_name);

    insert into mart.d_item as d (item_id, item_name)
    select m.id, latest.item_name
    from (
        select kind, id from merge_dimension
        union all
        select kind, id from merge_old_dimension
    ) as m
    cross join lateral (
        select s.item_name
        from staging.user_order_log as s
        join staging.load_log as l on l.load_id = s.load_id
        where s.item_id = m.id
            and (l.status = 'merged' or s.delivery_date between p_from and p_to)
        order by s.delivery_date desc, s.source_rank desc, s.date_time desc, s.uniq_id desc
        limit 1
    ) as latest
    where m.kind = 'item'
    on conflict (item_id) do update
        set item_name = excluded.item_name
        where d.item_name is distinct from excluded.item_name;

    insert into mart.d_city as d (city_id, city_name)
    select m.id, latest.city_name
    from (
        select kind, id from merge_dimension
        union all
        select kind, id from merge_old_dimension
    ) as m
    cross join lateral (
        select s.city_name
        from staging.user_order_log as s
        join staging.load_log as l on l.load_id = s.load_id
        where s.city_id = m.id
            and (l.status = 'merged' or s.delivery_date between p_from and p_to)
        order by s.delivery_date desc, s.source_rank desc, s.date_time desc, s.uniq_id desc
        limit 1
    ) as latest
    where m.kind = 'city'
    on conflict (city_id) do update
        set city_name = excluded.city_name
        where d.city_name is distinct from excluded.city_name;

    -- Facts are written by the fact writer (foreign keys checked set-based; see write_facts).
    grant select on merge_winner, merge_affected to sales_fact_writer;
    call mart.write_facts();

    delete from mart.d_customer as d
    using merge_old_dimension as m
    where m.kind = 'customer' and d.customer_id = m.id
        and not exists (select from mart.f_sales as f where f.customer_id = d.customer_id);
    delete from mart.d_item as d
    using merge_old_dimension as m
    where m.kind = 'item' and d.item_id = m.id
        and not exists (select from mart.f_sales as f where f.item_id = d.item_id);
    delete from mart.d_city as d
    using merge_old_dimension as m
    where m.kind = 'city' and d.city_id = m.id
        and not exists (select from mart.f_sales as f where f.city_id = d.city_id);

    update staging.load_log
    set status = 'merged', merged_at = clock_timestamp(), finished_at = clock_timestamp()
    where status = 'ingested'
        and load_id in (
            select distinct s.load_id from staging.user_order_log as s
            where s.delivery_date between p_from and p_to
        );
end
$$;

-- SPEC §4: the staging rows delivered for one day into the mart, in one transaction.
create or replace procedure mart.merge_increment(p_date date)
language sql
as $$
    call mart.merge_dates(p_date, p_date);
$$;

-- Merges every day a load delivered (a full report spans many).
create or replace procedure mart.merge_load(p_load_id bigint)
language plpgsql
as $$
declare
    v_from date;
    v_to date;
begin
    select min(delivery_date), max(delivery_date) into v_from, v_to
    from staging.user_order_log where load_id = p_load_id;
    if v_from is null then
        raise exception 'load % has no rows in staging to merge', p_load_id
            using hint = 'Check staging.load_log and staging.user_order_log_rejects for this load.';
    end if;
    call mart.merge_dates(v_from, v_to);
end
$$;
