//! The `Till`: one lane's engine. Opening, store setup, the clock, and the write path every
//! mutation goes through (one SQLite transaction for ledger rows, document changes and outbox
//! entries).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kasir_schema::domain::StoreConfig;
use kasir_schema::txn_number::{LaneNo, StoreCode, TxnNumber};
use rusqlite::{Connection, OptionalExtension, params};

use crate::auth::{AuthParams, Session};
use crate::cart::Cart;
use crate::db;
use crate::docs::DocStore;
use crate::env::Env;
use crate::error::{NodeError, Result};
use crate::handles::{Priority, WriteGate};

#[derive(Debug, Clone)]
pub struct TillOptions {
    /// The clock and randomness of this till (see [`crate::env`]).
    pub env: Env,
    pub auth: AuthParams,
}

impl TillOptions {
    pub fn new(env: Env) -> TillOptions {
        TillOptions {
            env,
            auth: AuthParams::default(),
        }
    }
}

/// One lane's engine.
#[derive(Debug)]
pub struct Till {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
    pub(crate) docs: DocStore,
    pub(crate) env: Env,
    pub(crate) auth: AuthParams,
    pub(crate) setup: Option<LaneSetup>,
    pub(crate) session: Option<Session>,
    pub(crate) cart: Cart,
    /// Committed changes for the live view, when watched (`Till::watch_live`).
    pub(crate) live: Option<crate::live::LiveBuffer>,
    /// Turns at writing with the other handles on this file, if any (see [`crate::handles`]).
    pub(crate) gate: Option<(Arc<WriteGate>, Priority)>,
    /// The lane's open shift, once read (`None`: not read yet).
    pub(crate) open_shift: std::cell::Cell<Option<Option<kasir_schema::domain::ShiftId>>>,
    /// Sales made durable whose projections are not written yet (`Till::commit_sale`).
    pub(crate) pending: Vec<crate::sale::PendingSale>,
}

/// See [`Till::diagnostics`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    pub documents: Vec<(crate::wire::DocName, crate::wire::Digest)>,
    pub products: i64,
    pub customers: i64,
    pub sales: i64,
    pub sale_lines: i64,
    pub returns: i64,
    /// Records not yet accepted by HQ.
    pub outbox_waiting: i64,
    /// Document records no projection could read (kept, listed in `unreadable_records`).
    pub unreadable_records: i64,
    /// SKUs whose stock is not the sum of their movements (I3); empty when all is well.
    pub stock_discrepancies: Vec<String>,
    /// Customers whose points are not the sum of their entries (I4); empty when all is well.
    pub loyalty_discrepancies: Vec<String>,
}

/// The store configuration plus this lane's number.
#[derive(Debug, Clone)]
pub struct LaneSetup {
    pub config: StoreConfig,
    pub lane: LaneNo,
}

impl Till {
    /// Opens the lane's database (creating it if the file does not exist).
    pub fn open(path: impl AsRef<Path>, options: TillOptions) -> Result<Till> {
        let path = path.as_ref().to_path_buf();
        let conn = db::open(&path, options.env.now())?;
        let actor: Option<String> = conn
            .query_row("SELECT actor_id FROM lane_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let actor = match actor {
            Some(a) => a,
            None => {
                let a: String = options
                    .env
                    .random_bytes::<16>()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                conn.execute(
                    "INSERT INTO lane_state (id, actor_id, next_seq) VALUES (1, ?1, 1)",
                    [&a],
                )?;
                a
            }
        };
        let setup = load_setup(&conn)?;
        let mut till = Till {
            docs: DocStore::new(&actor)?,
            conn,
            path,
            env: options.env,
            auth: options.auth,
            setup,
            session: None,
            cart: Cart::default(),
            live: None,
            gate: None,
            open_shift: std::cell::Cell::new(None),
            pending: Vec::new(),
        };
        till.recover_projections()?;
        Ok(till)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.env.now()
    }

    /// The environment this till runs with (clock and randomness).
    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn is_set_up(&self) -> bool {
        self.setup.is_some()
    }

    pub fn config(&self) -> Result<&StoreConfig> {
        self.setup
            .as_ref()
            .map(|s| &s.config)
            .ok_or(NodeError::NotInitialized)
    }

    pub fn lane(&self) -> Result<LaneNo> {
        self.setup
            .as_ref()
            .map(|s| s.lane)
            .ok_or(NodeError::NotInitialized)
    }

    /// First start of a lane: the store's configuration, this lane's number and the first
    /// manager account. Refused when the lane is already set up.
    pub fn set_up(
        &mut self,
        config: StoreConfig,
        lane: LaneNo,
        manager: crate::auth::NewUser,
    ) -> Result<()> {
        if let Some(s) = &self.setup {
            return Err(NodeError::AlreadyInitialized(s.config.code.to_string()));
        }
        if manager.role != kasir_schema::roles::Role::Manager {
            return Err(NodeError::Invalid(
                "the first account must be a manager".into(),
            ));
        }
        let hash = self.auth.hash(&manager.pin, self.env.random_bytes())?;
        let json = serde_json::to_string(&config)
            .map_err(|e| NodeError::Invalid(format!("store config: {e}")))?;
        let now = db::ts(self.now());
        let (tax_rate, cash_rounding) = (
            db::money(config.tax.rate.percent())?,
            db::money(config.cash_increment.get())?,
        );
        self.write(|tx, _| {
            tx.execute(
            "INSERT INTO store_config (id, store_id, store_name, store_address, lane_no, tax_rate,
                tax_inclusive, cash_rounding, currency, timezone, created_at, updated_at)
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
            params![
                config.code.as_str(),
                config.name,
                config.address,
                lane.get(),
                tax_rate,
                matches!(config.tax.mode, kasir_schema::tax::PriceMode::TaxInclusive),
                cash_rounding,
                config.currency.code(),
                config.timezone,
                now,
            ],
        )?;
            tx.execute(
                "INSERT INTO store_settings (id, settings_json) VALUES (1, ?1)",
                [&json],
            )?;
            crate::auth::insert_user(tx, &manager, &hash, &now)?;
            Ok(())
        })?;
        self.setup = Some(LaneSetup { config, lane });
        Ok(())
    }

    /// Takes turns at writing with another handle on the same file ([`crate::handles`]).
    pub fn share_writes(&mut self, gate: Arc<WriteGate>, priority: Priority) {
        self.gate = Some((gate, priority));
        self.docs.shared = true;
    }

    /// Runs `f` inside one SQLite transaction together with the document changes it makes.
    /// Either everything is stored, or nothing is and the touched documents are reloaded. The
    /// transaction takes the write lock at once (`BEGIN IMMEDIATE`), so documents caught up
    /// inside it cannot fall behind another handle's commit before this one commits.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        // Writes come after the projections of sales already committed (a safety net: the
        // caller of `commit_sale` projects them itself).
        if !self.pending.is_empty() {
            // (It takes the pending sales before its own write, so this does not recurse.)
            self.project_pending()?;
        }
        let gate = self.gate.clone();
        let _turn = gate.as_ref().map(|(g, who)| g.enter(*who));
        // BEGIN and COMMIT as cached statements: parsing them anew costs more than a lookup.
        self.conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let conn = &self.conn;
        let out = f(conn, &mut self.docs).and_then(|v| self.docs.flush(conn).map(|()| v));
        let out = match out {
            Ok(v) => v,
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                self.docs.rolled_back();
                return Err(e);
            }
        };
        if let Err(e) = self
            .conn
            .prepare_cached("COMMIT")
            .and_then(|mut c| c.execute([]))
        {
            let _ = self.conn.execute_batch("ROLLBACK");
            self.docs.rolled_back();
            return Err(e.into());
        }
        self.docs.committed();
        if let Some(buffer) = &mut self.live {
            let own = crate::docs::Origin::Lane(self.setup.as_ref().map_or(0, |s| s.lane.get()));
            // The transaction is committed: a failure here must not look like a failed sale.
            if crate::live::collect(&self.conn, buffer, own).is_err() {
                buffer.dropped += 1;
            }
        }
        Ok(out)
    }

    /// [`Till::write`] for what can be had again if power fails before the next durable
    /// commit: what a peer lane sent (that lane holds it durably; peers compare head digests
    /// whenever they connect, so it is fetched again), and the projections of a sale already
    /// durable in its ledger document (opening the lane projects it again). The commit is
    /// atomic and ordered like any other (WAL), but not fsynced on its own; the next durable
    /// commit or checkpoint makes it durable. Three quarters of a busy 4-lane store's commits
    /// are merges, so this halves the fsyncs per sale.
    pub(crate) fn write_unsynced<T>(
        &mut self,
        f: impl FnOnce(&Connection, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        let level: i64 = self
            .conn
            .prepare_cached("PRAGMA synchronous")?
            .query_row([], |r| r.get(0))?;
        // FULL (2) becomes NORMAL (1) for this one transaction; OFF stays off.
        if level < 2 {
            return self.write(f);
        }
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        let out = self.write(f);
        let restored = self.conn.pragma_update(None, "synchronous", "FULL");
        let out = out?;
        restored?;
        Ok(out)
    }

    /// The store code this lane was set up for.
    pub fn store_code(&self) -> Option<String> {
        self.setup.as_ref().map(|s| s.config.code.to_string())
    }

    /// Takes the next transaction number of this lane (inside the caller's transaction).
    pub(crate) fn next_number(tx: &Connection, setup: &LaneSetup) -> Result<TxnNumber> {
        let seq: i64 = tx
            .prepare_cached(
                "UPDATE lane_state SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq - 1",
            )?
            .query_row([], |r| r.get(0))?;
        let seq = u64::try_from(seq).map_err(|_| NodeError::Corrupt("sequence".into()))?;
        TxnNumber::new(setup.config.code.clone(), setup.lane, seq)
            .map_err(|e| NodeError::Corrupt(e.to_string()))
    }

    /// Appends a line to `system_logs`.
    pub(crate) fn log(
        tx: &Connection,
        level: &str,
        message: &str,
        context: serde_json::Value,
        user_id: Option<i64>,
        approved_by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        tx.prepare_cached(
            "INSERT INTO system_logs (level, message, context_json, user_id, approved_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            level,
            message,
            context.to_string(),
            user_id,
            approved_by,
            db::ts(at)
        ])?;
        Ok(())
    }

    /// Housekeeping for idle moments (between customers, at shift close): folds documents with
    /// many incremental changes into snapshots and checkpoints the WAL, so that neither happens
    /// inside a cashier's `pay`. Returns how many documents were compacted.
    pub fn maintenance(&mut self) -> Result<usize> {
        let ids = DocStore::stored_ids(&self.conn)?;
        let now = db::ts(self.now());
        let compacted = self.write(|tx, docs| {
            let mut n = 0;
            for id in ids {
                if docs.compact_if_needed(tx, id, &now)? {
                    n += 1;
                }
            }
            Ok(n)
        })?;
        self.conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(compacted)
    }

    /// The state of the lane's books, for a health screen and for comparing lanes: every
    /// document with its heads digest, row counts, and the conservation checks (I3, I4).
    pub fn diagnostics(&self) -> Result<Diagnostics> {
        let count = |sql: &'static str| -> Result<i64> {
            Ok(self.conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
        };
        Ok(Diagnostics {
            documents: self.document_manifest()?,
            products: count("SELECT count(*) FROM products")?,
            customers: count("SELECT count(*) FROM customers")?,
            sales: count("SELECT count(*) FROM transactions")?,
            sale_lines: count("SELECT count(*) FROM transaction_details")?,
            returns: count("SELECT count(*) FROM returns")?,
            outbox_waiting: self.outbox_waiting()?,
            unreadable_records: count("SELECT count(*) FROM unreadable_records")?,
            stock_discrepancies: self.stock_discrepancies()?,
            loyalty_discrepancies: self.loyalty_discrepancies()?,
        })
    }

    /// The lane's SQLite connection, for tests and benchmarks only (feature `inspect`, which no
    /// production crate enables): everything else reads through the typed queries above.
    #[cfg(feature = "inspect")]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn load_setup(conn: &Connection) -> Result<Option<LaneSetup>> {
    let row: Option<(String, u32)> = conn
        .query_row(
            "SELECT s.settings_json, c.lane_no FROM store_settings s, store_config c WHERE s.id = 1 AND c.id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((json, lane)) = row else {
        return Ok(None);
    };
    let config: StoreConfig = serde_json::from_str(&json)
        .map_err(|e| NodeError::Corrupt(format!("store settings: {e}")))?;
    let lane = LaneNo::new(lane).map_err(|e| NodeError::Corrupt(e.to_string()))?;
    Ok(Some(LaneSetup { config, lane }))
}

/// A store configuration with IDR defaults, for setup screens and tests.
pub fn default_store_config(code: &str, name: &str) -> Result<StoreConfig> {
    use kasir_schema::Decimal;
    Ok(StoreConfig {
        code: StoreCode::new(code).map_err(|e| NodeError::Invalid(e.to_string()))?,
        name: name.to_string(),
        address: None,
        currency: kasir_schema::Currency::Idr,
        tax: kasir_schema::tax::TaxConfig::default(),
        cash_increment: kasir_schema::CashIncrement::default(),
        timezone: "Asia/Jakarta".into(),
        nomenclature: kasir_schema::barcode::Nomenclature::default(),
        cashier_discount_limit_percent: Decimal::from(10),
        loyalty_spend_per_point: Decimal::from(10_000),
        loyalty_point_value: Decimal::from(100),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kasir_schema::roles::Role;

    fn manager(role: Role) -> crate::auth::NewUser {
        crate::auth::NewUser {
            username: "maya".into(),
            full_name: "Maya".into(),
            role,
            pin: "9999".into(),
        }
    }

    #[test]
    fn a_lane_is_set_up_once_with_a_manager() {
        let dir = tempfile::tempdir().unwrap();
        let options = TillOptions {
            env: Env::seeded(
                crate::env::ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
                1,
            ),
            auth: AuthParams::fast_for_tests(),
        };
        let mut till = Till::open(dir.path().join("lane.db"), options.clone()).unwrap();
        assert!(matches!(till.config(), Err(NodeError::NotInitialized)));
        assert!(matches!(
            till.login("maya", "9999"),
            Err(NodeError::NotInitialized)
        ));
        let cfg = default_store_config("JKT01", "Toko").unwrap();
        let lane = LaneNo::new(2).unwrap();
        assert!(
            till.set_up(cfg.clone(), lane, manager(Role::Cashier))
                .is_err()
        );
        till.set_up(cfg.clone(), lane, manager(Role::Manager))
            .unwrap();
        assert!(matches!(
            till.set_up(cfg, lane, manager(Role::Manager)),
            Err(NodeError::AlreadyInitialized(_))
        ));
        drop(till);
        let till = Till::open(dir.path().join("lane.db"), options).unwrap();
        assert_eq!(till.lane().unwrap(), lane);
        assert_eq!(till.config().unwrap().code.as_str(), "JKT01");
        assert!(default_store_config("jkt", "x").is_err());
    }
}
