-- Exact download cursors (issue #12). Every change a store downloads is stamped with the
-- version of its change counter (`change_versions`): `catalog` for products and categories,
-- `store:<id>` for a store's prices and HQ's stock movements for it, `customers` for
-- customers. The counter is bumped as the last write of the change's transaction and its row
-- stays locked until the commit, so versions are handed out in commit order: once a download
-- reads a counter at V, every change stamped V or lower has committed and is visible, and a
-- change committing later gets a higher version. `GET /api/sync/download?cursor=` sends the
-- rows stamped after the store's cursor, up to the counters it read, in pages.
ALTER TABLE products ADD COLUMN IF NOT EXISTS sync_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE categories ADD COLUMN IF NOT EXISTS sync_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE store_products ADD COLUMN IF NOT EXISTS sync_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN IF NOT EXISTS sync_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE hq_stock_movements ADD COLUMN IF NOT EXISTS sync_version BIGINT NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_products_sync ON products (sync_version);
CREATE INDEX IF NOT EXISTS idx_categories_sync ON categories (sync_version);
CREATE INDEX IF NOT EXISTS idx_store_products_sync ON store_products (store_id, sync_version);
CREATE INDEX IF NOT EXISTS idx_customers_sync ON customers (sync_version);
CREATE INDEX IF NOT EXISTS idx_hq_stock_movements_sync ON hq_stock_movements (store_id, sync_version);

-- The status a store's lanes ask for (`GET /api/sync/status`): its last completed sync is an
-- index lookup, however long its history.
CREATE INDEX IF NOT EXISTS idx_sync_logs_store_status ON sync_logs (store_id, status, completed_at);
