-- A sale is durable once its record is in the lane's ledger document (with its transaction
-- number); its projections (the sale's rows, stock, loyalty, the outbox entry) follow in a
-- second transaction between customers. projected_through is the last change row whose own
-- records are all projected: on start, a lane projects again the records of its own ledger
-- documents changed after it (a stop between the two transactions). Existing files are fully
-- projected.
ALTER TABLE lane_state ADD COLUMN projected_through INTEGER NOT NULL DEFAULT 0;
UPDATE lane_state SET projected_through = (SELECT COALESCE(MAX(id), 0) FROM crdt_changes);
