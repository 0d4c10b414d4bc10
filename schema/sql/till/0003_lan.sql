-- kasir store LAN (issue #4): one-time enrollment tickets a manager issues on a lane for a new
-- till. Local to the issuing lane (a ticket names that lane's address), never replicated; the
-- membership itself lives in the replicated `members` document.
-- Only a SHA-256 of the ticket's secret is kept, so a copy of this file redeems nothing.
CREATE TABLE IF NOT EXISTS enrollment_tickets (
    secret_sha256 TEXT PRIMARY KEY CHECK (length(secret_sha256) = 64),
    lane_no INTEGER NOT NULL CHECK (lane_no BETWEEN 1 AND 999),
    issued_by INTEGER NOT NULL,
    issued_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    redeemed_at TEXT,
    redeemed_by_node TEXT
);
