-- migrate:up
-- Only the pipeline's routines write the warehouse (issue 16). A NOLOGIN role owns every table
-- of staging and mart, and the routines that write them run as it (SECURITY DEFINER, pinned
-- search_path, db/CONVENTIONS.md). The loader keeps what a delivery needs: COPY into the
-- landing table, read the journal and the mart, call the pipeline's routines. So no login can
-- forge a fact, a retention number, a published delivery or a load's status except through a
-- publish that passed its gates; and it can lock nothing the pipeline waits on (LOCK TABLE
-- beyond ACCESS SHARE and SELECT ... FOR UPDATE need write privileges it no longer has).
do $$
begin
    if not exists (select from pg_roles where rolname = 'sales_mart_owner') then
        create role sales_mart_owner nologin;
    end if;
end
$$;
-- The role that runs upgrades manages what it hands over (altering a table needs membership).
grant sales_mart_owner to current_user;
-- Its routines live in these schemas (a routine's owner needs CREATE where it lives).
grant usage, create on schema staging, mart to sales_mart_owner;

alter table staging.load_log owner to sales_mart_owner;
alter table staging.user_order_inc owner to sales_mart_owner;
alter table staging.user_order_log owner to sales_mart_owner;
alter table staging.user_order_log_rejects owner to sales_mart_owner;
alter table staging.user_order_log_conflicts owner to sales_mart_owner;
alter table staging.published_delivery owner to sales_mart_owner;
alter table mart.d_calendar owner to sales_mart_owner;
alter table mart.d_city owner to sales_mart_owner;
alter table mart.d_item owner to sales_mart_owner;
alter table mart.d_customer owner to sales_mart_owner;
alter table mart.f_sales owner to sales_mart_owner;
alter table mart.customer_retention owner to sales_mart_owner;
alter table mart.customer_retention_by_city owner to sales_mart_owner;

-- The loader: read, COPY into the landing table, nothing else (the routines do the writing).
revoke all on all tables in schema staging, mart from sales_loader;
revoke all on all sequences in schema staging from sales_loader;
grant select on all tables in schema staging to sales_loader;
-- The landing table: COPY only (the ingest empties it with TRUNCATE, which a reader would block).
revoke select on staging.user_order_inc from sales_loader;
grant insert on staging.user_order_inc to sales_loader;
grant select on mart.d_calendar, mart.d_city, mart.d_item, mart.d_customer, mart.f_sales,
mart.customer_retention, mart.customer_retention_by_city to sales_loader;

-- sales_view_owner owned the retention tables (above), the views and the refresh (db/views and
-- db/procedures re-create them as the mart's owner) and read the facts: it keeps nothing here.
-- The role itself is cluster-wide and may serve other databases: it is left in place.
do $$
begin
    if exists (select from pg_roles where rolname = 'sales_view_owner') then
        revoke all on schema mart from sales_view_owner;
        revoke all on all tables in schema mart from sales_view_owner;
    end if;
end
$$;

-- migrate:down
-- The loader's row rights of 20261126060005 and the later migrations come back; the tables
-- stay with sales_mart_owner (a member of it, the upgrading role can still alter them).
grant select, insert, update, delete on all tables in schema staging to sales_loader;
grant select, insert, update, delete on
mart.d_city, mart.d_item, mart.d_customer, mart.f_sales,
mart.customer_retention, mart.customer_retention_by_city to sales_loader;
grant usage on all sequences in schema staging to sales_loader;
