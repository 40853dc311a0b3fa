-- migrate:up
-- One lean pass of ingest (issue 15): what the gates need is counted while the file is read
-- and journalled with the load, so no gate re-reads the load's rows; the landing table and
-- staged rows lose the indexes only the old multi-pass ingest read.
alter table staging.load_log
add column first_line_seq bigint,
add column customers bigint,
add column rows_off_day bigint,
add column first_off_day date,
add column last_off_day date,
add column first_order_day date,
add column last_order_day date,
add column delivery_days date[],
add column net_revenue numeric(24, 2),
add column rows_carried bigint,
add column reconciliation text;
comment on column staging.load_log.first_line_seq is
'The landing sequence value of the file''s first data line (line 2): line_no = line_seq - first_line_seq + 2.';
comment on column staging.load_log.customers is 'Distinct customer_id among the loaded rows (gate 2).';
comment on column staging.load_log.rows_off_day is
'Loaded rows of an increment whose order day is not its delivery day (the file is refused when > 0).';
comment on column staging.load_log.delivery_days is
'The delivery days the load''s rows count for: an increment''s day, a full report''s order days.';
comment on column staging.load_log.net_revenue is 'Net revenue of the loaded rows (refunds negative).';
comment on column staging.load_log.rows_carried is
'Published rows of the replaced delivery kept because this load''s line for them was rejected.';
comment on column staging.load_log.reconciliation is
'The publish''s reconciliation of the mart against the load (staging vs mart rows and net revenue).';

-- A rejected line's uniq_id, normalized, when it is a readable one: a re-delivery whose line for
-- a published order is rejected keeps that order as published (docs/RELIABILITY.md).
alter table staging.user_order_log_rejects add column uniq_id text collate "C";

-- A published row carried into a re-delivery that rejected its line: the load it came from.
alter table staging.user_order_log add column carried_from_load_id bigint;

-- The ingest reads a load's landed rows in one scan (the table holds one file at a time), and
-- staged rows by load or by uniq_id (the primary key), never by day.
drop index staging.user_order_inc_load_idx;
drop index staging.user_order_log_delivery_idx;

-- migrate:down
create index user_order_log_delivery_idx on staging.user_order_log (delivery_date);
create index user_order_inc_load_idx on staging.user_order_inc (load_id, line_seq);
alter table staging.user_order_log drop column carried_from_load_id;
alter table staging.user_order_log_rejects drop column uniq_id;
alter table staging.load_log
drop column first_line_seq,
drop column customers,
drop column rows_off_day,
drop column first_off_day,
drop column last_off_day,
drop column first_order_day,
drop column last_order_day,
drop column delivery_days,
drop column net_revenue,
drop column rows_carried,
drop column reconciliation;
