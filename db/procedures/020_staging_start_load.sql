-- The columns a user_order_log file may carry, mapped by header name (SPEC §3).
create or replace function staging.order_file_columns(p_required boolean default null)
returns setof text
language sql
immutable
as $$
    select c.name
    from (values
        ('id', false), ('uniq_id', true), ('date_time', true), ('city_id', true),
        ('city_name', true), ('customer_id', true), ('first_name', true),
        ('last_name', true), ('item_id', true), ('item_name', true), ('quantity', true),
        ('payment_amount', true), ('status', false)
    ) as c (name, required)
    where p_required is null or c.required = p_required
$$;

-- What is wrong with a file's header, in words; NULL when it can be loaded.
create or replace function staging.header_problem(p_header text[])
returns text
language sql
immutable
as $$
    select nullif(concat_ws('; ',
        (select 'missing required column(s): ' || string_agg(r, ', ')
         from staging.order_file_columns(true) as r
         where r <> all (coalesce(p_header, '{}'))),
        (select 'unknown column(s): ' || string_agg(h, ', ')
         from unnest(p_header) as h
         where h not in (select staging.order_file_columns())),
        (select 'repeated column(s): ' || string_agg(r.h, ', ')
         from (
             select h from unnest(p_header) as h group by h having count(*) > 1
         ) as r)
    ), '')
$$;

-- What is wrong with a delivery date, in words; NULL when it can be loaded.
create or replace function staging.delivery_date_problem(p_delivery_date date)
returns text
language sql
stable
as $$
    select case
        when p_delivery_date is null then null
        when not exists (select from mart.d_calendar as c where c.date_actual = p_delivery_date)
            then 'delivery date ' || p_delivery_date || ' is outside the calendar '
                || (select min(c.date_actual) || '..' || max(c.date_actual) from mart.d_calendar as c)
        -- current_date: the one place the clock counts, to refuse deliveries from the future
        when p_delivery_date > current_date + 1
            then 'delivery date ' || p_delivery_date || ' is after tomorrow ('
                || (current_date + 1) || ')'
    end
$$;

-- Who holds a lock on a relation, for a message that names what a statement waited for.
create or replace function staging.lock_holders(p_relation regclass)
returns text
language sql
stable
set search_path = pg_catalog, pg_temp
as $$
    select coalesce(string_agg(distinct 'pid ' || l.pid || ' (' || coalesce(a.usename::text, '?')
        || coalesce(', ' || nullif(a.application_name, ''), '') || ', ' || l.mode || ')', '; '),
        'no session now')
    from pg_catalog.pg_locks as l
    left join pg_catalog.pg_stat_activity as a on a.pid = l.pid
    where l.locktype = 'relation' and l.relation = p_relation and l.granted
        and l.pid <> pg_catalog.pg_backend_pid()
$$;

-- Takes a table lock the pipeline serializes on; after lock_timeout, an error that names the
-- table, what the lock is for and who holds it. Only roles that may write the table can take
-- a lock that conflicts (LOCK TABLE beyond ACCESS SHARE needs UPDATE, DELETE or TRUNCATE).
create or replace procedure staging.take_pipeline_lock(
    p_relation regclass, p_mode text, p_purpose text
)
language plpgsql
set search_path = pg_catalog, pg_temp
as $$
begin
    if p_mode = 'share row exclusive' then
        execute format('lock table %s in share row exclusive mode', p_relation);
    else
        execute format('lock table %s in share mode', p_relation);
    end if;
exception
    when lock_not_available then
        raise exception 'waited % (lock_timeout) for the % lock on %: held by %',
            current_setting('lock_timeout'), p_purpose, p_relation,
            staging.lock_holders(p_relation)
            using errcode = 'lock_not_available',
                  hint = 'Another load holds it (try again when it is done), or a session that '
                      || 'should not: end it (pg_terminate_backend).';
end
$$;

-- Opens a load: checks the header, journals the file, and makes the landing table's load_id
-- default point at it for the COPY that follows in the same transaction. Loads are serialized
-- on the landing table (the copy lock, held to the end of the COPY's transaction) so a COPY's
-- line sequence is contiguous. Runs as the tables' owner: the loader writes no journal row.
create or replace function staging.start_load(
    p_source text,
    p_delivery_date date,
    p_file_name text,
    p_header text[],
    p_file_sha256 text default null,
    p_file_bytes bigint default null
)
returns bigint
language plpgsql
security definer
set search_path = pg_catalog, pg_temp
as $$
declare
    v_problem text := staging.header_problem(p_header);
    v_load_id bigint;
begin
    if v_problem is not null then
        raise exception 'file % refused: %', p_file_name, v_problem
            using errcode = 'invalid_text_representation',
                  detail = 'header: ' || array_to_string(p_header, ','),
                  hint = 'A user_order_log file needs the columns '
                      || (select string_agg(c, ',') from staging.order_file_columns(true) as c)
                      || ' (id and status optional); fix the header and load it again.';
    end if;
    if p_source is distinct from 'increment' and p_source is distinct from 'history' then
        raise exception 'a load is an increment or history, not %', p_source
            using errcode = 'invalid_parameter_value';
    end if;
    if p_source = 'increment' and p_delivery_date is null then
        raise exception 'an increment needs its delivery date' using errcode = 'null_value_not_allowed';
    end if;
    -- A delivery date outside the calendar, or after tomorrow, would outrank every real
    -- delivery for good (the latest-dated delivery wins).
    v_problem := staging.delivery_date_problem(p_delivery_date);
    if v_problem is not null then
        raise exception 'file % refused: %', p_file_name, v_problem
            using errcode = 'invalid_datetime_format',
                  hint = 'Give the day the increment was delivered for (YYYY-MM-DD).';
    end if;
    call staging.take_pipeline_lock('staging.user_order_inc', 'share row exclusive', 'copy');
    insert into staging.load_log (source, delivery_date, file_name, header, file_sha256, file_bytes)
    values (p_source, p_delivery_date, p_file_name, p_header, p_file_sha256, p_file_bytes)
    returning load_id into v_load_id;
    perform pg_catalog.set_config('sales_mart.load_id', v_load_id::text, true);
    return v_load_id;
end
$$;

-- Journals a file refused before any row was read (bad header, unreadable CSV).
create or replace function staging.refuse_file(
    p_source text,
    p_delivery_date date,
    p_file_name text,
    p_header text[],
    p_error text,
    p_file_sha256 text default null,
    p_file_bytes bigint default null
)
returns bigint
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    insert into staging.load_log (
        source, delivery_date, file_name, header, file_sha256, file_bytes,
        status, error, finished_at
    )
    values (
        p_source, p_delivery_date, p_file_name, coalesce(p_header, '{}'), p_file_sha256,
        p_file_bytes, 'failed', p_error, clock_timestamp()
    )
    returning load_id
$$;

-- Marks a load failed (a gate or a later step stopped it) and frees its landing and staged
-- rows: a failed load changes nothing but the journal and its rejects. A published load stays
-- published (the mart holds it); the error is only noted.
create or replace procedure staging.fail_load(p_load_id bigint, p_error text)
language sql
security definer
set search_path = pg_catalog, pg_temp
as $$
    update staging.load_log
    set status = case when status = 'merged' then status else 'failed' end,
        error = case when status = 'merged' then concat_ws('; ', error, p_error) else p_error end,
        finished_at = clock_timestamp()
    where load_id = p_load_id;
    delete from staging.user_order_inc where load_id = p_load_id;
    delete from staging.user_order_log as s
    where s.load_id = p_load_id
        and not exists (select from staging.published_delivery as p where p.load_id = p_load_id);
$$;
