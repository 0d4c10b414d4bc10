//! The lane's Automerge documents, persisted in its SQLite file.
//!
//! Layout (bounded growth, I6):
//! - `catalog/NN`: the catalog in [`CATALOG_SHARDS`] shards by SKU hash (~1,600 products each at
//!   100k), so an edit loads one small document, never the whole catalog;
//! - `categories`: product categories (a few hundred at most, one document);
//! - `customers/NN`: customer profiles in [`CUSTOMER_SHARDS`] shards;
//! - `ledger/YYYY-MM-DD/LLL` and `ledger/YYYY-MM-DD/hq`: one document per origin (a lane, or HQ)
//!   and UTC day, holding the immutable records that origin created that day: sales, returns,
//!   stand-alone stock movements. A sale's stock movements and loyalty entries are derived from
//!   the sale record (deterministic ids), so one sale is one record. Old days are never loaded
//!   at start-up, and a lane only ever writes its own documents and `hq` ones.
//!
//! Every document keeps its data in flat keys of the root map (`<record key>\x1f<field>` or
//! `<kind>\x1f<id>`): no nested object is ever created, so two lanes can never create competing
//! objects whose contents would vanish on merge. Immutable records are written once under their
//! own id, so applying one twice — on one lane or concurrently on two — stores it once (I3, I4).
//!
//! Storage: a compacted snapshot (`crdt_docs`) plus the incremental changes saved since
//! (`crdt_changes`), appended through the caller's SQLite transaction, so a document change
//! commits together with the ledger rows it belongs to (I2).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use automerge::{
    ActorId, AutoCommit, ROOT, ReadDoc, ScalarValue, Value, transaction::Transactable,
};
use chrono::NaiveDate;
use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{NodeError, Result};
use crate::wire::DocName;

pub const CATALOG_SHARDS: u32 = 64;
pub const CUSTOMER_SHARDS: u32 = 32;
/// Separates the parts of a flat key. Refused inside SKUs and ids.
pub const SEP: char = '\u{1f}';
/// Incremental changes kept per document before they are folded into its snapshot.
pub const COMPACT_AFTER: i64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocId {
    Catalog(u32),
    /// Product categories (few, so one document).
    Categories,
    Customers(u32),
    /// The records one origin created on one UTC day.
    Ledger(NaiveDate, Origin),
    /// The store's enrolled lanes (iroh node ids), for the LAN's admission checks.
    Members,
    /// The records HQ confirmed on one UTC day (written by the leader; `hq.rs`).
    Synced(NaiveDate),
    /// The store's settings that travel between lanes: HQ's address and the store's
    /// credential (`hq.rs`).
    Settings,
}

/// Who creates the records of a ledger document: one lane (its sales, returns, receipts and
/// counts), or HQ (adjustments and transfers, applied by whichever lane leads). Every ledger
/// document thus has a single writer, except `hq`, whose records are written under their own
/// ids by every lane that applies them and merge into one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    Lane(u16),
    Hq,
}

impl DocId {
    pub fn catalog_for(sku: &str) -> DocId {
        DocId::Catalog(fnv1a(sku.as_bytes()) % CATALOG_SHARDS)
    }

    pub fn customers_for(id: &str) -> DocId {
        DocId::Customers(fnv1a(id.as_bytes()) % CUSTOMER_SHARDS)
    }

    pub fn name(&self) -> String {
        match self {
            DocId::Catalog(n) => format!("catalog/{n:02}"),
            DocId::Categories => "categories".to_string(),
            DocId::Members => "members".to_string(),
            DocId::Settings => "settings".to_string(),
            DocId::Customers(n) => format!("customers/{n:02}"),
            DocId::Ledger(d, Origin::Lane(n)) => format!("ledger/{}/{n:03}", d.format("%Y-%m-%d")),
            DocId::Ledger(d, Origin::Hq) => format!("ledger/{}/hq", d.format("%Y-%m-%d")),
            DocId::Synced(d) => format!("synced/{}", d.format("%Y-%m-%d")),
        }
    }

    /// The name as it travels (always a valid [`DocName`]).
    pub fn doc_name(&self) -> DocName {
        DocName(self.name())
    }

    pub fn parse(s: &str) -> Option<DocId> {
        match s {
            "categories" => return Some(DocId::Categories),
            "members" => return Some(DocId::Members),
            "settings" => return Some(DocId::Settings),
            _ => {}
        }
        let (kind, rest) = s.split_once('/')?;
        match kind {
            "catalog" => rest
                .parse()
                .ok()
                .filter(|n| *n < CATALOG_SHARDS)
                .map(DocId::Catalog),
            "customers" => rest
                .parse()
                .ok()
                .filter(|n| *n < CUSTOMER_SHARDS)
                .map(DocId::Customers),
            "ledger" => {
                let (day, origin) = rest.split_once('/')?;
                let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
                let origin = match origin {
                    "hq" => Origin::Hq,
                    n if n.len() == 3 => {
                        Origin::Lane(n.parse().ok().filter(|n| (1..=999).contains(n))?)
                    }
                    _ => return None,
                };
                Some(DocId::Ledger(day, origin))
            }
            "synced" => NaiveDate::parse_from_str(rest, "%Y-%m-%d")
                .ok()
                .filter(|d| d.format("%Y-%m-%d").to_string() == rest)
                .map(DocId::Synced),
            _ => None,
        }
    }
}

/// FNV-1a: stable across platforms and releases (unlike `std`'s hasher), so every lane puts a
/// SKU in the same shard.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// A lane's two files as one transaction (or a read) sees them: the lane file and its ledger
/// file (this lane's own ledger documents, `db::File::Ledger`). Dereferences to the connection
/// the transaction writes, so SQL inside a transaction reads as before; documents are reached
/// in whichever file holds them.
#[derive(Debug, Clone, Copy)]
pub struct Tx<'a> {
    target: &'a Connection,
    main: &'a Connection,
    ledger: &'a Connection,
    /// This lane's number: its ledger documents live in the ledger file.
    own: Option<u16>,
    file: crate::db::File,
}

impl<'a> Tx<'a> {
    /// `file` of the two, written by the transaction being built (or read).
    pub fn new(
        main: &'a Connection,
        ledger: &'a Connection,
        own: Option<u16>,
        file: crate::db::File,
    ) -> Tx<'a> {
        let target = match file {
            crate::db::File::Main => main,
            crate::db::File::Ledger => ledger,
        };
        Tx {
            target,
            main,
            ledger,
            own,
            file,
        }
    }

    /// Which file holds a document.
    pub fn file_of(&self, id: DocId) -> crate::db::File {
        match id {
            DocId::Ledger(_, Origin::Lane(n)) if Some(n) == self.own => crate::db::File::Ledger,
            _ => crate::db::File::Main,
        }
    }

    /// The connection of the file holding a document.
    pub fn conn_of(&self, id: DocId) -> &'a Connection {
        match self.file_of(id) {
            crate::db::File::Main => self.main,
            crate::db::File::Ledger => self.ledger,
        }
    }

    /// The lane file (projections, users, shifts, the outbox).
    pub fn main(&self) -> &'a Connection {
        self.main
    }

    pub fn ledger(&self) -> &'a Connection {
        self.ledger
    }

    /// The file this transaction writes.
    pub fn file(&self) -> crate::db::File {
        self.file
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.target
    }
}

/// A document is only ever written in a transaction of the file that holds it.
fn in_file(tx: &Tx<'_>, id: DocId) -> Result<()> {
    if tx.file_of(id) == tx.file() {
        return Ok(());
    }
    Err(NodeError::Corrupt(format!(
        "document {} written in a transaction of the other file",
        id.name()
    )))
}

/// The lane's documents: loaded lazily, cached, written through the caller's transaction.
#[derive(Debug)]
pub struct DocStore {
    actor: ActorId,
    cache: HashMap<DocId, AutoCommit>,
    /// Heads already stored, per cached document. (`AutoCommit::save_incremental` after a load
    /// would save the whole history again: its own cursor starts empty.)
    saved: HashMap<DocId, Vec<automerge::ChangeHash>>,
    /// Documents edited inside the current SQLite transaction.
    touched: HashSet<DocId>,
    /// Of those, the ones whose heads moved (flushed a change) in the current transaction.
    moved: BTreeSet<DocId>,
    /// Documents whose heads moved in committed transactions since the last
    /// [`DocStore::take_changed`].
    changed: BTreeSet<DocId>,
    /// Incremental change rows per cached document (counted at load, then kept in step), so
    /// deciding whether to compact costs no query.
    pending_rows: HashMap<DocId, i64>,
    /// The last change row each cached document incorporates: rows after it were appended by
    /// another handle on the same file and are applied before the document is used.
    last_row: HashMap<DocId, i64>,
    /// Another handle writes the same file (`Till::share_writes`): catch up before each use. A
    /// lone handle skips the check (one query per document use).
    pub(crate) shared: bool,
}

impl DocStore {
    pub fn new(actor_hex: &str) -> Result<DocStore> {
        let bytes = (0..actor_hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(actor_hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| NodeError::Corrupt(format!("actor id {actor_hex:?}")))?;
        Ok(DocStore {
            actor: ActorId::from(bytes),
            cache: HashMap::new(),
            saved: HashMap::new(),
            touched: HashSet::new(),
            moved: BTreeSet::new(),
            pending_rows: HashMap::new(),
            changed: BTreeSet::new(),
            last_row: HashMap::new(),
            shared: false,
        })
    }

    /// Loads a document: its snapshot, then its change rows. Returns it with the number of rows
    /// and the last row it incorporates.
    ///
    /// The two reads are separate statements, and the other handle on the file may compact the
    /// document between them (folding rows into a new snapshot and deleting them): the rows
    /// read then start after rows this read never saw, and Automerge keeps their changes aside
    /// waiting for missing dependencies. Such a load is done again.
    fn load(&self, conn: &Connection, id: DocId) -> Result<(AutoCommit, i64, i64)> {
        let name = id.name();
        for _ in 0..8 {
            let snapshot: Option<(Vec<u8>, i64)> = conn
                .prepare_cached("SELECT snapshot, through_change FROM crdt_docs WHERE doc_id = ?1")?
                .query_row([&name], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (mut doc, mut last) = match snapshot {
                Some((bytes, through)) => (
                    AutoCommit::load(&bytes)
                        .map_err(|e| NodeError::Corrupt(format!("document {name}: {e}")))?,
                    through,
                ),
                None => (AutoCommit::new(), 0),
            };
            let n = apply_rows(conn, &mut doc, &name, 0, &mut last)?;
            if doc.get_missing_deps(&[]).is_empty() {
                doc.set_actor(self.actor.clone());
                return Ok((doc, n, last));
            }
        }
        Err(NodeError::Corrupt(format!(
            "document {name}: its change rows depend on changes the file does not hold"
        )))
    }

    /// Brings a cached document up to date with rows another handle appended, or reloads it
    /// when a compaction folded rows it never saw.
    fn catch_up(&mut self, tx: &Tx<'_>, id: DocId) -> Result<()> {
        let conn = tx.conn_of(id);
        if !self.shared {
            return Ok(());
        }
        let Some(last) = self.last_row.get(&id).copied() else {
            return Ok(());
        };
        let name = id.name();
        let (newest, through): (i64, i64) = conn
            .prepare_cached(
                "SELECT COALESCE((SELECT MAX(id) FROM crdt_changes WHERE doc_id = ?1), 0),
                        COALESCE((SELECT through_change FROM crdt_docs WHERE doc_id = ?1), 0)",
            )?
            .query_row([&name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        if through > last {
            // The other handle compacted it.
            return self.reload_keeping(conn, id);
        }
        if newest <= last {
            return Ok(());
        }
        let Some(doc) = self.cache.get_mut(&id) else {
            return Ok(());
        };
        let mut seen = last;
        let n = apply_rows(conn, doc, &name, last, &mut seen)?;
        // What is stored now: the heads the newest row records (the cached document may also
        // hold changes received but not stored yet, `Till::receive_sync_later`).
        let stored: Option<Vec<u8>> = conn
            .prepare_cached("SELECT heads FROM crdt_changes WHERE id = ?1")?
            .query_row([seen], |r| r.get(0))
            .optional()?;
        match stored {
            Some(stored) if doc.get_missing_deps(&[]).is_empty() => {
                self.saved.insert(id, decode_heads(&stored));
                *self.pending_rows.entry(id).or_default() += n;
                self.last_row.insert(id, seen);
                Ok(())
            }
            // The other handle compacted it between the query above and reading the rows: the
            // rows read follow rows this handle never saw, and their changes wait for missing
            // dependencies (found by lan_bench: a lane whose replica missed its own latest
            // sales for good, while announcing heads its peers already had).
            _ => self.reload_keeping(conn, id),
        }
    }

    /// Reads a cached document again from the file. What this handle holds in memory and has
    /// not stored (changes received from a peer, `Till::receive_sync_later`) is merged back
    /// into it, or it would be lost while the peer believes it delivered.
    fn reload_keeping(&mut self, conn: &Connection, id: DocId) -> Result<()> {
        let held = self.cache.remove(&id);
        self.forget(id);
        let Some(mut held) = held else {
            return Ok(());
        };
        let (mut doc, rows, last) = self.load(conn, id)?;
        self.saved.insert(id, doc.get_heads());
        self.pending_rows.insert(id, rows);
        self.last_row.insert(id, last);
        doc.merge(&mut held)
            .map_err(|e| NodeError::Document(format!("{}: {e}", id.name())))?;
        self.cache.insert(id, doc);
        Ok(())
    }

    /// Drops a cached document (it is loaded again from the file on next use).
    pub(crate) fn forget(&mut self, id: DocId) {
        self.cache.remove(&id);
        self.saved.remove(&id);
        self.pending_rows.remove(&id);
        self.last_row.remove(&id);
    }

    /// A document for reading (loaded on first use).
    pub fn get(&mut self, tx: &Tx<'_>, id: DocId) -> Result<&mut AutoCommit> {
        self.catch_up(tx, id)?;
        if !self.cache.contains_key(&id) {
            let (mut doc, rows, last) = self.load(tx.conn_of(id), id)?;
            self.saved.insert(id, doc.get_heads());
            self.pending_rows.insert(id, rows);
            self.last_row.insert(id, last);
            self.cache.insert(id, doc);
        }
        self.cache
            .get_mut(&id)
            .ok_or_else(|| NodeError::Document("document vanished from the cache".into()))
    }

    /// Changes a document. The change is stored by [`DocStore::flush`], which the caller runs
    /// inside the same SQLite transaction before committing it, so all edits of one
    /// transaction become one Automerge change per document.
    pub fn edit<T>(
        &mut self,
        tx: &Tx<'_>,
        id: DocId,
        f: impl FnOnce(&mut AutoCommit) -> Result<T>,
    ) -> Result<T> {
        in_file(tx, id)?;
        self.touched.insert(id);
        let doc = self.get(tx, id)?;
        f(doc)
    }

    /// Appends the pending changes of every touched document through the transaction.
    pub fn flush(&mut self, tx: &Tx<'_>) -> Result<()> {
        let conn: &Connection = tx;
        let mut ids: Vec<DocId> = self.touched.iter().copied().collect();
        ids.sort();
        for id in ids {
            let Some(doc) = self.cache.get_mut(&id) else {
                continue;
            };
            doc.commit();
            let heads = doc.get_heads();
            let saved = self.saved.entry(id).or_default();
            if *saved == heads {
                continue;
            }
            let bytes = doc.save_after(saved);
            conn.prepare_cached(
                "INSERT INTO crdt_changes (doc_id, bytes, heads) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id.name(), bytes, encode_heads(&heads)])?;
            *saved = heads;
            self.last_row.insert(id, conn.last_insert_rowid());
            *self.pending_rows.entry(id).or_default() += 1;
            self.moved.insert(id);
        }
        Ok(())
    }

    /// Merges changes received from another lane into a document (stored by the next
    /// [`DocStore::flush`]). Returns whether the document changed.
    pub fn merge_remote(&mut self, tx: &Tx<'_>, id: DocId, changes: &[u8]) -> Result<bool> {
        // `load_incremental` skips what it cannot parse; a peer's bytes must decode completely
        // or be refused before they touch the document.
        AutoCommit::load_with_options(
            changes,
            automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error),
        )
        .map_err(|e| NodeError::Invalid(format!("changes for {}: {e}", id.name())))?;
        in_file(tx, id)?;
        self.touched.insert(id);
        let doc = self.get(tx, id)?;
        let before = doc.get_heads();
        doc.load_incremental(changes)
            .map_err(|e| NodeError::Invalid(format!("changes for {}: {e}", id.name())))?;
        Ok(doc.get_heads() != before)
    }

    /// Everything this lane has of a document (what another lane needs to catch up fully).
    pub fn export(&mut self, tx: &Tx<'_>, id: DocId) -> Result<Vec<u8>> {
        Ok(self.get(tx, id)?.save())
    }

    /// Call after the caller's transaction committed.
    pub fn committed(&mut self) {
        self.touched.clear();
        self.changed.append(&mut self.moved);
    }

    /// Documents changed since the last call (what replication should offer its peers).
    pub fn take_changed(&mut self) -> Vec<DocId> {
        std::mem::take(&mut self.changed).into_iter().collect()
    }

    /// Call after the caller's transaction rolled back: the cached copies of touched documents
    /// hold changes that were never stored, so they are dropped and reloaded on next use.
    pub fn rolled_back(&mut self) {
        self.moved.clear();
        let touched: Vec<DocId> = self.touched.drain().collect();
        for id in touched {
            self.forget(id);
        }
    }

    /// Folds a document's incremental changes into its snapshot when there are many.
    pub fn compact_if_needed(&mut self, tx: &Tx<'_>, id: DocId, now: &str) -> Result<bool> {
        self.compact(tx, id, COMPACT_AFTER, now)
    }

    /// Folds a document's incremental changes into its snapshot when there are at least
    /// `min_changes` of them.
    pub fn compact(&mut self, tx: &Tx<'_>, id: DocId, min_changes: i64, now: &str) -> Result<bool> {
        if tx.file_of(id) != tx.file() {
            return Ok(false);
        }
        let conn: &Connection = tx;
        let name = id.name();
        self.flush(tx)?;
        // A cached document knows its row count once it has caught up with the rows another
        // handle appended; any other is counted in SQL, so checking a year of ledger documents
        // does not load them.
        self.catch_up(tx, id)?;
        let rows = match self.pending_rows.get(&id) {
            Some(n) => *n,
            None => conn
                .prepare_cached("SELECT count(*) FROM crdt_changes WHERE doc_id = ?1")?
                .query_row([&name], |r| r.get(0))?,
        };
        if rows < min_changes {
            return Ok(false);
        }
        let doc = self.get(tx, id)?;
        let heads = encode_heads(&doc.get_heads());
        let bytes = doc.save();
        let through = self.last_row.get(&id).copied().unwrap_or(0);
        conn.execute(
            "INSERT INTO crdt_docs (doc_id, snapshot, heads, updated_at, through_change)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(doc_id) DO UPDATE SET snapshot = excluded.snapshot, heads = excluded.heads,
                updated_at = excluded.updated_at, through_change = excluded.through_change",
            params![name, bytes, heads, now, through],
        )?;
        conn.execute(
            "DELETE FROM crdt_changes WHERE doc_id = ?1 AND id <= ?2",
            params![name, through],
        )?;
        self.pending_rows.insert(id, 0);
        Ok(true)
    }

    /// The documents of `conn`'s file with at least `min_changes` change rows: those a
    /// compaction would fold, found in one query without loading any.
    pub fn due_for_compaction(conn: &Connection, min_changes: i64) -> Result<Vec<DocId>> {
        let mut stmt = conn.prepare_cached(
            "SELECT doc_id FROM crdt_changes GROUP BY doc_id HAVING count(*) >= ?1",
        )?;
        let names = stmt
            .query_map([min_changes], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(names.iter().filter_map(|n| DocId::parse(n)).collect())
    }

    /// Ids of every document stored on this lane, in both files, in name order.
    pub fn stored_ids(tx: &Tx<'_>) -> Result<Vec<DocId>> {
        let mut names: BTreeSet<String> = BTreeSet::new();
        for conn in [tx.main(), tx.ledger()] {
            let mut stmt = conn.prepare_cached(
                "SELECT doc_id FROM crdt_docs UNION SELECT DISTINCT doc_id FROM crdt_changes",
            )?;
            for n in stmt.query_map([], |r| r.get::<_, String>(0))? {
                names.insert(n?);
            }
        }
        Ok(names.iter().filter_map(|n| DocId::parse(n)).collect())
    }
}

/// Applies a document's change rows after `after` to `doc`; `last` becomes the last row
/// applied. Returns how many were applied.
fn apply_rows(
    conn: &Connection,
    doc: &mut AutoCommit,
    name: &str,
    after: i64,
    last: &mut i64,
) -> Result<i64> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, bytes FROM crdt_changes WHERE doc_id = ?1 AND id > ?2 ORDER BY id",
    )?;
    let mut rows = stmt.query(params![name, after])?;
    let mut n = 0;
    while let Some(row) = rows.next()? {
        n += 1;
        *last = row.get(0)?;
        let bytes: Vec<u8> = row.get(1)?;
        doc.load_incremental(&bytes)
            .map_err(|e| NodeError::Corrupt(format!("document {name}: {e}")))?;
    }
    Ok(n)
}

/// Heads as stored with each change row and snapshot: the 32-byte hashes, sorted,
/// concatenated.
pub fn encode_heads(heads: &[automerge::ChangeHash]) -> Vec<u8> {
    let mut sorted: Vec<&automerge::ChangeHash> = heads.iter().collect();
    sorted.sort();
    sorted.iter().flat_map(|h| h.0).collect()
}

/// The heads [`encode_heads`] stored.
pub fn decode_heads(bytes: &[u8]) -> Vec<automerge::ChangeHash> {
    bytes
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok().map(automerge::ChangeHash))
        .collect()
}

/// The last change row ever appended to a file's documents (compacted rows included: ids are
/// never reused), 0 when none was.
pub(crate) fn last_change_row(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'crdt_changes'), 0)",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Every stored document with its heads (as [`encode_heads`]), in both files, in name order,
/// without loading any of them.
pub fn all_heads(tx: &Tx<'_>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut all = heads_in(tx.main())?;
    all.extend(heads_in(tx.ledger())?);
    all.sort();
    Ok(all)
}

fn heads_in(conn: &Connection) -> Result<Vec<(String, Vec<u8>)>> {
    // A document's heads are those of its latest change row, or of its snapshot when it has
    // none since the last compaction.
    let mut stmt = conn.prepare_cached(
        "SELECT c.doc_id, c.heads FROM crdt_changes c
           WHERE c.id = (SELECT MAX(id) FROM crdt_changes WHERE doc_id = c.doc_id)
         UNION ALL
         SELECT d.doc_id, d.heads FROM crdt_docs d
           WHERE NOT EXISTS (SELECT 1 FROM crdt_changes c WHERE c.doc_id = d.doc_id)
         ORDER BY 1",
    )?;
    Ok(stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?)
}

/// Writes the fields of one record under `<key>\x1f<field>`, skipping unchanged values so a
/// re-import produces no change. Kasir writes every field as a scalar string.
pub fn put_fields(
    doc: &mut AutoCommit,
    key: &str,
    fields: &[(&str, Option<String>)],
) -> Result<()> {
    for (field, value) in fields {
        let k = format!("{key}{SEP}{field}");
        let current = match read(doc, &k) {
            Some(Field::Text(t)) => Some(t),
            Some(_) => Some(String::new()),
            None => None,
        };
        match value {
            Some(v) if current.as_deref() != Some(v.as_str()) => {
                doc.put(ROOT, k, ScalarValue::Str(v.as_str().into()))?
            }
            None if current.is_some() => doc.delete(ROOT, k)?,
            _ => {}
        }
    }
    Ok(())
}

/// One field of a record as a document holds it, in every shape a valid Automerge writer may
/// have used: kasir writes scalar strings, a JavaScript writer's plain strings become Text and
/// its numbers integers. Projections read fields through [`Field::text`], [`Field::decimal`],
/// [`Field::integer`] and [`Field::flag`], which say what is wrong when a shape does not fit.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    /// A scalar string or collaborative Text.
    Text(String),
    Int(i64),
    Uint(u64),
    Bool(bool),
    /// Any other shape: a float, null, bytes, a counter, a timestamp, a map, a list.
    Other(&'static str),
}

impl Field {
    pub fn text(&self) -> std::result::Result<&str, String> {
        match self {
            Field::Text(t) => Ok(t),
            other => Err(format!("expected text, found {}", other.shape())),
        }
    }

    /// An exact decimal: text (`"3500"`, `"12.5"`) or an integer. Never a float.
    pub fn decimal(&self) -> std::result::Result<kasir_schema::Decimal, String> {
        use std::str::FromStr;
        match self {
            Field::Text(t) => kasir_schema::Decimal::from_str(t.trim())
                .map_err(|_| format!("{t:?} is not a number")),
            Field::Int(i) => Ok(kasir_schema::Decimal::from(*i)),
            Field::Uint(u) => Ok(kasir_schema::Decimal::from(*u)),
            other => Err(format!(
                "expected a number as text or an integer, found {}",
                other.shape()
            )),
        }
    }

    /// A whole number: text or an integer.
    pub fn integer(&self) -> std::result::Result<i64, String> {
        match self {
            Field::Text(t) => t
                .trim()
                .parse()
                .map_err(|_| format!("{t:?} is not a whole number")),
            Field::Int(i) => Ok(*i),
            Field::Uint(u) => i64::try_from(*u).map_err(|_| format!("{u} is too large")),
            other => Err(format!("expected a whole number, found {}", other.shape())),
        }
    }

    /// Yes or no: `"1"`/`"0"` (what kasir writes), `"true"`/`"false"`, a boolean, 1/0.
    pub fn flag(&self) -> std::result::Result<bool, String> {
        match self {
            Field::Bool(b) => Ok(*b),
            Field::Int(1) | Field::Uint(1) => Ok(true),
            Field::Int(0) | Field::Uint(0) => Ok(false),
            Field::Text(t) => match t.trim() {
                "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                other => Err(format!("{other:?} is not yes or no")),
            },
            other => Err(format!("expected yes or no, found {}", other.shape())),
        }
    }

    fn shape(&self) -> String {
        match self {
            Field::Text(t) => format!("text {t:?}"),
            Field::Int(i) => format!("integer {i}"),
            Field::Uint(u) => format!("integer {u}"),
            Field::Bool(b) => format!("boolean {b}"),
            Field::Other(what) => (*what).to_string(),
        }
    }
}

/// A record's fields, by name.
pub type Fields = BTreeMap<String, Field>;

/// Reads a record's fields by name, each in the shape its projection needs; every error names
/// the field and what was found (the reason a record is listed as unreadable).
#[derive(Debug, Clone, Copy)]
pub struct FieldReader<'a>(pub &'a Fields);

impl FieldReader<'_> {
    fn get(&self, name: &str) -> Option<&Field> {
        self.0.get(name)
    }

    pub fn text(&self, name: &str) -> std::result::Result<String, String> {
        self.opt_text(name)?
            .ok_or_else(|| format!("{name}: missing"))
    }

    pub fn opt_text(&self, name: &str) -> std::result::Result<Option<String>, String> {
        self.get(name)
            .map(|v| {
                v.text()
                    .map(str::to_string)
                    .map_err(|e| format!("{name}: {e}"))
            })
            .transpose()
    }

    /// An amount of money: at most 2 decimals and what the ledger can hold.
    pub fn money(&self, name: &str) -> std::result::Result<kasir_schema::Decimal, String> {
        let v = self
            .get(name)
            .ok_or_else(|| format!("{name}: missing"))?
            .decimal()
            .map_err(|e| format!("{name}: {e}"))?;
        kasir_schema::sql::scaled::money_to_db(v).map_err(|e| format!("{name}: {e}"))?;
        Ok(v)
    }

    pub fn opt_money(&self, name: &str) -> std::result::Result<kasir_schema::Decimal, String> {
        match self.get(name) {
            None => Ok(kasir_schema::Decimal::ZERO),
            Some(_) => self.money(name),
        }
    }

    /// A quantity (at most 3 decimals), zero when absent.
    pub fn opt_quantity(&self, name: &str) -> std::result::Result<kasir_schema::Decimal, String> {
        let Some(v) = self.get(name) else {
            return Ok(kasir_schema::Decimal::ZERO);
        };
        let v = v.decimal().map_err(|e| format!("{name}: {e}"))?;
        kasir_schema::sql::scaled::quantity_to_db(v).map_err(|e| format!("{name}: {e}"))?;
        Ok(v)
    }

    pub fn opt_integer(&self, name: &str) -> std::result::Result<Option<i64>, String> {
        self.get(name)
            .map(|v| v.integer().map_err(|e| format!("{name}: {e}")))
            .transpose()
    }

    pub fn flag(&self, name: &str, absent: bool) -> std::result::Result<bool, String> {
        self.get(name)
            .map_or(Ok(absent), |v| v.flag().map_err(|e| format!("{name}: {e}")))
    }
}

/// Reads one root value in any shape (see [`Field`]).
fn field_of(doc: &AutoCommit, value: &Value<'_>, id: &automerge::ObjId) -> Field {
    match value {
        Value::Object(automerge::ObjType::Text) => match doc.text(id) {
            Ok(t) => Field::Text(t),
            Err(_) => Field::Other("unreadable text"),
        },
        Value::Object(automerge::ObjType::Map | automerge::ObjType::Table) => Field::Other("a map"),
        Value::Object(automerge::ObjType::List) => Field::Other("a list"),
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(v) => Field::Text(v.to_string()),
            ScalarValue::Int(i) => Field::Int(*i),
            ScalarValue::Uint(u) => Field::Uint(*u),
            ScalarValue::Boolean(b) => Field::Bool(*b),
            ScalarValue::F64(_) => Field::Other("a floating-point number"),
            ScalarValue::Null => Field::Other("null"),
            ScalarValue::Bytes(_) => Field::Other("bytes"),
            ScalarValue::Counter(_) => Field::Other("a counter"),
            ScalarValue::Timestamp(_) => Field::Other("a timestamp"),
            _ => Field::Other("an unknown value"),
        },
    }
}

/// The value under one root key, if any.
pub fn read(doc: &AutoCommit, key: &str) -> Option<Field> {
    doc.get(ROOT, key)
        .ok()
        .flatten()
        .map(|(value, id)| field_of(doc, &value, &id))
}

/// Every value writers left under `key`: more than one where writers that did not see each
/// other's write left different ones (Automerge keeps them all and shows one).
pub fn all_values(doc: &AutoCommit, key: &str) -> Vec<Field> {
    doc.get_all(ROOT, key)
        .map(|all| all.iter().map(|(v, id)| field_of(doc, v, id)).collect())
        .unwrap_or_default()
}

/// Whether writers that did not see each other's write left different values under `key`
/// (see `hq::three_way` and `hq::hq_wins_ties` for why that matters).
pub fn written_apart(doc: &AutoCommit, key: &str) -> bool {
    let mut values = all_values(doc, key);
    values.dedup();
    values.len() > 1
}

/// Reads the fields of one record.
pub fn get_fields(doc: &AutoCommit, key: &str) -> Fields {
    fields_under(doc, key).into_iter().collect()
}

/// Every value whose key is `<prefix>\x1f<rest>`, as (rest, value), in key order.
fn fields_under(doc: &AutoCommit, prefix: &str) -> Vec<(String, Field)> {
    let start = format!("{prefix}{SEP}");
    let end = format!("{prefix}{}", char::from_u32(SEP as u32 + 1).unwrap_or('~'));
    doc.map_range(ROOT, start.clone()..end)
        .filter_map(|item| {
            let rest = item.key.strip_prefix(start.as_str())?.to_string();
            let id = item.id();
            let field = field_of(doc, &item.value.into_value(), &id);
            Some((rest, field))
        })
        .collect()
}

/// The root keys written by the changes a document gained since `before` (what a merge
/// brought in), or `None` when `before` is empty and everything is new. Reading the new
/// changes is proportional to what arrived, not to the document, so projecting a peer's sale
/// into a day ledger of thousands stays as cheap as the first.
pub fn keys_changed_since(
    doc: &mut AutoCommit,
    before: &[automerge::ChangeHash],
) -> Option<BTreeSet<String>> {
    if before.is_empty() {
        return None;
    }
    let mut keys = BTreeSet::new();
    for change in doc.get_changes(before) {
        for op in change.decode().operations {
            if let (automerge::legacy::ObjectId::Root, automerge::legacy::Key::Map(k)) =
                (&op.obj, &op.key)
            {
                keys.insert(k.to_string());
            }
        }
    }
    Some(keys)
}

/// The records (the part of a key before the first separator) under `keys`, or every record
/// of the document when `keys` is `None`, each with its fields.
pub fn records_with_fields(
    doc: &AutoCommit,
    keys: Option<&BTreeSet<String>>,
) -> Vec<(String, Fields)> {
    let names = match keys {
        None => record_keys(doc),
        Some(keys) => {
            let mut out: Vec<String> = keys
                .iter()
                .map(|k| k.split(SEP).next().unwrap_or("").to_string())
                .collect();
            out.dedup();
            out
        }
    };
    names
        .into_iter()
        .map(|id| {
            let fields = get_fields(doc, &id);
            (id, fields)
        })
        .collect()
}

/// The distinct record keys (the part before the first separator) in a document.
pub fn record_keys(doc: &AutoCommit) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for key in doc.keys(ROOT) {
        let record = key.split(SEP).next().unwrap_or("").to_string();
        if out.last() != Some(&record) {
            out.push(record);
        }
    }
    out
}

/// The text under one root key (a scalar string or Text), if that is what it holds.
pub fn get_str(doc: &AutoCommit, key: &str) -> Option<String> {
    match read(doc, key) {
        Some(Field::Text(t)) => Some(t),
        _ => None,
    }
}

/// Writes an immutable record `<kind>\x1f<id>` once; an existing record is left as it is.
/// Returns whether it was new.
pub fn put_record(doc: &mut AutoCommit, kind: &str, id: &str, json: &str) -> Result<bool> {
    let key = format!("{kind}{SEP}{id}");
    if doc.get(ROOT, key.as_str())?.is_some() {
        return Ok(false);
    }
    doc.put(ROOT, key, ScalarValue::Str(json.into()))?;
    Ok(true)
}

/// Writes an immutable record under an id this lane has just minted (a new sale or return):
/// no other copy can exist, so the existence check of [`put_record`] is skipped.
pub fn put_new_record(doc: &mut AutoCommit, kind: &str, id: &str, json: &str) -> Result<()> {
    doc.put(
        ROOT,
        format!("{kind}{SEP}{id}"),
        ScalarValue::Str(json.into()),
    )?;
    Ok(())
}

/// All immutable records of one kind in a document, as (id, value).
pub fn records(doc: &AutoCommit, kind: &str) -> Vec<(String, Field)> {
    fields_under(doc, kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(actor: &str) -> DocStore {
        DocStore::new(actor).unwrap()
    }

    /// A lane's two files.
    struct Files {
        _dir: tempfile::TempDir,
        main: Connection,
        ledger: Connection,
    }

    impl Files {
        fn tx(&self) -> Tx<'_> {
            Tx::new(&self.main, &self.ledger, None, crate::db::File::Main)
        }
    }

    fn conn() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let at = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let path = dir.path().join("lane.db");
        let main = crate::db::open(&path, at).unwrap();
        let ledger =
            crate::db::open_file(&crate::db::ledger_path(&path), crate::db::File::Ledger, at)
                .unwrap();
        Files {
            _dir: dir,
            main,
            ledger,
        }
    }

    #[test]
    fn doc_ids_round_trip_and_shards_are_stable() {
        for id in [
            DocId::Catalog(0),
            DocId::Catalog(63),
            DocId::Categories,
            DocId::Customers(31),
            DocId::Ledger(
                NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
                Origin::Lane(7),
            ),
            DocId::Ledger(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), Origin::Hq),
            DocId::Members,
            DocId::Settings,
            DocId::Synced(NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()),
        ] {
            assert_eq!(DocId::parse(&id.name()), Some(id));
            assert_eq!(DocName::new(id.name()), Ok(id.doc_name()));
        }
        assert_eq!(DocId::parse("catalog/64"), None);
        assert_eq!(DocId::parse("../etc"), None);
        assert_eq!(DocId::parse("ledger/2026-11-23/000"), None);
        assert_eq!(DocId::parse("ledger/2026-11-23"), None);
        assert_eq!(DocId::parse("synced/2026-11-3"), None);
        // Pinned: every lane must agree forever on where a SKU lives.
        assert_eq!(
            DocId::catalog_for("IDM-GRG-85"),
            DocId::catalog_for("IDM-GRG-85")
        );
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
    }

    #[test]
    fn edits_persist_and_reload() {
        let f = conn();
        let c = f.tx();
        let mut s = store("00112233445566778899aabbccddeeff");
        let id = DocId::catalog_for("SKU-1");
        s.edit(&c, id, |doc| {
            put_fields(
                doc,
                "SKU-1",
                &[("name", Some("Teh".into())), ("price", Some("3500".into()))],
            )
        })
        .unwrap();
        s.flush(&c).unwrap();
        s.committed();
        let mut fresh = store("00112233445566778899aabbccddeeff");
        let doc = fresh.get(&c, id).unwrap();
        let f = get_fields(doc, "SKU-1");
        assert_eq!(f["name"], Field::Text("Teh".into()));
        assert_eq!(
            f["price"].decimal().unwrap(),
            kasir_schema::Decimal::from(3500)
        );
        assert_eq!(record_keys(doc), vec!["SKU-1".to_string()]);
    }

    #[test]
    fn the_same_record_written_by_two_lanes_counts_once() {
        let (f1, f2) = (conn(), conn());
        let (c1, c2) = (f1.tx(), f2.tx());
        let mut a = store("0000000000000000000000000000000a");
        let mut b = store("0000000000000000000000000000000b");
        let day = DocId::Ledger(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), Origin::Hq);
        // Both lanes apply the same HQ adjustment concurrently.
        for (s, c) in [(&mut a, &c1), (&mut b, &c2)] {
            s.edit(c, day, |doc| put_record(doc, "m", "mv-1", r#"{"qty":5}"#))
                .unwrap();
            s.committed();
        }
        let from_b = b.export(&c2, day).unwrap();
        a.merge_remote(&c1, day, &from_b).unwrap();
        let recs = records(a.get(&c1, day).unwrap(), "m");
        assert_eq!(
            recs,
            vec![("mv-1".to_string(), Field::Text(r#"{"qty":5}"#.to_string()))]
        );
        // Merging again changes nothing.
        assert!(!a.merge_remote(&c1, day, &from_b).unwrap());
    }

    #[test]
    fn rollback_drops_unstored_changes_and_compaction_keeps_data() {
        let f = conn();
        let c = f.tx();
        let mut s = store("00112233445566778899aabbccddeeff");
        let id = DocId::Customers(3);
        f.main.execute_batch("BEGIN").unwrap();
        s.edit(&c, id, |doc| {
            put_fields(doc, "cust-1", &[("name", Some("Budi".into()))])
        })
        .unwrap();
        f.main.execute_batch("ROLLBACK").unwrap();
        s.rolled_back();
        assert!(get_fields(s.get(&c, id).unwrap(), "cust-1").is_empty());
        for i in 0..(COMPACT_AFTER + 1) {
            s.edit(&c, id, |doc| {
                put_fields(doc, "cust-1", &[("visits", Some(i.to_string()))])
            })
            .unwrap();
            s.flush(&c).unwrap();
        }
        s.committed();
        assert!(
            s.compact_if_needed(&c, id, "2026-01-01T00:00:00.000Z")
                .unwrap()
        );
        let mut fresh = store("00112233445566778899aabbccddeeff");
        assert_eq!(
            get_fields(fresh.get(&c, id).unwrap(), "cust-1")["visits"],
            Field::Text(COMPACT_AFTER.to_string())
        );
        assert_eq!(DocStore::stored_ids(&c).unwrap(), vec![id]);
    }
}
