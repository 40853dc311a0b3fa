-- The publish's slow path (db/procedures/040): uniq_ids whose winner is recomputed over every
-- eligible row.

-- The contested uniq_ids (publish_work.contested): each takes the row of the latest-dated
-- published delivery holding it, or leaves the mart when none does; the changes go to
-- publish_work.fact_delta and their old members to publish_work.old_member.
create or replace procedure mart.settle_contested_facts()
language sql
set search_path = pg_catalog, pg_temp
as $$
    -- Members of the winners that the dimensions may lack (named from every eligible row).
    insert into publish_work.old_member (kind, id)
    select distinct m.kind, m.id
    from publish_work.contested as c
    join staging.user_order_log as s on s.uniq_id = c.uniq_id
    join staging.published_delivery as p
        on p.load_id = s.load_id and p.source = s.source and p.delivery_date = s.delivery_date
    cross join lateral (
        values ('customer', s.customer_id), ('item', s.item_id), ('city', s.city_id)
    ) as m (kind, id)
    where not exists (
        select from publish_work.member_name as n where n.kind = m.kind and n.id = m.id
    )
    on conflict do nothing;
    call mart.name_uncovered_members();
    call mart.write_member_names();

    with winner as (
        select distinct on (s.uniq_id)
            s.uniq_id, s.date_time, s.customer_id, s.item_id, s.city_id, s.quantity, s.status,
            s.delivery_date, s.source,
            (extract(year from s.date_time) * 10000 + extract(month from s.date_time) * 100
                + extract(day from s.date_time))::integer as date_id,
            case s.status when 'refunded' then -s.payment_amount else s.payment_amount end
                as payment_amount
        from publish_work.contested as c
        join staging.user_order_log as s on s.uniq_id = c.uniq_id
        join staging.published_delivery as p
            on p.load_id = s.load_id and p.source = s.source and p.delivery_date = s.delivery_date
        order by s.uniq_id, s.delivery_date desc, s.source_rank desc
    ),

    old as (
        select f.*
        from mart.f_sales as f
        join publish_work.contested as c on c.uniq_id = f.uniq_id
    ),

    updated as (
        update mart.f_sales as f
        set date_id = w.date_id,
            date_time = w.date_time,
            customer_id = w.customer_id,
            item_id = w.item_id,
            city_id = w.city_id,
            quantity = w.quantity,
            payment_amount = w.payment_amount,
            status = w.status,
            delivery_date = w.delivery_date,
            delivery_source = w.source
        from winner as w
        join old as o on o.uniq_id = w.uniq_id
        where f.uniq_id = w.uniq_id
            and (o.date_id, o.date_time, o.customer_id, o.item_id, o.city_id, o.quantity,
                o.payment_amount, o.status, o.delivery_date, o.delivery_source)
            is distinct from
            (w.date_id, w.date_time, w.customer_id, w.item_id, w.city_id, w.quantity,
                w.payment_amount, w.status, w.delivery_date, w.source)
        returning f.customer_id, f.date_id, f.item_id, f.city_id, f.status, f.payment_amount,
            o.customer_id as old_customer_id, o.date_id as old_date_id,
            o.item_id as old_item_id, o.city_id as old_city_id, o.status as old_status,
            o.payment_amount as old_payment_amount
    ),

    inserted as (
        insert into mart.f_sales (
            uniq_id, date_id, date_time, customer_id, item_id, city_id, quantity,
            payment_amount, status, delivery_date, delivery_source
        )
        select
            w.uniq_id, w.date_id, w.date_time, w.customer_id, w.item_id, w.city_id,
            w.quantity, w.payment_amount, w.status, w.delivery_date, w.source
        from winner as w
        where not exists (select from old as o where o.uniq_id = w.uniq_id)
        returning customer_id, date_id, item_id, city_id, status, payment_amount
    ),

    deleted as (
        delete from mart.f_sales as f
        using old as o
        where f.uniq_id = o.uniq_id
            and not exists (select from winner as w where w.uniq_id = o.uniq_id)
        returning f.customer_id, f.date_id, f.item_id, f.city_id, f.status, f.payment_amount
    ),

    old_member as (
        insert into publish_work.old_member (kind, id)
        select distinct m.kind, m.id
        from (
            select u.old_customer_id as customer_id, u.old_item_id as item_id,
                u.old_city_id as city_id
            from updated as u
            union all
            select d.customer_id, d.item_id, d.city_id from deleted as d
        ) as o
        cross join lateral (
            values ('customer', o.customer_id), ('item', o.item_id), ('city', o.city_id)
        ) as m (kind, id)
        on conflict do nothing
    )

    insert into publish_work.fact_delta (
        sign, customer_id, date_id, item_id, city_id, status, payment_amount
    )
    select 1, u.customer_id, u.date_id, u.item_id, u.city_id, u.status, u.payment_amount
    from updated as u
    union all
    select -1, u.old_customer_id, u.old_date_id, u.old_item_id, u.old_city_id, u.old_status,
        u.old_payment_amount
    from updated as u
    union all
    select 1, i.customer_id, i.date_id, i.item_id, i.city_id, i.status, i.payment_amount
    from inserted as i
    union all
    select -1, d.customer_id, d.date_id, d.item_id, d.city_id, d.status, d.payment_amount
    from deleted as d;
$$;
