-- Several engine handles share one lane file: the till (sales and every local edit) and its
-- replicator (merges from other lanes), each with its own connection and its own cache of the
-- Automerge documents. A handle catches up on the change rows another one appended before it
-- uses a cached document; a compaction folds rows into the snapshot, and `through_change` (the
-- last row it folded) tells a handle whose cache predates it to reload the document instead.
ALTER TABLE crdt_docs ADD COLUMN through_change INTEGER NOT NULL DEFAULT 0;

-- Records of a document that a projection could not read (a value shape no kasir version
-- writes, a missing field). They stay in the document, untouched; this table lists them for the
-- manager and the logs, and a record that becomes readable (a later edit) is removed from it.
CREATE TABLE IF NOT EXISTS unreadable_records (
    doc_id TEXT NOT NULL,
    record_key TEXT NOT NULL,
    reason TEXT NOT NULL,
    first_seen TEXT NOT NULL,
    PRIMARY KEY (doc_id, record_key)
);
