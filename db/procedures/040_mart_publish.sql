-- Publishing a load: the gates, the merge into the mart, the reconciliation and the refresh of
-- the retention tables (the ISO weeks the merge changed), in the caller's transaction: all of
-- it commits or none of it does.
--
-- The mart is a function of the published deliveries (staging.published_delivery): for every
-- uniq_id the load touches (delivered by it, or held by the mart from a delivery it replaces)
-- the winning row is recomputed over the rows of published deliveries only: the latest delivery
-- day, an increment before the full report on the same day. A load stopped by a gate or failed
-- at any later step is never published, so it is never eligible, whatever its dates; the
-- delivery it would have replaced stays published, untouched. So any set of days loaded in any
-- order, any number of times, gives the same mart. Dimensions take the names of their latest
-- eligible row; members left without facts go.

-- Earlier signatures, replaced by mart.publish_load and the ones below.
drop procedure if exists mart.merge_dates(date, date);
drop procedure if exists mart.merge_increment(date);
drop procedure if exists mart.merge_load(bigint);

create or replace procedure mart.publish_load(
    p_load_id bigint, p_max_reject_share numeric default 0.01
)
language plpgsql
-- Each statement reads one load's rows, not the mart: compiling its expressions (JIT, which
-- the big tables' costs would trigger) costs more than it saves.
set jit = off
as $$
declare
    v_load staging.load_log;
    v_failed record;
    v_weeks integer[];
begin
    if p_max_reject_share is null or p_max_reject_share not between 0 and 1 then
        raise exception 'max reject share must be between 0 and 1, got %', p_max_reject_share
            using errcode = 'invalid_parameter_value';
    end if;
    -- One publish at a time: two merges deciding winners of the same uniq_id must not interleave.
    perform pg_advisory_xact_lock(hashtext('sales_mart.merge'));

    select * into v_load from staging.load_log where load_id = p_load_id for update;
    if not found then
        raise exception 'load % does not exist', p_load_id
            using hint = 'See staging.load_log; sales-mart load FILE starts a load.';
    end if;
    if v_load.status = 'merged' then
        raise notice 'load % is already published', p_load_id;
        return;
    end if;
    if v_load.status <> 'ingested' then
        raise exception 'load % is %, so it cannot be published', p_load_id, v_load.status
            using detail = coalesce(v_load.error, ''),
                  hint = 'Load the file again: a new load replaces the published delivery of '
                      || 'its days only once it passes every gate.';
    end if;

    -- The gates again, inside the publishing transaction: nothing unchecked gets in, whoever
    -- calls this.
    select g.check_name, g.detail into v_failed
    from staging.gate_results(p_load_id, p_max_reject_share) as g
    where not g.passed
    limit 1;
    if found then
        raise exception 'data-quality check % failed for load %: %',
            v_failed.check_name, p_load_id, v_failed.detail
            using errcode = 'check_violation',
                  hint = 'Nothing was published; the journal and staging.user_order_log_rejects '
                      || 'say more.';
    end if;

    -- The shapes of this procedure's temp tables, for plpgsql_check (`make lint`); no-ops here.
    perform 'PRAGMA:TABLE: merge_load_row (like staging.user_order_log)';
    perform 'PRAGMA:TABLE: publish_slice (source text, delivery_date date, source_rank smallint)';
    perform 'PRAGMA:TABLE: publish_replaced (source text, delivery_date date, load_id bigint)';
    perform 'PRAGMA:TABLE: publish_later (source text, delivery_date date, load_id bigint)';
    perform 'PRAGMA:TABLE: merge_affected (uniq_id text, in_load boolean)';
    perform 'PRAGMA:TABLE: merge_winner (like staging.user_order_log)';
    perform 'PRAGMA:TABLE: merge_old_fact (like mart.f_sales)';
    perform 'PRAGMA:TABLE: merge_dimension (kind text, id integer)';
    perform 'PRAGMA:TABLE: merge_old_dimension (kind text, id integer)';
    perform 'PRAGMA:TABLE: merge_uncovered (kind text, id integer)';
    perform 'PRAGMA:TABLE: merge_name_row (customer_id integer, item_id integer, '
        'city_id integer, first_name text, last_name text, item_name text, city_name text, '
        'delivery_date date, source_rank smallint, date_time timestamp, uniq_id text)';
    drop table if exists pg_temp.merge_load_row, pg_temp.publish_slice,
        pg_temp.publish_replaced, pg_temp.publish_later, pg_temp.merge_affected,
        pg_temp.merge_winner, pg_temp.merge_old_fact, pg_temp.merge_dimension,
        pg_temp.merge_old_dimension, pg_temp.merge_uncovered, pg_temp.merge_name_row;

    -- The load's rows, in a temp table with statistics (staging's are of earlier loads).
    create temp table merge_load_row on commit drop as
    select s.* from staging.user_order_log as s where s.load_id = p_load_id;
    analyze merge_load_row;

    -- The (source, day) deliveries this load makes, and the published loads it replaces.
    create temp table publish_slice on commit drop as
    select distinct r.source, r.delivery_date, r.source_rank from merge_load_row as r;
    analyze publish_slice;  -- a day or a few: read the mart's facts of them by index

    create temp table publish_replaced on commit drop as
    select p.source, p.delivery_date, p.load_id
    from staging.published_delivery as p
    join publish_slice as d on d.source = p.source and d.delivery_date = p.delivery_date;

    insert into staging.published_delivery as p (source, delivery_date, load_id)
    select d.source, d.delivery_date, p_load_id from publish_slice as d
    on conflict (source, delivery_date) do update
        set load_id = excluded.load_id, published_at = clock_timestamp();

    -- Rows of replaced deliveries are no longer eligible; a load left with no published day
    -- is superseded.
    delete from staging.user_order_log as s
    using publish_replaced as r
    where s.load_id = r.load_id and s.source = r.source and s.delivery_date = r.delivery_date;
    update staging.load_log as l
    set status = 'superseded', finished_at = clock_timestamp()
    where l.load_id in (select r.load_id from publish_replaced as r)
        and not exists (select from staging.published_delivery as p where p.load_id = l.load_id);

    -- Published deliveries of other loads that rank after this load's first (source, day):
    -- only their rows can beat this load's (every other eligible row ranks before it). Days
    -- loaded in order leave none, so winners and names come from the load alone.
    create temp table publish_later on commit drop as
    select p.source, p.delivery_date, p.load_id
    from staging.published_delivery as p
    where p.load_id <> p_load_id
        and (p.delivery_date, case p.source when 'increment' then 2 else 1 end) > (
            select d.delivery_date, d.source_rank from publish_slice as d
            order by d.delivery_date, d.source_rank limit 1
        );
    analyze publish_later;

    -- Every uniq_id the load touches: delivered by it, or held by the mart from a delivery it
    -- replaces (in_load false: those may win from any other published delivery).
    create temp table merge_affected on commit drop as
    select a.uniq_id, bool_or(a.in_load) as in_load
    from (
        select r.uniq_id, true as in_load from merge_load_row as r
        union all
        select f.uniq_id, false
        from mart.f_sales as f
        join publish_slice as d
            on d.delivery_date = f.delivery_date and d.source = f.delivery_source
    ) as a
    group by a.uniq_id;
    analyze merge_affected;

    -- The winning row of every affected uniq_id: the latest delivery day, an increment before
    -- the full report. Candidates: the load's rows, rows of later deliveries, and every
    -- eligible row of a uniq_id the load does not deliver (a primary-key probe each).
    create temp table merge_winner on commit drop as
    select distinct on (c.uniq_id) c.*
    from (
        select r.* from merge_load_row as r
        union all
        select s.*
        from publish_later as l
        join staging.user_order_log as s
            on s.load_id = l.load_id and s.source = l.source and s.delivery_date = l.delivery_date
        join merge_affected as a on a.uniq_id = s.uniq_id
        union all
        select s.*
        from merge_affected as a
        join staging.user_order_log as s on s.uniq_id = a.uniq_id
        join staging.published_delivery as p
            on p.source = s.source and p.delivery_date = s.delivery_date and p.load_id = s.load_id
        where not a.in_load
    ) as c
    order by c.uniq_id, c.delivery_date desc, c.source_rank desc;
    analyze merge_winner;

    -- The mart's facts of those uniq_ids before the merge, read once (from a big mart by
    -- primary key): what changes, which weeks and which members they held.
    create temp table merge_old_fact on commit drop as
    select f.* from mart.f_sales as f where f.uniq_id in (select a.uniq_id from merge_affected as a);
    analyze merge_old_fact;

    -- The ISO weeks whose retention rows change: the old and the new week of every fact that
    -- is inserted, changed or deleted below (a re-run of an unchanged day touches none).
    select array_agg(distinct c.iso_period_id) into v_weeks
    from merge_affected as a
    left join merge_old_fact as f on f.uniq_id = a.uniq_id
    left join merge_winner as w on w.uniq_id = a.uniq_id
    cross join lateral (values (f.date_time::date), (w.date_time::date)) as d (day)
    join mart.d_calendar as c on c.date_actual = d.day
    where (f.date_time, f.customer_id, f.item_id, f.city_id, f.payment_amount, f.status)
        is distinct from
        (w.date_time, w.customer_id, w.item_id, w.city_id,
            case w.status when 'refunded' then -w.payment_amount else w.payment_amount end,
            w.status);

    -- Every dimension member a winner uses, and those only replaced facts used: all are
    -- renamed after their latest eligible row; the latter are deleted below if left without sales.
    create temp table merge_dimension on commit drop as
    select distinct m.kind, m.id
    from merge_winner as w
    cross join lateral (
        values ('customer', w.customer_id), ('item', w.item_id), ('city', w.city_id)
    ) as m (kind, id);

    create temp table merge_old_dimension on commit drop as
    select distinct m.kind, m.id
    from merge_old_fact as f
    cross join lateral (
        values ('customer', f.customer_id), ('item', f.item_id), ('city', f.city_id)
    ) as m (kind, id)
    where not exists (select from merge_dimension as d where d.kind = m.kind and d.id = m.id);

    -- A member's latest eligible row: from the load's rows and the later deliveries' rows when
    -- the load has a row of it (every other eligible row ranks before the load's); otherwise
    -- (rare: a re-delivery dropped it) from every eligible row, a scan of staging.
    create temp table merge_name_row on commit drop as
    select r.customer_id, r.item_id, r.city_id, r.first_name, r.last_name, r.item_name,
        r.city_name, r.delivery_date, r.source_rank, r.date_time, r.uniq_id
    from merge_load_row as r;
    insert into merge_name_row
    select s.customer_id, s.item_id, s.city_id, s.first_name, s.last_name, s.item_name,
        s.city_name, s.delivery_date, s.source_rank, s.date_time, s.uniq_id
    from publish_later as l
    join staging.user_order_log as s
        on s.load_id = l.load_id and s.source = l.source and s.delivery_date = l.delivery_date;

    create temp table merge_uncovered on commit drop as
    select m.kind, m.id
    from (
        select d.kind, d.id from merge_dimension as d
        union all
        select o.kind, o.id from merge_old_dimension as o
    ) as m
    where not exists (
        select from merge_load_row as r
        where m.kind = 'customer' and r.customer_id = m.id
    ) and not exists (
        select from merge_load_row as r
        where m.kind = 'item' and r.item_id = m.id
    ) and not exists (
        select from merge_load_row as r
        where m.kind = 'city' and r.city_id = m.id
    );
    if exists (select from merge_uncovered) then
        insert into merge_name_row
        select s.customer_id, s.item_id, s.city_id, s.first_name, s.last_name, s.item_name,
            s.city_name, s.delivery_date, s.source_rank, s.date_time, s.uniq_id
        from staging.user_order_log as s
        join staging.published_delivery as p
            on p.source = s.source and p.delivery_date = s.delivery_date
                and p.load_id = s.load_id
        where p.load_id <> p_load_id
            and (
                s.customer_id in (select u.id from merge_uncovered as u where u.kind = 'customer')
                or s.item_id in (select u.id from merge_uncovered as u where u.kind = 'item')
                or s.city_id in (select u.id from merge_uncovered as u where u.kind = 'city')
            );
    end if;
    analyze merge_name_row;

    -- Only members that are new or renamed are written (an upsert locks every row it meets).
    insert into mart.d_customer as d (customer_id, first_name, last_name)
    select n.customer_id, n.first_name, n.last_name
    from (
        select distinct on (n.customer_id) n.customer_id, n.first_name, n.last_name
        from merge_name_row as n
        where n.customer_id in (
            select m.id from merge_dimension as m where m.kind = 'customer'
            union all
            select m.id from merge_old_dimension as m where m.kind = 'customer'
        )
        order by n.customer_id, n.delivery_date desc, n.source_rank desc, n.date_time desc,
            n.uniq_id desc
    ) as n
    left join mart.d_customer as c on c.customer_id = n.customer_id
    where c.customer_id is null
        or (c.first_name, c.last_name) is distinct from (n.first_name, n.last_name)
    on conflict (customer_id) do update
        set first_name = excluded.first_name, last_name = excluded.last_name
        where (d.first_name, d.last_name) is distinct from (excluded.first_name, excluded.last_name);

    insert into mart.d_item as d (item_id, item_name)
    select n.item_id, n.item_name
    from (
        select distinct on (n.item_id) n.item_id, n.item_name
        from merge_name_row as n
        where n.item_id in (
            select m.id from merge_dimension as m where m.kind = 'item'
            union all
            select m.id from merge_old_dimension as m where m.kind = 'item'
        )
        order by n.item_id, n.delivery_date desc, n.source_rank desc, n.date_time desc,
            n.uniq_id desc
    ) as n
    left join mart.d_item as c on c.item_id = n.item_id
    where c.item_id is null or c.item_name is distinct from n.item_name
    on conflict (item_id) do update
        set item_name = excluded.item_name
        where d.item_name is distinct from excluded.item_name;

    insert into mart.d_city as d (city_id, city_name)
    select n.city_id, n.city_name
    from (
        select distinct on (n.city_id) n.city_id, n.city_name
        from merge_name_row as n
        where n.city_id in (
            select m.id from merge_dimension as m where m.kind = 'city'
            union all
            select m.id from merge_old_dimension as m where m.kind = 'city'
        )
        order by n.city_id, n.delivery_date desc, n.source_rank desc, n.date_time desc,
            n.uniq_id desc
    ) as n
    left join mart.d_city as c on c.city_id = n.city_id
    where c.city_id is null or c.city_name is distinct from n.city_name
    on conflict (city_id) do update
        set city_name = excluded.city_name
        where d.city_name is distinct from excluded.city_name;

    -- Facts, with their foreign keys checked as usual. Only new and changed facts are written
    -- (an upsert locks every row it meets), so re-running a day costs little more than its
    -- ingest.
    insert into mart.f_sales as f (
        uniq_id, date_id, date_time, customer_id, item_id, city_id, quantity, payment_amount,
        status, delivery_date, delivery_source
    )
    select n.*
    from (
        select
            w.uniq_id,
            (extract(year from w.date_time) * 10000 + extract(month from w.date_time) * 100
                + extract(day from w.date_time))::integer as date_id,
            w.date_time,
            w.customer_id,
            w.item_id,
            w.city_id,
            w.quantity,
            case w.status when 'refunded' then -w.payment_amount else w.payment_amount end
                as payment_amount,
            w.status,
            w.delivery_date,
            w.source as delivery_source
        from merge_winner as w
    ) as n
    left join merge_old_fact as o on o.uniq_id = n.uniq_id
    where o.uniq_id is null
        or (o.date_id, o.date_time, o.customer_id, o.item_id, o.city_id, o.quantity,
            o.payment_amount, o.status, o.delivery_date, o.delivery_source)
        is distinct from
        (n.date_id, n.date_time, n.customer_id, n.item_id, n.city_id, n.quantity,
            n.payment_amount, n.status, n.delivery_date, n.delivery_source)
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

    -- Lines that disappeared from a re-delivered day.
    delete from mart.f_sales as f
    using merge_old_fact as a
    where f.uniq_id = a.uniq_id
        and not exists (select from merge_winner as w where w.uniq_id = a.uniq_id);

    delete from mart.d_customer as d
    using merge_old_dimension as m
    where m.kind = 'customer' and d.customer_id = m.id
        and not exists (select from mart.f_sales as f where f.customer_id = d.customer_id);
    delete from mart.d_item as d
    using merge_old_dimension as m
    where m.kind = 'item' and d.item_id = m.id
        and not exists (select from mart.f_sales as f where f.item_id = d.item_id);
    delete from mart.d_city as d
    using merge_old_dimension as m
    where m.kind = 'city' and d.city_id = m.id
        and not exists (select from mart.f_sales as f where f.city_id = d.city_id);

    -- The reconciliation is an assertion: a mismatch rolls the whole publish back.
    select r.passed, r.detail into v_failed from mart.net_revenue_reconciles(p_load_id) as r;
    if not v_failed.passed then
        raise exception 'data-quality check net_revenue_reconciles failed for load %: %',
            p_load_id, v_failed.detail
            using errcode = 'check_violation',
                  hint = 'The merge did not reproduce the load''s rows; nothing was published. '
                      || 'This is a bug, not bad data.';
    end if;

    -- Only the weeks this publish changed (and names renamed): the daily cost follows the day,
    -- not the history. `call mart.refresh_retention()` rebuilds everything.
    call mart.refresh_retention_weeks(coalesce(v_weeks, '{}'));

    update staging.load_log
    set status = 'merged', merged_at = clock_timestamp(), finished_at = clock_timestamp()
    where load_id = p_load_id;
end
$$;

-- SPEC §4: publishes the day's latest ingested increment (gates, merge, refresh, in one
-- transaction); a day already published is left as it is.
create or replace procedure mart.merge_increment(
    p_date date, p_max_reject_share numeric default 0.01
)
language plpgsql
as $$
declare
    v_load_id bigint;
begin
    select max(l.load_id) into v_load_id
    from staging.load_log as l
    where l.source = 'increment' and l.delivery_date = p_date and l.status = 'ingested';
    if v_load_id is not null then
        call mart.publish_load(v_load_id, p_max_reject_share);
    elsif exists (
        select from staging.published_delivery as p
        where p.source = 'increment' and p.delivery_date = p_date
    ) then
        raise notice 'the increment of % is already published', p_date;
    else
        raise exception 'no increment of % is waiting in staging', p_date
            using hint = 'Load it first: sales-mart load FILE --date ' || p_date || '.';
    end if;
end
$$;

-- The same for a load by id (a full report spans many days).
create or replace procedure mart.merge_load(
    p_load_id bigint, p_max_reject_share numeric default 0.01
)
language sql
as $$
    call mart.publish_load(p_load_id, p_max_reject_share);
$$;
