-- A tenant's usage report reads every row of a span by (tenant, hour): with the key, outcome and
-- count in the index, an index-only scan answers it without visiting the table (as on SQLite).
DROP INDEX usage_by_tenant;
CREATE INDEX usage_by_tenant ON usage_hourly (tenant_id, hour) INCLUDE (key_id, outcome, count);
