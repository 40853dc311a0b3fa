-- Publishing a load: the gates, the merge into the mart, the reconciliation and the upkeep of
-- the retention tables, in the caller's transaction: all of it commits or none of it does.
--
-- The mart is a function of the published deliveries (staging.published_delivery): for every
-- uniq_id the mart holds the row of the latest-dated published delivery holding it, an
-- increment before the full report on the same day. A load stopped by a gate or failed at any
-- later step is never published, so it is never eligible, whatever its dates; the delivery it
-- would have replaced stays published, untouched. So any set of days loaded in any order, any
-- number of times, gives the same mart. Dimensions take the names of their latest eligible
-- row; members left without facts go.
--
-- How (issue 15): the load's rows are read and set against the facts of their uniq_ids once,
-- and each is inserted, updated, left or lost by rank; only what needs it takes the slow path
-- (a uniq_id a re-delivery dropped, or holds on a lower day than its fact): its winner is
-- recomputed over every eligible row. Every fact version removed or added goes to
-- publish_work.fact_delta, from which the retention tables are kept (mart.apply_retention_delta).
-- Runs as the mart's owner: the loader writes no fact, name, retention row, published delivery
-- or load status but through here, after the gates.

-- Earlier signatures, replaced by mart.publish_load and the ones below.
drop procedure if exists mart.merge_dates(date, date);
drop procedure if exists mart.merge_increment(date);
drop procedure if exists mart.merge_load(bigint);

create or replace procedure mart.publish_load(
    p_load_id bigint, p_max_reject_share numeric default 0.01
)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set work_mem = '256MB'  -- a day's rows hash in memory
-- Each statement reads one load's rows: compiling its expressions costs more than it saves.
set jit = off
-- Hash joins: staging's statistics are of earlier loads (a day's rows look like a few
-- thousand), and a nested loop or a merge join planned on them reads a million rows many times
-- over or sorts them all. The look-ups that should be probes are written as lateral probes.
set enable_nestloop = off
set enable_mergejoin = off
as $$
declare
    v_load staging.load_log;
    v_failed record;
    v_rank integer;
    v_replaced bigint[];
    v_out_of_order boolean;
    v_seen record;
    v_contested bigint;
    v_check text;
    v_detail text;
begin
    if p_max_reject_share is null or p_max_reject_share not between 0 and 1 then
        raise exception 'max reject share must be between 0 and 1, got %', p_max_reject_share
            using errcode = 'invalid_parameter_value';
    end if;
    -- One publish at a time: two merges deciding winners of the same uniq_id must not
    -- interleave. A table lock only the owner can take (no other role may write the table).
    call staging.take_pipeline_lock('staging.published_delivery', 'share row exclusive',
        'publish');

    select * into v_load from staging.load_log as l where l.load_id = p_load_id for update;
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

    -- The gates again, inside the publishing transaction (from the journal; the rows are
    -- checked against it below, as they are read): nothing unchecked gets in, whoever calls.
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

    truncate publish_work.fact_delta, publish_work.contested, publish_work.member_name,
        publish_work.old_member;
    v_rank := case v_load.source when 'increment' then 2 else 1 end;

    -- The (source, day) deliveries this load makes become its; the loads it replaces are
    -- superseded when no published day is left to them.
    select array_agg(p.load_id) into v_replaced
    from staging.published_delivery as p
    where p.source = v_load.source and p.delivery_date = any(v_load.delivery_days)
        and p.load_id <> p_load_id;
    insert into staging.published_delivery as p (source, delivery_date, load_id)
    select v_load.source, d.day, p_load_id from unnest(v_load.delivery_days) as d (day)
    on conflict (source, delivery_date) do update
        set load_id = excluded.load_id, published_at = clock_timestamp();
    update staging.load_log as l
    set status = 'superseded', finished_at = clock_timestamp()
    where l.load_id = any(v_replaced)
        and not exists (select from staging.published_delivery as p where p.load_id = l.load_id);
    -- Published deliveries ranking after this load's first day: only their rows can beat its
    -- rows or names. Days loaded in order leave none.
    v_out_of_order := exists (
        select from staging.published_delivery as p
        where p.load_id <> p_load_id
            and (p.delivery_date, case p.source when 'increment' then 2 else 1 end)
            > (v_load.delivery_days[1], v_rank)
    );

    -- Member names from the load's rows: a member with one name in the load takes it (one
    -- hashed pass); one with several takes its latest row's, as does every member that a later
    -- delivery names too (days loaded out of order).
    insert into publish_work.member_name (kind, id, name1, name2)
    with named as (  -- one pass, hashed three ways
        select
            case
                when grouping(s.customer_id) = 0 then 'customer'
                when grouping(s.item_id) = 0 then 'item'
                else 'city'
            end as kind,
            coalesce(s.customer_id, s.item_id, s.city_id) as id,
            coalesce(s.first_name, s.item_name, s.city_name) as name1,
            s.last_name as name2
        from staging.user_order_log as s
        where s.load_id = p_load_id
        group by grouping sets (
            (s.customer_id, s.first_name, s.last_name), (s.item_id, s.item_name),
            (s.city_id, s.city_name)
        )
    ),

    renamed as (
        select n.kind, n.id from named as n group by n.kind, n.id having count(*) > 1
    )

    select n.kind, n.id, n.name1, n.name2
    from named as n
    where not exists (select from renamed as r where r.kind = n.kind and r.id = n.id)
    union all
    select l.kind, l.id, l.name1, l.name2
    from (
        select distinct on (m.kind, m.id) m.kind, m.id, m.name1, m.name2
        from staging.user_order_log as s
        cross join lateral (
            values ('customer', s.customer_id, s.first_name, s.last_name),
                ('item', s.item_id, s.item_name, null),
                ('city', s.city_id, s.city_name, null)
        ) as m (kind, id, name1, name2)
        join renamed as r on r.kind = m.kind and r.id = m.id
        where s.load_id = p_load_id
            and exists (select from renamed)  -- read again only when a member has two names
        order by m.kind, m.id, s.delivery_date desc, s.source_rank desc, s.date_time desc,
            s.uniq_id desc
    ) as l;

    analyze publish_work.member_name;  -- a scratch table: its statistics are of the last publish
    if v_out_of_order then
        -- Names from the load's rows and the later deliveries' rows together, for the load's
        -- members: the latest row of each decides (a rare path: days loaded out of order).
        with candidate as (
            select m.kind, m.id, m.name1, m.name2, s.delivery_date, s.source_rank, s.date_time,
                s.uniq_id
            from staging.user_order_log as s
            cross join lateral (
                values ('customer', s.customer_id, s.first_name, s.last_name),
                    ('item', s.item_id, s.item_name, null),
                    ('city', s.city_id, s.city_name, null)
            ) as m (kind, id, name1, name2)
            -- by the load index: the load's rows and those of the later published deliveries
            where s.load_id = any(array(
                select p.load_id from staging.published_delivery as p
                where p.load_id <> p_load_id
                    and (p.delivery_date, case p.source when 'increment' then 2 else 1 end)
                    > (v_load.delivery_days[1], v_rank)
                union
                select p_load_id
            ))
                and (s.load_id = p_load_id or exists (
                    select from staging.published_delivery as p
                    where p.load_id = s.load_id and p.source = s.source
                        and p.delivery_date = s.delivery_date
                ))
                and (m.kind, m.id) in (select n.kind, n.id from publish_work.member_name as n)
        ),

        latest as (
            select distinct on (c.kind, c.id) c.kind, c.id, c.name1, c.name2
            from candidate as c
            order by c.kind, c.id, c.delivery_date desc, c.source_rank desc, c.date_time desc,
                c.uniq_id desc
        )

        update publish_work.member_name as n
        set name1 = l.name1, name2 = l.name2
        from latest as l
        where n.kind = l.kind and n.id = l.id
            and (n.name1, n.name2) is distinct from (l.name1, l.name2);
    end if;
    call mart.write_member_names();

    -- The load's rows set against the facts of their uniq_ids, in one pass: each is inserted,
    -- updated (it outranks the fact, or re-delivers the fact's day with other content), left as
    -- it is (the same row again) or lost (a later delivery holds the uniq_id); a uniq_id whose
    -- fact's day this load re-delivers while the load holds it only on an earlier day is
    -- contested (its winner is recomputed below). The same pass checks the rows against what
    -- the ingest journalled, and adds up what it wrote, for the reconciliation.
    with candidate as (
        select
            s.uniq_id, s.delivery_date, s.source, s.source_rank, s.date_time, s.customer_id,
            s.item_id, s.city_id, s.quantity, s.status, s.payment_amount as staged_amount,
            (extract(year from s.date_time) * 10000 + extract(month from s.date_time) * 100
                + extract(day from s.date_time))::integer as date_id,
            case s.status when 'refunded' then -s.payment_amount else s.payment_amount end
                as payment_amount,
            -- a full report may hold a uniq_id on two days: its latest day is the load's row
            v_load.source = 'increment' or not exists (
                select from staging.user_order_log as b
                where b.uniq_id = s.uniq_id and b.load_id = p_load_id
                    and b.delivery_date > s.delivery_date
            ) as latest_of_load,
            s.carried_from_load_id
        from staging.user_order_log as s
        where s.load_id = p_load_id
    ),

    judged as (
        select
            c.*,
            f.uniq_id is not null as has_fact,
            f.payment_amount as fact_amount,
            f.customer_id as fact_customer_id,
            f.item_id as fact_item_id,
            f.city_id as fact_city_id,
            f.date_id as fact_date_id,
            f.status as fact_status,
            case
                -- a row breaking a rule is written nowhere; the publish fails below, naming it
                when c.quantity < 1 or c.staged_amount < 0
                    or c.staged_amount <> round(c.staged_amount, 2)
                    or c.status not in ('shipped', 'refunded') then 'broken'
                when not c.latest_of_load then 'lost'
                when f.uniq_id is null then 'insert'
                -- the fact's day is one this load re-delivers
                when f.delivery_source = v_load.source
                    and f.delivery_date = any(v_load.delivery_days) then
                    case
                        when f.delivery_date <> c.delivery_date then 'contested'
                        when (f.date_id, f.date_time, f.customer_id, f.item_id, f.city_id,
                                f.quantity, f.payment_amount, f.status)
                            is distinct from
                            (c.date_id, c.date_time, c.customer_id, c.item_id, c.city_id,
                                c.quantity, c.payment_amount, c.status)
                            then 'update'
                        else 'same'
                    end
                when (c.delivery_date, c.source_rank)
                    > (f.delivery_date, case f.delivery_source when 'increment' then 2 else 1 end)
                    then 'update'
                else 'lost'
            end as action
        from candidate as c
        -- a primary-key probe per row (offset 0 keeps the planner from reading every fact):
        -- the cost follows the day, not the mart
        left join lateral (
            select f.* from mart.f_sales as f where f.uniq_id = c.uniq_id offset 0
        ) as f on true
    ),

    inserted as (
        insert into mart.f_sales (
            uniq_id, date_id, date_time, customer_id, item_id, city_id, quantity,
            payment_amount, status, delivery_date, delivery_source
        )
        select
            j.uniq_id, j.date_id, j.date_time, j.customer_id, j.item_id, j.city_id,
            j.quantity, j.payment_amount, j.status, j.delivery_date, j.source
        from judged as j
        where j.action = 'insert'
        returning uniq_id, customer_id, date_id, item_id, city_id, quantity, payment_amount,
            status
    ),

    updated as (
        update mart.f_sales as f
        set date_id = j.date_id,
            date_time = j.date_time,
            customer_id = j.customer_id,
            item_id = j.item_id,
            city_id = j.city_id,
            quantity = j.quantity,
            payment_amount = j.payment_amount,
            status = j.status,
            delivery_date = j.delivery_date,
            delivery_source = j.source
        from judged as j
        where j.action = 'update' and f.uniq_id = j.uniq_id
        returning f.uniq_id, f.customer_id, f.date_id, f.item_id, f.city_id, f.quantity,
            f.payment_amount, f.status, j.fact_customer_id, j.fact_date_id, j.fact_item_id,
            j.fact_city_id, j.fact_status, j.fact_amount
    ),

    contested as (
        insert into publish_work.contested (uniq_id)
        select j.uniq_id from judged as j where j.action = 'contested'
        returning uniq_id
    ),

    delta as (
        insert into publish_work.fact_delta (
            sign, customer_id, date_id, item_id, city_id, status, payment_amount
        )
        select 1, i.customer_id, i.date_id, i.item_id, i.city_id, i.status, i.payment_amount
        from inserted as i
        union all
        select 1, u.customer_id, u.date_id, u.item_id, u.city_id, u.status, u.payment_amount
        from updated as u
        union all
        select -1, u.fact_customer_id, u.fact_date_id, u.fact_item_id, u.fact_city_id,
            u.fact_status, u.fact_amount
        from updated as u
        returning 1
    ),

    -- Members of replaced fact versions, and of rows that lost (named above like every member
    -- of the load): deleted at the end when no fact uses them.
    old_member as (
        insert into publish_work.old_member (kind, id)
        select distinct m.kind, m.id
        from (
            select u.fact_customer_id as customer_id, u.fact_item_id as item_id,
                u.fact_city_id as city_id
            from updated as u
            union all
            select j.customer_id, j.item_id, j.city_id from judged as j where j.action = 'lost'
        ) as o
        cross join lateral (
            values ('customer', o.customer_id), ('item', o.item_id), ('city', o.city_id)
        ) as m (kind, id)
        returning 1
    ),

    -- what the pass wrote or kept, by the same measures as what it was asked to
    kept as (
        select i.uniq_id, i.customer_id, i.item_id, i.city_id, i.date_id, i.quantity,
            i.payment_amount
        from inserted as i
        union all
        select u.uniq_id, u.customer_id, u.item_id, u.city_id, u.date_id, u.quantity,
            u.payment_amount
        from updated as u
        union all
        select j.uniq_id, j.fact_customer_id, j.fact_item_id, j.fact_city_id, j.fact_date_id,
            j.quantity, j.fact_amount
        from judged as j
        where j.action = 'same'
    )

    select
        (select count(*) from judged as j where j.carried_from_load_id is null) as rows_seen,
        (select count(*) from judged as j where j.action = 'broken') as rows_broken,
        (select count(*) from (
            select distinct j.customer_id from judged as j where j.carried_from_load_id is null
        ) as c) as customers,
        (select count(*) from judged as j
         where j.carried_from_load_id is null and j.date_time::date <> j.delivery_date)
            as rows_off_day,
        (select count(*) from judged as j where j.action in ('insert', 'update', 'same'))
            as won_n,
        (select coalesce(sum(j.payment_amount), 0) from judged as j
         where j.action in ('insert', 'update', 'same')) as won_net,
        (select coalesce(sum(j.customer_id::bigint + 3 * j.item_id + 5 * j.city_id
            + 7 * j.date_id::bigint + 11 * j.quantity), 0)
         from judged as j where j.action in ('insert', 'update', 'same')) as won_sum,
        -- which row holds which amount (totals can agree while rows do not)
        (select coalesce(sum((hashtext(j.uniq_id) % 1000003) * j.payment_amount), 0)
         from judged as j where j.action in ('insert', 'update', 'same')) as won_pairs,
        (select coalesce(sum((hashtext(k.uniq_id) % 1000003) * k.payment_amount), 0)
         from kept as k) as kept_pairs,
        (select count(*) from kept) as kept_n,
        (select coalesce(sum(k.payment_amount), 0) from kept as k) as kept_net,
        (select coalesce(sum(k.customer_id::bigint + 3 * k.item_id + 5 * k.city_id
            + 7 * k.date_id::bigint + 11 * k.quantity), 0) from kept as k) as kept_sum,
        (select count(*) from delta) as delta_n,
        (select count(*) from contested) as contested_n,
        (select count(*) from old_member) as old_member_n
    into v_seen;

    -- The rows as read against what the ingest journalled (and the gates passed on).
    if v_seen.rows_seen <> v_load.rows_loaded then
        v_check := 'rows_reconcile';
        v_detail := 'read ' || v_load.rows_read || ' = loaded ' || v_load.rows_loaded
            || ' + duplicate ' || v_load.rows_duplicate || ' + conflicting '
            || v_load.rows_conflicting || ' + rejected ' || v_load.rows_rejected
            || '; staging holds ' || v_seen.rows_seen || ' rows of the load';
    elsif v_seen.rows_broken > 0 then
        v_check := 'staged_rows_valid';
        v_detail := 'rows breaking a rule: ' || v_seen.rows_broken || ' of ' || v_seen.rows_seen;
    elsif v_seen.customers <> v_load.customers then
        v_check := 'more_than_three_customers';
        v_detail := 'distinct customers: ' || v_seen.customers || ' in staging, '
            || v_load.customers || ' counted by the ingest';
    elsif v_load.source = 'increment' and v_seen.rows_off_day <> v_load.rows_off_day then
        v_check := 'rows_dated_on_delivery_day';
        v_detail := 'rows dated off the delivery day: ' || v_seen.rows_off_day
            || ' in staging, ' || v_load.rows_off_day || ' counted by the ingest';
    end if;
    if v_check is not null then
        raise exception 'data-quality check % failed for load %: %', v_check, p_load_id, v_detail
            using errcode = 'check_violation',
                  hint = 'The staged rows differ from what the ingest counted; nothing was '
                      || 'published. This is a bug, not bad data.';
    end if;

    -- The slow path: uniq_ids whose fact's day this load re-delivers without them (a line
    -- dropped from the day), and the contested ones: their winner over every eligible row.
    if v_replaced is not null then
        insert into publish_work.contested (uniq_id)
        select f.uniq_id
        from mart.f_sales as f
        where f.delivery_date = any(v_load.delivery_days) and f.delivery_source = v_load.source
            and not exists (
                select from staging.user_order_log as s
                where s.uniq_id = f.uniq_id and s.load_id = p_load_id
            )
        on conflict (uniq_id) do nothing;

        -- A re-delivered order whose line was rejected keeps its published row: the replaced
        -- delivery's row is carried into this load (docs/RELIABILITY.md).
        with carried as (
            insert into staging.user_order_log (
                source, delivery_date, uniq_id, load_id, line_no, date_time, city_id,
                city_name, customer_id, first_name, last_name, item_id, item_name, quantity,
                payment_amount, status, carried_from_load_id
            )
            select
                r.source, r.delivery_date, r.uniq_id, p_load_id, r.line_no, r.date_time,
                r.city_id, r.city_name, r.customer_id, r.first_name, r.last_name, r.item_id,
                r.item_name, r.quantity, r.payment_amount, r.status, r.load_id
            from publish_work.contested as c
            join staging.user_order_log as r on r.uniq_id = c.uniq_id
            where r.load_id = any(v_replaced) and r.source = v_load.source
                and r.delivery_date = any(v_load.delivery_days)
                and exists (
                    select from staging.user_order_log_rejects as j
                    where j.load_id = p_load_id and j.uniq_id = c.uniq_id
                )
                and not exists (
                    select from staging.user_order_log as s
                    where s.uniq_id = r.uniq_id and s.load_id = p_load_id
                )
            on conflict do nothing
            returning 1
        )

        update staging.load_log
        set rows_carried = (select count(*) from carried)
        where load_id = p_load_id;
    end if;

    select count(*) into v_contested from publish_work.contested;
    if v_contested > 0 then
        analyze publish_work.contested;
        call mart.settle_contested_facts();
    end if;

    -- Members whose facts went: named anew from every eligible row when the load does not
    -- name them (a re-delivery dropped them), deleted when no fact uses them any more.
    if exists (select from publish_work.old_member) then
        call mart.name_uncovered_members();
        call mart.write_member_names();
    end if;

    -- The reconciliation is an assertion: what the merge wrote or kept must be the load's
    -- winning rows, row for row by count, net revenue and column sums; a mismatch rolls the
    -- whole publish back, naming the rows that differ.
    if (v_seen.won_n, v_seen.won_net, v_seen.won_sum, v_seen.won_pairs)
        is distinct from (v_seen.kept_n, v_seen.kept_net, v_seen.kept_sum, v_seen.kept_pairs) then
        select r.detail into v_detail from mart.net_revenue_reconciles(p_load_id) as r;
        raise exception 'data-quality check net_revenue_reconciles failed for load %: %',
            p_load_id, coalesce(v_detail, '') || ' (the merge kept ' || v_seen.kept_n
            || ' rows, net ' || v_seen.kept_net || ', of ' || v_seen.won_n || ' winning rows, net '
            || v_seen.won_net || ')'
            using errcode = 'check_violation',
                  hint = 'The merge did not reproduce the load''s rows; nothing was published. '
                      || 'This is a bug, not bad data.';
    end if;

    call mart.apply_retention_delta();

    -- Rows of the replaced deliveries are no longer eligible: they go (their raw files stay).
    if v_replaced is not null then
        delete from staging.user_order_log as s
        where s.load_id = any(v_replaced) and s.source = v_load.source
            and s.delivery_date = any(v_load.delivery_days);
    end if;

    -- Members the facts no longer use (the retention state knows which are used).
    if exists (select from publish_work.old_member) then
        call mart.delete_unused_members();
    end if;

    update staging.load_log
    set status = 'merged', merged_at = clock_timestamp(), finished_at = clock_timestamp(),
        reconciliation = 'staging net revenue ' || v_seen.won_net || ' over ' || v_seen.won_n
            || ' winning rows; the merge wrote or kept ' || v_seen.kept_n || ', net '
            || v_seen.kept_net
    where load_id = p_load_id;
end
$$;

-- SPEC §4: publishes the day's latest ingested increment (gates, merge, refresh, in one
-- transaction); a day already published is left as it is.
create or replace procedure mart.merge_increment(
    p_date date, p_max_reject_share numeric default 0.01
)
language plpgsql
set search_path = pg_catalog, pg_temp
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
set search_path = pg_catalog, pg_temp
as $$
    call mart.publish_load(p_load_id, p_max_reject_share);
$$;
