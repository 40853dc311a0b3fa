-- The dimension members a publish touches: their names (the latest eligible row's) and the
-- members no fact uses any more. Called by mart.publish_load (db/procedures/040), as its owner.

-- The rows of mart.publish_work.member_name for members the load does not name: from every
-- eligible row (a scan of staging, for the rare members a re-delivery dropped).
create or replace procedure mart.name_uncovered_members()
language sql
set search_path = pg_catalog, pg_temp
-- one pass over staging, hashed against the (often many) members: never a probe per member
set enable_nestloop = off
as $$
    analyze publish_work.old_member;
    insert into publish_work.member_name (kind, id, name1, name2)
    select distinct on (m.kind, m.id) m.kind, m.id, m.name1, m.name2
    from staging.user_order_log as s
    join staging.published_delivery as p
        on p.load_id = s.load_id and p.source = s.source and p.delivery_date = s.delivery_date
    cross join lateral (
        values ('customer', s.customer_id, s.first_name, s.last_name),
            ('item', s.item_id, s.item_name, null),
            ('city', s.city_id, s.city_name, null)
    ) as m (kind, id, name1, name2)
    where (m.kind, m.id) in (
        select o.kind, o.id from publish_work.old_member as o
        where not exists (
            select from publish_work.member_name as n where n.kind = o.kind and n.id = o.id
        )
    )
    order by m.kind, m.id, s.delivery_date desc, s.source_rank desc, s.date_time desc,
        s.uniq_id desc;
$$;

-- Writes the names of publish_work.member_name into the dimensions: new members and renamed
-- ones only (an upsert locks every row it meets). Renamed items and cities are renamed in the
-- retention tables too.
create or replace procedure mart.write_member_names()
language sql
set search_path = pg_catalog, pg_temp
as $$
    insert into mart.d_customer as d (customer_id, first_name, last_name)
    select n.id, n.name1, n.name2
    from publish_work.member_name as n
    left join mart.d_customer as c on c.customer_id = n.id
    where n.kind = 'customer'
        and (c.customer_id is null
            or (c.first_name, c.last_name) is distinct from (n.name1, n.name2))
    on conflict (customer_id) do update
        set first_name = excluded.first_name, last_name = excluded.last_name;

    with renamed as (
        insert into mart.d_item as d (item_id, item_name)
        select n.id, n.name1
        from publish_work.member_name as n
        left join mart.d_item as c on c.item_id = n.id
        where n.kind = 'item' and (c.item_id is null or c.item_name is distinct from n.name1)
        on conflict (item_id) do update set item_name = excluded.item_name
        returning d.item_id, d.item_name
    ),

    by_item as (
        update mart.customer_retention as r
        set item_name = n.item_name
        from renamed as n
        where r.item_id = n.item_id and r.item_name is distinct from n.item_name
    )

    update mart.customer_retention_by_city as r
    set item_name = n.item_name
    from renamed as n
    where r.item_id = n.item_id and r.item_name is distinct from n.item_name;

    with renamed as (
        insert into mart.d_city as d (city_id, city_name)
        select n.id, n.name1
        from publish_work.member_name as n
        left join mart.d_city as c on c.city_id = n.id
        where n.kind = 'city' and (c.city_id is null or c.city_name is distinct from n.name1)
        on conflict (city_id) do update set city_name = excluded.city_name
        returning d.city_id, d.city_name
    )

    update mart.customer_retention_by_city as r
    set city_name = n.city_name
    from renamed as n
    where r.city_id = n.city_id and r.city_name is distinct from n.city_name;
$$;

-- Members in publish_work.old_member that no fact uses any more (after the retention state is
-- up to date: a customer is used while it has retention rows, an item or city while a
-- retention row of any week names it); the dimensions' triggers check the facts themselves.
create or replace procedure mart.delete_unused_members()
language sql
set search_path = pg_catalog, pg_temp
as $$
    delete from mart.d_customer as d
    using publish_work.old_member as o
    where o.kind = 'customer' and d.customer_id = o.id
        and not exists (
            select from mart.retention_customer_sales as r where r.customer_id = d.customer_id
        );
    delete from mart.d_item as d
    using publish_work.old_member as o
    where o.kind = 'item' and d.item_id = o.id
        and not exists (select from mart.customer_retention as r where r.item_id = d.item_id);
    delete from mart.d_city as d
    using publish_work.old_member as o
    where o.kind = 'city' and d.city_id = o.id
        and not exists (
            select from mart.customer_retention_by_city as r where r.city_id = d.city_id
        );
$$;
