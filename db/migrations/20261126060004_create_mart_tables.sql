-- migrate:up
create table mart.d_calendar (
    date_id integer primary key check (date_id between 19000101 and 29991231),
    date_actual date not null unique,
    year smallint not null,
    quarter smallint not null,
    month smallint not null,
    month_name text not null,
    day_of_month smallint not null,
    day_of_week smallint not null check (day_of_week between 1 and 7), -- ISO: Monday = 1
    day_name text not null,
    iso_year smallint not null,
    iso_week smallint not null check (iso_week between 1 and 53),
    iso_period_id integer not null, -- ISO year * 100 + ISO week, e.g. 202415
    week_start date not null, -- the Monday of the ISO week
    is_weekend boolean not null
);
comment on table mart.d_calendar is 'One row per day, pre-filled; date_id = YYYYMMDD.';

-- 2015..2045: ahead far enough for a pipeline's life; rows outside it are rejected at ingest.
insert into mart.d_calendar
select
    (extract(year from d) * 10000 + extract(month from d) * 100 + extract(day from d))::integer
        as date_id,
    d::date as date_actual,
    extract(year from d)::smallint as year,
    extract(quarter from d)::smallint as quarter,
    extract(month from d)::smallint as month,
    trim(to_char(d, 'Month')) as month_name,
    extract(day from d)::smallint as day_of_month,
    extract(isodow from d)::smallint as day_of_week,
    trim(to_char(d, 'Day')) as day_name,
    extract(isoyear from d)::smallint as iso_year,
    extract(week from d)::smallint as iso_week,
    (extract(isoyear from d) * 100 + extract(week from d))::integer as iso_period_id,
    date_trunc('week', d)::date as week_start,
    extract(isodow from d) >= 6 as is_weekend
from generate_series(date '2015-01-01', date '2045-12-31', interval '1 day') as d;

create table mart.d_city (
    city_id integer primary key,
    city_name text
);

create table mart.d_item (
    item_id integer primary key,
    item_name text
);

create table mart.d_customer (
    customer_id integer primary key,
    first_name text,
    last_name text
);

create table mart.f_sales (
    uniq_id text collate "C" primary key,  -- hex ids: byte order is their natural order
    date_id integer not null references mart.d_calendar (date_id),
    date_time timestamp not null,
    customer_id integer not null references mart.d_customer (customer_id),
    item_id integer not null references mart.d_item (item_id),
    city_id integer not null references mart.d_city (city_id),
    quantity integer not null check (quantity >= 1),
    -- Refunds are stored negative, so sum(payment_amount) is net revenue.
    payment_amount numeric(14, 2) not null,
    status text not null check (status in ('shipped', 'refunded')),
    -- Which delivery the row came from (the latest-dated one that contains the uniq_id).
    delivery_date date not null,
    delivery_source text not null,
    check (
        (status = 'shipped' and payment_amount >= 0)
        or (status = 'refunded' and payment_amount <= 0)
    )
);
create index f_sales_delivery_idx on mart.f_sales (delivery_date);
comment on table mart.f_sales is 'One row per order line (uniq_id) from its latest-dated delivery; refunds negative.';

-- migrate:down
drop table mart.f_sales;
drop table mart.d_customer;
drop table mart.d_item;
drop table mart.d_city;
drop table mart.d_calendar;
