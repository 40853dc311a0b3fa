-- Who may run what, applied after every routine of db/procedures (re-applied on each upgrade).
-- PUBLIC runs nothing of ours; the loader runs the pipeline's routines (each runs with the
-- loader's own rights, except mart.refresh_retention, which refreshes as the views' owner);
-- sales_bi runs none (it reads the two retention views only).
revoke all on all routines in schema staging, mart from public;
revoke all on all routines in schema staging, mart from sales_bi;
grant execute on all routines in schema staging, mart to sales_loader;
