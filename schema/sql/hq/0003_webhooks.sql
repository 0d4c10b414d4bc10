-- Webhooks (MySQL 8 / MariaDB 10.11): endpoints HQ systems register, and a delivery queue in
-- the database. An event is queued in the same transaction as what caused it, one row per
-- subscribed endpoint (UNIQUE endpoint + event, so a retried transaction queues it once). Any
-- gateway instance may deliver: it first claims the row (`locked_by`, `locked_until`) with an
-- UPDATE that only one instance can win.

CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    url VARCHAR(2000) NOT NULL,
    secret VARCHAR(128) NOT NULL,
    events VARCHAR(255) NOT NULL,
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_by BIGINT UNSIGNED,
    created_at DATETIME(3) NOT NULL,
    FOREIGN KEY fk_webhook_endpoints_user (created_by) REFERENCES users(id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    endpoint_id BIGINT UNSIGNED NOT NULL,
    event_id CHAR(36) NOT NULL,
    event VARCHAR(50) NOT NULL,
    payload MEDIUMTEXT NOT NULL,
    status ENUM('pending', 'delivered', 'failed') NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(3) NOT NULL,
    locked_by VARCHAR(64) NULL,
    locked_until DATETIME(3) NULL,
    last_error TEXT,
    delivered_at DATETIME(3) NULL,
    created_at DATETIME(3) NOT NULL,
    UNIQUE KEY uq_webhook_deliveries_event (endpoint_id, event_id),
    FOREIGN KEY fk_webhook_deliveries_endpoint (endpoint_id) REFERENCES webhook_endpoints(id),
    INDEX idx_webhook_deliveries_due (status, next_attempt_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
