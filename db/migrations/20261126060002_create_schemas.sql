-- migrate:up
create schema staging;
comment on schema staging is
'Delivered order files: landing table, deduplicated rows, rejects and the load journal.';
create schema mart;
comment on schema mart is 'Normalized sales mart and the weekly customer-retention views.';

-- migrate:down
drop schema mart cascade;
drop schema staging cascade;
