-- Z reports of every lane of the store (issue #12), projected from the `z` records of the
-- lanes' ledger documents and queued for HQ once. A lane's own report also closes its shift
-- in `shifts` (so a stop between the report's commit and its projection heals at the next
-- start).
CREATE TABLE IF NOT EXISTS shift_reports (
    shift_id TEXT PRIMARY KEY,
    lane_no INTEGER NOT NULL,
    closed_at TEXT NOT NULL
) WITHOUT ROWID;
