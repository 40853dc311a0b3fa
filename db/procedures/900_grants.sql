-- Who may run what, applied after every routine of db/procedures (re-applied on each upgrade).
-- PUBLIC runs nothing of ours. The routines that write run as the mart's owner (SECURITY
-- DEFINER, owned by sales_mart_owner); the loader may call the pipeline's entry points and read
-- the journal and the checks, nothing else; sales_bi runs none (it reads the two retention
-- tables only).
-- The database: the loader and BI connect; nobody else does, and nobody makes temp objects
-- (no routine of the pipeline needs them).
-- Database privileges are not copied with the database (CREATE DATABASE ... TEMPLATE, pg_dump
-- without --create), hence here and not in a migration.
do $$
begin
    execute format('revoke all on database %I from public', current_database());
    execute format('revoke temporary on database %I from sales_loader', current_database());
    execute format('grant connect on database %I to sales_loader', current_database());
    execute format('grant connect on database %I to sales_bi', current_database());
    -- the retention tables' owner until issue 16 (role left for other databases)
    if exists (select from pg_roles where rolname = 'sales_view_owner') then
        execute format('revoke all on database %I from sales_view_owner', current_database());
    end if;
end
$$;

-- The routines that write, owned by the mart's owner.
alter function staging.start_load(text, date, text, text[], text, bigint)
owner to sales_mart_owner;
alter function staging.refuse_file(text, date, text, text[], text, text, bigint)
owner to sales_mart_owner;
alter procedure staging.fail_load(bigint, text) owner to sales_mart_owner;
alter procedure staging.ingest_load(bigint) owner to sales_mart_owner;
alter procedure mart.publish_load(bigint, numeric) owner to sales_mart_owner;
alter procedure mart.refresh_retention() owner to sales_mart_owner;

revoke all on all routines in schema staging, mart from public;
revoke all on all routines in schema staging, mart from sales_bi;
revoke all on all routines in schema staging, mart from sales_loader;
-- The owner runs what its routines call.
grant execute on all routines in schema staging, mart to sales_mart_owner;
-- The loader: start, copy, ingest, fail, publish, refresh, and the checks of db/checks.
grant execute on function staging.start_load(text, date, text, text[], text, bigint),
staging.refuse_file(text, date, text, text[], text, text, bigint),
staging.gate_results(bigint, numeric),
staging.staging_has_rows(bigint),
staging.more_than_three_customers(bigint),
staging.rows_dated_on_delivery_day(bigint),
staging.rows_reconcile(bigint),
staging.staged_rows_valid(bigint),
staging.reject_share_within_threshold(bigint, numeric),
mart.net_revenue_reconciles(bigint)
to sales_loader;
grant execute on procedure staging.fail_load(bigint, text),
staging.ingest_load(bigint),
mart.publish_load(bigint, numeric),
mart.merge_increment(date, numeric),
mart.merge_load(bigint, numeric),
mart.refresh_retention()
to sales_loader;

-- Large objects live outside every table and quota: any login could fill the disk with them
-- (issue 16). No one here needs them. Only a superuser may change pg_catalog's routines; an
-- owner that is not one is told to ask for it.
do $$
begin
    revoke execute on function pg_catalog.lo_from_bytea(oid, bytea), pg_catalog.lo_create(oid),
    pg_catalog.lo_creat(integer), pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid),
    pg_catalog.lo_put(oid, bigint, bytea), pg_catalog.lowrite(integer, bytea)
    from public;
exception
    when insufficient_privilege then
        raise notice 'large objects stay open to every login: a superuser should run '
            'db/procedures/900_grants.sql once (it revokes lo_create and the like from PUBLIC)';
end
$$;
