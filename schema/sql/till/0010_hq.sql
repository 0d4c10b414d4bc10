-- Records HQ confirmed (issue #12). The leader writes each confirmation into the day's
-- `synced/<YYYY-MM-DD>` document; every lane projects them here and marks its own outbox
-- entries done, so a later leader does not send them again. `version` tells one change of a
-- customer from the next (16 hex digits of the SHA-256 of its JSON); immutable records
-- (sales, returns, movements) have ''.
CREATE TABLE IF NOT EXISTS hq_confirmed (
    table_name TEXT NOT NULL,
    record_key TEXT NOT NULL,
    version TEXT NOT NULL,
    PRIMARY KEY (table_name, record_key, version)
) WITHOUT ROWID;

-- Confirmations find their outbox entries by record.
CREATE INDEX IF NOT EXISTS idx_sync_queue_record ON sync_queue(table_name, record_key);
