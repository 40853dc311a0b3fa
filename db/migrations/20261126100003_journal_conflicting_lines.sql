-- migrate:up
-- Lines that share a uniq_id (on one delivery day) with different content are conflicts, not
-- plain duplicates: counted apart in the journal and listed with their lines.
alter table staging.load_log add column rows_conflicting bigint;
comment on column staging.load_log.rows_conflicting is
'Lines dropped because another line of the same uniq_id and day, with other content, won.';

-- A published load whose every day a later load re-delivered.
alter table staging.load_log drop constraint load_log_status_check;
alter table staging.load_log add constraint load_log_status_check
check (status in ('copying', 'ingested', 'merged', 'failed', 'superseded'));

create table staging.user_order_log_conflicts (
    conflict_id bigint generated always as identity primary key,
    load_id bigint not null references staging.load_log (load_id),
    file_name text not null,
    line_no bigint not null,
    uniq_id text collate "C" not null,
    delivery_date date not null,
    -- The line whose content was kept (the latest order time, then the last line).
    winning_line_no bigint not null,
    raw_row jsonb not null
);
create index user_order_log_conflicts_load_idx on staging.user_order_log_conflicts (load_id);
comment on table staging.user_order_log_conflicts is
'Lines dropped because another line with the same uniq_id and day but other content won.';
grant select, insert, update, delete on staging.user_order_log_conflicts to sales_loader;

-- migrate:down
drop table staging.user_order_log_conflicts;
alter table staging.load_log drop constraint load_log_status_check;
alter table staging.load_log add constraint load_log_status_check
check (status in ('copying', 'ingested', 'merged', 'failed'));
alter table staging.load_log drop column rows_conflicting;
