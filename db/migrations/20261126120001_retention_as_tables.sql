-- migrate:up
-- The retention relations become tables maintained per ISO week (issue 10): PostgreSQL can only
-- refresh a materialized view whole, which re-aggregates every fact on every publish. The rule
-- stays in db/views (mart.customer_retention_rows, mart.customer_retention_by_city_rows); these
-- tables hold its rows, refreshed per week inside the publish transaction, so readers see a
-- week either before or after a publish, never half of it, and are never blocked (no TRUNCATE,
-- no ACCESS EXCLUSIVE lock). Same names, columns, order, types, keys and grants as the views.
-- Owned by the views' owner: the loader writes rows (the publish refreshes weeks as the
-- loader) but cannot drop, alter or truncate them.
drop materialized view if exists mart.customer_retention;
drop materialized view if exists mart.customer_retention_by_city;
delete from public.sales_mart_view_version
where view_file in ('customer_retention.sql', 'customer_retention_by_city.sql');

create table mart.customer_retention (
    period_name text not null,
    period_id integer not null,
    week_start date not null,
    item_id integer not null,
    item_name text,
    new_customers_count bigint not null,
    returning_customers_count bigint not null,
    refunded_customer_count bigint not null,
    new_customers_revenue numeric(16, 2) not null,
    returning_customers_revenue numeric(16, 2) not null,
    customers_refunded bigint not null,
    orders_count bigint not null,
    refunded_amount numeric(16, 2) not null,
    net_revenue numeric(16, 2) not null,
    days_in_mart bigint not null,
    constraint customer_retention_key primary key (period_id, item_id)
);
comment on table mart.customer_retention is
'Weekly (ISO) customer retention per item: new / returning, revenue, refunds; days_in_mart < 7: partial week.';

create table mart.customer_retention_by_city (
    period_name text not null,
    period_id integer not null,
    week_start date not null,
    item_id integer not null,
    item_name text,
    city_id integer not null,
    city_name text,
    new_customers_count bigint not null,
    returning_customers_count bigint not null,
    refunded_customer_count bigint not null,
    new_customers_revenue numeric(16, 2) not null,
    returning_customers_revenue numeric(16, 2) not null,
    customers_refunded bigint not null,
    orders_count bigint not null,
    refunded_amount numeric(16, 2) not null,
    net_revenue numeric(16, 2) not null,
    days_in_mart bigint not null,
    constraint customer_retention_by_city_key primary key (period_id, item_id, city_id)
);
comment on table mart.customer_retention_by_city is
'Weekly (ISO) customer retention per item and city: new / returning, revenue, refunds; days_in_mart < 7: partial week.';

alter table mart.customer_retention owner to sales_view_owner;
alter table mart.customer_retention_by_city owner to sales_view_owner;
grant select on mart.customer_retention, mart.customer_retention_by_city to sales_bi;
grant select, insert, update, delete on mart.customer_retention, mart.customer_retention_by_city
to sales_loader;

-- A week's facts are found through their days.
create index f_sales_date_idx on mart.f_sales (date_id);

-- migrate:down
drop index mart.f_sales_date_idx;
drop table mart.customer_retention_by_city;
drop table mart.customer_retention;
-- The next `sales-mart db upgrade` re-creates the materialized views of the previous db/views.
