//! Opening the lane's SQLite file: refuse foreign or damaged files, set the pragmas the ledger
//! needs, run the till migrations, and the small conversions every module uses.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use kasir_schema::Decimal;
use kasir_schema::sql::scaled::{money_from_db, money_to_db, quantity_from_db, quantity_to_db};
use kasir_schema::sql::{AppliedMigration, MIGRATIONS_TABLE, TILL_MIGRATIONS, pending};
use rusqlite::{Connection, OpenFlags, params};

use crate::error::{NodeError, Result};

/// `PRAGMA application_id` of a kasir lane file ("KASR").
pub const APPLICATION_ID: i32 = 0x4B41_5352;
/// `PRAGMA application_id` of a lane's ledger file ("KASL").
pub const LEDGER_APPLICATION_ID: i32 = 0x4B41_534C;

/// Which of a lane's two files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum File {
    /// The lane file: projections, every other document, users, shifts, the outbox.
    Main,
    /// The ledger file beside it: this lane's own ledger documents and its sequence.
    Ledger,
}

impl File {
    fn application_id(self) -> i32 {
        match self {
            File::Main => APPLICATION_ID,
            File::Ledger => LEDGER_APPLICATION_ID,
        }
    }

    fn migrations(self) -> &'static [kasir_schema::sql::Migration] {
        match self {
            File::Main => TILL_MIGRATIONS,
            File::Ledger => kasir_schema::sql::TILL_LEDGER_MIGRATIONS,
        }
    }
}

/// Where a lane file's ledger file lives: beside it, `<name>-ledger`.
pub fn ledger_path(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push("-ledger");
    std::path::PathBuf::from(name)
}

/// Opens (or, when the file does not exist yet, creates) a till database. `now` stamps the
/// migrations it applies.
///
/// An existing file is never recreated: a file that is not SQLite, or SQLite made by another
/// program, is refused with an error naming it.
pub fn open(path: &Path, now: DateTime<Utc>) -> Result<Connection> {
    open_file(path, File::Main, now)
}

/// Opens (or creates) one of a lane's files; see [`open`].
pub fn open_file(path: &Path, file: File, now: DateTime<Utc>) -> Result<Connection> {
    let exists = path.exists();
    let flags = if exists {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| NodeError::DatabaseOpen {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let classify = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => NodeError::ForeignDatabase {
            path: path.to_path_buf(),
            detail: "not an SQLite file".into(),
        },
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => NodeError::CorruptDatabase {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
        _ => NodeError::DatabaseOpen {
            path: path.to_path_buf(),
            detail: e.to_string(),
        },
    };
    // Reading the schema is the first thing that touches the file's contents.
    let app_id: i32 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(classify)?;
    let table_count: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(classify)?;
    let expected = file.application_id();
    if app_id != expected && (table_count > 0 || app_id != 0) {
        return Err(NodeError::ForeignDatabase {
            path: path.to_path_buf(),
            detail: format!(
                "application id {app_id:#x}, {table_count} schema objects; expected a kasir {} file",
                match file {
                    File::Main => "lane",
                    File::Ledger => "ledger",
                }
            ),
        });
    }
    // Checkpoints run between customers (`Till::maintenance`), never inside a sale's commit;
    // the automatic one is only a safety net for a lane nobody maintains (at ~400 MB of WAL).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;
         PRAGMA cache_size = -16000;
         PRAGMA wal_autocheckpoint = 100000;",
    )
    .map_err(classify)?;
    if app_id == 0 {
        conn.execute_batch(&format!("PRAGMA application_id = {expected}"))?;
    }
    // Every statement the engine runs stays prepared (the default of 16 is less than a sale
    // uses together with the lookups around it).
    conn.set_prepared_statement_cache_capacity(256);
    migrate(&conn, path, file.migrations(), now)?;
    Ok(conn)
}

/// Applies the pending till migrations, each in one transaction (SQLite DDL is transactional).
fn migrate(
    conn: &Connection,
    path: &Path,
    migrations: &[kasir_schema::sql::Migration],
    now: DateTime<Utc>,
) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL)"
    ))?;
    let applied: Vec<AppliedMigration> = conn
        .prepare(&format!("SELECT version, checksum FROM {MIGRATIONS_TABLE}"))?
        .query_map([], |r| {
            Ok(AppliedMigration {
                version: r.get(0)?,
                checksum: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let todo = pending(migrations, &applied).map_err(|e| NodeError::ForeignDatabase {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    for m in todo {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let result = conn.execute_batch(m.sql).and_then(|_| {
            conn.execute(
                &format!(
                    "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum, applied_at) VALUES (?1, ?2, ?3, ?4)"
                ),
                params![m.version, m.name, m.checksum(), ts(now)],
            )
        });
        match result {
            Ok(_) => conn.execute_batch("COMMIT")?,
            Err(e) => {
                conn.execute_batch("ROLLBACK")?;
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// The first column of every row of a query without parameters, as strings.
pub fn strings(conn: &Connection, sql: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?)
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn parse_ts(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| NodeError::Corrupt(format!("timestamp {s:?}: {e}")))
}

pub fn money(v: Decimal) -> Result<i64> {
    Ok(money_to_db(v)?)
}

pub fn qty(v: Decimal) -> Result<i64> {
    Ok(quantity_to_db(v)?)
}

pub fn money_out(v: i64) -> Decimal {
    money_from_db(v)
}

pub fn qty_out(v: i64) -> Decimal {
    quantity_from_db(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_795_000_000, 0).unwrap()
    }

    #[test]
    fn creates_a_fresh_file_and_reopens_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lane.db");
        drop(open(&path, t0()).unwrap());
        let conn = open(&path, t0()).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous=FULL");
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {MIGRATIONS_TABLE}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(usize::try_from(n).unwrap(), TILL_MIGRATIONS.len());
    }

    #[test]
    fn refuses_a_file_that_is_not_sqlite_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lane.db");
        let garbage = b"this is a spreadsheet, not a database. ".repeat(200);
        std::fs::write(&path, &garbage).unwrap();
        let err = open(&path, t0()).unwrap_err();
        assert!(matches!(err, NodeError::ForeignDatabase { .. }), "{err}");
        assert!(err.to_string().contains("lane.db"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage);
    }

    #[test]
    fn refuses_another_programs_sqlite_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.db");
        let other = Connection::open(&path).unwrap();
        other
            .execute_batch("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
            .unwrap();
        drop(other);
        let err = open(&path, t0()).unwrap_err();
        assert!(matches!(err, NodeError::ForeignDatabase { .. }), "{err}");
        assert!(err.to_string().contains("other.db"), "{err}");
        // Still the other program's file, untouched.
        let check = Connection::open(&path).unwrap();
        let n: i64 = check
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'products'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn refuses_a_damaged_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lane.db");
        drop(open(&path, t0()).unwrap());
        // Checkpoint the WAL into the main file, then damage the schema page.
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
                .unwrap();
        }
        let mut bytes = std::fs::read(&path).unwrap();
        for b in bytes.iter_mut().skip(100).take(3000) {
            *b = 0xA5;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = open(&path, t0()).unwrap_err();
        assert!(
            matches!(
                err,
                NodeError::CorruptDatabase { .. } | NodeError::ForeignDatabase { .. }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("lane.db"), "{err}");
    }
}
