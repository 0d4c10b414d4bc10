-- A sale made durable but not yet in its ledger document (`Till::commit_sale`). The cashier's
-- commit writes only this row and the sequence (one small transaction, fsynced); moving the
-- record into the Automerge document (its change built and stored) follows between customers,
-- in a transaction that deletes the row. A row here therefore means "not in its document yet";
-- opening the lane moves what a stop left. The move is deterministic (same rows, same order,
-- same document state, change time 0), so a move that a power cut took back is made again as
-- the very same change a peer may already hold.
CREATE TABLE IF NOT EXISTS ledger_inbox (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    record_id TEXT NOT NULL,
    value TEXT NOT NULL
);
