-- Applies a merge's winning rows (pg_temp.merge_winner) to mart.f_sales and removes the lines
-- that disappeared (pg_temp.merge_affected without a winner). Called by mart.merge_dates only.
--
-- Foreign keys: the row-by-row RI triggers are off for this procedure (replica role, restored
-- on exit); instead every written row's keys are checked against the dimensions and calendar
-- in one set-based query, and any miss raises, rolling the whole merge back. CHECK, NOT NULL
-- and unique constraints still apply as usual.
create or replace procedure mart.write_facts()
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set session_replication_role = replica
as $$
declare
    v_orphan record;
begin
    -- Unchanged facts are not rewritten, so re-running a day costs no more than the first run.
    insert into mart.f_sales as f (
        uniq_id, date_id, date_time, customer_id, item_id, city_id, quantity, payment_amount,
        status, delivery_date, delivery_source
    )
    select
        w.uniq_id,
        (extract(year from w.date_time) * 10000 + extract(month from w.date_time) * 100
            + extract(day from w.date_time))::integer,
        w.date_time,
        w.customer_id,
        w.item_id,
        w.city_id,
        w.quantity,
        case w.status when 'refunded' then -w.payment_amount else w.payment_amount end,
        w.status,
        w.delivery_date,
        w.source
    from pg_temp.merge_winner as w
    on conflict (uniq_id) do update
        set date_id = excluded.date_id,
            date_time = excluded.date_time,
            customer_id = excluded.customer_id,
            item_id = excluded.item_id,
            city_id = excluded.city_id,
            quantity = excluded.quantity,
            payment_amount = excluded.payment_amount,
            status = excluded.status,
            delivery_date = excluded.delivery_date,
            delivery_source = excluded.delivery_source
        where (f.date_id, f.date_time, f.customer_id, f.item_id, f.city_id, f.quantity,
                f.payment_amount, f.status, f.delivery_date, f.delivery_source)
            is distinct from
            (excluded.date_id, excluded.date_time, excluded.customer_id, excluded.item_id,
                excluded.city_id, excluded.quantity, excluded.payment_amount, excluded.status,
                excluded.delivery_date, excluded.delivery_source);

    -- The foreign keys of every row just written (= the winners), checked per distinct key.
    select k.kind, k.id into v_orphan
    from (
        select distinct 'customer' as kind, w.customer_id as id from pg_temp.merge_winner as w
        union all
        select distinct 'item', w.item_id from pg_temp.merge_winner as w
        union all
        select distinct 'city', w.city_id from pg_temp.merge_winner as w
        union all
        select distinct
            'date',
            (extract(year from w.date_time) * 10000 + extract(month from w.date_time) * 100
                + extract(day from w.date_time))::integer
        from pg_temp.merge_winner as w
    ) as k
    where not case k.kind
        when 'customer' then exists (select from mart.d_customer as d where d.customer_id = k.id)
        when 'item' then exists (select from mart.d_item as d where d.item_id = k.id)
        when 'city' then exists (select from mart.d_city as d where d.city_id = k.id)
        else exists (select from mart.d_calendar as d where d.date_id = k.id)
    end
    limit 1;
    if found then
        raise exception 'f_sales rows reference % % that has no dimension or calendar row',
            v_orphan.kind, v_orphan.id
            using errcode = 'foreign_key_violation',
                hint = 'The merge upserts dimensions before facts; this is a bug, not bad data.';
    end if;

    -- Lines that disappeared from a re-delivered day.
    delete from mart.f_sales as f
    using pg_temp.merge_affected as a
    where f.uniq_id = a.uniq_id
        and not exists (select from pg_temp.merge_winner as w where w.uniq_id = a.uniq_id);
end
$$;
alter procedure mart.write_facts() owner to sales_fact_writer;
revoke all on procedure mart.write_facts() from public;
grant execute on procedure mart.write_facts() to sales_loader;
