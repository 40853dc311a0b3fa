-- Ingests one COPYed file from the landing table into staging.user_order_log, set-based:
-- validates every row (bad ones go to the rejects table with line, column, value and reason),
-- defaults status to 'shipped' for old-format files, keeps one row per uniq_id and delivery day
-- (the latest order time, then the last line), lists lines that lose to a line of the same
-- uniq_id with other content as conflicts, journals counts. Earlier deliveries of the same days
-- stay untouched: the load replaces them only when it is published (mart.publish_load).
create or replace procedure staging.ingest_load(p_load_id bigint)
language plpgsql
set work_mem = '256MB'  -- grouping a million-row file stays in memory
-- Every statement here works on a whole file. The landing table's statistics are usually of an
-- earlier load (the loader may not ANALYZE it), so a fresh load looks like one row and invites
-- nested loops that go quadratic at a million rows (seen: a 1M-row re-run stuck for minutes).
set enable_nestloop = off
-- With nested loops off every plan costs more than the JIT thresholds; compiling the
-- expressions of each statement then costs more than it saves.
set jit = off
as $$
declare
    v_load staging.load_log;
    v_has_status boolean;
    v_read bigint;
    v_rejected bigint;
    v_loaded bigint;
    v_conflicting bigint;
    v_calendar daterange;
    v_latest date := current_date + 1;  -- rows dated after tomorrow are refused
begin
    select * into v_load from staging.load_log where load_id = p_load_id for update;
    if not found then
        raise exception 'load % does not exist', p_load_id
            using hint = 'Start a load with staging.start_load and COPY the file first.';
    end if;
    if v_load.status <> 'copying' then
        raise exception 'load % is already %', p_load_id, v_load.status
            using hint = 'Each load is ingested once; COPY the file again to start a new load.';
    end if;
    -- The shapes of this procedure's temp tables, for plpgsql_check (`make lint`); no-ops here.
    perform 'PRAGMA:TABLE: ingest_landed (uniq_id text, date_time text, city_id text, '
        'city_name text, customer_id text, first_name text, last_name text, item_id text, '
        'item_name text, quantity text, payment_amount text, status text, line_no bigint)';
    perform 'PRAGMA:TABLE: ingest_row (uniq_id text, date_time text, city_id text, '
        'city_name text, customer_id text, first_name text, last_name text, item_id text, '
        'item_name text, quantity text, payment_amount text, status text, line_nos bigint[], '
        'line_no bigint, ts timestamp, p_uniq_id text, p_date_time text, p_city_id text, '
        'p_customer_id text, p_item_id text, p_quantity text, p_payment_amount text, '
        'p_status text, problems text)';
    perform 'PRAGMA:TABLE: ingest_valid (delivery_date date, uniq_id text, line_no bigint, '
        'line_nos bigint[], date_time timestamp, city_id integer, city_name text, '
        'customer_id integer, first_name text, last_name text, item_id integer, '
        'item_name text, quantity integer, payment_amount numeric(14, 2), status text, '
        'pick bigint, winning_line_no bigint, conflicting boolean)';
    v_has_status := 'status' = any(v_load.header);
    select daterange(min(date_actual), max(date_actual), '[]') into v_calendar from mart.d_calendar;

    drop table if exists pg_temp.ingest_landed, pg_temp.ingest_row;
    -- The file's rows in a temp table the loader may ANALYZE: the landing table's statistics
    -- are of an earlier load, so grouping a million rows was planned for two thousand (a sort
    -- that spilled to disk). Line numbers count from the header, line 1.
    create temp table ingest_landed on commit drop as
    select
        l.uniq_id, l.date_time, l.city_id, l.city_name, l.customer_id, l.first_name,
        l.last_name, l.item_id, l.item_name, l.quantity, l.payment_amount, l.status,
        l.line_seq - f.first_seq + 2 as line_no
    from staging.user_order_inc as l
    cross join (
        select min(i.line_seq) as first_seq from staging.user_order_inc as i
        where i.load_id = p_load_id
    ) as f
    where l.load_id = p_load_id;
    analyze ingest_landed;

    -- About three rows in four repeat an earlier one: identical rows are grouped first (with
    -- their line numbers), so every later step works on distinct rows only.
    create temp table ingest_row on commit drop as
    with landed as (
        select
            l.uniq_id, l.date_time, l.city_id, l.city_name, l.customer_id, l.first_name,
            l.last_name, l.item_id, l.item_name, l.quantity, l.payment_amount, l.status,
            array_agg(l.line_no) as line_nos,  -- unordered: lets it hash
            max(l.line_no) as line_no
        from ingest_landed as l
        group by l.uniq_id, l.date_time, l.city_id, l.city_name, l.customer_id, l.first_name,
            l.last_name, l.item_id, l.item_name, l.quantity, l.payment_amount, l.status
    ),
    order_time as (  -- parse each distinct date_time once (a file holds a handful)
        select d.date_time, staging.parse_order_time(d.date_time) as ts
        from (select distinct date_time from landed where date_time is not null) as d
    ),
    checked as (
        select
            l.*,
            t.ts,
            staging.blank_problem('uniq_id', l.uniq_id) as p_uniq_id,
            case
                when btrim(l.date_time) = '' or l.date_time is null then 'date_time is blank'
                when t.ts is null then 'date_time is not a date like 2024-02-25T00:00:00'
                when not v_calendar @> t.ts::date then 'date_time is outside the calendar '
                    || lower(v_calendar) || '..' || (upper(v_calendar) - 1)
                when t.ts::date > v_latest then 'date_time is after tomorrow (' || v_latest || ')'
            end as p_date_time,
            staging.whole_number_problem('city_id', l.city_id) as p_city_id,
            staging.whole_number_problem('customer_id', l.customer_id) as p_customer_id,
            staging.whole_number_problem('item_id', l.item_id) as p_item_id,
            staging.whole_number_problem('quantity', l.quantity, 1) as p_quantity,
            staging.amount_problem('payment_amount', l.payment_amount) as p_payment_amount,
            case when v_has_status then staging.status_problem(l.status) end as p_status
        from landed as l
        left join order_time as t on t.date_time = l.date_time
    )
    select
        c.*,
        concat_ws('; ', p_uniq_id, p_date_time, p_city_id, p_customer_id, p_item_id,
            p_quantity, p_payment_amount, p_status) as problems
    from checked as c;
    analyze ingest_row;  -- temp tables have no statistics until analyzed

    insert into staging.user_order_log_rejects (
        load_id, file_name, line_no, column_name, bad_value, reason, raw_row
    )
    select
        p_load_id,
        v_load.file_name,
        line.line_no,
        bad.column_name,
        bad.bad_value,
        r.problems,
        to_jsonb(r) - 'line_nos' - 'line_no' - 'ts' - 'problems'
        - 'p_uniq_id' - 'p_date_time' - 'p_city_id' - 'p_customer_id' - 'p_item_id'
        - 'p_quantity' - 'p_payment_amount' - 'p_status'
    from ingest_row as r
    cross join lateral unnest(r.line_nos) as line (line_no)
    cross join lateral (  -- the first offending column, in file-column order
        select v.column_name, v.bad_value
        from (values
            (1, 'uniq_id', r.uniq_id, r.p_uniq_id),
            (2, 'date_time', r.date_time, r.p_date_time),
            (3, 'city_id', r.city_id, r.p_city_id),
            (4, 'customer_id', r.customer_id, r.p_customer_id),
            (5, 'item_id', r.item_id, r.p_item_id),
            (6, 'quantity', r.quantity, r.p_quantity),
            (7, 'payment_amount', r.payment_amount, r.p_payment_amount),
            (8, 'status', r.status, r.p_status)
        ) as v (ord, column_name, bad_value, problem)
        where v.problem is not null
        order by v.ord
        limit 1
    ) as bad
    where r.problems <> '';
    get diagnostics v_rejected = row_count;

    -- Valid rows, normalized; per uniq_id and delivery day the latest order time, then the
    -- last line, wins (pick = 1).
    drop table if exists pg_temp.ingest_valid;
    create temp table ingest_valid on commit drop as
    select
        v.*,
        row_number() over by_uniq as pick,
        first_value(v.line_no) over by_uniq as winning_line_no,
        -- other content than the winner's: a conflict, not a plain duplicate
        (v.date_time, v.city_id, v.city_name, v.customer_id, v.first_name, v.last_name,
            v.item_id, v.item_name, v.quantity, v.payment_amount, v.status)
        is distinct from first_value(
            (v.date_time, v.city_id, v.city_name, v.customer_id, v.first_name, v.last_name,
                v.item_id, v.item_name, v.quantity, v.payment_amount, v.status)
        ) over by_uniq as conflicting
    from (
        select
            case v_load.source when 'increment' then v_load.delivery_date else r.ts::date end
                as delivery_date,
            btrim(r.uniq_id) as uniq_id,
            r.line_no,
            r.line_nos,
            r.ts as date_time,
            btrim(r.city_id)::integer as city_id,
            btrim(r.city_name) as city_name,
            btrim(r.customer_id)::integer as customer_id,
            btrim(r.first_name) as first_name,
            btrim(r.last_name) as last_name,
            btrim(r.item_id)::integer as item_id,
            btrim(r.item_name) as item_name,
            btrim(r.quantity)::integer as quantity,
            btrim(r.payment_amount)::numeric(14, 2) as payment_amount,
            case when v_has_status then lower(btrim(r.status)) else 'shipped' end as status
        from ingest_row as r
        where r.problems = ''
    ) as v
    window by_uniq as (
        partition by v.delivery_date, v.uniq_id order by v.date_time desc, v.line_no desc
    );
    analyze ingest_valid;

    insert into staging.user_order_log (
        source, delivery_date, uniq_id, load_id, line_no, date_time, city_id, city_name,
        customer_id, first_name, last_name, item_id, item_name, quantity, payment_amount, status
    )
    select
        v_load.source, v.delivery_date, v.uniq_id, p_load_id, v.line_no, v.date_time, v.city_id,
        v.city_name, v.customer_id, v.first_name, v.last_name, v.item_id, v.item_name,
        v.quantity, v.payment_amount, v.status
    from ingest_valid as v
    where v.pick = 1;
    get diagnostics v_loaded = row_count;

    -- Lines of the same uniq_id and day whose content differs from the winner's are
    -- conflicts, listed with their raw row; the rest are plain duplicates.
    insert into staging.user_order_log_conflicts (
        load_id, file_name, line_no, uniq_id, delivery_date, winning_line_no, raw_row
    )
    select p_load_id, v_load.file_name, line.line_no, v.uniq_id, v.delivery_date,
        v.winning_line_no,
        to_jsonb(r) - 'line_nos' - 'line_no' - 'ts' - 'problems'
        - 'p_uniq_id' - 'p_date_time' - 'p_city_id' - 'p_customer_id' - 'p_item_id'
        - 'p_quantity' - 'p_payment_amount' - 'p_status'
    from ingest_valid as v
    join ingest_row as r on r.line_no = v.line_no  -- a group's last line names it
    cross join lateral unnest(v.line_nos) as line (line_no)
    where v.conflicting;
    get diagnostics v_conflicting = row_count;

    select coalesce(sum(cardinality(line_nos)), 0) into v_read from ingest_row;

    update staging.load_log
    set rows_read = v_read,
        rows_loaded = v_loaded,
        rows_rejected = v_rejected,
        rows_conflicting = v_conflicting,
        rows_duplicate = v_read - v_rejected - v_conflicting - v_loaded,
        delivery_date = coalesce(
            delivery_date,
            (select max(delivery_date) from staging.user_order_log where load_id = p_load_id)
        ),
        status = 'ingested',
        ingested_at = clock_timestamp()
    where load_id = p_load_id;

    delete from staging.user_order_inc where load_id = p_load_id;
    drop table ingest_landed, ingest_row, ingest_valid;
end
$$;
