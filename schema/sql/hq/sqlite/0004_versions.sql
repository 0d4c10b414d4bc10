-- SQLite twin of ../0004_versions.sql (see there).

CREATE TABLE IF NOT EXISTS change_versions (
    scope TEXT NOT NULL PRIMARY KEY,
    version INTEGER NOT NULL DEFAULT 0
);
