-- Refreshes both retention views. CONCURRENTLY keeps them readable for BI during the refresh;
-- a never-populated view gets one plain refresh first. SECURITY DEFINER as the views' owner:
-- the loader may refresh them without the right to drop or alter them.
create or replace procedure mart.refresh_retention()
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_view record;
begin
    for v_view in
        select format('%I.%I', schemaname, matviewname) as name, ispopulated
        from pg_matviews
        where schemaname = 'mart'
            and matviewname in ('customer_retention', 'customer_retention_by_city')
        order by matviewname
    loop
        if v_view.ispopulated then
            execute 'refresh materialized view concurrently ' || v_view.name;
        else
            execute 'refresh materialized view ' || v_view.name;
        end if;
    end loop;
end
$$;
alter procedure mart.refresh_retention() owner to sales_view_owner;
revoke all on procedure mart.refresh_retention() from public;
grant execute on procedure mart.refresh_retention() to sales_loader;
