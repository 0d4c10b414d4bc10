-- kasir till engine tables (SQLite): lane identity, shifts and cash, parked carts, loyalty,
-- returns, CRDT document storage and the name-search index. Same storage rules as 0001
-- (money INTEGER hundredths, quantities INTEGER thousandths, times ISO 8601 UTC TEXT).

-- This lane: its CRDT actor id and the next transaction sequence (never reset, I5).
CREATE TABLE IF NOT EXISTS lane_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    actor_id TEXT NOT NULL CHECK (length(actor_id) = 32),
    next_seq INTEGER NOT NULL DEFAULT 1 CHECK (next_seq >= 1)
);

-- Store settings beyond the seed's store_config columns (discount limit, loyalty rule,
-- barcode nomenclature), as one JSON object.
CREATE TABLE IF NOT EXISTS store_settings (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    settings_json TEXT NOT NULL CHECK (json_valid(settings_json))
);

CREATE TABLE IF NOT EXISTS shifts (
    id TEXT PRIMARY KEY CHECK (length(id) = 36),
    lane_no INTEGER NOT NULL,
    opened_by INTEGER NOT NULL,
    opened_at TEXT NOT NULL,
    opening_float INTEGER NOT NULL CHECK (opening_float >= 0),
    closed_by INTEGER,
    closed_at TEXT,
    counted_cash INTEGER,
    z_report_json TEXT CHECK (z_report_json IS NULL OR json_valid(z_report_json))
);
-- At most one open shift per lane.
CREATE UNIQUE INDEX IF NOT EXISTS uq_shifts_open ON shifts(lane_no) WHERE closed_at IS NULL;

CREATE TABLE IF NOT EXISTS cash_movements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    shift_id TEXT NOT NULL REFERENCES shifts(id),
    kind TEXT NOT NULL CHECK (kind IN ('pay_in', 'pay_out')),
    amount INTEGER NOT NULL CHECK (amount > 0),
    reason TEXT NOT NULL CHECK (length(reason) > 0),
    user_id INTEGER NOT NULL,
    approved_by INTEGER,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS parked_carts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    label TEXT NOT NULL,
    cart_json TEXT NOT NULL CHECK (json_valid(cart_json)),
    parked_by INTEGER NOT NULL,
    parked_at TEXT NOT NULL
);

-- Every change of a customer's points, each with its own id: points = the sum of the rows (I4).
CREATE TABLE IF NOT EXISTS loyalty_entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entry_id TEXT UNIQUE NOT NULL CHECK (length(entry_id) = 36),
    customer_uuid TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('earn', 'redeem', 'reverse')),
    points INTEGER NOT NULL,
    sale_id TEXT,
    created_at TEXT NOT NULL
);

-- A return (refund) of part or all of a committed sale. It has its own id and a number from
-- the lane's sequence.
CREATE TABLE IF NOT EXISTS returns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    return_id TEXT UNIQUE NOT NULL CHECK (length(return_id) = 36),
    return_number TEXT UNIQUE NOT NULL,
    sale_id TEXT NOT NULL,
    lane_no INTEGER NOT NULL,
    shift_id TEXT,
    refund_method TEXT NOT NULL CHECK (refund_method IN ('cash', 'card', 'e_wallet', 'bank_transfer')),
    refund_amount INTEGER NOT NULL CHECK (refund_amount >= 0),
    tax_amount INTEGER NOT NULL DEFAULT 0,
    points_reversed INTEGER NOT NULL DEFAULT 0,
    created_by INTEGER NOT NULL,
    approved_by INTEGER,
    reason TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS return_lines (
    return_id TEXT NOT NULL REFERENCES returns(return_id),
    sale_id TEXT NOT NULL,
    line_no INTEGER NOT NULL,
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    PRIMARY KEY (return_id, line_no)
);

-- Automerge documents: a compacted snapshot plus the incremental changes saved since, each
-- appended in the same transaction as the ledger rows it belongs to.
-- `heads` (the document's heads after that snapshot or change: sorted 32-byte hashes,
-- concatenated) lets a lane tell a peer what it has without loading any document.
CREATE TABLE IF NOT EXISTS crdt_docs (
    doc_id TEXT PRIMARY KEY,
    snapshot BLOB NOT NULL,
    heads BLOB NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS crdt_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL,
    bytes BLOB NOT NULL,
    heads BLOB NOT NULL
);

-- Substring name search over 100k products (trigram index, kept in step by triggers).
CREATE VIRTUAL TABLE IF NOT EXISTS products_fts USING fts5(
    name, content='products', content_rowid='id', tokenize='trigram'
);
CREATE TRIGGER IF NOT EXISTS products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts(rowid, name) VALUES (new.id, new.name);
END;
CREATE TRIGGER IF NOT EXISTS products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', old.id, old.name);
END;
CREATE TRIGGER IF NOT EXISTS products_fts_update AFTER UPDATE OF name ON products BEGIN
    INSERT INTO products_fts(products_fts, rowid, name) VALUES ('delete', old.id, old.name);
    INSERT INTO products_fts(rowid, name) VALUES (new.id, new.name);
END;

-- Every change of stock, in one place: stand-alone movements (receipts, counts, HQ
-- adjustments, transfers), sale lines (out) and return lines (in). A SKU's stock is the sum of
-- its rows (I3). Sale and return lines are not copied into stock_movements: they already are
-- movements, and each copy would cost page writes in every sale's commit.
CREATE VIEW IF NOT EXISTS stock_ledger AS
    SELECT sku, quantity, 'movement' AS source FROM stock_movements
    UNION ALL
    SELECT sku, -quantity, 'sale' FROM transaction_details
    UNION ALL
    SELECT sku, quantity, 'return' FROM return_lines;

CREATE INDEX IF NOT EXISTS idx_transaction_details_sku ON transaction_details(sku);
CREATE INDEX IF NOT EXISTS idx_return_lines_sku ON return_lines(sku);
CREATE INDEX IF NOT EXISTS idx_crdt_changes_doc ON crdt_changes(doc_id, id);
CREATE INDEX IF NOT EXISTS idx_cash_movements_shift ON cash_movements(shift_id);
CREATE INDEX IF NOT EXISTS idx_loyalty_entries_customer ON loyalty_entries(customer_uuid);
CREATE INDEX IF NOT EXISTS idx_returns_sale ON returns(sale_id);
CREATE INDEX IF NOT EXISTS idx_return_lines_sale ON return_lines(sale_id, line_no);
CREATE INDEX IF NOT EXISTS idx_transactions_shift ON transactions(shift_id);
CREATE INDEX IF NOT EXISTS idx_customers_code ON customers(customer_code);
