-- Opening a lane looks for snapshots that folded change rows it has not projected
-- (`through_change` above the lane file's mark). through_change comes after the snapshot blob in
-- the row, so without an index that look reads every snapshot (90 MB for a year of sales).
CREATE INDEX IF NOT EXISTS idx_crdt_docs_through ON crdt_docs(through_change, doc_id);
