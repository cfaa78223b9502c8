-- Keyhaven service schema. Times are integer seconds since the Unix epoch (UTC).
-- Secrets are never stored: API keys and session tokens as SHA-256, passwords as Argon2id PHC strings.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    daily_cap  INTEGER NOT NULL CHECK (daily_cap >= 0),
    created_at INTEGER NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'member', 'support', 'admin')),
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE api_keys (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants (id),
    name                TEXT NOT NULL,
    prefix              TEXT NOT NULL,
    secret_hash         BLOB NOT NULL,
    scopes              TEXT NOT NULL,          -- JSON array of strings
    created_at          INTEGER NOT NULL,
    last_used_at        INTEGER,
    expires_at          INTEGER,
    revoked_at          INTEGER,
    allowed_origins     TEXT NOT NULL,          -- JSON array of strings
    allowed_ips         TEXT NOT NULL,          -- JSON array of strings
    rate_limit_per_hour INTEGER CHECK (rate_limit_per_hour IS NULL OR rate_limit_per_hour >= 1),
    created_by          TEXT NOT NULL REFERENCES users (id)
);

-- The hot path: a presented key is found by its hash through this index.
CREATE UNIQUE INDEX api_keys_by_hash ON api_keys (secret_hash);
CREATE INDEX api_keys_by_tenant ON api_keys (tenant_id, created_at);
CREATE INDEX api_keys_by_prefix ON api_keys (prefix);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    ip        TEXT
);

CREATE INDEX audit_log_by_tenant ON audit_log (tenant_id, at);
