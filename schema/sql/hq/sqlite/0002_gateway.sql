-- SQLite twin of ../0002_gateway.sql (see there for what the tables are for).

CREATE TABLE IF NOT EXISTS gateway_secrets (
    name TEXT NOT NULL PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    store_id INTEGER NOT NULL REFERENCES stores(id),
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_by INTEGER REFERENCES users(id),
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    last_seen TEXT
);
CREATE INDEX IF NOT EXISTS idx_devices_store ON devices(store_id);

CREATE TABLE IF NOT EXISTS auth_sessions (
    id TEXT NOT NULL PRIMARY KEY,
    user_id INTEGER REFERENCES users(id),
    device_id INTEGER REFERENCES devices(id),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_reason TEXT,
    ip_address TEXT
);
CREATE INDEX IF NOT EXISTS idx_auth_sessions_user ON auth_sessions(user_id);

CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT NOT NULL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES auth_sessions(id),
    created_at TEXT NOT NULL,
    spent_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE IF NOT EXISTS hq_stock_movements (
    movement_id TEXT NOT NULL PRIMARY KEY,
    store_id INTEGER NOT NULL REFERENCES stores(id),
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_hq_stock_movements_store ON hq_stock_movements(store_id, created_at);
