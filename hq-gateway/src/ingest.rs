//! `POST /api/sync/upload`'s one transaction, in phases. [`ingest`] reads as their list:
//!
//! 1. **customers**: the upload's customers are stored, or updated when the upload is newer.
//! 2. **references**: what the batch names is looked up at once: products (by SKU, id or
//!    barcode), customers (by uuid), the sales already stored (by id, with their hashes).
//! 3. **classify sales**: each sale is a duplicate, a conflict, invalid or new
//!    ([`classify_sales`], no database).
//! 4. **numbers**: a new sale whose number another sale holds becomes a conflict.
//! 5. **store sales**: the new sales, then their lines and payments, in multi-row statements.
//! 6. **stock**: the upload's own movements are classified; every movement (the sales' and
//!    the store's) is stored and the store's stock follows, one upsert per chunk of products.
//! 7. **low stock**: a `stock.low` event for each product this upload took to or below its
//!    minimum.
//! 8. **loyalty**: entries derived from the sales and sent alone are stored once; balances
//!    follow.
//! 9. **shift reports**: each lane's Z reports, stored once by shift (`shifts.rs`).
//! 10. **close**: the audit row, the store's `last_sync`, the change counter the lookup caches
//!     of other instances watch, the download versions of the customers it changed.
//!
//! Database phases are macros (the body is written once for both backends, inside
//! [`on_db!`]); what needs no database is plain functions, tested on their own.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::domain::{LoyaltyEntry, StockMovement};
use kasir_schema::txn_number::StoreCode;
use kasir_schema::wire::{
    Processed, ProcessedCounts, RecordError, RecordResult, RecordStatus, StockMovementRecord,
    SyncUploadRequest, UploadCustomer, UploadPaymentDetail, UploadTransaction,
    UploadTransactionDetail,
};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{Db, to_i64};
use crate::error::{ApiError, ApiResult};
use crate::on_db;

/// Most lines one sale may carry.
pub const MAX_LINES: usize = 500;
/// Rows per multi-row INSERT statement.
const CHUNK: usize = 1000;

/// The content hash a sale is stored with: SHA-256 of its canonical JSON (numbers normalized,
/// so `1.50` and `1.5` are the same sale), without `local_id`, the row id on whichever lane
/// forwarded it (a sale forwarded again by another lane after a leader change is the same sale).
pub fn content_hash(t: &UploadTransaction) -> String {
    let mut t = t.clone();
    t.local_id = None;
    canonical_hash(serde_json::to_value(&t).unwrap_or_default())
}

/// SHA-256 (hex) of a JSON value with its numbers normalized (`1.50` and `1.5` hash alike).
pub fn canonical_hash(v: serde_json::Value) -> String {
    fn canon(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Number(n) => {
                let s = n.to_string();
                match Decimal::from_str(&s).or_else(|_| Decimal::from_scientific(&s)) {
                    Ok(d) => serde_json::Value::String(d.normalize().to_string()),
                    Err(_) => serde_json::Value::String(s),
                }
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(canon).collect())
            }
            serde_json::Value::Object(o) => {
                serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, canon(v))).collect())
            }
            other => other,
        }
    }
    hex::encode(Sha256::digest(canon(v).to_string().as_bytes()))
}

/// The earliest time a record may carry: a sale, movement or change dated before it comes from
/// a till whose clock is wrong.
pub const EARLIEST_RECORD: &str = "2000-01-01T00:00:00Z";

/// [`EARLIEST_RECORD`] as a time (946,684,800 s after the Unix epoch; a test checks the two
/// agree).
pub fn earliest_record() -> DateTime<Utc> {
    DateTime::from_timestamp(946_684_800, 0).unwrap_or_default()
}

/// A record's time, refused when it is before [`EARLIEST_RECORD`].
pub(crate) fn check_time(field: &str, t: DateTime<Utc>) -> Result<(), String> {
    if t < earliest_record() {
        return Err(format!(
            "{field}: must not be before {EARLIEST_RECORD} (is the till's clock right?)"
        ));
    }
    Ok(())
}

/// What is wrong with a sale before it touches the database.
pub(crate) fn check_sale(t: &UploadTransaction) -> Result<(), String> {
    if t.details.is_empty() {
        return Err("details: a sale needs at least one line".into());
    }
    if t.details.len() > MAX_LINES {
        return Err(format!("details: at most {MAX_LINES} lines"));
    }
    let n = t.transaction_number.trim();
    if n.is_empty() || n.len() > 100 {
        return Err("transaction_number: must be 1 to 100 characters".into());
    }
    check_time("transaction_date", t.transaction_date)?;
    for (name, v) in [
        ("subtotal", t.subtotal),
        ("tax_amount", t.tax_amount),
        ("discount_amount", t.discount_amount),
        ("total_amount", t.total_amount),
        ("change_amount", t.change_amount),
        ("rounding_amount", t.rounding_amount),
    ] {
        crate::db::check_money(v).map_err(|e| format!("{name}: {}", e.message))?;
    }
    if t.total_amount < Decimal::ZERO {
        return Err("total_amount: must not be negative".into());
    }
    let mut lines = BTreeSet::new();
    for (i, d) in t.details.iter().enumerate() {
        if d.product_id.is_none() && d.sku.is_none() && d.barcode.is_none() {
            return Err(format!(
                "details.{i}: name the product by product_id, sku or barcode"
            ));
        }
        if d.sku
            .as_ref()
            .is_some_and(|s| s.trim().is_empty() || s.len() > 100)
        {
            return Err(format!("details.{i}.sku: must be 1 to 100 characters"));
        }
        if d.barcode
            .as_ref()
            .is_some_and(|b| b.trim().is_empty() || b.len() > 255)
        {
            return Err(format!("details.{i}.barcode: must be 1 to 255 characters"));
        }
        if d.quantity <= Decimal::ZERO {
            return Err(format!("details.{i}.quantity: must be greater than 0"));
        }
        crate::db::check_qty(d.quantity)
            .map_err(|e| format!("details.{i}.quantity: {}", e.message))?;
        for (name, v) in [
            ("unit_price", d.unit_price),
            ("discount_amount", d.discount_amount),
            ("total_price", d.total_price),
            ("tax_amount", d.tax_amount),
        ] {
            crate::db::check_money(v).map_err(|e| format!("details.{i}.{name}: {}", e.message))?;
        }
        if !lines.insert(t.line_no(i)) {
            return Err(format!(
                "details.{i}.line_no: {} appears twice",
                t.line_no(i)
            ));
        }
    }
    for (i, p) in t.payments.iter().enumerate() {
        crate::db::check_money(p.amount)
            .map_err(|e| format!("payments.{i}.amount: {}", e.message))?;
        if p.reference_number.as_ref().is_some_and(|r| r.len() > 255) {
            return Err(format!(
                "payments.{i}.reference_number: at most 255 characters"
            ));
        }
    }
    Ok(())
}

fn check_movement(m: &StockMovementRecord) -> Result<(), String> {
    if m.reference_id.is_some() || m.from_store_id.is_some() || m.to_store_id.is_some() {
        return Err(
            "reference_id, from_store_id and to_store_id are set by HQ (PUT /api/products/{id}/stock)"
                .into(),
        );
    }
    if m.sku.trim().is_empty() || m.sku.len() > 100 {
        return Err("sku: must be 1 to 100 characters".into());
    }
    if m.quantity.is_zero() {
        return Err("quantity: must not be 0".into());
    }
    crate::db::check_qty(m.quantity).map_err(|e| format!("quantity: {}", e.message))?;
    check_time("created_at", m.created_at)?;
    Ok(())
}

fn check_customer(c: &UploadCustomer) -> Result<(), String> {
    let name = c.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err("name: must be 1 to 255 characters".into());
    }
    check_time("updated_at", c.updated_at)?;
    for (field, v, max) in [
        ("customer_code", &c.customer_code, 100),
        ("email", &c.email, 255),
        ("phone", &c.phone, 20),
        ("address", &c.address, 2000),
    ] {
        if v.as_ref().is_some_and(|s| s.chars().count() > max) {
            return Err(format!("{field}: at most {max} characters"));
        }
    }
    Ok(())
}

/// The products an upload names, by SKU, HQ id and barcode.
#[derive(Debug, Default)]
struct ProductNames {
    by_sku: HashMap<String, i64>,
    by_id: HashMap<i64, String>,
    by_barcode: HashMap<String, String>,
}

impl ProductNames {
    fn add(&mut self, id: i64, sku: String, barcode: Option<String>) {
        if let Some(b) = barcode {
            self.by_barcode.insert(b, sku.clone());
        }
        self.by_id.insert(id, sku.clone());
        self.by_sku.insert(sku, id);
    }

    /// The SKU of the product a line names by `product_id`, `sku` and/or `barcode` (all that
    /// are given must name the same product).
    fn sku(&self, d: &UploadTransactionDetail) -> Result<String, String> {
        let mut found: Option<(&str, String)> = None;
        let mut agree = |field: &'static str, sku: Option<&String>, given: String| {
            let Some(sku) = sku else {
                return Err(format!(
                    "unknown {field} {given}: create the product at HQ first"
                ));
            };
            match &found {
                Some((f, s)) if s != sku => Err(format!(
                    "{f} and {field} name different products ({s:?} and {sku:?})"
                )),
                _ => {
                    found = Some((field, sku.clone()));
                    Ok(())
                }
            }
        };
        if let Some(p) = d.product_id {
            let id = i64::try_from(p).unwrap_or(-1);
            agree("product_id", self.by_id.get(&id), p.to_string())?;
        }
        if let Some(s) = &d.sku {
            let s = s.trim();
            let known = self.by_sku.contains_key(s).then(|| s.to_string());
            agree("sku", known.as_ref(), format!("{s:?}"))?;
        }
        if let Some(b) = &d.barcode {
            let b = b.trim();
            agree("barcode", self.by_barcode.get(b), format!("{b:?}"))?;
        }
        found
            .map(|(_, s)| s)
            .ok_or_else(|| "name the product by product_id, sku or barcode".to_string())
    }

    /// The sale as HQ keys and hashes it: with its id (its own, or by store and number) and
    /// every line naming its product by SKU alone, as lanes send it, so the same sale named
    /// another way is the same sale. The error names the first line whose product is unknown
    /// or ambiguous.
    fn normalize(
        &self,
        t: &UploadTransaction,
        store: &StoreCode,
    ) -> (UploadTransaction, Option<String>) {
        let mut n = t.clone();
        n.sale_id = Some(t.id(store));
        n.transaction_number = t.transaction_number.trim().to_string();
        let mut error = None;
        for (i, d) in n.details.iter_mut().enumerate() {
            match self.sku(d) {
                Ok(sku) => {
                    d.sku = Some(sku);
                    d.product_id = None;
                    d.barcode = None;
                }
                Err(e) => {
                    error.get_or_insert(format!("details.{i}: {e}"));
                }
            }
        }
        (n, error)
    }
}

/// A result list being filled in request order.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) counts: ProcessedCounts,
}

impl Tally {
    pub(crate) fn record(&mut self, id: String, status: RecordStatus, error: Option<String>) {
        match status {
            RecordStatus::Stored | RecordStatus::Duplicate => self.counts.success += 1,
            RecordStatus::Conflict | RecordStatus::Invalid => {
                self.counts.failed += 1;
                self.counts.errors.push(RecordError {
                    id: id.clone(),
                    message: error.unwrap_or_else(|| "refused".into()),
                });
            }
        }
        self.counts.results.push(RecordResult { id, status });
    }
}

/// Builds `(?, ?, …), (?, ?, …)` for `rows` rows of `cols` columns.
fn placeholders(rows: usize, cols: usize) -> String {
    let one = format!("({})", vec!["?"; cols].join(", "));
    vec![one; rows].join(", ")
}

pub(crate) fn in_list(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Runs `SELECT … IN (…)` over `keys` in chunks, calling `$each` with every row.
macro_rules! select_in {
    ($tx:ident, $sql:literal, $keys:expr, |$r:ident| $each:block) => {
        for chunk in $keys.chunks(CHUNK) {
            let sql = format!($sql, in_list(chunk.len()));
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for k in chunk {
                q = q.bind(k);
            }
            for $r in q.fetch_all(&mut *$tx).await? $each
        }
    };
}

/// What a batch names, gathered before anything is looked up.
#[derive(Debug, Default)]
struct Referenced<'a> {
    skus: Vec<&'a str>,
    product_ids: Vec<i64>,
    barcodes: Vec<&'a str>,
    customers: Vec<String>,
}

impl<'a> Referenced<'a> {
    fn of(req: &'a SyncUploadRequest) -> Referenced<'a> {
        let mut skus: BTreeSet<&str> = BTreeSet::new();
        let mut product_ids: BTreeSet<i64> = BTreeSet::new();
        let mut barcodes: BTreeSet<&str> = BTreeSet::new();
        let mut customers: BTreeSet<String> = BTreeSet::new();
        for t in &req.data.transactions {
            for d in &t.details {
                skus.extend(d.sku.as_deref().map(str::trim));
                product_ids.extend(d.product_id.and_then(|p| i64::try_from(p).ok()));
                barcodes.extend(d.barcode.as_deref().map(str::trim));
            }
            customers.extend(t.customer_uuid.map(|c| c.0.to_string()));
        }
        skus.extend(req.data.stock_movements.iter().map(|m| m.sku.as_str()));
        customers.extend(
            req.data
                .loyalty_entries
                .iter()
                .map(|e| e.customer_uuid.0.to_string()),
        );
        Referenced {
            skus: skus.into_iter().collect(),
            product_ids: product_ids.into_iter().collect(),
            barcodes: barcodes.into_iter().collect(),
            customers: customers.into_iter().collect(),
        }
    }
}

/// A sale to store, with its content hash.
type NewSale<'a> = (&'a UploadTransaction, String);

/// Phase 3: each (normalized) sale against what is stored and what came before it in the
/// batch: a duplicate, a conflict (same id, other content), invalid (its own rules, an
/// unknown product or customer, a number twice in the batch) or new.
fn classify_sales<'a>(
    transactions: &'a [(UploadTransaction, Option<String>)],
    stored: &HashMap<String, String>,
    customer_ids: &HashMap<String, i64>,
    store: &StoreCode,
) -> (Tally, Vec<NewSale<'a>>) {
    let mut sales = Tally::default();
    let mut new_sales = Vec::new();
    let mut seen: HashMap<String, String> = HashMap::new();
    let mut numbers: BTreeSet<&str> = BTreeSet::new();
    for (t, naming) in transactions {
        let id = t.id(store).0.to_string();
        let hash = content_hash(t);
        if let Some(h) = stored.get(&id).or_else(|| seen.get(&id)) {
            if *h == hash {
                sales.record(id, RecordStatus::Duplicate, None);
            } else {
                sales.record(
                    id,
                    RecordStatus::Conflict,
                    Some("a different sale with this sale_id is stored".into()),
                );
            }
            continue;
        }
        let problem = check_sale(t)
            .err()
            .or_else(|| naming.clone())
            .or_else(|| {
                t.customer_uuid
                    .filter(|c| !customer_ids.contains_key(&c.0.to_string()))
                    .map(|c| {
                        format!(
                            "unknown customer {}: upload the customer with the sale",
                            c.0
                        )
                    })
            })
            .or_else(|| {
                (!numbers.insert(t.transaction_number.as_str()))
                    .then(|| "transaction_number appears twice in this upload".to_string())
            });
        if let Some(p) = problem {
            sales.record(id, RecordStatus::Invalid, Some(p));
            continue;
        }
        seen.insert(id.clone(), hash.clone());
        new_sales.push((t, hash));
        sales.record(id, RecordStatus::Stored, None);
    }
    (sales, new_sales)
}

/// Phase 4's verdict: the new sales whose number another stored sale holds become conflicts.
fn retire_taken_numbers(
    sales: &mut Tally,
    new_sales: &mut Vec<NewSale<'_>>,
    taken: &BTreeSet<String>,
    store: &StoreCode,
) {
    new_sales.retain(|(t, _)| {
        if !taken.contains(&t.transaction_number) {
            return true;
        }
        let id = t.id(store).0.to_string();
        if let Some(r) = sales.counts.results.iter_mut().find(|r| r.id == id) {
            r.status = RecordStatus::Conflict;
        }
        sales.counts.success -= 1;
        sales.counts.failed += 1;
        sales.counts.errors.push(RecordError {
            id,
            message: format!(
                "transaction_number {} belongs to another sale",
                t.transaction_number
            ),
        });
        false
    });
}

/// What the new sales bring with them, by the row id each was stored under: lines,
/// payments, and the stock movements and loyalty entries they imply.
#[derive(Debug, Default)]
struct SaleRows<'a> {
    lines: Vec<(i64, u16, &'a UploadTransactionDetail)>,
    payments: Vec<(i64, &'a UploadPaymentDetail)>,
    movements: Vec<StockMovement>,
    loyalty: Vec<LoyaltyEntry>,
}

fn sale_rows<'a>(
    new_sales: &[NewSale<'a>],
    row_ids: &HashMap<String, i64>,
    store: &StoreCode,
) -> ApiResult<SaleRows<'a>> {
    let mut rows = SaleRows::default();
    for (t, _) in new_sales {
        let rid = row_ids
            .get(&t.id(store).0.to_string())
            .copied()
            .ok_or_else(|| ApiError::internal("a stored sale has no row id"))?;
        for (i, d) in t.details.iter().enumerate() {
            rows.lines.push((rid, t.line_no(i), d));
        }
        for p in &t.payments {
            rows.payments.push((rid, p));
        }
        let (m, l) = t.effects(store);
        rows.movements.extend(m);
        rows.loyalty.extend(l);
    }
    Ok(rows)
}

/// Phase 6's first half: the store's own movements against the stored ones (same id: a
/// duplicate if it moves the same product by the same quantity, else a conflict) and their
/// own rules. Returns the tally and the movements to store.
fn classify_movements(
    records: &[StockMovementRecord],
    known: &mut HashMap<String, (i64, Decimal)>,
    products: &HashMap<String, i64>,
    store: &StoreCode,
) -> (Tally, Vec<StockMovement>) {
    let mut moves = Tally::default();
    let mut own = Vec::new();
    for m in records {
        let id = m.movement_id.0.to_string();
        if let Some((pid, qty)) = known.get(&id) {
            if products.get(&m.sku) == Some(pid) && *qty == m.quantity.normalize() {
                moves.record(id, RecordStatus::Duplicate, None);
            } else {
                moves.record(
                    id,
                    RecordStatus::Conflict,
                    Some("a different movement with this id is stored".into()),
                );
            }
            continue;
        }
        if let Some(p) = check_movement(m).err().or_else(|| {
            (!products.contains_key(&m.sku)).then(|| format!("unknown SKU {:?}", m.sku))
        }) {
            moves.record(id, RecordStatus::Invalid, Some(p));
            continue;
        }
        known.insert(id.clone(), (products[&m.sku], m.quantity.normalize()));
        moves.record(id, RecordStatus::Stored, None);
        own.push(m.to_movement(store));
    }
    (moves, own)
}

/// How much each product's stock changes (products by id; unknown SKUs under 0), and the
/// price a product was sold at in this upload (for a store row HQ never priced).
fn stock_changes(
    movements: &[StockMovement],
    lines: &[(i64, u16, &UploadTransactionDetail)],
    products: &HashMap<String, i64>,
) -> (BTreeMap<i64, Decimal>, HashMap<i64, Decimal>) {
    let mut delta: BTreeMap<i64, Decimal> = BTreeMap::new();
    for m in movements {
        let pid = products.get(&m.sku).copied().unwrap_or(0);
        *delta.entry(pid).or_default() += m.quantity;
    }
    let mut price: HashMap<i64, Decimal> = HashMap::new();
    for (_, _, d) in lines {
        if let Some(pid) = d.sku.as_ref().and_then(|s| products.get(s)) {
            price.entry(*pid).or_insert(d.unit_price);
        }
    }
    (delta, price)
}

/// Phase 8's first half: the entries the sales imply plus those sent alone (whose customer
/// must be known).
fn loyalty_entries(
    req: &SyncUploadRequest,
    derived: Vec<LoyaltyEntry>,
    customer_ids: &HashMap<String, i64>,
    entries: &mut Tally,
) -> Vec<LoyaltyEntry> {
    let mut all = derived;
    for e in &req.data.loyalty_entries {
        let id = e.entry_id.0.to_string();
        if !customer_ids.contains_key(&e.customer_uuid.0.to_string()) {
            entries.record(id, RecordStatus::Invalid, Some("unknown customer".into()));
            continue;
        }
        if let Err(problem) = check_time("created_at", e.created_at) {
            entries.record(id, RecordStatus::Invalid, Some(problem));
            continue;
        }
        all.push(LoyaltyEntry {
            id: e.entry_id,
            customer: e.customer_uuid,
            kind: e.kind,
            points: e.points,
            sale: e.sale_id,
            created_at: e.created_at,
        });
    }
    all
}

/// Phase 8's verdict: entries not stored before (by id), each customer's change of balance,
/// and a result for each entry sent alone.
fn fresh_loyalty<'e>(
    req: &SyncUploadRequest,
    all: &'e [LoyaltyEntry],
    mut known: BTreeSet<String>,
    customer_ids: &HashMap<String, i64>,
    entries: &mut Tally,
) -> (Vec<(i64, &'e LoyaltyEntry)>, BTreeMap<i64, i64>) {
    let standalone: BTreeSet<String> = req
        .data
        .loyalty_entries
        .iter()
        .map(|e| e.entry_id.0.to_string())
        .collect();
    let mut points: BTreeMap<i64, i64> = BTreeMap::new();
    let mut fresh = Vec::new();
    for e in all {
        let id = e.id.0.to_string();
        let dup = !known.insert(id.clone());
        if standalone.contains(&id) {
            let status = if dup {
                RecordStatus::Duplicate
            } else {
                RecordStatus::Stored
            };
            entries.record(id.clone(), status, None);
        }
        if dup {
            continue;
        }
        let cid = customer_ids
            .get(&e.customer.0.to_string())
            .copied()
            .unwrap_or(0);
        *points.entry(cid).or_default() += e.points;
        fresh.push((cid, e));
    }
    (fresh, points)
}

/// Phase 1: the upload's customers, inserted or (when the upload is newer) updated.
macro_rules! store_customers {
    ($B:ident, $tx:ident, $req:expr, $sid:expr) => {{
        let mut customers = Tally::default();
        // Customers inserted or changed (stamped for the download at the end).
        let mut changed: Vec<String> = Vec::new();
        for c in &$req.data.customers {
            let id = c.customer_uuid.0.to_string();
            if let Err(e) = check_customer(c) {
                customers.record(id, RecordStatus::Invalid, Some(e));
                continue;
            }
            let upsert = if $B::IS_MYSQL {
                "INSERT INTO customers (customer_uuid, customer_code, name, email, phone, address, date_of_birth,
                    is_active, preferred_store_id, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON DUPLICATE KEY UPDATE
                    customer_code = IF(VALUES(updated_at) > updated_at, VALUES(customer_code), customer_code),
                    email = IF(VALUES(updated_at) > updated_at, VALUES(email), email),
                    phone = IF(VALUES(updated_at) > updated_at, VALUES(phone), phone),
                    address = IF(VALUES(updated_at) > updated_at, VALUES(address), address),
                    date_of_birth = IF(VALUES(updated_at) > updated_at, VALUES(date_of_birth), date_of_birth),
                    is_active = IF(VALUES(updated_at) > updated_at, VALUES(is_active), is_active),
                    name = IF(VALUES(updated_at) > updated_at, VALUES(name), name),
                    updated_at = GREATEST(updated_at, VALUES(updated_at))"
            } else {
                "INSERT INTO customers (customer_uuid, customer_code, name, email, phone, address, date_of_birth,
                    is_active, preferred_store_id, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(customer_uuid) DO UPDATE SET
                    customer_code = excluded.customer_code, name = excluded.name, email = excluded.email,
                    phone = excluded.phone, address = excluded.address, date_of_birth = excluded.date_of_birth,
                    is_active = excluded.is_active, updated_at = excluded.updated_at
                 WHERE excluded.updated_at > customers.updated_at"
            };
            let r = sqlx::query(upsert)
                .bind(&id)
                .bind(&c.customer_code)
                .bind(c.name.trim())
                .bind(&c.email)
                .bind(&c.phone)
                .bind(&c.address)
                .bind(c.date_of_birth)
                .bind(c.is_active)
                .bind($sid)
                .bind($B::time(c.updated_at))
                .bind($B::time(c.updated_at))
                .execute(&mut *$tx)
                .await;
            match r {
                Ok(r) => {
                    if r.rows_affected() > 0 {
                        changed.push(id.clone());
                    }
                    customers.record(id, RecordStatus::Stored, None)
                }
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => customers.record(
                    id,
                    RecordStatus::Conflict,
                    Some("customer_code belongs to another customer".into()),
                ),
                Err(e) => return Err(e.into()),
            }
        }
        (customers.counts, changed)
    }};
}

/// Phase 2, products: every product the batch names, by SKU, id or barcode.
macro_rules! look_up_products {
    ($B:ident, $tx:ident, $refs:expr) => {{
        let mut named = ProductNames::default();
        select_in!(
            $tx,
            "SELECT id, sku, barcode FROM products WHERE sku IN ({})",
            $refs.skus,
            |r| {
                named.add($B::int(&r, "id")?, r.try_get("sku")?, r.try_get("barcode")?);
            }
        );
        select_in!(
            $tx,
            "SELECT id, sku, barcode FROM products WHERE id IN ({})",
            $refs.product_ids,
            |r| {
                named.add($B::int(&r, "id")?, r.try_get("sku")?, r.try_get("barcode")?);
            }
        );
        select_in!(
            $tx,
            "SELECT id, sku, barcode FROM products WHERE barcode IN ({})",
            $refs.barcodes,
            |r| {
                named.add($B::int(&r, "id")?, r.try_get("sku")?, r.try_get("barcode")?);
            }
        );
        named
    }};
}

/// Phase 2, customers and sales: row ids of the customers named, and the content hash of
/// each sale already stored under one of `sale_ids`.
macro_rules! look_up_customers_and_sales {
    ($B:ident, $tx:ident, $customers:expr, $sale_ids:expr) => {{
        let mut customer_ids: HashMap<String, i64> = HashMap::new();
        select_in!(
            $tx,
            "SELECT id, customer_uuid FROM customers WHERE customer_uuid IN ({})",
            $customers,
            |r| {
                customer_ids.insert(r.try_get("customer_uuid")?, $B::int(&r, "id")?);
            }
        );
        let mut stored: HashMap<String, String> = HashMap::new();
        select_in!(
            $tx,
            "SELECT sale_id, content_hash FROM transactions WHERE sale_id IN ({})",
            $sale_ids,
            |r| {
                stored.insert(r.try_get("sale_id")?, r.try_get("content_hash")?);
            }
        );
        (customer_ids, stored)
    }};
}

/// Phase 4: the numbers of `new_sales` some stored sale already holds.
macro_rules! taken_numbers {
    ($tx:ident, $new_sales:expr) => {{
        let nums: Vec<&str> = $new_sales
            .iter()
            .map(|(t, _)| t.transaction_number.as_str())
            .collect();
        let mut taken: BTreeSet<String> = BTreeSet::new();
        select_in!(
            $tx,
            "SELECT transaction_number FROM transactions WHERE transaction_number IN ({})",
            nums,
            |r| {
                taken.insert(r.try_get("transaction_number")?);
            }
        );
        taken
    }};
}

/// Phase 5, sales: the new sales in multi-row statements; returns the row id of each.
macro_rules! insert_sales {
    ($B:ident, $tx:ident, $new_sales:expr, $customer_ids:expr, $sid:expr, $store:expr, $now:expr) => {{
        for chunk in $new_sales.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO transactions (store_id, sale_id, content_hash, local_id, lane_no, transaction_number,
                    customer_id, customer_uuid, cashier_id, transaction_date, subtotal, tax_amount, discount_amount,
                    total_amount, change_amount, rounding_amount, payment_method, payment_status, notes, synced_at,
                    created_at, updated_at) VALUES {}",
                placeholders(chunk.len(), 22)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (t, hash) in chunk {
                let cust = t.customer_uuid.map(|c| c.0.to_string());
                q = q
                    .bind($sid)
                    .bind(t.id($store).0.to_string())
                    .bind(hash.clone())
                    .bind(t.local_id)
                    .bind(t.lane_no.map(i64::from))
                    .bind(t.transaction_number.trim().to_string())
                    .bind(cust.as_ref().and_then(|c| $customer_ids.get(c)).copied())
                    .bind(cust)
                    .bind(to_i64(t.cashier_id))
                    .bind($B::time(t.transaction_date))
                    .bind($B::money(t.subtotal)?)
                    .bind($B::money(t.tax_amount)?)
                    .bind($B::money(t.discount_amount)?)
                    .bind($B::money(t.total_amount)?)
                    .bind($B::money(t.change_amount)?)
                    .bind($B::money(t.rounding_amount)?)
                    .bind(t.payment_method.as_str())
                    .bind(t.payment_status.as_str())
                    .bind(t.notes.clone())
                    .bind($now)
                    .bind($now)
                    .bind($now);
            }
            q.execute(&mut *$tx).await?;
        }
        let mut row_ids: HashMap<String, i64> = HashMap::new();
        let new_ids: Vec<String> = $new_sales
            .iter()
            .map(|(t, _)| t.id($store).0.to_string())
            .collect();
        select_in!($tx, "SELECT id, sale_id FROM transactions WHERE sale_id IN ({})", new_ids, |r| {
            row_ids.insert(r.try_get("sale_id")?, $B::int(&r, "id")?);
        });
        row_ids
    }};
}

/// Phase 5, lines and payments of the new sales.
macro_rules! insert_lines_and_payments {
    ($B:ident, $tx:ident, $rows:expr, $products:expr, $now:expr) => {{
        for chunk in $rows.lines.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO transaction_details (transaction_id, line_no, product_id, sku, quantity, unit_price,
                    discount_amount, total_price, tax_amount, notes, created_at) VALUES {}",
                placeholders(chunk.len(), 11)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (rid, line_no, d) in chunk {
                q = q
                    .bind(*rid)
                    .bind(i64::from(*line_no))
                    .bind(d.sku.as_ref().and_then(|s| $products.get(s)).copied())
                    .bind(d.sku.clone())
                    .bind($B::qty(d.quantity)?)
                    .bind($B::money(d.unit_price)?)
                    .bind($B::money(d.discount_amount)?)
                    .bind($B::money(d.total_price)?)
                    .bind($B::money(d.tax_amount)?)
                    .bind(d.notes.clone())
                    .bind($now);
            }
            q.execute(&mut *$tx).await?;
        }
        for chunk in $rows.payments.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO payment_details (transaction_id, payment_method, amount, reference_number,
                    payment_status, processed_at, created_at) VALUES {}",
                placeholders(chunk.len(), 7)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (rid, p) in chunk {
                q = q
                    .bind(*rid)
                    .bind(p.payment_method.as_str())
                    .bind($B::money(p.amount)?)
                    .bind(p.reference_number.clone())
                    .bind(p.payment_status.as_str())
                    .bind($now)
                    .bind($now);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}

/// Phase 6, the stored movements among the ones sent alone: id → (product, quantity).
macro_rules! known_movements {
    ($B:ident, $tx:ident, $records:expr) => {{
        let ids: Vec<String> = $records.iter().map(|m| m.movement_id.0.to_string()).collect();
        let mut known: HashMap<String, (i64, Decimal)> = HashMap::new();
        select_in!($tx, "SELECT movement_id, product_id, quantity FROM stock_movements WHERE movement_id IN ({})", ids, |r| {
            known.insert(
                r.try_get("movement_id")?,
                ($B::int(&r, "product_id")?, $B::get_qty(&r, "quantity")?),
            );
        });
        known
    }};
}

/// Phase 6, every movement stored, and each product's stock in the store moved by its
/// change (a product the store sold but HQ never priced for it gets a row at the sold price).
/// One multi-row upsert per chunk of products, in product order, so two uploads lock them in
/// the same order.
macro_rules! move_stock {
    ($B:ident, $tx:ident, $movements:expr, $products:expr, $changes:expr, $price:expr, $sid:expr, $now:expr) => {{
        for chunk in $movements.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity,
                    reference_type, sale_id, notes, created_by, created_at) VALUES {}",
                placeholders(chunk.len(), 10)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                q = q
                    .bind(m.id.0.to_string())
                    .bind($sid)
                    .bind($products.get(&m.sku).copied().unwrap_or(0))
                    .bind(m.movement_type.as_str())
                    .bind($B::qty(m.quantity)?)
                    .bind(m.reference_type.as_str())
                    .bind(m.sale.map(|s| s.0.to_string()))
                    .bind(m.notes.clone())
                    .bind(None::<i64>)
                    .bind($B::time(m.created_at));
            }
            q.execute(&mut *$tx).await?;
        }
        for chunk in $changes.chunks(CHUNK) {
            let sql = if $B::IS_MYSQL {
                format!(
                    "INSERT INTO store_products (store_id, product_id, selling_price, stock_quantity, created_at, updated_at)
                     VALUES {} ON DUPLICATE KEY UPDATE stock_quantity = stock_quantity + VALUES(stock_quantity),
                        updated_at = VALUES(updated_at)",
                    placeholders(chunk.len(), 6)
                )
            } else {
                format!(
                    "INSERT INTO store_products (store_id, product_id, selling_price, stock_quantity, created_at, updated_at)
                     VALUES {} ON CONFLICT(store_id, product_id) DO UPDATE SET
                        stock_quantity = stock_quantity + excluded.stock_quantity, updated_at = excluded.updated_at",
                    placeholders(chunk.len(), 6)
                )
            };
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (pid, d) in chunk {
                q = q
                    .bind($sid)
                    .bind(*pid)
                    .bind($B::money($price.get(pid).copied().unwrap_or_default())?)
                    .bind($B::qty(*d)?)
                    .bind($now)
                    .bind($now);
            }
            q.execute(&mut *$tx).await?;
        }
    }};
}

/// Phase 7: a `stock.low` event for each product this upload took from above its minimum to
/// at or below it.
macro_rules! low_stock_events {
    ($B:ident, $tx:ident, $changes:expr, $sid:expr, $store_id:expr, $store:expr) => {{
        let moved: HashMap<i64, Decimal> = $changes.iter().copied().collect();
        let ids: Vec<i64> = $changes.iter().map(|(pid, _)| *pid).collect();
        let mut low = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT sp.product_id, p.sku, sp.stock_quantity, sp.min_stock FROM store_products sp
                 JOIN products p ON p.id = sp.product_id
                 WHERE sp.store_id = ? AND sp.stock_quantity <= sp.min_stock AND sp.product_id IN ({})",
                in_list(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind($sid);
            for k in chunk {
                q = q.bind(*k);
            }
            for r in q.fetch_all(&mut *$tx).await? {
                let pid = $B::int(&r, "product_id")?;
                let (after, min) = ($B::get_qty(&r, "stock_quantity")?, $B::get_qty(&r, "min_stock")?);
                let before = after - moved.get(&pid).copied().unwrap_or_default();
                if before > min {
                    let sku: String = r.try_get("sku")?;
                    low.push(serde_json::json!({
                        "store_id": $store_id, "store_code": $store.as_str(), "product_id": pid,
                        "sku": sku, "stock_quantity": after, "min_stock": min
                    }));
                }
            }
        }
        for data in low {
            crate::webhooks::enqueue!($B, &mut *$tx, "stock.low", data);
        }
    }};
}

/// Phase 8, the loyalty entries already stored among `all`, by id.
macro_rules! known_entries {
    ($tx:ident, $all:expr) => {{
        let ids: Vec<String> = $all.iter().map(|e| e.id.0.to_string()).collect();
        let mut known: BTreeSet<String> = BTreeSet::new();
        select_in!(
            $tx,
            "SELECT entry_id FROM loyalty_entries WHERE entry_id IN ({})",
            ids,
            |r| {
                known.insert(r.try_get("entry_id")?);
            }
        );
        known
    }};
}

/// Phase 8, the fresh entries stored and each customer's balance moved.
macro_rules! store_loyalty {
    ($B:ident, $tx:ident, $fresh:expr, $points:expr, $sid:expr) => {{
        for chunk in $fresh.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO loyalty_entries (entry_id, customer_id, store_id, kind, points, sale_id, created_at) VALUES {}",
                placeholders(chunk.len(), 7)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (cid, e) in chunk {
                q = q
                    .bind(e.id.0.to_string())
                    .bind(*cid)
                    .bind($sid)
                    .bind(e.kind.as_str())
                    .bind(e.points)
                    .bind(e.sale.map(|s| s.0.to_string()))
                    .bind($B::time(e.created_at));
            }
            q.execute(&mut *$tx).await?;
        }
        for (cid, p) in $points {
            sqlx::query("UPDATE customers SET loyalty_points = loyalty_points + ? WHERE id = ?")
                .bind(p)
                .bind(cid)
                .execute(&mut *$tx)
                .await?;
        }
    }};
}

/// Phase 9, the Z reports: classified against the stored ones, the new ones stored.
macro_rules! store_shift_reports {
    ($B:ident, $tx:ident, $req:expr, $sid:expr, $now:expr) => {{
        let ids: Vec<String> = $req
            .data
            .shift_reports
            .iter()
            .map(|r| r.shift_id.0.to_string())
            .collect();
        let mut known: HashMap<String, (i64, String)> = HashMap::new();
        select_in!(
            $tx,
            "SELECT shift_id, store_id, content_hash FROM shift_reports WHERE shift_id IN ({})",
            ids,
            |r| {
                known.insert(
                    r.try_get("shift_id")?,
                    ($B::int(&r, "store_id")?, r.try_get("content_hash")?),
                );
            }
        );
        let (tally, fresh) =
            crate::shifts::classify_reports(&$req.data.shift_reports, &mut known, $sid);
        for (r, hash) in fresh {
            sqlx::query(
                "INSERT INTO shift_reports (shift_id, store_id, lane_no, closed_at, report_json, content_hash, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(r.shift_id.0.to_string())
            .bind($sid)
            .bind(i64::from(r.lane_no))
            .bind($B::time(r.closed_at))
            .bind(serde_json::to_string(r).map_err(ApiError::internal)?)
            .bind(hash)
            .bind($B::time($now))
            .execute(&mut *$tx)
            .await?;
        }
        tally.counts
    }};
}

/// The whole upload in one transaction, phase by phase (see the module's list); returns the
/// per-record results and the products whose stock moved.
pub(crate) async fn ingest(
    db: &Db,
    lookups: &crate::lookups::LookupCache,
    store_id: u64,
    store: &StoreCode,
    req: &SyncUploadRequest,
    user: Option<u64>,
) -> ApiResult<(Processed, Vec<u64>)> {
    let now = Utc::now();
    let sid = to_i64(store_id);
    on_db!(db, |pool, B| {
        let mut tx = B::begin(pool).await?;
        // 1. customers
        let (customers, changed_customers) = store_customers!(B, tx, req, sid);
        let mut processed = Processed {
            customers,
            ..Processed::default()
        };

        // 2. references
        let refs = Referenced::of(req);
        let named = look_up_products!(B, tx, refs);
        let products = &named.by_sku;
        let transactions: Vec<(UploadTransaction, Option<String>)> = req
            .data
            .transactions
            .iter()
            .map(|t| named.normalize(t, store))
            .collect();
        let sale_ids: Vec<String> = transactions
            .iter()
            .map(|(t, _)| t.id(store).0.to_string())
            .collect();
        let (customer_ids, stored) = look_up_customers_and_sales!(B, tx, refs.customers, sale_ids);

        // 3. classify sales
        let (mut sales, mut new_sales) =
            classify_sales(&transactions, &stored, &customer_ids, store);

        // 4. numbers
        if !new_sales.is_empty() {
            let taken = taken_numbers!(tx, new_sales);
            retire_taken_numbers(&mut sales, &mut new_sales, &taken, store);
        }

        // 5. store sales
        let row_ids = insert_sales!(B, tx, new_sales, customer_ids, sid, store, now);
        let mut rows = sale_rows(&new_sales, &row_ids, store)?;
        insert_lines_and_payments!(B, tx, rows, products, now);

        // 6. stock
        let mut known = known_movements!(B, tx, req.data.stock_movements);
        let (moves, own) =
            classify_movements(&req.data.stock_movements, &mut known, products, store);
        if !req.data.stock_movements.is_empty() {
            processed.stock_movements = Some(moves.counts);
        }
        rows.movements.extend(own);
        let (delta, price) = stock_changes(&rows.movements, &rows.lines, products);
        let changes: Vec<(i64, Decimal)> = delta
            .iter()
            .filter(|(_, d)| !d.is_zero())
            .map(|(pid, d)| (*pid, *d))
            .collect();
        move_stock!(B, tx, rows.movements, products, changes, price, sid, now);

        // 7. low stock
        low_stock_events!(B, tx, changes, sid, store_id, store);

        // 8. loyalty
        let mut entries = Tally::default();
        let derived = std::mem::take(&mut rows.loyalty);
        let all = loyalty_entries(req, derived, &customer_ids, &mut entries);
        let known = known_entries!(tx, all);
        let (fresh, points) = fresh_loyalty(req, &all, known, &customer_ids, &mut entries);
        store_loyalty!(B, tx, fresh, points, sid);
        if !req.data.loyalty_entries.is_empty() {
            processed.loyalty_entries = Some(entries.counts);
        }
        processed.transactions = sales.counts;

        // 9. shift reports
        if !req.data.shift_reports.is_empty() {
            processed.shift_reports = Some(store_shift_reports!(B, tx, req, sid, now));
        }

        // 10. close
        if !new_sales.is_empty() || !rows.movements.is_empty() {
            crate::audit::write(
                &mut *tx,
                user.map(to_i64),
                Some(sid),
                "sync.upload",
                "transactions",
                None,
                serde_json::json!({
                    "sales_stored": new_sales.len(),
                    "lines": rows.lines.len(),
                    "movements": rows.movements.len(),
                    "first_sale": new_sales.first().map(|(t, _)| t.id(store).0.to_string()),
                    "last_sale": new_sales.last().map(|(t, _)| t.id(store).0.to_string()),
                }),
            )
            .await?;
        }
        sqlx::query("UPDATE stores SET last_sync = ? WHERE id = ?")
            .bind(now)
            .bind(sid)
            .execute(&mut *tx)
            .await?;
        if !delta.is_empty() {
            crate::lookups::bump!(B, &mut *tx, crate::lookups::store_scope(store_id), lookups);
        }
        // Customers a lane created or changed reach the other stores with their downloads
        // (stock and loyalty balances are not stamped: no lane takes them from HQ).
        if !changed_customers.is_empty() {
            crate::lookups::stamp!(
                B,
                tx,
                crate::lookups::CUSTOMERS,
                lookups,
                "UPDATE customers SET sync_version = ?, updated_at = updated_at WHERE customer_uuid IN ({})",
                [],
                changed_customers
            );
        }
        tx.commit().await?;
        let moved = delta
            .keys()
            .filter_map(|pid| u64::try_from(*pid).ok())
            .collect();
        Ok((processed, moved))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sale(number: &str, sku: &str, qty: u32) -> UploadTransaction {
        serde_json::from_value(json!({
            "transaction_number": number, "cashier_id": 1,
            "transaction_date": "2026-11-29T03:15:00Z",
            "subtotal": 4500 * qty, "tax_amount": 0, "discount_amount": 0, "total_amount": 4500 * qty,
            "payment_method": "cash", "payment_status": "paid",
            "details": [{ "sku": sku, "quantity": qty, "unit_price": 4500, "total_price": 4500 * qty }],
            "payments": [{ "payment_method": "cash", "amount": 4500 * qty }]
        }))
        .unwrap()
    }

    fn statuses(t: &Tally) -> Vec<RecordStatus> {
        t.counts.results.iter().map(|r| r.status).collect()
    }

    #[test]
    fn the_earliest_record_time_is_the_one_the_messages_name() {
        assert_eq!(
            earliest_record().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            EARLIEST_RECORD
        );
    }

    #[test]
    fn sales_are_new_duplicate_conflicting_or_invalid() {
        let store = StoreCode::new("JKT-001").unwrap();
        let a = sale("JKT-001-001-00000001", "TEH", 1);
        let b = sale("JKT-001-001-00000002", "TEH", 2);
        let mut b_changed = b.clone();
        b_changed.notes = Some("changed".into());
        let twice = sale("JKT-001-001-00000003", "TEH", 1);
        let mut same_number = sale("JKT-001-001-00000003", "KOPI", 1);
        same_number.sale_id = Some(kasir_schema::domain::SaleId(uuid::Uuid::from_u128(7)));
        let empty = {
            let mut e = sale("JKT-001-001-00000004", "TEH", 1);
            e.details.clear();
            e
        };
        // `a` is stored as it is; `b` is stored with other content.
        let stored: HashMap<String, String> = [
            (a.id(&store).0.to_string(), content_hash(&a)),
            (b.id(&store).0.to_string(), content_hash(&b_changed)),
        ]
        .into();
        let batch: Vec<(UploadTransaction, Option<String>)> = [a, b, twice, same_number, empty]
            .into_iter()
            .map(|t| (t, None))
            .collect();
        let (tally, new) = classify_sales(&batch, &stored, &HashMap::new(), &store);
        use RecordStatus::*;
        assert_eq!(
            statuses(&tally),
            [Duplicate, Conflict, Stored, Invalid, Invalid]
        );
        assert_eq!(new.len(), 1);
        assert_eq!(tally.counts.success, 2);
        assert_eq!(tally.counts.failed, 3);
        // A number some stored sale holds turns the new sale into a conflict.
        let (mut tally, mut new) = (tally, new);
        let taken: BTreeSet<String> = ["JKT-001-001-00000003".to_string()].into();
        retire_taken_numbers(&mut tally, &mut new, &taken, &store);
        assert!(new.is_empty());
        assert_eq!(statuses(&tally)[2], Conflict);
        assert_eq!((tally.counts.success, tally.counts.failed), (1, 4));
    }

    #[test]
    fn a_movement_sent_again_is_a_duplicate_and_a_changed_one_a_conflict() {
        let store = StoreCode::new("JKT-001").unwrap();
        let m = |id: u128, sku: &str, qty: i64| -> StockMovementRecord {
            serde_json::from_value(json!({
                "movement_id": uuid::Uuid::from_u128(id), "sku": sku, "movement_type": "in",
                "quantity": qty, "reference_type": "purchase", "created_at": "2026-11-29T03:15:00Z"
            }))
            .unwrap()
        };
        let products: HashMap<String, i64> = [("TEH".to_string(), 1)].into();
        let mut known: HashMap<String, (i64, Decimal)> =
            [(uuid::Uuid::from_u128(1).to_string(), (1, Decimal::from(12)))].into();
        // A transfer's stores are HQ's to set.
        let mut transfer = m(5, "TEH", 2);
        transfer.to_store_id = Some(2);
        let records = [
            m(1, "TEH", 12),
            m(1, "TEH", 13),
            m(2, "KOPI", 5),
            m(3, "TEH", 0),
            m(4, "TEH", 6),
            m(4, "TEH", 6),
            transfer,
        ];
        let (tally, own) = classify_movements(&records, &mut known, &products, &store);
        use RecordStatus::*;
        assert_eq!(
            statuses(&tally),
            [
                Duplicate, Conflict, Invalid, Invalid, Stored, Duplicate, Invalid
            ]
        );
        assert_eq!(own.len(), 1);
        let (delta, _) = stock_changes(&own, &[], &products);
        assert_eq!(delta[&1], Decimal::from(6));
    }

    #[test]
    fn loyalty_entries_count_once_and_move_balances() {
        let req: SyncUploadRequest = serde_json::from_value(json!({
            "store_id": "JKT-001",
            "data": { "loyalty_entries": [
                { "entry_id": uuid::Uuid::from_u128(1), "customer_uuid": uuid::Uuid::from_u128(9),
                  "kind": "earn", "points": 10, "created_at": "2026-11-29T03:15:00Z" },
                { "entry_id": uuid::Uuid::from_u128(2), "customer_uuid": uuid::Uuid::from_u128(9),
                  "kind": "redeem", "points": -4, "created_at": "2026-11-29T03:15:00Z" },
                { "entry_id": uuid::Uuid::from_u128(3), "customer_uuid": uuid::Uuid::from_u128(8),
                  "kind": "earn", "points": 5, "created_at": "2026-11-29T03:15:00Z" }
            ] }
        }))
        .unwrap();
        let customers: HashMap<String, i64> = [(uuid::Uuid::from_u128(9).to_string(), 42)].into();
        let mut tally = Tally::default();
        let all = loyalty_entries(&req, Vec::new(), &customers, &mut tally);
        assert_eq!(all.len(), 2, "the unknown customer's entry is refused");
        let known: BTreeSet<String> = [uuid::Uuid::from_u128(1).to_string()].into();
        let (fresh, points) = fresh_loyalty(&req, &all, known, &customers, &mut tally);
        assert_eq!(fresh.len(), 1);
        assert_eq!(points[&42], -4);
        use RecordStatus::*;
        assert_eq!(statuses(&tally), [Invalid, Duplicate, Stored]);
    }
}
