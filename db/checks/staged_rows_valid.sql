-- The load's staged rows obey the mart's rules: keys present, quantity >= 1, amount >= 0,
-- a known status.
select
    count(*) filter (
        where s.uniq_id = '' or s.customer_id is null or s.item_id is null or s.city_id is null
        or s.quantity < 1 or s.payment_amount < 0 or s.status not in ('shipped', 'refunded')
    ) = 0 as passed,
    'rows breaking a rule: ' || count(*) filter (
        where s.uniq_id = '' or s.customer_id is null or s.item_id is null or s.city_id is null
        or s.quantity < 1 or s.payment_amount < 0 or s.status not in ('shipped', 'refunded')
    ) || ' of ' || count(*) as detail
from staging.user_order_log as s
where s.load_id = %(load_id)s
