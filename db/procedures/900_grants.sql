-- Who may run what, applied after every routine of db/procedures (re-applied on each upgrade).
-- PUBLIC runs nothing of ours; the loader runs the pipeline's routines (each runs with the
-- loader's own rights, except mart.refresh_retention, which refreshes as the views' owner);
-- sales_bi runs none (it reads the two retention views only).
-- The database: the loader connects and makes temp tables (ingest and publish use them); BI
-- connects; nobody else does (the views' owner makes temp tables but cannot log in).
-- Database privileges are not copied with the database (CREATE DATABASE ... TEMPLATE, pg_dump
-- without --create), hence here and not in a migration.
do $$
begin
    execute format('revoke all on database %I from public', current_database());
    execute format('grant connect, temporary on database %I to sales_loader', current_database());
    execute format('grant connect on database %I to sales_bi', current_database());
    -- REFRESH ... CONCURRENTLY diffs through a temp table, made as the views' owner.
    execute format('grant temporary on database %I to sales_view_owner', current_database());
end
$$;

revoke all on all routines in schema staging, mart from public;
revoke all on all routines in schema staging, mart from sales_bi;
grant execute on all routines in schema staging, mart to sales_loader;
