-- migrate:up
-- sales_loader: what the pipeline needs and nothing more: read and write rows, never DDL
-- (it owns nothing, so it cannot drop, alter or truncate).
grant usage on schema staging, mart to sales_loader;
grant select, insert, update, delete on all tables in schema staging to sales_loader;
grant select, insert, update, delete on
mart.d_city, mart.d_item, mart.d_customer, mart.f_sales to sales_loader;
grant select on mart.d_calendar to sales_loader;
grant usage on all sequences in schema staging to sales_loader;

-- The view owner reads what the retention views are built from.
grant usage, create on schema mart to sales_view_owner;
grant select on mart.f_sales, mart.d_calendar, mart.d_item, mart.d_city to sales_view_owner;

-- sales_bi: the two retention views only (granted in db/views); schema usage here.
grant usage on schema mart to sales_bi;

-- migrate:down
revoke all on all tables in schema staging from sales_loader;
revoke all on all sequences in schema staging from sales_loader;
revoke all on all tables in schema mart from sales_loader, sales_view_owner, sales_bi;
revoke usage on schema staging, mart from sales_loader;
revoke usage, create on schema mart from sales_view_owner;
revoke usage on schema mart from sales_bi;
