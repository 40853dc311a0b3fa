-- Ingests one COPYed file from the landing table into staging.user_order_log in one statement,
-- one read of the file (issue 15): identical lines are grouped first (about three in four repeat
-- an earlier one; each group keeps its line numbers), every group is validated (bad lines go to
-- the rejects table with line, column, value and reason), status defaults to 'shipped' for
-- old-format files, one row per uniq_id and delivery day is kept (the latest order time, then
-- the last line), lines that lose to a line of the same uniq_id with other content are listed
-- as conflicts, and what the gates need (distinct customers, rows dated off the delivery day,
-- order days, net revenue) is counted on the way and journalled: no gate re-reads the load.
-- Earlier deliveries of the same days stay untouched: the load replaces them only when it is
-- published (mart.publish_load). Runs as the tables' owner: the loader writes no staged row.
create or replace procedure staging.ingest_load(p_load_id bigint)
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
set work_mem = '256MB'  -- grouping a million-row file stays in memory
-- Compiling the expressions of a million-row statement costs more than it saves.
set jit = off
as $$
declare
    v_load staging.load_log;
    v_has_status boolean;
    v_calendar daterange;
    v_latest date := current_date + 1;  -- a full report's rows dated after tomorrow are refused
    v_counts record;
begin
    select * into v_load from staging.load_log as l where l.load_id = p_load_id for update;
    if not found then
        raise exception 'load % does not exist', p_load_id
            using hint = 'Start a load with staging.start_load and COPY the file first.';
    end if;
    if v_load.status <> 'copying' then
        raise exception 'load % is already %', p_load_id, v_load.status
            using hint = 'Each load is ingested once; COPY the file again to start a new load.';
    end if;
    v_has_status := 'status' = any(v_load.header);
    select daterange(min(c.date_actual), max(c.date_actual), '[]') into v_calendar
    from mart.d_calendar as c;

    -- No COPY lands while this runs (so the landing table can be emptied at the end), and the
    -- planner knows the file's size (the table held another file when it was last analyzed).
    call staging.take_pipeline_lock('staging.user_order_inc', 'share row exclusive', 'copy');
    analyze staging.user_order_inc;

    with grouped as (
        select
            l.uniq_id, l.date_time, l.city_id, l.city_name, l.customer_id, l.first_name,
            l.last_name, l.item_id, l.item_name, l.quantity, l.payment_amount, l.status,
            array_agg(l.line_seq) as line_seqs,  -- unordered: lets it hash
            max(l.line_seq) as last_seq,
            min(l.line_seq) as first_seq
        from staging.user_order_inc as l
        where l.load_id = p_load_id
        group by l.uniq_id, l.date_time, l.city_id, l.city_name, l.customer_id, l.first_name,
            l.last_name, l.item_id, l.item_name, l.quantity, l.payment_amount, l.status
    ),

    -- Line numbers count from the header, line 1: the COPY's first line is line 2.
    first_line as (
        select min(g.first_seq) as seq from grouped as g
    ),

    order_time as (  -- parse each distinct date_time once (a file holds a handful)
        select d.date_time, staging.parse_order_time(d.date_time) as ts
        from (select distinct g.date_time from grouped as g where g.date_time is not null) as d
    ),

    -- Each line group with what is wrong with it ('' when nothing); every rule is evaluated
    -- once here (the rejects name the first offending column again, for their few lines).
    judged as (
        select
            g.*,
            t.ts,
            concat_ws('; ',
                staging.uniq_id_problem(g.uniq_id),
                staging.order_time_problem(g.date_time, t.ts, v_load.source, v_calendar,
                    v_latest),
                staging.whole_number_problem('city_id', g.city_id),
                staging.whole_number_problem('customer_id', g.customer_id),
                staging.whole_number_problem('item_id', g.item_id),
                staging.whole_number_problem('quantity', g.quantity, 1),
                staging.amount_problem('payment_amount', g.payment_amount),
                case when v_has_status then staging.status_problem(g.status) end
            ) as problems
        from grouped as g
        left join order_time as t on t.date_time = g.date_time
    ),

    -- Valid line groups, typed and normalized: a view over judged, not a copy (each use reads
    -- only the columns it needs).
    valid as not materialized (
        select
            case v_load.source when 'increment' then v_load.delivery_date else j.ts::date end
                as delivery_date,
            staging.normal_uniq_id(j.uniq_id) as uniq_id,
            j.ts as date_time,
            -- integer and numeric input skip surrounding blanks themselves
            j.city_id::integer as city_id,
            btrim(j.city_name) as city_name,
            j.customer_id::integer as customer_id,
            btrim(j.first_name) as first_name,
            btrim(j.last_name) as last_name,
            j.item_id::integer as item_id,
            btrim(j.item_name) as item_name,
            j.quantity::integer as quantity,
            j.payment_amount::numeric(14, 2) as payment_amount,
            case
                when not v_has_status then 'shipped'
                when j.status = 'shipped' or j.status = 'refunded' then j.status
                else lower(btrim(j.status))
            end as status,
            j.last_seq
        from judged as j
        where j.problems = ''
    ),

    -- uniq_ids (per delivery day) with more than one line group: lines with other content
    -- (conflicts), or the same order written in another case or spacing (duplicates). Rare.
    repeated as (
        select v.delivery_date, v.uniq_id
        from valid as v
        group by v.delivery_date, v.uniq_id
        having count(*) > 1
    ),

    contested as (
        select
            v.*,
            row_number() over by_uniq as pick,
            first_value(v.last_seq) over by_uniq as winning_seq,
            -- other content than the winner's: a conflict, not a plain duplicate
            (v.date_time, v.city_id, v.city_name, v.customer_id, v.first_name, v.last_name,
                v.item_id, v.item_name, v.quantity, v.payment_amount, v.status)
            is distinct from first_value(
                (v.date_time, v.city_id, v.city_name, v.customer_id, v.first_name, v.last_name,
                    v.item_id, v.item_name, v.quantity, v.payment_amount, v.status)
            ) over by_uniq as conflicting
        from valid as v
        join repeated as r on r.delivery_date = v.delivery_date and r.uniq_id = v.uniq_id
        window by_uniq as (
            partition by v.delivery_date, v.uniq_id order by v.date_time desc, v.last_seq desc
        )
    ),

    winner as (
        select
            v.delivery_date, v.uniq_id, v.date_time, v.city_id, v.city_name, v.customer_id,
            v.first_name, v.last_name, v.item_id, v.item_name, v.quantity, v.payment_amount,
            v.status, v.last_seq
        from valid as v
        where not exists (
            select from repeated as r
            where r.delivery_date = v.delivery_date and r.uniq_id = v.uniq_id
        )
        union all
        select
            c.delivery_date, c.uniq_id, c.date_time, c.city_id, c.city_name, c.customer_id,
            c.first_name, c.last_name, c.item_id, c.item_name, c.quantity, c.payment_amount,
            c.status, c.last_seq
        from contested as c
        where c.pick = 1
    ),

    staged as (
        insert into staging.user_order_log (
            source, delivery_date, uniq_id, load_id, line_no, date_time, city_id, city_name,
            customer_id, first_name, last_name, item_id, item_name, quantity, payment_amount,
            status
        )
        select
            v_load.source, w.delivery_date, w.uniq_id, p_load_id, w.last_seq - f.seq + 2,
            w.date_time, w.city_id, w.city_name, w.customer_id, w.first_name, w.last_name,
            w.item_id, w.item_name, w.quantity, w.payment_amount, w.status
        from winner as w
        cross join first_line as f
        returning delivery_date, customer_id, date_time, payment_amount, status
    ),

    rejected as (
        insert into staging.user_order_log_rejects (
            load_id, file_name, line_no, column_name, bad_value, reason, raw_row, uniq_id
        )
        select
            p_load_id,
            v_load.file_name,
            line.seq - f.seq + 2,
            bad.column_name,
            -- a value of any length is kept whole in raw_row; this column names it
            case when length(bad.bad_value) > 200
                then left(bad.bad_value, 200) || '… (' || length(bad.bad_value) || ' characters)'
                else bad.bad_value end,
            j.problems,
            staging.raw_row(j.uniq_id, j.date_time, j.city_id, j.city_name, j.customer_id,
                j.first_name, j.last_name, j.item_id, j.item_name, j.quantity,
                j.payment_amount, j.status),
            -- the order the line was for, when its uniq_id is readable
            case when staging.uniq_id_problem(j.uniq_id) is null
                then staging.normal_uniq_id(j.uniq_id) end
        from judged as j
        cross join first_line as f
        cross join lateral unnest(j.line_seqs) as line (seq)
        cross join lateral (  -- the first offending column, in file-column order
            select v.column_name, v.bad_value
            from (values
                (1, 'uniq_id', j.uniq_id, staging.uniq_id_problem(j.uniq_id)),
                (2, 'date_time', j.date_time, staging.order_time_problem(j.date_time, j.ts,
                    v_load.source, v_calendar, v_latest)),
                (3, 'city_id', j.city_id, staging.whole_number_problem('city_id', j.city_id)),
                (4, 'customer_id', j.customer_id,
                    staging.whole_number_problem('customer_id', j.customer_id)),
                (5, 'item_id', j.item_id, staging.whole_number_problem('item_id', j.item_id)),
                (6, 'quantity', j.quantity, staging.whole_number_problem('quantity', j.quantity, 1)),
                (7, 'payment_amount', j.payment_amount,
                    staging.amount_problem('payment_amount', j.payment_amount)),
                (8, 'status', j.status,
                    case when v_has_status then staging.status_problem(j.status) end)
            ) as v (ord, column_name, bad_value, problem)
            where v.problem is not null
            order by v.ord
            limit 1
        ) as bad
        where j.problems <> ''
        returning 1
    ),

    -- Lines of the same uniq_id and day whose content differs from the winner's are conflicts,
    -- listed with their raw row; the rest are plain duplicates.
    conflicted as (
        insert into staging.user_order_log_conflicts (
            load_id, file_name, line_no, uniq_id, delivery_date, winning_line_no, raw_row
        )
        select
            p_load_id, v_load.file_name, line.seq - f.seq + 2, c.uniq_id, c.delivery_date,
            c.winning_seq - f.seq + 2,
            staging.raw_row(j.uniq_id, j.date_time, j.city_id, j.city_name, j.customer_id,
                j.first_name, j.last_name, j.item_id, j.item_name, j.quantity,
                j.payment_amount, j.status)
        from contested as c
        join judged as j on j.last_seq = c.last_seq
        cross join first_line as f
        cross join lateral unnest(j.line_seqs) as line (seq)
        where c.conflicting
        returning 1
    )

    -- What the journal and the gates need, counted here: read, loaded, rejected, conflicting;
    -- distinct customers (gate 2); rows dated off an increment's day; order and delivery days;
    -- net revenue (refunds negative).
    select
        (select coalesce(sum(cardinality(g.line_seqs)), 0) from grouped as g) as rows_read,
        (select count(*) from rejected) as rows_rejected,
        (select count(*) from conflicted) as rows_conflicting,
        t.rows_loaded, t.rows_off, t.first_off_day, t.last_off_day, t.first_order_day,
        t.last_order_day, t.net_revenue,
        (select count(*) from (select distinct s.customer_id from staged as s) as c) as customers,
        array(select distinct s.delivery_date from staged as s order by 1) as delivery_days
    from (
        select
            count(*) as rows_loaded,
            count(*) filter (where s.date_time::date <> s.delivery_date) as rows_off,
            min(s.date_time::date) filter (where s.date_time::date <> s.delivery_date)
                as first_off_day,
            max(s.date_time::date) filter (where s.date_time::date <> s.delivery_date)
                as last_off_day,
            min(s.date_time::date) as first_order_day,
            max(s.date_time::date) as last_order_day,
            coalesce(sum(case s.status when 'refunded' then -s.payment_amount
                else s.payment_amount end), 0) as net_revenue
        from staged as s
    ) as t
    into v_counts;

    update staging.load_log as l
    set rows_read = v_counts.rows_read,
        rows_loaded = v_counts.rows_loaded,
        rows_rejected = v_counts.rows_rejected,
        rows_conflicting = v_counts.rows_conflicting,
        rows_duplicate = v_counts.rows_read - v_counts.rows_rejected - v_counts.rows_conflicting
            - v_counts.rows_loaded,
        customers = v_counts.customers,
        rows_off_day = case l.source when 'increment' then v_counts.rows_off else 0 end,
        first_off_day = case l.source when 'increment' then v_counts.first_off_day end,
        last_off_day = case l.source when 'increment' then v_counts.last_off_day end,
        first_order_day = v_counts.first_order_day,
        last_order_day = v_counts.last_order_day,
        delivery_days = v_counts.delivery_days,
        net_revenue = v_counts.net_revenue,
        -- a full report is journalled under the last day it holds
        delivery_date = coalesce(l.delivery_date, v_counts.delivery_days[
            cardinality(v_counts.delivery_days)]),
        status = 'ingested',
        ingested_at = clock_timestamp()
    where l.load_id = p_load_id;

    -- The landing table is scratch space: emptied whole when it holds only this file.
    if exists (select from staging.user_order_inc as l where l.load_id <> p_load_id) then
        delete from staging.user_order_inc as l where l.load_id = p_load_id;
    else
        truncate staging.user_order_inc;
    end if;
end
$$;
