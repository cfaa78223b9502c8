-- Tiers, rolling, usage and denials.

-- The tenant's tier, naming a daily cap in the deployment's configuration; NULL is the
-- deployment's default tier. (tenants.daily_cap from 0001 is no longer read.)
ALTER TABLE tenants ADD COLUMN tier TEXT;

-- Set when the key was rolled: the id of the key that replaced it.
ALTER TABLE api_keys ADD COLUMN replaced_by TEXT;

-- Calls per key per hour and outcome, flushed from memory about once a second.
CREATE TABLE usage_hourly (
    tenant_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    hour      INTEGER NOT NULL,   -- start of the hour, seconds since the epoch
    outcome   TEXT NOT NULL,      -- 'allowed' or the denial's code
    count     INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (key_id, hour, outcome)
) WITHOUT ROWID;

CREATE INDEX usage_by_tenant ON usage_hourly (tenant_id, hour);

-- Recent denials of identified keys, with where they came from.
CREATE TABLE denials (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    at        INTEGER NOT NULL,
    code      TEXT NOT NULL,
    ip        TEXT,
    origin    TEXT
);

CREATE INDEX denials_by_key ON denials (key_id, id);
CREATE INDEX denials_by_tenant ON denials (tenant_id, id);
CREATE INDEX denials_by_time ON denials (at);
