-- SQLite twin of ../0005_codes_and_customers.sql (see there). SQLite compares text by bytes,
-- so the case-blind uniqueness of store codes is an index of its own.
CREATE UNIQUE INDEX IF NOT EXISTS uq_store_code_nocase ON stores (store_code COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS idx_customers_name ON customers (name);
