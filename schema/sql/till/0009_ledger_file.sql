-- A lane's own ledger documents and its transaction sequence move to a file of their own beside
-- the lane file (`<lane file>-ledger`, written only by the till), so a sale never waits for a
-- merge writing this file. The lane moves them when it first opens with this version
-- (`Till::open`); from then on ledger_file_id names the ledger file it must be opened with,
-- projected_through counts change rows of the ledger file, and logs_through is the last of
-- its ledger_logs copied into system_logs. next_seq stays as it was when the sequence moved.
ALTER TABLE lane_state ADD COLUMN ledger_file_id TEXT;
ALTER TABLE lane_state ADD COLUMN logs_through INTEGER NOT NULL DEFAULT 0;
