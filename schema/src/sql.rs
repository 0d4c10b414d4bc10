//! Both SQL schemas as data: the till's SQLite migrations (`sql/till/`) and HQ's MySQL/MariaDB
//! migrations (`sql/hq/`), plus the pure parts of running them (statement splitting,
//! checksums, deciding what is pending) and the scaled-integer encoding the till stores money
//! and quantities in. The drivers that execute them live in the node (rusqlite) and the
//! gateway (sqlx); this module does no I/O.

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

/// One migration: applied once, in version order, recorded with its checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: u32,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL text, hex: an applied migration whose file later changed is caught.
    pub fn checksum(&self) -> String {
        hex(&Sha256::digest(self.sql.as_bytes()))
    }

    /// The statements of this migration, comments and blank space removed.
    pub fn statements(&self) -> Vec<String> {
        split_statements(self.sql)
    }
}

/// The till's SQLite migrations, in order.
pub const TILL_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sql: include_str!("../sql/till/0001_ledger.sql"),
    },
    Migration {
        version: 2,
        name: "engine",
        sql: include_str!("../sql/till/0002_engine.sql"),
    },
    Migration {
        version: 3,
        name: "lan",
        sql: include_str!("../sql/till/0003_lan.sql"),
    },
    Migration {
        version: 4,
        name: "fts",
        sql: include_str!("../sql/till/0004_fts.sql"),
    },
    Migration {
        version: 5,
        name: "handles",
        sql: include_str!("../sql/till/0005_handles.sql"),
    },
    Migration {
        version: 6,
        name: "stock",
        sql: include_str!("../sql/till/0006_stock.sql"),
    },
    Migration {
        version: 7,
        name: "projection",
        sql: include_str!("../sql/till/0007_projection.sql"),
    },
    Migration {
        version: 8,
        name: "merges",
        sql: include_str!("../sql/till/0008_merges.sql"),
    },
    Migration {
        version: 9,
        name: "ledger file",
        sql: include_str!("../sql/till/0009_ledger_file.sql"),
    },
    Migration {
        version: 10,
        name: "hq",
        sql: include_str!("../sql/till/0010_hq.sql"),
    },
    Migration {
        version: 11,
        name: "shift reports",
        sql: include_str!("../sql/till/0011_shift_reports.sql"),
    },
];

/// The migrations of a lane's ledger file (its own ledger documents and sequence), in order.
pub const TILL_LEDGER_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "ledger",
        sql: include_str!("../sql/till_ledger/0001_ledger.sql"),
    },
    Migration {
        version: 2,
        name: "projection index",
        sql: include_str!("../sql/till_ledger/0002_projection_index.sql"),
    },
    Migration {
        version: 3,
        name: "inbox",
        sql: include_str!("../sql/till_ledger/0003_inbox.sql"),
    },
];

/// HQ's MySQL/MariaDB migrations, in order.
pub const HQ_MYSQL_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sql: include_str!("../sql/hq/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "gateway",
        sql: include_str!("../sql/hq/0002_gateway.sql"),
    },
    Migration {
        version: 3,
        name: "webhooks",
        sql: include_str!("../sql/hq/0003_webhooks.sql"),
    },
    Migration {
        version: 4,
        name: "versions",
        sql: include_str!("../sql/hq/0004_versions.sql"),
    },
    Migration {
        version: 5,
        name: "codes_and_customers",
        sql: include_str!("../sql/hq/0005_codes_and_customers.sql"),
    },
    Migration {
        version: 6,
        name: "shift_reports",
        sql: include_str!("../sql/hq/0006_shift_reports.sql"),
    },
    Migration {
        version: 7,
        name: "download_versions",
        sql: include_str!("../sql/hq/0007_download_versions.sql"),
    },
];

/// The SQLite twin of [`HQ_MYSQL_MIGRATIONS`] (same versions and tables; money and quantities
/// as scaled integers, see [`scaled`]): the gateway's embedded default.
pub const HQ_SQLITE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core",
        sql: include_str!("../sql/hq/sqlite/0001_core.sql"),
    },
    Migration {
        version: 2,
        name: "gateway",
        sql: include_str!("../sql/hq/sqlite/0002_gateway.sql"),
    },
    Migration {
        version: 3,
        name: "webhooks",
        sql: include_str!("../sql/hq/sqlite/0003_webhooks.sql"),
    },
    Migration {
        version: 4,
        name: "versions",
        sql: include_str!("../sql/hq/sqlite/0004_versions.sql"),
    },
    Migration {
        version: 5,
        name: "codes_and_customers",
        sql: include_str!("../sql/hq/sqlite/0005_codes_and_customers.sql"),
    },
    Migration {
        version: 6,
        name: "shift_reports",
        sql: include_str!("../sql/hq/sqlite/0006_shift_reports.sql"),
    },
    Migration {
        version: 7,
        name: "download_versions",
        sql: include_str!("../sql/hq/sqlite/0007_download_versions.sql"),
    },
];

/// The table a runner records applied migrations in (same name in both databases).
pub const MIGRATIONS_TABLE: &str = "kasir_migrations";

/// A migration as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: u32,
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "migration {version} was applied with checksum {applied} but the file now has {current}: \
         the database was made by a different kasir build"
    )]
    ChecksumMismatch {
        version: u32,
        applied: String,
        current: String,
    },
    #[error(
        "the database has migration {0}, which this build does not know: it was made by a newer kasir"
    )]
    UnknownVersion(u32),
}

/// What still has to run, given what the database has recorded.
pub fn pending<'a>(
    all: &'a [Migration],
    applied: &[AppliedMigration],
) -> Result<Vec<&'a Migration>, MigrationError> {
    for a in applied {
        match all.iter().find(|m| m.version == a.version) {
            None => return Err(MigrationError::UnknownVersion(a.version)),
            Some(m) if m.checksum() != a.checksum => {
                return Err(MigrationError::ChecksumMismatch {
                    version: m.version,
                    applied: a.checksum.clone(),
                    current: m.checksum(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(all
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .collect())
}

/// Splits SQL text into statements at `;` outside quotes and comments. Enough for the
/// migrations in this crate (no procedures or triggers with nested `;`).
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            current.push(c);
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' | '`' => {
                quote = Some(c);
                current.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        current.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut prev = ' ';
                for n in chars.by_ref() {
                    if prev == '*' && n == '/' {
                        break;
                    }
                    prev = n;
                }
                current.push(' ');
            }
            ';' if inside_trigger_body(&current) => current.push(c),
            ';' => {
                push_statement(&mut out, &current);
                current.clear();
            }
            _ => current.push(c),
        }
    }
    push_statement(&mut out, &current);
    out
}

/// A `CREATE TRIGGER ... BEGIN ... END` body holds `;`s that do not end the statement.
fn inside_trigger_body(current: &str) -> bool {
    let upper = current.trim_start().to_ascii_uppercase();
    let words: Vec<&str> = upper.split_whitespace().collect();
    let is_trigger = words.len() >= 2
        && words[0] == "CREATE"
        && (words[1] == "TRIGGER" || (words.len() >= 3 && words[2] == "TRIGGER"));
    is_trigger && words.last() != Some(&"END")
}

fn push_statement(out: &mut Vec<String>, text: &str) {
    let trimmed = text.trim();
    if !trimmed.is_empty() {
        out.push(trimmed.to_string());
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Exact conversion between decimals and the till's scaled integers.
pub mod scaled {
    use super::Decimal;

    /// Money: hundredths of the currency unit.
    pub const MONEY_SCALE: u32 = 2;
    /// Quantities and stock: thousandths.
    pub const QUANTITY_SCALE: u32 = 3;
    /// Percentages: hundredths of a percent.
    pub const PERCENT_SCALE: u32 = 2;

    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    pub enum ScaleError {
        #[error("{value} has more than {scale} decimals and cannot be stored without rounding")]
        TooPrecise { value: Decimal, scale: u32 },
        #[error("{0} does not fit in a 64-bit column")]
        OutOfRange(Decimal),
    }

    /// `12500.5` at scale 2 → `1250050`. Refuses to drop digits.
    pub fn to_scaled(value: Decimal, scale: u32) -> Result<i64, ScaleError> {
        let v = value.normalize();
        if v.scale() > scale {
            return Err(ScaleError::TooPrecise { value, scale });
        }
        let mut m = v.mantissa();
        for _ in v.scale()..scale {
            m = m.checked_mul(10).ok_or(ScaleError::OutOfRange(value))?;
        }
        i64::try_from(m).map_err(|_| ScaleError::OutOfRange(value))
    }

    /// `1250050` at scale 2 → `12500.5`.
    pub fn from_scaled(value: i64, scale: u32) -> Decimal {
        Decimal::new(value, scale).normalize()
    }

    pub fn money_to_db(value: Decimal) -> Result<i64, ScaleError> {
        to_scaled(value, MONEY_SCALE)
    }

    pub fn money_from_db(value: i64) -> Decimal {
        from_scaled(value, MONEY_SCALE)
    }

    pub fn quantity_to_db(value: Decimal) -> Result<i64, ScaleError> {
        to_scaled(value, QUANTITY_SCALE)
    }

    pub fn quantity_from_db(value: i64) -> Decimal {
        from_scaled(value, QUANTITY_SCALE)
    }
}

#[cfg(test)]
mod tests {
    use super::scaled::*;
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn splits_statements_outside_quotes_and_comments() {
        let sql = "-- a comment; not a statement\nCREATE TABLE a (x TEXT DEFAULT ';');\n\
                   /* block; comment */ INSERT INTO a VALUES ('it''s; fine');\n\n  ;  \n\
                   CREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM a; SELECT 2; END;\nSELECT 1";
        assert_eq!(
            split_statements(sql),
            vec![
                "CREATE TABLE a (x TEXT DEFAULT ';')".to_string(),
                "INSERT INTO a VALUES ('it''s; fine')".to_string(),
                "CREATE TRIGGER t AFTER INSERT ON a BEGIN DELETE FROM a; SELECT 2; END".to_string(),
                "SELECT 1".to_string(),
            ]
        );
    }

    #[test]
    fn migrations_are_numbered_in_order_and_non_empty() {
        for set in [
            TILL_MIGRATIONS,
            TILL_LEDGER_MIGRATIONS,
            HQ_MYSQL_MIGRATIONS,
            HQ_SQLITE_MIGRATIONS,
        ] {
            for (i, m) in set.iter().enumerate() {
                assert_eq!(m.version as usize, i + 1);
                assert!(!m.statements().is_empty());
                assert_eq!(m.checksum().len(), 64);
            }
        }
    }

    #[test]
    fn hq_twins_have_the_same_versions_and_tables() {
        assert_eq!(HQ_MYSQL_MIGRATIONS.len(), HQ_SQLITE_MIGRATIONS.len());
        let tables = |sql: &str| -> Vec<String> {
            let mut t: Vec<String> = sql
                .lines()
                .filter_map(|l| l.trim().strip_prefix("CREATE TABLE IF NOT EXISTS "))
                .map(|rest| rest.split([' ', '(']).next().unwrap_or("").to_string())
                .collect();
            t.sort();
            t
        };
        for (m, l) in HQ_MYSQL_MIGRATIONS.iter().zip(HQ_SQLITE_MIGRATIONS) {
            assert_eq!(m.version, l.version);
            assert_eq!(tables(m.sql), tables(l.sql), "migration {}", m.version);
        }
    }

    #[test]
    fn pending_detects_changed_and_unknown_migrations() {
        let all = TILL_MIGRATIONS;
        assert_eq!(pending(all, &[]).unwrap().len(), all.len());
        let applied = vec![AppliedMigration {
            version: 1,
            checksum: all[0].checksum(),
        }];
        assert_eq!(pending(all, &applied).unwrap().len(), all.len() - 1);
        let tampered = vec![AppliedMigration {
            version: 1,
            checksum: "0".repeat(64),
        }];
        assert!(matches!(
            pending(all, &tampered),
            Err(MigrationError::ChecksumMismatch { version: 1, .. })
        ));
        let newer = vec![AppliedMigration {
            version: 999,
            checksum: String::new(),
        }];
        assert_eq!(
            pending(all, &newer),
            Err(MigrationError::UnknownVersion(999))
        );
    }

    #[test]
    fn scaled_integers_are_exact() {
        assert_eq!(money_to_db(dec!(12500)), Ok(1_250_000));
        assert_eq!(money_to_db(dec!(12500.5)), Ok(1_250_050));
        assert_eq!(money_to_db(dec!(-0.01)), Ok(-1));
        assert_eq!(money_from_db(1_250_050), dec!(12500.5));
        assert_eq!(quantity_to_db(dec!(1.25)), Ok(1250));
        assert!(matches!(
            money_to_db(dec!(0.001)),
            Err(ScaleError::TooPrecise { .. })
        ));
        assert!(matches!(
            money_to_db(dec!(100000000000000000000)),
            Err(ScaleError::OutOfRange(_))
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(10_000))]

        #[test]
        fn scaled_round_trip(m in -10_000_000_000_000i64..10_000_000_000_000, scale in 0u32..=3) {
            let d = Decimal::new(m, scale);
            prop_assert_eq!(from_scaled(to_scaled(d, 3).unwrap(), 3), d.normalize());
        }
    }
}
