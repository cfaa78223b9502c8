-- Keyhaven service schema for PostgreSQL: the same tables as the SQLite schema (migrations/*.sql)
-- plus the shared rate windows that let several service instances enforce one limit.
-- Times are integer seconds since the Unix epoch (UTC). Secrets are never stored: API keys and
-- session tokens as SHA-256, passwords as Argon2id PHC strings.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    daily_cap  BIGINT NOT NULL CHECK (daily_cap >= 0),
    created_at BIGINT NOT NULL,
    -- The tenant's tier, naming a daily cap in the deployment's configuration; NULL is the
    -- deployment's default tier. (daily_cap is kept for parity with SQLite and not read.)
    tier       TEXT
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'member', 'support', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);

-- Emails are unique without regard to case, as SQLite's COLLATE NOCASE makes them.
CREATE UNIQUE INDEX users_by_email ON users (lower(email));

CREATE TABLE sessions (
    token_hash BYTEA PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_keys (
    -- Insertion order, for listing keys created in the same second in the order they were made.
    seq                 BIGINT GENERATED ALWAYS AS IDENTITY,
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    name                TEXT NOT NULL,
    prefix              TEXT NOT NULL,
    secret_hash         BYTEA NOT NULL,
    scopes              TEXT[] NOT NULL,
    created_at          BIGINT NOT NULL,
    last_used_at        BIGINT,
    expires_at          BIGINT,
    revoked_at          BIGINT,
    allowed_origins     TEXT[] NOT NULL,
    allowed_ips         TEXT[] NOT NULL,
    rate_limit_per_hour BIGINT CHECK (rate_limit_per_hour IS NULL OR rate_limit_per_hour >= 1),
    created_by          TEXT NOT NULL REFERENCES users (id),
    -- Set when the key was rolled: the id of the key that replaced it.
    replaced_by         TEXT
);

-- The hot path: a presented key is found by its hash through this index.
CREATE UNIQUE INDEX api_keys_by_hash ON api_keys (secret_hash);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at, seq);
-- text_pattern_ops: "starts with" range scans whatever the database's collation.
CREATE INDEX api_keys_by_prefix ON api_keys (prefix text_pattern_ops);

CREATE TABLE audit_log (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        BIGINT NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    ip        TEXT
);

CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at);

-- Calls per key per hour and outcome, flushed from each instance's memory about once a second.
CREATE TABLE usage_hourly (
    tenant_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    hour      BIGINT NOT NULL,   -- start of the hour, seconds since the epoch
    outcome   TEXT NOT NULL,     -- 'allowed' or the denial's code
    count     BIGINT NOT NULL CHECK (count >= 0),
    PRIMARY KEY (key_id, hour, outcome)
);

CREATE INDEX usage_by_tenant ON usage_hourly (tenant_id, hour);

-- Recent denials of identified keys, with where they came from.
CREATE TABLE denials (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    key_id    TEXT NOT NULL,
    at        BIGINT NOT NULL,
    code      TEXT NOT NULL,
    ip        TEXT,
    origin    TEXT
);

CREATE INDEX denials_by_key ON denials (key_id, id);
CREATE INDEX denials_by_tenant ON denials (tenant_id, id);
CREATE INDEX denials_by_time ON denials (at);

-- The source-IP lockout, shared by every instance: each IP's recent failed attempts (times,
-- oldest first, at most the lockout threshold of them), kept by the lockout's rule.
CREATE TABLE lockout_failures (
    ip      TEXT PRIMARY KEY,
    times   BIGINT[] NOT NULL,
    last_at BIGINT NOT NULL   -- the newest failure, for forgetting IPs
);

-- Rate windows shared by every instance on this database. A key's hourly window counts its
-- calls one by one, so that an hourly limit is exact across instances. A tenant's daily window
-- counts the calls that instances have reserved: each takes a batch (a sixteenth of what is
-- left, 1 to 1,000 calls) and hands it out from memory, so that the daily cap costs no round
-- trip per call; what an instance has not used it gives back about once a second. Near the cap
-- the batches shrink to one call, so the cap is never passed. Windows only move forward.
CREATE TABLE rate_hourly (
    key_id TEXT PRIMARY KEY,
    hour   BIGINT NOT NULL,   -- hour number: seconds since the epoch / 3600
    used   BIGINT NOT NULL CHECK (used >= 0)
);

CREATE TABLE rate_daily (
    tenant_id TEXT PRIMARY KEY,
    day       BIGINT NOT NULL,  -- day number: seconds since the epoch / 86400
    used      BIGINT NOT NULL CHECK (used >= 0)
);

-- Counts one call in the key's hourly window if it has room. The row stays locked until the
-- calling statement commits, so racing instances count one after the other. ok is false when
-- the window is full; n is the window's calls after this one (before it, when refused).
CREATE FUNCTION keyhaven_take_hourly(p_key TEXT, p_hour BIGINT, p_limit BIGINT,
                                     OUT ok BOOLEAN, OUT n BIGINT)
LANGUAGE plpgsql AS $$
BEGIN
    -- Counters, not records: losing the last instant of them in a crash is harmless, waiting
    -- for a disk flush on every call is not.
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO rate_hourly AS r (key_id, hour, used) VALUES (p_key, p_hour, 1)
        ON CONFLICT (key_id) DO UPDATE
        SET used = CASE WHEN r.hour < EXCLUDED.hour THEN 1 ELSE r.used + 1 END,
            hour = GREATEST(r.hour, EXCLUDED.hour)
        WHERE r.hour < EXCLUDED.hour OR r.used < p_limit
        RETURNING r.used INTO n;
    ok := FOUND;
    IF NOT ok THEN
        SELECT r.used INTO n FROM rate_hourly r WHERE r.key_id = p_key;
    END IF;
END;
$$;

-- Reserves a batch of the tenant's daily window for one instance: granted calls (0 when the
-- cap is reached) and the window's reserved total after it.
CREATE FUNCTION keyhaven_reserve_daily(p_tenant TEXT, p_day BIGINT, p_cap BIGINT,
                                       p_max_batch BIGINT, OUT granted BIGINT, OUT total BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    d BIGINT;
    u BIGINT;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO rate_daily (tenant_id, day, used) VALUES (p_tenant, p_day, 0)
        ON CONFLICT (tenant_id) DO NOTHING;
    SELECT r.day, r.used INTO d, u FROM rate_daily r WHERE r.tenant_id = p_tenant FOR UPDATE;
    IF d < p_day THEN
        d := p_day;
        u := 0;
    END IF;
    granted := LEAST(p_max_batch, GREATEST(1, (p_cap - u) / 16), GREATEST(p_cap - u, 0));
    total := u + granted;
    UPDATE rate_daily SET day = d, used = total WHERE tenant_id = p_tenant;
END;
$$;
