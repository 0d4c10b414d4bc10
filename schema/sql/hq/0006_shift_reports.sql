-- Z reports of the stores' lanes (issue #12): each shift once, as its lane wrote it (the
-- record of `POST /api/sync/upload`'s `shift_reports`, kept whole as JSON; the columns are
-- what the list filters on). `content_hash` tells a report sent again from a changed one.
CREATE TABLE IF NOT EXISTS shift_reports (
    id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
    shift_id CHAR(36) NOT NULL,
    store_id BIGINT UNSIGNED NOT NULL,
    lane_no SMALLINT UNSIGNED NOT NULL,
    closed_at DATETIME(3) NOT NULL,
    report_json LONGTEXT NOT NULL,
    content_hash CHAR(64) NOT NULL,
    created_at DATETIME(3) NOT NULL,
    UNIQUE KEY uq_shift_reports_shift (shift_id),
    FOREIGN KEY fk_shift_reports_store (store_id) REFERENCES stores(id),
    INDEX idx_shift_reports_store (store_id, closed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
