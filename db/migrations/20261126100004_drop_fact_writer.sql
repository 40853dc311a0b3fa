-- migrate:up
-- The merge writes facts as its caller, with the foreign keys checked as usual: the SECURITY
-- DEFINER fact writer read its caller's temp tables (a privilege escalation) and needed a
-- special role with a special setting. Its role is left only if other databases still use it.
drop procedure if exists mart.write_facts();
revoke all on mart.f_sales, mart.d_customer, mart.d_item, mart.d_city, mart.d_calendar
from sales_fact_writer;
revoke usage on schema mart from sales_fact_writer;
revoke set on parameter session_replication_role from sales_fact_writer; -- noqa: PRS
do $$
begin
    drop role sales_fact_writer;
exception
    when dependent_objects_still_exist then
        raise notice 'role sales_fact_writer is still used by another database; left in place';
end
$$;

-- migrate:down
-- The fact writer is not restored: it was the privilege escalation this migration removes.
select 1;
