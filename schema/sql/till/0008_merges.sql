-- A merge stores a peer's changes and projects what they wrote a few records per transaction,
-- so a sale on this lane waits for one small transaction at most, never for a whole batch. A
-- document whose projection is still under way is listed here (from the transaction that
-- stored the changes to the one that projects the last records); a lane that stopped in
-- between projects it again when it opens.
CREATE TABLE IF NOT EXISTS unprojected_docs (
    doc_id TEXT PRIMARY KEY
) WITHOUT ROWID;
