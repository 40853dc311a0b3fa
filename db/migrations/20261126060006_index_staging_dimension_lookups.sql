-- migrate:up
-- The merge names an item or city after its latest delivered row: one index descent each.
create index user_order_log_item_latest_idx on staging.user_order_log (
    item_id, delivery_date, source_rank, date_time, uniq_id
);
create index user_order_log_city_latest_idx on staging.user_order_log (
    city_id, delivery_date, source_rank, date_time, uniq_id
);
-- Orphan checks and FK checks on dimension deletes look facts up by customer.
create index f_sales_customer_idx on mart.f_sales (customer_id);

-- migrate:down
drop index mart.f_sales_customer_idx;
drop index staging.user_order_log_city_latest_idx;
drop index staging.user_order_log_item_latest_idx;
