-- The retention tables (mart.customer_retention, mart.customer_retention_by_city) are the rows
-- of their rule views (db/views/*_rows.sql), maintained per ISO week: the weeks given are
-- deleted and recomputed from the facts, set-based, in the caller's transaction, so readers see
-- each week before or after, never half-refreshed, and are never blocked (row locks only).
-- Item and city names are the dimensions' current ones in every week. p_weeks null = all of
-- it, rebuilt from every fact (the names then come with the rows).
create or replace procedure mart.refresh_retention_weeks(p_weeks integer[])
language plpgsql
set search_path = pg_catalog, pg_temp
set work_mem = '256MB'  -- a week's facts sort in memory
as $$
declare
    v_week integer;
begin
    -- One writer at a time (the publish holds the same lock).
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sales_mart.merge'));
    if p_weeks is null then
        -- Everything: one pass over all facts (per week it would read the facts once a week).
        delete from mart.customer_retention;
        delete from mart.customer_retention_by_city;
        insert into mart.customer_retention select v.* from mart.customer_retention_rows as v;
        insert into mart.customer_retention_by_city
        select v.* from mart.customer_retention_by_city_rows as v;
        return;
    end if;

    delete from mart.customer_retention as r where r.period_id = any(p_weeks);
    delete from mart.customer_retention_by_city as r where r.period_id = any(p_weeks);
    -- Week by week (a day's publish touches one or two): with `period_id = week` the planner
    -- carries the filter into every part of the rule (the week's facts, its coverage), which it
    -- does not do for `= any(weeks)`. Each statement is set-based.
    foreach v_week in array p_weeks loop
        insert into mart.customer_retention
        select v.* from mart.customer_retention_rows as v where v.period_id = v_week;
        insert into mart.customer_retention_by_city
        select v.* from mart.customer_retention_by_city_rows as v where v.period_id = v_week;
    end loop;

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
