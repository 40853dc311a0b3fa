-- The retention tables (mart.customer_retention, mart.customer_retention_by_city) are the rows
-- of their rule views (db/views/*_rows.sql), maintained per ISO week: the weeks given are
-- deleted and recomputed from the facts, set-based, in the caller's transaction, so readers see
-- each week before or after, never half-refreshed, and are never blocked (row locks only).
-- Item and city names are the dimensions' current ones in every week. p_weeks null = every
-- week (those with facts and those the tables still hold).
create or replace procedure mart.refresh_retention_weeks(p_weeks integer[])
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_weeks integer[] := p_weeks;
begin
    -- One writer at a time (the publish holds the same lock).
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sales_mart.merge'));
    if v_weeks is null then
        select coalesce(array_agg(w.period_id), '{}') into v_weeks
        from (
            select c.iso_period_id as period_id
            from (select distinct f.date_id from mart.f_sales as f) as d
            join mart.d_calendar as c on c.date_id = d.date_id
            union
            select r.period_id from mart.customer_retention as r
            union
            select r.period_id from mart.customer_retention_by_city as r
        ) as w;
    end if;

    delete from mart.customer_retention as r where r.period_id = any(v_weeks);
    insert into mart.customer_retention
    select v.* from mart.customer_retention_rows as v where v.period_id = any(v_weeks);

    delete from mart.customer_retention_by_city as r where r.period_id = any(v_weeks);
    insert into mart.customer_retention_by_city
    select v.* from mart.customer_retention_by_city_rows as v where v.period_id = any(v_weeks);

    -- A renamed item or city is renamed in the weeks not recomputed too.
    update mart.customer_retention as r
    set item_name = i.item_name
    from mart.d_item as i
    where i.item_id = r.item_id and r.item_name is distinct from i.item_name;
    update mart.customer_retention_by_city as r
    set item_name = i.item_name, city_name = c.city_name
    from mart.d_item as i, mart.d_city as c
    where i.item_id = r.item_id and c.city_id = r.city_id
        and (r.item_name, r.city_name) is distinct from (i.item_name, c.city_name);
end
$$;

-- Rebuilds both retention tables from every fact, for a person who wants that (the publish
-- refreshes only the weeks it touched). SECURITY DEFINER as the tables' owner, pinned
-- search_path, every name qualified: it reads nothing and calls nothing its caller can create
-- or replace (the loader cannot create in schema mart).
create or replace procedure mart.refresh_retention()
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
begin
    call mart.refresh_retention_weeks(null);
end
$$;
alter procedure mart.refresh_retention() owner to sales_view_owner;
revoke all on procedure mart.refresh_retention() from public;
grant execute on procedure mart.refresh_retention() to sales_loader;
revoke all on procedure mart.refresh_retention_weeks(integer[]) from public;
grant execute on procedure mart.refresh_retention_weeks(integer[]) to sales_loader, sales_view_owner;
