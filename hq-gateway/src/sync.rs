//! §3.2 synchronization: upload (exactly once), download, status; the sync and audit logs.
//!
//! Exactly once: a whole upload is one database transaction. Sales are classified against
//! what is stored (`sale_id` unique key): new → stored with their lines, payments, derived
//! stock movements (ids from `UploadTransaction::effects`, the same as the lanes derive) and
//! loyalty entries, and the store's stock follows; stored with the same content hash →
//! `duplicate`, nothing changes; stored with a different hash → `conflict`. Two uploads racing
//! on the same sale: the database's unique key makes one of them fail, and that transaction is
//! run again from the start (now the sale is a duplicate). A crash mid-upload rolls the
//! transaction back: nothing half-written.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kasir_schema::Decimal;
use kasir_schema::txn_number::StoreCode;
use kasir_schema::wire::{
    Processed, ProcessedCounts, RecordError, RecordResult, RecordStatus, StockMovementRecord,
    SyncUploadRequest, SyncUploadResponse, UploadCustomer, UploadTransaction,
    UploadTransactionDetail,
};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::AppState;
use crate::auth::Principal;
use crate::db::Db;
use crate::db::to_i64;
use crate::error::{ApiError, ApiResult};
use crate::extract::{JsonBytes, parse_json};
use crate::on_db;
use crate::stores::resolve_store;

/// Most sales one upload may carry.
pub const MAX_TRANSACTIONS: usize = 5_000;
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
    let v = canon(serde_json::to_value(&t).unwrap_or_default());
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

/// What is wrong with a sale before it touches the database.
fn check_sale(t: &UploadTransaction) -> Result<(), String> {
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
    if m.sku.trim().is_empty() || m.sku.len() > 100 {
        return Err("sku: must be 1 to 100 characters".into());
    }
    if m.quantity.is_zero() {
        return Err("quantity: must not be 0".into());
    }
    crate::db::check_qty(m.quantity).map_err(|e| format!("quantity: {}", e.message))?;
    Ok(())
}

fn check_customer(c: &UploadCustomer) -> Result<(), String> {
    let name = c.name.trim();
    if name.is_empty() || name.chars().count() > 255 {
        return Err("name: must be 1 to 255 characters".into());
    }
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
struct Tally {
    counts: ProcessedCounts,
}

impl Tally {
    fn record(&mut self, id: String, status: RecordStatus, error: Option<String>) {
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

/// `POST /api/sync/upload`
///
/// Who may upload is decided before the body is read: the credential's role first, then its
/// store against the body's `store_id` (read alone, leniently), and only then is the body
/// checked field by field. A device of another store gets 403, never a 422 that would tell
/// it what the body should look like.
pub async fn upload(
    State(state): State<AppState>,
    principal: Principal,
    JsonBytes(body): JsonBytes,
) -> ApiResult<axum::Json<SyncUploadResponse>> {
    #[derive(serde::Deserialize)]
    struct StoreOnly {
        store_id: Option<serde_json::Value>,
    }
    if let Ok(StoreOnly {
        store_id: Some(serde_json::Value::String(raw)),
    }) = serde_json::from_slice::<StoreOnly>(&body)
        && let Ok(store) = resolve_store(&state.db, &raw).await
    {
        principal.require_store(store.id)?;
    }
    let req: SyncUploadRequest = parse_json(&body)?;
    let store = resolve_store(&state.db, &req.store_id).await?;
    principal.require_store(store.id)?;
    if req.data.transactions.len() > MAX_TRANSACTIONS {
        return Err(ApiError::field(
            "data.transactions",
            format!("at most {MAX_TRANSACTIONS} per upload"),
        ));
    }
    let code = StoreCode::new(&store.code).map_err(ApiError::internal)?;
    let started = Utc::now();
    let result = crate::error::retry(|| {
        ingest(
            &state.db,
            &state.lookups,
            store.id,
            &code,
            &req,
            principal.user_id(),
        )
    })
    .await;
    // The products whose stock moved: their cached lookups are stale.
    if let Ok((_, moved)) = &result {
        state
            .lookups
            .products_changed(store.id, moved.iter().copied());
    }
    // A sale sent without its own id is answered by its number, the key its sender knows.
    let by_number: HashMap<String, String> = req
        .data
        .transactions
        .iter()
        .filter(|t| t.sale_id.is_none())
        .map(|t| {
            (
                t.id(&code).0.to_string(),
                t.transaction_number.trim().to_string(),
            )
        })
        .collect();
    let result = result.map(|(mut p, _)| {
        if !by_number.is_empty() {
            let c = &mut p.transactions;
            let ids = c.results.iter_mut().map(|r| &mut r.id);
            for id in ids.chain(c.errors.iter_mut().map(|e| &mut e.id)) {
                if let Some(n) = by_number.get(id) {
                    *id = n.clone();
                }
            }
        }
        p
    });
    let (processed, status, detail) = match &result {
        Ok(p) => (
            Some(p.clone()),
            "completed",
            serde_json::json!({
                "transactions": p.transactions.errors,
                "customers": p.customers.errors,
            }),
        ),
        Err(e) => (None, "failed", serde_json::json!({ "error": e.message })),
    };
    let records = req.data.transactions.len()
        + req.data.customers.len()
        + req.data.stock_movements.len()
        + req.data.loyalty_entries.len();
    let (ok, failed) = processed.as_ref().map_or((0, records), |p| {
        let c = [
            Some(&p.transactions),
            Some(&p.customers),
            p.stock_movements.as_ref(),
            p.loyalty_entries.as_ref(),
        ];
        (
            c.iter().flatten().map(|c| c.success as usize).sum(),
            c.iter().flatten().map(|c| c.failed as usize).sum(),
        )
    });
    if failed > 0 {
        let data = serde_json::json!({
            "store_id": store.id, "store_code": store.code, "failed": failed, "records": records,
            "error": result.as_ref().err().map(|e| e.message.clone()),
        });
        on_db!(&state.db, |pool, B| {
            crate::webhooks::enqueue!(B, pool, "sync.failed", data);
        });
    }
    write_sync_log(
        &state.db, store.id, records, ok, failed, status, detail, started,
    )
    .await?;
    let processed = result?;
    tracing::info!(target: "kasir::sync", store = %store.code, records, ok, failed, "upload");
    Ok(axum::Json(SyncUploadResponse {
        success: failed == 0,
        processed,
    }))
}

#[allow(clippy::too_many_arguments)]
async fn write_sync_log(
    db: &Db,
    store: u64,
    records: usize,
    ok: usize,
    failed: usize,
    status: &str,
    detail: serde_json::Value,
    started: DateTime<Utc>,
) -> ApiResult<()> {
    let n = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    on_db!(db, |pool, B| {
        sqlx::query(
            "INSERT INTO sync_logs (store_id, sync_type, table_name, records_count, success_count, failed_count,
                status, error_details, started_at, completed_at, created_at)
             VALUES (?, 'upload', 'all', ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(to_i64(store))
        .bind(n(records))
        .bind(n(ok))
        .bind(n(failed))
        .bind(status)
        .bind(detail.to_string())
        .bind(started)
        .bind(Utc::now())
        .bind(Utc::now())
        .execute(pool)
        .await?;
    });
    Ok(())
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

/// The whole upload in one transaction; returns the per-record results.
async fn ingest(
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
        let mut tx = pool.begin().await?;
        let mut processed = Processed::default();

        // ---- customers: insert, or update when the upload is newer.
        let mut customers = Tally::default();
        for c in &req.data.customers {
            let id = c.customer_uuid.0.to_string();
            if let Err(e) = check_customer(c) {
                customers.record(id, RecordStatus::Invalid, Some(e));
                continue;
            }
            let upsert = if B::IS_MYSQL {
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
                .bind(sid)
                .bind(c.updated_at)
                .bind(c.updated_at)
                .execute(&mut *tx)
                .await;
            match r {
                Ok(_) => customers.record(id, RecordStatus::Stored, None),
                Err(sqlx::Error::Database(d)) if d.is_unique_violation() => customers.record(
                    id,
                    RecordStatus::Conflict,
                    Some("customer_code belongs to another customer".into()),
                ),
                Err(e) => return Err(e.into()),
            }
        }
        processed.customers = customers.counts;

        // ---- what the batch refers to: products by SKU, id or barcode, customers by uuid,
        // stored sales.
        let mut skus: BTreeSet<&str> = BTreeSet::new();
        let mut product_ids: BTreeSet<i64> = BTreeSet::new();
        let mut barcodes: BTreeSet<&str> = BTreeSet::new();
        let mut uuids: BTreeSet<String> = BTreeSet::new();
        for t in &req.data.transactions {
            for d in &t.details {
                skus.extend(d.sku.as_deref().map(str::trim));
                product_ids.extend(d.product_id.and_then(|p| i64::try_from(p).ok()));
                barcodes.extend(d.barcode.as_deref().map(str::trim));
            }
            uuids.extend(t.customer_uuid.map(|c| c.0.to_string()));
        }
        skus.extend(req.data.stock_movements.iter().map(|m| m.sku.as_str()));
        uuids.extend(
            req.data
                .loyalty_entries
                .iter()
                .map(|e| e.customer_uuid.0.to_string()),
        );
        let mut named = ProductNames::default();
        let skus: Vec<&str> = skus.into_iter().collect();
        select_in!(
            tx,
            "SELECT id, sku, barcode FROM products WHERE sku IN ({})",
            skus,
            |r| {
                named.add(B::int(&r, "id")?, r.try_get("sku")?, r.try_get("barcode")?);
            }
        );
        let product_ids: Vec<i64> = product_ids.into_iter().collect();
        select_in!(
            tx,
            "SELECT id, sku, barcode FROM products WHERE id IN ({})",
            product_ids,
            |r| {
                named.add(B::int(&r, "id")?, r.try_get("sku")?, r.try_get("barcode")?);
            }
        );
        let barcodes: Vec<&str> = barcodes.into_iter().collect();
        select_in!(
            tx,
            "SELECT id, sku, barcode FROM products WHERE barcode IN ({})",
            barcodes,
            |r| {
                named.add(B::int(&r, "id")?, r.try_get("sku")?, r.try_get("barcode")?);
            }
        );
        let products = &named.by_sku;
        // Each sale as HQ keys and hashes it: its id (its own, or by store and number) and
        // every line naming its product by SKU, however the upload named it.
        let transactions: Vec<(UploadTransaction, Option<String>)> = req
            .data
            .transactions
            .iter()
            .map(|t| named.normalize(t, store))
            .collect();
        let mut customer_ids: HashMap<String, i64> = HashMap::new();
        let uuids: Vec<String> = uuids.into_iter().collect();
        select_in!(
            tx,
            "SELECT id, customer_uuid FROM customers WHERE customer_uuid IN ({})",
            uuids,
            |r| {
                customer_ids.insert(r.try_get("customer_uuid")?, B::int(&r, "id")?);
            }
        );
        let sale_ids: Vec<String> = transactions
            .iter()
            .map(|(t, _)| t.id(store).0.to_string())
            .collect();
        let mut stored: HashMap<String, String> = HashMap::new();
        select_in!(
            tx,
            "SELECT sale_id, content_hash FROM transactions WHERE sale_id IN ({})",
            sale_ids,
            |r| {
                stored.insert(r.try_get("sale_id")?, r.try_get("content_hash")?);
            }
        );

        // ---- sales: classify, then insert the new ones in multi-row statements.
        let mut sales = Tally::default();
        let mut new_sales: Vec<(&UploadTransaction, String)> = Vec::new();
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut numbers: BTreeSet<&str> = BTreeSet::new();
        for (t, naming) in &transactions {
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
        // A number already used by another sale is a conflict of that sale.
        if !new_sales.is_empty() {
            let nums: Vec<&str> = new_sales
                .iter()
                .map(|(t, _)| t.transaction_number.as_str())
                .collect();
            let mut taken: BTreeSet<String> = BTreeSet::new();
            select_in!(
                tx,
                "SELECT transaction_number FROM transactions WHERE transaction_number IN ({})",
                nums,
                |r| {
                    taken.insert(r.try_get("transaction_number")?);
                }
            );
            if !taken.is_empty() {
                new_sales.retain(|(t, _)| {
                    if taken.contains(&t.transaction_number) {
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
                    } else {
                        true
                    }
                });
            }
        }
        for chunk in new_sales.chunks(CHUNK) {
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
                    .bind(sid)
                    .bind(t.id(store).0.to_string())
                    .bind(hash.clone())
                    .bind(t.local_id)
                    .bind(t.lane_no.map(i64::from))
                    .bind(t.transaction_number.trim().to_string())
                    .bind(cust.as_ref().and_then(|c| customer_ids.get(c)).copied())
                    .bind(cust)
                    .bind(to_i64(t.cashier_id))
                    .bind(t.transaction_date)
                    .bind(B::money(t.subtotal)?)
                    .bind(B::money(t.tax_amount)?)
                    .bind(B::money(t.discount_amount)?)
                    .bind(B::money(t.total_amount)?)
                    .bind(B::money(t.change_amount)?)
                    .bind(B::money(t.rounding_amount)?)
                    .bind(t.payment_method.as_str())
                    .bind(t.payment_status.as_str())
                    .bind(t.notes.clone())
                    .bind(now)
                    .bind(now)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        // Row ids of the sales just stored, for their lines and payments.
        let mut row_ids: HashMap<String, i64> = HashMap::new();
        let new_ids: Vec<String> = new_sales
            .iter()
            .map(|(t, _)| t.id(store).0.to_string())
            .collect();
        select_in!(
            tx,
            "SELECT id, sale_id FROM transactions WHERE sale_id IN ({})",
            new_ids,
            |r| {
                row_ids.insert(r.try_get("sale_id")?, B::int(&r, "id")?);
            }
        );
        let mut lines = Vec::new();
        let mut payments = Vec::new();
        let mut movements = Vec::new();
        let mut loyalty = Vec::new();
        for (t, _) in &new_sales {
            let rid = row_ids
                .get(&t.id(store).0.to_string())
                .copied()
                .ok_or_else(|| ApiError::internal("a stored sale has no row id"))?;
            for (i, d) in t.details.iter().enumerate() {
                lines.push((rid, t.line_no(i), d));
            }
            for p in &t.payments {
                payments.push((rid, p));
            }
            let (m, l) = t.effects(store);
            movements.extend(m);
            loyalty.extend(l);
        }
        for chunk in lines.chunks(CHUNK) {
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
                    .bind(d.sku.as_ref().and_then(|s| products.get(s)).copied())
                    .bind(d.sku.clone())
                    .bind(B::qty(d.quantity)?)
                    .bind(B::money(d.unit_price)?)
                    .bind(B::money(d.discount_amount)?)
                    .bind(B::money(d.total_price)?)
                    .bind(B::money(d.tax_amount)?)
                    .bind(d.notes.clone())
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        for chunk in payments.chunks(CHUNK) {
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
                    .bind(B::money(p.amount)?)
                    .bind(p.reference_number.clone())
                    .bind(p.payment_status.as_str())
                    .bind(now)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }

        // ---- stand-alone stock movements from the store (receipts, counts, transfers).
        let mut moves = Tally::default();
        let move_ids: Vec<String> = req
            .data
            .stock_movements
            .iter()
            .map(|m| m.movement_id.0.to_string())
            .collect();
        let mut known_moves: HashMap<String, (i64, Decimal)> = HashMap::new();
        select_in!(
            tx,
            "SELECT movement_id, product_id, quantity FROM stock_movements WHERE movement_id IN ({})",
            move_ids,
            |r| {
                known_moves.insert(
                    r.try_get("movement_id")?,
                    (B::int(&r, "product_id")?, B::get_qty(&r, "quantity")?),
                );
            }
        );
        let mut own_moves = Vec::new();
        for m in &req.data.stock_movements {
            let id = m.movement_id.0.to_string();
            if let Some((pid, qty)) = known_moves.get(&id) {
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
            known_moves.insert(id.clone(), (products[&m.sku], m.quantity.normalize()));
            moves.record(id, RecordStatus::Stored, None);
            own_moves.push(kasir_schema::domain::StockMovement {
                id: m.movement_id,
                store: store.clone(),
                sku: m.sku.clone(),
                movement_type: m.movement_type,
                reference_type: m.reference_type,
                quantity: m.quantity,
                sale: m.sale_id,
                notes: m.notes.clone(),
                created_by: m.created_by,
                created_at: m.created_at,
            });
        }
        if !req.data.stock_movements.is_empty() {
            processed.stock_movements = Some(moves.counts);
        }
        movements.extend(own_moves);

        // Movements, and the store's stock following them (one statement per product).
        let mut delta: BTreeMap<i64, (Decimal, Decimal)> = BTreeMap::new();
        for chunk in movements.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO stock_movements (movement_id, store_id, product_id, movement_type, quantity,
                    reference_type, sale_id, notes, created_by, created_at) VALUES {}",
                placeholders(chunk.len(), 10)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for m in chunk {
                let pid = products.get(&m.sku).copied().unwrap_or(0);
                let e = delta.entry(pid).or_insert((Decimal::ZERO, Decimal::ZERO));
                e.0 += m.quantity;
                q = q
                    .bind(m.id.0.to_string())
                    .bind(sid)
                    .bind(pid)
                    .bind(m.movement_type.as_str())
                    .bind(B::qty(m.quantity)?)
                    .bind(m.reference_type.as_str())
                    .bind(m.sale.map(|s| s.0.to_string()))
                    .bind(m.notes.clone())
                    .bind(None::<i64>)
                    .bind(m.created_at);
            }
            q.execute(&mut *tx).await?;
        }
        // A product the store sold but HQ never priced for it gets a row at the sold price.
        let mut price: HashMap<i64, Decimal> = HashMap::new();
        for (_, _, d) in &lines {
            if let Some(pid) = d.sku.as_ref().and_then(|s| products.get(s)) {
                price.entry(*pid).or_insert(d.unit_price);
            }
        }
        // One multi-row upsert per chunk of products (rows in product order, so two uploads
        // lock them in the same order).
        let changes: Vec<(i64, Decimal)> = delta
            .iter()
            .filter(|(_, (d, _))| !d.is_zero())
            .map(|(pid, (d, _))| (*pid, *d))
            .collect();
        for chunk in changes.chunks(CHUNK) {
            let sql = if B::IS_MYSQL {
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
                    .bind(sid)
                    .bind(*pid)
                    .bind(B::money(price.get(pid).copied().unwrap_or_default())?)
                    .bind(B::qty(*d)?)
                    .bind(now)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        // Products this upload took to or below their minimum: a `stock.low` event each.
        let moved: HashMap<i64, Decimal> = changes.iter().copied().collect();
        let ids: Vec<i64> = changes.iter().map(|(pid, _)| *pid).collect();
        let mut low = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT sp.product_id, p.sku, sp.stock_quantity, sp.min_stock FROM store_products sp
                 JOIN products p ON p.id = sp.product_id
                 WHERE sp.store_id = ? AND sp.stock_quantity <= sp.min_stock AND sp.product_id IN ({})",
                in_list(chunk.len())
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(sid);
            for k in chunk {
                q = q.bind(*k);
            }
            for r in q.fetch_all(&mut *tx).await? {
                let pid = B::int(&r, "product_id")?;
                let (after, min) = (
                    B::get_qty(&r, "stock_quantity")?,
                    B::get_qty(&r, "min_stock")?,
                );
                let before = after - moved.get(&pid).copied().unwrap_or_default();
                if before > min {
                    let sku: String = r.try_get("sku")?;
                    low.push(serde_json::json!({
                        "store_id": store_id, "store_code": store.as_str(), "product_id": pid,
                        "sku": sku, "stock_quantity": after, "min_stock": min
                    }));
                }
            }
        }
        for data in low {
            crate::webhooks::enqueue!(B, &mut *tx, "stock.low", data);
        }

        // ---- loyalty: derived from the sales, plus stand-alone entries; balances follow.
        let mut entries = Tally::default();
        let mut all_entries = loyalty;
        for e in &req.data.loyalty_entries {
            let id = e.entry_id.0.to_string();
            if !customer_ids.contains_key(&e.customer_uuid.0.to_string()) {
                entries.record(id, RecordStatus::Invalid, Some("unknown customer".into()));
                continue;
            }
            all_entries.push(kasir_schema::domain::LoyaltyEntry {
                id: e.entry_id,
                customer: e.customer_uuid,
                kind: e.kind,
                points: e.points,
                sale: e.sale_id,
                created_at: e.created_at,
            });
        }
        let entry_ids: Vec<String> = all_entries.iter().map(|e| e.id.0.to_string()).collect();
        let mut known_entries: BTreeSet<String> = BTreeSet::new();
        select_in!(
            tx,
            "SELECT entry_id FROM loyalty_entries WHERE entry_id IN ({})",
            entry_ids,
            |r| {
                known_entries.insert(r.try_get("entry_id")?);
            }
        );
        let standalone: BTreeSet<String> = req
            .data
            .loyalty_entries
            .iter()
            .map(|e| e.entry_id.0.to_string())
            .collect();
        let mut points: BTreeMap<i64, i64> = BTreeMap::new();
        let mut fresh = Vec::new();
        for e in &all_entries {
            let id = e.id.0.to_string();
            let dup = !known_entries.insert(id.clone());
            if standalone.contains(&id) {
                entries.record(
                    id.clone(),
                    if dup {
                        RecordStatus::Duplicate
                    } else {
                        RecordStatus::Stored
                    },
                    None,
                );
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
        for chunk in fresh.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO loyalty_entries (entry_id, customer_id, store_id, kind, points, sale_id, created_at) VALUES {}",
                placeholders(chunk.len(), 7)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (cid, e) in chunk {
                q = q
                    .bind(e.id.0.to_string())
                    .bind(*cid)
                    .bind(sid)
                    .bind(e.kind.as_str())
                    .bind(e.points)
                    .bind(e.sale.map(|s| s.0.to_string()))
                    .bind(e.created_at);
            }
            q.execute(&mut *tx).await?;
        }
        for (cid, p) in points {
            sqlx::query("UPDATE customers SET loyalty_points = loyalty_points + ? WHERE id = ?")
                .bind(p)
                .bind(cid)
                .execute(&mut *tx)
                .await?;
        }
        if !req.data.loyalty_entries.is_empty() {
            processed.loyalty_entries = Some(entries.counts);
        }
        processed.transactions = sales.counts;

        if !new_sales.is_empty() || !movements.is_empty() {
            crate::audit::write(
                &mut *tx,
                user.map(to_i64),
                Some(sid),
                "sync.upload",
                "transactions",
                None,
                serde_json::json!({
                    "sales_stored": new_sales.len(),
                    "lines": lines.len(),
                    "movements": movements.len(),
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
        tx.commit().await?;
        let moved = delta
            .keys()
            .filter_map(|pid| u64::try_from(*pid).ok())
            .collect();
        Ok((processed, moved))
    })
}

/// Failed uploads in the last hour (the health check's queue figure).
pub async fn failed_uploads_last_hour(db: &Db) -> ApiResult<i64> {
    let since = Utc::now() - chrono::Duration::hours(1);
    Ok(on_db!(db, |pool, B| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM sync_logs WHERE status = 'failed' AND started_at > ?",
        )
        .bind(since)
        .fetch_one(pool)
        .await?
    }))
}

/// `GET /api/sync/status/{store_id}`
pub async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
) -> ApiResult<axum::Json<kasir_schema::wire::SyncStatusResponse>> {
    use kasir_schema::wire::{SyncErrorEntry, SyncState, SyncStatusResponse};
    let store = resolve_store(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    let (last, errors) = on_db!(&state.db, |pool, B| {
        let last: Option<DateTime<Utc>> = sqlx::query_scalar(
            "SELECT MAX(completed_at) FROM sync_logs WHERE store_id = ? AND status = 'completed'",
        )
        .bind(to_i64(store.id))
        .fetch_one(pool)
        .await?;
        let rows = sqlx::query(
            "SELECT table_name, error_details, started_at FROM sync_logs
             WHERE store_id = ? AND (status = 'failed' OR failed_count > 0) ORDER BY id DESC LIMIT 10",
        )
        .bind(to_i64(store.id))
        .fetch_all(pool)
        .await?;
        let mut errors = Vec::new();
        for r in rows {
            let detail: Option<String> = r.try_get("error_details")?;
            errors.push(SyncErrorEntry {
                table_name: r.try_get("table_name")?,
                message: detail.unwrap_or_default(),
                at: r.try_get("started_at")?,
            });
        }
        (last, errors)
    });
    let state_now = match (&last, errors.first()) {
        (None, None) => SyncState::NeverSynced,
        (_, Some(e)) if last.is_none_or(|l| e.at >= l) => SyncState::Error,
        _ => SyncState::UpToDate,
    };
    Ok(axum::Json(SyncStatusResponse {
        last_sync: last,
        // The gateway cannot see a store's outbox; the store reports it (issue #6).
        pending_uploads: 0,
        sync_errors: errors,
        status: state_now,
    }))
}

/// How far before `last_sync` a download looks again: rows committed late (a long
/// transaction that began before the previous download) are sent again rather than missed;
/// the store applies each by its id, so a repeat changes nothing.
pub const DOWNLOAD_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

fn download_query(q: &str) -> ApiResult<(Option<DateTime<Utc>>, BTreeSet<String>)> {
    use kasir_schema::wire::DOWNLOAD_TABLES;
    let mut last = None;
    let mut tables = BTreeSet::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        match k.as_ref() {
            "last_sync" => {
                last = Some(
                    DateTime::parse_from_rfc3339(v.trim())
                        .map_err(|_| {
                            ApiError::field(
                                "last_sync",
                                "must be an RFC 3339 time, e.g. 2025-07-11T10:30:00Z",
                            )
                        })?
                        .to_utc(),
                );
            }
            "tables" | "tables[]" => {
                for t in v.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !DOWNLOAD_TABLES.contains(&t) {
                        return Err(ApiError::field(
                            "tables",
                            format!("unknown table {t:?}; known: {}", DOWNLOAD_TABLES.join(", ")),
                        ));
                    }
                    tables.insert(t.to_string());
                }
            }
            other => {
                return Err(ApiError::field(
                    &other.chars().take(40).collect::<String>(),
                    "unknown parameter",
                ));
            }
        }
    }
    if tables.is_empty() {
        tables = DOWNLOAD_TABLES.iter().map(|t| (*t).to_string()).collect();
    }
    Ok((last, tables))
}

/// `GET /api/sync/download/{store_id}?last_sync=&tables=`: what changed at HQ for the store
/// since `last_sync` (everything without it). `tables` takes a comma list or repeats.
pub async fn download(
    State(state): State<AppState>,
    principal: Principal,
    Path(raw): Path<String>,
    uri: axum::http::Uri,
) -> ApiResult<axum::Json<kasir_schema::wire::SyncDownloadResponse>> {
    use kasir_schema::wire::{
        DownloadCategory, DownloadCustomer, DownloadProduct, StoreSettings, SyncDownloadData,
        SyncDownloadResponse,
    };
    let store = resolve_store(&state.db, &raw).await?;
    principal.require_store(store.id)?;
    let (last, tables) = download_query(uri.query().unwrap_or(""))?;
    let now = Utc::now();
    let since = last.map_or(DateTime::<Utc>::UNIX_EPOCH, |l| l - DOWNLOAD_OVERLAP);
    let sid = to_i64(store.id);
    let mut data = SyncDownloadData::default();
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    on_db!(&state.db, |pool, B| {
        if tables.contains("products") {
            let rows = sqlx::query(
                "SELECT p.id, p.barcode, p.sku, p.name, p.description, p.category_id, p.unit, p.cost_price,
                    sp.selling_price, sp.stock_quantity, sp.min_stock, sp.max_stock, p.is_active, sp.is_available,
                    CASE WHEN sp.updated_at > p.updated_at THEN sp.updated_at ELSE p.updated_at END AS changed
                 FROM products p JOIN store_products sp ON sp.product_id = p.id AND sp.store_id = ?
                 WHERE p.updated_at > ? OR sp.updated_at > ? ORDER BY p.id",
            )
            .bind(sid)
            .bind(since)
            .bind(since)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DownloadProduct {
                    id: u(B::int(r, "id")?),
                    barcode: r.try_get("barcode")?,
                    sku: r.try_get("sku")?,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    category_id: B::opt_int(r, "category_id")?.map(u),
                    unit: r.try_get("unit")?,
                    cost_price: B::get_money(r, "cost_price")?,
                    selling_price: B::get_money(r, "selling_price")?,
                    stock_quantity: B::get_qty(r, "stock_quantity")?,
                    min_stock: B::get_qty(r, "min_stock")?,
                    max_stock: B::get_qty(r, "max_stock")?,
                    is_active: B::int(r, "is_active")? != 0,
                    is_available: B::int(r, "is_available")? != 0,
                    updated_at: r.try_get("changed")?,
                });
            }
            data.products = Some(out);
        }
        if tables.contains("categories") {
            let rows = sqlx::query(
                "SELECT id, name, description, parent_id, sort_order, is_active, updated_at
                 FROM categories WHERE updated_at > ? ORDER BY id",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(DownloadCategory {
                    id: u(B::int(r, "id")?),
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    parent_id: B::opt_int(r, "parent_id")?.map(u),
                    sort_order: i32::try_from(B::int(r, "sort_order")?).unwrap_or(0),
                    is_active: B::int(r, "is_active")? != 0,
                    updated_at: r.try_get("updated_at")?,
                });
            }
            data.categories = Some(out);
        }
        if tables.contains("customers") {
            let rows = sqlx::query(
                "SELECT id, customer_uuid, customer_code, name, email, phone, address, date_of_birth,
                    loyalty_points, total_purchases, is_active, updated_at
                 FROM customers WHERE updated_at > ? ORDER BY id",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let uuid: String = r.try_get("customer_uuid")?;
                out.push(DownloadCustomer {
                    id: u(B::int(r, "id")?),
                    customer_uuid: uuid.parse().map_err(ApiError::internal)?,
                    customer_code: r.try_get("customer_code")?,
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    phone: r.try_get("phone")?,
                    address: r.try_get("address")?,
                    date_of_birth: r.try_get("date_of_birth")?,
                    loyalty_points: B::int(r, "loyalty_points")?,
                    total_purchases: B::get_money(r, "total_purchases")?,
                    is_active: B::int(r, "is_active")? != 0,
                    updated_at: r.try_get("updated_at")?,
                });
            }
            data.customers = Some(out);
        }
        if tables.contains("settings") {
            let r = sqlx::query(
                "SELECT id, store_code, store_name, address, tax_rate, tax_inclusive, currency, timezone, cash_rounding
                 FROM stores WHERE id = ?",
            )
            .bind(sid)
            .fetch_one(pool)
            .await?;
            data.settings = Some(StoreSettings {
                store_id: u(B::int(&r, "id")?),
                store_code: r.try_get("store_code")?,
                store_name: r.try_get("store_name")?,
                address: r.try_get("address")?,
                tax_rate: B::get_money(&r, "tax_rate")?,
                tax_inclusive: B::int(&r, "tax_inclusive")? != 0,
                currency: r.try_get("currency")?,
                timezone: r.try_get("timezone")?,
                cash_rounding: B::get_money(&r, "cash_rounding")?,
            });
        }
        if tables.contains("stock_movements") {
            let rows = sqlx::query(
                "SELECT m.movement_id, m.product_id, p.sku, m.movement_type, m.quantity, m.reference_type,
                    m.sale_id, m.notes, m.created_by, m.created_at
                 FROM hq_stock_movements h JOIN stock_movements m ON m.movement_id = h.movement_id
                 JOIN products p ON p.id = m.product_id
                 WHERE h.store_id = ? AND h.created_at > ? ORDER BY m.id",
            )
            .bind(sid)
            .bind(since)
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let parse = |col: &str| -> ApiResult<serde_json::Value> {
                    Ok(serde_json::Value::String(r.try_get::<String, _>(col)?))
                };
                let id: String = r.try_get("movement_id")?;
                out.push(StockMovementRecord {
                    movement_id: id.parse().map_err(ApiError::internal)?,
                    product_id: Some(u(B::int(r, "product_id")?)),
                    sku: r.try_get("sku")?,
                    movement_type: serde_json::from_value(parse("movement_type")?)
                        .map_err(ApiError::internal)?,
                    quantity: B::get_qty(r, "quantity")?,
                    reference_type: serde_json::from_value(parse("reference_type")?)
                        .map_err(ApiError::internal)?,
                    sale_id: r
                        .try_get::<Option<String>, _>("sale_id")?
                        .map(|s| s.parse())
                        .transpose()
                        .map_err(ApiError::internal)?,
                    notes: r.try_get("notes")?,
                    created_by: B::opt_int(r, "created_by")?.map(u),
                    created_at: r.try_get("created_at")?,
                });
            }
            data.stock_movements = Some(out);
        }
        let count = [
            data.products.as_ref().map(Vec::len),
            data.categories.as_ref().map(Vec::len),
            data.customers.as_ref().map(Vec::len),
            data.stock_movements.as_ref().map(Vec::len),
        ]
        .into_iter()
        .flatten()
        .sum::<usize>();
        let n = i64::try_from(count).unwrap_or(i64::MAX);
        sqlx::query(
            "INSERT INTO sync_logs (store_id, sync_type, table_name, records_count, success_count, failed_count,
                status, started_at, completed_at, created_at)
             VALUES (?, 'download', ?, ?, ?, 0, 'completed', ?, ?, ?)",
        )
        .bind(sid)
        .bind(tables.iter().cloned().collect::<Vec<_>>().join(","))
        .bind(n)
        .bind(n)
        .bind(now)
        .bind(Utc::now())
        .bind(Utc::now())
        .execute(pool)
        .await?;
    });
    tracing::info!(target: "kasir::sync", store = %store.code, "download");
    Ok(axum::Json(SyncDownloadResponse {
        success: true,
        data,
        last_sync: now,
    }))
}
