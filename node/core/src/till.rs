//! The `Till`: one lane's engine. Opening, store setup, the clock, and the write path every
//! mutation goes through: one SQLite transaction in one of the lane's two files (`db::File`),
//! with the document changes it makes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kasir_schema::domain::StoreConfig;
use kasir_schema::txn_number::{LaneNo, StoreCode, TxnNumber};
use rusqlite::{Connection, OptionalExtension, params};

use crate::auth::{AuthParams, Session};
use crate::cart::Cart;
use crate::db;
use crate::db::File;
use crate::docs::{DocStore, Tx};
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
    /// The lane file.
    pub(crate) conn: Connection,
    /// The ledger file beside it (`db::File::Ledger`).
    pub(crate) ledger: Connection,
    /// This lane's number once set up: its ledger documents live in the ledger file.
    pub(crate) own: Option<u16>,
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
    /// Records made durable in the ledger file whose projections are not written yet
    /// (`Till::commit_sale`, `Till::project_pending`).
    pub(crate) pending: Vec<crate::sale::Pending>,
    /// Log lines were written to the ledger file since they were last copied to the lane file.
    pub(crate) logs_pending: bool,
    /// Changes from peers applied in memory and not stored yet (`Till::receive_sync_later`).
    pub(crate) received: std::collections::BTreeMap<crate::docs::DocId, crate::merge::Received>,
}

impl Drop for Till {
    /// A till that goes away leaves no place kept at the lane file
    /// ([`Till::try_project_pending`]), so the replica is never left waiting for it.
    fn drop(&mut self) {
        if let Some((gate, Priority::Till)) = &self.gate {
            gate.give_up_place(File::Main);
        }
    }
}

/// See [`Till::counts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counts {
    pub documents: Vec<(crate::wire::DocName, crate::wire::Digest)>,
    pub products: i64,
    pub customers: i64,
    pub sales: i64,
}

/// The lane's books in full ([`Till::diagnostics`]).
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
    /// Opens the lane (creating its files if they do not exist): the lane file at `path` and
    /// its ledger file beside it ([`db::ledger_path`]). A lane file whose ledger file is
    /// missing, or paired with another lane file, is refused: the ledger file holds this lane's
    /// sales and its transaction sequence.
    pub fn open(path: impl AsRef<Path>, options: TillOptions) -> Result<Till> {
        Till::open_handle(path.as_ref(), options, Priority::Till)
    }

    /// Opens a handle on the lane: the till's, which finishes what a stop left undone, or a
    /// replica's beside an open till (`Replica::open`), which leaves that to the till.
    pub(crate) fn open_handle(path: &Path, options: TillOptions, who: Priority) -> Result<Till> {
        let path = path.to_path_buf();
        let conn = db::open(&path, options.env.now())?;
        let state: Option<(String, Option<String>)> = conn
            .query_row(
                "SELECT actor_id, ledger_file_id FROM lane_state WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (actor, paired) = match state {
            Some(s) => s,
            None => {
                let a = hex(&options.env.random_bytes::<16>());
                conn.execute(
                    "INSERT INTO lane_state (id, actor_id, next_seq) VALUES (1, ?1, 1)",
                    [&a],
                )?;
                (a, None)
            }
        };
        let ledger_path = db::ledger_path(&path);
        if let Some(id) = &paired
            && !ledger_path.exists()
        {
            return Err(NodeError::ForeignDatabase {
                path: ledger_path,
                detail: format!(
                    "this lane's ledger file (id {id}) is missing: it holds the lane's own sales \
                     and its transaction sequence. Restore it beside {} from the same backup; \
                     the lane does not open without it, so no transaction number is issued twice",
                    path.display()
                ),
            });
        }
        let ledger = db::open_file(&ledger_path, File::Ledger, options.env.now())?;
        let file_id: Option<String> = ledger
            .query_row("SELECT file_id FROM ledger_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let (Some(want), Some(have)) = (&paired, &file_id)
            && want != have
        {
            return Err(NodeError::ForeignDatabase {
                path: ledger_path,
                detail: format!(
                    "ledger file {have} belongs to another lane file (this one expects {want})"
                ),
            });
        }
        if paired.is_some() && file_id.is_none() {
            return Err(NodeError::ForeignDatabase {
                path: ledger_path,
                detail: "the ledger file is empty but the lane file expects one with this lane's \
                         sales: restore both files from the same backup"
                    .into(),
            });
        }
        let setup = load_setup(&conn)?;
        let mut till = Till {
            docs: DocStore::new(&actor)?,
            conn,
            ledger,
            own: None,
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
            logs_pending: false,
            received: std::collections::BTreeMap::new(),
        };
        if who == Priority::Replica {
            if paired.is_none() {
                return Err(NodeError::NotInitialized);
            }
            till.own = till.setup.as_ref().map(|s| s.lane.get());
            return Ok(till);
        }
        if paired.is_none() {
            // First open with a ledger file: its own ledger documents are still in the lane
            // file. Project what a stop left unprojected there, then move them.
            till.recover_projections()?;
            till.move_to_ledger_file(file_id)?;
            till.docs = DocStore::new(&actor)?;
        }
        till.own = till.setup.as_ref().map(|s| s.lane.get());
        // Sales a stop left in the ledger file's inbox go into their documents first; their
        // projections follow with the rest.
        let held: i64 = till
            .ledger
            .query_row("SELECT COUNT(*) FROM ledger_inbox", [], |r| r.get(0))?;
        if held > 0 {
            till.write_ledger(crate::sale::move_inbox)?;
        }
        till.recover_projections()?;
        Ok(till)
    }

    /// Moves this lane's own ledger documents and its sequence from the lane file into the
    /// (new) ledger file and pairs the two: one transaction in the ledger file, then one in the
    /// lane file. A stop in between finds the ledger file filled and finishes the second.
    fn move_to_ledger_file(&mut self, file_id: Option<String>) -> Result<()> {
        let own = self.setup.as_ref().map(|s| s.lane.get());
        let pattern = own.map(|n| format!("ledger/%/{n:03}"));
        let file_id = match file_id {
            Some(id) => id,
            None => {
                let id = hex(&self.env.random_bytes::<16>());
                let next_seq: i64 = self.conn.query_row(
                    "SELECT next_seq FROM lane_state WHERE id = 1",
                    [],
                    |r| r.get(0),
                )?;
                let (main, ledger) = (&self.conn, &self.ledger);
                ledger.execute_batch("BEGIN IMMEDIATE")?;
                let copied = (|| -> Result<()> {
                    if let Some(p) = &pattern {
                        let mut docs = main.prepare(
                            "SELECT doc_id, snapshot, heads, updated_at FROM crdt_docs WHERE doc_id LIKE ?1",
                        )?;
                        let mut rows = docs.query([p])?;
                        while let Some(r) = rows.next()? {
                            // Change rows get new ids here; the snapshot folds none of them.
                            ledger.execute(
                                "INSERT INTO crdt_docs (doc_id, snapshot, heads, updated_at, through_change)
                                 VALUES (?1, ?2, ?3, ?4, 0)",
                                params![
                                    r.get::<_, String>(0)?,
                                    r.get::<_, Vec<u8>>(1)?,
                                    r.get::<_, Vec<u8>>(2)?,
                                    r.get::<_, String>(3)?
                                ],
                            )?;
                        }
                        let mut changes = main.prepare(
                            "SELECT doc_id, bytes, heads FROM crdt_changes WHERE doc_id LIKE ?1 ORDER BY id",
                        )?;
                        let mut rows = changes.query([p])?;
                        while let Some(r) = rows.next()? {
                            ledger.execute(
                                "INSERT INTO crdt_changes (doc_id, bytes, heads) VALUES (?1, ?2, ?3)",
                                params![
                                    r.get::<_, String>(0)?,
                                    r.get::<_, Vec<u8>>(1)?,
                                    r.get::<_, Vec<u8>>(2)?
                                ],
                            )?;
                        }
                    }
                    ledger.execute(
                        "INSERT INTO ledger_state (id, file_id, next_seq) VALUES (1, ?1, ?2)",
                        params![id, next_seq],
                    )?;
                    Ok(())
                })();
                match copied.and_then(|()| Ok(ledger.execute_batch("COMMIT")?)) {
                    Ok(()) => {}
                    Err(e) => {
                        let _ = ledger.execute_batch("ROLLBACK");
                        return Err(e);
                    }
                }
                id
            }
        };
        let pattern = pattern.unwrap_or_default();
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        let paired = (|| -> Result<()> {
            self.conn
                .execute("DELETE FROM crdt_changes WHERE doc_id LIKE ?1", [&pattern])?;
            self.conn
                .execute("DELETE FROM crdt_docs WHERE doc_id LIKE ?1", [&pattern])?;
            let through = crate::docs::last_change_row(&self.ledger)?;
            self.conn.execute(
                "UPDATE lane_state SET ledger_file_id = ?1, projected_through = ?2, logs_through = 0 WHERE id = 1",
                params![file_id, through],
            )?;
            Ok(())
        })();
        match paired.and_then(|()| Ok(self.conn.execute_batch("COMMIT")?)) {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
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
        self.own = Some(lane.get());
        self.setup = Some(LaneSetup { config, lane });
        Ok(())
    }

    /// Takes turns at writing with another handle on the same file ([`crate::handles`]).
    pub fn share_writes(&mut self, gate: Arc<WriteGate>, priority: Priority) {
        self.gate = Some((gate, priority));
        self.docs.shared = true;
    }

    /// Runs `f` inside one SQLite transaction of the lane file together with the document
    /// changes it makes, `synchronous = FULL`. Either everything is stored, or nothing is and
    /// the touched documents are reloaded.
    pub(crate) fn write<T>(
        &mut self,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        self.write_in(File::Main, true, f)
    }

    /// [`Till::write`] in the ledger file: this lane's own ledger documents, its sequence and
    /// the log lines written with them. Only the till writes there, so it never waits for a
    /// merge.
    pub(crate) fn write_ledger<T>(
        &mut self,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        self.write_in(File::Ledger, true, f)
    }

    /// [`Till::write`] for what can be had again if power fails before the lane file's next
    /// durable commit: what a peer lane sent (that lane holds it durably; peers compare head
    /// digests whenever they connect, so it is fetched again), and the projections of records
    /// already durable in the ledger file (opening the lane projects them again). The commit
    /// is atomic and ordered like any other (WAL), but not fsynced on its own; the next durable
    /// commit or checkpoint of the lane file makes it durable.
    pub(crate) fn write_unsynced<T>(
        &mut self,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        self.write_in(File::Main, false, f)
    }

    /// One transaction in `file`; `synced`: fsynced before it returns (when the connection
    /// runs `synchronous = FULL`). The transaction takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so documents caught up inside it cannot fall behind another
    /// handle's commit before this one commits.
    pub(crate) fn write_in<T>(
        &mut self,
        file: File,
        synced: bool,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        // Writes come after the projections of records already committed (a safety net: the
        // caller of `commit_sale` projects them itself). `project_pending` takes them before
        // its own write, so this does not recurse.
        if !self.pending.is_empty() {
            self.project_pending()?;
        }
        self.write_before_projections(file, synced, f)
    }

    /// [`Till::write_in`] without writing first the projections still pending (its safety
    /// net): only for a write that reads no projection of the records before it — a sale's
    /// commit without a customer ([`Till::commit_sale`]) — so that it never waits for a merge
    /// writing the lane file.
    pub(crate) fn write_before_projections<T>(
        &mut self,
        file: File,
        synced: bool,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        let gate = self.gate.clone();
        let _turn = gate.as_ref().map(|(g, who)| g.enter(file, *who));
        self.write_in_turn(file, synced, f)
    }

    /// [`Till::write_in`] for a caller that holds its turn at writing `file` (or shares no
    /// gate).
    pub(crate) fn write_in_turn<T>(
        &mut self,
        file: File,
        synced: bool,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        let conn = match file {
            File::Main => &self.conn,
            File::Ledger => &self.ledger,
        };
        // FULL (2) becomes NORMAL (1) for an unsynced transaction; OFF stays off.
        let relaxed = !synced && {
            let level: i64 = conn
                .prepare_cached("PRAGMA synchronous")?
                .query_row([], |r| r.get(0))?;
            level >= 2
        };
        if relaxed {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        let out = Self::transaction(
            conn,
            &Tx::new(&self.conn, &self.ledger, self.own, file),
            &mut self.docs,
            f,
        );
        if relaxed {
            let restored = conn.pragma_update(None, "synchronous", "FULL");
            if out.is_ok() {
                restored?;
            }
        }
        let out = out?;
        if file == File::Main
            && let Some(buffer) = &mut self.live
        {
            let own = crate::docs::Origin::Lane(self.own.unwrap_or(0));
            // The transaction is committed: a failure here must not look like a failed sale.
            if crate::live::collect(&self.conn, buffer, own).is_err() {
                buffer.dropped += 1;
            }
        }
        Ok(out)
    }

    fn transaction<T>(
        conn: &Connection,
        tx: &Tx<'_>,
        docs: &mut DocStore,
        f: impl FnOnce(&Tx<'_>, &mut DocStore) -> Result<T>,
    ) -> Result<T> {
        // BEGIN and COMMIT as cached statements: parsing them anew costs more than a lookup.
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        let out = f(tx, docs).and_then(|v| docs.flush(tx).map(|()| v));
        let out = match out {
            Ok(v) => v,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                docs.rolled_back();
                return Err(e);
            }
        };
        if let Err(e) = conn
            .prepare_cached("COMMIT")
            .and_then(|mut c| c.execute([]))
        {
            let _ = conn.execute_batch("ROLLBACK");
            docs.rolled_back();
            return Err(e.into());
        }
        docs.committed();
        Ok(out)
    }

    /// Both files as a read sees them.
    pub(crate) fn reader(&self) -> Tx<'_> {
        Tx::new(&self.conn, &self.ledger, self.own, File::Main)
    }

    /// A document for reading, from whichever file holds it.
    pub(crate) fn doc(&mut self, id: crate::docs::DocId) -> Result<&mut automerge::AutoCommit> {
        let tx = Tx::new(&self.conn, &self.ledger, self.own, File::Main);
        self.docs.get(&tx, id)
    }

    /// The store code this lane was set up for.
    pub fn store_code(&self) -> Option<String> {
        self.setup.as_ref().map(|s| s.config.code.to_string())
    }

    /// Takes the next transaction number of this lane (inside the caller's transaction of the
    /// ledger file).
    pub(crate) fn next_number(tx: &Tx<'_>, setup: &LaneSetup) -> Result<TxnNumber> {
        if tx.file() != File::Ledger {
            return Err(NodeError::Corrupt(
                "a transaction number is only taken in the ledger file".into(),
            ));
        }
        let seq: i64 = tx
            .prepare_cached(
                "UPDATE ledger_state SET next_seq = next_seq + 1 WHERE id = 1 RETURNING next_seq - 1",
            )?
            .query_row([], |r| r.get(0))?;
        let seq = u64::try_from(seq).map_err(|_| NodeError::Corrupt("sequence".into()))?;
        TxnNumber::new(setup.config.code.clone(), setup.lane, seq)
            .map_err(|e| NodeError::Corrupt(e.to_string()))
    }

    /// Appends a line to `system_logs`, or, in a transaction of the ledger file, to its
    /// `ledger_logs` (copied into `system_logs` with the projections of the records written
    /// with it, `Till::copy_ledger_logs`).
    pub(crate) fn log(
        tx: &Tx<'_>,
        level: &str,
        message: &str,
        context: serde_json::Value,
        user_id: Option<i64>,
        approved_by: Option<i64>,
        at: DateTime<Utc>,
    ) -> Result<()> {
        tx.prepare_cached(match tx.file() {
            File::Main => {
                "INSERT INTO system_logs (level, message, context_json, user_id, approved_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            }
            File::Ledger => {
                "INSERT INTO ledger_logs (level, message, context_json, user_id, approved_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            }
        })?
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

    /// Copies the log lines of the ledger file not copied yet into `system_logs` (inside the
    /// caller's transaction of the lane file).
    pub(crate) fn copy_ledger_logs(tx: &Tx<'_>) -> Result<usize> {
        let through: i64 = tx
            .main()
            .prepare_cached("SELECT logs_through FROM lane_state WHERE id = 1")?
            .query_row([], |r| r.get(0))?;
        let mut read = tx.ledger().prepare_cached(
            "SELECT id, level, message, context_json, user_id, approved_by, created_at
             FROM ledger_logs WHERE id > ?1 ORDER BY id",
        )?;
        let mut rows = read.query([through])?;
        let mut insert = tx.main().prepare_cached(
            "INSERT INTO system_logs (level, message, context_json, user_id, approved_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        let (mut last, mut n) = (through, 0);
        while let Some(r) = rows.next()? {
            last = r.get(0)?;
            insert.execute(params![
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
                r.get::<_, Option<i64>>(5)?,
                r.get::<_, String>(6)?
            ])?;
            n += 1;
        }
        if n > 0 {
            tx.main()
                .prepare_cached("UPDATE lane_state SET logs_through = ?1 WHERE id = 1")?
                .execute([last])?;
        }
        Ok(n)
    }

    /// Housekeeping for idle moments (between customers, at shift close): folds documents with
    /// many incremental changes into snapshots and checkpoints the WAL, so that neither happens
    /// inside a cashier's `pay`. Returns how many documents were compacted. While a replica
    /// keeps the lane file ([`crate::handles::Replica::keep_lane_file`]), only the ledger file:
    /// what merges wrote is the replicator's to fold and checkpoint, on its own thread.
    pub fn maintenance(&mut self) -> Result<usize> {
        let lane_file_kept = self.gate.as_ref().is_some_and(|(g, _)| g.lane_file_kept());
        let mut compacted = 0;
        for file in [File::Main, File::Ledger] {
            if !(file == File::Main && lane_file_kept) {
                compacted += self.fold_and_checkpoint(file)?;
            }
        }
        Ok(compacted)
    }

    /// The housekeeping of one file: each document due for folding (`DocStore::
    /// due_for_compaction`, one query) folded in a write turn of its own, so that another
    /// handle's write waits for at most one document's compaction, then a checkpoint. The till
    /// runs it from [`Till::maintenance`], the replica for the lane file it keeps
    /// (`Replica::upkeep`). Returns how many documents were compacted.
    pub(crate) fn fold_and_checkpoint(&mut self, file: File) -> Result<usize> {
        let ids = DocStore::due_for_compaction(self.file_conn(file), crate::docs::COMPACT_AFTER)?;
        let now = db::ts(self.now());
        let mut compacted = 0;
        for id in ids {
            if self.write_in(file, true, |tx, docs| docs.compact_if_needed(tx, id, &now))? {
                compacted += 1;
            }
        }
        // Copies what the WAL holds into the file, as far as no reader needs it, without
        // waiting for anyone.
        self.file_conn(file)
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(compacted)
    }

    fn file_conn(&self, file: File) -> &Connection {
        match file {
            File::Main => &self.conn,
            File::Ledger => &self.ledger,
        }
    }

    /// What the lane holds, cheaply (no conservation check): every document with its heads
    /// digest and the products, customers and sales, for comparing lanes often.
    pub fn counts(&self) -> Result<Counts> {
        let count = |sql: &'static str| -> Result<i64> {
            Ok(self.conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
        };
        Ok(Counts {
            documents: self.document_manifest()?,
            products: count("SELECT count(*) FROM products")?,
            customers: count("SELECT count(*) FROM customers")?,
            sales: count("SELECT count(*) FROM transactions")?,
        })
    }

    /// The state of the lane's books, for a health screen and for comparing lanes: every
    /// document with its heads digest, row counts, and the conservation checks (I3, I4).
    pub fn diagnostics(&self) -> Result<Diagnostics> {
        let count = |sql: &'static str| -> Result<i64> {
            Ok(self.conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
        };
        let Counts {
            documents,
            products,
            customers,
            sales,
        } = self.counts()?;
        Ok(Diagnostics {
            documents,
            products,
            customers,
            sales,
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

    /// The connection of the lane's ledger file; see [`Till::connection`].
    #[cfg(feature = "inspect")]
    pub fn ledger_connection(&self) -> &Connection {
        &self.ledger
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
        assert!(default_store_config("jkt 01", "x").is_err());
        assert!(default_store_config("-jkt", "x").is_err());
    }
}
