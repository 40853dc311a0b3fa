-- migrate:up
-- What `sales-mart db upgrade` last applied of each db/views file, so an unchanged view is not
-- rebuilt (a rebuild drops the view and recomputes it).
create table public.sales_mart_view_version (
    view_file text primary key,
    sha256 text not null,
    applied_at timestamptz not null default clock_timestamp()
);

-- migrate:down
drop table public.sales_mart_view_version;
