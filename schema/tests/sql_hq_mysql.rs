//! HQ's MySQL/MariaDB migrations against a real server named by `KASIR_TEST_MYSQL_URL`
//! (e.g. `mysql://root@127.0.0.1:3306/kasir_ci`). Each test creates its own database on that
//! server and drops it afterwards.
//!
//! Without the variable these tests say so and pass (a laptop without MariaDB); with it set and
//! the server unreachable they fail loudly. `.ci/run` always sets it.

use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use kasir_schema::sql::{AppliedMigration, HQ_MYSQL_MIGRATIONS, MIGRATIONS_TABLE, pending};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions};
use sqlx::{AssertSqlSafe, Executor, MySqlPool, Row};

const ENV: &str = "KASIR_TEST_MYSQL_URL";

/// A throwaway database on the test server, or `None` when the variable is unset.
struct TestDb {
    admin: MySqlPool,
    pool: MySqlPool,
    name: String,
}

impl TestDb {
    async fn create(tag: &str) -> Option<TestDb> {
        let Ok(url) = std::env::var(ENV) else {
            eprintln!("{ENV} is not set: MySQL test skipped (bash .ci/run sets it)");
            return None;
        };
        let opts = MySqlConnectOptions::from_str(&url)
            .unwrap_or_else(|e| panic!("{ENV}={url} is not a MySQL URL: {e}"));
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .connect_with(opts.clone())
            .await
            .unwrap_or_else(|e| panic!("{ENV} is set but the server at {url} is unreachable: {e}"));
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let name = format!(
            "kasir_t_{tag}_{}_{}",
            std::process::id(),
            nanos % 1_000_000_000
        );
        admin
            .execute(AssertSqlSafe(format!(
                "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            )))
            .await
            .unwrap();
        let pool = MySqlPoolOptions::new()
            .max_connections(2)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET time_zone = '+00:00'").await?;
                    conn.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts.database(&name))
            .await
            .unwrap();
        Some(TestDb { admin, pool, name })
    }

    async fn drop(self) {
        self.pool.close().await;
        self.admin
            .execute(AssertSqlSafe(format!("DROP DATABASE `{}`", self.name)))
            .await
            .unwrap();
    }
}

/// Applies pending migrations and records them; returns how many ran.
async fn migrate(pool: &MySqlPool) -> usize {
    pool.execute(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            version INT UNSIGNED PRIMARY KEY, name VARCHAR(100) NOT NULL,
            checksum CHAR(64) NOT NULL, applied_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
        ) ENGINE=InnoDB"
    )))
    .await
    .unwrap();
    let applied: Vec<AppliedMigration> = sqlx::query(AssertSqlSafe(format!(
        "SELECT version, checksum FROM {MIGRATIONS_TABLE}"
    )))
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| AppliedMigration {
        version: r.get::<u32, _>(0),
        checksum: r.get::<String, _>(1),
    })
    .collect();
    let todo = pending(HQ_MYSQL_MIGRATIONS, &applied).unwrap();
    for m in &todo {
        for stmt in m.statements() {
            pool.execute(AssertSqlSafe(stmt.clone()))
                .await
                .unwrap_or_else(|e| panic!("migration {}: {e}\n{stmt}", m.version));
        }
        sqlx::query(AssertSqlSafe(format!(
            "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES (?, ?, ?)"
        )))
        .bind(m.version)
        .bind(m.name)
        .bind(m.checksum())
        .execute(pool)
        .await
        .unwrap();
    }
    todo.len()
}

async fn table_names(pool: &MySqlPool) -> Vec<String> {
    sqlx::query("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1")
        .fetch_all(pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect()
}

#[tokio::test]
async fn migrates_from_scratch_then_again_idempotently() {
    let Some(db) = TestDb::create("mig").await else {
        return;
    };
    assert_eq!(migrate(&db.pool).await, HQ_MYSQL_MIGRATIONS.len());
    let names = table_names(&db.pool).await;
    for t in [
        "stores",
        "users",
        "categories",
        "products",
        "store_products",
        "customers",
        "transactions",
        "transaction_details",
        "payment_details",
        "sync_logs",
        "stock_movements",
        "loyalty_entries",
        "audit_logs",
        MIGRATIONS_TABLE,
    ] {
        assert!(names.iter().any(|n| n == t), "missing table {t}: {names:?}");
    }
    // The second run has nothing pending.
    assert_eq!(migrate(&db.pool).await, 0);
    // And every statement re-executes cleanly (MySQL DDL is not transactional; an
    // interrupted migration is re-run from its first statement).
    for m in HQ_MYSQL_MIGRATIONS {
        for stmt in m.statements() {
            db.pool.execute(AssertSqlSafe(stmt)).await.unwrap();
        }
    }
    assert_eq!(table_names(&db.pool).await, names);
    db.drop().await;
}

#[tokio::test]
async fn the_database_enforces_exactly_once() {
    let Some(db) = TestDb::create("once").await else {
        return;
    };
    migrate(&db.pool).await;
    let p = &db.pool;
    p.execute("INSERT INTO stores (store_code, store_name, tax_rate) VALUES ('JKT01', 'Jakarta 1', 11.00)")
        .await
        .unwrap();
    p.execute("INSERT INTO users (username, email, password_hash, full_name, role, store_id) VALUES ('siti', 'siti@example.co.id', 'x', 'Siti', 'cashier', 1)")
        .await
        .unwrap();
    p.execute("INSERT INTO products (sku, name, barcode) VALUES ('IDM-GRG-85', 'Indomie Goreng', '8998866200301')")
        .await
        .unwrap();
    let sale = |sale_id: &'static str, number: &'static str| {
        sqlx::query(
            "INSERT INTO transactions (store_id, sale_id, content_hash, transaction_number, cashier_id, transaction_date, subtotal, total_amount, payment_method)
             VALUES (1, ?, REPEAT('a', 64), ?, 1, '2025-07-11 10:15:00.000', 119625.00, 109012.00, 'cash')",
        )
        .bind(sale_id)
        .bind(number)
    };
    sale("0190a1b2-c3d4-7e5f-8a9b-000000000001", "JKT01-001-00000001")
        .execute(p)
        .await
        .unwrap();
    let dup = sale("0190a1b2-c3d4-7e5f-8a9b-000000000001", "JKT01-001-00000002")
        .execute(p)
        .await
        .unwrap_err();
    assert!(dup.to_string().contains("Duplicate"), "{dup}");
    let dup_number = sale("0190a1b2-c3d4-7e5f-8a9b-000000000002", "JKT01-001-00000001")
        .execute(p)
        .await
        .unwrap_err();
    assert!(dup_number.to_string().contains("Duplicate"), "{dup_number}");

    let movement = "INSERT INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity, reference_type)
                    VALUES ('0190a1b2-c3d4-7e5f-8a9b-100000000001', 1, 1, 'adjustment', 12.750, 'adjustment')";
    p.execute(movement).await.unwrap();
    assert!(p.execute(movement).await.is_err());
    // Quantities keep grams, money keeps cents, exactly.
    let row = sqlx::query("SELECT CAST(quantity AS CHAR), CAST((SELECT total_amount FROM transactions) AS CHAR) FROM stock_movements")
        .fetch_one(p)
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "12.750");
    assert_eq!(row.get::<String, _>(1), "109012.00");
    // ENUMs refuse what is not in them (the session runs in strict mode).
    assert!(p
        .execute("INSERT INTO users (username, email, password_hash, full_name, role) VALUES ('x', 'x@x', 'x', 'X', 'root')")
        .await
        .is_err());
    db.drop().await;
}
