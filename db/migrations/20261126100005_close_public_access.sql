-- migrate:up
-- PUBLIC gets nothing: no schema, no routine (and, in db/procedures/900_grants.sql, re-applied
-- on every upgrade because a copy of a database does not keep them: no connecting, no temp
-- objects). Each role gets exactly what it needs, there and in db/views.
revoke all on schema public from public;
revoke all on schema staging, mart from public;
revoke all on all routines in schema staging, mart from public;
-- Routines made later by the role that runs migrations and upgrades start closed too.
alter default privileges revoke execute on routines from public;

-- migrate:down
alter default privileges grant execute on routines to public;
grant usage on schema public to public;
