-- Per-value validation for ingest. Each returns NULL when the value is fine, else the problem
-- in words; a blank value is reported by blank_problem, which the others start from. Plain SQL
-- expressions (nothing but immutable calls) so the planner inlines them into the set-based ingest.

create or replace function staging.blank_problem(p_column text, p_value text)
returns text
language sql
immutable
parallel safe
as $$
    select case when p_value is null or btrim(p_value) = '' then p_column || ' is blank' end
$$;

-- A uniq_id is 32 hexadecimal characters (SPEC §3), in either case: staging and the mart
-- keep it in lower case (staging.normal_uniq_id), so one order in two cases is one order.
create or replace function staging.uniq_id_problem(p_value text)
returns text
language sql
immutable
parallel safe
as $$
    select case
        when length(p_value) = 32 and translate(p_value, '0123456789abcdef', '') = '' then null
        else coalesce(staging.blank_problem('uniq_id', p_value), case
            when btrim(p_value) !~ '^[0-9A-Fa-f]{32}$'
                then 'uniq_id is not 32 hexadecimal characters (it has '
                    || length(btrim(p_value))::text || ')'
        end)
    end
$$;

create or replace function staging.normal_uniq_id(p_value text)
returns text
language sql
immutable
parallel safe
as $$
    select case
        when length(p_value) = 32 and translate(p_value, '0123456789abcdef', '') = '' then p_value
        else lower(btrim(p_value))
    end
$$;

-- Whether the digits of a signed whole number (leading zeros aside) make more than p_limit, a
-- string of digits: compared as strings, so a value of any length works.
create or replace function staging.digits_above(p_value text, p_limit text)
returns boolean
language sql
immutable
parallel safe
as $$
    select length(ltrim(ltrim(p_value, '+-'), '0')) > length(p_limit)
        or (length(ltrim(ltrim(p_value, '+-'), '0')) = length(p_limit)
            and ltrim(ltrim(p_value, '+-'), '0') collate "C" > p_limit collate "C")
$$;

-- Whole numbers fit an integer column: -2147483648..2147483647 (and at least p_min).
create or replace function staging.whole_number_problem(
    p_column text, p_value text, p_min integer default null
)
returns text
language sql
immutable
parallel safe
as $$
    select case
        -- The common case first, without a regular expression (0.9 us less per value): 1-9
        -- plain digits, at least p_min. Anything else gets the full rule below.
        when length(p_value) between 1 and 9 and translate(p_value, '0123456789', '') = ''
            and (p_min is null or p_value::integer >= p_min) then null
        else coalesce(staging.blank_problem(p_column, p_value), case
            when btrim(p_value) !~ '^[+-]?[0-9]+$' then p_column || ' is not a whole number'
            -- by its digits, not a cast: a value of any length gets its reason
            when btrim(p_value) !~ '^-' and staging.digits_above(btrim(p_value), '2147483647')
                then p_column || ' is too large, at most 2147483647'
            when btrim(p_value) ~ '^-' and staging.digits_above(btrim(p_value), '2147483648')
                then p_column || case when p_min is null then ' is too small, at least '
                    else ' must be at least ' end || coalesce(p_min, -2147483648)::text
            when p_min is not null and btrim(p_value)::integer < p_min
                then p_column || ' must be at least ' || p_min::text
        end)
    end
$$;

-- An amount: a plain decimal number (no exponent, no NaN or Infinity), not negative, at most
-- two decimals and at most 999999999999.99, what numeric(14,2) holds in staging and the facts
-- (every sum of the retention tables holds 10^10 such lines, numeric(24,2)).
create or replace function staging.amount_problem(p_column text, p_value text)
returns text
language sql
immutable
parallel safe
as $$
    select case
        -- The common case first, without a regular expression: 1-12 plain digits, optionally
        -- a point and one or two digits. Anything else gets the full rule below.
        when length(p_value) between 1 and 12 and translate(p_value, '0123456789', '') = ''
            then null
        when translate(p_value, '0123456789', '') = '.' and strpos(p_value, '.') between 2 and 13
            and length(p_value) - strpos(p_value, '.') between 1 and 2 then null
        else coalesce(staging.blank_problem(p_column, p_value), case
            when btrim(p_value) !~ '^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$'
                then p_column || ' is not a number'
            -- by its digits, not a cast: a value of any length gets its reason
            when btrim(p_value) ~ '^-' and btrim(p_value) !~ '^-0*([.]0*)?$'
                then p_column || ' is negative'
            when length(rtrim(split_part(btrim(p_value), '.', 2), '0')) > 2
                then p_column || ' has more than 2 decimal places'
            when staging.digits_above(split_part(btrim(p_value), '.', 1), '999999999999')
                then p_column || ' is too large, at most 999999999999.99'
        end)
    end
$$;

create or replace function staging.status_problem(p_value text)
returns text
language sql
immutable
parallel safe
as $$
    select case
        when p_value = 'shipped' or p_value = 'refunded' then null  -- the common case, quickly
        else coalesce(staging.blank_problem('status', p_value), case
            when lower(btrim(p_value)) not in ('shipped', 'refunded')
                then 'status is not shipped or refunded'
        end)
    end
$$;

-- A strict timestamp parser: ISO date with an optional time, nothing PostgreSQL would also
-- accept ('now', 'epoch', 'infinity'). NULL when unparsable. Called once per distinct value,
-- so the exception block (a subtransaction) costs nothing at volume. Parallel unsafe: a
-- subtransaction cannot start during a parallel operation (seen on a 1M-row ingest).
create or replace function staging.parse_order_time(p_value text)
returns timestamp
language plpgsql
immutable
parallel unsafe
as $$
begin
    if btrim(p_value) !~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]{1,6})?)?)?$' then
        return null;
    end if;
    return btrim(p_value)::timestamp;
exception
    when datetime_field_overflow or invalid_datetime_format then
        return null;
end
$$;

-- A line as delivered (every value as text), for the rejects and conflicts lists.
create or replace function staging.raw_row(
    p_uniq_id text, p_date_time text, p_city_id text, p_city_name text, p_customer_id text,
    p_first_name text, p_last_name text, p_item_id text, p_item_name text, p_quantity text,
    p_payment_amount text, p_status text
)
returns jsonb
language sql
immutable
parallel safe
as $$
    select jsonb_build_object(
        'uniq_id', p_uniq_id, 'date_time', p_date_time, 'city_id', p_city_id,
        'city_name', p_city_name, 'customer_id', p_customer_id, 'first_name', p_first_name,
        'last_name', p_last_name, 'item_id', p_item_id, 'item_name', p_item_name,
        'quantity', p_quantity, 'payment_amount', p_payment_amount, 'status', p_status
    )
$$;

-- What is wrong with a line's date_time ('' never; NULL when fine), given its parse (ts). An
-- increment's rows carry its day: a row of any other day refuses the whole file (gate
-- rows_dated_on_delivery_day, naming both days), it is no problem of the line; a full report's
-- rows are each delivered on their own day, which must be in the calendar and not after
-- tomorrow.
create or replace function staging.order_time_problem(
    p_value text, p_ts timestamp, p_source text, p_calendar daterange, p_latest date
)
returns text
language sql
stable  -- dates as text follow DateStyle
parallel safe
as $$
    select case
        when p_ts is not null and p_source = 'increment' then null
        when p_value is null or btrim(p_value) = '' then 'date_time is blank'
        when p_ts is null then 'date_time is not a date like 2024-02-25T00:00:00'
        when p_source = 'increment' then null
        when not p_calendar @> p_ts::date then 'date_time is outside the calendar '
            || lower(p_calendar)::text || '..' || (upper(p_calendar) - 1)::text
        when p_ts::date > p_latest then 'date_time is after tomorrow (' || p_latest::text || ')'
    end
$$;
