-- Gate 2: the day has more than three customers.
select
    count(distinct s.customer_id) > 3 as passed,
    'distinct customers: ' || count(distinct s.customer_id) || ' (need more than 3)' as detail
from staging.user_order_log as s
where s.load_id = %(load_id)s
