-- migrate:up
-- Referential integrity of mart.f_sales, set-based (SPEC §4, issue 15). The four declared
-- foreign keys checked each new fact with its own look-up and row lock (14 µs a fact, 3 × a raw
-- COPY of the day's file). The same guarantee, for every writer, from statement-level triggers
-- over transition tables: after each statement that inserts or updates facts, one pass joins
-- its rows to the three dimensions and the calendar and raises on any member missing; after
-- each statement that deletes or re-keys members, one join looks for facts still using them.
-- Concurrency (a member deleted while a fact that uses it is inserted): the fact side holds a
-- SHARE lock on the dimensions and the calendar from its check to its commit, the member side
-- a SHARE lock on the facts, so one of the two transactions waits for the other and then sees
-- its rows (READ COMMITTED). A member is deleted or re-keyed only in READ COMMITTED: in a
-- snapshot transaction the check could miss a fact committed after its snapshot.
-- The triggers are ENABLE ALWAYS: session_replication_role = replica, which skips foreign
-- keys, does not skip them.
alter table mart.f_sales drop constraint f_sales_date_id_fkey;
alter table mart.f_sales drop constraint f_sales_customer_id_fkey;
alter table mart.f_sales drop constraint f_sales_item_id_fkey;
alter table mart.f_sales drop constraint f_sales_city_id_fkey;

create function mart.facts_have_members()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_missing text;
begin
    -- Until this transaction ends, nobody deletes or re-keys a member these facts rely on.
    lock table mart.d_customer, mart.d_item, mart.d_city, mart.d_calendar in share mode;
    select concat_ws('; ',
        'customer_id ' || string_agg(distinct f.customer_id::text, ', ')
            filter (where cu.customer_id is null),
        'item_id ' || string_agg(distinct f.item_id::text, ', ') filter (where it.item_id is null),
        'city_id ' || string_agg(distinct f.city_id::text, ', ') filter (where ci.city_id is null),
        'date_id ' || string_agg(distinct f.date_id::text, ', ') filter (where ca.date_id is null)
    )
    into v_missing
    from new_facts as f
    left join mart.d_customer as cu on cu.customer_id = f.customer_id
    left join mart.d_item as it on it.item_id = f.item_id
    left join mart.d_city as ci on ci.city_id = f.city_id
    left join mart.d_calendar as ca on ca.date_id = f.date_id
    where cu.customer_id is null or it.item_id is null or ci.city_id is null
        or ca.date_id is null;
    if v_missing <> '' then
        raise exception 'mart.f_sales: facts refer to members that do not exist: %',
            left(v_missing, 500)
            using errcode = 'foreign_key_violation',
                  hint = 'Insert the dimension members (and calendar days) first; every fact '
                      || 'needs its customer, item, city and day.';
    end if;
    return null;
end
$$;

-- What a member-side trigger needs: which keys went away (deleted, or re-keyed by an update),
-- as (kind, key) pairs; the caller passes its transition tables' keys.
create function mart.members_still_used(p_kind text, p_keys integer[])
returns void
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_used text;
begin
    if cardinality(p_keys) = 0 then
        return;
    end if;
    if current_setting('transaction_isolation') <> 'read committed' then
        raise exception 'mart: % members are deleted or re-keyed only in READ COMMITTED', p_kind
            using errcode = 'serialization_failure',
                  hint = 'A snapshot transaction could miss facts committed after it began; '
                      || 'run the change in a READ COMMITTED transaction.';
    end if;
    -- Facts inserted by transactions still running commit first (or roll back), then count.
    lock table mart.f_sales in share mode;
    if p_kind = 'customer' then
        select string_agg(distinct f.customer_id::text, ', ') into v_used
        from mart.f_sales as f join unnest(p_keys) as k (id) on f.customer_id = k.id;
    elsif p_kind = 'item' then
        select string_agg(distinct f.item_id::text, ', ') into v_used
        from mart.f_sales as f join unnest(p_keys) as k (id) on f.item_id = k.id;
    elsif p_kind = 'city' then
        select string_agg(distinct f.city_id::text, ', ') into v_used
        from mart.f_sales as f join unnest(p_keys) as k (id) on f.city_id = k.id;
    else
        select string_agg(distinct f.date_id::text, ', ') into v_used
        from mart.f_sales as f join unnest(p_keys) as k (id) on f.date_id = k.id;
    end if;
    if v_used is not null then
        raise exception 'mart: % % still used by facts of mart.f_sales', p_kind, left(v_used, 300)
            using errcode = 'foreign_key_violation',
                  hint = 'Delete or re-point those facts first (a publish does it).';
    end if;
end
$$;

-- The key column each member table's triggers watch, and the kind of member it is.
create function mart.member_key(p_table name)
returns table (key_column text, kind text)
language sql
immutable
set search_path = pg_catalog, pg_temp
as $$
    select k.key_column, k.kind
    from (values
        ('d_customer', 'customer_id', 'customer'), ('d_item', 'item_id', 'item'),
        ('d_city', 'city_id', 'city'), ('d_calendar', 'date_id', 'day')
    ) as k (table_name, key_column, kind)
    where k.table_name = p_table
$$;

create function mart.deleted_members_unused()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_key record;
begin
    select * into v_key from mart.member_key(tg_table_name);
    perform mart.members_still_used(v_key.kind, array(
        select (to_jsonb(o) ->> v_key.key_column)::integer from old_members as o));
    return null;
end
$$;

create function mart.rekeyed_members_unused()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
declare
    v_key record;
begin
    -- Keys of the old rows that no new row carries: re-keyed away. A rename keeps its key.
    select * into v_key from mart.member_key(tg_table_name);
    perform mart.members_still_used(v_key.kind, array(
        select (to_jsonb(o) ->> v_key.key_column)::integer from old_members as o
        except
        select (to_jsonb(n) ->> v_key.key_column)::integer from new_members as n));
    return null;
end
$$;

-- TRUNCATE has no transition table: a member table is emptied only when no fact exists.
create function mart.truncated_members_unused()
returns trigger
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    lock table mart.f_sales in share mode;
    if exists (select from mart.f_sales) then
        raise exception 'mart: % cannot be truncated while mart.f_sales holds facts', tg_table_name
            using errcode = 'foreign_key_violation';
    end if;
    return null;
end
$$;

create trigger f_sales_members_exist_after_insert
after insert on mart.f_sales referencing new table as new_facts
for each statement execute function mart.facts_have_members();
create trigger f_sales_members_exist_after_update
after update on mart.f_sales referencing new table as new_facts
for each statement execute function mart.facts_have_members();
alter table mart.f_sales enable always trigger f_sales_members_exist_after_insert;
alter table mart.f_sales enable always trigger f_sales_members_exist_after_update;

do $$
declare
    v_table text;
begin
    foreach v_table in array array['d_customer', 'd_item', 'd_city', 'd_calendar'] loop
        execute format('create trigger %1$s_unused_after_delete after delete on mart.%1$s '
            'referencing old table as old_members for each statement '
            'execute function mart.deleted_members_unused()', v_table);
        execute format('create trigger %1$s_unused_after_update after update on mart.%1$s '
            'referencing old table as old_members new table as new_members for each statement '
            'execute function mart.rekeyed_members_unused()', v_table);
        execute format('create trigger %1$s_unused_before_truncate before truncate on mart.%1$s '
            'for each statement execute function mart.truncated_members_unused()', v_table);
        execute format('alter table mart.%1$s enable always trigger %1$s_unused_after_delete',
            v_table);
        execute format('alter table mart.%1$s enable always trigger %1$s_unused_after_update',
            v_table);
        execute format('alter table mart.%1$s enable always trigger %1$s_unused_before_truncate',
            v_table);
    end loop;
end
$$;

revoke all on function mart.facts_have_members(), mart.members_still_used(text, integer[]),
mart.member_key(name),
mart.deleted_members_unused(), mart.rekeyed_members_unused(), mart.truncated_members_unused()
from public;

-- For BI tools and people: the relationships, where a foreign key would have shown them.
comment on column mart.f_sales.customer_id is
'References mart.d_customer (customer_id); enforced by triggers f_sales_members_exist_*, d_customer_unused_*.';
comment on column mart.f_sales.item_id is
'References mart.d_item (item_id); enforced by triggers f_sales_members_exist_*, d_item_unused_*.';
comment on column mart.f_sales.city_id is
'References mart.d_city (city_id); enforced by triggers f_sales_members_exist_*, d_city_unused_*.';
comment on column mart.f_sales.date_id is
'References mart.d_calendar (date_id); enforced by triggers f_sales_members_exist_*, d_calendar_unused_*.';

-- migrate:down
do $$
declare
    v_table text;
begin
    foreach v_table in array array['d_customer', 'd_item', 'd_city', 'd_calendar'] loop
        execute format('drop trigger %1$s_unused_after_delete on mart.%1$s', v_table);
        execute format('drop trigger %1$s_unused_after_update on mart.%1$s', v_table);
        execute format('drop trigger %1$s_unused_before_truncate on mart.%1$s', v_table);
    end loop;
end
$$;
drop trigger f_sales_members_exist_after_insert on mart.f_sales;
drop trigger f_sales_members_exist_after_update on mart.f_sales;
drop function mart.truncated_members_unused();
drop function mart.rekeyed_members_unused();
drop function mart.deleted_members_unused();
drop function mart.members_still_used(text, integer[]);
drop function mart.member_key(name);
drop function mart.facts_have_members();
comment on column mart.f_sales.customer_id is null;
comment on column mart.f_sales.item_id is null;
comment on column mart.f_sales.city_id is null;
comment on column mart.f_sales.date_id is null;
alter table mart.f_sales add foreign key (date_id) references mart.d_calendar (date_id);
alter table mart.f_sales add foreign key (customer_id) references mart.d_customer (customer_id);
alter table mart.f_sales add foreign key (item_id) references mart.d_item (item_id);
alter table mart.f_sales add foreign key (city_id) references mart.d_city (city_id);
