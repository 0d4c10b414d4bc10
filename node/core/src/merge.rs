//! Merging other lanes' document changes: applying what a peer sent (whole documents or sync
//! messages, now or batched for the replicator), storing what a document gained, and
//! projecting the records it touched into the lane file. Split from `sale.rs`, which keeps
//! the till's own commit path.

use std::collections::BTreeSet;

use kasir_schema::domain::{Sale, StockMovement};
use rusqlite::Connection;

use crate::customers;
use crate::db;
use crate::db::File;
use crate::docs::{self, DocId, DocStore, Tx};
use crate::error::{NodeError, Result};
use crate::returns::{self, ReturnRecord};
use crate::sale::{record_sale, sale_fits};
use crate::stock::record_movement;
use crate::till::Till;

/// Changes applied to a cached document but not stored yet (`Till::receive_sync_later`), or
/// just applied (`Till::apply_sync`).
#[derive(Debug, Clone)]
pub(crate) struct Received {
    /// The document's heads before the first of them (what is stored).
    before: Vec<automerge::ChangeHash>,
    /// The changes, as received.
    changes: Vec<u8>,
}

/// What merging another lane's changes brought in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    pub changed: bool,
    pub new_sales: usize,
    pub new_movements: usize,
    pub new_returns: usize,
    pub products: usize,
    pub categories: usize,
    pub customers: usize,
}

impl MergeOutcome {
    /// Records the merge brought: sales, returns, movements, products, categories, customers.
    pub fn records(&self) -> usize {
        self.new_sales
            + self.new_returns
            + self.new_movements
            + self.products
            + self.categories
            + self.customers
    }

    fn add(&mut self, o: &MergeOutcome) {
        self.changed |= o.changed;
        self.new_sales += o.new_sales;
        self.new_movements += o.new_movements;
        self.new_returns += o.new_returns;
        self.products += o.products;
        self.categories += o.categories;
        self.customers += o.customers;
    }
}

impl Till {
    /// Names of every document this lane stores (what replication offers its peers).
    pub fn document_names(&self) -> Result<Vec<String>> {
        Ok(crate::docs::DocStore::stored_ids(&self.reader())?
            .iter()
            .map(DocId::name)
            .collect())
    }

    /// Everything this lane has of one document, for another lane's `merge_remote`.
    pub fn export_document(&mut self, doc_name: &str) -> Result<Vec<u8>> {
        let id = DocId::parse(doc_name)
            .ok_or_else(|| NodeError::Invalid(format!("unknown document {doc_name:?}")))?;
        Ok(self.doc(id)?.save())
    }

    /// Merges document changes from another lane (or a full document) and brings the
    /// projections up to date. Malformed input is refused without changing anything.
    pub fn merge_remote(&mut self, doc_name: &str, changes: &[u8]) -> Result<MergeOutcome> {
        let id = DocId::parse(doc_name)
            .ok_or_else(|| NodeError::Invalid(format!("unknown document {doc_name:?}")))?;
        // `load_incremental` skips what it cannot parse; a peer's bytes must decode completely
        // or be refused before they touch the document.
        automerge::AutoCommit::load_with_options(
            changes,
            automerge::LoadOptions::new().on_partial_load(automerge::OnPartialLoad::Error),
        )
        .map_err(|e| NodeError::Invalid(format!("changes for {doc_name}: {e}")))?;
        let applied = self.doc(id).and_then(|doc| {
            let before = doc.get_heads();
            doc.load_incremental(changes)
                .map_err(|e| NodeError::Invalid(format!("changes for {doc_name}: {e}")))?;
            let chunks = merge_chunks(doc, id, &before);
            Ok((doc.get_heads() != before, chunks))
        });
        let chunks = match applied {
            Ok((false, _)) => return Ok(MergeOutcome::default()),
            Ok((true, chunks)) => chunks,
            Err(e) => {
                self.docs.forget(id);
                return Err(e);
            }
        };
        let done = match self.store_merged(id, changes, &chunks) {
            Ok(d) => d,
            Err(e) => {
                self.docs.forget(id);
                return Err(e);
            }
        };
        self.project_merged(id, &chunks, done)
    }

    /// Stores changes a merge applied to the cached document (`changes`, loaded again inside
    /// the transaction: a no-op unless the document was reloaded meanwhile), projecting the
    /// first chunk with them when the document is in the lane file. A projection in several
    /// transactions, or of a document in the ledger file (this lane's own, sent back by a peer
    /// after this lane lost it), is marked in `unprojected_docs` until done, so a stop in
    /// between is finished when the lane opens. Returns the merge so far and how many chunks
    /// it projected; on error nothing was stored.
    fn store_merged(
        &mut self,
        id: DocId,
        changes: &[u8],
        chunks: &[Option<BTreeSet<String>>],
    ) -> Result<(MergeOutcome, usize)> {
        let now = db::ts(self.now());
        let name = id.name();
        let file = self.reader().file_of(id);
        let load = |tx: &Tx<'_>, docs: &mut DocStore| {
            docs.edit(tx, id, |doc| {
                doc.load_incremental(changes)
                    .map_err(|e| NodeError::Invalid(format!("changes for {name}: {e}")))
            })
        };
        let mark = |tx: &Tx<'_>| -> Result<()> {
            tx.prepare_cached("INSERT OR IGNORE INTO unprojected_docs (doc_id) VALUES (?1)")?
                .execute([&name])?;
            Ok(())
        };
        self.as_merge_of(id, |till| match file {
            File::Main => till.write_unsynced(|tx, docs| {
                load(tx, docs)?;
                if chunks.len() > 1 {
                    mark(tx)?;
                }
                let first = chunks.first().map_or(Ok(MergeOutcome::default()), |c| {
                    reproject_keys(tx, docs, id, c.as_ref(), &now)
                })?;
                Ok((first, 1))
            }),
            File::Ledger => {
                till.write_unsynced(|tx, _| mark(tx))?;
                till.write_in(File::Ledger, false, |tx, docs| {
                    load(tx, docs)?;
                    // Numbers this lane issued before it was restored from an older copy are
                    // never issued again (I5).
                    let doc = docs.get(tx, id)?;
                    let highest = chunks
                        .iter()
                        .map(|c| highest_sequence(doc, c.as_ref()))
                        .max()
                        .unwrap_or(0);
                    if highest > 0 {
                        tx.execute(
                            "UPDATE ledger_state SET next_seq = MAX(next_seq, ?1 + 1) WHERE id = 1",
                            [i64::try_from(highest).unwrap_or(i64::MAX - 1)],
                        )?;
                    }
                    Ok(())
                })?;
                Ok((
                    MergeOutcome {
                        changed: true,
                        ..MergeOutcome::default()
                    },
                    0,
                ))
            }
        })
    }

    /// Projects the chunks of a stored merge after the first `done`, a few records per
    /// transaction, and clears the mark [`Till::store_merged`] left. A failure leaves the mark,
    /// and the projection is finished when the lane opens again.
    fn project_merged(
        &mut self,
        id: DocId,
        chunks: &[Option<BTreeSet<String>>],
        (mut out, done): (MergeOutcome, usize),
    ) -> Result<MergeOutcome> {
        let now = db::ts(self.now());
        let name = id.name();
        let marked = chunks.len() > 1 || self.reader().file_of(id) == File::Ledger;
        let rest = chunks.get(done..).unwrap_or_default();
        for (i, chunk) in rest.iter().enumerate() {
            let last = i + 1 == rest.len();
            let more = self.as_merge_of(id, |till| {
                till.write_unsynced(|tx, docs| {
                    let o = reproject_keys(tx, docs, id, chunk.as_ref(), &now)?;
                    if last {
                        tx.prepare_cached("DELETE FROM unprojected_docs WHERE doc_id = ?1")?
                            .execute([&name])?;
                    }
                    Ok(o)
                })
            })?;
            out.add(&more);
        }
        if marked && rest.is_empty() {
            self.write_unsynced(|tx, _| {
                tx.prepare_cached("DELETE FROM unprojected_docs WHERE doc_id = ?1")?
                    .execute([&name])?;
                Ok(())
            })?;
        }
        Ok(out)
    }

    /// Runs a merge into `id`, attributing its live events to the lane (or HQ) whose ledger it
    /// is.
    fn as_merge_of<T>(&mut self, id: DocId, f: impl FnOnce(&mut Till) -> T) -> T {
        if let (Some(live), DocId::Ledger(_, origin)) = (&mut self.live, id) {
            live.origin = Some(origin);
        }
        let out = f(self);
        if let Some(live) = &mut self.live {
            live.origin = None;
        }
        out
    }

    /// Applies one Automerge sync message from a peer to a document, stores it and brings the
    /// projections up to date. Returns what it brought in.
    pub fn receive_sync(
        &mut self,
        doc_name: &str,
        state: &mut automerge::sync::State,
        message: &[u8],
    ) -> Result<MergeOutcome> {
        let sync_before = state.clone();
        let Some((id, received)) = self.apply_sync(doc_name, state, message)? else {
            return Ok(MergeOutcome::default());
        };
        let chunks = merge_chunks(self.doc(id)?, id, &received.before);
        // Storing them takes the write lock, and each further transaction projects a few
        // records.
        let done = match self.store_merged(id, &received.changes, &chunks) {
            Ok(d) => d,
            Err(e) => {
                // Nothing of it was stored: forget it here too, so the peer sends it again.
                *state = sync_before;
                self.docs.forget(id);
                return Err(e);
            }
        };
        self.project_merged(id, &chunks, done)
    }

    /// [`Till::receive_sync`] without storing: the changes are applied to the document in
    /// memory (so replies and heads include them) and stored, with their projections, by the
    /// next [`Till::store_received`]. A replicator that receives faster than it stores calls
    /// that once per batch of messages: one transaction for many records writes a fraction of
    /// the pages one per message would (shared table and index pages), which is what a busy
    /// store's merges cost the disk the till's sales are made durable on. Until then the
    /// changes are only in memory; a stop loses them, and peers send them again when they
    /// next compare heads. Returns whether the document changed.
    pub fn receive_sync_later(
        &mut self,
        doc_name: &str,
        state: &mut automerge::sync::State,
        message: &[u8],
    ) -> Result<bool> {
        let Some((id, new)) = self.apply_sync(doc_name, state, message)? else {
            return Ok(false);
        };
        match self.received.entry(id) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(new);
            }
            // The heads before the first of them stay.
            std::collections::btree_map::Entry::Occupied(mut o) => {
                o.get_mut().changes.extend_from_slice(&new.changes);
            }
        }
        Ok(true)
    }

    /// Whether changes received by [`Till::receive_sync_later`] wait to be stored.
    pub fn has_received(&self) -> bool {
        !self.received.is_empty()
    }

    /// Stores what [`Till::receive_sync_later`] applied, document by document, with its
    /// projections. On error, what could not be stored is dropped from memory too (the
    /// documents are read again from the files) and the error returned: the caller must start
    /// its sync sessions over, so peers send it again. (A projection that fails after its
    /// changes are stored is finished when the lane opens again.)
    pub fn store_received(&mut self) -> Result<MergeOutcome> {
        let mut out = MergeOutcome::default();
        let mut failed = None;
        while let Some((id, r)) = self.received.pop_first() {
            // The records to project are those the received changes wrote: the changes are
            // put into the cached document first (a no-op unless it was read again from the
            // file meanwhile, e.g. after the till compacted it), so none is missed.
            let stored = self
                .doc(id)
                .and_then(|doc| {
                    doc.load_incremental(&r.changes).map_err(|e| {
                        NodeError::Corrupt(format!("changes received for {}: {e}", id.name()))
                    })?;
                    Ok(merge_chunks(doc, id, &r.before))
                })
                .and_then(|chunks| Ok((self.store_merged(id, &r.changes, &chunks)?, chunks)));
            match stored {
                Ok((done, chunks)) => match self.project_merged(id, &chunks, done) {
                    Ok(o) => out.add(&o),
                    Err(e) => failed = failed.or(Some(e)),
                },
                Err(e) => {
                    self.docs.forget(id);
                    let rest = std::mem::take(&mut self.received);
                    for id in rest.into_keys() {
                        self.docs.forget(id);
                    }
                    return Err(e);
                }
            }
        }
        failed.map_or(Ok(out), Err)
    }

    /// Applies a sync message to the cached document: the sync bookkeeping and the changes
    /// happen outside any write transaction (for a document with thousands of changes the
    /// bookkeeping alone takes milliseconds). Returns the document, its heads before and the
    /// changes when it changed. On error the peer's state and the document are as before.
    fn apply_sync(
        &mut self,
        doc_name: &str,
        state: &mut automerge::sync::State,
        message: &[u8],
    ) -> Result<Option<(DocId, Received)>> {
        use automerge::sync::SyncDoc;
        let id = DocId::parse(doc_name)
            .ok_or_else(|| NodeError::Invalid(format!("unknown document {doc_name:?}")))?;
        let message = automerge::sync::Message::decode(message)
            .map_err(|e| NodeError::Invalid(format!("sync message for {doc_name}: {e}")))?;
        let sync_before = state.clone();
        let applied = self.doc(id).and_then(|doc| {
            let heads = doc.get_heads();
            let no_changes = message.changes.iter().next().is_none();
            let their_heads = message.heads.clone();
            doc.sync()
                .receive_sync_message(state, message)
                .map_err(|e| NodeError::Invalid(format!("sync message for {doc_name}: {e}")))?;
            // A peer that names heads this lane does not hold and sends no changes believes
            // it sent them already (its sync state counts them as sent: a message was lost,
            // or they wait here for dependencies that were). Without a reset the two would
            // ask and answer for ever without progress, each answer keeping the exchange
            // alive (found by the simulator): ask the peer to forget what it sent.
            if no_changes
                && their_heads
                    .iter()
                    .any(|h| doc.get_change_meta_by_hash(h).is_none())
            {
                state.needs_reset = true;
            }
            if doc.get_heads() == heads {
                return Ok(None);
            }
            // What the document gained, not what this message carried: Automerge holds a
            // change whose dependencies have not arrived yet and applies it when they do, so
            // one message can bring in changes that came with earlier ones (found by the
            // simulator: storing only this message's bytes lost those on the next load).
            let changes = doc.save_after(&heads);
            Ok(Some((heads, changes)))
        });
        match applied {
            Ok(Some((before, changes))) => Ok(Some((id, Received { before, changes }))),
            Ok(None) => Ok(None),
            Err(e) => {
                *state = sync_before;
                // Read it again from the file, with what earlier messages brought that is not
                // stored yet (each of those was applied whole).
                self.docs.forget(id);
                if let Some(r) = self.received.get(&id) {
                    let earlier = r.changes.clone();
                    self.doc(id)?.load_incremental(&earlier).map_err(|e| {
                        NodeError::Corrupt(format!("changes received for {doc_name}: {e}"))
                    })?;
                }
                Err(e)
            }
        }
    }

    /// The next Automerge sync message for a document towards the peer whose state this is.
    pub fn generate_sync(
        &mut self,
        doc_name: &str,
        state: &mut automerge::sync::State,
    ) -> Result<Option<Vec<u8>>> {
        use automerge::sync::SyncDoc;
        let id = DocId::parse(doc_name)
            .ok_or_else(|| NodeError::Invalid(format!("unknown document {doc_name:?}")))?;
        let doc = self.doc(id)?;
        Ok(doc.sync().generate_sync_message(state).map(|m| m.encode()))
    }

    /// Names of the documents changed since the last call: what to offer to peers.
    pub fn take_changed_documents(&mut self) -> Vec<crate::wire::DocName> {
        self.docs
            .take_changed()
            .iter()
            .map(DocId::doc_name)
            .collect()
    }

    /// The current heads of a document (empty when this lane does not have it).
    pub fn document_heads(&mut self, doc_name: &str) -> Result<Vec<automerge::ChangeHash>> {
        let id = DocId::parse(doc_name)
            .ok_or_else(|| NodeError::Invalid(format!("unknown document {doc_name:?}")))?;
        Ok(self.doc(id)?.get_heads())
    }

    /// Every document this lane holds with a digest of its heads (no document is loaded).
    pub fn document_manifest(&self) -> Result<Vec<(crate::wire::DocName, crate::wire::Digest)>> {
        Ok(docs::all_heads(&self.reader())?
            .into_iter()
            .filter_map(|(name, heads)| {
                let id = DocId::parse(&name)?;
                Some((id.doc_name(), crate::sync::heads_digest(&heads)))
            })
            .collect())
    }
}

/// Projects the records under `keys` (root keys, or record names of catalog and customer
/// shards), or every record of the document when `keys` is `None`.
pub(crate) fn reproject_keys(
    tx: &Tx<'_>,
    docs: &mut DocStore,
    id: DocId,
    keys: Option<&BTreeSet<String>>,
    now: &str,
) -> Result<MergeOutcome> {
    let mut out = MergeOutcome {
        changed: true,
        ..MergeOutcome::default()
    };
    let doc = docs.get(tx, id)?;
    match id {
        DocId::Catalog(_) => {
            out.products = crate::catalog::reproject_shard(tx, doc, keys, id, now)?
        }
        DocId::Categories => out.categories = crate::catalog::reproject_categories(tx, doc, now)?,
        DocId::Customers(_) => out.customers = customers::reproject_shard(tx, doc, keys, id, now)?,
        DocId::Ledger(..) => reproject_ledger(tx, doc, id, keys, now, &mut out)?,
        // Read straight from the document when the LAN needs it; only unreadable records are
        // noted here.
        DocId::Members => {
            let read = crate::members::read_members(doc);
            crate::unreadable::sort(tx, id, read, now)?;
        }
        // Read straight from the document when the HQ driver needs it.
        DocId::Settings => {}
        DocId::Synced(_) => match keys {
            Some(k) => crate::hq::project_confirmations(tx, k.iter(), now)?,
            None => {
                let all: Vec<String> = automerge::ReadDoc::keys(doc, automerge::ROOT).collect();
                crate::hq::project_confirmations(tx, all.iter(), now)?
            }
        },
    }
    Ok(out)
}

/// Notes in the lane file that every record of the ledger file's change rows so far is
/// projected (inside the caller's transaction of the lane file).
pub(crate) fn mark_projected(tx: &Tx<'_>) -> Result<()> {
    let through = crate::docs::last_change_row(tx.ledger())?;
    tx.main()
        .prepare_cached("UPDATE lane_state SET projected_through = ?1 WHERE id = 1")?
        .execute([through])?;
    Ok(())
}

/// The highest transaction sequence among the sales and returns under `keys` of a ledger
/// document (all of them when `None`); 0 when none carries a readable number.
fn highest_sequence(doc: &automerge::AutoCommit, keys: Option<&BTreeSet<String>>) -> u64 {
    #[derive(serde::Deserialize)]
    struct Numbered {
        number: String,
    }
    let all: Vec<String>;
    let keys: Box<dyn Iterator<Item = &String>> = match keys {
        Some(k) => Box::new(k.iter()),
        None => {
            all = automerge::ReadDoc::keys(doc, automerge::ROOT).collect();
            Box::new(all.iter())
        }
    };
    keys.filter(|k| {
        k.split_once(docs::SEP)
            .is_some_and(|(kind, _)| kind == "s" || kind == "r")
    })
    .filter_map(|k| {
        let field = docs::read(doc, k)?;
        let n: Numbered = serde_json::from_str(field.text().ok()?).ok()?;
        n.number.parse::<kasir_schema::txn_number::TxnNumber>().ok()
    })
    .map(|n| n.seq)
    .max()
    .unwrap_or(0)
}

/// Records projected per transaction by a merge (see `Till::receive_sync`). A sale's durable
/// commit writes the ledger file and never waits for these; what waits for one chunk is the
/// till's next write of the lane file (a sale's projections, between customers). 8 records per
/// transaction made a new lane's bootstrap (150k records) take ~19k transactions and twice as
/// long; 64 keeps a chunk to a few milliseconds.
const MERGE_CHUNK: usize = 64;

/// Splits what a merge has to project into chunks of a few records each: the keys of ledger
/// records (one key per record), the record names of catalog and customer shards (one key per
/// field), or everything at once for the small documents (categories, members).
fn merge_chunks(
    doc: &mut automerge::AutoCommit,
    id: DocId,
    before: &[automerge::ChangeHash],
) -> Vec<Option<BTreeSet<String>>> {
    let keys = docs::keys_changed_since(doc, before);
    let units: Vec<String> = match id {
        DocId::Categories | DocId::Members | DocId::Settings => return vec![keys],
        DocId::Ledger(..) | DocId::Synced(_) => match keys {
            Some(k) => k.into_iter().collect(),
            None => automerge::ReadDoc::keys(doc, automerge::ROOT).collect(),
        },
        DocId::Catalog(_) | DocId::Customers(_) => {
            let mut names: Vec<String> = match keys {
                Some(k) => k
                    .iter()
                    .map(|k| k.split(docs::SEP).next().unwrap_or("").to_string())
                    .collect(),
                None => docs::record_keys(doc),
            };
            names.dedup();
            names
        }
    };
    units
        .chunks(MERGE_CHUNK)
        .map(|c| Some(c.iter().cloned().collect()))
        .collect()
}

/// Projects the records of a ledger document that this lane does not have yet: those under
/// `keys` (what a merge wrote), or every record when `keys` is `None`. A record that is not
/// the JSON of its kind, or holds amounts the ledger cannot store, is listed as unreadable.
fn reproject_ledger(
    conn: &Connection,
    doc: &automerge::AutoCommit,
    id: DocId,
    keys: Option<&BTreeSet<String>>,
    now: &str,
    out: &mut MergeOutcome,
) -> Result<()> {
    let of_kind = |kind: &str| -> Vec<(String, docs::Field)> {
        match keys {
            None => docs::records(doc, kind),
            Some(keys) => keys
                .iter()
                .filter_map(|k| {
                    let (k_kind, id) = k.split_once(docs::SEP)?;
                    if k_kind != kind {
                        return None;
                    }
                    Some((id.to_string(), docs::read(doc, k)?))
                })
                .collect(),
        }
    };
    /// The record as JSON text, parsed and checked, with the text itself.
    fn parse<T: serde::de::DeserializeOwned>(
        value: &docs::Field,
        fits: impl Fn(&T) -> Result<()>,
    ) -> std::result::Result<(T, String), String> {
        let json = value.text()?;
        let record: T = serde_json::from_str(json).map_err(|e| e.to_string())?;
        fits(&record).map_err(|e| e.to_string())?;
        Ok((record, json.to_string()))
    }
    let listed = crate::unreadable::any_in(conn, id)?;
    let sort = |kind: &str, key: &str, r: &std::result::Result<(), String>| -> Result<()> {
        let record_key = format!("{kind}{}{key}", docs::SEP);
        match r {
            Ok(()) if listed => crate::unreadable::clear(conn, id, &record_key),
            Ok(()) => Ok(()),
            Err(why) => crate::unreadable::flag(conn, id, &record_key, why, now),
        }
    };
    // Sales before movements and returns, which may refer to them.
    for (key, value) in of_kind("s") {
        let r = parse::<Sale>(&value, sale_fits);
        sort("s", &key, &r.as_ref().map(|_| ()).map_err(Clone::clone))?;
        if let Ok((sale, _)) = r
            && record_sale(conn, &sale)?
        {
            out.new_sales += 1;
        }
    }
    for (key, value) in of_kind("m") {
        let r = parse::<StockMovement>(&value, |m| {
            db::qty(m.quantity)?;
            crate::catalog::validate_sku(&m.sku)
        });
        sort("m", &key, &r.as_ref().map(|_| ()).map_err(Clone::clone))?;
        if let Ok((m, _)) = r
            && record_movement(
                conn,
                &m,
                !matches!(id, DocId::Ledger(_, crate::docs::Origin::Hq)),
            )?
        {
            out.new_movements += 1;
        }
    }
    for (key, value) in of_kind("z") {
        let r = parse::<kasir_schema::wire::ShiftReportRecord>(&value, crate::shift::report_fits);
        sort("z", &key, &r.as_ref().map(|_| ()).map_err(Clone::clone))?;
        if let Ok((report, _)) = r {
            crate::shift::record_shift_report(conn, &report, id)?;
        }
    }
    for (key, value) in of_kind("r") {
        let r = parse::<ReturnRecord>(&value, returns::return_fits);
        sort("r", &key, &r.as_ref().map(|_| ()).map_err(Clone::clone))?;
        if let Ok((ret, _)) = r
            && returns::record_return(conn, &ret)?
        {
            out.new_returns += 1;
        }
    }
    Ok(())
}
