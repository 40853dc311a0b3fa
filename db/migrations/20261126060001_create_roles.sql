-- migrate:up
-- Group roles are cluster-wide, so they are created only when missing (many databases,
-- e.g. one per test, share them). Logins are granted membership by the operator.
do $$
begin
    if not exists (select from pg_roles where rolname = 'sales_loader') then
        create role sales_loader nologin;
    end if;
    if not exists (select from pg_roles where rolname = 'sales_bi') then
        create role sales_bi nologin;
    end if;
    -- Owns the materialized views, so that the loader can refresh them through a
    -- SECURITY DEFINER procedure without being able to drop or alter them.
    if not exists (select from pg_roles where rolname = 'sales_view_owner') then
        create role sales_view_owner nologin;
    end if;
end
$$;

-- migrate:down
-- Roles are shared by every database of the cluster: they are left in place.
select 1;
