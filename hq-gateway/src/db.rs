//! The database: MySQL/MariaDB in production, SQLite as the embedded default. One enum, and
//! [`on_db!`] to write a query body once for both: inside it, `B` is the backend type whose
//! associated functions convert money and quantities (MySQL `DECIMAL`, SQLite scaled
//! integers) and choose between the dialects' spellings where they differ.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::sql::{
    AppliedMigration, HQ_MYSQL_MIGRATIONS, HQ_SQLITE_MIGRATIONS, MIGRATIONS_TABLE, Migration,
    pending, scaled,
};
use sqlx::mysql::{MySqlConnectOptions, MySqlPoolOptions, MySqlRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Executor, MySqlPool, Row, SqlitePool};

#[derive(Debug, Clone)]
pub enum Db {
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$B` to the backend type.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$pool:ident, $B:ident| $body:expr) => {
        match $db {
            $crate::db::Db::MySql($pool) => {
                #[allow(dead_code)]
                type $B = $crate::db::My;
                $body
            }
            $crate::db::Db::Sqlite($pool) => {
                #[allow(dead_code)]
                type $B = $crate::db::Lite;
                $body
            }
        }
    };
}

/// MySQL/MariaDB.
#[derive(Debug)]
pub struct My;
/// SQLite.
#[derive(Debug)]
pub struct Lite;

/// An id for binding (ids never come near `i64::MAX`; anything beyond it matches nothing).
pub fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// An id read back (never negative in practice).
pub fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A value the columns cannot hold exactly (too large, or more decimals than they keep). The
/// HTTP layer turns it into a 422 (`From<ValueError> for ApiError`); this module knows nothing
/// of HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub message: String,
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ValueError {}

fn value_error(message: impl Into<String>) -> ValueError {
    ValueError {
        message: message.into(),
    }
}

/// Money fits `DECIMAL(15,2)`: at most two decimals, below 10^13.
pub fn check_money(d: Decimal) -> Result<i64, ValueError> {
    if d.abs() >= Decimal::from(10_000_000_000_000_i64) {
        return Err(value_error(format!("{d} is too large an amount")));
    }
    scaled::money_to_db(d).map_err(|e| value_error(e.to_string()))
}

/// Quantities fit `DECIMAL(12,3)`: at most three decimals, below 10^9.
pub fn check_qty(d: Decimal) -> Result<i64, ValueError> {
    if d.abs() >= Decimal::from(1_000_000_000_i64) {
        return Err(value_error(format!("{d} is too large a quantity")));
    }
    scaled::quantity_to_db(d).map_err(|e| value_error(e.to_string()))
}

impl My {
    pub const IS_MYSQL: bool = true;
    /// A time a client sent, for binding: as a `DATETIME` (the session is UTC). sqlx would
    /// send a `DateTime<Utc>` as a `TIMESTAMP`, whose range ends in 2038: MariaDB stores a
    /// later one as NULL.
    pub fn time(t: DateTime<Utc>) -> chrono::NaiveDateTime {
        t.naive_utc()
    }
    /// A write transaction (InnoDB locks rows as it goes).
    pub async fn begin(
        pool: &MySqlPool,
    ) -> Result<sqlx::Transaction<'static, sqlx::MySql>, sqlx::Error> {
        pool.begin().await
    }
    pub fn money(d: Decimal) -> Result<Decimal, ValueError> {
        check_money(d)?;
        Ok(d)
    }
    pub fn qty(d: Decimal) -> Result<Decimal, ValueError> {
        check_qty(d)?;
        Ok(d)
    }
    pub fn get_money(row: &MySqlRow, col: &str) -> Result<Decimal, sqlx::Error> {
        Ok(row.try_get::<Decimal, _>(col)?.normalize())
    }
    /// A nullable `DECIMAL(…,2)` column (money, weights, rates).
    pub fn opt_money(row: &MySqlRow, col: &str) -> Result<Option<Decimal>, sqlx::Error> {
        Ok(row
            .try_get::<Option<Decimal>, _>(col)?
            .map(|d| d.normalize()))
    }
    /// Any integer column (ids are `BIGINT UNSIGNED`, flags `TINYINT(1)`) as `i64`.
    pub fn int(row: &MySqlRow, col: &str) -> Result<i64, sqlx::Error> {
        Self::opt_int(row, col)?.ok_or_else(|| sqlx::Error::ColumnDecode {
            index: col.to_string(),
            source: "unexpected NULL".into(),
        })
    }
    pub fn opt_int(row: &MySqlRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
        if let Ok(v) = row.try_get::<Option<i64>, _>(col) {
            return Ok(v);
        }
        if let Ok(v) = row.try_get::<Option<u64>, _>(col) {
            return Ok(v.map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
        }
        if let Ok(v) = row.try_get::<Option<i32>, _>(col) {
            return Ok(v.map(i64::from));
        }
        if let Ok(v) = row.try_get::<Option<u32>, _>(col) {
            return Ok(v.map(i64::from));
        }
        if let Ok(v) = row.try_get::<Option<i16>, _>(col) {
            return Ok(v.map(i64::from));
        }
        if let Ok(v) = row.try_get::<Option<u16>, _>(col) {
            return Ok(v.map(i64::from));
        }
        if let Ok(v) = row.try_get::<Option<i8>, _>(col) {
            return Ok(v.map(i64::from));
        }
        Ok(row.try_get::<Option<bool>, _>(col)?.map(i64::from))
    }
    pub fn get_qty(row: &MySqlRow, col: &str) -> Result<Decimal, sqlx::Error> {
        Ok(row.try_get::<Decimal, _>(col)?.normalize())
    }
}

impl Lite {
    pub const IS_MYSQL: bool = false;
    /// A time a client sent, for binding (SQLite keeps RFC 3339 text).
    pub fn time(t: DateTime<Utc>) -> DateTime<Utc> {
        t
    }
    /// A write transaction: SQLite takes the write lock at `BEGIN IMMEDIATE` (waiting up to
    /// the busy timeout), so a transaction that reads before it writes never fails halfway
    /// with "database is locked" when another writer got there first.
    pub async fn begin(
        pool: &SqlitePool,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, sqlx::Error> {
        pool.begin_with("BEGIN IMMEDIATE").await
    }
    pub fn money(d: Decimal) -> Result<i64, ValueError> {
        check_money(d)
    }
    pub fn qty(d: Decimal) -> Result<i64, ValueError> {
        check_qty(d)
    }
    pub fn int(row: &SqliteRow, col: &str) -> Result<i64, sqlx::Error> {
        row.try_get(col)
    }
    pub fn opt_int(row: &SqliteRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
        row.try_get(col)
    }
    pub fn get_money(row: &SqliteRow, col: &str) -> Result<Decimal, sqlx::Error> {
        Ok(scaled::money_from_db(row.try_get::<i64, _>(col)?))
    }
    pub fn opt_money(row: &SqliteRow, col: &str) -> Result<Option<Decimal>, sqlx::Error> {
        Ok(row
            .try_get::<Option<i64>, _>(col)?
            .map(scaled::money_from_db))
    }
    pub fn get_qty(row: &SqliteRow, col: &str) -> Result<Decimal, sqlx::Error> {
        Ok(scaled::quantity_from_db(row.try_get::<i64, _>(col)?))
    }
}

impl Db {
    /// Connects to `mysql://…` or `sqlite://…` (created when missing) and runs the pending
    /// migrations of that backend.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Db, String> {
        let db = if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            let url = url.replacen("mariadb://", "mysql://", 1);
            let opts =
                MySqlConnectOptions::from_str(&url).map_err(|e| format!("database URL: {e}"))?;
            let pool = MySqlPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move {
                        conn.execute("SET time_zone = '+00:00'").await?;
                        conn.execute(
                            "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
                        )
                        .await?;
                        Ok(())
                    })
                })
                .connect_with(opts)
                .await
                .map_err(|e| format!("cannot connect to MySQL: {e}"))?;
            Db::MySql(pool)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| format!("database URL: {e}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections)
                .connect_with(opts)
                .await
                .map_err(|e| format!("cannot open SQLite database: {e}"))?;
            Db::Sqlite(pool)
        } else {
            return Err(format!(
                "database URL must start with mysql:// or sqlite:// (got {:?})",
                url.split(':').next().unwrap_or("")
            ));
        };
        db.migrate().await?;
        Ok(db)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Db::MySql(_) => "mysql",
            Db::Sqlite(_) => "sqlite",
        }
    }

    fn migrations(&self) -> &'static [Migration] {
        match self {
            Db::MySql(_) => HQ_MYSQL_MIGRATIONS,
            Db::Sqlite(_) => HQ_SQLITE_MIGRATIONS,
        }
    }

    /// Applies what is pending. MySQL DDL is not transactional: every statement is idempotent,
    /// and a migration is recorded only after all of its statements ran.
    pub async fn migrate(&self) -> Result<usize, String> {
        let create = format!(
            "CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (version INTEGER NOT NULL PRIMARY KEY, \
             name VARCHAR(100) NOT NULL, checksum CHAR(64) NOT NULL, applied_at VARCHAR(40) NOT NULL)"
        );
        let select = format!("SELECT version, checksum FROM {MIGRATIONS_TABLE} ORDER BY version");
        let insert = format!(
            "INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum, applied_at) VALUES (?, ?, ?, ?)"
        );
        let err = |e: sqlx::Error| format!("migration: {e}");
        let all = self.migrations();
        on_db!(self, |pool, B| {
            pool.execute(AssertSqlSafe(create)).await.map_err(err)?;
            let rows = sqlx::query(AssertSqlSafe(select))
                .fetch_all(pool)
                .await
                .map_err(err)?;
            let mut applied = Vec::new();
            for r in rows {
                let version = B::int(&r, "version").map_err(err)?;
                applied.push(AppliedMigration {
                    version: u32::try_from(version).unwrap_or(u32::MAX),
                    checksum: r.try_get(1).map_err(err)?,
                });
            }
            let todo = pending(all, &applied).map_err(|e| e.to_string())?;
            for m in &todo {
                for stmt in m.statements() {
                    pool.execute(AssertSqlSafe(stmt))
                        .await
                        .map_err(|e| format!("migration {} ({}): {e}", m.version, m.name))?;
                }
                sqlx::query(AssertSqlSafe(insert.clone()))
                    .bind(i64::from(m.version))
                    .bind(m.name)
                    .bind(m.checksum())
                    .bind(chrono::Utc::now().to_rfc3339())
                    .execute(pool)
                    .await
                    .map_err(err)?;
            }
            Ok(todo.len())
        })
    }

    /// A cheap round trip (health check).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, |pool, B| {
            sqlx::query("SELECT 1").execute(pool).await?;
            Ok(())
        })
    }
}

/// Whether an error is a unique-key violation or a deadlock/busy that a retry resolves.
pub fn is_retryable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let code = d.code().unwrap_or_default();
            // sqlx reports MySQL's SQLSTATE (40001: deadlock) and SQLite's extended result
            // code (5 busy, 6 locked, 517 busy snapshot). Other integrity errors (23000 with
            // a foreign key) are not retried: running them again changes nothing.
            d.is_unique_violation() || matches!(code.as_ref(), "40001" | "5" | "6" | "517")
        }
        _ => false,
    }
}
