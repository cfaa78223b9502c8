-- A tenant can be suspended (its keys are refused, it cannot make keys), and can have a cap of
-- active keys of its own (NULL: the deployment's).
ALTER TABLE tenants ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0 CHECK (suspended IN (0, 1));
ALTER TABLE tenants ADD COLUMN key_cap INTEGER CHECK (key_cap IS NULL OR key_cap >= 0);
