-- `make lint`: plpgsql_check over every PL/pgSQL function and procedure of the warehouse, with
-- its extra and performance warnings; any finding fails. (SQL-language routines are checked by
-- PostgreSQL itself when `sales-mart db upgrade` creates them.) Run on a scratch database.
create extension if not exists plpgsql_check;

create temp table finding as
select
    p.oid::regprocedure::text as routine,
    c.lineno,
    c.level,
    c.message,
    c.hint
from pg_proc as p
join pg_namespace as n on p.pronamespace = n.oid
join pg_language as l on p.prolang = l.oid
cross join
    lateral plpgsql_check_function_tb(
        p.oid, extra_warnings => true, performance_warnings => true
    ) as c
where
    n.nspname in ('staging', 'mart') and l.lanname = 'plpgsql'
    and p.prorettype <> 'trigger'::regtype
-- Trigger functions, each with a table that fires it and that trigger's transition tables.
union all
select
    t.tgfoid::regprocedure::text,
    c.lineno,
    c.level,
    c.message,
    c.hint
from (
    select distinct on (tr.tgfoid)
        tr.tgfoid,
        tr.tgrelid,
        tr.tgoldtable,
        tr.tgnewtable
    from pg_trigger as tr
    join pg_proc as p on tr.tgfoid = p.oid
    join pg_namespace as n on p.pronamespace = n.oid
    where n.nspname in ('staging', 'mart') and not tr.tgisinternal
    order by tr.tgfoid, tr.tgnewtable is null, tr.tgoldtable is null
) as t
cross join
    lateral plpgsql_check_function_tb(
        t.tgfoid, t.tgrelid, extra_warnings => true, performance_warnings => true,
        oldtable => t.tgoldtable, newtable => t.tgnewtable
    ) as c;

do $$
declare
    v_report text;
    v_checked integer;
begin
    select count(*) into v_checked
    from pg_proc as p
    join pg_namespace as n on p.pronamespace = n.oid
    join pg_language as l on p.prolang = l.oid
    where n.nspname in ('staging', 'mart') and l.lanname = 'plpgsql';
    select string_agg(
        format('%s line %s: %s: %s%s', f.routine, f.lineno, f.level, f.message,
            coalesce(' (' || f.hint || ')', '')),
        e'\n' order by f.routine, f.lineno
    ) into v_report
    from finding as f;
    if v_report is not null then
        raise exception 'plpgsql_check found problems:%', e'\n' || v_report;
    end if;
    raise notice 'plpgsql_check: % PL/pgSQL routines, no findings', v_checked;
end
$$;
