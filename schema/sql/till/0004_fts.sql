-- The product name index is kept in step by kasir-node (catalog::project_products) rather than
-- by row triggers: a trigger-maintained FTS5 table is flushed to a new segment at every
-- statement savepoint, i.e. once per product written, and merging those one-row segments was
-- a third of the cost of receiving a catalog. The node writes the names of a whole batch after
-- its rows, once, inside the same transaction.
DROP TRIGGER IF EXISTS products_fts_insert;
DROP TRIGGER IF EXISTS products_fts_delete;
DROP TRIGGER IF EXISTS products_fts_update;
