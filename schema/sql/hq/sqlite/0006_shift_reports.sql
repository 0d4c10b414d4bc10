-- Z reports of the stores' lanes (issue #12); see the MySQL twin.
CREATE TABLE IF NOT EXISTS shift_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shift_id TEXT NOT NULL UNIQUE,
    store_id INTEGER NOT NULL REFERENCES stores(id),
    lane_no INTEGER NOT NULL,
    closed_at TEXT NOT NULL,
    report_json TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_shift_reports_store ON shift_reports(store_id, closed_at);
