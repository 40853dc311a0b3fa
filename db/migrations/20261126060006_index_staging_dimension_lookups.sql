-- migrate:up
-- The merge names a customer, item or city after its latest delivered row: an index descent
-- to its latest delivery day, then a sort of that day's few rows. Narrow keys keep a
-- million-row insert cheap.
create index user_order_log_customer_latest_idx on staging.user_order_log (customer_id, delivery_date);
create index user_order_log_item_latest_idx on staging.user_order_log (item_id, delivery_date);
create index user_order_log_city_latest_idx on staging.user_order_log (city_id, delivery_date);
-- Orphan checks and FK checks on dimension deletes look facts up by customer.
create index f_sales_customer_idx on mart.f_sales (customer_id);

-- migrate:down
drop index mart.f_sales_customer_idx;
drop index staging.user_order_log_city_latest_idx;
drop index staging.user_order_log_item_latest_idx;
drop index staging.user_order_log_customer_latest_idx;
