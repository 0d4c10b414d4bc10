-- kasir HQ schema (MySQL 8 / MariaDB 10.11), from the seed's §2.2.
--
-- Differences from the seed, and why:
-- * Times are DATETIME(3) in UTC (the gateway sets the session time zone to +00:00): TIMESTAMP
--   stops in 2038, inside the life of a chain's sales history.
-- * Quantities and stock are DECIMAL(12,3): weighed goods need grams (the seed had
--   DECIMAL(10,2) quantities and INTEGER stock).
-- * Exactly-once: every sale carries its own `sale_id` (UUID) with a UNIQUE key, plus a
--   `content_hash` so a replay with the same content is told apart from a conflicting one;
--   every stock movement carries a UNIQUE `movement_id`; loyalty points are a ledger of
--   entries with a UNIQUE `entry_id` (I2, I3, I4 of the design). Uniqueness is enforced here,
--   by the database, not by application code.
-- * Customers created offline at a lane carry a UNIQUE `customer_uuid`.
-- * stores gets the pricing configuration the tills need (tax_inclusive, cash_rounding).
-- Every statement is idempotent (CREATE TABLE IF NOT EXISTS with inline indexes): MySQL DDL is
-- not transactional, so a migration interrupted half-way is simply run again.

CREATE TABLE IF NOT EXISTS stores (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    store_code VARCHAR(50) NOT NULL,
    store_name VARCHAR(255) NOT NULL,
    address TEXT,
    city VARCHAR(100),
    province VARCHAR(100),
    postal_code VARCHAR(10),
    phone VARCHAR(20),
    email VARCHAR(255),
    manager_id BIGINT UNSIGNED,
    tax_rate DECIMAL(5,2) NOT NULL DEFAULT 0.00,
    tax_inclusive BOOLEAN NOT NULL DEFAULT TRUE,
    cash_rounding DECIMAL(15,2) NOT NULL DEFAULT 100.00,
    currency VARCHAR(3) NOT NULL DEFAULT 'IDR',
    timezone VARCHAR(50) NOT NULL DEFAULT 'Asia/Jakarta',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    last_sync DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_store_code (store_code),
    INDEX idx_store_active (is_active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS users (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(100) NOT NULL,
    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    full_name VARCHAR(255) NOT NULL,
    role ENUM('super_admin', 'admin', 'regional_manager', 'store_manager', 'supervisor', 'cashier') NOT NULL,
    store_id BIGINT UNSIGNED,
    permissions JSON,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    email_verified_at DATETIME(3) NULL,
    last_login DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_users_username (username),
    UNIQUE KEY uq_users_email (email),
    FOREIGN KEY fk_users_store (store_id) REFERENCES stores(id),
    INDEX idx_users_role (role),
    INDEX idx_users_store (store_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS categories (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    parent_id BIGINT UNSIGNED,
    sort_order INTEGER NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    FOREIGN KEY fk_categories_parent (parent_id) REFERENCES categories(id),
    INDEX idx_categories_parent (parent_id),
    INDEX idx_categories_active (is_active)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS products (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    barcode VARCHAR(255),
    sku VARCHAR(100) NOT NULL,
    name VARCHAR(255) NOT NULL,
    description TEXT,
    category_id BIGINT UNSIGNED,
    brand VARCHAR(255),
    unit VARCHAR(50) NOT NULL DEFAULT 'pcs',
    weight DECIMAL(8,2),
    dimensions VARCHAR(100),
    cost_price DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    suggested_price DECIMAL(15,2),
    min_price DECIMAL(15,2),
    max_price DECIMAL(15,2),
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    image_url VARCHAR(500),
    images JSON,
    attributes JSON,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_products_barcode (barcode),
    UNIQUE KEY uq_products_sku (sku),
    FOREIGN KEY fk_products_category (category_id) REFERENCES categories(id),
    INDEX idx_products_name (name),
    INDEX idx_products_category (category_id),
    INDEX idx_products_active (is_active),
    INDEX idx_products_updated (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS store_products (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    store_id BIGINT UNSIGNED NOT NULL,
    product_id BIGINT UNSIGNED NOT NULL,
    selling_price DECIMAL(15,2) NOT NULL,
    stock_quantity DECIMAL(12,3) NOT NULL DEFAULT 0,
    min_stock DECIMAL(12,3) NOT NULL DEFAULT 0,
    max_stock DECIMAL(12,3) NOT NULL DEFAULT 1000,
    location VARCHAR(100),
    is_available BOOLEAN NOT NULL DEFAULT TRUE,
    last_restocked DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    FOREIGN KEY fk_store_products_store (store_id) REFERENCES stores(id),
    FOREIGN KEY fk_store_products_product (product_id) REFERENCES products(id),
    UNIQUE KEY unique_store_product (store_id, product_id),
    INDEX idx_store_products_product (product_id),
    INDEX idx_store_products_stock (stock_quantity)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS customers (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    customer_uuid CHAR(36) NOT NULL,
    customer_code VARCHAR(100),
    name VARCHAR(255) NOT NULL,
    email VARCHAR(255),
    phone VARCHAR(20),
    address TEXT,
    city VARCHAR(100),
    date_of_birth DATE,
    gender ENUM('male', 'female', 'other'),
    loyalty_points INTEGER NOT NULL DEFAULT 0,
    total_purchases DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    total_visits INTEGER NOT NULL DEFAULT 0,
    first_visit DATETIME(3) NULL,
    last_visit DATETIME(3) NULL,
    preferred_store_id BIGINT UNSIGNED,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_customers_uuid (customer_uuid),
    UNIQUE KEY uq_customers_code (customer_code),
    FOREIGN KEY fk_customers_store (preferred_store_id) REFERENCES stores(id),
    INDEX idx_customers_email (email),
    INDEX idx_customers_phone (phone)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS transactions (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    store_id BIGINT UNSIGNED NOT NULL,
    sale_id CHAR(36) NOT NULL,
    content_hash CHAR(64) NOT NULL,
    local_id INTEGER,
    lane_no SMALLINT UNSIGNED,
    transaction_number VARCHAR(100) NOT NULL,
    customer_id BIGINT UNSIGNED,
    customer_uuid CHAR(36),
    cashier_id BIGINT UNSIGNED NOT NULL,
    transaction_date DATETIME(3) NOT NULL,
    subtotal DECIMAL(15,2) NOT NULL,
    tax_amount DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    discount_amount DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    total_amount DECIMAL(15,2) NOT NULL,
    change_amount DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    rounding_amount DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    payment_method ENUM('cash', 'card', 'e_wallet', 'bank_transfer', 'split') NOT NULL,
    payment_status ENUM('pending', 'paid', 'failed', 'refunded') NOT NULL DEFAULT 'pending',
    notes TEXT,
    synced_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_transactions_sale (sale_id),
    UNIQUE KEY uq_transactions_number (transaction_number),
    FOREIGN KEY fk_transactions_store (store_id) REFERENCES stores(id),
    FOREIGN KEY fk_transactions_customer (customer_id) REFERENCES customers(id),
    FOREIGN KEY fk_transactions_cashier (cashier_id) REFERENCES users(id),
    INDEX idx_transactions_store_date (store_id, transaction_date),
    INDEX idx_transactions_date (transaction_date),
    INDEX idx_transactions_cashier (cashier_id),
    INDEX idx_transactions_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS transaction_details (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    transaction_id BIGINT UNSIGNED NOT NULL,
    line_no SMALLINT UNSIGNED NOT NULL,
    product_id BIGINT UNSIGNED NOT NULL,
    sku VARCHAR(100) NOT NULL,
    quantity DECIMAL(12,3) NOT NULL,
    unit_price DECIMAL(15,2) NOT NULL,
    discount_amount DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    total_price DECIMAL(15,2) NOT NULL,
    tax_amount DECIMAL(15,2) NOT NULL DEFAULT 0.00,
    notes TEXT,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_transaction_details_line (transaction_id, line_no),
    FOREIGN KEY fk_transaction_details_transaction (transaction_id) REFERENCES transactions(id) ON DELETE CASCADE,
    FOREIGN KEY fk_transaction_details_product (product_id) REFERENCES products(id),
    INDEX idx_transaction_details_product (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- reference_number is an approval code or transfer reference: no column anywhere holds a
-- card number or CVV.
CREATE TABLE IF NOT EXISTS payment_details (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    transaction_id BIGINT UNSIGNED NOT NULL,
    payment_method ENUM('cash', 'card', 'e_wallet', 'bank_transfer') NOT NULL,
    amount DECIMAL(15,2) NOT NULL,
    reference_number VARCHAR(255),
    gateway_response JSON,
    payment_status ENUM('pending', 'success', 'failed') NOT NULL DEFAULT 'pending',
    processed_at DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    FOREIGN KEY fk_payment_details_transaction (transaction_id) REFERENCES transactions(id) ON DELETE CASCADE,
    INDEX idx_payment_details_method (payment_method)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS sync_logs (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    store_id BIGINT UNSIGNED NOT NULL,
    sync_type ENUM('upload', 'download') NOT NULL,
    table_name VARCHAR(100) NOT NULL,
    records_count INTEGER NOT NULL DEFAULT 0,
    success_count INTEGER NOT NULL DEFAULT 0,
    failed_count INTEGER NOT NULL DEFAULT 0,
    status ENUM('started', 'completed', 'failed') NOT NULL,
    error_details JSON,
    started_at DATETIME(3) NOT NULL,
    completed_at DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    FOREIGN KEY fk_sync_logs_store (store_id) REFERENCES stores(id),
    INDEX idx_sync_logs_store (store_id),
    INDEX idx_sync_logs_type (sync_type),
    INDEX idx_sync_logs_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- quantity is signed: what the movement adds to the store's stock.
CREATE TABLE IF NOT EXISTS stock_movements (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    movement_id CHAR(36) NOT NULL,
    store_id BIGINT UNSIGNED NOT NULL,
    product_id BIGINT UNSIGNED NOT NULL,
    movement_type ENUM('in', 'out', 'adjustment', 'transfer') NOT NULL,
    quantity DECIMAL(12,3) NOT NULL,
    reference_type ENUM('sale', 'purchase', 'adjustment', 'transfer', 'return') NOT NULL,
    reference_id BIGINT UNSIGNED,
    sale_id CHAR(36),
    from_store_id BIGINT UNSIGNED,
    to_store_id BIGINT UNSIGNED,
    notes TEXT,
    created_by BIGINT UNSIGNED,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_stock_movements_movement (movement_id),
    FOREIGN KEY fk_stock_movements_store (store_id) REFERENCES stores(id),
    FOREIGN KEY fk_stock_movements_product (product_id) REFERENCES products(id),
    FOREIGN KEY fk_stock_movements_user (created_by) REFERENCES users(id),
    FOREIGN KEY fk_stock_movements_from (from_store_id) REFERENCES stores(id),
    FOREIGN KEY fk_stock_movements_to (to_store_id) REFERENCES stores(id),
    INDEX idx_stock_movements_store_product (store_id, product_id),
    INDEX idx_stock_movements_product (product_id),
    INDEX idx_stock_movements_type (movement_type),
    INDEX idx_stock_movements_sale (sale_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A customer's points are the sum of their entries (I4); customers.loyalty_points caches it.
CREATE TABLE IF NOT EXISTS loyalty_entries (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    entry_id CHAR(36) NOT NULL,
    customer_id BIGINT UNSIGNED NOT NULL,
    store_id BIGINT UNSIGNED,
    kind ENUM('earn', 'redeem', 'reverse') NOT NULL,
    points INTEGER NOT NULL,
    sale_id CHAR(36),
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    UNIQUE KEY uq_loyalty_entries_entry (entry_id),
    FOREIGN KEY fk_loyalty_entries_customer (customer_id) REFERENCES customers(id),
    FOREIGN KEY fk_loyalty_entries_store (store_id) REFERENCES stores(id),
    INDEX idx_loyalty_entries_customer (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS audit_logs (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    user_id BIGINT UNSIGNED,
    store_id BIGINT UNSIGNED,
    action VARCHAR(100) NOT NULL,
    table_name VARCHAR(100),
    record_id BIGINT UNSIGNED,
    old_values JSON,
    new_values JSON,
    ip_address VARCHAR(45),
    user_agent TEXT,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    FOREIGN KEY fk_audit_logs_user (user_id) REFERENCES users(id),
    FOREIGN KEY fk_audit_logs_store (store_id) REFERENCES stores(id),
    INDEX idx_audit_logs_user (user_id),
    INDEX idx_audit_logs_store (store_id),
    INDEX idx_audit_logs_action (action),
    INDEX idx_audit_logs_table (table_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
