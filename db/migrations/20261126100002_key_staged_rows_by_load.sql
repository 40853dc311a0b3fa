-- migrate:up
-- Every load keeps its own rows until it is published or fails: a re-delivery no longer
-- deletes the day's published rows at ingest, so a failed re-delivery loses nothing.
-- Rows of loads that failed are not eligible and are dropped.
delete from staging.user_order_log as s
using staging.load_log as l
where l.load_id = s.load_id and l.status = 'failed';

alter table staging.user_order_log drop constraint user_order_log_pkey;
-- uniq_id first: the merge looks up every delivered row of a uniq_id through this key.
alter table staging.user_order_log add primary key (uniq_id, load_id, delivery_date);

-- migrate:down
alter table staging.user_order_log drop constraint user_order_log_pkey;
alter table staging.user_order_log add primary key (uniq_id, delivery_date, source);
