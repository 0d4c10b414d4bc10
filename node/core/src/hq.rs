//! The store's records on their way to HQ, as the leader sends them (issue #12).
//!
//! Every lane queues every record it learns (`outbox.rs`), so whichever lane leads holds the
//! whole store's backlog. The leader asks for a batch ([`Till::hq_batch`]: the oldest waiting
//! entries as one `POST /api/sync/upload` body), sends it (the driver's business), and hands
//! HQ's answer to [`Till::hq_confirm`]. A record HQ stored, or already held (a replay), is
//! confirmed: written into the day's `synced/<YYYY-MM-DD>` document, which replicates like any
//! other, and marked done in the outbox of every lane that projects it, so a later leader does
//! not send it again (and if it did, HQ would answer "duplicate" and change nothing). A record
//! HQ refused (invalid, or the same id with other content) stays in the outbox as failed, with
//! HQ's words, and is not retried until an operator looks at it.
//!
//! What travels for each outbox entry:
//! - a sale: the seed's transaction (`UploadTransaction`), with its sale id; HQ derives the
//!   sale's stock movements and loyalty entries from it;
//! - a return: its effects (goods back in, points reversed), each with its derived id;
//! - a stand-alone stock movement: itself;
//! - a customer change: the customer as the lane last wrote it (`updated_at` = when queued);
//! - a Z report (a shift closed on some lane): itself.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use kasir_schema::domain::{Customer, LoyaltyEntry, Return, Sale, StockMovement};
use kasir_schema::wire::{
    LoyaltyEntryRecord, Processed, RecordStatus, ShiftReportRecord, StockMovementRecord,
    SyncUploadData, SyncUploadRequest, UploadCustomer, UploadTransaction,
};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

use crate::db;
use crate::docs::{DocId, SEP};
use crate::error::{NodeError, Result};
use crate::till::Till;

/// Which list of the upload a record travels in (and HQ answers in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Part {
    Transaction,
    Customer,
    Movement,
    Loyalty,
    ShiftReport,
}

/// One outbox entry of a batch: what it is, and the records it travels as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchEntry {
    pub entry: i64,
    pub table: String,
    pub key: String,
    /// Tells one change of a customer from the next ('' for immutable records).
    pub version: String,
    pub parts: Vec<(Part, String)>,
}

/// A batch for `POST /api/sync/upload` and the outbox entries it settles.
#[derive(Debug, Clone, PartialEq)]
pub struct HqBatch {
    pub request: SyncUploadRequest,
    pub entries: Vec<BatchEntry>,
}

impl HqBatch {
    /// Records in the request (a return counts each of its effects).
    pub fn records(&self) -> usize {
        let d = &self.request.data;
        d.transactions.len()
            + d.customers.len()
            + d.stock_movements.len()
            + d.loyalty_entries.len()
            + d.shift_reports.len()
    }
}

/// What an upload's answer settled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Confirmed {
    /// Entries HQ holds now (stored now or before).
    pub confirmed: usize,
    /// Entries HQ refused, with its reason.
    pub refused: Vec<(String, String)>,
    /// Entries HQ's answer did not speak of (sent again next time).
    pub unanswered: usize,
}

/// The version of a customer change: 16 hex digits of the SHA-256 of its JSON.
fn version_of(table: &str, json: &str) -> String {
    if table != "customers" {
        return String::new();
    }
    Sha256::digest(json.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether HQ confirmed this record already (an entry queued after its confirmation arrived).
pub(crate) fn is_confirmed(conn: &Connection, table: &str, key: &str, json: &str) -> Result<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT EXISTS(SELECT 1 FROM hq_confirmed WHERE table_name = ?1 AND record_key = ?2 AND version = ?3)",
        )?
        .query_row(params![table, key, version_of(table, json)], |r| r.get(0))?)
}

/// The key of a confirmation in a `synced/…` document.
fn confirmation_key(table: &str, key: &str, version: &str) -> String {
    format!("{table}{SEP}{key}{SEP}{version}")
}

/// Projects confirmations (keys of a `synced/…` document): remembered, and the matching
/// outbox entries marked done, with every earlier entry of the same record (see
/// [`settle_through`]).
pub(crate) fn project_confirmations<'k>(
    conn: &Connection,
    keys: impl Iterator<Item = &'k String>,
    now: &str,
) -> Result<()> {
    for k in keys {
        let mut it = k.split(SEP);
        let (Some(table), Some(key), Some(version), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        conn.prepare_cached(
            "INSERT OR IGNORE INTO hq_confirmed (table_name, record_key, version) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![table, key, version])?;
        let entries: Vec<(i64, String)> = conn
            .prepare_cached(
                "SELECT id, data_json FROM sync_queue WHERE table_name = ?1 AND record_key = ?2",
            )?
            .query_map(params![table, key], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let last = entries
            .iter()
            .filter(|(_, json)| version_of(table, json) == version)
            .map(|(id, _)| *id)
            .max();
        if let Some(last) = last {
            settle_through(conn, table, key, last, now)?;
        }
    }
    Ok(())
}

/// Marks done the outbox entries of one record up to and including entry `last`. A lane
/// queues each state of a record it projects, and its documents only grow, so a state HQ holds
/// contains every earlier state this lane queued: those need not travel. (A customer a
/// non-leading lane saw half-way through a partition, say, and the leader never did, was
/// otherwise never settled there: found by the simulator, seed 7 at 3 × 4 × 10,000.)
pub(crate) fn settle_through(
    conn: &Connection,
    table: &str,
    key: &str,
    last: i64,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "UPDATE sync_queue SET sync_status = 'success', error_message = NULL, processed_at = ?4
         WHERE table_name = ?1 AND record_key = ?2 AND id <= ?3 AND sync_status != 'success'",
    )?
    .execute(params![table, key, last, now])?;
    Ok(())
}

/// Writes confirmations into today's `synced/…` document and projects them (inside the
/// caller's transaction of the lane file).
fn confirm(
    tx: &crate::docs::Tx<'_>,
    docs: &mut crate::docs::DocStore,
    now: DateTime<Utc>,
    keys: &[String],
) -> Result<()> {
    if keys.is_empty() {
        return Ok(());
    }
    docs.edit(tx, DocId::Synced(now.date_naive()), |doc| {
        for k in keys {
            if automerge::ReadDoc::get(doc, automerge::ROOT, k.as_str())?.is_none() {
                automerge::transaction::Transactable::put(doc, automerge::ROOT, k.as_str(), "1")?;
            }
        }
        Ok(())
    })?;
    project_confirmations(tx, keys.iter(), &db::ts(now))
}

fn loyalty_record(e: &LoyaltyEntry) -> LoyaltyEntryRecord {
    LoyaltyEntryRecord {
        entry_id: e.id,
        customer_uuid: e.customer,
        kind: e.kind,
        points: e.points,
        sale_id: e.sale,
        created_at: e.created_at,
    }
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json)
        .map_err(|e| NodeError::Corrupt(format!("outbox {what} does not read: {e}")))
}

/// One outbox row: id, table, record key, data, queued at.
type OutboxRow = (i64, String, String, String, String);

fn outbox_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

/// A batch being put together, entry by entry.
#[derive(Default)]
struct BatchBuilder {
    data: SyncUploadData,
    entries: Vec<BatchEntry>,
    sent: BTreeSet<(Part, String)>,
}

impl BatchBuilder {
    /// Adds one outbox entry: its records go into the request (a record already in it is not
    /// sent twice; a later change of a customer replaces an earlier).
    fn add(&mut self, till: &mut Till, row: OutboxRow) -> Result<()> {
        let (entry, table, key, data_json, created_at) = row;
        let version = version_of(&table, &data_json);
        let json = crate::outbox::resolve(till, &data_json)?;
        let data = &mut self.data;
        let sent = &mut self.sent;
        let mut parts = Vec::new();
        let mut add = |part: Part, id: String, parts: &mut Vec<(Part, String)>| {
            parts.push((part, id.clone()));
            sent.insert((part, id))
        };
        match table.as_str() {
            "transactions" => {
                let sale: Sale = parse("sale", &json)?;
                if add(Part::Transaction, sale.id.to_string(), &mut parts) {
                    data.transactions.push(UploadTransaction::from(&sale));
                }
            }
            "returns" => {
                let ret: Return = parse("return", &json)?;
                let (moves, points) = ret.effects();
                for m in &moves {
                    if add(Part::Movement, m.id.to_string(), &mut parts) {
                        data.stock_movements.push(StockMovementRecord::from(m));
                    }
                }
                for e in &points {
                    if add(Part::Loyalty, e.id.to_string(), &mut parts) {
                        data.loyalty_entries.push(loyalty_record(e));
                    }
                }
            }
            "stock_movements" => {
                let m: StockMovement = parse("movement", &json)?;
                if add(Part::Movement, m.id.to_string(), &mut parts) {
                    data.stock_movements.push(StockMovementRecord::from(&m));
                }
            }
            "shift_reports" => {
                let r: ShiftReportRecord = parse("shift report", &json)?;
                if add(Part::ShiftReport, r.shift_id.to_string(), &mut parts) {
                    data.shift_reports.push(r);
                }
            }
            "customers" => {
                let c: Customer = parse("customer", &json)?;
                let updated_at = DateTime::parse_from_rfc3339(&created_at)
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|_| till.now());
                // A later change of the same customer in this batch replaces an earlier.
                if !add(Part::Customer, c.id.to_string(), &mut parts) {
                    data.customers.retain(|u| u.customer_uuid != c.id);
                }
                data.customers.push(UploadCustomer {
                    customer_uuid: c.id,
                    customer_code: c.customer_code,
                    name: c.name,
                    email: c.email,
                    phone: c.phone,
                    address: c.address,
                    date_of_birth: c.date_of_birth,
                    is_active: c.is_active,
                    updated_at,
                });
            }
            other => {
                return Err(NodeError::Corrupt(format!(
                    "outbox entry {entry} of unknown kind {other:?}"
                )));
            }
        }
        self.entries.push(BatchEntry {
            entry,
            table,
            key,
            version,
            parts,
        });
        Ok(())
    }

    /// Customers the batch's sales and loyalty entries name that it does not carry.
    fn customers_not_carried(&self) -> BTreeSet<String> {
        self.data
            .transactions
            .iter()
            .filter_map(|t| t.customer_uuid.map(|c| c.0.to_string()))
            .chain(
                self.data
                    .loyalty_entries
                    .iter()
                    .map(|e| e.customer_uuid.0.to_string()),
            )
            .filter(|c| !self.sent.contains(&(Part::Customer, c.clone())))
            .collect()
    }

    /// Takes out of the batch every entry whose records name a customer in `absent`: it stays
    /// waiting until the customer reaches this lane (sent now, HQ would refuse it for good).
    fn hold_back(&mut self, absent: &BTreeSet<String>) {
        if absent.is_empty() {
            return;
        }
        let data = &mut self.data;
        let named: BTreeSet<(Part, String)> = data
            .transactions
            .iter()
            .filter(|t| {
                t.customer_uuid
                    .is_some_and(|c| absent.contains(&c.0.to_string()))
            })
            .filter_map(|t| t.sale_id.map(|id| (Part::Transaction, id.to_string())))
            .chain(
                data.loyalty_entries
                    .iter()
                    .filter(|e| absent.contains(&e.customer_uuid.0.to_string()))
                    .map(|e| (Part::Loyalty, e.entry_id.0.to_string())),
            )
            .collect();
        let (held, kept): (Vec<BatchEntry>, Vec<BatchEntry>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|e| e.parts.iter().any(|p| named.contains(p)));
        self.entries = kept;
        let out: BTreeSet<(Part, String)> = held.into_iter().flat_map(|e| e.parts).collect();
        let gone = |part: Part, id: String| out.contains(&(part, id));
        data.transactions.retain(|t| {
            !t.sale_id
                .is_some_and(|id| gone(Part::Transaction, id.to_string()))
        });
        data.stock_movements
            .retain(|m| !gone(Part::Movement, m.movement_id.0.to_string()));
        data.loyalty_entries
            .retain(|e| !gone(Part::Loyalty, e.entry_id.0.to_string()));
        self.sent.retain(|p| !out.contains(p));
    }
}

impl Till {
    /// The oldest waiting outbox entries (at most `max` records) as one upload, or `None`
    /// when nothing waits (or all that waits names a customer this lane has not learned yet,
    /// see below). Entries HQ refused are not sent again.
    pub fn hq_batch(&mut self, max: usize) -> Result<Option<HqBatch>> {
        let store = self.store_code().ok_or(NodeError::NotInitialized)?;
        let rows: Vec<OutboxRow> = self
            .conn
            .prepare_cached(
                "SELECT id, table_name, record_key, data_json, created_at FROM sync_queue
                 WHERE sync_status = 'pending' ORDER BY id LIMIT ?1",
            )?
            .query_map([max as i64], outbox_row)?
            .collect::<rusqlite::Result<_>>()?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut batch = BatchBuilder::default();
        for row in rows {
            batch.add(self, row)?;
        }
        // HQ refuses a sale or a loyalty entry of a customer it does not hold: a customer
        // whose own entry waits behind this batch (a lane learned the sale before the
        // customer) goes with it (found by the simulator: such sales were refused for good).
        // Its entries are newer than every entry above, so their order holds.
        let mut waiting: Vec<OutboxRow> = Vec::new();
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, table_name, record_key, data_json, created_at FROM sync_queue
                 WHERE sync_status = 'pending' AND table_name = 'customers' AND record_key = ?1",
            )?;
            for c in batch.customers_not_carried() {
                waiting.extend(
                    stmt.query_map([c], outbox_row)?
                        .collect::<rusqlite::Result<Vec<_>>>()?,
                );
            }
        }
        waiting.sort_by_key(|r| r.0);
        for row in waiting {
            batch.add(self, row)?;
        }
        // A customer this lane has not learned yet at all (the sale came first, over the LAN)
        // and HQ is not known to hold: the sale waits for it (found by the simulator).
        let mut absent = BTreeSet::new();
        for c in batch.customers_not_carried() {
            let known: bool = self
                .conn
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM customers WHERE customer_uuid = ?1)
                         OR EXISTS(SELECT 1 FROM hq_confirmed
                                   WHERE table_name = 'customers' AND record_key = ?1)",
                )?
                .query_row([&c], |r| r.get(0))?;
            if !known {
                absent.insert(c);
            }
        }
        batch.hold_back(&absent);
        if batch.entries.is_empty() {
            return Ok(None);
        }
        Ok(Some(HqBatch {
            request: SyncUploadRequest {
                store_id: store,
                data: batch.data,
            },
            entries: batch.entries,
        }))
    }

    /// Settles a batch with HQ's answer (see the module documentation), in one transaction:
    /// confirmations into today's `synced/…` document and the outbox.
    pub fn hq_confirm(&mut self, batch: &HqBatch, answer: &Processed) -> Result<Confirmed> {
        let mut status: BTreeMap<(Part, &str), RecordStatus> = BTreeMap::new();
        let mut why: BTreeMap<&str, &str> = BTreeMap::new();
        let lists = [
            (Part::Transaction, Some(&answer.transactions)),
            (Part::Customer, Some(&answer.customers)),
            (Part::Movement, answer.stock_movements.as_ref()),
            (Part::Loyalty, answer.loyalty_entries.as_ref()),
            (Part::ShiftReport, answer.shift_reports.as_ref()),
        ];
        for (part, counts) in lists {
            let Some(c) = counts else { continue };
            for r in &c.results {
                status.insert((part, r.id.as_str()), r.status);
            }
            for e in &c.errors {
                why.insert(e.id.as_str(), e.message.as_str());
            }
        }
        let mut out = Confirmed::default();
        let mut confirmed = Vec::new();
        let mut refused = Vec::new();
        for e in &batch.entries {
            let states: Vec<Option<RecordStatus>> = e
                .parts
                .iter()
                .map(|(p, id)| status.get(&(*p, id.as_str())).copied())
                .collect();
            let bad =
                e.parts.iter().zip(&states).find(|(_, s)| {
                    matches!(s, Some(RecordStatus::Invalid | RecordStatus::Conflict))
                });
            if let Some(((_, id), s)) = bad {
                let reason = why.get(id.as_str()).map_or_else(
                    || format!("HQ answered {s:?} for {id}"),
                    |w| (*w).to_string(),
                );
                refused.push((e, reason));
            } else if states
                .iter()
                .all(|s| matches!(s, Some(RecordStatus::Stored | RecordStatus::Duplicate)))
            {
                confirmed.push(e);
            } else {
                out.unanswered += 1;
            }
        }
        out.confirmed = confirmed.len();
        out.refused = refused
            .iter()
            .map(|(e, r)| (format!("{} {}", e.table, e.key), r.clone()))
            .collect();
        if confirmed.is_empty() && refused.is_empty() {
            return Ok(out);
        }
        let now = self.now();
        self.write(|tx, docs| {
            let keys: Vec<String> = confirmed
                .iter()
                .map(|e| confirmation_key(&e.table, &e.key, &e.version))
                .collect();
            confirm(tx, docs, now, &keys)?;
            for (e, reason) in &refused {
                tx.prepare_cached(
                    "UPDATE sync_queue SET sync_status = 'failed', retry_count = retry_count + 1,
                        error_message = ?2, processed_at = ?3 WHERE id = ?1",
                )?
                .execute(params![e.entry, reason, db::ts(now)])?;
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Outbox entries HQ refused, newest first (table and key, HQ's reason).
    pub fn hq_refused(&self, limit: usize) -> Result<Vec<(String, String, String)>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT table_name, record_key, COALESCE(error_message, '') FROM sync_queue
                 WHERE sync_status = 'failed' ORDER BY id DESC LIMIT ?1",
            )?
            .query_map([limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?)
    }
}

/// Where HQ is and the store's credential there (a device token HQ issued for the store).
/// Entered once on any lane; it travels to the others in the `settings` document (see
/// ARCHITECTURE.md, "HQ forwarding", for why that is safe). Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct HqCredential {
    /// HQ's base address, like `https://hq.example.id`.
    pub url: String,
    pub token: String,
}

impl std::fmt::Debug for HqCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HqCredential")
            .field("url", &self.url)
            .field("token", &"(hidden)")
            .finish()
    }
}

const HQ_URL: &str = "hq_url";
const HQ_TOKEN: &str = "hq_token";

impl Till {
    /// Stores HQ's address and the store's credential for every lane (a manager's act).
    pub fn set_hq_credential(&mut self, url: &str, token: &str) -> Result<()> {
        let session = self.session()?;
        if session.role != kasir_schema::roles::Role::Manager
            && session.role != kasir_schema::roles::Role::Admin
        {
            return Err(NodeError::Invalid(
                "only a manager may connect the store to HQ".into(),
            ));
        }
        let url = url.trim().trim_end_matches('/');
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2000 {
            return Err(NodeError::Invalid(format!(
                "HQ's address must start with http:// or https://, not {url:?}"
            )));
        }
        let token = token.trim();
        if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_whitespace) {
            return Err(NodeError::Invalid(
                "the HQ credential must be the token HQ issued, without spaces".into(),
            ));
        }
        self.write(|tx, docs| {
            docs.edit(tx, DocId::Settings, |doc| {
                use automerge::transaction::Transactable;
                doc.put(automerge::ROOT, HQ_URL, url)?;
                doc.put(automerge::ROOT, HQ_TOKEN, token)?;
                Ok(())
            })
        })
    }

    /// HQ's address and the store's credential, when a lane of the store entered them.
    pub fn hq_credential(&mut self) -> Result<Option<HqCredential>> {
        let doc = self.doc(DocId::Settings)?;
        let url = crate::docs::get_str(doc, HQ_URL);
        let token = crate::docs::get_str(doc, HQ_TOKEN);
        Ok(url
            .zip(token)
            .map(|(url, token)| HqCredential { url, token }))
    }
}

const HQ_CURSOR: &str = "hq_cursor";
/// The field of a catalog or customer record that holds HQ's values as last applied (JSON),
/// the base of the three-way rule of [`Till::hq_apply_download`].
pub(crate) const HQ_BASE: &str = "hq_base";
/// The key of HQ's `updated_at` in a base (no record field has this name).
pub(crate) const BASE_AT: &str = "hq_updated_at";

/// Fields to write: (name, value; `None` removes it).
type Fields = Vec<(&'static str, Option<String>)>;

/// HQ's fields of a record against the base (HQ's values last applied): the fields HQ changed
/// since, and the new base; `None` when HQ changed nothing. A record never applied has an
/// empty base, so every field counts as changed.
///
/// A base two leaders wrote apart (a partition: one applied an older page of HQ's, the other
/// a newer) counts as empty too: Automerge's tie-break may show the older base beside the
/// newer field or the other way round, so only HQ's values whole are sure to be right.
///
/// The new base also holds HQ's `updated_at` of the record (`BASE_AT`), so that where two
/// leaders wrote bases apart, the projection can tell HQ's newer values ([`hq_wins_ties`]).
fn three_way(
    doc: &automerge::AutoCommit,
    key: &str,
    hq: &Fields,
    updated_at: DateTime<Utc>,
) -> Option<(Fields, String)> {
    let base_key = format!("{key}{SEP}{HQ_BASE}");
    let base: BTreeMap<String, Option<String>> = if crate::docs::written_apart(doc, &base_key) {
        BTreeMap::new()
    } else {
        crate::docs::get_str(doc, &base_key)
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default()
    };
    let changed: Fields = hq
        .iter()
        .filter(|(f, v)| base.get(*f) != Some(v))
        .cloned()
        .collect();
    if changed.is_empty() {
        return None;
    }
    let at = Some(updated_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let mut new_base: BTreeMap<&str, &Option<String>> = hq.iter().map(|(f, v)| (*f, v)).collect();
    new_base.insert(BASE_AT, &at);
    Some((
        changed,
        serde_json::to_string(&new_base).unwrap_or_default(),
    ))
}

/// Where a writer that applied HQ's values and one that did not wrote a field of a record
/// apart (a sign-up on one lane, and HQ's copy of that customer applied by a leader cut off
/// from it), the record reads HQ's value, the one its `hq_base` holds, on every lane alike,
/// whatever Automerge's tie-break shows. Where two leaders wrote bases apart, the base of
/// HQ's newest values counts (its `updated_at`). HQ sends a record again only when it changes
/// it, so otherwise the store could keep an older value for good (found by `kasir-sim`).
/// The catalog and customer projections apply it to every record they read.
pub(crate) fn hq_wins_ties(
    doc: &automerge::AutoCommit,
    id: &str,
    fields: &mut crate::docs::Fields,
) {
    if !fields.contains_key(HQ_BASE) {
        return;
    }
    let base_key = format!("{id}{SEP}{}", HQ_BASE);
    let newest = crate::docs::all_values(doc, &base_key)
        .into_iter()
        .filter_map(|v| match v {
            crate::docs::Field::Text(t) => {
                serde_json::from_str::<BTreeMap<String, Option<String>>>(&t).ok()
            }
            _ => None,
        })
        .max_by(|a, b| a.get(BASE_AT).cmp(&b.get(BASE_AT)));
    let Some(base) = newest else {
        return;
    };
    for (field, value) in base {
        let Some(value) = value.filter(|_| field != BASE_AT) else {
            continue;
        };
        let all = crate::docs::all_values(doc, &format!("{id}{SEP}{field}"));
        let hq = crate::docs::Field::Text(value);
        if all.len() > 1 && all.contains(&hq) {
            fields.insert(field, hq);
        }
    }
}

fn write_three_way(
    doc: &mut automerge::AutoCommit,
    key: &str,
    fields: &Fields,
    base: &str,
) -> Result<()> {
    crate::docs::put_fields(doc, key, fields)?;
    crate::docs::put_fields(doc, key, &[(HQ_BASE, Some(base.to_string()))])
}

/// What a download changed on the lanes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub products: usize,
    pub categories: usize,
    pub customers: usize,
    /// HQ movements applied now (a movement applied before is not counted).
    pub movements: usize,
    /// Records the lanes cannot hold, with why (HQ's data that breaks a lane's rule).
    pub skipped: Vec<String>,
}

impl Till {
    /// Where the store's downloads from HQ stand (the `cursor` of the last page applied), in
    /// the `settings` document, so a new leader goes on from there; `None` before the first
    /// (a cursor of an older form counts as none: the next download sends everything again,
    /// which changes nothing that is there). Two cursors written apart (two leaders during a
    /// partition) count as none too: the older leader's values may show beside the newer
    /// leader's cursor, and only a download from the start is sure to set them right (found
    /// by the simulator, issue #14).
    pub fn hq_cursor(&mut self) -> Result<Option<String>> {
        let doc = self.doc(DocId::Settings)?;
        if crate::docs::written_apart(doc, HQ_CURSOR) {
            return Ok(None);
        }
        Ok(crate::docs::get_str(doc, HQ_CURSOR).filter(|c| c.starts_with("1:")))
    }

    /// Applies a page of a download from HQ (`GET /api/sync/download/{store}?cursor=`) to the
    /// store's documents, then moves the cursor to the page's. Each step is idempotent, so a download applied
    /// twice (two leaders, a crash before the cursor moved) changes nothing the second time:
    /// - products and customers, field by field, three ways: a field HQ changed since the
    ///   values last applied (`hq_base`, kept in the record) takes HQ's value; a field HQ did
    ///   not change keeps the store's, so a store-local edit (a store price override, a phone
    ///   corrected at the till) stands until HQ changes that field, and HQ's change wins then.
    ///   HQ's `updated_at` is not used: it moves with every sale HQ ingests;
    /// - categories: HQ's fields, written when they differ;
    /// - HQ stock movements: applied under their own ids into `ledger/<day>/hq` (once
    ///   chain-wide, I3), and confirmed at once (HQ holds them; no lane sends them back);
    /// - customers applied from HQ are confirmed the same way.
    pub fn hq_apply_download(
        &mut self,
        data: &kasir_schema::wire::SyncDownloadData,
        cursor: &str,
    ) -> Result<Applied> {
        use kasir_schema::domain::{Category, Product, SaleUnit};
        let mut applied = Applied::default();
        if let Some(categories) = &data.categories {
            let list: Vec<Category> = categories
                .iter()
                .map(|c| Category {
                    id: c.id,
                    name: c.name.clone(),
                    description: c.description.clone(),
                    parent_id: c.parent_id.filter(|p| *p != c.id),
                    sort_order: c.sort_order,
                    is_active: c.is_active,
                })
                .collect();
            if !list.is_empty() {
                applied.categories = self.import_categories(&list)?;
            }
        }
        if let Some(products) = &data.products {
            let mut plan: Vec<(String, Fields, String)> = Vec::new();
            for p in products {
                let product = Product {
                    sku: p.sku.clone(),
                    server_id: Some(p.id),
                    barcode: p.barcode.clone(),
                    name: p.name.clone(),
                    description: p.description.clone(),
                    category_id: p.category_id,
                    unit: if p.unit == "kg" {
                        SaleUnit::Kilogram
                    } else {
                        SaleUnit::Piece
                    },
                    cost_price: p.cost_price,
                    selling_price: p.selling_price,
                    min_stock: p.min_stock,
                    max_stock: p.max_stock,
                    is_active: p.is_active && p.is_available,
                };
                if let Err(e) = crate::catalog::validate_product(&product) {
                    applied.skipped.push(format!("product {}: {e}", p.sku));
                    continue;
                }
                let mut fields = crate::catalog::product_fields(&product);
                let doc = self.doc(DocId::catalog_for(&p.sku))?;
                let held = crate::docs::get_str(doc, &format!("{}{SEP}name", p.sku)).is_some();
                // A store price of 0 at HQ is no price (a row HQ made from a movement): the
                // lanes keep theirs, and a product they do not hold yet waits for one.
                if p.selling_price.is_zero() {
                    if !held {
                        continue;
                    }
                    fields.retain(|(f, _)| *f != "price");
                }
                if let Some(change) = three_way(doc, &p.sku, &fields, p.updated_at) {
                    plan.push((p.sku.clone(), change.0, change.1));
                }
            }
            if !plan.is_empty() {
                let now = db::ts(self.now());
                let write = |till: &mut Till, plan: &[(String, Fields, String)]| {
                    till.write(|tx, docs| {
                        let mut shards: BTreeMap<DocId, BTreeSet<String>> = BTreeMap::new();
                        for (sku, fields, base) in plan {
                            let id = DocId::catalog_for(sku);
                            docs.edit(tx, id, |doc| write_three_way(doc, sku, fields, base))?;
                            shards.entry(id).or_default().insert(sku.clone());
                        }
                        for (id, skus) in shards {
                            let doc = docs.get(tx, id)?;
                            crate::catalog::reproject_shard(tx, doc, Some(&skus), id, &now)?;
                        }
                        Ok(())
                    })
                };
                if write(self, &plan).is_ok() {
                    applied.products = plan.len();
                } else {
                    // One product the lanes cannot take (its HQ id held by another SKU here)
                    // must not hold up the rest: one at a time, the refused ones named.
                    for one in plan.chunks(1) {
                        match write(self, one) {
                            Ok(()) => applied.products += 1,
                            Err(e) => applied.skipped.push(format!("product {}: {e}", one[0].0)),
                        }
                    }
                }
            }
        }
        if let Some(customers) = &data.customers {
            let now = self.now();
            let mut plan: Vec<(String, Fields, String)> = Vec::new();
            for c in customers {
                let id = c.customer_uuid.to_string();
                let customer = Customer {
                    id: c.customer_uuid,
                    customer_code: c.customer_code.clone(),
                    name: c.name.clone(),
                    email: c.email.clone(),
                    phone: c
                        .phone
                        .as_deref()
                        .and_then(|p| crate::customers::normalize_phone(p).ok()),
                    address: c.address.clone(),
                    date_of_birth: c.date_of_birth,
                    is_active: c.is_active,
                };
                let fields = crate::customers::customer_fields(&customer);
                let doc = self.doc(DocId::customers_for(&id))?;
                if let Some(change) = three_way(doc, &id, &fields, c.updated_at) {
                    plan.push((id, change.0, change.1));
                }
            }
            if !plan.is_empty() {
                applied.customers = plan.len();
                let stamp = db::ts(now);
                self.write(|tx, docs| {
                    let mut keys = Vec::new();
                    for (id, fields, base) in &plan {
                        let shard = DocId::customers_for(id);
                        docs.edit(tx, shard, |doc| write_three_way(doc, id, fields, base))?;
                        let one: BTreeSet<String> = [id.clone()].into();
                        let doc = docs.get(tx, shard)?;
                        crate::customers::reproject_shard(tx, doc, Some(&one), shard, &stamp)?;
                        // The customer as the lanes now hold it: HQ has it, nobody sends it back.
                        let json: Option<String> = tx
                            .query_row(
                                "SELECT data_json FROM sync_queue WHERE table_name = 'customers'
                                 AND record_key = ?1 ORDER BY id DESC LIMIT 1",
                                [id],
                                |r| r.get(0),
                            )
                            .ok();
                        if let Some(json) = json {
                            keys.push(confirmation_key(
                                "customers",
                                id,
                                &version_of("customers", &json),
                            ));
                        }
                    }
                    confirm(tx, docs, now, &keys)
                })?;
            }
        }
        if let Some(moves) = &data.stock_movements {
            let store = self.config()?.code.clone();
            for m in moves {
                let movement = m.to_movement(&store);
                match self.apply_external_movement(&movement) {
                    Ok(true) => applied.movements += 1,
                    Ok(false) => {}
                    Err(e) => {
                        applied
                            .skipped
                            .push(format!("movement {}: {e}", m.movement_id));
                        continue;
                    }
                }
                let now = self.now();
                let key = confirmation_key("stock_movements", &m.movement_id.to_string(), "");
                self.write(|tx, docs| confirm(tx, docs, now, &[key]))?;
            }
        }
        if self.hq_cursor()?.as_deref() == Some(cursor) {
            // Nothing new (the usual poll): the settings document does not move.
            return Ok(applied);
        }
        self.write(|tx, docs| {
            docs.edit(tx, DocId::Settings, |doc| {
                use automerge::transaction::Transactable;
                doc.put(automerge::ROOT, HQ_CURSOR, cursor)?;
                Ok(())
            })
        })?;
        Ok(applied)
    }
}
