-- Change counters the gateway instances watch to drop cached answers (MySQL 8 / MariaDB):
-- `catalog` moves with every product or category change, `store:<id>` with every change of a
-- store's stock or prices. Bumped in the transaction of the change.

CREATE TABLE IF NOT EXISTS change_versions (
    scope VARCHAR(40) NOT NULL PRIMARY KEY,
    version BIGINT NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
