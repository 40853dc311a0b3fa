-- migrate:up
-- Which load is the published delivery of each (source, day). Only rows of these loads are
-- eligible for the mart: a load stopped by a gate, failed at a later step or not yet
-- published never is, and a re-delivery replaces the published one only when it is published
-- itself (in the same transaction as the merge).
create table staging.published_delivery (
    source text not null check (source in ('increment', 'history')),
    delivery_date date not null,
    load_id bigint not null references staging.load_log (load_id),
    published_at timestamptz not null default clock_timestamp(),
    primary key (source, delivery_date)
);
create index published_delivery_load_idx on staging.published_delivery (load_id);
comment on table staging.published_delivery is
'The published delivery of each (source, day): the only staging rows the mart is built from.';

-- Until now a merged load's rows were the day's delivery (ingest replaced earlier ones).
insert into staging.published_delivery (source, delivery_date, load_id, published_at)
select distinct on (s.source, s.delivery_date)
    s.source,
    s.delivery_date,
    s.load_id,
    coalesce(l.merged_at, l.started_at) as published_at
from staging.user_order_log as s
join staging.load_log as l on l.load_id = s.load_id
where l.status = 'merged'
order by s.source asc, s.delivery_date asc, s.load_id desc;

grant select, insert, update, delete on staging.published_delivery to sales_loader;

-- migrate:down
drop table staging.published_delivery;
