-- Store codes as the seed allows them (issue #11): up to 50 letters, digits, '-' and '_'.
-- Uniqueness without regard to case comes from the column's collation (utf8mb4_unicode_ci),
-- so two stores never print transaction numbers that differ only in case (the numbers' own
-- UNIQUE key compares the same way).
-- Customers at HQ are searched by name (phone, e-mail and code have their indexes).
CREATE INDEX IF NOT EXISTS idx_customers_name ON customers (name);
