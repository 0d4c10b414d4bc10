-- SQLite twin of ../0007_download_versions.sql (see there).
ALTER TABLE products ADD COLUMN sync_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE categories ADD COLUMN sync_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE store_products ADD COLUMN sync_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE customers ADD COLUMN sync_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE hq_stock_movements ADD COLUMN sync_version INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS idx_products_sync ON products (sync_version);
CREATE INDEX IF NOT EXISTS idx_categories_sync ON categories (sync_version);
CREATE INDEX IF NOT EXISTS idx_store_products_sync ON store_products (store_id, sync_version);
CREATE INDEX IF NOT EXISTS idx_customers_sync ON customers (sync_version);
CREATE INDEX IF NOT EXISTS idx_hq_stock_movements_sync ON hq_stock_movements (store_id, sync_version);
CREATE INDEX IF NOT EXISTS idx_sync_logs_store_status ON sync_logs (store_id, status, completed_at);
