-- The lane's ledger file (`<lane file>-ledger`): this lane's own ledger documents (its sales,
-- returns and stock movements, `ledger/<day>/<lane>`), its transaction sequence, and the log
-- lines written with them. Only the till writes here, so committing a sale never waits for the
-- replicator's merges, which write the lane file. Documents are stored as in the lane file
-- (snapshot + change rows).
CREATE TABLE IF NOT EXISTS crdt_docs (
    doc_id TEXT PRIMARY KEY,
    snapshot BLOB NOT NULL,
    heads BLOB NOT NULL,
    updated_at TEXT NOT NULL,
    through_change INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS crdt_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL,
    heads BLOB NOT NULL
);

CREATE INDEX IF NOT EXISTS idx_crdt_changes_doc ON crdt_changes(doc_id, id);

-- file_id pairs this file with its lane file (lane_state.ledger_file_id there), so a lane never
-- runs with another lane's ledger or without its own. next_seq is the next transaction
-- number's sequence (I5), taken in the transaction that stores the record carrying it.
CREATE TABLE IF NOT EXISTS ledger_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    file_id TEXT NOT NULL,
    next_seq INTEGER NOT NULL CHECK (next_seq >= 1)
);

-- Log lines written in the same transaction as a record (approvals of a sale, a refund, a
-- stock movement): copied into the lane file's system_logs with the record's projections
-- (lane_state.logs_through there is the last copied).
CREATE TABLE IF NOT EXISTS ledger_logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    context_json TEXT,
    user_id INTEGER,
    approved_by INTEGER,
    created_at TEXT NOT NULL
);
