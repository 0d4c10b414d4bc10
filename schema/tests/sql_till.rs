//! The till's SQLite migrations, applied to fresh databases with rusqlite (the driver the node
//! uses): from scratch, a second time (nothing pending), re-executed statement by statement
//! (idempotent SQL), and the constraints that keep the ledger honest.

use kasir_schema::Decimal;
use kasir_schema::sql::scaled::{money_from_db, money_to_db, quantity_to_db};
use kasir_schema::sql::{
    AppliedMigration, MIGRATIONS_TABLE, TILL_LEDGER_MIGRATIONS, TILL_MIGRATIONS, pending,
};
use rusqlite::{Connection, params};

/// Applies pending migrations, each in its own transaction, recording version and checksum.
fn migrate(conn: &mut Connection) -> usize {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    ))
    .unwrap();
    let applied: Vec<AppliedMigration> = conn
        .prepare(&format!("SELECT version, checksum FROM {MIGRATIONS_TABLE}"))
        .unwrap()
        .query_map([], |r| {
            Ok(AppliedMigration {
                version: r.get(0)?,
                checksum: r.get(1)?,
            })
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let todo = pending(TILL_MIGRATIONS, &applied).unwrap();
    for m in &todo {
        let tx = conn.transaction().unwrap();
        for stmt in m.statements() {
            tx.execute_batch(&stmt)
                .unwrap_or_else(|e| panic!("migration {}: {e}\n{stmt}", m.version));
        }
        tx.execute(
            &format!(
                "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES (?1, ?2, ?3)"
            ),
            params![m.version, m.name, m.checksum()],
        )
        .unwrap();
        tx.commit().unwrap();
    }
    todo.len()
}

fn fresh() -> Connection {
    let mut conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    assert_eq!(migrate(&mut conn), TILL_MIGRATIONS.len());
    conn
}

fn tables(conn: &Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn creates_every_seed_table_and_migrates_once() {
    let mut conn = fresh();
    let names = tables(&conn);
    for t in [
        "store_config",
        "users",
        "categories",
        "products",
        "customers",
        "transactions",
        "transaction_details",
        "payment_details",
        "sync_queue",
        "stock_movements",
        "system_logs",
        "lane_state",
        "store_settings",
        "shifts",
        "cash_movements",
        "parked_carts",
        "loyalty_entries",
        "returns",
        "return_lines",
        "crdt_docs",
        "crdt_changes",
        "products_fts",
        MIGRATIONS_TABLE,
    ] {
        assert!(names.iter().any(|n| n == t), "missing table {t}: {names:?}");
    }
    // A second run finds nothing to do.
    assert_eq!(migrate(&mut conn), 0);
    // Every statement that can be is idempotent on its own. (A till migration runs in one
    // transaction, so none is ever half applied; `ADD COLUMN` has no `IF NOT EXISTS` in SQLite.)
    for m in TILL_MIGRATIONS {
        for stmt in m.statements() {
            if stmt.to_ascii_uppercase().contains("ADD COLUMN") {
                continue;
            }
            conn.execute_batch(&stmt).unwrap();
        }
    }
    assert_eq!(tables(&conn), names);
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn the_ledger_file_schema_applies_and_every_statement_is_idempotent() {
    let conn = Connection::open_in_memory().unwrap();
    for _ in 0..2 {
        for m in TILL_LEDGER_MIGRATIONS {
            for stmt in m.statements() {
                conn.execute_batch(&stmt).unwrap();
            }
        }
    }
    let names = tables(&conn);
    for t in [
        "crdt_docs",
        "crdt_changes",
        "ledger_state",
        "ledger_logs",
        "ledger_inbox",
    ] {
        assert!(names.iter().any(|n| n == t), "missing table {t}: {names:?}");
    }
    // One sequence row, never below 1.
    conn.execute(
        "INSERT INTO ledger_state (id, file_id, next_seq) VALUES (1, 'f', 1)",
        [],
    )
    .unwrap();
    assert!(
        conn.execute(
            "INSERT INTO ledger_state (id, file_id, next_seq) VALUES (2, 'f', 1)",
            []
        )
        .is_err()
    );
    assert!(
        conn.execute("UPDATE ledger_state SET next_seq = 0", [])
            .is_err()
    );
}

fn insert_user(conn: &Connection, username: &str, role: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO users (username, password_hash, full_name, role) VALUES (?1, 'x', 'Test', ?2)",
        params![username, role],
    )
}

fn insert_sale(
    conn: &Connection,
    sale_id: &str,
    number: &str,
    method: &str,
    total: i64,
) -> rusqlite::Result<usize> {
    conn.execute(
        "INSERT INTO transactions (sale_id, transaction_number, lane_no, cashier_id, subtotal, total_amount, payment_method)
         VALUES (?1, ?2, 1, 1, ?3, ?3, ?4)",
        params![sale_id, number, total, method],
    )
}

const SALE_A: &str = "0190a1b2-c3d4-7e5f-8a9b-000000000001";
const SALE_B: &str = "0190a1b2-c3d4-7e5f-8a9b-000000000002";

#[test]
fn enums_are_check_constraints() {
    let conn = fresh();
    insert_user(&conn, "siti", "cashier").unwrap();
    assert!(insert_user(&conn, "eve", "super_admin").is_err());
    assert!(insert_sale(&conn, SALE_A, "JKT01-001-00000001", "crypto", 100).is_err());
    insert_sale(&conn, SALE_A, "JKT01-001-00000001", "split", 100).unwrap();
    assert!(
        conn.execute(
            "UPDATE transactions SET sync_status = 'lost' WHERE sale_id = ?1",
            [SALE_A]
        )
        .is_err()
    );
    assert!(conn
        .execute(
            "INSERT INTO stock_movements (movement_id, sku, movement_type, quantity, reference_type)
             VALUES ('0190a1b2-c3d4-7e5f-8a9b-100000000001', 'A', 'teleport', 1000, 'sale')",
            [],
        )
        .is_err());
}

#[test]
fn a_sale_and_a_movement_are_stored_once() {
    let conn = fresh();
    insert_sale(&conn, SALE_A, "JKT01-001-00000001", "cash", 100).unwrap();
    // Same sale id again: refused by the database.
    assert!(insert_sale(&conn, SALE_A, "JKT01-001-00000002", "cash", 100).is_err());
    // Same number with another id: refused too.
    assert!(insert_sale(&conn, SALE_B, "JKT01-001-00000001", "cash", 100).is_err());
    let movement =
        "INSERT INTO stock_movements (movement_id, sku, movement_type, quantity, reference_type)
                    VALUES ('0190a1b2-c3d4-7e5f-8a9b-100000000001', 'A', 'out', -1000, 'sale')";
    conn.execute(movement, []).unwrap();
    assert!(conn.execute(movement, []).is_err());
    // No negative totals, no zero payments.
    assert!(insert_sale(&conn, SALE_B, "JKT01-001-00000002", "cash", -1).is_err());
}

#[test]
fn money_and_quantities_are_exact_integers() {
    let conn = fresh();
    insert_user(&conn, "siti", "cashier").unwrap();
    let amounts = [
        Decimal::new(1_250_050, 2),
        Decimal::new(1, 2),
        Decimal::new(999_999_999_999_999, 2),
    ];
    for (i, a) in amounts.iter().enumerate() {
        let id = format!("0190a1b2-c3d4-7e5f-8a9b-00000000001{i}");
        insert_sale(
            &conn,
            &id,
            &format!("JKT01-001-0000001{i}"),
            "cash",
            money_to_db(*a).unwrap(),
        )
        .unwrap();
    }
    let sum: i64 = conn
        .query_row("SELECT SUM(total_amount) FROM transactions", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(money_from_db(sum), amounts.iter().sum::<Decimal>());
    let detail = conn.execute(
        "INSERT INTO transaction_details (transaction_id, line_no, sku, product_name, quantity, unit_price, total_price)
         VALUES (1, 1, 'DAG-SAP-KG', 'Daging', ?1, 13500000, 9112500)",
        [quantity_to_db(Decimal::new(675, 3)).unwrap()],
    );
    assert_eq!(detail.unwrap(), 1);
    let q: i64 = conn
        .query_row("SELECT quantity FROM transaction_details", [], |r| r.get(0))
        .unwrap();
    assert_eq!(q, 675);
}

#[test]
fn outbox_holds_valid_json_only() {
    let conn = fresh();
    let ok = conn.execute(
        "INSERT INTO sync_queue (table_name, record_key, action, data_json) VALUES ('transactions', ?1, 'insert', '{\"a\":1}')",
        [SALE_A],
    );
    assert_eq!(ok.unwrap(), 1);
    assert!(conn
        .execute(
            "INSERT INTO sync_queue (table_name, record_key, action, data_json) VALUES ('transactions', ?1, 'insert', '{oops')",
            [SALE_B],
        )
        .is_err());
}
