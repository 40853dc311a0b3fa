-- migrate:up
-- PUBLIC gets nothing: no connecting, no temp objects, no routine. Each role gets exactly what
-- it needs: the loader connects, makes temp tables (ingest and merge use them) and runs the
-- pipeline's routines (db/procedures/900_grants.sql); BI connects and reads the two views.
do $$
begin
    execute format('revoke all on database %I from public', current_database());
    execute format('grant connect, temporary on database %I to sales_loader', current_database());
    execute format('grant connect on database %I to sales_bi', current_database());
end
$$;
revoke all on schema public from public;
revoke all on schema staging, mart from public;
revoke all on all routines in schema staging, mart from public;
-- Routines made later by the role that runs migrations and upgrades start closed too.
alter default privileges revoke execute on routines from public;

-- migrate:down
alter default privileges grant execute on routines to public;
grant usage on schema public to public;
do $$
begin
    execute format('grant connect, temporary on database %I to public', current_database());
end
$$;
