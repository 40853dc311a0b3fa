-- migrate:up
-- Writes mart.f_sales in bulk for the merge (mart.write_facts, SECURITY DEFINER). It may switch
-- off the row-by-row foreign-key triggers for that one statement (session_replication_role),
-- because the merge checks the same keys set-based right after; at a million rows a day the
-- row-by-row checks cost about three times the insert itself. Needs PostgreSQL 15+
-- (GRANT SET ON PARAMETER) and a superuser to run this migration.
do $$
begin
    if not exists (select from pg_roles where rolname = 'sales_fact_writer') then
        create role sales_fact_writer nologin;
    end if;
end
$$;
grant set on parameter session_replication_role to sales_fact_writer; -- noqa: PRS
grant usage on schema mart to sales_fact_writer;
grant select, insert, update, delete on mart.f_sales to sales_fact_writer;
grant select on mart.d_customer, mart.d_item, mart.d_city, mart.d_calendar to sales_fact_writer;

-- migrate:down
revoke all on mart.f_sales, mart.d_customer, mart.d_item, mart.d_city, mart.d_calendar
from sales_fact_writer;
revoke usage on schema mart from sales_fact_writer;
revoke set on parameter session_replication_role from sales_fact_writer; -- noqa: PRS
