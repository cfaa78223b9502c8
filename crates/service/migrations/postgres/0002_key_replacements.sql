-- A key's meta names the key it replaced (`replaces`), found through `replaced_by`.
CREATE INDEX api_keys_replaced_by ON api_keys (replaced_by) WHERE replaced_by IS NOT NULL;
