-- migrate:up
-- Scratch tables of mart.publish_load, which runs as the mart's owner: the rows a publish
-- changes, kept between its statements. Not temp tables: a SECURITY DEFINER routine reads no
-- relation its caller could create (SPEC §4), and a caller can create temp tables of any name.
-- Unlogged (a crash loses only an unfinished publish), in a schema only the owner may use;
-- publishes are serialized (the publish lock), and each empties them first.
create schema publish_work authorization sales_mart_owner;
comment on schema publish_work is
'Scratch tables of mart.publish_load (owner only): what one publish changes, between its statements.';

-- One row per fact version the publish removes (sign -1) or adds (sign +1): what the retention
-- state changes by.
create unlogged table publish_work.fact_delta (
    sign smallint not null,
    customer_id integer not null,
    date_id integer not null,
    item_id integer not null,
    city_id integer not null,
    status text not null,
    payment_amount numeric(14, 2) not null
);

-- uniq_ids whose winner is recomputed over every eligible row (a replaced delivery dropped
-- them, or the load holds them only on a lower-ranked day than the fact it replaces).
create unlogged table publish_work.contested (
    uniq_id text collate "C" primary key
);

-- Member names the publish writes: (kind, id) with the name of its latest eligible row.
create unlogged table publish_work.member_name (
    kind text not null,
    id integer not null,
    name1 text,
    name2 text,
    primary key (kind, id)
);

-- Members whose facts went away or changed: deleted when no fact uses them any more.
create unlogged table publish_work.old_member (
    kind text not null,
    id integer not null,
    primary key (kind, id)
);

alter table publish_work.fact_delta owner to sales_mart_owner;
alter table publish_work.contested owner to sales_mart_owner;
alter table publish_work.member_name owner to sales_mart_owner;
alter table publish_work.old_member owner to sales_mart_owner;

-- migrate:down
drop schema publish_work cascade;
