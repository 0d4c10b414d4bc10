-- kasir HQ gateway tables (MySQL 8 / MariaDB 10.11): sessions and rotating refresh tokens,
-- device credentials of store tills, the gateway's shared secrets. Idempotent like 0001.
--
-- A login opens a session (a refresh-token family). Each refresh spends the presented token
-- and issues the next; presenting a spent token again revokes the whole session (a stolen
-- token was used). Access tokens are signed with `gateway_secrets.access_key`, which every
-- gateway instance sharing this database reads, and name their session, so a logout or
-- revocation on one instance holds on all of them.

CREATE TABLE IF NOT EXISTS gateway_secrets (
    name VARCHAR(50) NOT NULL PRIMARY KEY,
    secret VARCHAR(128) NOT NULL,
    created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS devices (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    store_id BIGINT UNSIGNED NOT NULL,
    name VARCHAR(100) NOT NULL,
    token_hash CHAR(64) NOT NULL,
    created_by BIGINT UNSIGNED,
    created_at DATETIME(3) NOT NULL,
    revoked_at DATETIME(3) NULL,
    last_seen DATETIME(3) NULL,
    UNIQUE KEY uq_devices_token (token_hash),
    FOREIGN KEY fk_devices_store (store_id) REFERENCES stores(id),
    FOREIGN KEY fk_devices_user (created_by) REFERENCES users(id),
    INDEX idx_devices_store (store_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS auth_sessions (
    id CHAR(36) NOT NULL PRIMARY KEY,
    user_id BIGINT UNSIGNED NULL,
    device_id BIGINT UNSIGNED NULL,
    created_at DATETIME(3) NOT NULL,
    expires_at DATETIME(3) NOT NULL,
    revoked_at DATETIME(3) NULL,
    revoked_reason VARCHAR(100) NULL,
    ip_address VARCHAR(45),
    FOREIGN KEY fk_auth_sessions_user (user_id) REFERENCES users(id),
    FOREIGN KEY fk_auth_sessions_device (device_id) REFERENCES devices(id),
    INDEX idx_auth_sessions_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash CHAR(64) NOT NULL PRIMARY KEY,
    session_id CHAR(36) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    spent_at DATETIME(3) NULL,
    FOREIGN KEY fk_refresh_tokens_session (session_id) REFERENCES auth_sessions(id),
    INDEX idx_refresh_tokens_session (session_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Stock movements made at HQ (PUT /api/products/{id}/stock) that the store downloads and
-- applies once, by movement_id.
CREATE TABLE IF NOT EXISTS hq_stock_movements (
    movement_id CHAR(36) NOT NULL PRIMARY KEY,
    store_id BIGINT UNSIGNED NOT NULL,
    created_at DATETIME(3) NOT NULL,
    FOREIGN KEY fk_hq_stock_movements_store (store_id) REFERENCES stores(id),
    INDEX idx_hq_stock_movements_store (store_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
