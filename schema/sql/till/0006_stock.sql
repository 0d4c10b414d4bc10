-- A sale's lines are its stock movements, and the products projection keeps each SKU's stock
-- as their running sum. The index on transaction_details(sku) existed only to sum a SKU's lines
-- when its product arrived after them (a new lane taking in a store, say), and it cost five
-- index pages in the write of every 5-line sale. Instead, movements of a SKU whose product is
-- not there yet now wait in early_stock, and the product starts from that when it arrives.
CREATE TABLE IF NOT EXISTS early_stock (
    sku TEXT PRIMARY KEY,
    quantity INTEGER NOT NULL
) WITHOUT ROWID;

INSERT INTO early_stock (sku, quantity)
    SELECT sku, SUM(quantity) FROM stock_ledger
    WHERE sku NOT IN (SELECT sku FROM products)
    GROUP BY sku;

DROP INDEX IF EXISTS idx_transaction_details_sku;
DROP INDEX IF EXISTS idx_return_lines_sku;

-- No till query looks sales up by date (reports go by shift); HQ has its own index for that.
DROP INDEX IF EXISTS idx_transactions_date;
