-- The data-quality checks of a load, one function each: a row (passed, detail), detail never
-- empty. The check files of db/checks (what the DAG's SQLCheckOperator tasks and the command
-- line run, one by one, for a readable failure) select from these, and mart.publish_load
-- asserts them again inside the publishing transaction: one definition of every rule.

-- Gate 1, "the file was generated": the load put rows into staging.
create or replace function staging.staging_has_rows(p_load_id bigint)
returns table (passed boolean, detail text)
language sql
stable
as $$
    select
        coalesce(l.rows_loaded, 0) > 0,
        'rows loaded into staging: ' || coalesce(l.rows_loaded, 0)
        || ' (read ' || coalesce(l.rows_read, 0) || ', rejected ' || coalesce(l.rows_rejected, 0)
        || ') for ' || l.source || ' ' || coalesce(l.delivery_date::text, '?')
    from staging.load_log as l
    where l.load_id = p_load_id
$$;

-- Gate 2: the delivery has more than three customers (counted by the ingest).
create or replace function staging.more_than_three_customers(p_load_id bigint)
returns table (passed boolean, detail text)
language sql
stable
as $$
    select
        coalesce(l.customers, 0) > 3,
        'distinct customers: ' || coalesce(l.customers, 0) || ' (need more than 3)'
    from staging.load_log as l
    where l.load_id = p_load_id
$$;

-- An increment holds the orders of its own day (true of every real file): a file whose rows
-- carry another day (or a full report given an increment's date) is refused, naming both.
create or replace function staging.rows_dated_on_delivery_day(p_load_id bigint)
returns table (passed boolean, detail text)
language sql
stable
as $$
    select
        l.source = 'history' or coalesce(l.rows_off_day, 0) = 0,
        case
            when l.source = 'history'
                then 'a full report: every row is delivered on its own order day'
            when coalesce(l.rows_off_day, 0) = 0
                then 'every row is dated on the delivery day ' || l.delivery_date
            else l.rows_off_day || ' of ' || l.rows_loaded || ' rows are dated '
                || l.first_off_day
                || coalesce('..' || nullif(l.last_off_day, l.first_off_day)::text, '')
                || ', not the delivery day ' || l.delivery_date
                || '; load an increment with the day it was delivered for,'
                || ' or a full report with --history'
        end
    from staging.load_log as l
    where l.load_id = p_load_id
$$;

-- Every line read is accounted for: read = loaded + duplicate + conflicting + rejected, and
-- the conflicts and rejects tables hold exactly those lines. (That staging holds the loaded
-- rows, the publish asserts as it reads them.)
create or replace function staging.rows_reconcile(p_load_id bigint)
returns table (passed boolean, detail text)
language sql
stable
as $$
    select
        coalesce(
            l.rows_read
            = l.rows_loaded + l.rows_duplicate + l.rows_conflicting + l.rows_rejected
            and l.rows_conflicting = (
                select count(*) from staging.user_order_log_conflicts as c
                where c.load_id = l.load_id
            )
            and l.rows_rejected = (
                select count(*) from staging.user_order_log_rejects as r
                where r.load_id = l.load_id
            ),
            false
        ),
        'read ' || coalesce(l.rows_read::text, '?') || ' = loaded '
        || coalesce(l.rows_loaded::text, '?') || ' + duplicate '
        || coalesce(l.rows_duplicate::text, '?') || ' + conflicting '
        || coalesce(l.rows_conflicting::text, '?') || ' + rejected '
        || coalesce(l.rows_rejected::text, '?')
    from staging.load_log as l
    where l.load_id = p_load_id
$$;

-- The load's rows obey the mart's rules: the ingest validated every line (and the publish
-- re-asserts the rules on the rows it reads); here, from the journal, that the rows' order
-- days lie in the calendar.
create or replace function staging.staged_rows_valid(p_load_id bigint)
returns table (passed boolean, detail text)
language sql
stable
as $$
    select
        coalesce(l.rows_loaded, 0) = 0
        or (l.first_order_day >= c.first_day and l.last_order_day <= c.last_day),
        'rows loaded: ' || coalesce(l.rows_loaded, 0) || ', order days '
        || coalesce(l.first_order_day || '..' || l.last_order_day, 'none')
        || ' (calendar ' || c.first_day || '..' || c.last_day || ')'
    from staging.load_log as l
    cross join (
        select min(d.date_actual) as first_day, max(d.date_actual) as last_day
        from mart.d_calendar as d
    ) as c
    where l.load_id = p_load_id
$$;

-- The share of rejected lines stays within a threshold (0..1; default 1 per cent).
create or replace function staging.reject_share_within_threshold(
    p_load_id bigint, p_max_reject_share numeric
)
returns table (passed boolean, detail text)
language sql
stable
as $$
    select
        coalesce(l.rows_rejected, 0) <= p_max_reject_share * greatest(coalesce(l.rows_read, 0), 1),
        'rejected rows: ' || coalesce(l.rows_rejected, 0) || ' of ' || coalesce(l.rows_read, 0)
        || ' (limit ' || round(100 * p_max_reject_share, 2) || ' per cent);'
        || ' see staging.user_order_log_rejects where load_id = ' || l.load_id
    from staging.load_log as l
    where l.load_id = p_load_id
$$;

-- The gates before a publish, in the order they run; a load passes only when every row passes.
create or replace function staging.gate_results(p_load_id bigint, p_max_reject_share numeric)
returns table (check_name text, passed boolean, detail text)
language sql
stable
as $$
    select 'staging_has_rows', g.passed, g.detail from staging.staging_has_rows(p_load_id) as g
    union all
    select 'more_than_three_customers', g.passed, g.detail
    from staging.more_than_three_customers(p_load_id) as g
    union all
    select 'rows_dated_on_delivery_day', g.passed, g.detail
    from staging.rows_dated_on_delivery_day(p_load_id) as g
    union all
    select 'rows_reconcile', g.passed, g.detail from staging.rows_reconcile(p_load_id) as g
    union all
    select 'staged_rows_valid', g.passed, g.detail from staging.staged_rows_valid(p_load_id) as g
    union all
    select 'reject_share_within_threshold', g.passed, g.detail
    from staging.reject_share_within_threshold(p_load_id, p_max_reject_share) as g
$$;

-- After a publish: the mart holds exactly the load's winning rows (those no later-dated
-- published delivery overrides), row for row, and the same net revenue (refunds negative).
create or replace function mart.net_revenue_reconciles(p_load_id bigint)
returns table (passed boolean, detail text)
language sql
stable
-- Hash joins only: right after a big load staging's statistics are of earlier loads, and a
-- nested loop planned on them went quadratic (58 s for 21k rows).
set enable_nestloop = off
set jit = off  -- with nested loops off every plan passes the JIT thresholds; compiling costs more
as $$
    with load_row as (
        select s.* from staging.user_order_log as s where s.load_id = p_load_id
    ),

    -- Other published deliveries that rank after the load's first (source, day), and their
    -- rows: the only ones that can override a row of the load. Days loaded in order leave none.
    later_delivery as (
        select p.source, p.delivery_date, p.load_id
        from staging.published_delivery as p
        where p.load_id <> p_load_id
            and (p.delivery_date, case p.source when 'increment' then 2 else 1 end) > (
                select f.delivery_date, case f.source when 'increment' then 2 else 1 end
                from staging.published_delivery as f
                where f.load_id = p_load_id
                order by 1, 2
                limit 1
            )
    ),

    later_row as (
        select o.uniq_id, o.delivery_date, o.source_rank
        from staging.user_order_log as o
        join later_delivery as p
            on o.load_id = p.load_id and o.source = p.source and o.delivery_date = p.delivery_date
        -- through the load index, not a scan of every staged row
        where o.load_id = any(array(select d.load_id from later_delivery as d))
    ),

    winning as (
        select
            r.uniq_id,
            case r.status when 'refunded' then -r.payment_amount else r.payment_amount end
                as amount,
            r.delivery_date,
            r.source
        from load_row as r
        where not exists (
            select from later_row as o
            where o.uniq_id = r.uniq_id
                and (o.delivery_date, o.source_rank) > (r.delivery_date, r.source_rank)
        )
        -- a full report may hold a uniq_id on two days: its latest day is the load's row
        and not exists (
            select from load_row as b
            where b.uniq_id = r.uniq_id and b.delivery_date > r.delivery_date
        )
    ),

    marted as (
        select f.uniq_id, f.payment_amount as amount, f.delivery_date, f.delivery_source as source
        from mart.f_sales as f
        -- through the delivery index, not a scan of every fact
        where f.delivery_date = any(array(select distinct lr.delivery_date from load_row as lr))
            and (f.delivery_date, f.delivery_source) in (
                select distinct lr.delivery_date, lr.source from load_row as lr
            )
    ),

    -- Counts, net revenue and a checksum of the uniq_ids first (two passes, no join); only when
    -- they differ, the row-by-row comparison that counts the rows that differ.
    staged_sum as (
        select count(*) as n, coalesce(sum(w.amount), 0) as net,
            coalesce(sum(hashtext(w.uniq_id)::bigint), 0) as ids,
            -- which row holds which amount
            coalesce(sum((hashtext(w.uniq_id) % 1000003) * w.amount), 0) as pairs
        from winning as w
    ),

    mart_sum as (
        select count(*) as n, coalesce(sum(m.amount), 0) as net,
            coalesce(sum(hashtext(m.uniq_id)::bigint), 0) as ids,
            -- which row holds which amount
            coalesce(sum((hashtext(m.uniq_id) % 1000003) * m.amount), 0) as pairs
        from marted as m
    ),

    compared as (
        select
            count(*) filter (
                where w.uniq_id is null or m.uniq_id is null
                or (w.amount, w.delivery_date, w.source)
                is distinct from (m.amount, m.delivery_date, m.source)
            ) as mismatched
        from winning as w
        full join marted as m on m.uniq_id = w.uniq_id
    )

    select
        (s.n, s.net, s.ids, s.pairs) = (m.n, m.net, m.ids, m.pairs),
        'staging net revenue ' || s.net || ' over ' || s.n || ' rows; mart '
        || m.net || ' over ' || m.n || ' rows; rows that differ: '
        || case when (s.n, s.net, s.ids, s.pairs) = (m.n, m.net, m.ids, m.pairs) then 0
            else (select c.mismatched from compared as c) end
    from staged_sum as s
    cross join mart_sum as m
$$;
